"""Writing files so that nothing is ever half-written, and hashing them: the one helper every writer of the kit
uses (weights .h5 and caffemodels, prototxts, palette PNGs, unpacked datasets, tarballs, records, snapshots).

``atomic_path(dst)`` hands out a temporary path beside ``dst`` and renames it into place only when the block
ends normally. On an exception, Ctrl-C or SIGTERM the temporary is removed; after SIGKILL (which no process can
catch) the temporary stays, named ``.<dst name>.<pid>.<random>.fcn-tmp``, and the next write of the same
``dst`` removes it once its process is gone. The finished file gets the permissions the user's umask gives a
new file (mkstemp's private 0600 would make shared weight and result folders unreadable to others).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".fcn-tmp"
_CHUNK = 1 << 24


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM while a file is being written, so that the temporary is removed on
    the way out; the process then exits with 143 (128 + SIGTERM), as the shell reports a terminated process."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def new_file_mode(directory: bool = False) -> int:
    """The permissions a new file (0o666) or folder (0o777) gets under the user's umask."""
    return (0o777 if directory else 0o666) & ~umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temporaries(dst: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that writes of ``dst`` left beside it when their process was killed (their pid
    no longer runs). Returns what was removed. Temporaries of running processes, and any file not named as
    ours, are never touched."""
    dst = Path(dst)
    if not dst.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(dst.name)}\.(\d+)\.[0-9a-f]+{re.escape(TEMP_SUFFIX)}")
    removed = []
    for path in dst.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises Terminated in the main thread (unless the program installed a
    handler of its own, which is left alone)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def atomic_path(dst: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """A temporary path (an empty folder with ``directory=True``) in ``dst``'s folder; renamed to ``dst`` when
    the block ends normally, removed otherwise (also on Ctrl-C and SIGTERM), so that ``dst`` is either the
    complete new file or what it was before. A folder ``dst`` must not exist yet."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dst)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    with _sigterm_raises():
        try:
            if directory:
                tmp.mkdir()
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            yield tmp
            os.chmod(tmp, new_file_mode(directory))
            if directory and dst.exists():
                raise FileExistsError(f"{dst} appeared while it was being written; nothing was replaced")
            os.replace(tmp, dst)
        except BaseException:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            raise


@contextmanager
def scratch_dir(dst: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``dst`` (named as the kit's temporaries, so a killed run's is cleaned up by the
    next), always removed at the end: for work whose result the caller renames into place itself (unpacking
    an archive whose wanted folder sits somewhere inside)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dst)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    tmp.mkdir()
    with _sigterm_raises():
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class DestinationExists(ValueError):
    """A file the user named as a command's output exists already (or is a folder): it is kept."""


FORCE_HELP = "replace the output file when it exists already (default: refuse and keep it)"


def refuse_existing(dst: str | os.PathLike, force: bool = False, flag: str = "--force") -> None:
    """The rule of every command that writes a file the user names (``-o``, ``weights.convert``/``export``'s
    DST, ``--json``): an existing file there is kept unless ``force``; a folder there is never replaced.
    Raises DestinationExists saying which, and what to pass. Records and caches the kit owns (results/,
    the weights cache) do not go through here: they are replaced as the kit's own."""
    dst = Path(dst)
    if dst.is_dir():
        raise DestinationExists(f"{dst} is a folder; the output is one file: name a file path (it is kept)")
    if dst.exists() and not force:
        raise DestinationExists(f"{dst} exists already and is kept: pass {flag} to replace it, or name another "
                                "path")


def write_bytes(dst: str | os.PathLike, content: bytes) -> Path:
    with atomic_path(dst) as tmp:
        tmp.write_bytes(content)
    return Path(dst)


def write_text(dst: str | os.PathLike, text: str) -> Path:
    with atomic_path(dst) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dst)


