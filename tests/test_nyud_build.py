"""make data DATASET=nyud from NYU's originals (data.nyud), on 127.0.0.1 (http_server.py): a miniature
nyu_depth_v2_labeled.mat in NYU's MATLAB v7.3 layout (data.miniature.build_nyu_originals: HDF5 behind MATLAB's
512-byte header, MATLAB_class attributes, axes reversed, full 480 x 640 images), a splits.mat and a
classMapping40.mat as published (MATLAB v5), and three lists. The kit's own parts are used with their sources
replaced by the local server's and their checksums by the miniature files' (the published ones are NYU's
files'); nothing reaches the internet.

Every expected pixel is computed here from the .mat by its own arithmetic, not by data.nyud's functions: the
crop [45:470, 40:600], RGB as stored, depth as float32 * 1000 rounded half away from zero (the miniature plants
depths whose single-precision product is exactly k + 0.5 while float64's is below it), labels through mapClass
with 0 kept, HHA by data.hha from the depth PNG and rawDepths == 0 (the miniature's raw depth has holes that its
filled depth has not). HHA at 425 x 560 costs about 0.7 s an image, so the builds here hold one or two images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from http_server import LocalServer
from PIL import Image

import data
from data import download, miniature, nyud
from data.download import PARTS, Checksum, Source
from data.errors import DownloadError, MissingDataError
from data.hha import hha

REPO = Path(__file__).resolve().parent.parent
KEYS = download.TARGETS["nyud"]
ORIGINALS = ("nyud-labeled", "nyud-splits", "nyud-classes40", "nyud-train", "nyud-val", "nyud-test")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _parts(files: dict[str, Path], urls: dict[str, str], archive: str | None = None, **checksums) -> list:
    """The nyud target's parts with their sources at ``urls`` and the miniature files' MD5s (``checksums``
    overrides one: key=md5)."""
    parts = []
    for key in KEYS:
        if key == "nyud":
            sources = (Source(archive, "the reference's server, dead (404)"),) if archive else ()
            parts.append(dataclasses.replace(PARTS[key], sources=sources))
            continue
        md5 = checksums.get(key.replace("-", "_"), _md5(files[key]))
        parts.append(dataclasses.replace(PARTS[key], sources=(Source(urls[key], "test server"),), size=None,
                                         checksums=(Checksum("md5", md5, "the miniature"),)))
    return parts


def _serve(files: dict[str, Path]) -> LocalServer:
    return LocalServer({f"/{key}/{path.name}": path.read_bytes() for key, path in files.items()})


def _urls(server: LocalServer, files: dict[str, Path]) -> dict[str, str]:
    return {key: server.url(f"/{key}/{path.name}") for key, path in files.items()}


def _crop(a: np.ndarray) -> np.ndarray:
    return a[45:470, 40:600]


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """Two images: 5001 train, 5002 test, no val (a third would cost another HHA)."""
    return miniature.build_nyu_originals(tmp_path_factory.mktemp("nyu") / "originals", n=2, test=(2,), val=())


@pytest.fixture(scope="module")
def built(originals, tmp_path_factory) -> tuple[Path, list[str], LocalServer]:
    """make data DATASET=nyud with the reference's archive answering 404: the originals over HTTP, built."""
    root = tmp_path_factory.mktemp("fcn_data")
    log: list[str] = []
    with _serve(originals) as server:
        parts = _parts(originals, _urls(server, originals), archive=server.url("/dead/nyud.tar.gz"))
        placed = download.download("nyud", root, parts=parts, log=log.append, workers=1, progress=False)
    assert placed[0] == root / "nyud"
    return root, log, server


