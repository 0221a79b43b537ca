"""The reference FCNs as Caffe-faithful PyTorch modules.

>>> import nets
>>> net = nets.build("voc-fcn8s")          # a CaffeNet (torch.nn.Module), zero weights until loaded
>>> score = net(data)                      # N x 21 x H x W, same H x W as data
>>> blobs = net.forward_blobs(data)        # every Caffe blob by name
>>> nets.record("voc-fcn8s").train         # everything else known about the net: nets/registry.py
>>> net.precision = "bf16"                 # exact unless asked (nets/precision.py); fast modes where they run

Importing ``nets`` does not import torch (the records and specs are plain data); ``build`` and ``CaffeNet`` do.
"""

from __future__ import annotations

try:  # the kit's data package: importing it refuses a package in the working folder that shadows the kit's
    import data.shadowing  # noqa: F401
except ModuleNotFoundError:  # a package named data in the working folder came first
    raise SystemExit(f"error: {getattr(__import__('sys').modules.get('data'), '__file__', 'data')} shadows the "
                     "kit's data package; run the command from another folder (or rename that package)") from None

import importlib
from typing import TYPE_CHECKING

from .geometry import resolve_crops
from .prototxt import from_prototxt
from .registry import RECORDS, NetRecord, canonical_name, record
from .spec import Layer, NetSpec, frozen_except

if TYPE_CHECKING:
    from .net import CaffeNet

NAMES: tuple[str, ...] = tuple(RECORDS)
# The precision modes (nets/precision.py), named here without torch so that command lines can check a name.
PRECISIONS: tuple[str, ...] = ("exact", "tf32", "bf16", "fp16")


def net_name(value: str) -> str:
    """argparse type of every command's NET: the kit's name (``canonical_name``: hub spelling accepted), or one
    line naming the closest names."""
    import argparse

    try:
        return canonical_name(value)
    except KeyError as e:
        raise argparse.ArgumentTypeError(e.args[0]) from None


def spec(name: str, variant: str | None = None) -> NetSpec:
    """The deploy NetSpec of a kit net, crop offsets derived (and checked against the reference's). A training
    ``variant`` of the net's record (``"fixed"`` for voc-fcn32s) sets lr_mult 0 on every parameter layer it does
    not train; layers, names and weights stay the net's."""
    name = canonical_name(name)
    out = resolve_crops(record(name).spec(name))
    if variant is None:
        return out
    return frozen_except(out, record(name).variant(variant).trained)


def build(name: str, variant: str | None = None, *, precision: str = "exact", device=None) -> CaffeNet:
    """A kit net as a torch Module, in eval mode (dropout off). Parameters are zero, as Caffe's default filler
    leaves them, until weights are loaded (``weights.load``); the frozen upsampling kernels are bilinear and
    the Scale factors the reference's constants from the start. With a ``variant``, the layers it freezes
    (lr_mult 0) hold parameters that do not require gradients.

    ``precision`` (default exact) is the mode every forward runs in (``CaffeNet.precision``), checked against
    ``device`` (default: the CPU, where the net is built): ``nets.build(NET, precision="fp16", device="cuda")``.
    A mode the device cannot run is ``nets.precision.UnsupportedPrecision``, naming the modes it can."""
    from .net import CaffeNet

    net = CaffeNet(spec(canonical_name(name), variant)).eval()
    if device is not None:
        net.to(device)
    net.precision = precision
    return net


def __getattr__(name: str):
    # torch takes seconds to import: the modules that need it load on first use.
    if name == "CaffeNet":
        from .net import CaffeNet

        return CaffeNet
    if name == "bilinear_kernel":
        from .layers import bilinear_kernel

        return bilinear_kernel
    if name in ("precision", "inference"):  # nets.precision.get("bf16"), nets.precision.agreement(...); they need torch
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nets' has no attribute {name!r}")


__all__ = ["NAMES", "RECORDS", "CaffeNet", "Layer", "NetRecord", "NetSpec", "bilinear_kernel", "build",
           "canonical_name", "from_prototxt", "net_name", "record", "spec"]
