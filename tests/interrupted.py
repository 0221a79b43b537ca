"""Killing a write halfway, for tests/test_kill_mid_write.py.

Child side: ``stall()`` prints STALLED and sleeps, and two patches call it in the middle of a real write (the
bytes before it are on disk, the rest is not): ``stall_text_writes_in(folder)`` after half of the first text
written to a file opened for writing in ``folder`` (records are JSON text), ``stall_h5_after(n, folder)``
after the n-th HDF5 dataset of a file in ``folder`` (weights and solver states). The pause is what makes the
kill land mid-write every time, instead of racing a fast write.

Parent side: ``Child`` runs a Python snippet in a child process from the kit's root, waits for STALLED (or
anything else), sends a signal and reports how the child ended. The children are forked, one per snippet, by
one interpreter that has imported the kit's writers and torch once (``_Forker``): each child is a process of
its own, killed for real, without paying seconds of imports every time.
"""

from __future__ import annotations

import atexit
import builtins
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

STALLED = "STALLED"
REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


# ---- child side ----------------------------------------------------------------------------------------------


def stall() -> None:
    print(STALLED, flush=True)
    time.sleep(120)


class _HalfWrite:
    """A text file whose first write puts half its text on disk, then stalls."""

    def __init__(self, f):
        self._f = f

    def write(self, text: str) -> int:
        self._f.write(text[: len(text) // 2])
        self._f.flush()
        os.fsync(self._f.fileno())
        stall()
        return self._f.write(text[len(text) // 2:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._f, name)


def stall_text_writes_in(folder: str | os.PathLike) -> None:
    folder = Path(folder).resolve()
    real_open = io.open

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and "w" in mode and "b" not in mode \
                and Path(file).resolve().parent == folder:
            return _HalfWrite(f)
        return f

    io.open = builtins.open = open_


def stall_h5_after(datasets: int, folder: str | os.PathLike) -> None:
    import h5py

    folder = Path(folder).resolve()
    real = h5py.Group.create_dataset
    count = {"n": 0}

    def create_dataset(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        if Path(self.file.filename).resolve().parent == folder:
            count["n"] += 1
            if count["n"] == datasets:
                self.file.flush()
                stall()
        return out

    h5py.Group.create_dataset = create_dataset


# ---- parent side ---------------------------------------------------------------------------------------------


# What the forking interpreter imports once: the writers the snippets of tests/test_kill_mid_write.py call.
PRELOAD = ("h5py", "torch", "weights", "weights.convert", "data.fetch", "reproduce.records", "test_reproduce_train")

# The forking interpreter: reads one JSON request a line ({"code", "fifo", "env"}), forks a child that runs the
# code with its output sent to the fifo, and says "PID n" then, from a waiting thread, "EXIT n status" (written
# with os.write: a forked child never inherits a held lock of sys.stdout).
_FORKER = r"""
import importlib, json, os, sys, threading, traceback
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)

def say(text):
    os.write(1, (text + "\n").encode())

def reap():
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            threading.Event().wait(0.01)
            continue
        say(f"EXIT {pid} {os.waitstatus_to_exitcode(status)}")

threading.Thread(target=reap, daemon=True).start()
say("READY")
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            out = os.open(request["fifo"], os.O_WRONLY)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            os.environ.update(request["env"])
            exec(compile(request["code"], "<child>", "exec"), {"__name__": "__main__"})
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    say(f"PID {pid}")
"""


class _Forker:
    """The one interpreter that forks the children (started on first use, ended when the tests end)."""

    _one: _Forker | None = None

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", _FORKER, json.dumps(PRELOAD)], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])})
        self.pids: queue.Queue[int] = queue.Queue()
        self.status: dict[int, int] = {}
        self.changed = threading.Condition()
        ready = queue.Queue()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.get(timeout=300):
            raise AssertionError(f"the forking interpreter did not start (status {self.proc.poll()})")
        atexit.register(self.close)

    @classmethod
    def get(cls) -> _Forker:
        if cls._one is None or cls._one.proc.poll() is not None:
            cls._one = cls()
        return cls._one

    def _read(self, ready: queue.Queue) -> None:
        for line in self.proc.stdout:
            word, *rest = line.split()
            if word == "READY":
                ready.put(True)
            elif word == "PID":
                self.pids.put(int(rest[0]))
            elif word == "EXIT":
                with self.changed:
                    self.status[int(rest[0])] = int(rest[1])
                    self.changed.notify_all()
        ready.put(False)

    def fork(self, code: str, fifo: Path, env: dict) -> int:
        self.proc.stdin.write(json.dumps({"code": code, "fifo": str(fifo), "env": env}) + "\n")
        self.proc.stdin.flush()
        return self.pids.get(timeout=60)

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self.changed:
            self.changed.wait_for(lambda: pid in self.status, timeout=timeout)
            return self.status.get(pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class _Process:
    """What the tests use of a Popen: the pid, poll() and wait(timeout) (the exit status, negative when killed
    by a signal)."""

    def __init__(self, forker: _Forker, pid: int):
        self.forker, self.pid = forker, pid

    def poll(self) -> int | None:
        return self.forker.wait(self.pid, 0)

    def wait(self, timeout: float | None = None) -> int:
        status = self.forker.wait(self.pid, timeout)
        if status is None:
            raise subprocess.TimeoutExpired(f"child {self.pid}", timeout)
        return status

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Child:
    """``code`` in a child process forked from the kit's root, tests/ importable, its output (stdout and
    stderr, unbuffered) collected by a thread."""

    def __init__(self, code: str, env: dict | None = None):
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="child-")
        fifo = Path(self._folder.name) / "output"
        os.mkfifo(fifo)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, args=(fifo,), daemon=True).start()
        forker = _Forker.get()
        self.proc = _Process(forker, forker.fork(code, fifo, env or {}))

    def _read(self, fifo: Path) -> None:
        with open(fifo) as f:  # blocks until the child opens its end
            for line in f:
                self.output.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str = STALLED, timeout: float = 60.0) -> None:
        """Until a line starting with ``marker``; fails naming the output if the child ends or hangs first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill(signal.SIGKILL)
                raise AssertionError(f"no {marker!r} within {timeout} s:\n{''.join(self.output)}") from None
            if line is None:
                raise AssertionError(f"the child ended (status {self.proc.wait()}) before {marker!r}:\n"
                                     f"{''.join(self.output)}")
            if line.startswith(marker):
                return

    def kill(self, sig: int, timeout: float = 30.0) -> int:
        """Send ``sig`` and return the exit status (negative: killed by that signal)."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the child outlived signal {sig} by {timeout} s:\n{''.join(self.output)}") \
                from None