def test_the_dead_archive_falls_through_to_the_originals_and_the_references_layout_is_built(built) -> None:
    root, log, server = built
    assert server.behaviour.paths[0] == "/dead/nyud.tar.gz"  # the archive first, then each original
    assert any("no source gave the reference's archive: building its folder from the originals" in line
               for line in log)
    folder = root / "nyud"
    for sample_id in ("5001", "5002"):
        for pattern in nyud.OUTPUTS:
            assert (folder / pattern.format(id=sample_id)).is_file()
    assert sorted(p.name for p in root.iterdir()) == ["downloads", "fetched.json", "nyud"]  # no nyud.partial
    assert sorted(p.name for p in folder.iterdir()) == ["data", "provenance.json", "segmentation", "test.txt",
                                                         "train.txt", "val.txt"]  # and no build state left
    assert (folder / "test.txt").read_text() == "5002" and (folder / "train.txt").read_text() == "5001"
    # What the downloads folder keeps are the verified originals, and fetched.json their SHA-256.
    record = json.loads((root / "fetched.json").read_text())
    assert set(record) == set(ORIGINALS)
    assert record["nyud-labeled"]["sha256"] == hashlib.sha256(
        (root / "downloads/nyu_depth_v2_labeled.mat").read_bytes()).hexdigest()


def test_images_depth_labels_and_hha_are_made_as_guptas_script_made_them(built, originals) -> None:
    root, _, _ = built
    folder = root / "nyud"
    mapping = scipy.io.loadmat(originals["nyud-classes40"])["mapClass"].ravel()
    with h5py.File(originals["nyud-labeled"], "r") as f:
        for index, sample_id in enumerate(("5001", "5002")):
            rgb = _crop(f["images"][index].transpose(2, 1, 0))
            depth_m = _crop(f["depths"][index].T)
            raw = _crop(f["rawDepths"][index].T)
            labels = _crop(f["labels"][index].T).astype(np.int64)
            with Image.open(folder / f"data/images/img_{sample_id}.png") as im:
                assert im.mode == "RGB" and im.size == (560, 425)
                np.testing.assert_array_equal(np.asarray(im), rgb)
            with Image.open(folder / f"data/depth/img_{sample_id}.png") as im:
                assert im.mode == "I;16"
                depth = np.asarray(im)
            product = (depth_m * np.float32(1000)).astype(np.float64)  # single-precision product, then exact
            np.testing.assert_array_equal(depth, np.floor(product + 0.5).astype(np.uint16))
            # The planted depths: k + 0.5 in single precision, below it in float64; MATLAB rounds them up.
            half = miniature.nyu_half_depths(16)
            ks = np.floor(half.astype(np.float64) * 1000).astype(np.int64)
            np.testing.assert_array_equal(depth[0, :16], ks + 1)
            assert (np.floor(half.astype(np.float64) * 1000 + 0.5) == ks).all()  # what float64 would write
            segmentation = scipy.io.loadmat(folder / f"segmentation/img_{sample_id}.mat")["segmentation"]
            assert segmentation.dtype == np.uint8 and segmentation.shape == (425, 560)
            expected = np.where(labels > 0, mapping[np.maximum(labels, 1) - 1], 0)
            np.testing.assert_array_equal(segmentation, expected)
            assert (segmentation[labels == 0] == 0).all() and (labels == 0).any()
            with Image.open(folder / f"data/hha/img_{sample_id}.png") as im:
                assert im.mode == "RGB" and im.size == (560, 425)
                if sample_id == "5002":  # one image's HHA recomputed (0.7 s each)
                    np.testing.assert_array_equal(np.asarray(im), hha(depth, raw == 0))
            assert (raw == 0).any() and not (depth == 0).any()  # the mask is the raw depth's, not the filled one's


