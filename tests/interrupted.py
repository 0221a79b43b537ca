"""Killing a write halfway, for tests/test_kill_mid_write.py.

Child side: ``stall()`` prints STALLED and sleeps, and two patches call it in the middle of a real write (the
bytes before it are on disk, the rest is not): ``stall_text_writes_in(folder)`` after half of the first text
written to a file opened for writing in ``folder`` (records are JSON text), ``stall_h5_after(n, folder)``
after the n-th HDF5 dataset of a file in ``folder`` (weights and solver states). The pause is what makes the
kill land mid-write every time, instead of racing a fast write.

Parent side: ``Child`` runs a Python snippet in a fresh interpreter from the kit's root, waits for STALLED (or
anything else), sends a signal and reports how the child ended.
"""

from __future__ import annotations

import builtins
import io
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


class Child:
    """``python -c code`` from the kit's root, tests/ importable, unbuffered output collected by a thread."""

    def __init__(self, code: str, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": str(TESTS), **(env or {})})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
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
