"""Data from anywhere: each part's sources in order, checksums, your own archives, and seg11valid from VOC2012.

Every archive here is a miniature tree (data.miniature) packed in its release's published layout
(VOCdevkit/VOC2012 in VOC2012's tar, TrainVal/VOCdevkit/VOC2011 in VOC2011's, benchmark_RELEASE/dataset in
SBD's tgz), served from 127.0.0.1 (http_server.py). The kit's own part definitions are used with their sources
replaced by the local server's; nothing reaches the internet. The reference's seg11valid list cannot be shipped,
so the 736-id tests use 736 generated ids, with the reference's (count, MD5) pointed at them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
from pathlib import Path

import pytest
from http_server import LocalServer, Reply

import data
from data import download, files, miniature, splits
from data.download import PARTS, Checksum, Source
from data.errors import DownloadError, MissingDataError, SplitMismatchError

SIZE = (6, 6)


def _tar(tree: Path, arcname: str, mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as t:
        t.add(tree, arcname=arcname)
    return buffer.getvalue()


def _md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def _voc_tar(tmp: Path, year: str, ids: list[str], layout: str = "VOCdevkit/{}") -> bytes:
    """A VOC year's trainval tar in its published layout, with a val split of ``ids``."""
    tree = miniature.build_voc(tmp / f"src{year}" / f"VOC{year}", splits={"val": ids, "train": ids[:1]}, size=SIZE)
    return _tar(tree, layout.format(f"VOC{year}"))


def _sbd_tgz(tmp: Path, train: list[str]) -> bytes:
    tree = miniature.build_sbd(tmp / "srcsbd" / "dataset", splits={"train": train, "val": []}, size=SIZE)
    return _tar(tree, "benchmark_RELEASE/dataset", "w:gz")


def _part(key: str, *urls: str, checksums: tuple[Checksum, ...] | None = None, **changes):
    part = PARTS[key]
    sources = tuple(Source(u, f"test source {n}") for n, u in enumerate(urls, 1))
    return dataclasses.replace(part, sources=sources, size=None,
                               checksums=part.checksums if checksums is None else checksums, **changes)


def _own(blob: bytes) -> tuple[Checksum, ...]:
    return (Checksum("md5", _md5(blob), "test"),)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _snapshot(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


# -- sources in order, checksums ------------------------------------------------------------------------------

def test_sources_are_tried_in_order_until_one_gives_the_verified_archive(tmp_path: Path) -> None:
    """A server error, a web page in place of the archive, then a mirror that serves it: the mirror's file is
    verified and unpacked; each failure is logged with its reason."""
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(3))
    root = tmp_path / "fcn_data"
    routes = {"/broken": lambda r: Reply(status=500, body=b"oops"),
              "/page": lambda r: Reply(body=b"<html><title>Access denied</title>blocked</html>",
                                       headers=[("Content-Type", "text/html")])}
    with LocalServer({"/mirror/VOCtrainval_11-May-2012.tar": tar}) as server:
        server.behaviour.routes.update(routes)
        part = _part("voc2012", server.url("/broken"), server.url("/page"),
                     server.url("/mirror/VOCtrainval_11-May-2012.tar"), checksums=_own(tar))
        log: list[str] = []
        placed = download.download("voc2012", root, parts=[part], log=log.append)
    assert placed == [root / "VOC2012"] and (root / "VOC2012/ImageSets/Segmentation/val.txt").is_file()
    assert [p.split("?")[0] for p in server.behaviour.paths] == ["/broken", "/page",
                                                                 "/mirror/VOCtrainval_11-May-2012.tar"]
    failures = [line for line in log if "failed" in line]
    assert "source 1/3 failed" in failures[0] and "HTTP 500" in failures[0]
    assert "source 2/3 failed" in failures[1] and "web page" in failures[1] and "Access denied" in failures[1]
    assert any("md5 verified" in line for line in log)
    # No staging folder left; the record of what was fetched beside the folders.
    assert sorted(p.name for p in root.iterdir()) == ["VOC2012", "downloads", "fetched.json"]


