"""Hostile archives (issue 29): the kit validates every tar and zip member itself before writing anything
(data.download's unpack), never trusting the interpreter's tarfile filter. A link, a device, a FIFO, an absolute
path or a '..' is refused as unsafe, naming the member; the CVE-2025-4517 symlink chain, which this interpreter's
filter="data" lets through, writes nothing outside; the published layouts (regular files and folders only) unpack;
a disk that fills up mid-unpack leaves nothing that reads as complete."""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from mounts import tmpfs, why_fake

from data import download, miniature
from data.download import UnsafeArchive
from data.errors import DiskFull, DownloadError

MARKERS = ("Images",)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as t:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            t.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def hostile_tar(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    """A SIFT Flow-like tar whose one bad member comes after good ones (so a writer that checks as it goes would
    already have written something)."""
    members = [(_info("SiftFlowDataset", tarfile.DIRTYPE), None), (_info("SiftFlowDataset/Images", tarfile.DIRTYPE),
                                                                     None),
               (_info("SiftFlowDataset/Images/a.jpg"), b"picture"),
               (_info(name, kind, link), b"payload" if kind == tarfile.REGTYPE else None)]
    return _tar(tmp_path / "hostile.tar", members)


TAR_CASES = {
    "symlink out": ("SiftFlowDataset/Images/out", tarfile.SYMTYPE, "../../../outside", "a symbolic link"),
    "symlink inside": ("SiftFlowDataset/Images/b.jpg", tarfile.SYMTYPE, "a.jpg", "a symbolic link"),
    "hard link": ("SiftFlowDataset/Images/c.jpg", tarfile.LNKTYPE, "SiftFlowDataset/Images/a.jpg", "a hard link"),
    "character device": ("SiftFlowDataset/zero", tarfile.CHRTYPE, "", "a character device"),
    "block device": ("SiftFlowDataset/sda", tarfile.BLKTYPE, "", "a block device"),
    "FIFO": ("SiftFlowDataset/pipe", tarfile.FIFOTYPE, "", "a FIFO (named pipe)"),
    "absolute path": ("{tmp}/absolute-target", tarfile.REGTYPE, "", "an absolute path"),  # {tmp}: the test's folder
    "dot-dot": ("SiftFlowDataset/../../outside.txt", tarfile.REGTYPE, "", "a path with '..'"),
}


@pytest.mark.parametrize("case", list(TAR_CASES))
def test_a_tar_member_that_no_published_archive_holds_is_refused_as_unsafe_naming_it(tmp_path, case):
    name, kind, link, what = TAR_CASES[case]
    name = name.format(tmp=tmp_path)
    archive = hostile_tar(tmp_path, name, kind, link)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeArchive) as caught:
        download.unpack(archive, root / "siftflow", MARKERS, progress=False)
    message = str(caught.value)
    assert message.startswith(f"{archive} was refused as unsafe: its member {name!r} is {what}")
    assert "CVE-2025-4517" in message and "damaged" not in message and "fetch it again" not in message
    assert list(root.iterdir()) == []  # nothing written, not even the good members, no scratch folder left
    assert not (tmp_path / "absolute-target").exists() and not (tmp_path / "outside").exists()


