"""The kit's one downloader (data.fetch) and the dataset targets against a local HTTP server on 127.0.0.1
(http_server.py): whole and resumed transfers, size checks, atomic unpacking, list MD5s, and the offline
message. No test reaches the internet."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest
from http_server import LocalServer

import data
from data import download, fetch, miniature
from data.download import PARTS, Archive, Checksum, ListFile, Source
from data.errors import DownloadError

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several read chunks' worth of distinct bytes


def _archive(key: str, url: str, markers: tuple[str, ...], folder: str | None = None) -> Archive:
    """A part with one source and no checksum, named as the kit's own (its file name, folder and inner name)."""
    real = PARTS[key]
    return Archive(key, real.filename, folder or real.folder, real.inner, markers, (Source(url, "test server"),))


def _list(url: str, dest: str, md5: str | None = None) -> ListFile:
    return ListFile(dest.replace("/", "-"), dest.replace("/", "-"), dest, (Source(url, "test server"),),
                    (Checksum("md5", md5, "test"),) if md5 else ())


def test_fetch_downloads_the_whole_file(tmp_path: Path) -> None:
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        path = fetch.download(server.url("/f.bin"), tmp_path / "f.bin", size=len(PAYLOAD))
    assert path.read_bytes() == PAYLOAD and server.behaviour.ranges == [None]
    assert not (tmp_path / "f.bin.part").exists()