def test_a_mirror_serving_another_file_is_set_aside_and_the_next_source_used(tmp_path: Path) -> None:
    good = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    other = _voc_tar(tmp_path, "2007", miniature.voc_ids(2))  # another release under the same name
    root = tmp_path / "fcn_data"
    with LocalServer({"/a/VOCtrainval_11-May-2012.tar": other, "/b/VOCtrainval_11-May-2012.tar": good}) as server:
        part = _part("voc2012", server.url("/a/VOCtrainval_11-May-2012.tar"),
                     server.url("/b/VOCtrainval_11-May-2012.tar"), checksums=_own(good))
        log: list[str] = []
        download.download("voc2012", root, parts=[part], log=log.append)
    rejected = root / "downloads/VOCtrainval_11-May-2012.tar.rejected"
    assert rejected.read_bytes() == other  # kept, where no fetch takes it for good
    assert (root / "downloads/VOCtrainval_11-May-2012.tar").read_bytes() == good
    assert any(f"md5 {_md5(other)}, expected {_md5(good)}" in line and "moved aside" in line for line in log)
    assert (root / "VOC2012/JPEGImages").is_dir()


def test_a_file_put_in_the_downloads_folder_by_hand_is_verified_before_any_source(tmp_path: Path) -> None:
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    root = tmp_path / "fcn_data"
    (root / "downloads").mkdir(parents=True)
    (root / "downloads/VOCtrainval_11-May-2012.tar").write_bytes(tar)
    part = _part("voc2012", f"http://127.0.0.1:{_closed_port()}/x.tar", checksums=_own(tar))
    download.download("voc2012", root, parts=[part], log=lambda _: None)
    assert (root / "VOC2012/JPEGImages").is_dir()


def test_the_real_parts_carry_their_publishers_checksums_and_mirrors() -> None:
    """The checksums the issue and FACTS name, each credited to its publisher; VOC2012's mirrors after Oxford."""
    voc2012 = {c.algorithm: c for c in PARTS["voc2012"].checksums}
    assert voc2012["md5"].hex == "6cd6e144f989b92b3379bac3b3de84fd" and "torchvision" in voc2012["md5"].by
    assert voc2012["sha1"].hex == "4e443f8a2eca6b1dac8a6c57641b67dd40621a49" and "d2l" in voc2012["sha1"].by
    assert [s.location.split("/")[2] for s in PARTS["voc2012"].sources] == [
        "host.robots.ox.ac.uk", "thor.robots.ox.ac.uk", "d2l-data.s3-accelerate.amazonaws.com",
        "dataset.bj.bcebos.com"]
    assert PARTS["voc2012"].size == 1_999_639_040
    assert {c.hex for c in PARTS["voc2011"].checksums} >= {"6c3384ef61512963050cb5d687e5bf1e"}
    assert {c.hex for c in PARTS["voc2010"].checksums} >= {"da459979d0c395079b5c75ee67908abb"}
    assert PARTS["sbd"].checksums[0].hex == "82b4d87ceb2ed10f6038a1cba92111cb"
    assert PARTS["seg11valid"].checksums[0].hex == "7984b6ce736bd3666d8b7ee70b5401da"
    for key in ("nyud", "siftflow"):  # nothing known: said, not invented
        assert PARTS[key].checksums == () and "no mirror" in PARTS[key].note
    # PASCAL-Context: Mottaghi's current page and UCLA's after the dead Stanford address, never the Detail API's
    # json; no checksum anywhere.
    assert [s.location.split("/")[2] for s in PARTS["pascalcontext"].sources] == [
        "cs.stanford.edu", "roozbehm.info", "www.stat.ucla.edu"]
    assert all(s.location.endswith("/trainval.tar.gz") for s in PARTS["pascalcontext"].sources)
    assert PARTS["pascalcontext"].checksums == () and "no checksum" in PARTS["pascalcontext"].note
    # NYU's originals: NYU's published MD5 and size; the GitHub copies' MD5 for Gupta's mapping, said to be so.
    assert PARTS["nyud-labeled"].checksums[0].hex == "520609c519fba3ba5ac58c8fefcc3530"
    assert PARTS["nyud-labeled"].size == 2_972_037_809
    assert PARTS["nyud-splits"].checksums[0].hex == "08e3c3aea27130ac7c01ffd739a4535f"
    assert PARTS["nyud-classes40"].checksums[0].hex == "e377c88729dd63af81205ac9a8634a19"
    assert "039078648942" in PARTS["nyud-classes40"].checksums[0].by
    assert {s.location.split("/")[3] for s in PARTS["nyud-classes40"].sources if "github" in s.location} == {
        "ankurhanda", "VainF"}