def _zip(path: Path, members: list[tuple[str, int, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, mode, content in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, content)
    return path


ZIP_CASES = {
    "symlink": ("SiftFlowDataset/Images/out", stat.S_IFLNK | 0o777, b"../../../outside", "a symbolic link"),
    "FIFO": ("SiftFlowDataset/pipe", stat.S_IFIFO | 0o644, b"", "a FIFO (named pipe)"),
    "absolute path": ("{tmp}/absolute-target", stat.S_IFREG | 0o644, b"x", "an absolute path"),
    "dot-dot": ("SiftFlowDataset/../../outside.txt", stat.S_IFREG | 0o644, b"x", "a path with '..'"),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_a_zip_member_that_no_published_archive_holds_is_refused_as_unsafe_naming_it(tmp_path, case):
    name, mode, content, what = ZIP_CASES[case]
    name = name.format(tmp=tmp_path)
    archive = _zip(tmp_path / "hostile.zip", [("SiftFlowDataset/Images/a.jpg", stat.S_IFREG | 0o644, b"picture"),
                                              (name, mode, content)])
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeArchive, match="^" + re.escape(f"{archive} was refused as unsafe: its member {name!r} is "
                                                         f"{what}")):
        download.unpack(archive, root / "siftflow", MARKERS, progress=False)
    assert list(root.iterdir()) == [] and not (tmp_path / "outside").exists()
    assert not (tmp_path / "absolute-target").exists()


def cve_2025_4517_chain(path: Path, dest: Path, steps: int = 16) -> Path:
    """The published shape of CVE-2025-4517: folders with long names, each reached through a one-letter symlink,
    so that the resolved path of the last link passes PATH_MAX (where os.path.realpath stops resolving and the
    filter takes what is left as inside) while its short spelling does not; that link points back up by one
    '..' per step (to the destination), another link climbs one level more, out of the destination, and files
    are written through it. The folder names are as long as lets the deepest folder still be made under
    ``dest`` (the unpacking folder's length, counted with room to spare). Written here from that description."""
    length = (os.pathconf("/", "PC_PATH_MAX") - 40 - len(str(dest))) // steps - 1
    long_name = "d" * min(length, 250)
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    real, short = "", ""
    for letter in "abcdefghijklmnopqrstuvwxyz"[:steps]:
        members.append((_info(os.path.join(real, long_name), tarfile.DIRTYPE), None))
        members.append((_info(os.path.join(real, letter), tarfile.SYMTYPE, long_name), None))
        real, short = os.path.join(real, long_name), os.path.join(short, letter)
    top = os.path.join(short, "l" * 254)  # resolves to the destination itself, past PATH_MAX
    members.append((_info(top, tarfile.SYMTYPE, os.path.join(*[".."] * steps)), None))
    members.append((_info("escape", tarfile.SYMTYPE, top + "/.."), None))  # the destination's parent
    members.append((_info("escape/notes.txt"), b"overwritten by the archive\n"))
    members.append((_info("escape/created.txt"), b"created by the archive\n"))
    return _tar(path, members)


def test_the_cve_2025_4517_symlink_chain_is_refused_before_anything_is_written_outside(tmp_path):
    """The chain escapes tarfile's filter="data" on this interpreter (3.11.7; fixed in 3.11.13): the kit refuses
    its first link before writing anything, so the file beside the dataset folder is kept and none is added."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "notes.txt").write_text("the user's own file beside the dataset folder\n")
    before = snapshot(tmp_path)
    scratch = root / f".siftflow.{os.getpid()}.0123abcd.fcn-tmp"  # where unpack writes (data.files.scratch_dir)
    archive = cve_2025_4517_chain(tmp_path / "chain.tar", scratch)
    with pytest.raises(UnsafeArchive, match="^" + re.escape(f"{archive} was refused as unsafe: its member 'a' is a "
                                                         "symbolic link")):
        download.unpack(archive, root / "siftflow", MARKERS, progress=False)
    assert snapshot(tmp_path) == {**before, "chain.tar": archive.read_bytes()}
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def test_a_hostile_archive_on_the_command_line_is_one_message_and_the_users_file_is_kept(tmp_path, capsys):
    archive = hostile_tar(tmp_path, *TAR_CASES["symlink out"][:3])
    original = archive.read_bytes()
    root = tmp_path / "root"
    assert download.main(["siftflow", "--root", str(root), "--source", f"siftflow={archive}"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: could not get siftflow from any of its")
    assert f"{archive} was refused as unsafe: its member 'SiftFlowDataset/Images/out' is a symbolic link" in err
    assert "is damaged" not in err and archive.read_bytes() == original and not (root / "siftflow").exists()


def _tree_tar(tree: Path, arcname: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as t:
        t.add(tree, arcname=arcname)
    return buffer.getvalue()


def _tree_zip(tree: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for p in sorted(tree.rglob("*")):
            z.write(p, f"{arcname}/{p.relative_to(tree).as_posix()}")
    return buffer.getvalue()


def test_every_published_layout_is_regular_files_and_folders_and_unpacks(tmp_path):
    """Each part's archive as its publisher lays it out (data.download's PARTS: VOCdevkit/VOC2012 in VOC2012's
    tar, benchmark_RELEASE/dataset in SBD's tgz, SiftFlowDataset in the zip, trainval in Context's tgz, the
    reference's nyud tree): the member checks let every one through."""
    src = tmp_path / "src"
    voc = miniature.build_voc(src / "VOC2012", n=2, size=(6, 6))
    layouts = {
        "voc2012": _tree_tar(voc, "VOCdevkit/VOC2012", "w"),
        "sbd": _tree_tar(miniature.build_sbd(src / "dataset", n=2, size=(6, 6)), "benchmark_RELEASE/dataset",
                         "w:gz"),
        "siftflow": _tree_zip(miniature.build_siftflow(src / "SiftFlowDataset", size=(8, 8)), "SiftFlowDataset"),
        "pascalcontext": _tree_tar(_context_tree(src / "trainval"), "trainval", "w:gz"),
        "nyud": _tree_tar(miniature.build_nyud(src / "nyud", n=2, size=(6, 6)), "nyud", "w:gz"),
    }
    root = tmp_path / "root"
    for key, blob in layouts.items():
        part = download.PARTS[key]
        archive = tmp_path / part.filename
        archive.write_bytes(blob)
        placed = download.unpack(archive, root / part.folder, part.markers, part.inner, progress=False)
        assert all((placed / m).exists() for m in part.markers), key
        assert all(p.is_dir() or p.is_file() for p in placed.rglob("*")) and not any(
            p.is_symlink() for p in placed.rglob("*")), key


def _context_tree(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "2008_000002.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    return folder


def test_a_disk_that_fills_up_mid_unpack_is_one_error_and_leaves_no_dataset_folder(tmp_path, monkeypatch):
    """A real 1 MiB tmpfs as the data root where this machine lets root mount one, else a fake ENOSPC from the
    third file on; the free-space check before unpacking is told the disk is large (a file can grow past what
    the disk had when the check ran)."""
    tree = miniature.build_siftflow(tmp_path / "src" / "SiftFlowDataset", size=(8, 8))
    big = tree / "Images" / "big.bin"
    big.write_bytes(os.urandom(3 << 20))  # 3 MiB: more than the tmpfs holds
    archive = tmp_path / "s.tar"
    archive.write_bytes(_tree_tar(tree, "SiftFlowDataset", "w"))
    monkeypatch.setattr(download, "require_space", lambda *a: None)
    with tmpfs(tmp_path / "small", size="1m") as mounted:
        if mounted is None:
            print(why_fake())
            calls = []
            real = download._write_member

            def fills_up(path, source, mtime):
                calls.append(path)
                if len(calls) > 2:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                real(path, source, mtime)

            monkeypatch.setattr(download, "_write_member", fills_up)
        root = (mounted or tmp_path / "small") / "root"
        with pytest.raises(DiskFull, match=r"the disk holding .*root filled up while unpacking .*s\.tar"):
            download.unpack(archive, root / "siftflow", ("Images",), progress=False)
        assert list(root.iterdir()) == []  # the scratch folder is gone; no siftflow folder that reads as whole
    assert isinstance(DiskFull("x"), DownloadError)


@pytest.mark.parametrize("second, what", [
    ("SiftFlowDataset/Images/a.jpg", "a file given twice (the second would replace the first)"),
    ("SiftFlowDataset/Images/a.jpg/b.jpg", "a file that other members use as a folder")])
def test_a_tar_whose_members_overlap_is_refused_naming_the_member(tmp_path, second, what):
    archive = _tar(tmp_path / "overlap.tar", [(_info("SiftFlowDataset/Images/a.jpg"), b"picture"),
                                              (_info(second), b"another")])
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeArchive, match=re.escape(f"its member 'SiftFlowDataset/Images/a.jpg' is {what}")):
        download.unpack(archive, root / "siftflow", MARKERS, progress=False)
    assert list(root.iterdir()) == []


def test_nyus_labeled_mat_with_an_external_link_is_refused_before_the_build_reads_it(tmp_path):
    """NYU's nyu_depth_v2_labeled.mat comes from the internet too: an HDF5 object that reads another file is
    refused (data.hdf5, from data.nyud.check_labeled), naming it."""
    import h5py

    from data import nyud

    originals = miniature.build_nyu_originals(tmp_path / "originals", n=2, test=(2,), val=())
    mat = originals["nyud-labeled"]
    assert nyud.check_labeled(mat) == 2
    with h5py.File(mat, "a") as f:
        f["elsewhere"] = h5py.ExternalLink("/etc/passwd.h5", "/x")
    with pytest.raises(nyud.BuildError, match=re.escape(f"{mat} was refused: /elsewhere is an external link to "
                                                        "'/x' in the file '/etc/passwd.h5'")):
        nyud.check_labeled(mat)
