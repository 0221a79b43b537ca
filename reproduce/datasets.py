"""How the experiments find their data and weights (data/ and weights.zoo), and what they say when either is
missing: the exact path and the command that fetches it."""

from __future__ import annotations

import dataclasses
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
        lines += [f"  - {what}\n      {_road(command)}: {command}" for what, command in self.missing]
        commands = list(dict.fromkeys(c for _, c in self.missing))
        lines.append("then run the command again. All the commands:\n  " + "\n  ".join(commands))
        super().__init__("\n".join(lines))


def eval_split(net: str, dataset: str | None = None, split: str | None = None) -> tuple[str, str]:
    """The (dataset, split) a net is scored on by default (its record's test split), or the given ones."""
    import nets

    default = nets.record(net).test
    return dataset or default[0], split or default[1]


def weights_path(net: str, weights_dir: Path | None = None) -> Path:
    """Where the converted release of ``net`` lies: weights_dir/NET.h5, by default in the zoo's folder
    ($FCN_WEIGHTS or ~/.cache/fcn-kit/weights), as ``make weights NET=...`` writes it."""
    from weights import zoo

    return zoo.h5_path(net, Path(weights_dir).expanduser() if weights_dir else None)


def _road(command: str) -> str:
    """What a command of MissingInputs does: fetch, or retrain where nothing can be fetched."""
    words = command.split()
    return "retrain" if words[:1] == ["make"] and words[1].startswith("retrain-table") else "fetch"


def weights_missing(net: str, path: Path) -> tuple[str, str]:
    """A missing release and the command that brings it: ``make weights`` where a copy survives, else the
    retraining (weights.zoo: the reference's server was its only host)."""
    from weights import zoo

    if zoo.survives(net):
        return (f"weights of {net}: {path}", f"make weights NET={net}")
    return (f"weights of {net}: {path} ({zoo.NO_SURVIVOR})", zoo.retrain_command(net))


def reader_options(dataset: str, split: str, data_root: Path | None) -> tuple[Path | None, dict]:
    """(root, options) for data.load: with ``data_root`` (a $FCN_DATA-style folder) every folder under it,
    otherwise data's defaults."""
    from data.layout import FOLDERS, voc_root

    if data_root is None:
        return None, {}
    options = {}
    for (name, for_split), (option, folder) in _EXTRA_ROOTS.items():
        if name == dataset and for_split in (None, split):
            options[option] = Path(data_root) / folder
    if dataset == "pascalcontext" and not options["voc_root"].is_dir() and (Path(data_root) / "VOC2012").is_dir():
        options["voc_root"] = Path(data_root) / "VOC2012"  # the reader checks that it holds every id
    # VOC: VOC2011 where present, else VOC2012 (data.layout.voc_root, as data.load does by default).
    return (voc_root(Path(data_root)) if dataset == "voc" else Path(data_root) / FOLDERS[dataset]), options


def open_split(net: str, dataset: str, split: str, data_root: Path | None = None, **options):
    """A data reader with the tops ``net`` needs (its inputs, and its labels where the split has them).
    A missing folder or list raises MissingInputs naming it and the ``make data`` command."""
    import data
    import nets

    labels = tuple(label for _, _, label in nets.spec(net).losses)
    if dataset == "voc" and split == "test":  # VOC test labels are private: images only
        labels = ()
    tops = (*nets.record(net).input_tops.values(), *labels)
    root, extra = reader_options(dataset, split, data_root)
    try:
        return data.load(dataset, split, root, tops=tops, **extra, **options)
    except data.MissingDataError as e:
        # Every path the reader found missing (seg11valid: VOC2011's val list and SBD's train list), with the
        # one command data names for them.
        raise MissingInputs([(f"{dataset} {split}: {p}", e.fetch) for p in e.paths]) from e


def present_only(net: str) -> dict[str, bool]:
    """Outputs whose mean IU averages only the classes present in the ground truth (the paper's SIFT Flow
    scoring), from the net's record."""
    import nets

    return {blob: True for blob in nets.record(net).present_only}


def class_names(net, dataset: str) -> dict[str, tuple[str, ...]]:
    """Score blob -> class names, from the label top each output is scored against."""
    from data import CLASSES

    from .feed import label_tops

    return {blob: CLASSES[(dataset, top)] for blob, top in label_tops(net).items() if (dataset, top) in CLASSES}


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
