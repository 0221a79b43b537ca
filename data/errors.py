"""The errors the data package raises. Each message says what was expected, what was found and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A dataset root, split list, image or label file is not where the reference's layout puts it. ``also``:
    more (what, path) pairs missing at the same time, so that one message and one command cover them all."""

    def __init__(self, what: str, path: Path | str, fetch: str, hint: str = "",
                 also: Sequence[tuple[str, Path | str]] = ()):
        self.path = Path(path)
        self.paths = [self.path, *(Path(p) for _, p in also)]
        self.fetch = fetch
        extra = f" {hint}" if hint else ""
        found = "; ".join(f"{w} not found: {Path(p)}" for w, p in [(what, path), *also])
        super().__init__(f"{found}.{extra} Fetch {'them' if also else 'the dataset'} with `{fetch}` "
                         f"(or point the loader at your copy with root=...).")


class UnknownSplitError(ValueError):
    """A split name that the dataset does not have and no list file defines (a typo, not missing data)."""


class BadSampleError(ValueError):
    """One image or label of a dataset is unreadable or inconsistent (size, label range)."""

    def __init__(self, dataset: str, sample_id: str, problem: str):
        self.dataset = dataset
        self.sample_id = sample_id
        super().__init__(f"{dataset} image {sample_id!r}: {problem}")


class SplitMismatchError(ValueError):
    """A derived split list differs from the reference's (count or MD5)."""


class SplitMismatchWarning(UserWarning):
    """A split list read from a file differs from the reference's; it is used as given."""


class DownloadError(RuntimeError):
    """An archive could not be fetched or unpacked."""


class DiskFull(DownloadError):
    """A download or unpack does not fit on its disk; trying another source would not help."""
