"""Real read-only and size-limited folders for the OS-error tests: a tmpfs mounted where the test runs as root
with the right to mount (this machine, CI), else None, so that the test falls back to a fake of the same errno
and says so. chmod does not stop root, so a read-only mount is the only real read-only folder root has."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(path: Path, *, size: str = "1m", readonly: bool = False) -> Iterator[Path | None]:
    """Mount a tmpfs of ``size`` on ``path`` (created), read-only if asked; yields ``path``, or None where mount
    is not allowed here (not root, no CAP_SYS_ADMIN, no mount command). Unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                              timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)


def why_fake() -> str:
    return "mount is not allowed here (a tmpfs needs root with CAP_SYS_ADMIN): the same errno is raised by a fake"


def read_only_folder(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """For a fixture: a folder nothing can be written in: a read-only tmpfs, or else (saying so) a fake EROFS
    for every file or folder created below it (os.open with O_CREAT, os.mkdir)."""
    with tmpfs(tmp_path / "ro", readonly=True) as mounted:
        if mounted is not None:
            yield mounted
            return
        print(why_fake())
        folder = tmp_path / "ro"
        real_open, real_mkdir = os.open, os.mkdir

        def below(path) -> bool:
            return Path(path).absolute().is_relative_to(folder)

        def fake_open(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and below(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        def fake_mkdir(path, *args, **kwargs):
            if below(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        yield folder