def test_the_readers_read_the_built_folder_and_the_records_say_it_was_built(built) -> None:
    root, _, _ = built
    reader = data.load("nyud", "test", root / "nyud", tops=("color", "hha", "depth", "label"), expect_split=None)
    item = reader[0]
    assert reader.ids == ("5002",) and {k: v.shape for k, v in item.items()} == {
        "color": (3, 425, 560), "hha": (3, 425, 560), "depth": (1, 425, 560), "label": (425, 560)}
    info = reader.split_info
    assert info.images_from.startswith("nyud (built by the kit from NYU's originals")
    assert info.provenance["how"] == "built by the kit from NYU's originals"
    assert info.provenance["lists_agree_with_splits"] is True
    record = json.loads((root / "nyud" / "provenance.json").read_text())
    fetched = json.loads((root / "fetched.json").read_text())
    assert {k: v["sha256"] for k, v in record["sources"].items()} == {k: v["sha256"] for k, v in fetched.items()}
    assert record["kit"]["git_revision"] and record["build"]["images"] == 2
    assert record["build"]["lists_against_splits"]["test_equals_testNdxs_plus_5000"] is True


def test_make_data_list_prints_the_sha256_of_every_file_fetched_here(built) -> None:
    root, _, _ = built
    lines = download.listing(root).splitlines()
    for key, entry in json.loads((root / "fetched.json").read_text()).items():
        shown = (f"    fetched here {entry['date']}: sha256 {entry['sha256']} ({entry['bytes']} bytes) from "
                 f"{entry['location']}")
        assert shown in lines[lines.index(next(line for line in lines if line.startswith(f"{key}: "))):], key


def test_your_own_labeled_mat_by_path_is_read_in_place_and_never_changed(originals, tmp_path) -> None:
    """A source for an original goes straight to the build (the dead archive is not asked); the .mat stays as
    it was, byte for byte and to the nanosecond."""
    mat = originals["nyud-labeled"]
    before = (mat.read_bytes(), mat.stat().st_mtime_ns, mat.stat().st_mode)
    root = tmp_path / "fcn_data"
    with _serve(originals) as server:
        parts = _parts(originals, _urls(server, originals), archive=server.url("/dead/nyud.tar.gz"))
        sources = download.group_sources([f"nyud-labeled={mat}#md5={_md5(mat)}"])
        download.download("nyud", root, parts=parts, sources=sources, log=lambda _: None, workers=1,
                          progress=False)
    assert "/dead/nyud.tar.gz" not in server.behaviour.paths and "/nyud-labeled/" not in "".join(
        server.behaviour.paths)
    assert (mat.read_bytes(), mat.stat().st_mtime_ns, mat.stat().st_mode) == before
    assert not (root / "downloads" / mat.name).exists()  # read where it lies, not copied
    assert json.loads((root / "nyud/provenance.json").read_text())["sources"]["nyud-labeled"]["location"] == str(mat)


@pytest.mark.parametrize("wrong", ["nyud_labeled", "nyud_splits", "nyud_classes40", "nyud_test"])
def test_a_wrong_checksum_builds_nothing(originals, tmp_path, wrong) -> None:
    root = tmp_path / "fcn_data"
    with _serve(originals) as server:
        parts = _parts(originals, _urls(server, originals), **{wrong: "0" * 32})
        with pytest.raises(DownloadError) as caught:
            download.download("nyud", root, parts=parts, log=lambda _: None, workers=1, progress=False)
    message = str(caught.value)
    assert f"expected {'0' * 32}" in message and wrong.replace("_", "-") in message
    assert not (root / "nyud").exists() and not (root / "nyud.partial").exists()


def _bad_mat(path: Path, fields: dict[str, tuple[np.ndarray, str]]) -> Path:
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, (array, matlab_class) in fields.items():
            f.create_dataset(name, data=array).attrs["MATLAB_class"] = np.bytes_(matlab_class)
    return path


