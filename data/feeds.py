"""Which reader top feeds which net input, per reference net: the reference's train/val prototxts wire a
Python data layer's tops to the net's input blobs, and most nets name both "data". The exceptions are
NYUD's: the single-stream nets read the "color" or the "hha" top into "data", and the two-input nets keep
the reader's names.

Also per net: the dataset and splits the reference trained and scored it on, and which label top each score
output is compared with (the loss layers' bottoms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preprocess import MEANS


@dataclass(frozen=True)
class NetData:
    """How a reference net is fed."""

    train: tuple[str, str]  # (reader, split) the reference trained on
    test: tuple[str, str]  # (reader, split) it was scored on
    inputs: tuple[tuple[str, str], ...]  # (net input blob, reader top), in the net's input order
    labels: tuple[tuple[str, str], ...]  # (score blob, label top)

    @property
    def dataset(self) -> str:
        """The reader the scores come from (VOC nets train on SBD, score on VOC)."""
        return self.test[0]

    @property
    def tops(self) -> tuple[str, ...]:
        """Reader tops to request: inputs then labels."""
        return tuple(top for _, top in self.inputs) + tuple(top for _, top in self.labels)


_VOC = NetData(("sbd", "train"), ("voc", "seg11valid"), (("data", "data"),), (("score", "label"),))
_SIFTFLOW = NetData(("siftflow", "trainval"), ("siftflow", "test"), (("data", "data"),),
                    (("score_sem", "sem"), ("score_geo", "geo")))
_CONTEXT = NetData(("pascalcontext", "train"), ("pascalcontext", "val"), (("data", "data"),),
                   (("score", "label"),))


def _nyud(*inputs: tuple[str, str]) -> NetData:
    return NetData(("nyud", "trainval"), ("nyud", "test"), inputs, (("score", "label"),))


NET_DATA: dict[str, NetData] = {
    "voc-fcn32s": _VOC,
    "voc-fcn16s": _VOC,
    "voc-fcn8s": _VOC,
    "voc-fcn8s-atonce": _VOC,
    "voc-fcn-alexnet": _VOC,
    "nyud-fcn32s-color": _nyud(("data", "color")),
    "nyud-fcn32s-hha": _nyud(("data", "hha")),
    "nyud-fcn32s-color-d": _nyud(("color", "color"), ("depth", "depth")),
    "nyud-fcn32s-color-hha": _nyud(("color", "color"), ("hha", "hha")),
    "siftflow-fcn32s": _SIFTFLOW,
    "siftflow-fcn16s": _SIFTFLOW,
    "siftflow-fcn8s": _SIFTFLOW,
    "pascalcontext-fcn32s": _CONTEXT,
    "pascalcontext-fcn16s": _CONTEXT,
    "pascalcontext-fcn8s": _CONTEXT,
}
NET_DATASET: dict[str, str] = {name: d.dataset for name, d in NET_DATA.items()}


def net_data(net_name: str) -> NetData:
    """The feeding record of a reference net."""
    if net_name not in NET_DATA:
        raise KeyError(f"unknown net {net_name!r}; the reference nets are: {', '.join(NET_DATA)}")
    return NET_DATA[net_name]


def net_tops(net_name: str) -> dict[str, str]:
    """Net input blob -> the reader top that feeds it (nyud-fcn32s-hha: {"data": "hha"})."""
    return dict(net_data(net_name).inputs)


def net_labels(net_name: str) -> dict[str, str]:
    """Score blob -> the label top its loss and metrics compare with."""
    return dict(net_data(net_name).labels)


def net_inputs(net_name: str, sample: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """A reader sample's arrays in the net's input order (what ``net(*inputs)`` takes, before batching)."""
    missing = [top for _, top in net_data(net_name).inputs if top not in sample]
    if missing:
        raise KeyError(f"{net_name} needs reader tops {missing}; the sample has {sorted(sample)}. Load the "
                       f"dataset with tops={net_data(net_name).tops}")
    return tuple(sample[top] for _, top in net_data(net_name).inputs)


def net_mean(net_name: str) -> np.ndarray:
    """The BGR mean the net's colour input was trained with (NYUD HHA/depth inputs have their own, see
    preprocess.py)."""
    return MEANS[net_data(net_name).dataset]