def test_fetch_resumes_a_partial_file_with_a_range_request(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin")
    assert server.behaviour.ranges == ["bytes=1000-"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_fetch_starts_over_when_the_server_ignores_range(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"x" * 1000)  # would corrupt the file if appended to
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        server.behaviour.honour_range = False
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_interrupted_transfer_keeps_the_part_file_and_the_rerun_resumes(tmp_path: Path) -> None:
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        server.behaviour.cut_after = 70_000
        with pytest.raises(DownloadError, match=r"70000 .*run the same command again to resume"):
            fetch.download(server.url("/f.bin"), tmp_path / "f.bin")
        assert (tmp_path / "f.bin.part").stat().st_size == 70_000 and not (tmp_path / "f.bin").exists()
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin")
    assert server.behaviour.ranges == [None, "bytes=70000-"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_a_transfer(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin")  # the server answers 416
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_a_partial_file_that_is_no_prefix_of_the_servers_file_is_ours_to_restart(tmp_path: Path) -> None:
    """A 416 naming another total means our .part is not this file's start: it is removed and the download
    starts afresh, once (the weights and dataset downloads share this one rule)."""
    (tmp_path / "f.bin.part").write_bytes(b"y" * (len(PAYLOAD) + 10))
    with LocalServer({"/f.bin": PAYLOAD}) as server:
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin")
    assert server.behaviour.ranges == [f"bytes={len(PAYLOAD) + 10}-", None]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_size_differing_from_the_known_size_is_an_error(tmp_path: Path) -> None:
    with LocalServer({"/f.bin": PAYLOAD}) as server, pytest.raises(DownloadError, match="bytes but 5 were"):
        fetch.download(server.url("/f.bin"), tmp_path / "f.bin", size=5)
    assert not (tmp_path / "f.bin").exists()


def _siftflow_archive(tmp_path: Path, kind: str) -> bytes:
    """A miniature SIFT Flow tree packed as the real archive is: one top folder, SiftFlowDataset/."""
    tree = miniature.build_siftflow(tmp_path / "src" / "SiftFlowDataset", size=(16, 16))
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as z:
            for p in sorted(tree.rglob("*")):
                z.write(p, p.relative_to(tree.parent).as_posix())
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as t:
            t.add(tree, arcname="SiftFlowDataset")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_download_unpacks_atomically_into_the_dataset_folder(tmp_path: Path, kind: str) -> None:
    archive = _siftflow_archive(tmp_path, kind)
    root = tmp_path / "fcn_data"
    with LocalServer({f"/SiftFlowDataset.{kind}": archive}) as server:
        part = _archive("siftflow", server.url(f"/SiftFlowDataset.{kind}"), ("Images", "SemanticLabels", "GeoLabels"))
        messages: list[str] = []
        placed = download.download("siftflow", root, parts=[part], log=messages.append)
        assert placed == [root / "siftflow"] and str(root / "siftflow") in messages[-1]
        # No staging folder left; the record of what was fetched beside the folders.
        assert sorted(p.name for p in root.iterdir()) == ["downloads", "fetched.json", "siftflow"]
        reader = data.load("siftflow", "test", root / "siftflow", expect_split=None)
        assert len(reader) == 2 and reader[0]["data"].shape == (3, 16, 16)
        again: list[str] = []
        download.download("siftflow", root, parts=[part], log=again.append)
    assert "already in" in again[0] and len(server.behaviour.ranges) == 1


def test_damaged_archive_leaves_no_dataset_folder(tmp_path: Path) -> None:
    archive = _siftflow_archive(tmp_path, "tar.gz")
    root = tmp_path / "fcn_data"
    with LocalServer({"/s.tar.gz": archive[: len(archive) // 2]}) as server:
        part = _archive("siftflow", server.url("/s.tar.gz"), ("Images",))
        with pytest.raises(DownloadError, match="damaged"):
            download.download("siftflow", root, parts=[part], log=lambda _: None)
    assert sorted(p.name for p in root.iterdir()) == ["downloads"]
    # The damaged download is set aside where no later run takes it for good.
    assert [p.name for p in (root / "downloads").iterdir()] == ["SiftFlowDataset.zip.rejected"]


def test_archive_without_the_expected_folder_is_refused(tmp_path: Path) -> None:
    archive = _siftflow_archive(tmp_path, "zip")
    root = tmp_path / "fcn_data"
    with LocalServer({"/s.zip": archive}) as server:
        part = _archive("nyud", server.url("/s.zip"), ("data/images", "segmentation"))
        with pytest.raises(DownloadError, match=r"no folder holding \['data/images', 'segmentation'\]"):
            download.download("nyud", root, parts=[part], log=lambda _: None)
    assert not (root / "nyud").exists()


def test_list_files_are_checked_against_their_published_md5(tmp_path: Path) -> None:
    good = b"5001\n5002"
    root = tmp_path / "fcn_data"
    (root / "nyud").mkdir(parents=True)
    with LocalServer({"/train.txt": good, "/val.txt": b"tampered"}) as server:
        ok = _list(server.url("/train.txt"), "nyud/train.txt", hashlib.md5(good).hexdigest())
        bad = _list(server.url("/val.txt"), "nyud/val.txt", hashlib.md5(b"5003\n").hexdigest())
        download.download("nyud", root, parts=[ok], log=lambda _: None)
        with pytest.raises(DownloadError, match="md5 .*, expected .*"):
            download.download("nyud", root, parts=[bad], log=lambda _: None)
    assert (root / "nyud/train.txt").read_bytes() == good
    assert not (root / "nyud/val.txt").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_error_names_every_url_and_the_manual_steps(tmp_path: Path) -> None:
    port = _closed_port()
    parts = [_archive("nyud", f"http://127.0.0.1:{port}/nyud.tar.gz", ("data",)),
             _list(f"http://127.0.0.1:{port}/train.txt", "nyud/train.txt")]
    with pytest.raises(DownloadError) as caught:
        download.download("nyud", tmp_path, parts=parts, log=lambda _: None)
    message = str(caught.value)
    assert f"cannot reach http://127.0.0.1:{port}/nyud.tar.gz" in message
    assert f"http://127.0.0.1:{port}/train.txt" in message
    assert str(tmp_path / "downloads" / "nyud.tar.gz") in message
    assert 'make data DATASET=nyud SOURCE="nyud=PATH"' in message


def test_archive_copied_in_by_hand_is_unpacked_without_network(tmp_path: Path) -> None:
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "SiftFlowDataset.zip").write_bytes(_siftflow_archive(tmp_path, "zip"))
    part = _archive("siftflow", f"http://127.0.0.1:{_closed_port()}/SiftFlowDataset.zip", ("Images",))
    download.download("siftflow", tmp_path, parts=[part], log=lambda _: None)
    assert (tmp_path / "siftflow" / "TestSet1.txt").is_file()


def test_targets_cover_every_reader_and_the_published_urls() -> None:
    assert set(data.NAMES) <= set(download.TARGETS)
    assert download.TARGETS["voc"] == ("voc2012", "sbd", "seg11valid")
    urls = {s.location for p in download.PARTS.values() for s in p.sources}
    for expected in ("host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar",
                     "host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                     "host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
                     "www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
                     "dl.caffe.berkeleyvision.org/nyud.tar.gz",
                     "www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip",
                     "cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz"):
        assert any(url.endswith(expected) for url in urls), expected
    lists = {p.dest: p.checksums[0].hex for p in download.PARTS.values() if isinstance(p, ListFile) and p.checksums}
    checked = 0
    for (name, split), ref in data.REFERENCE_SPLITS.items():
        dest = f"{name}/{split}.txt" if name != "voc" else f"VOC2012/{split}.txt"
        if dest in lists:
            assert lists[dest] == ref.file_md5, dest
            checked += 1
    assert checked == 6  # seg11valid, NYUD's three lists, SIFT Flow's two


def test_cli_without_a_name_prints_the_layout_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert download.main([]) == 2
    out, err = capsys.readouterr()
    assert "VOC2012/" in out and "FCN_DATA" in out and "make data DATASET=" in err
    assert download.main(["--list"]) == 0