@pytest.mark.parametrize("case,says", [
    ("no rawDepths", "has no field 'rawDepths'"),
    ("depths not reversed", "field 'depths' is shape (2, 480, 640)"),
    ("labels as double", "field 'labels' is shape (2, 640, 480), float64, MATLAB class double"),
    ("a v5 .mat", "is a MATLAB .mat of an older format (v5/v7), not v7.3"),
    ("too few images", "holds 1 images, but the lists and splits.mat name image 2"),
])
def test_a_labeled_mat_that_is_not_nyus_is_one_error_naming_what_differs_and_nothing_is_built(
        originals, tmp_path, case, says) -> None:
    n = 1 if case == "too few images" else 2
    fields = {"images": (np.zeros((n, 3, 640, 480), np.uint8), "uint8"),
              "depths": (np.ones((n, 640, 480), np.float32), "single"),
              "rawDepths": (np.ones((n, 640, 480), np.float32), "single"),
              "labels": (np.zeros((n, 640, 480), np.uint16), "uint16")}
    if case == "no rawDepths":
        del fields["rawDepths"]
    if case == "depths not reversed":
        fields["depths"] = (np.ones((n, 480, 640), np.float32), "single")
    if case == "labels as double":
        fields["labels"] = (np.zeros((n, 640, 480), np.float64), "double")
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    if case == "a v5 .mat":
        scipy.io.savemat(mat, {"images": np.zeros((2, 2), np.uint8)})
    else:
        _bad_mat(mat, fields)
    root = tmp_path / "fcn_data"
    with _serve(originals) as server:
        parts = _parts(originals, _urls(server, originals))
        sources = download.group_sources([f"nyud-labeled={mat}#md5={_md5(mat)}"])
        with pytest.raises(DownloadError, match=says.replace("(", r"\(").replace(")", r"\)")):
            download.download("nyud", root, parts=parts, sources=sources, log=lambda _: None, workers=1,
                              progress=False)
    assert not (root / "nyud").exists() and not (root / "nyud.partial").exists()


def _local_parts(files: dict[str, Path], **replace: Path) -> list:
    """The nyud target's parts read from local files (``replace``: key=path of another file), no archive source."""
    chosen = {**files, **{k.replace("_", "-"): v for k, v in replace.items()}}
    return _parts(chosen, {k: str(v) for k, v in chosen.items()})


def _names(names) -> np.ndarray:
    out = np.empty((1, len(names)), dtype=object)
    out[0, :] = list(names)
    return out


@pytest.mark.parametrize("case,says", [
    ("splits without testNdxs", "has no field 'testNdxs'"),
    ("another class list", "className is not the reference's 40 classes"),
    ("mapClass beyond 40", "mapClass holds 894 values in 41..41"),
])
def test_a_splits_or_class_mapping_file_that_is_not_the_published_one_is_one_error_and_nothing_is_built(
        originals, tmp_path, case, says) -> None:
    classes = list(data.CLASSES[("nyud", "label")])
    other = tmp_path / ("splits.mat" if case.startswith("splits") else "classMapping40.mat")
    if case == "splits without testNdxs":
        scipy.io.savemat(other, {"trainNdxs": np.array([[1]], np.uint16)})
    elif case == "another class list":
        scipy.io.savemat(other, {"mapClass": np.ones((1, 894), np.uint8), "className": _names(classes[::-1])})
    else:
        scipy.io.savemat(other, {"mapClass": np.full((1, 894), 41, np.uint8), "className": _names(classes)})
    key = "nyud_splits" if case.startswith("splits") else "nyud_classes40"
    root = tmp_path / "fcn_data"
    with pytest.raises(DownloadError, match=says):
        download.download("nyud", root, parts=_local_parts(originals, **{key: other}), log=lambda _: None,
                          workers=1, progress=False)
    assert not (root / "nyud").exists() and not (root / "nyud.partial").exists()


