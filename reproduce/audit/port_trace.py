"""What a port computes, seen from outside: every module call of one forward pass, in order, with the tensor
it read and the tensor it returned (reproduce.audit.port).

Forward hooks watch every leaf module (and any module that owns parameters directly); nothing of the port's
code is changed. An observer is shown each call's first tensor input as the module reads it and its first tensor
output as it returns it, before an in-place ReLU or anything later rewrites them: the audit compares them with
the kit's blobs there and then, and copies only what differs.

Each module is given the Caffe type it plays (``caffe_type``): Convolution (nn.Conv2d, nn.Linear),
Deconvolution (nn.ConvTranspose2d, nn.Upsample and the kit's own Deconvolution), ReLU, Pooling, Dropout, LRN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from nets.layers import Deconvolution

# Module classes -> the Caffe type they play. Activation and pooling variants are given the type of the layer
# they stand in for, so that a LeakyReLU where Caffe has a ReLU is compared with that ReLU (and found).
UPSAMPLERS = (nn.ConvTranspose2d, nn.Upsample, Deconvolution)
CAFFE_TYPES: tuple[tuple[tuple[type, ...], str], ...] = (
    ((nn.Conv2d, nn.Linear), "Convolution"),
    (UPSAMPLERS, "Deconvolution"),
    ((nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.PReLU), "ReLU"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), "Pooling"),
    ((nn.Dropout, nn.Dropout2d, nn.AlphaDropout), "Dropout"),
    ((nn.LocalResponseNorm,), "LRN"),
)


def caffe_type(module: nn.Module) -> str | None:
    """The Caffe layer type a module plays, or None (a module the audit does not pair: BatchNorm, Identity)."""
    for classes, name in CAFFE_TYPES:
        if isinstance(module, classes):
            return name
    return None


def owns_parameters(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def watched(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules whose calls are recorded: every leaf, and every module holding parameters of its own."""
    return [(name or "(the port itself)", m) for name, m in model.named_modules()
            if next(m.children(), None) is None or owns_parameters(m)]


@dataclass
class Call:
    """One call of a watched module: its place in the forward, its name in the port and the module."""

    index: int
    name: str
    module: nn.Module

    @property
    def kind(self) -> str:
        return type(self.module).__name__


@dataclass
class Trace:
    """One forward pass of the port: its calls in order, its output, and the error it raised (if any)."""

    calls: list[Call] = field(default_factory=list)
    output: torch.Tensor | None = None
    error: str | None = None
    where: str = ""  # the port's last module called before the error


def _first_tensor(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, dict):
        return next((v for v in value.values() if isinstance(v, torch.Tensor)), None)
    return None


def port_output(value) -> torch.Tensor | None:
    """The score tensor a port's forward returned: a tensor, the "out" entry of a dict (torchvision's
    segmentation models), or the first tensor of a tuple or list."""
    if isinstance(value, dict) and isinstance(value.get("out"), torch.Tensor):
        return value["out"]
    return _first_tensor(value)


# What an observer is told: before a call, the tensor the module reads; after it, the tensor it returned. Both
# are the port's own tensors at that moment: an observer that keeps one copies it (an in-place ReLU rewrites
# its input afterwards).
Observer = Callable[[Call, torch.Tensor | None], None]


def trace(model: nn.Module, x: torch.Tensor, before: Observer | None = None, after: Observer | None = None
          ) -> Trace:
    """Run ``model(x)`` once under no_grad with hooks on its watched modules, telling ``before`` and ``after``
    about every call. An exception of the port is caught and kept in ``Trace.error`` with the calls made before
    it: a port that fails on an input size is a finding of the audit, not a crash of it."""
    out = Trace()
    pending: dict[nn.Module, list[Call]] = {}

    def pre(module, args, name):
        call = Call(len(out.calls), name, module)
        out.calls.append(call)
        pending.setdefault(module, []).append(call)
        if before is not None:
            before(call, _first_tensor(args))

    def post(module, args, result, name):
        call = pending[module].pop()
        if after is not None:
            after(call, _first_tensor(result))

    handles = []
    for name, module in watched(model):
        handles.append(module.register_forward_pre_hook(lambda m, a, n=name: pre(m, a, n)))
        handles.append(module.register_forward_hook(lambda m, a, r, n=name: post(m, a, r, n)))
    try:
        with torch.no_grad():
            out.output = port_output(model(x))
        if out.output is None:
            out.error = "its forward returned no tensor"
    except Exception as e:  # noqa: BLE001 -- the port's own code failed: a finding, kept with where it happened
        out.error = f"{type(e).__name__}: {e}".strip()
        out.where = out.calls[-1].name if out.calls else ""
    finally:
        for h in handles:
            h.remove()
    return out
