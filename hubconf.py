"""PyTorch Hub entry points: one per reference net, its name with dashes as underscores.

>>> net = torch.hub.load("path/to/checkout", "voc_fcn8s", source="local", weights="voc-fcn8s.h5")

Each returns ``nets.build(NAME)`` (eval mode), filled strictly by ``weights.load`` when ``weights`` names a
file of any format the kit reads (.h5, .caffemodel, torch state_dict, Chainer .npz); without weights the
parameters are zero and only the upsampling kernels and Scale factors are set, as in ``nets.build``.
"""

from __future__ import annotations

import os as _os

import nets
import weights as _weights

# What torch.hub checks before an entry point runs: the third-party packages the entry points import (PIL comes
# with data.preprocess, whose means the net records carry). tests/test_hub.py keeps it true.
dependencies = ["torch", "numpy", "h5py", "PIL"]


def _entry(name: str):  # no annotations from typing: torch.hub.list() lists every public callable here
    def build(weights: str | _os.PathLike | None = None) -> nets.CaffeNet:
        net = nets.build(name)
        return net if weights is None else _weights.load(net, weights)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = (f"The reference net {name} (nets.build), loaded strictly from ``weights`` when given "
                     "(weights.load: .h5, .caffemodel, .pth state_dict, Chainer .npz).")
    return build


globals().update({name.replace("-", "_"): _entry(name) for name in nets.NAMES})