def test_the_command_says_what_is_wrong_in_one_message_without_a_traceback(originals, tmp_path, monkeypatch,
                                                                           capsys) -> None:
    """make data DATASET=nyud with a splits.mat of yours that lacks testNdxs: error: ..., exit 1, nothing built.
    The kit's parts point at the miniature's files, so nothing reaches the internet."""
    for part in _local_parts(originals):
        monkeypatch.setitem(download.PARTS, part.key, part)
    splits = tmp_path / "splits.mat"
    scipy.io.savemat(splits, {"trainNdxs": np.array([[1]], np.uint16)})
    rc = download.main(["nyud", "--root", str(tmp_path / "root"), "--workers", "1",
                        "--source", f"nyud-splits={splits}#md5={_md5(splits)}"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and "Traceback" not in err
    assert f"{splits} has no field 'testNdxs'" in err
    assert not (tmp_path / "root" / "nyud").exists() and not (tmp_path / "root" / "nyud.partial").exists()


def test_ctrl_c_during_the_build_is_one_message_and_the_finished_images_stay(originals, tmp_path, monkeypatch,
                                                                            capsys) -> None:
    for part in _local_parts(originals):
        monkeypatch.setitem(download.PARTS, part.key, part)

    def interrupted(index: int) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(nyud, "_build_one", interrupted)
    assert download.main(["nyud", "--root", str(tmp_path / "root"), "--workers", "1"]) == 130
    err = capsys.readouterr().err
    assert err.strip().startswith("interrupted; what is in place stays") and "Traceback" not in err
    assert (tmp_path / "root" / "nyud.partial").is_dir() and not (tmp_path / "root" / "nyud").exists()
    # A pool worker leaves Ctrl-C to the command (which stops the pool): it ignores SIGINT; the command's own
    # process, building alone with --workers 1, keeps it.
    before = signal.getsignal(signal.SIGINT)
    try:
        nyud._start_worker(str(originals["nyud-labeled"]), np.zeros(895, np.uint8), str(tmp_path), in_pool=True)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        nyud._WORKER.pop("file").close()
        signal.signal(signal.SIGINT, before)
        nyud._start_worker(str(originals["nyud-labeled"]), np.zeros(895, np.uint8), str(tmp_path))
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)
        if "file" in nyud._WORKER:
            nyud._WORKER.pop("file").close()


def test_too_little_free_space_for_the_build_is_one_error_before_anything_is_written(originals, tmp_path,
                                                                                    monkeypatch) -> None:
    from data import files

    monkeypatch.setattr(files, "free_bytes", lambda folder: 1_000_000)
    root = tmp_path / "fcn_data"
    with pytest.raises(DownloadError) as caught:
        download.download("nyud", root, parts=_local_parts(originals), log=lambda _: None, workers=1,
                          progress=False)
    assert f"it needs {2 * nyud.MAX_IMAGE_BYTES:,} bytes" in str(caught.value) and "1,000,000 are free" in str(
        caught.value)
    assert not (root / "nyud").exists() and not (root / "nyud.partial").exists()


def test_the_references_archive_when_a_source_gives_it_is_unpacked_and_says_so(tmp_path) -> None:
    """A source that gives nyud.tar.gz: unpacked as before (no build), with provenance.json naming the archive
    and its SHA-256; a folder of yours linked in place gets nothing written into it."""
    import io
    import tarfile

    tree = miniature.build_nyud(tmp_path / "src" / "nyud", n=3, size=(6, 8))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        t.add(tree, arcname="nyud")
    archive = buffer.getvalue()
    root = tmp_path / "fcn_data"
    with LocalServer({"/nyud.tar.gz": archive}) as server:
        part = dataclasses.replace(PARTS["nyud"], sources=(Source(server.url("/nyud.tar.gz"), "a mirror"),))
        download.download("nyud", root, parts=[part], log=lambda _: None)
    record = json.loads((root / "nyud" / "provenance.json").read_text())
    assert record["how"] == "the reference's archive" and "build" not in record
    assert record["sources"]["nyud"]["sha256"] == hashlib.sha256(archive).hexdigest()
    reader = data.load("nyud", "test", root / "nyud", expect_split=None)
    assert reader.split_info.images_from.startswith("nyud (the reference's archive")
    mine = tmp_path / "fcn_data2"
    download.download("nyud", mine, parts=[dataclasses.replace(PARTS["nyud"], sources=())], log=lambda _: None,
                      sources=download.group_sources([f"nyud={tree}"]))
    assert (mine / "nyud").is_symlink() and not (tree / "provenance.json").exists()
    assert data.load("nyud", "test", mine / "nyud", expect_split=None).split_info.images_from.startswith(
        "nyud (no provenance.json")


def test_depth_is_matlabs_uint16_of_the_single_precision_product() -> None:
    half = miniature.nyu_half_depths(4)
    k = np.floor(half.astype(np.float64) * 1000)
    values = np.array([*half, 0.0, np.nan, -0.0004, 65.5349, 65.5355, 70.0, np.inf], dtype=np.float32)
    got = nyud.depth_millimetres(values)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got[:4], k + 1)  # float32: k + 0.5, rounded away from zero
    np.testing.assert_array_equal(got[4:], [0, 0, 0, 65535, 65535, 65535, 65535])
    assert nyud.matlab_uint16(np.array([2.5, 3.5, -2.5, 0.49999997], np.float32)).tolist() == [3, 4, 0, 0]


