"""The readers produce what the reference's data layers produced, from tiny trees in the real formats; every
expected array is computed here from the same files with the reference's arithmetic (data_trees.py)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from data_trees import (
    CONTEXT_MEAN,
    NYUD_HHA_MEAN,
    NYUD_MEAN,
    SIFTFLOW_MEAN,
    SUBDIR,
    VOC_MEAN,
    load_mat,
    reference_depth,
    reference_image,
    reference_shifted,
)
from data_trees import context_reference_labels as reference_context
from PIL import Image

import data
from data import miniature
from data.errors import MissingDataError, SplitMismatchError, SplitMismatchWarning
from data.splits import set_md5


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return miniature.build_all(tmp_path_factory.mktemp("fcn_data"))


def _toy_hash(ids: list[str]) -> str:
    return hashlib.md5("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()


# -- values ------------------------------------------------------------------------------------------

def test_voc_reader_matches_reference_load_image_and_label(root: Path) -> None:
    reader = data.load("voc", "train", root / "VOC2011", expect_split=None)
    assert reader.tops == ("data", "label") and reader.dataset == "voc"
    assert list(reader.ids) == (root / "VOC2011/ImageSets/Segmentation/train.txt").read_text().split()
    saw_void = False
    for i, sample_id in enumerate(reader.ids):
        item = reader[i]
        expected = reference_image(root / "VOC2011" / "JPEGImages" / f"{sample_id}.jpg", VOC_MEAN)
        assert item["data"].dtype == np.float32 and item["data"].flags.c_contiguous
        np.testing.assert_array_equal(item["data"], expected)
        label = np.array(Image.open(root / "VOC2011" / "SegmentationClass" / f"{sample_id}.png"))
        assert item["label"].dtype == np.uint8 and item["label"].shape == item["data"].shape[1:]
        np.testing.assert_array_equal(item["label"], label)
        saw_void |= bool((label == 255).any())
    assert saw_void, "the miniature VOC labels should contain 255 (void) borders"


def test_sbd_reader_reads_gtcls_segmentation(root: Path) -> None:
    reader = data.load("sbd", "train", root / "sbd", expect_split=None)
    for sample_id in reader.ids:
        item = reader.load(sample_id)
        expected = reference_image(root / "sbd/img" / f"{sample_id}.jpg", VOC_MEAN)
        np.testing.assert_array_equal(item["data"], expected)
        gt = load_mat(root / "sbd/cls" / f"{sample_id}.mat", "GTcls")
        np.testing.assert_array_equal(item["label"], gt[0]["Segmentation"][0].astype(np.uint8))


def test_nyud_reader_color_hha_depth_and_shifted_label(root: Path) -> None:
    tops = ("color", "hha", "depth", "label")
    reader = data.load("nyud", "test", root / "nyud", tops=tops, expect_split=None)
    base = root / "nyud"
    for sample_id in reader.ids:
        item = reader.load(sample_id)
        png = f"img_{sample_id}.png"
        np.testing.assert_array_equal(item["color"], reference_image(base / "data/images" / png, NYUD_MEAN))
        np.testing.assert_array_equal(item["hha"], reference_image(base / "data/hha" / png, NYUD_HHA_MEAN,
                                                                   flip=False))
        np.testing.assert_array_equal(item["depth"], reference_depth(base / "data/depth" / png))
        assert item["depth"].shape == (1, *item["color"].shape[1:])
        raw = load_mat(base / f"segmentation/img_{sample_id}.mat", "segmentation")
        np.testing.assert_array_equal(item["label"], reference_shifted(raw))
        assert ((raw == 0) == (item["label"] == 255)).all()  # void 0 wraps to 255
        assert item["label"][raw != 0].max() <= 39


def test_nyud_depth_is_read_as_16_bit_millimetres_not_clipped_to_8_bits(root: Path, tmp_path: Path) -> None:
    """A depth PNG holds millimetres in 16 bits: 3000 mm must reach the net as log(3000) - 7.844, not as a value
    clipped or scaled to 8 bits."""
    nyud = _copy_tree(root / "nyud", tmp_path / "nyud")
    reader = data.load("nyud", "test", nyud, tops=("depth",), expect_split=None)
    sample_id = reader.ids[0]
    png = nyud / f"data/depth/img_{sample_id}.png"
    h, w = np.array(Image.open(png)).shape
    depth = np.full((h, w), 3000, dtype=np.uint16)
    depth[0, 0], depth[0, 1] = 1, 65535
    Image.fromarray(depth).save(png)
    got = reader.load(sample_id)["depth"]
    assert got.shape == (1, h, w) and got.dtype == np.float32
    mean = np.float32(7.844)
    assert got[0, 1, 1] == np.log(np.float32(3000)) - mean
    assert got[0, 0, 0] == -mean and got[0, 0, 1] == np.log(np.float32(65535)) - mean


def test_siftflow_reader_semantic_and_geometric_transforms(root: Path) -> None:
    reader = data.load("siftflow", "trainval", root / "siftflow", expect_split=None)
    base = root / "siftflow"
    saw_minus_one = False
    for sample_id in reader.ids:
        item = reader.load(sample_id)
        jpg = base / "Images" / SUBDIR / f"{sample_id}.jpg"
        np.testing.assert_array_equal(item["data"], reference_image(jpg, SIFTFLOW_MEAN))
        sem = load_mat(base / "SemanticLabels" / SUBDIR / f"{sample_id}.mat", "S")
        geo = load_mat(base / "GeoLabels" / SUBDIR / f"{sample_id}.mat", "S")
        saw_minus_one |= bool((geo == -1).any())
        np.testing.assert_array_equal(item["sem"], reference_shifted(sem))
        geo = geo.copy()
        geo[geo == -1] = 0
        np.testing.assert_array_equal(item["geo"], reference_shifted(geo))
        assert set(np.unique(item["geo"])) <= {0, 1, 2, 255}
    assert saw_minus_one, "the miniature geometric labels should contain -1"


def test_pascalcontext_maps_raw_labels_to_59_classes_by_name(root: Path) -> None:
    reader = data.load("pascalcontext", "val", root / "pascalcontext", voc_root=root / "VOC2010",
                       expect_split=None)
    for sample_id in reader.ids:
        item = reader.load(sample_id)
        jpg = root / "VOC2010/JPEGImages" / f"{sample_id}.jpg"
        np.testing.assert_array_equal(item["data"], reference_image(jpg, CONTEXT_MEAN))
        np.testing.assert_array_equal(item["label"], reference_context(root / "pascalcontext", sample_id))


def test_pascalcontext_renames_and_space_removal_pick_the_right_raw_lines(root: Path) -> None:
    lines = (root / "pascalcontext/labels.txt").read_text().split("\n")
    raw_of = {line.split(": ", 1)[1]: int(line.split(":")[0]) for line in lines if line}
    lookup = data.load("pascalcontext", "train", root / "pascalcontext", voc_root=root / "VOC2010",
                       expect_split=None).lookup
    names = data.CLASSES[("pascalcontext", "label")]
    assert lookup[raw_of["table"]] == names.index("diningtable") == 11
    assert lookup[raw_of["cloth"]] == names.index("clothes") == 28
    assert lookup[raw_of["bed clothes"]] == names.index("bedcloth") == 52
    assert lookup[raw_of["potted plant"]] == names.index("pottedplant") == 16
    assert lookup[raw_of["tv monitor"]] == names.index("tvmonitor") == 20
    for distractor in ("dining table", "clothes", "bed cloth", "accordion"):  # not task classes -> background
        assert lookup[raw_of[distractor]] == 0
    assert sorted(set(lookup.tolist())) == list(range(60))


def test_pascalcontext_59_list_in_another_order_is_refused(tmp_path: Path, root: Path) -> None:
    full, task = miniature.context_label_lists()
    (tmp_path / "labels.txt").write_text("\n".join(full))
    (tmp_path / "59_labels.txt").write_text("\n".join([task[1], task[0], *task[2:]]))
    with pytest.raises(ValueError, match="59 task classes in the reference's order"):
        data.readers.context_lookup(tmp_path / "labels.txt", tmp_path / "59_labels.txt")


def test_pascalcontext_task_class_missing_from_labels_txt_is_named(tmp_path: Path) -> None:
    full, task = miniature.context_label_lists()
    (tmp_path / "labels.txt").write_text("\n".join(line for line in full if not line.endswith(": mouse")))
    (tmp_path / "59_labels.txt").write_text("\n".join(task))
    with pytest.raises(ValueError, match="no class named 'mouse'"):
        data.readers.context_lookup(tmp_path / "labels.txt", tmp_path / "59_labels.txt")


# -- splits ------------------------------------------------------------------------------------------

def _voc_and_sbd(tmp_path: Path, val: list[str], sbd_train: list[str]) -> tuple[Path, Path]:
    voc = miniature.build_voc(tmp_path / "VOC2011", splits={"train": miniature.voc_ids(1, 900), "val": val},
                              size=(8, 8))
    sbd_ids = sorted(set(sbd_train))
    sbd = miniature.build_sbd(tmp_path / "sbd", splits={"train": sbd_train, "val": []}, size=(8, 8)) \
        if sbd_ids else None
    return voc, sbd


def test_seg11valid_is_voc2011_val_minus_sbd_train(tmp_path: Path) -> None:
    val = miniature.voc_ids(7)
    voc, sbd = _voc_and_sbd(tmp_path, val, [val[1], val[4], *miniature.voc_ids(2, 500)])
    expected = [val[0], val[2], val[3], val[5], val[6]]
    reader = data.load("voc", "seg11valid", voc, sbd_root=sbd, expect_split=(5, _toy_hash(expected)))
    assert list(reader.ids) == expected
    info = reader.split_info
    assert info.derived and info.matches_reference and info.count == 5 and info.set_md5 == _toy_hash(expected)


def test_seg11valid_count_differing_from_expected_is_an_error_naming_both_counts(tmp_path: Path) -> None:
    val = miniature.voc_ids(4)
    voc, sbd = _voc_and_sbd(tmp_path, val, [val[0]])
    with pytest.raises(SplitMismatchError, match="expected 4 ids, found 3"):
        data.load("voc", "seg11valid", voc, sbd_root=sbd, expect_split=(4, None))


def test_seg11valid_hash_differing_from_expected_is_an_error_naming_both_hashes(tmp_path: Path) -> None:
    val = miniature.voc_ids(4)
    voc, sbd = _voc_and_sbd(tmp_path, val, [val[0]])
    wrong = "0" * 32
    with pytest.raises(SplitMismatchError, match=f"expected set MD5 {wrong}, found {_toy_hash(val[1:])}"):
        data.load("voc", "seg11valid", voc, sbd_root=sbd, expect_split=(3, wrong))


def test_seg11valid_is_checked_against_the_reference_736_ids_by_default(tmp_path: Path) -> None:
    val = miniature.voc_ids(4)
    voc, sbd = _voc_and_sbd(tmp_path, val, [val[0]])
    with pytest.raises(SplitMismatchError, match="expected 736 ids, found 3.*7984b6ce736bd3666d8b7ee70b5401"):
        data.load("voc", "seg11valid", voc, sbd_root=sbd)


def test_seg11valid_without_sbd_names_the_sbd_list_and_the_target_that_fetches_both(tmp_path: Path) -> None:
    voc, _ = _voc_and_sbd(tmp_path, miniature.voc_ids(2), [])
    with pytest.raises(MissingDataError, match=r"SBD train list not found: .*sbd_missing.train\.txt.*"
                                               "make data DATASET=voc"):
        data.load("voc", "seg11valid", voc, sbd_root=tmp_path / "sbd_missing")


def test_seg11valid_without_any_voc_folder_names_voc2012_and_the_one_command(tmp_path: Path, monkeypatch) -> None:
    """With neither VOC2011 nor VOC2012 under $FCN_DATA, the message names VOC2012 (what `make data DATASET=voc`
    fetches, with SBD and the reference's list) and that one command, not a per-year target."""
    monkeypatch.setenv("FCN_DATA", str(tmp_path / "data"))
    with pytest.raises(MissingDataError) as err:
        data.load("voc", "seg11valid")
    text = str(err.value)
    assert f"VOC folder for seg11valid not found: {tmp_path / 'data/VOC2012'}" in text
    assert str(tmp_path / "data/VOC2012/seg11valid.txt") in text
    assert "Fetch the dataset with `make data DATASET=voc`" in text and "voc2012`" not in text
    assert err.value.paths == [tmp_path / "data/VOC2012"]


def test_seg11valid_from_voc2011_without_sbd_names_both_lists_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FCN_DATA", str(tmp_path / "data"))
    (tmp_path / "data/VOC2011").mkdir(parents=True)
    with pytest.raises(MissingDataError) as err:
        data.load("voc", "seg11valid")
    assert err.value.paths == [tmp_path / "data/VOC2011/ImageSets/Segmentation/val.txt",
                               tmp_path / "data/sbd/train.txt"]
    assert "Fetch them with `make data DATASET=voc`" in str(err.value)


@pytest.mark.parametrize("name,split,valid", [
    ("voc", "seg11val", "train, val, trainval, test, seg11valid"), ("sbd", "tran", "train, val"),
    ("nyud", "bogus", "train, val, test, trainval"), ("siftflow", "train", "trainval, test"),
    ("pascalcontext", "test", "train, val")])
def test_a_mistyped_split_lists_the_valid_splits_instead_of_reporting_missing_data(root: Path, name: str,
                                                                                  split: str, valid: str) -> None:
    folder = {"voc": "VOC2011"}.get(name, name)
    options = {"voc_root": root / "VOC2010"} if name == "pascalcontext" else {}
    with pytest.raises(data.errors.UnknownSplitError,
                       match=f"{name} has no split '{split}': its splits are {valid}. A split of your own"):
        data.load(name, split, root / folder, **options)


def test_set_hash_of_a_sorted_newline_terminated_list_is_its_file_md5() -> None:
    ids = ["2007_000042", "2007_000033", "2007_000061"]
    file_text = "".join(f"{i}\n" for i in sorted(ids))
    assert set_md5(ids) == hashlib.md5(file_text.encode()).hexdigest()
    assert data.splits.file_md5(sorted(ids), True) == set_md5(ids)
    assert data.splits.file_md5(sorted(ids), False) == hashlib.md5(file_text[:-1].encode()).hexdigest()


def test_reference_split_table_holds_the_published_counts_and_hashes() -> None:
    table = data.REFERENCE_SPLITS
    assert table[("voc", "seg11valid")].count == 736
    assert table[("voc", "seg11valid")].set_md5 == "7984b6ce736bd3666d8b7ee70b5401da"
    published = {("nyud", "train"): (381, "cdfe948a71d2f9b45f1d28584919560a"),
                 ("nyud", "val"): (414, "26aba6757016772024862d67d9844ef8"),
                 ("nyud", "test"): (654, "e310e298307628c9bc1ebded4ea39ed5"),
                 ("siftflow", "trainval"): (2486, "c804fd212beeec26629642783275d090"),
                 ("siftflow", "test"): (200, "edbdae48f6fbdb3b2664f2b11191201e")}
    for key, (count, md5) in published.items():
        assert (table[key].count, table[key].file_md5) == (count, md5), key
    assert table[("nyud", "trainval")].count == 381 + 414


def test_siftflow_test_split_is_testset1_in_file_order(root: Path) -> None:
    lines = (root / "siftflow/TestSet1.txt").read_text().splitlines()
    assert all("\\" in line for line in lines)
    reader = data.load("siftflow", "test", root / "siftflow", expect_split=None)
    assert list(reader.ids) == [line.split("\\")[1][:-4] for line in lines]
    assert reader.split_info.derived


def test_siftflow_trainval_leaves_out_test_and_the_two_unannotated_images(root: Path) -> None:
    images = sorted(p.stem for p in (root / "siftflow/Images" / SUBDIR).glob("*.jpg"))
    test = data.load("siftflow", "test", root / "siftflow", expect_split=None).ids
    trainval = data.load("siftflow", "trainval", root / "siftflow", expect_split=None).ids
    assert {"highway_bost181", "street_urb506"} <= set(images)
    assert sorted(trainval) == sorted(set(images) - set(test) - {"highway_bost181", "street_urb506"})


def test_siftflow_derived_split_is_checked_against_the_reference_lists(root: Path) -> None:
    with pytest.raises(SplitMismatchError, match="expected 200 ids"):
        data.load("siftflow", "test", root / "siftflow")
    with pytest.raises(SplitMismatchError, match="expected 2486 ids"):
        data.load("siftflow", "trainval", root / "siftflow")


def test_nyud_trainval_is_train_followed_by_val(root: Path) -> None:
    reader = data.load("nyud", "trainval", root / "nyud", expect_split=None)
    train = (root / "nyud/train.txt").read_text().split()
    val = (root / "nyud/val.txt").read_text().split()
    assert list(reader.ids) == train + val and reader.split_info.derived


@pytest.mark.parametrize("name,split,options", [
    ("voc", "seg11valid", {"folder": "VOC2011", "sbd_root": "sbd"}),
    ("voc", "val", {"folder": "VOC2011"}),
    ("nyud", "trainval", {"folder": "nyud"}),
    ("siftflow", "test", {"folder": "siftflow"}),
    ("siftflow", "trainval", {"folder": "siftflow"}),
    ("pascalcontext", "val", {"folder": "pascalcontext", "voc_root": "VOC2010"}),
])
def test_split_list_in_the_root_takes_precedence(root: Path, name: str, split: str, options: dict) -> None:
    options = dict(options)
    folder = root / options.pop("folder")
    options = {k: root / v for k, v in options.items()}
    derived = data.load(name, split, folder, expect_split=None, **options)
    pinned = list(reversed(derived.ids))[:2]
    pin = folder / f"{split}.txt"
    assert not pin.exists()
    pin.write_text("\n".join(pinned) + "\n")
    try:
        reader = data.load(name, split, folder, expect_split=None, **options)
    finally:
        pin.unlink()  # the tree is shared by this module's tests
    assert list(reader.ids) == pinned
    assert reader.split_info.source == str(pin) and not reader.split_info.derived


def test_pinned_list_differing_from_the_reference_warns_and_is_used(root: Path, tmp_path: Path) -> None:
    tree = miniature.build_siftflow(tmp_path / "siftflow", test=["coast_a1"], train=["forest_b2"],
                                   size=(16, 16))
    (tree / "test.txt").write_text("forest_b2\n")
    with pytest.warns(SplitMismatchWarning, match="expected 200 ids, found 1"):
        reader = data.load("siftflow", "test", tree)
    assert reader.ids == ("forest_b2",) and reader.split_info.matches_reference is False


def test_split_matching_the_expectation_raises_no_warning(root: Path) -> None:
    ids = list(data.load("nyud", "train", root / "nyud", expect_split=None).ids)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = data.load("nyud", "train", root / "nyud", expect_split=(len(ids), _toy_hash(ids)))
    assert reader.split_info.matches_reference is True


# -- preprocessing shared with inference --------------------------------------------------------------------

def test_reader_means_are_the_facts_values() -> None:
    for name, mean in {"voc": VOC_MEAN, "sbd": VOC_MEAN, "nyud": NYUD_MEAN, "siftflow": SIFTFLOW_MEAN,
                       "pascalcontext": CONTEXT_MEAN}.items():
        np.testing.assert_array_equal(data.MEANS[name], np.array(mean, dtype=np.float32))
    np.testing.assert_array_equal(data.NYUD_HHA_MEAN, np.array(NYUD_HHA_MEAN, dtype=np.float32))
    assert data.NYUD_LOG_DEPTH_MEAN.tolist() == [np.float32(7.844)]


def test_grayscale_palette_and_rgba_images_are_converted_not_rejected(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    gray = rgb[:, :, 0]
    expected_gray = data.preprocess_image(np.stack([gray] * 3, axis=2), "voc")
    np.testing.assert_array_equal(data.preprocess_image(Image.fromarray(gray), "voc"), expected_gray)
    np.testing.assert_array_equal(data.preprocess_image(gray, "voc"), expected_gray)
    rgba = np.concatenate([rgb, rng.integers(0, 256, size=(6, 5, 1), dtype=np.uint8)], axis=2)
    expected = data.preprocess_image(rgb, "voc")
    np.testing.assert_array_equal(data.preprocess_image(Image.fromarray(rgba), "voc"), expected)
    np.testing.assert_array_equal(data.preprocess_image(rgba, "voc"), expected)
    palette = Image.fromarray(rgb).quantize(colors=16)
    np.testing.assert_array_equal(data.preprocess_image(palette, "voc"),
                                  data.preprocess_image(palette.convert("RGB"), "voc"))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(data.preprocess_image(tmp_path / "gray.png", "voc"), expected_gray)
    assert expected.shape == (3, 6, 5) and expected.dtype == np.float32
    np.testing.assert_array_equal(data.deprocess_image(expected, "voc"), rgb)


def test_user_image_and_reader_give_the_pixel_values_rgb_to_bgr_minus_the_mean(tmp_path: Path) -> None:
    """Known pixels, checked against numbers worked out by hand: RGB (10, 20, 30) becomes BGR minus the VOC
    mean, (30 - 104.00699, 20 - 116.66877, 10 - 122.67892), in float32, channels first, for a picture given by
    the user and for the same file read through the VOC reader."""
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0] = (10, 20, 30)
    pixels[1, 2] = (255, 0, 128)
    voc = miniature.build_voc(tmp_path / "VOC2011", n=1)
    reader = data.load("voc", "train", voc, expect_split=None)
    sample_id = reader.ids[0]
    Image.fromarray(pixels).save(voc / "JPEGImages" / f"{sample_id}.jpg", format="PNG")  # lossless
    data.save_label_png(voc / "SegmentationClass" / f"{sample_id}.png", np.zeros((2, 3), np.uint8))
    expected = np.zeros((3, 2, 3), dtype=np.float32) - np.float32([[[104.00699]], [[116.66877]], [[122.67892]]])
    expected[:, 0, 0] = np.float32([30, 20, 10]) - np.float32([104.00699, 116.66877, 122.67892])
    expected[:, 1, 2] = np.float32([128, 0, 255]) - np.float32([104.00699, 116.66877, 122.67892])
    np.testing.assert_array_equal(reader.load(sample_id)["data"], expected)
    np.testing.assert_array_equal(data.preprocess_image(voc / "JPEGImages" / f"{sample_id}.jpg", "voc"), expected)


def test_class_names_are_the_reference_lists() -> None:
    assert [data.num_classes(*k) for k in data.CLASSES] == [21, 21, 40, 33, 3, 60]
    nyud = data.CLASSES[("nyud", "label")]
    assert nyud[23] == "refridgerator" and nyud[0] == "wall" and nyud[-1] == "otherprop"
    assert data.CLASSES[("voc", "label")][15] == "person"
    sem = data.CLASSES[("siftflow", "sem")]
    assert (sem[0], sem[8], sem[10], sem[15], sem[32]) == ("awning", "cow", "desert", "moon", "window")
    assert data.CLASSES[("siftflow", "geo")] == ("sky", "horizontal", "vertical")
    context = data.CLASSES[("pascalcontext", "label")]
    assert (context[0], context[21], context[52], context[59]) == ("background", "bag", "bedcloth", "wood")


# -- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,split,target", [
    ("voc", "val", "voc2011"), ("sbd", "train", "sbd"), ("nyud", "test", "nyud"),
    ("siftflow", "test", "siftflow"), ("pascalcontext", "val", "pascalcontext")])
