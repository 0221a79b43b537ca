"""A conversion, a download, an evaluation record and a training snapshot killed halfway through writing, with
SIGTERM and with SIGKILL, in a child process (tests/interrupted.py makes the kill land mid-write every time):
nothing half-written is left under a name a later run would trust, no file the user had is lost, and the next
run cleans up after the killed one and completes.

SIGTERM lets the kit clean up its temporaries at once; SIGKILL cannot be caught, so a temporary may stay
behind, hidden and under its own name, until the next write of the same file removes it. A download keeps
what arrived as NAME.part on purpose: the next run resumes it with a Range request."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from http_server import LocalServer
from interrupted import Child

import weights
from data.fetch import download
from reproduce.records import write_json
from weights.caffemodel import write_caffemodel
from weights.convert import convert
from weights.h5 import read_h5

SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGKILL, id="SIGKILL")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_killed(status: int, sig: int) -> None:
    """The child did not finish: killed by the signal, or (SIGTERM) exited non-zero after cleaning up."""
    assert status == -sig if sig == signal.SIGKILL else status != 0, status


def assert_left_only(folder: Path, expected: list[str], sig: int, dst: Path) -> None:
    """After SIGTERM exactly ``expected``; after SIGKILL at most hidden temporaries besides, none of them under
    the destination's own name."""
    extra = sorted(set(names(folder)) - set(expected))
    assert set(expected) <= set(names(folder)), names(folder)
    if sig == signal.SIGTERM:
        assert extra == [], f"SIGTERM left temporaries: {extra}"
    else:
        assert all(n.startswith(".") and dst.name in n for n in extra), extra


# ---- conversion --------------------------------------------------------------------------------------------


