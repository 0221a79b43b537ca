"""Which reader tops feed a net's inputs and its losses, and turning a reader item into tensors."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


def input_tops(net: nn.Module) -> dict[str, str]:
    """Net input blob -> the reader top that feeds it, from the net's record (nyud-fcn32s-hha reads "hha"
    into "data")."""
    import nets

    return nets.record(net.name).input_tops


def label_tops(net: nn.Module) -> dict[str, str]:
    """Score blob -> the reader top holding its labels, from the reference's loss layers (SIFT Flow: score_sem
    <- sem, score_geo <- geo; everything else score <- label)."""
    losses = net.spec.losses
    if not losses:
        raise ValueError(f"net {net.name!r} declares no loss layers; its NetSpec must list "
                         "(loss, score, label)")
    return {score: label for _, score, label in losses}


def _missing(item: Mapping[str, np.ndarray], tops: list[str], what: str) -> None:
    absent = [t for t in tops if t not in item]
    if absent:
        raise KeyError(f"the reader gave tops {sorted(item)} but the net needs {absent} for its {what}; "
                       f"load the dataset with tops={sorted(set(tops))}")


def inputs_from_item(net: nn.Module, item: Mapping[str, np.ndarray], device: torch.device,
                     tops: Mapping[str, str]) -> tuple[torch.Tensor, ...]:
    """The net's inputs as 1 x C x H x W float32 tensors on ``device`` (reader arrays are C x H x W)."""
    _missing(item, [tops[name] for name in net.inputs], "inputs")
    return tuple(torch.from_numpy(np.ascontiguousarray(item[tops[name]], dtype=np.float32))[None].to(device)
                 for name in net.inputs)


def labels_from_item(net: nn.Module, item: Mapping[str, np.ndarray], device: torch.device,
                     tops: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Score blob -> 1 x H x W int64 label tensor on ``device`` (reader labels are H x W uint8)."""
    _missing(item, list(tops.values()), "losses")
    return {score: torch.from_numpy(np.asarray(item[top]).astype(np.int64))[None].to(device)
            for score, top in tops.items()}


def outputs_by_name(net: nn.Module, out: torch.Tensor | tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """The net's forward result keyed by output blob name."""
    outs = out if isinstance(out, tuple) else (out,)
    return dict(zip(net.outputs, outs, strict=True))