# The checksums a source may carry (--source ...#md5=HEX), and their lengths in hex digits.
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (sha256, sha1, md5, ...), read in 16 MiB blocks."""
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def file_digests(path: str | os.PathLike, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of a file under several algorithms, from one read (a 3 GB file is read once, not per hash)."""
    hashes = {a: hashlib.new(a) for a in dict.fromkeys(algorithms)}
    with Path(path).open("rb") as f:
        while block := f.read(_CHUNK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def md5_file(path: str | os.PathLike) -> str:
    return file_digest(path, "md5")


def set_aside(path: str | os.PathLike) -> Path:
    """Move a rejected file to ``<name>.rejected`` (``.rejected-2`` ... if taken), where no fetch looks: nothing
    takes it for good and nothing of the user's is lost."""
    path = Path(path)
    target, n = path.with_name(path.name + ".rejected"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.rejected-{n}")
    os.replace(path, target)
    return target


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


class NotEnoughSpace(OSError):
    """A download or unpack would not fit on its disk; says both numbers and the folder."""


def require_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Raise NotEnoughSpace when ``folder``'s disk has fewer than ``needed`` free bytes."""
    free = free_bytes(folder)
    if needed > free:
        raise NotEnoughSpace(f"not enough free space for {what} in {folder}: it needs {needed:,} bytes "
                             f"({needed / 2**30:.2f} GiB), {free:,} are free ({free / 2**30:.2f} GiB); free some "
                             "space there, or move the data root to a bigger disk (set FCN_DATA)")


@contextmanager
def locked(lock: str | os.PathLike, what: str, log: Callable[[str], None] = print, *,
           own_file: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on the file ``lock`` for the block: two runs that would write the same thing (one
    dataset part, one download) take turns. One already held is waited for, after one line naming ``what``
    (and the holder's pid). The lock is the kernel's (flock), so it goes when its process ends, even by SIGKILL.

    ``own_file``: the file exists for the lock: the holder writes its pid there and removes it on the way out (a
    waiter that then holds a removed file tries again; a killed holder's file is taken over by the next run).
    Otherwise the file is data (a download's .part): created empty if absent, never written or removed here, and
    a waiter whose file was renamed away meanwhile (the download completed) tries again on the path. Yields
    whether the file was created here."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        created = not lock.exists()
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, new_file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() if own_file else ""
                log(f"{what}: another run{f' (pid {holder})' if holder else ''} is on it; waiting for it to "
                    "finish (Ctrl-C to stop waiting)")
                said = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        held = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the holder removed or renamed this file as this run waited on it: lock the path anew
    try:
        if own_file:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield created
    finally:
        if own_file:
            lock.unlink(missing_ok=True)
        os.close(fd)


class NotWritable(OSError):
    """A folder a command must write in that it cannot: a file stands where it or a parent would be, or it is
    read-only (a read-only mount stops root too; chmod does not)."""


def require_writable(folder: str | os.PathLike, what: str) -> None:
    """Raise NotWritable, naming ``what`` and the path, unless files can be written in ``folder`` (or, where it
    does not exist yet, in the nearest folder above it, where it would be made). Checked by writing: before a
    command does any work, so that its results are not lost at the end."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.is_dir() and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        where = "there" if probe == folder else f"below it ({folder})"
        raise NotWritable(f"{what} {probe} is a file, not a folder, so nothing can be written {where}; name a "
                          "folder (the file is kept)")
    try:
        fd = os.open(probe / f".fcn-write-test.{os.getpid()}.{secrets.token_hex(4)}",
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise NotWritable(f"{what} {folder}: cannot write in {probe} ({e.strerror}); name a folder you can write "
                          "to") from None
    os.close(fd)
    for leftover in probe.glob(f".fcn-write-test.{os.getpid()}.*"):
        leftover.unlink(missing_ok=True)


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def not_regular(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a FIFO (named pipe)", "a character device",
    "a folder" ...), else None (a regular file, or nothing there). Reading a FIFO or /dev/zero as a file would
    wait, or read forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a file")