def test_the_references_lists_are_checked_against_splits_mat() -> None:
    lists = {"train": ["5001", "5004"], "val": ["5003"], "test": ["5002", "5005"]}
    agree = nyud.compare_lists(lists, np.array([1, 3, 4]), np.array([2, 5]))
    assert agree["agree"] and agree["test_in_testNdxs_order"]
    moved = nyud.compare_lists({**lists, "test": ["5002"], "val": ["5003", "5005"]}, np.array([1, 3, 4]),
                               np.array([2, 5]))
    assert not moved["agree"] and not moved["test_equals_testNdxs_plus_5000"]
    assert not moved["train_plus_val_equals_trainNdxs_plus_5000"]


def test_an_interrupted_build_keeps_its_finished_images_reads_as_absent_and_resumes(originals, tmp_path,
                                                                                    monkeypatch) -> None:
    """The build stops after its first image (Ctrl-C): the folder is absent for readers and for make data, the
    finished image stays in nyud.partial, and the next run builds only the rest."""
    root = tmp_path / "fcn_data"
    real = nyud._build_one
    calls: list[int] = []

    def stop_after_one(index: int) -> int:
        if calls:
            raise KeyboardInterrupt
        calls.append(index)
        return real(index)

    monkeypatch.setattr(nyud, "_build_one", stop_after_one)
    with _serve(originals) as server:
        parts = _parts(originals, _urls(server, originals))
        with pytest.raises(KeyboardInterrupt):
            download.download("nyud", root, parts=parts, log=lambda _: None, workers=1, progress=False)
        partial = root / "nyud.partial"
        first = [partial / p.format(id="5001") for p in nyud.OUTPUTS]
        assert all(p.is_file() for p in first) and not (root / "nyud").exists()
        assert not any((partial / p.format(id="5002")).exists() for p in nyud.OUTPUTS)
        with pytest.raises(MissingDataError):
            data.load("nyud", "test", root / "nyud", expect_split=None)
        stamps = [p.stat().st_mtime_ns for p in first]
        monkeypatch.setattr(nyud, "_build_one", real)
        log: list[str] = []
        download.download("nyud", root, parts=parts, log=log.append, workers=1, progress=False)
    assert any("an interrupted build is in" in line and "resuming it" in line for line in log)
    assert any("(1 already there)" in line for line in log)
    assert [(root / "nyud" / p.format(id="5001")).stat().st_mtime_ns for p in nyud.OUTPUTS] == stamps
    assert all((root / "nyud" / p.format(id="5002")).is_file() for p in nyud.OUTPUTS)
    assert not partial.exists()


