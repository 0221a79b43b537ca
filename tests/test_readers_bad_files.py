"""Every reader (voc, sbd, nyud, siftflow, pascalcontext) fed damaged files in miniature trees of the real
formats (data.miniature): a file that is not an image, an image cut short, a label of another size, a label
value out of range, a .mat that is not one, is cut short, or holds its variable in the wrong type or shape.
Each must be a BadSampleError naming the dataset, the image id and the file; no other exception, and the other
images of the split still read."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

import data
from data import miniature
from data.readers import SIFTFLOW_SUBDIR

# reader -> (its folder under the tree, data.load options naming the other folders it needs)
FOLDERS = {"voc": ("VOC2011", {}), "sbd": ("sbd", {}), "nyud": ("nyud", {}), "siftflow": ("siftflow", {}),
           "pascalcontext": ("pascalcontext", {"voc_root": "VOC2010"})}
SPLIT = {"voc": "train", "sbd": "train", "nyud": "test", "siftflow": "test", "pascalcontext": "val"}
TOPS = {"nyud": ("color", "hha", "depth", "label")}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return miniature.build_all(tmp_path_factory.mktemp("bad_files"))


def image_files(name: str, root: Path, sample_id: str) -> dict[str, Path]:
    """The picture files of one sample, by top."""
    if name == "voc":
        return {"data": root / "VOC2011/JPEGImages" / f"{sample_id}.jpg"}
    if name == "sbd":
        return {"data": root / "sbd/img" / f"{sample_id}.jpg"}
    if name == "nyud":
        return {top: root / f"nyud/data/{folder}/img_{sample_id}.png"
                for top, folder in (("color", "images"), ("hha", "hha"), ("depth", "depth"))}
    if name == "siftflow":
        return {"data": root / "siftflow/Images" / SIFTFLOW_SUBDIR / f"{sample_id}.jpg"}
    return {"data": root / "VOC2010/JPEGImages" / f"{sample_id}.jpg"}


def label_files(name: str, root: Path, sample_id: str) -> dict[str, tuple[Path, Callable[[object], dict]]]:
    """The label files of one sample: top -> (path, how a .mat holds a label array), the VOC PNG as None."""
    if name == "voc":
        return {"label": (root / "VOC2011/SegmentationClass" / f"{sample_id}.png", None)}
    if name == "sbd":
        return {"label": (root / "sbd/cls" / f"{sample_id}.mat", lambda a: {"GTcls": {"Segmentation": a}})}
    if name == "nyud":
        return {"label": (root / "nyud/segmentation" / f"img_{sample_id}.mat", lambda a: {"segmentation": a})}
    if name == "siftflow":
        return {top: (root / "siftflow" / folder / SIFTFLOW_SUBDIR / f"{sample_id}.mat", lambda a: {"S": a})
                for top, folder in (("sem", "SemanticLabels"), ("geo", "GeoLabels"))}
    return {"label": (root / "pascalcontext/trainval" / f"{sample_id}.mat", lambda a: {"LabelMap": a})}


# A label value no reader accepts: above every dataset's range (255 is VOC's void, so 254).
OUT_OF_RANGE = {"voc": 254, "sbd": 254, "nyud": 41, "siftflow": 34, "pascalcontext": 10_000}


def reader_for(name: str, root: Path):
    folder, options = FOLDERS[name]
    return data.load(name, SPLIT[name], root / folder, expect_split=None, tops=TOPS.get(name),
                     **{k: root / v for k, v in options.items()})


def copy_tree(tree: Path, tmp_path: Path, name: str) -> Path:
    """The folders one reader reads, copied (the module's tree stays intact for the next test)."""
    root = tmp_path / "data"
    folder, options = FOLDERS[name]
    for sub in (folder, *options.values()):
        shutil.copytree(tree / sub, root / sub)
    return root


def assert_only_that_sample_fails(name: str, root: Path, sample_id: str, file: Path) -> str:
    reader = reader_for(name, root)
    with pytest.raises(data.BadSampleError) as err:
        reader.load(sample_id)
    message = str(err.value)
    assert message.startswith(f"{name} image '{sample_id}': "), message
    assert file.name in message, message
    for other in reader.ids:
        if other != sample_id:
            reader.load(other)
    return message


IMAGE_DAMAGE = {
    "not an image": lambda path: path.write_text("<html>404 Not Found</html>\n"),
    "cut short": lambda path: path.write_bytes(path.read_bytes()[: max(64, path.stat().st_size // 3)]),
    "empty": lambda path: path.write_bytes(b""),
}


@pytest.mark.parametrize("damage", IMAGE_DAMAGE)
@pytest.mark.parametrize("name", FOLDERS)
def test_a_damaged_picture_is_an_error_naming_the_image_and_the_file(tree, tmp_path, name, damage):
    root = copy_tree(tree, tmp_path, name)
    sample_id = reader_for(name, root).ids[0]
    for top, path in image_files(name, root, sample_id).items():
        original = path.read_bytes()
        IMAGE_DAMAGE[damage](path)
        message = assert_only_that_sample_fails(name, root, sample_id, path)
        assert f"cannot read {'image' if top in ('data', 'color') else top} {path}" in message
        path.write_bytes(original)


def label_size(name: str, root: Path, sample_id: str) -> tuple[int, int]:
    with Image.open(image_files(name, root, sample_id)[TOPS.get(name, ("data",))[0]]) as im:
        return im.height, im.width


LABEL_ARRAYS = {
    # what the .mat variable holds instead of an H x W integer map -> what the error says
    "another size": (lambda h, w, top: np.ones((h + 3, w), np.uint8), "sizes (H x W) differ"),
    "fractional values": (lambda h, w, top: np.full((h, w), 1.5), "non-integer values"),
    "complex values": (lambda h, w, top: np.full((h, w), 1 + 1j), "non-numeric dtype complex"),
    "text": (lambda h, w, top: "a label", "not a 2-D label map"),
    "three dims": (lambda h, w, top: np.ones((h, w, 2), np.uint8), "not a 2-D label map"),
}


# VOC's labels are PNGs: of these, only a size and a value can be wrong (its other damage is tested below).
WRONG_LABELS = [(name, kind) for name in FOLDERS for kind in [*LABEL_ARRAYS, "out of range"]
                if name != "voc" or kind in ("another size", "out of range")]


@pytest.mark.parametrize("name, kind", WRONG_LABELS)
def test_a_wrong_label_array_is_an_error_naming_the_image_and_the_file(tree, tmp_path, name, kind):
    root = copy_tree(tree, tmp_path, name)
    sample_id = reader_for(name, root).ids[0]
    h, w = label_size(name, root, sample_id)
    for top, (path, holder) in label_files(name, root, sample_id).items():
        original = path.read_bytes()
        if kind == "out of range":
            array, expected = np.full((h, w), OUT_OF_RANGE[name], np.int64 if name == "pascalcontext" else
                                      np.uint8), "outside"
            if name == "siftflow" and top == "geo":
                array = np.full((h, w), 4.0)  # geometric classes are -1..3
        else:
            make_array, expected = LABEL_ARRAYS[kind]
            array = make_array(h, w, top)
        if holder is None:  # VOC: a PNG of palette indices
            Image.fromarray(array.astype(np.uint8), mode="L").save(path)
        else:
            scipy.io.savemat(path, holder(array))
        message = assert_only_that_sample_fails(name, root, sample_id, path)
        assert expected in message, message
        path.write_bytes(original)


MAT_DAMAGE = {
    "not a .mat": lambda path: path.write_text("not a MATLAB file\n"),
    "cut short": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "empty": lambda path: path.write_bytes(b""),
    "another variable": lambda path: scipy.io.savemat(path, {"something_else": np.ones((2, 2))}),
}


@pytest.mark.parametrize("damage", MAT_DAMAGE)
@pytest.mark.parametrize("name", ["sbd", "nyud", "siftflow", "pascalcontext"])
def test_a_damaged_mat_file_is_an_error_naming_the_image_and_the_file(tree, tmp_path, name, damage):
    root = copy_tree(tree, tmp_path, name)
    sample_id = reader_for(name, root).ids[0]
    for path, _ in label_files(name, root, sample_id).values():
        original = path.read_bytes()
        MAT_DAMAGE[damage](path)
        message = assert_only_that_sample_fails(name, root, sample_id, path)
        assert ("cannot read" in message or "has no variable" in message), message
        path.write_bytes(original)


@pytest.mark.parametrize("damage", ["not an image", "cut short", "RGB, not palette indices"])
def test_a_damaged_voc_label_png_is_an_error_naming_the_image_and_the_file(tree, tmp_path, damage):
    root = copy_tree(tree, tmp_path, "voc")
    sample_id = reader_for("voc", root).ids[0]
    path, _ = label_files("voc", root, sample_id)["label"]
    if damage == "RGB, not palette indices":
        h, w = label_size("voc", root, sample_id)
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)
    else:
        IMAGE_DAMAGE[damage](path)
    message = assert_only_that_sample_fails("voc", root, sample_id, path)
    assert ("cannot read label" in message or "is mode RGB" in message), message


def test_sbd_gtcls_without_a_segmentation_field_is_an_error_naming_the_image(tree, tmp_path):
    root = copy_tree(tree, tmp_path, "sbd")
    sample_id = reader_for("sbd", root).ids[0]
    path, _ = label_files("sbd", root, sample_id)["label"]
    scipy.io.savemat(path, {"GTcls": {"Boundaries": np.ones((2, 2))}})
    assert "GTcls has no Segmentation field" in assert_only_that_sample_fails("sbd", root, sample_id, path)
