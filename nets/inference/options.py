"""The inference path's options and when it runs: ``applies`` (eval mode, autograd off, no export) unless the one
switch ``disabled()`` turns it off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

# Off inside ``disabled()``; a context variable, so that threads and asyncio tasks each keep their own setting.
_ENABLED: ContextVar[bool] = ContextVar("nets_inference_enabled", default=True)


@dataclass(frozen=True)
class Options:
    """The speed-ups of this path, each exact; all on by default (Winograd where it pays). Switching them off
    one at a time is for the benchmark's account of what each buys (``benchmarks.inference --steps``)."""

    windows: bool = True  # trunk held as constant + window (off: every trunk blob whole)
    gemm: bool = True  # on a CPU, convolutions whose weight outnumbers their output (fc6, fc7, scores) as a GEMM
    crop_deconv: bool = True  # the final upsampling computed only over what the crop keeps
    # On a CPU, the wide 3x3 convolutions as Winograd F(2x2, 3x3) (``winograd_conv``): True, False, or "auto",
    # where it measures faster than the direct convolution on this machine (``winograd_choice``).
    winograd: bool | str = "auto"


DEFAULT = Options()


def applies(net) -> bool:
    """The inference path runs for inference: eval mode (dropout off) and autograd off, unless ``disabled()``.
    An export (ONNX, TorchScript tracing) records the plain path: its graph is the Caffe net, layer for layer."""
    if not _ENABLED.get() or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
        return False
    return not net.training and not torch.is_grad_enabled()


@contextmanager
def disabled() -> Iterator[None]:
    """The switch that turns the inference path off: within it, every forward runs the plain layer-by-layer path
    of nets.net (as training does); the setting before it is restored on exit.

    >>> with nets.inference.disabled():
    ...     plain = net(x)
    """
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)
