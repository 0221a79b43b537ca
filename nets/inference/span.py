"""The geometry of a window, one axis at a time: ``Span`` (a trunk blob held as c + Y) and how a layer maps one."""

from __future__ import annotations

from dataclasses import dataclass

from ..geometry import conv_out, pool_out
from ..spec import Layer

# Layers a trunk window passes through. Dropout is the identity in eval mode, the only mode used here.
_WINDOWED = ("Convolution", "ReLU", "Pooling", "LRN", "Dropout", "Scale")


@dataclass(frozen=True)
class Span:
    """One axis of a trunk blob held as c + Y.

    n: blob size; [lo, hi]: positions where Y is computed (Y is exactly 0 outside); [0, rim_lo) and
    [n - rim_hi, n): the edge zones, whose values depend on the blob's border (zero padding of a convolution
    reached through the layers), not on the image."""

    n: int
    lo: int
    hi: int
    rim_lo: int = 0
    rim_hi: int = 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _geometry(layer: Layer) -> tuple[int, int, int, bool]:
    """(kernel, stride, pad, pads with zeros) of a layer that moves pixels; (1, 1, 0, False) for pointwise ones."""
    if layer.type == "Convolution":
        return layer.kernel_size, layer.stride, layer.pad, True
    if layer.type == "Pooling":
        return layer.kernel_size, layer.stride, layer.pad, False
    return 1, 1, 0, False


def _out_size(layer: Layer, n: int) -> int:
    k, s, p, _ = _geometry(layer)
    if layer.type == "Convolution":
        return conv_out(n, k, s, p)
    if layer.type == "Pooling":
        return pool_out(n, k, s, p)
    return n


def root_span(layer: Layer, n_in: int) -> Span | None:
    """The window of a convolution over an ordinary tensor of size n_in: the outputs whose kernel reaches it.
    The others see only the zero padding, so they hold the bias. None unless a constant band is left on both
    sides (only conv1_1's pad of 100 makes one)."""
    k, s, p, _ = _geometry(layer)
    n = conv_out(n_in, k, s, p)
    lo = max(0, _ceil_div(p - k + 1, s))
    hi = min(n - 1, (n_in - 1 + p) // s)
    if lo < 1 or hi > n - 2:
        return None
    return Span(n, lo, hi)


def _rims(layer: Layer, n_in: int, rim_lo: int, rim_hi: int, n_out: int) -> tuple[int, int]:
    """Edge zones of a layer's top: the outputs whose kernel reaches the bottom's edge zones, or (for a
    zero-padding convolution) its padding. Max pooling's clipped last window only drops values, so it makes no
    zone of its own."""
    k, s, p, zero_pad = _geometry(layer)
    pads = zero_pad and p > 0
    t = max(rim_lo - 1, -1) if pads else rim_lo - 1  # last edge-dependent bottom position at the start
    out_lo = 0 if t + p < 0 else min(n_out, (t + p) // s + 1)
    if rim_hi == 0 and not pads:
        return out_lo, 0
    u = n_in - rim_hi  # first edge-dependent bottom position at the end (the padding starts at n_in)
    first = max(0, _ceil_div(u + p - k + 1, s))
    return out_lo, max(0, n_out - first)


def next_span(layer: Layer, span: Span) -> Span | None:
    """The window of a windowed layer's top, or None where its kernels would reach an edge zone (then the
    bottom becomes an ordinary tensor and the layer runs as usual)."""
    n_out = _out_size(layer, span.n)
    k, s, p, _ = _geometry(layer)
    lo = max(0, _ceil_div(span.lo + p - k + 1, s))
    hi = min(n_out - 1, (span.hi + p) // s)
    need_lo, need_hi = s * lo - p, s * hi - p + k - 1
    if need_lo < span.rim_lo or need_hi > span.n - 1 - span.rim_hi:
        return None
    rim_lo, rim_hi = _rims(layer, span.n, span.rim_lo, span.rim_hi, n_out)
    return Span(n_out, lo, hi, rim_lo, rim_hi)


def needed(layer: Layer, out: Span) -> tuple[int, int]:
    """Bottom positions [first, last] that the top's window [out.lo, out.hi] reads."""
    k, s, p, _ = _geometry(layer)
    return s * out.lo - p, s * out.hi - p + k - 1