def test_a_partial_build_from_other_inputs_is_started_afresh(originals, tmp_path, monkeypatch) -> None:
    """A partial folder whose record names other inputs (or other code) is the kit's own and is emptied: none of
    its images mixes into the new build. (Stopped before the first image: the check is what is tested.)"""
    root = tmp_path / "fcn_data"
    stale = root / "nyud.partial" / "data" / "images" / "img_5001.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from another labeled set")
    (root / "nyud.partial" / ".build.json").write_text(json.dumps({"inputs": {}, "code": "other"}))

    def stop(index: int) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(nyud, "_build_one", stop)
    log: list[str] = []
    with _serve(originals) as server, pytest.raises(KeyboardInterrupt):
        download.download("nyud", root, parts=_parts(originals, _urls(server, originals)), log=log.append,
                          workers=1, progress=False)
    assert any("built from other inputs or by other code: starting afresh" in line for line in log)
    assert not stale.exists()
    state = json.loads((root / "nyud.partial" / ".build.json").read_text())
    assert state["code"] != "other" and state["inputs"]["nyud-labeled"] == hashlib.sha256(
        originals["nyud-labeled"].read_bytes()).hexdigest()


# -- the slow tier: a real kill, both cores -------------------------------------------------------------------

# make data DATASET=nyud (data.download's command) with the kit's parts pointed at the miniature's files.
_CHILD = textwrap.dedent("""
    import dataclasses, hashlib, json, sys
    from pathlib import Path
    from data import download
    from data.download import PARTS, Checksum, Source

    if __name__ == "__main__":
        files, root = json.loads(sys.argv[1]), Path(sys.argv[2])
        for key in download.TARGETS["nyud"]:
            if key == "nyud":
                PARTS[key] = dataclasses.replace(PARTS[key], sources=())
                continue
            path = Path(files[key])
            md5 = hashlib.md5(path.read_bytes()).hexdigest()
            PARTS[key] = dataclasses.replace(PARTS[key], sources=(Source(str(path), "test"),), size=None,
                                             checksums=(Checksum("md5", md5, "test"),))
        sys.exit(download.main(["nyud", "--root", str(root), "--workers", "2"]))
""")


def _start_child(tmp_path: Path, files: dict[str, Path], root: Path) -> tuple[list[str], subprocess.Popen]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    args = [sys.executable, str(script), json.dumps({k: str(v) for k, v in files.items()}), str(root)]
    return args, subprocess.Popen(args, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)


