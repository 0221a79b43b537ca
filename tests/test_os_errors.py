"""Every OS error of issue 29 is one message and a non-zero status, before any work where it can be known before:
a file where a folder is named, a read-only folder (a real read-only tmpfs where this machine lets root mount
one, since chmod does not stop root; else a fake raising the same errno, and the test says which), two runs
on one dataset part or one download, and Ctrl-C (one line, status 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from http_server import LocalServer
from mounts import read_only_folder

from data import cli, download, fetch, files
from data.errors import DownloadError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    yield from read_only_folder(tmp_path, monkeypatch)


def test_require_writable_names_a_file_in_the_way_and_a_read_only_folder(tmp_path, read_only):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    with pytest.raises(files.NotWritable, match=f"^-o {a_file} is a file, not a folder, so nothing can be written "
                                                f"below it \\({a_file / 'sub'}\\); name a folder"):
        files.require_writable(a_file / "sub", "-o")
    with pytest.raises(files.NotWritable, match=f"^DST {read_only / 'x'}: cannot write in {read_only} \\(Read-only "
                                                "file system\\)"):
        files.require_writable(read_only / "x", "DST")
    files.require_writable(tmp_path / "new" / "deeper", "-o")  # made later, in a folder that can be written
    assert a_file.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "ro"]


def test_data_root_naming_a_file_or_read_only_is_one_message_before_any_download(tmp_path, read_only, capsys):
    a_file = tmp_path / "data.txt"
    a_file.write_text("mine\n")
    for root, said in ((a_file, f"the data root ($FCN_DATA, or --root) {a_file} is a file, not a folder"),
                       (read_only, f"the data root ($FCN_DATA, or --root) {read_only}: cannot write in {read_only}")):
        assert download.main(["voc2012", "--root", str(root)]) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and "downloading" not in err
    assert a_file.read_text() == "mine\n"


def test_two_downloads_of_one_file_take_turns_and_the_part_file_never_grows_past_the_file(tmp_path):
    body = os.urandom(200_000)
    dest = tmp_path / "w.caffemodel"
    said: list[str] = []
    results: dict[str, object] = {}
    with LocalServer({"/w": body}) as server:
        server.behaviour.hold_after = 50_000  # the first transfer stops halfway until released

        def first():  # small blocks, so that the half before the hold reaches the .part file
            results["first"] = fetch.download(server.url("/w"), dest, progress=False, chunk=10_000)

        a = threading.Thread(target=first)
        a.start()
        part = dest.with_name(dest.name + ".part")
        deadline = time.monotonic() + 30
        while not (part.is_file() and part.stat().st_size >= 50_000) and time.monotonic() < deadline:
            time.sleep(0.02)
        import builtins

        real_print = builtins.print
        builtins.print = lambda *a, **k: said.append(" ".join(map(str, a)))  # fetch's waiting line
        try:
            b = threading.Thread(target=lambda: results.setdefault("second", fetch.download(server.url("/w"), dest,
                                                                                             progress=False)))
            b.start()
            deadline = time.monotonic() + 30
            while not said and time.monotonic() < deadline:
                time.sleep(0.02)
            server.behaviour.release.set()
            a.join(60)
            b.join(60)
        finally:
            builtins.print = real_print
    assert results == {"first": dest, "second": dest} and dest.read_bytes() == body
    assert not part.exists() and len(server.behaviour.ranges) == 1  # the second found the file complete
    assert said == ["downloading w.caffemodel: another run is on it; waiting for it to finish (Ctrl-C to stop "
                    "waiting)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.caffemodel"]  # the lock was the .part: nothing left


def test_a_second_run_on_one_dataset_part_waits_for_the_first_and_finds_it_in_place(tmp_path, monkeypatch):
    import dataclasses

    root = tmp_path / "data"
    part = dataclasses.replace(download.PARTS["siftflow"], sources=())
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def slow_fetch(part_, root_, extra, **kwargs):
        order.append("placing")
        first_in.set()
        release.wait(30)
        for marker in part_.markers:
            (root_ / part_.folder / marker).mkdir(parents=True, exist_ok=True)
        return download.Fetched(part_.key, root_ / part_.folder, None, "test", "test", {}, None)

    monkeypatch.setattr(download, "_fetch_part", slow_fetch)
    logs: list[str] = []
    a = threading.Thread(target=lambda: download.get_part(part, root, log=logs.append))
    a.start()
    first_in.wait(30)
    b = threading.Thread(target=lambda: download.get_part(part, root, log=logs.append))
    b.start()
    deadline = time.monotonic() + 30
    while not any("is on it" in line for line in logs) and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    a.join(30)
    b.join(30)
    assert order == ["placing"]  # the second never placed it again
    assert logs == [f"siftflow: another run (pid {os.getpid()}) is on it; waiting for it to finish (Ctrl-C to stop "
                    "waiting)", f"siftflow: already in {root / 'siftflow'}"]


def test_ctrl_c_in_a_command_is_one_line_and_status_130_and_keeps_what_arrived(tmp_path):
    """A real SIGINT to data.download in the middle of a transfer (the local server holds it after 1.5 MiB, so
    that the downloader's first 1 MiB block has reached the .part file)."""
    body = os.urandom(3 << 20)
    root = tmp_path / "data"
    with LocalServer({"/SiftFlowDataset.zip": body}) as server:
        server.behaviour.hold_after = 3 << 19
        child = subprocess.Popen([sys.executable, "-m", "data.download", "siftflow", "--root", str(root), "--source",
                                  f"siftflow={server.url('/SiftFlowDataset.zip')}"],
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        part = root / "downloads" / "SiftFlowDataset.zip.part"
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size >= 1 << 20) and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        server.behaviour.release.set()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == ("interrupted; what is in place stays (a download resumes from its .part "
                                            "file, a build from its .partial folder: run the same command again)")
    assert "Traceback" not in err
    assert part.stat().st_size == 1 << 20 and not (root / "siftflow").exists()  # for the next run to resume


def test_run_turns_keyboard_interrupt_into_one_line_and_130(capsys):
    def main():
        raise KeyboardInterrupt

    assert cli.run(main) == 130 and capsys.readouterr().err == "\ninterrupted; what is in place stays\n"
    assert cli.run(lambda: 3) == 3 and cli.run(lambda: None) == 0
    assert isinstance(DownloadError("x"), RuntimeError)


def test_every_commands_main_runs_through_the_one_interrupt_tail():
    """Ctrl-C is one line and 130 in every command: each ``if __name__ == "__main__"`` block of the kit and its
    benchmarks calls data.cli.run or reproduce.distributed.entry (which calls run), and so does each package's
    __main__.py. benchmarks/caffe_worker.py is no command: the Caffe benchmark starts it in Caffe's own environment,
    where the kit does not import."""
    import re

    bare = []
    for path in sorted(REPO.glob("*/**/*.py")):
        if path.parts[len(REPO.parts)] not in ("data", "nets", "weights", "reproduce", "benchmarks") or \
                path.name == "caffe_worker.py":
            continue
        text = path.read_text()
        block = text.split('if __name__ == "__main__":', 1)[1] if 'if __name__ == "__main__":' in text else (
            text if path.name == "__main__.py" else None)
        if block is not None and not re.search(r"\brun\(|distributed\.entry\(", block):
            bare.append(str(path.relative_to(REPO)))
    assert bare == [], f"commands whose main Ctrl-C would end in a traceback: {bare}"


def test_no_commands_main_block_rebinds_a_name_of_its_own_module():
    """The import that brings data.cli.run into a ``__main__`` block runs at module level: a module with a
    function of the same name would call data.cli.run in its place (benchmarks/hha.py did, and died with a
    TypeError before measuring anything)."""
    import ast

    clashes = []
    for path in sorted(REPO.glob("*/**/*.py")):
        if path.parts[len(REPO.parts)] not in ("data", "nets", "weights", "reproduce", "benchmarks"):
            continue
        tree = ast.parse(path.read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
        for node in tree.body:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                imported = {a.asname or a.name for n in ast.walk(node) if isinstance(n, ast.ImportFrom)
                            for a in n.names}
                clashes += [f"{path.relative_to(REPO)}: {name}" for name in sorted(imported & defined)]
    assert clashes == [], f"__main__ blocks that rebind a function of their module: {clashes}"