def test_missing_root_names_the_path_and_the_command(tmp_path: Path, name: str, split: str,
                                                      target: str) -> None:
    missing = tmp_path / "nowhere"
    if name == "voc":
        missing = tmp_path / "VOC2011"
    with pytest.raises(MissingDataError, match=f"{missing}.*make data DATASET={target}"):
        data.load(name, split, missing)


def test_default_root_comes_from_the_environment_variable(root: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCN_DATA", str(root))
    reader = data.load("voc", "seg11valid", expect_split=None)
    assert reader.root == root / "VOC2011" and len(reader) == 2
    monkeypatch.setenv("FCN_DATA", str(root / "elsewhere"))
    with pytest.raises(MissingDataError, match="elsewhere.*VOC2012.*make data DATASET=voc2012"):
        data.load("voc", "val")


def test_missing_split_list_names_the_path_and_the_command(root: Path) -> None:
    with pytest.raises(MissingDataError, match=r"Segmentation/test\.txt.*make data DATASET=voc2011"):
        data.load("voc", "test", root / "VOC2011")
    (root.parent / "empty_nyud").mkdir()
    with pytest.raises(MissingDataError, match=r"empty_nyud/test\.txt.*make data DATASET=nyud"):
        data.load("nyud", "test", root.parent / "empty_nyud")


def _copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_image_or_label_names_the_path_and_the_command(root: Path, tmp_path: Path) -> None:
    voc = _copy_tree(root / "VOC2011", tmp_path / "VOC2011")
    reader = data.load("voc", "train", voc, expect_split=None)
    first, second = reader.ids[:2]
    (voc / "JPEGImages" / f"{first}.jpg").unlink()
    (voc / "SegmentationClass" / f"{second}.png").unlink()
    with pytest.raises(MissingDataError, match=rf"image of image '{first}'.*{first}\.jpg.*make data"):
        reader.load(first)
    with pytest.raises(MissingDataError, match=rf"label of image '{second}'.*{second}\.png.*make data"):
        reader.load(second)


def test_image_and_label_of_different_sizes_is_an_error_naming_the_id(root: Path, tmp_path: Path) -> None:
    voc = _copy_tree(root / "VOC2011", tmp_path / "VOC2011")
    reader = data.load("voc", "train", voc, expect_split=None)
    sample_id = reader.ids[0]
    data.save_label_png(voc / "SegmentationClass" / f"{sample_id}.png", np.zeros((5, 7), dtype=np.uint8))
    with pytest.raises(data.BadSampleError, match=rf"'{sample_id}'.*data \d+x\d+ \(.*\.jpg\), label 5x7 \(.*\.png\)"):
        reader.load(sample_id)


def _voc_label_30(root: Path, tmp: Path) -> tuple[data.Reader, str, str]:
    voc = _copy_tree(root / "VOC2011", tmp / "VOC2011")
    reader = data.load("voc", "train", voc, expect_split=None)
    png = voc / "SegmentationClass" / f"{reader.ids[0]}.png"
    label = np.array(Image.open(png))
    label[0, 0] = 30
    data.save_label_png(png, label)
    return reader, reader.ids[0], r"values \[30\] outside 0..20"


def _nyud_label_41(root: Path, tmp: Path) -> tuple[data.Reader, str, str]:
    nyud = _copy_tree(root / "nyud", tmp / "nyud")
    reader = data.load("nyud", "test", nyud, expect_split=None)
    mat = nyud / f"segmentation/img_{reader.ids[0]}.mat"
    seg = load_mat(mat, "segmentation")
    seg[0, 0] = 41
    scipy.io.savemat(mat, {"segmentation": seg})
    return reader, reader.ids[0], r"raw values \[41\] outside 0..40"


def _siftflow_geo_fraction(root: Path, tmp: Path) -> tuple[data.Reader, str, str]:
    sift = _copy_tree(root / "siftflow", tmp / "siftflow")
    reader = data.load("siftflow", "test", sift, tops=("data", "geo"), expect_split=None)
    mat = sift / "GeoLabels" / SUBDIR / f"{reader.ids[0]}.mat"
    geo = load_mat(mat, "S")
    geo[3, 3] = 2.5
    scipy.io.savemat(mat, {"S": geo})
    return reader, reader.ids[0], "non-integer"


def _context_raw_beyond_labels_txt(root: Path, tmp: Path) -> tuple[data.Reader, str, str]:
    context = _copy_tree(root / "pascalcontext", tmp / "pascalcontext")
    reader = data.load("pascalcontext", "val", context, voc_root=root / "VOC2010", expect_split=None)
    mat = context / "trainval" / f"{reader.ids[0]}.mat"
    label_map = load_mat(mat, "LabelMap")
    label_map[1, 1] = len(reader.lookup)
    scipy.io.savemat(mat, {"LabelMap": label_map})
    return reader, reader.ids[0], rf"raw values \[{len(reader.lookup)}\]"


@pytest.mark.parametrize("corrupt", [_voc_label_30, _nyud_label_41, _siftflow_geo_fraction,
                                     _context_raw_beyond_labels_txt], ids=lambda f: f.__name__.strip("_"))
def test_label_values_out_of_range_are_errors_naming_the_id(root: Path, tmp_path: Path, corrupt) -> None:
    reader, sample_id, problem = corrupt(root, tmp_path)
    with pytest.raises(data.BadSampleError, match=rf"'{sample_id}'.*{problem}"):
        reader.load(sample_id)


def test_unreadable_files_are_errors_naming_the_id(root: Path, tmp_path: Path) -> None:
    sbd = _copy_tree(root / "sbd", tmp_path / "sbd")
    reader = data.load("sbd", "train", sbd, expect_split=None)
    first, second = reader.ids[:2]
    jpg = sbd / "img" / f"{first}.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])  # truncated JPEG
    (sbd / "cls" / f"{second}.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(data.BadSampleError, match=rf"sbd image '{first}': cannot read image"):
        reader.load(first)
    with pytest.raises(data.BadSampleError, match=rf"sbd image '{second}': cannot read label"):
        reader.load(second)


def test_colour_coded_label_png_is_refused(root: Path, tmp_path: Path) -> None:
    voc = _copy_tree(root / "VOC2011", tmp_path / "VOC2011")
    reader = data.load("voc", "train", voc, expect_split=None)
    sample_id = reader.ids[0]
    png = voc / "SegmentationClass" / f"{sample_id}.png"
    Image.open(png).convert("RGB").save(png)
    with pytest.raises(data.BadSampleError, match=rf"'{sample_id}'.*mode RGB; expected palette indices"):
        reader.load(sample_id)


def test_zero_depth_is_an_error_naming_the_id(root: Path, tmp_path: Path) -> None:
    nyud = _copy_tree(root / "nyud", tmp_path / "nyud")
    reader = data.load("nyud", "test", nyud, tops=("depth",), expect_split=None)
    sample_id = reader.ids[0]
    depth_png = nyud / f"data/depth/img_{sample_id}.png"
    depth = np.array(Image.open(depth_png))
    depth[2, 2] = 0
    Image.fromarray(depth).save(depth_png)
    with pytest.raises(data.BadSampleError, match=rf"'{sample_id}'.*1 pixel\(s\) <= 0.*-inf"):
        reader.load(sample_id)


def test_bad_options_are_refused_with_the_accepted_ones(root: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cityscapes'"):
        data.load("cityscapes", "val")
    with pytest.raises(TypeError, match=r"voc_root.*unknown \['voc_rot'\]"):
        data.load("pascalcontext", "val", root / "pascalcontext", voc_rot=root / "VOC2010")
    with pytest.raises(ValueError, match="tops must be distinct names from"):
        data.load("nyud", "test", root / "nyud", tops=("color", "rgb"))
