"""The paper's datasets, read exactly as the reference's Caffe data layers fed its nets.

>>> import data
>>> reader = data.load("voc", "seg11valid")          # $FCN_DATA/VOC2011, SBD train from $FCN_DATA/sbd
>>> len(reader), reader.ids[0], reader.tops
(736, '2007_000033', ('data', 'label'))
>>> item = reader[0]    # {"data": float32 3 x H x W, BGR minus mean; "label": uint8 H x W, 255 = ignore}

Readers: voc, sbd, nyud, siftflow, pascalcontext (readers.py). Preprocessing for a user's own image:
``data.preprocess_image(path_or_pil, data.MEANS["voc"])`` (which top feeds which net input, with which mean, is
in the net records: ``nets.record(NAME).inputs``). Loaders: ``data.eval_loader``, ``data.train_loader``. Fetch
datasets with ``make data DATASET=<name>`` (download.py; NYUD is built from NYU's originals by nyud.py when the
reference's archive cannot be had); the root is $FCN_DATA (layout.py). Files: every
writer of the kit writes through ``data.files`` (atomic, umask permissions) and downloads through
``data.fetch`` (resumable).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from .classes import CLASSES, IGNORE_LABEL, num_classes
from .errors import BadSampleError, DownloadError, MissingDataError, SplitMismatchError, SplitMismatchWarning
from .layout import ENV_VAR, data_root, default_root
from .shadowing import refuse_shadowing
from .splits import REFERENCE_SPLITS, SplitInfo

refuse_shadowing()  # a package in the working folder named as one of the kit's would be imported in its place

# The readers need scipy and PIL, the loaders torch: each loads on first use, so that the kit's file and
# download helpers (data.files, data.fetch, data.layout, which weights/ uses) come without them.
_LAZY = {
    **dict.fromkeys(("VOC_PALETTE", "colorize", "label_image", "overlay", "save_label_png", "save_overlay",
                     "voc_palette"), "palette"),
    **dict.fromkeys(("CHANNEL_ORDER", "MEAN_VALUES", "MEANS", "NYUD_HHA_MEAN", "NYUD_LOG_DEPTH_MEAN", "TOP_KINDS",
                     "deprocess_image", "preprocess_depth", "preprocess_hha", "preprocess_image", "preprocess_top",
                     "to_rgb"), "preprocess"),
    **dict.fromkeys(("READERS", "Reader"), "readers"),
    **dict.fromkeys(("ReferenceSampler", "eval_loader", "train_loader"), "loaders"),
}
# The dataset names, as data.load takes them (readers.READERS holds the same keys, in this order).
NAMES: tuple[str, ...] = ("voc", "sbd", "nyud", "siftflow", "pascalcontext")


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")


def load(name: str, split: str, root: Path | str | None = None, **options):
    """A reader for one split of a dataset. ``root`` defaults to $FCN_DATA/<folder> (layout.py). Options:
    tops= (which tops to produce), expect_split= (split check: "reference" (default), None, or (count, set
    MD5)); voc: sbd_root= (for seg11valid); pascalcontext: voc_root= (the VOC2010 folder)."""
    from .readers import READERS

    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; the readers are: {', '.join(READERS)}")
    cls = READERS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "split", "root")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"{name} reader options are {accepted}; got unknown {unknown}")
    return cls(split, root, **options)


__all__ = [
    "CHANNEL_ORDER", "CLASSES", "ENV_VAR", "IGNORE_LABEL", "MEANS", "MEAN_VALUES", "NAMES", "NYUD_HHA_MEAN",
    "NYUD_LOG_DEPTH_MEAN", "READERS", "REFERENCE_SPLITS", "TOP_KINDS", "VOC_PALETTE", "BadSampleError",
    "DownloadError", "MissingDataError", "Reader", "ReferenceSampler", "SplitInfo", "SplitMismatchError",
    "SplitMismatchWarning", "colorize", "data_root", "default_root", "deprocess_image", "eval_loader",
    "label_image", "load", "num_classes", "overlay", "preprocess_depth", "preprocess_hha", "preprocess_image",
    "preprocess_top", "save_label_png", "save_overlay", "to_rgb", "train_loader", "voc_palette",
]
