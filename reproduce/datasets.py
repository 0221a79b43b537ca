"""How the experiments find their data and weights (data/ and weights.zoo), and what they say when either is
missing: the exact path and the command that fetches it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

# Datasets a reader needs besides its own folder: VOC's seg11valid is VOC2011 val minus SBD train, Context
# takes its images from VOC2010.
_EXTRA_ROOTS = {("voc", "seg11valid"): ("sbd_root", "sbd"), ("pascalcontext", None): ("voc_root", "VOC2010")}


class MissingInputs(FileNotFoundError):
    """Weights or datasets an experiment needs are not on disk; the message lists each with its fetch
    command."""

    def __init__(self, missing: Sequence[tuple[str, str]]):
        self.missing = list(missing)
        lines = ["missing inputs:"]
        lines += [f"  - {what}\n      fetch: {command}" for what, command in self.missing]
        commands = list(dict.fromkeys(c for _, c in self.missing))
        lines.append("then run the command again. All fetch commands:\n  " + "\n  ".join(commands))
        super().__init__("\n".join(lines))


def eval_split(net: str, dataset: str | None = None, split: str | None = None) -> tuple[str, str]:
    """The (dataset, split) a net is scored on by default (the reference's test split), or the given ones."""
    from data import net_data

    default = net_data(net).test
    return dataset or default[0], split or default[1]


# weights.zoo's folder rule, restated so that the missing-input check runs without importing torch (the
# weights package imports it); tests/test_reproduce_datasets.py keeps the two equal.
WEIGHTS_ENV = "FCN_WEIGHTS"
WEIGHTS_DEFAULT = Path("~/.cache/fcn-kit/weights")


def weights_path(net: str, weights_dir: Path | None = None) -> Path:
    """Where the converted release of ``net`` lies: weights_dir/NET.h5, by default $FCN_WEIGHTS (or
    ~/.cache/fcn-kit/weights), as ``make weights NET=...`` writes it."""
    folder = Path(weights_dir) if weights_dir else Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_DEFAULT)
    return folder.expanduser() / f"{net}.h5"


def weights_missing(net: str, path: Path) -> tuple[str, str]:
    return (f"weights of {net}: {path}", f"make weights NET={net}")


def reader_options(dataset: str, split: str, data_root: Path | None) -> tuple[Path | None, dict]:
    """(root, options) for data.load: with ``data_root`` (a $FCN_DATA-style folder) every folder under it,
    otherwise data's defaults."""
    from data.layout import FOLDERS

    if data_root is None:
        return None, {}
    options = {}
    for (name, for_split), (option, folder) in _EXTRA_ROOTS.items():
        if name == dataset and for_split in (None, split):
            options[option] = Path(data_root) / folder
    return Path(data_root) / FOLDERS[dataset], options


def open_split(net: str, dataset: str, split: str, data_root: Path | None = None, **options):
    """A data reader with the tops ``net`` needs (its inputs, and its labels where the split has them).
    A missing folder or list raises MissingInputs naming it and the ``make data`` command."""
    import data

    tops = data.net_data(net).tops
    if dataset == "voc" and split == "test":  # VOC test labels are private: images only
        tops = tuple(t for t in tops if t != "label")
    root, extra = reader_options(dataset, split, data_root)
    try:
        return data.load(dataset, split, root, tops=tops, **extra, **options)
    except data.MissingDataError as e:
        # Every path the reader found missing (seg11valid: VOC2011's val list and SBD's train list), with the
        # one command data names for them.
        raise MissingInputs([(f"{dataset} {split}: {p}", e.fetch) for p in e.paths]) from e


def present_only(net: str, dataset: str) -> dict[str, bool]:
    """SIFT Flow's semantic head is scored over the classes present in the ground truth (the paper's way)."""
    return {"score_sem": True} if dataset == "siftflow" else {}


def class_names(net, dataset: str) -> dict[str, tuple[str, ...]]:
    """Score blob -> class names, from the label top each output is scored against."""
    from data import CLASSES, net_labels

    return {blob: CLASSES[(dataset, top)] for blob, top in net_labels(net.name).items()
            if (dataset, top) in CLASSES}


def split_record(reader) -> dict:
    """What a record says about the split: data's SplitInfo (set MD5 = the published MD5 for seg11valid)."""
    info = getattr(reader, "split_info", None)
    if info is None:
        return {"ids": len(reader)}
    return dataclasses.asdict(info)


def split_md5(reader) -> str:
    """MD5 of the split's id list (sorted, one per line, newline-terminated: seg11valid's published form)."""
    info = getattr(reader, "split_info", None)
    if info is not None:
        return info.set_md5
    from data.splits import set_md5

    return set_md5(list(reader.ids))


def png_writer(out_dir: Path, net: str) -> Callable[[str, Mapping[str, np.ndarray]], None]:
    """on_prediction callback writing OUT/{id}.png palette PNGs (one folder per head for two-headed nets)."""
    from data import save_label_png

    def write(sample_id: str, preds: Mapping[str, np.ndarray]) -> None:
        for blob, label in preds.items():
            folder = out_dir if len(preds) == 1 else out_dir / blob
            save_label_png(folder / f"{sample_id}.png", label)

    return write