def caffemodel(path: Path, layers: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    write_caffemodel(path, [(f"conv{i}", "Convolution", [rng.standard_normal((64, 64, 3, 3), np.float32),
                                                           rng.standard_normal(64, np.float32)])
                            for i in range(layers)])
    return path


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_killed_conversion_leaves_the_source_and_the_previous_h5_as_they_were(tmp_path, sig):
    folder = tmp_path / "weights"
    folder.mkdir()
    src, dst = caffemodel(folder / "w.caffemodel", 6, seed=1), folder / "w.h5"
    convert(caffemodel(tmp_path / "old.caffemodel", 2, seed=2), dst, log=None, net="none")  # the user's .h5
    before = {src: digest(src), dst: digest(dst)}
    child = Child(f"""
from interrupted import stall
from weights.convert import convert
lines = []
def log(line):  # called before each layer is written: at the third, two layers are in the temporary file
    lines.append(line)
    if len(lines) == 3:
        stall()
convert({str(src)!r}, {str(dst)!r}, log=log, net="none", force=True)  # replacing the user's .h5, as asked
""")
    child.wait_for()
    assert_killed(child.kill(sig), sig)
    assert {p: digest(p) for p in before} == before
    assert_left_only(folder, ["w.caffemodel", "w.h5"], sig, dst)
    # The next conversion completes and leaves nothing of the killed one behind.
    convert(src, dst, log=None, net="none", force=True)
    assert names(folder) == ["w.caffemodel", "w.h5"]
    assert [layer.name for layer in read_h5(dst).layers] == [f"conv{i}" for i in range(6)]


# ---- download ----------------------------------------------------------------------------------------------

PAYLOAD = np.random.default_rng(3).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()


def wait_for_size(path: Path, size: int, child: Child, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= size:
            return path.stat().st_size
        if child.proc.poll() is not None:
            raise AssertionError(f"the download ended first:\n{''.join(child.output)}")
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {size} bytes:\n{''.join(child.output)}")


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_killed_download_keeps_only_a_part_file_that_the_next_run_resumes(tmp_path, sig):
    """data.fetch.download, the one downloader of the datasets and the weights."""
    dest = tmp_path / "downloads" / "big.bin"
    part = dest.with_name("big.bin.part")
    with LocalServer({"/big.bin": PAYLOAD}) as server:
        # 1.5 MiB, then the server holds the transfer: the downloader has written its first 1 MiB block and
        # waits for the next, mid-file, when the signal comes.
        server.behaviour.hold_after = 3 << 19
        child = Child(f"from data.fetch import download\n"
                      f"download({server.url('/big.bin')!r}, {str(dest)!r}, progress=False)")
        have = wait_for_size(part, 1 << 20, child)
        assert_killed(child.kill(sig), sig)
        server.behaviour.release.set()
        assert not dest.exists(), "a killed download must not appear under its final name"
        assert names(dest.parent) == ["big.bin.part"]
        assert part.read_bytes() == PAYLOAD[: part.stat().st_size] and part.stat().st_size >= have
        kept = part.stat().st_size
        download(server.url("/big.bin"), dest, progress=False)
        assert server.behaviour.ranges[-1] == f"bytes={kept}-"
    assert dest.read_bytes() == PAYLOAD and names(dest.parent) == ["big.bin"]


# ---- evaluation record -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_killed_record_write_leaves_the_previous_record_as_it_was(tmp_path, sig):
    folder = tmp_path / "results"
    dst = folder / "evaluate-voc-fcn8s.json"
    write_json(dst, {"net": "voc-fcn8s", "run": "earlier"})  # the user's record of an earlier evaluation
    before = dst.read_bytes()
    record = {"net": "voc-fcn8s", "run": "killed", "per_class_iu": {str(c): c / 21 for c in range(21)}}
    child = Child(f"""
from interrupted import stall_text_writes_in
stall_text_writes_in({str(folder)!r})
from reproduce.records import write_json
write_json({str(dst)!r}, {record!r})
""")
    child.wait_for()
    assert_killed(child.kill(sig), sig)
    assert dst.read_bytes() == before and json.loads(before)["run"] == "earlier"
    assert_left_only(folder, [dst.name], sig, dst)
    write_json(dst, {**record, "run": "next"})
    assert names(folder) == [dst.name] and json.loads(dst.read_text())["run"] == "next"


# ---- training snapshot -------------------------------------------------------------------------------------

# The tiny trainer of test_reproduce_train: its snapshot is NET_iter_N.h5 (4 datasets: conv1 and score, weight
# and bias) then NET_iter_N.solverstate.h5 (the RNG state, then 4 momentum histories).
TRAINER = "from test_reproduce_train import _trainer"
STALL_AT = {"in the weights file": 2, "in the solver state": 7}


@pytest.mark.parametrize("where", STALL_AT)
@pytest.mark.parametrize("sig", SIGNALS)
def test_a_killed_snapshot_leaves_no_state_a_resume_would_trust_and_keeps_the_earlier_one(tmp_path, sig, where):
    from test_reproduce_train import _trainer

    out = tmp_path / "train"
    first = _trainer()
    first.step()
    earlier = first.snapshot(out)  # tiny_iter_1: the user's snapshot, which a resume starts from
    before = {p: digest(p) for p in out.iterdir()}
    assert sorted(p.name for p in before) == ["tiny_iter_1.h5", "tiny_iter_1.solverstate.h5"]
    child = Child(f"""
{TRAINER}
from interrupted import stall_h5_after
trainer = _trainer()
trainer.restore({str(earlier)!r})
trainer.step()
stall_h5_after({STALL_AT[where]}, {str(out)!r})
trainer.snapshot({str(out)!r})
""")
    child.wait_for(timeout=120)
    assert_killed(child.kill(sig), sig)
    assert {p: digest(p) for p in before} == before
    assert not (out / "tiny_iter_2.solverstate.h5").exists(), "a resume would trust a half-written state"
    written = ["tiny_iter_2.h5"] if where == "in the solver state" else []
    assert_left_only(out, sorted(["tiny_iter_1.h5", "tiny_iter_1.solverstate.h5", *written]), sig,
                     out / "tiny_iter_2")
    if written:  # complete before the kill: it loads strictly
        weights.load(_trainer().net, out / "tiny_iter_2.h5")
    # Resuming from the earlier snapshot and snapshotting again completes and cleans up.
    again = _trainer()
    again.restore(earlier)
    again.step()
    state = again.snapshot(out)
    assert names(out) == ["tiny_iter_1.h5", "tiny_iter_1.solverstate.h5", "tiny_iter_2.h5",
                          "tiny_iter_2.solverstate.h5"]
    _trainer().restore(state)


# ---- permissions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)], ids=["umask 022", "umask 077"])
def test_atomic_writes_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    """A temporary file is created private (0600); the finished file must get what open() would have given
    it, so that a weights folder shared through a group keeps working."""
    import os

    from test_reproduce_train import _trainer

    old = os.umask(umask)
    try:
        h5 = convert(caffemodel(tmp_path / "w.caffemodel", 1, seed=4), tmp_path / "w.h5", log=None, net="none")
        record = write_json(tmp_path / "r.json", {"net": "voc-fcn8s"})
        trainer = _trainer()
        state = trainer.snapshot(tmp_path / "train")
        plain = tmp_path / "plain.txt"
        plain.write_text("what open() gives\n")
    finally:
        os.umask(old)
    assert plain.stat().st_mode & 0o777 == mode
    for path in (h5, record, state, tmp_path / "train" / "tiny_iter_0.h5"):
        assert path.stat().st_mode & 0o777 == mode, f"{path.name}: {oct(path.stat().st_mode & 0o777)}"