def _wait_for_images(child: subprocess.Popen, partial: Path, count: int, total: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (partial / "data/hha").is_dir() and len(nyud._finished(partial, total)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"the build did not reach {count} images: {child.poll()} {child.stdout.read()}")


@pytest.mark.slow  # six full-size HHA images on two spawned workers, killed and resumed: about 15 s
def test_a_build_killed_mid_way_keeps_its_finished_images_and_the_next_run_resumes(tmp_path) -> None:
    files = miniature.build_nyu_originals(tmp_path / "originals", n=6, test=(2, 5), val=(3,), seed=8)
    root = tmp_path / "fcn_data"
    partial = root / "nyud.partial"
    args, child = _start_child(tmp_path, files, root)
    try:
        _wait_for_images(child, partial, 2, 6)
        os.killpg(child.pid, signal.SIGKILL)  # the command and its two workers, mid-image
    finally:
        child.wait(timeout=30)
    finished = nyud._finished(partial, 6)
    assert 2 <= len(finished) < 6 and not (root / "nyud").exists()
    stamps = {i: [(partial / p.format(id=5001 + i)).stat().st_mtime_ns for p in nyud.OUTPUTS] for i in finished}
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"({len(finished)} already there)" in done.stdout
    folder = root / "nyud"
    for i in range(6):
        assert all((folder / p.format(id=5001 + i)).is_file() for p in nyud.OUTPUTS)
    for i, before in stamps.items():
        assert [(folder / p.format(id=5001 + i)).stat().st_mtime_ns for p in nyud.OUTPUTS] == before
    assert not list(folder.rglob("*.fcn-tmp")) and not partial.exists()
    with h5py.File(files["nyud-labeled"], "r") as f:
        np.testing.assert_array_equal(np.asarray(Image.open(folder / "data/images/img_5006.png")),
                                      _crop(f["images"][5].transpose(2, 1, 0)))


@pytest.mark.slow  # four full-size HHA images on two spawned workers, stopped by Ctrl-C: about 8 s
def test_ctrl_c_on_the_command_stops_its_workers_with_one_message(tmp_path) -> None:
    """Ctrl-C reaches the whole process group: the workers leave it to the command, which says one thing and
    exits 130; no traceback from anyone, and the finished images stay for the next run."""
    files = miniature.build_nyu_originals(tmp_path / "originals", n=4, test=(2,), val=(3,), seed=8)
    root = tmp_path / "fcn_data"
    args, child = _start_child(tmp_path, files, root)
    try:
        _wait_for_images(child, root / "nyud.partial", 1, 4)
        os.killpg(child.pid, signal.SIGINT)
        out = child.communicate(timeout=60)[0]
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == 130, out
    assert "interrupted; what is in place stays" in out and "Traceback" not in out, out
    assert nyud._finished(root / "nyud.partial", 4) and not (root / "nyud").exists()


@pytest.fixture(scope="module")
def tiny_hha_file(tmp_path_factory) -> Path:
    import weights
    from tiny_nets import scoring_net

    return weights.save(scoring_net("nyud-fcn32s-hha", classes=40),
                        tmp_path_factory.mktemp("weights") / "nyud-fcn32s-hha.h5")


@pytest.fixture
def tiny_hha_weights(tiny_hha_file, monkeypatch) -> Path:
    """A tiny net named nyud-fcn32s-hha (its record's HHA input applies; it runs in milliseconds), saved."""
    import nets
    from tiny_nets import scoring_net

    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name, classes=40))
    return tiny_hha_file


@pytest.mark.filterwarnings("ignore:nyud split 'test'")  # the miniature's one-image list is not the reference's
def test_make_evaluate_runs_on_the_built_folder_and_its_record_says_how_it_was_made(built, tiny_hha_weights,
                                                                                    tmp_path, capsys) -> None:
    from reproduce import evaluate

    root = built[0]
    assert evaluate.main(["nyud-fcn32s-hha", "--weights", str(tiny_hha_weights), "--data-root", str(root),
                          "--json", str(tmp_path / "evaluate.json")]) == 0
    assert "nyud test: 1 images from nyud (built by the kit from NYU's originals" in capsys.readouterr().out
    record = json.loads((tmp_path / "evaluate.json").read_text())
    assert record["split_info"]["provenance"]["how"] == "built by the kit from NYU's originals"
    assert record["split_info"]["provenance"]["sources"]["nyud-labeled"] == json.loads(
        (root / "fetched.json").read_text())["nyud-labeled"]["sha256"]


@pytest.mark.filterwarnings("ignore:nyud split 'test'")
def test_make_reproduce_table4_runs_on_the_built_folder_and_its_records_say_how_it_was_made(
        built, tiny_hha_weights, tmp_path) -> None:
    from reproduce import table4

    root = built[0]
    assert table4.main(["--data-root", str(root), "--weights-dir", str(tiny_hha_weights.parent), "--nets",
                        "nyud-fcn32s-hha", "--out", str(tmp_path / "results"), "--no-cache"]) == 0
    table = json.loads((tmp_path / "results" / "table4.json").read_text())
    assert table["provenance"]["nyud-fcn32s-hha"]["split_info"]["provenance"]["sources"]["nyud-labeled"] == \
        json.loads((root / "fetched.json").read_text())["nyud-labeled"]["sha256"]
    assert "images and labels from nyud (built by the kit from NYU's originals" in (
        tmp_path / "results" / "table4.md").read_text()