def test_the_sha256_of_a_file_with_no_published_checksum_is_kept_and_make_data_list_prints_it(tmp_path: Path) -> None:
    """SIFT Flow and PASCAL-Context publish no checksum: what was fetched is recorded under the data root
    (fetched.json), so that two users can compare their copies."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for folder in ("Images", "SemanticLabels", "GeoLabels"):
            z.writestr(f"SiftFlowDataset/{folder}/x.txt", "x")
    blob = buffer.getvalue()
    root = tmp_path / "fcn_data"
    with LocalServer({"/SiftFlowDataset.zip": blob}) as server:
        part = dataclasses.replace(PARTS["siftflow"], sources=(Source(server.url("/SiftFlowDataset.zip"), "UNC"),))
        download.download("siftflow", root, parts=[part], log=lambda _: None)
    entry = json.loads((root / "fetched.json").read_text())["siftflow"]
    digest = hashlib.sha256(blob).hexdigest()
    assert entry["sha256"] == digest and entry["published_checksum"] is False and entry["bytes"] == len(blob)
    assert entry["location"] == server.url("/SiftFlowDataset.zip")
    listed = download.listing(root)
    assert f"fetched here {entry['date']}: sha256 {digest} ({len(blob)} bytes) from {entry['location']}" in listed


def test_list_prints_every_part_with_its_sources_checksums_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert download.main(["--list"]) == 0
    out = capsys.readouterr().out
    for part in PARTS.values():
        assert f"{part.key}: {part.filename}" in out
        assert all(s.location in out for s in part.sources)
        assert all(f"{c.algorithm} {c.hex}  published by {c.by}" in out for c in part.checksums)
    assert "1,999,639,040 bytes" in out and "no published checksum" in out


# -- your own sources -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_url", [False, True])
def test_your_own_archive_by_path_is_read_in_place_and_left_untouched(tmp_path: Path, as_url: bool) -> None:
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    mine = tmp_path / "Downloads" / "VOCtrainval_11-May-2012.tar"
    mine.parent.mkdir()
    mine.write_bytes(tar)
    before = _snapshot(mine)
    root = tmp_path / "fcn_data"
    text = f"voc2012={mine.as_uri() if as_url else mine}#md5={_md5(tar)}"
    log: list[str] = []
    sources = download.group_sources([text])
    part = _part("voc2012", f"http://127.0.0.1:{_closed_port()}/never.tar")
    download.download("voc2012", root, parts=[part], sources=sources, log=log.append)
    assert _snapshot(mine) == before and (root / "VOC2012/JPEGImages").is_dir()
    assert not (root / "downloads").exists()  # nothing copied or downloaded
    assert any("from " + str(mine if not as_url else mine.as_uri()) in line for line in log)


def test_your_own_archive_is_checked_against_the_published_checksum_and_kept_when_it_fails(tmp_path: Path) -> None:
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    mine = tmp_path / "VOCtrainval_11-May-2012.tar"
    mine.write_bytes(tar)
    before = _snapshot(mine)
    root = tmp_path / "fcn_data"
    part = _part("voc2012", f"http://127.0.0.1:{_closed_port()}/x.tar")  # the real published checksums
    with pytest.raises(DownloadError) as caught:
        download.download("voc2012", root, parts=[part], sources=download.group_sources([f"voc2012={mine}"]),
                          log=lambda _: None)
    message = str(caught.value)
    assert f"md5 {_md5(tar)}, expected 6cd6e144f989b92b3379bac3b3de84fd" in message
    assert "left as it is (yours)" in message
    assert _snapshot(mine) == before and not (root / "VOC2012").exists()


def test_your_own_url_with_its_own_md5_is_not_held_to_the_published_size(tmp_path: Path) -> None:
    """VOC2012's published size is 1,999,639,040 bytes; a lab mirror's file with its own MD5 is another file, of
    its own size: fetched, verified by that MD5 and unpacked. Without '#md5' the published size still holds."""
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    root = tmp_path / "fcn_data"
    with LocalServer({"/lab/VOCtrainval_11-May-2012.tar": tar}) as server:
        part = dataclasses.replace(PARTS["voc2012"], sources=())
        assert part.size == 1_999_639_040
        url = server.url("/lab/VOCtrainval_11-May-2012.tar")
        with pytest.raises(DownloadError, match=f"is {len(tar)} bytes but 1999639040 were expected"):
            download.download("voc2012", root, parts=[part], sources=download.group_sources([f"voc2012={url}"]),
                              log=lambda _: None)
        download.download("voc2012", root, parts=[part],
                          sources=download.group_sources([f"voc2012={url}#md5={_md5(tar)}"]), log=lambda _: None)
    assert (root / "VOC2012/JPEGImages").is_dir()


@pytest.mark.parametrize("key", [k for k, p in PARTS.items() if p.size])
def test_every_part_with_a_published_size_fetches_your_own_url_with_your_own_md5(tmp_path: Path, key: str) -> None:
    blob = b"a file of some other size"
    with LocalServer({"/mirror/file": blob}) as server:
        source = download.parse_source(f"{key}={server.url('/mirror/file')}#md5={_md5(blob)}")[1]
        path, downloaded = download._obtain(PARTS[key], source, tmp_path, False, lambda _: None)
    assert downloaded and path.read_bytes() == blob


def test_a_folder_you_already_have_unpacked_is_linked_not_copied(tmp_path: Path) -> None:
    mine = miniature.build_voc(tmp_path / "datasets" / "VOCdevkit" / "VOC2012", size=SIZE)
    root = tmp_path / "fcn_data"
    part = _part("voc2012", f"http://127.0.0.1:{_closed_port()}/x.tar")
    download.download("voc2012", root, parts=[part],
                      sources=download.group_sources([f"voc2012={tmp_path / 'datasets'}"]), log=lambda _: None)
    assert (root / "VOC2012").is_symlink() and (root / "VOC2012").resolve() == mine.resolve()
    assert data.load("voc", "val", root / "VOC2012", expect_split=None)[0]["data"].shape == (3, *SIZE)


@pytest.mark.parametrize("text,says", [
    ("voc2012", "expected PART=URL_OR_PATH"),
    ("=x.tar", "no part named ''"),
    ("voc2013=x.tar", "no part named 'voc2013'"),
    ("voc2012=x.tar#md5=123", "md5= takes 32 hex digits, got '123'"),
    ("voc2012=x.tar#sha512=" + "0" * 128, "unknown checksum 'sha512'"),
    ("voc2012=ftp://host/x.tar", "ftp:// is not supported"),
])
def test_a_malformed_source_is_one_error_saying_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(DownloadError, match=says.replace("(", r"\(")):
        download.parse_source(text)


def test_a_source_for_a_part_the_target_does_not_fetch_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert download.main(["sbd", "--source", "voc2011=x.tar"]) == 1
    assert "voc2011, which sbd does not fetch" in capsys.readouterr().err


# -- bad input ------------------------------------------------------------------------------------------------

def test_offline_the_message_lists_every_source_tried_why_and_where_to_put_a_file(tmp_path: Path) -> None:
    port = _closed_port()
    part = _part("voc2012", f"http://127.0.0.1:{port}/a.tar", f"http://127.0.0.1:{port}/b.tar")
    with pytest.raises(DownloadError) as caught:
        download.download("voc2012", tmp_path, parts=[part], log=lambda _: None)
    message = str(caught.value)
    assert f"cannot reach http://127.0.0.1:{port}/a.tar" in message
    assert f"cannot reach http://127.0.0.1:{port}/b.tar" in message
    assert str(tmp_path / "downloads" / "VOCtrainval_11-May-2012.tar") in message
    assert "md5 6cd6e144f989b92b3379bac3b3de84fd" in message and 'SOURCE="voc2012=PATH"' in message


def test_a_truncated_download_is_never_unpacked_and_resumes(tmp_path: Path) -> None:
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    root = tmp_path / "fcn_data"
    with LocalServer({"/VOCtrainval_11-May-2012.tar": tar}) as server:
        part = _part("voc2012", server.url("/VOCtrainval_11-May-2012.tar"), checksums=_own(tar))
        server.behaviour.cut_after = len(tar) // 2
        with pytest.raises(DownloadError, match="resume"):
            download.download("voc2012", root, parts=[part], log=lambda _: None)
        assert not (root / "VOC2012").exists()
        assert (root / "downloads/VOCtrainval_11-May-2012.tar.part").stat().st_size == len(tar) // 2
        download.download("voc2012", root, parts=[part], log=lambda _: None)
    assert server.behaviour.ranges[-1] == f"bytes={len(tar) // 2}-" and (root / "VOC2012/JPEGImages").is_dir()


def test_another_releases_archive_is_refused_even_when_its_own_checksum_holds(tmp_path: Path) -> None:
    """A VOC2007 tar passed as VOC2012 with its own #md5: verified, then refused for its folder's name; the
    user's file stays, nothing is left half-unpacked."""
    other = _voc_tar(tmp_path, "2007", miniature.voc_ids(2))
    mine = tmp_path / "VOCtrainval_06-Nov-2007.tar"
    mine.write_bytes(other)
    root = tmp_path / "fcn_data"
    part = _part("voc2012", f"http://127.0.0.1:{_closed_port()}/x.tar")
    with pytest.raises(DownloadError) as caught:
        download.download("voc2012", root, parts=[part], log=lambda _: None,
                          sources=download.group_sources([f"voc2012={mine}#md5={_md5(other)}"]))
    message = str(caught.value)
    assert "VOCdevkit/VOC2007" in message and "another release's archive" in message
    assert "expected a folder VOC2012" in message
    assert mine.read_bytes() == other and not (root / "VOC2012").exists()
    assert not any(p.name.endswith(".fcn-tmp") for p in root.iterdir())


