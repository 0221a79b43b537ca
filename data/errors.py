"""The errors the data package raises. Each message says what was expected, what was found and how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A dataset root, split list, image or label file is not where the reference's layout puts it."""

    def __init__(self, what: str, path: Path | str, fetch: str, hint: str = ""):
        self.path = Path(path)
        self.fetch = fetch
        extra = f" {hint}" if hint else ""
        super().__init__(f"{what} not found: {self.path}.{extra} Fetch the dataset with `{fetch}` "
                         f"(or point the loader at your copy with root=...).")


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
