"""data.files, the one atomic writer: complete or absent, cleaned up on SIGTERM as on Ctrl-C, stale temporaries of
killed runs removed by the next write, and the permissions the user's umask gives a new file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data import files

REPO = Path(__file__).resolve().parent.parent

# A child that starts an atomic write of DST, says so, then waits to be killed mid-write.
WRITER = textwrap.dedent("""
    import sys, time
    from data.files import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half" * 1000)
        print(tmp, flush=True)
        time.sleep(60)
""")


def _start_writer(dst: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(dst)], cwd=REPO, stdout=subprocess.PIPE,
                             text=True)
    tmp = Path(child.stdout.readline().strip())
    assert tmp.is_file() and tmp.parent == dst.parent
    return child, tmp


def test_a_write_killed_by_sigterm_leaves_neither_the_file_nor_its_temporary(tmp_path):
    dst = tmp_path / "weights.h5"
    child, tmp = _start_writer(dst)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert not tmp.exists() and not dst.exists() and list(tmp_path.iterdir()) == []


def test_a_write_killed_by_sigint_cleans_up_as_well(tmp_path):
    dst = tmp_path / "record.json"
    child, tmp = _start_writer(dst)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_of_a_sigkilled_write_is_removed_by_the_next_write_and_the_old_file_is_kept(tmp_path):
    dst = tmp_path / "weights.h5"
    dst.write_bytes(b"the user's previous file")
    child, tmp = _start_writer(dst)
    child.kill()
    child.wait(timeout=30)
    assert tmp.exists() and dst.read_bytes() == b"the user's previous file"  # nothing half-written replaced it
    other = tmp_path / f".{dst.name}.999999999.abcd{files.TEMP_SUFFIX}"  # an impossible pid: not running
    foreign = tmp_path / f".{dst.name}.notes.tmp"  # not named as ours: never touched
    other.write_bytes(b"x")
    foreign.write_bytes(b"mine")
    files.write_bytes(dst, b"new")
    assert not tmp.exists() and not other.exists() and foreign.read_bytes() == b"mine"
    assert dst.read_bytes() == b"new"


def test_a_temporary_of_a_running_writer_is_left_alone(tmp_path):
    dst = tmp_path / "a.png"
    child, tmp = _start_writer(dst)
    try:
        assert files.remove_stale_temporaries(dst) == [] and tmp.exists()
    finally:
        child.kill()
        child.wait(timeout=30)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_permissions_the_umask_gives_a_new_file(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = files.write_text(tmp_path / "r.json", "{}")
        with files.atomic_path(tmp_path / "folder", directory=True) as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert (tmp_path / "folder").stat().st_mode & 0o777 == mode | (0o111 & ~mask)


def test_an_exception_inside_the_block_keeps_the_previous_file(tmp_path):
    dst = tmp_path / "x.txt"
    dst.write_text("before")
    with pytest.raises(RuntimeError), files.atomic_path(dst) as tmp:
        tmp.write_text("after")
        raise RuntimeError("boom")
    assert dst.read_text() == "before" and list(tmp_path.iterdir()) == [dst]


def test_the_writers_of_the_kit_go_through_the_one_atomic_writer(tmp_path, monkeypatch):
    """Weights (HDF5, caffemodel), label PNGs, records, prototxts and the audit report each reach their file by
    data.files' rename of its own temporary: a writer of its own would leave no such rename."""
    import numpy as np

    import weights
    from data import palette
    from nets import prototxt
    from reproduce import records
    from reproduce.audit import report
    from tiny_nets import training_net
    from weights.caffemodel import write_caffemodel

    renamed: dict[Path, Path] = {}
    real_replace = os.replace

    def replace(src, dst):
        renamed[Path(dst)] = Path(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    written = [weights.save(training_net(), tmp_path / "w.h5"),
               palette.save_label_png(tmp_path / "label.png", np.zeros((4, 5), np.uint8)),
               records.write_json(tmp_path / "record.json", {"table": 2}),
               *report.write_report(tmp_path / "audit", tmp_path, claims=[], names=["voc-fcn32s"])]
    write_caffemodel(tmp_path / "w.caffemodel", [("conv1", "Convolution", [np.zeros((4, 3, 3, 3), np.float32)])])
    prototxt.writer.main(["voc-fcn32s", "--out", str(tmp_path / "deploy.prototxt")])
    written += [tmp_path / "w.caffemodel", tmp_path / "deploy.prototxt"]
    for path in written:
        assert path.is_file() and path in renamed, path
        assert renamed[path].parent == path.parent and renamed[path].name.startswith(f".{path.name}.")
        assert renamed[path].name.endswith(files.TEMP_SUFFIX) and not renamed[path].exists()


def test_sigterm_outside_a_write_still_terminates_at_once(tmp_path):
    """The handler is installed only while a file is being written."""
    child = subprocess.Popen([sys.executable, "-c", "import time, data.files; print('ready', flush=True); "
                              "time.sleep(60)"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    start = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM and time.monotonic() - start < 30