def test_a_list_whose_md5_is_not_the_references_is_refused(tmp_path: Path) -> None:
    (tmp_path / "VOC2012").mkdir()
    mine = tmp_path / "seg11valid.txt"
    mine.write_text("2007_000033\n")
    with pytest.raises(DownloadError) as caught:  # even with the user's own matching #md5
        download.download("voc", tmp_path, parts=[_part("seg11valid", f"http://127.0.0.1:{_closed_port()}/l")],
                          sources=download.group_sources([f"seg11valid={mine}#md5={_md5(mine.read_bytes())}"]),
                          log=lambda _: None)
    assert "expected 7984b6ce736bd3666d8b7ee70b5401da" in str(caught.value)
    assert not (tmp_path / "VOC2012/seg11valid.txt").exists() and mine.read_text() == "2007_000033\n"


def test_a_full_disk_is_one_error_naming_both_numbers_and_the_folder(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tar = _voc_tar(tmp_path, "2012", miniature.voc_ids(2))
    root = tmp_path / "fcn_data"
    monkeypatch.setattr(files, "free_bytes", lambda folder: 1000)
    with LocalServer({"/VOCtrainval_11-May-2012.tar": tar}) as server:
        part = _part("voc2012", server.url("/VOCtrainval_11-May-2012.tar"), checksums=_own(tar))
        with pytest.raises(DownloadError) as caught:
            download.download("voc2012", root, parts=[part], log=lambda _: None)
    message = str(caught.value)
    assert f"needs {len(tar):,} bytes" in message and "1,000 are free" in message
    assert str(root / "downloads") in message and not (root / "downloads/VOCtrainval_11-May-2012.tar").exists()
    # The archive in hand, too little room to unpack it: the sum of its members is named, nothing unpacked.
    mine = tmp_path / "mine.tar"
    mine.write_bytes(tar)
    with pytest.raises(DownloadError, match=r"unpacking mine\.tar in .*fcn_data: it needs") as caught:
        download.download("voc2012", root, parts=[part], log=lambda _: None,
                          sources=download.group_sources([f"voc2012={mine}#md5={_md5(tar)}"]))
    assert not (root / "VOC2012").exists() and mine.read_bytes() == tar


def test_a_dataset_folder_already_in_place_is_kept_and_not_fetched(tmp_path: Path) -> None:
    miniature.build_voc(tmp_path / "VOC2012", size=SIZE)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    log: list[str] = []
    download.download("voc2012", tmp_path, parts=[_part("voc2012", f"http://127.0.0.1:{_closed_port()}/x")],
                      log=log.append)
    assert log == [f"voc2012: already in {tmp_path / 'VOC2012'}"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# -- seg11valid from VOC2012 ----------------------------------------------------------------------------------

@pytest.fixture
def reference_736(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], bytes]:
    """736 ids standing for the reference's list (sorted, newline-terminated as published), with the reference's
    (count, MD5) pointed at them."""
    ids = sorted(miniature.voc_ids(736))
    text = "".join(f"{i}\n" for i in ids).encode()
    md5 = _md5(text)
    monkeypatch.setitem(splits.REFERENCE_SPLITS, ("voc", "seg11valid"), splits.ReferenceSplit(736, md5, md5, True))
    return ids, text


def test_make_data_voc_places_voc2012_sbd_and_the_list_and_seg11valid_reads_all_736_from_voc2012(
        tmp_path: Path, reference_736, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, text = reference_736
    voc = _voc_tar(tmp_path, "2012", ids + miniature.voc_ids(2, 5000))  # VOC2012 val holds more than seg11valid
    sbd = _sbd_tgz(tmp_path, miniature.voc_ids(2, 7000))
    root = tmp_path / "fcn_data"
    with LocalServer({"/voc.tar": voc, "/benchmark.tgz": sbd, "/seg11valid.txt": text}) as server:
        parts = [_part("voc2012", server.url("/voc.tar"), checksums=_own(voc)),
                 _part("sbd", server.url("/benchmark.tgz"), checksums=_own(sbd)),
                 _part("seg11valid", server.url("/missing.txt"), server.url("/seg11valid.txt"),
                       checksums=_own(text))]
        placed = download.download("voc", root, parts=parts, log=lambda _: None)
    assert placed == [root / "VOC2012", root / "sbd", root / "VOC2012/seg11valid.txt"]
    monkeypatch.setenv("FCN_DATA", str(root))
    reader = data.load("voc", "seg11valid")
    assert reader.root == root / "VOC2012" and list(reader.ids) == ids and len(reader) == 736
    info = reader.split_info
    assert info.images_from == "VOC2012" and info.list_md5 == _md5(text) and info.matches_reference
    assert reader[735]["label"].shape == SIZE
    from reproduce import datasets

    record = datasets.split_record(reader)  # what evaluation and table records carry
    assert record["images_from"] == "VOC2012" and record["list_md5"] == _md5(text)


def test_with_both_years_present_seg11valid_reads_voc2011(tmp_path: Path, reference_736,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ids, text = reference_736
    sbd_train = miniature.voc_ids(3, 7000)
    miniature.build_voc(tmp_path / "VOC2011", splits={"val": ids + sbd_train[:1], "train": ids[:1]}, size=SIZE)
    miniature.build_voc(tmp_path / "VOC2012", splits={"val": ids, "train": ids[:1]}, size=SIZE)
    (tmp_path / "VOC2012/seg11valid.txt").write_bytes(text)
    miniature.build_sbd(tmp_path / "sbd", splits={"train": sbd_train, "val": []}, size=SIZE)
    monkeypatch.setenv("FCN_DATA", str(tmp_path))
    reader = data.load("voc", "seg11valid")
    assert reader.root == tmp_path / "VOC2011" and reader.split_info.derived and list(reader.ids) == ids
    assert reader.split_info.images_from == "VOC2011"


def test_seg11valid_over_voc2012_with_an_id_missing_names_it(tmp_path: Path, reference_736) -> None:
    ids, text = reference_736
    voc = miniature.build_voc(tmp_path / "VOC2012", splits={"val": ids}, size=SIZE)
    (voc / "seg11valid.txt").write_bytes(text)
    os.remove(voc / "JPEGImages" / f"{ids[10]}.jpg")
    with pytest.raises(MissingDataError) as caught:
        data.load("voc", "seg11valid", voc)
    assert f"{ids[10]}.jpg" in str(caught.value) and "1 file(s) of seg11valid's 736 ids" in str(caught.value)


def test_seg11valid_over_voc2012_must_be_the_references_list(tmp_path: Path, reference_736) -> None:
    ids, _ = reference_736
    voc = miniature.build_voc(tmp_path / "VOC2012", splits={"val": ids}, size=(4, 4))
    (voc / "seg11valid.txt").write_text("\n".join(ids[:-1]) + "\n")
    with pytest.raises(SplitMismatchError, match="not the reference's list: expected 736 ids, found 735"):
        data.load("voc", "seg11valid", voc)
    assert len(data.load("voc", "seg11valid", voc, expect_split=None)) == 735  # asked for: used as given


def test_seg11valid_over_voc2012_without_the_list_names_it_and_the_command(tmp_path: Path) -> None:
    voc = miniature.build_voc(tmp_path / "VOC2012", size=(4, 4))
    with pytest.raises(MissingDataError, match=r"seg11valid list for VOC2012 not found: .*VOC2012/seg11valid\.txt"
                                               r".*make data DATASET=voc`"):
        data.load("voc", "seg11valid", voc)


def test_pascalcontext_takes_voc2012s_images_when_they_hold_every_id(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tree = miniature.build_all(tmp_path / "src")
    context = tree / "pascalcontext"
    ids = data.load("pascalcontext", "val", context, voc_root=tree / "VOC2010", expect_split=None).ids
    root = tmp_path / "fcn_data"
    root.mkdir()
    os.symlink(context, root / "pascalcontext")
    # VOC2012's JPEGImages hold VOC2010's pictures (the same files), and its own ImageSets/Main lists.
    shutil.copytree(tree / "VOC2010" / "JPEGImages", root / "VOC2012" / "JPEGImages")
    (root / "VOC2012/ImageSets/Main").mkdir(parents=True)
    (root / "VOC2012/ImageSets/Main/val.txt").write_text(f"{ids[0]}\n")
    monkeypatch.setenv("FCN_DATA", str(root))
    with pytest.raises(MissingDataError, match=r"VOC2010's ImageSets/Main/val\.txt, copied to"):
        data.load("pascalcontext", "val", expect_split=None)  # VOC2012's Main lists are other splits
    (context / "val.txt").write_text("\n".join(ids) + "\n")
    try:
        reader = data.load("pascalcontext", "val", expect_split=None)
        assert reader.voc_root == root / "VOC2012" and reader.split_info.images_from == "VOC2012"
        assert reader[0]["data"].shape[0] == 3
        os.remove(root / "VOC2012" / "JPEGImages" / f"{ids[0]}.jpg")
        with pytest.raises(MissingDataError, match=f"1 of the split's {len(ids)} images in VOC2012 .*{ids[0]}"):
            data.load("pascalcontext", "val", expect_split=None)
    finally:
        (context / "val.txt").unlink()


def test_the_data_docs_show_exactly_the_checksums_the_kit_checks() -> None:
    """docs/data.md's table is typed by hand: every hex digest in it is one the kit checks, and every published
    archive checksum (and every original's, NYU's .mat included) is in it."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text()
    shown = set(re.findall(r"\b[0-9a-f]{32,64}\b", text))
    archives = {c.hex for p in PARTS.values() if isinstance(p, (download.Archive, download.Original))
                for c in p.checksums}
    checked = {c.hex for p in PARTS.values() for c in p.checksums}
    assert archives <= shown and shown <= checked, (archives - shown, shown - checked)
