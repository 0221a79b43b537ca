"""Segmenting a picture of any size within a memory budget: the forward in tiles, exactly.

``forward(net, *inputs, max_memory=...)`` estimates the forward's peak memory from the net's geometry
(``peak_bytes``: every blob's shape is known before anything runs) and runs the net once when it fits, which
is then the plain ``net(*inputs)``. When it does not, it runs the net on overlapping tiles and keeps from each
the part it computes exactly as the untiled net does; the kept parts cover the picture once.

Why a kept output is the untiled one (one axis; the two axes are independent). The tile is the picture's
pixels [t0, t1), its origin t0 a multiple of the net's grid ``stride(spec)`` (the least common multiple of
every blob's stride in input pixels: 32 for the VGG16, AlexNet and GoogLeNet FCNs).

1. Same grid. Each blob has an affine map from its positions to input pixels, x = scale * i + shift
   (nets.geometry.coord_maps). conv1_1 pads both the picture and the tile by the same 100 zeros, so the tile's
   maps are the untiled ones moved by t0: tile position i is untiled position i + t0 / scale, a whole number
   because t0 is a multiple of every scale. So every convolution window, every 2x2 ceil-mode pooling window,
   every deconvolution tap and every crop offset of the tile reads the bottom positions it reads untiled. (An
   origin off the grid shifts a pooling's windows by a fraction of their stride: other maxima, other values;
   tests/test_tiling.py shows it.)
2. Locality. A top position reads only its window of the bottom, so a score pixel at x reads input positions
   within x +- E, its reach (``reach``: conv/pool add scale_bottom * (k - 1) / 2, a deconvolution
   scale_bottom * (k - 1) / (2 s), since its taps lie within (k - 1) / (2 s) bottom positions of the pixel's
   centre; Eltwise and Concat take the largest). For voc-fcn8s E is 245: its receptive field is 460 pixels
   wide (nets.geometry.receptive_fields) but not centred on the pixel. If x +- E lies inside [t0, t1), so does
   the reach of every position x reads, down to the input: it is computed from the tile's own pixels only,
   through the same windows as untiled, and no window reaches what differs: the 100-pixel zero band standing
   where the picture has pixels, a later convolution's zero pad at the tile blob's edge, or the shortened last
   window that ceil-mode pooling adds at a blob's end all lie beyond the tile's first or last pixel. (Such a
   position also exists in the tile's blob: every layer has an output wherever its whole window is inside its
   bottom, and a deconvolution's window is never empty, k >= s.) So a tile keeps [t0 + E, t1 - E).
3. Borders. Where the tile's edge is the picture's edge (t0 = 0 or t1 = n) the tile sees beyond it what the
   untiled net sees: the same 100-pixel band, and because n - t0 is n less a multiple of the grid, every blob
   of the tile is the untiled blob less its first t0 / scale positions (conv_out, pool_out and deconv_out shift
   by whole strides), so it ends where the untiled blob ends, with the same zero pad and the same ceil-mode
   last window. There the kept part runs to the picture's edge.

Tiles are laid on the grid: kept parts are [a, b) with a a multiple of the grid, and the tile adds a halo of
``halo(spec)`` (the reach rounded up to the grid) on each side that is not a picture edge. The kept scores
equal the untiled ones up to float rounding (the fast path's algorithms sum in orders that depend on the blob
sizes); tests/test_tiling.py checks 1e-5 on every net family.

The budget (``--max-memory``; default 4 GiB on a CPU, the device's free memory on a GPU) counts the net's
weights, the picture's input tensors and the stitched result where they live on the forward's device, and the
forward's peak, estimated and then given HEADROOM (the Winograd path's scratch put the measured peak 8% over the
estimate on a 6000x4000 picture's tiles); the Python and torch runtime (about half a GiB) is not in it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import torch

from .geometry import SAME_GEOMETRY, blob_sizes, coord_maps
from .spec import NetSpec

DEFAULT_CPU_BUDGET = 4 * 2**30  # bytes: the default --max-memory on a CPU
# A tile's forward must fit with this much room over its estimate, which leaves out the Winograd path's scratch
# (16 transformed copies of a conv4/conv5 input, where a CPU takes it): on voc-fcn8s's 6000x4000 tiles with
# Winograd the forward added 3.09 GiB to the process where peak_bytes said 2.87 (8% over), without it 2.60.
HEADROOM = 1.10
_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


class MemoryBudgetError(ValueError):
    """A budget too small for even the smallest tile, or a result too large for the budget."""


def parse_bytes(text: str) -> int:
    """'4GiB', '2.5 GB', '512MiB', '3000000000' -> bytes (GiB, MiB, KiB are powers of 1024; GB, MB, KB of 1000)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else None
    if m is None or unit not in _UNITS or float(m.group(1)) <= 0:
        raise ValueError(f"memory size {text!r}: expected a positive number with an optional unit (B, KiB, MiB, "
                         f"GiB, TiB, KB, MB, GB, TB), e.g. 2GiB or 1500MB")
    return int(float(m.group(1)) * _UNITS[unit])


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def default_budget(device: torch.device | str) -> int:
    """4 GiB on a CPU; on a GPU what this process may use there: the free memory plus what torch holds already
    (the weights among it, which the plan counts)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device)
    return DEFAULT_CPU_BUDGET


# ---- geometry ---------------------------------------------------------------------------------------------------

def stride(spec: NetSpec) -> int:
    """The grid tile origins must lie on: the least common multiple of every blob's stride in input pixels."""
    grid = 1
    for m in coord_maps(spec).values():
        grid = math.lcm(grid, m.scale.numerator)  # origin / scale is whole iff the scale's numerator divides it
    return grid


def reach(spec: NetSpec) -> Fraction:
    """How far from a score pixel (in input pixels, each way) the input it depends on can lie (module
    docstring, point 2). Every output must be aligned to the input (the FCNs' final crop makes it so)."""
    maps = coord_maps(spec)
    ext: dict[str, Fraction] = {name: Fraction(0) for name in spec.inputs}
    for layer in spec.layers:
        e, scale = ext[layer.bottom[0]], maps[layer.bottom[0]].scale
        if layer.type in ("Convolution", "Pooling"):
            top = e + scale * Fraction(layer.kernel_size - 1, 2)
        elif layer.type == "Deconvolution":
            if layer.kernel_size < layer.stride:
                raise ValueError(f"layer {layer.name!r}: a deconvolution with kernel {layer.kernel_size} < stride "
                                 f"{layer.stride} leaves outputs no input reaches; tiling needs kernel >= stride")
            top = e + scale * Fraction(layer.kernel_size - 1, 2 * layer.stride)
        elif layer.type in ("Eltwise", "Concat"):
            top = max(ext[b] for b in layer.bottom)
        elif layer.type == "Crop" or layer.type in SAME_GEOMETRY:
            top = e
        else:
            raise ValueError(f"layer {layer.name!r}: no reach known for Caffe type {layer.type!r}")
        for t in layer.top:
            ext[t] = top
    for out in spec.outputs:
        if maps[out].scale != 1 or maps[out].shift != 0:
            raise ValueError(f"{spec.name}: output {out!r} maps to input pixels as {maps[out]}; tiling expects "
                             "outputs aligned to the input (scale 1, shift 0), as the FCNs' final crop makes them")
    return max(ext[o] for o in spec.outputs)


def halo(spec: NetSpec) -> int:
    """The margin a tile takes beyond its kept part on a side that is not the picture's edge: the reach
    rounded up to the grid (so that tile origins stay on it). 256 for voc-fcn8s (reach 245, grid 32)."""
    grid = stride(spec)
    return math.ceil(reach(spec) / grid) * grid


# ---- memory -----------------------------------------------------------------------------------------------------

def blob_bytes(spec: NetSpec, height: int, width: int, itemsize: int = 4) -> dict[str, int]:
    """Bytes of every blob of a batch-1 forward on a height x width input."""
    sizes, channels = blob_sizes(spec, height, width), spec.channels()
    return {b: channels[b] * h * w * itemsize for b, (h, w) in sizes.items()}


def workspace_bytes(spec: NetSpec, height: int, width: int, itemsize: int = 4) -> dict[str, int]:
    """Scratch memory a layer may take beyond its top: an unpadded convolution with a kernel over 1x1 (fc6) runs
    as a matrix product over its im2col matrix (Cin k k x output positions, Caffe's own formulation), any other
    convolution may copy its bottom once (padding, a memory layout)."""
    sizes, channels = blob_sizes(spec, height, width), spec.channels()
    out = {}
    for layer in spec.layers:
        if layer.type != "Convolution":
            continue
        c_in = channels[layer.bottom[0]]
        h, w = sizes[layer.top[0]] if layer.pad == 0 and layer.kernel_size > 1 else sizes[layer.bottom[0]]
        lowered = layer.kernel_size ** 2 // layer.group if layer.pad == 0 and layer.kernel_size > 1 else 1
        out[layer.name] = c_in * lowered * h * w * itemsize
    return out


def peak_bytes(spec: NetSpec, height: int, width: int, itemsize: int = 4) -> int:
    """The estimated peak of a batch-1 forward (the inputs included): layer by layer, the blobs still to be read
    plus the layer's top and its workspace, a blob freed after its last reader as nets.net frees it. An upper
    bound in what was measured: voc-fcn8s's forward on a CPU added 195 MiB, 581 MiB and 2.3 GiB to the
    process's peak resident memory at 512x512, 1024x768 and 2048x1536 (estimates 372 MiB, 874 MiB, 2.8 GiB);
    tests/test_tiling.py bounds the tensors a forward allocates within 2.5x on every net family."""
    size, work = blob_bytes(spec, height, width, itemsize), workspace_bytes(spec, height, width, itemsize)
    last_use = {b: i for i, layer in enumerate(spec.layers) for b in layer.bottom}
    live = {b: size[b] for b in spec.inputs}
    peak = sum(live.values())
    for i, layer in enumerate(spec.layers):
        top = layer.top[0]
        before = sum(v for b, v in live.items() if not (b == top and layer.in_place))
        peak = max(peak, before + size[top] + work.get(layer.name, 0))
        live[top] = size[top]
        for b in set(layer.bottom) - {top}:
            if last_use[b] == i and b not in spec.outputs:
                del live[b]
    return peak


# ---- tiles ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """One axis of a tile: it reads input [start, stop) and keeps output [keep_start, keep_stop)."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def spans(n: int, keep: int, margin: int) -> list[Span]:
    """Tiles along an axis of n pixels: kept parts of ``keep`` pixels (a multiple of the grid) from 0, each read
    with ``margin`` more pixels on each side the picture allows."""
    out = []
    for a in range(0, n, keep):
        b = min(n, a + keep)
        out.append(Span(max(0, a - margin), min(n, b + margin), a, b))
    return out


@dataclass(frozen=True)
class Plan:
    """How a forward runs: ``tiles`` (row span, column span) pairs, one tile holding the whole picture when the
    forward fits; ``peak`` the estimated bytes of the largest tile's forward; ``fixed`` the bytes held
    throughout (weights, inputs, result)."""

    size: tuple[int, int]
    tiles: tuple[tuple[Span, Span], ...]
    peak: int
    fixed: int
    budget: int

    @property
    def tiled(self) -> bool:
        return len(self.tiles) > 1


def plan(spec: NetSpec, height: int, width: int, budget: int, fixed: int = 0, itemsize: int = 4) -> Plan:
    """The fewest tiles whose forward fits ``budget`` bytes beside ``fixed`` bytes; the whole picture as one tile
    when it fits. Kept parts are as square as the picture allows, multiples of the grid."""
    def fits(peak: int) -> bool:
        return math.ceil(peak * HEADROOM) + fixed <= budget

    whole = peak_bytes(spec, height, width, itemsize)
    if fits(whole):
        return Plan((height, width), ((Span(0, height, 0, height), Span(0, width, 0, width)),), whole, fixed,
                    budget)
    grid, margin = stride(spec), halo(spec)
    best = None
    for keep in range(math.ceil(max(height, width) / grid) * grid, 0, -grid):
        # the same number of tiles with kept parts spread evenly (no sliver at the end)
        kh = math.ceil(math.ceil(height / math.ceil(height / keep)) / grid) * grid
        kw = math.ceil(math.ceil(width / math.ceil(width / keep)) / grid) * grid
        peak = peak_bytes(spec, min(height, kh + 2 * margin), min(width, kw + 2 * margin), itemsize)
        if fits(peak):
            best = (kh, kw, peak)
            break
    if best is None:
        smallest = math.ceil(peak_bytes(spec, min(height, grid + 2 * margin), min(width, grid + 2 * margin),
                                        itemsize) * HEADROOM)
        raise MemoryBudgetError(
            f"{spec.name}: a memory budget of {format_bytes(budget)} is too small for a {width}x{height} picture: "
            f"the weights, the picture and the result take {format_bytes(fixed)} and the smallest tile "
            f"({grid}x{grid} kept, {margin} pixels of margin each side) {format_bytes(smallest)}; expected at "
            f"least {format_bytes(fixed + smallest)}: give --max-memory {math.ceil((fixed + smallest) / 2**20)}MiB "
            "or more, or a smaller picture")
    kh, kw, peak = best
    tiles = tuple((r, c) for r in spans(height, kh, margin) for c in spans(width, kw, margin))
    return Plan((height, width), tiles, peak, fixed, budget)


# ---- running it -------------------------------------------------------------------------------------------------

def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def weights_bytes(net: torch.nn.Module) -> int:
    """The net's parameters and buffers (the frozen upsamplers), as held now."""
    return _nbytes(net.parameters()) + _nbytes(net.buffers())


def _run(net, tiles: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    out = net(*tiles)
    return out if isinstance(out, tuple) else (out,)


def plan_for(net, *inputs: torch.Tensor, max_memory: int | None = None, device: torch.device | str | None = None,
             labels: bool = False) -> Plan:
    """The plan ``forward`` follows for these arguments (the same defaults)."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    first = inputs[0]
    if first.dim() != 4 or first.shape[0] != 1:
        raise ValueError(f"{net.name}: a tiled forward takes batch-1 inputs (1 x C x H x W), got "
                         f"{tuple(first.shape)}; give the pictures one at a time")
    height, width = first.shape[2:]
    budget = max_memory if max_memory is not None else default_budget(device)
    itemsize = first.element_size()
    channels = net.spec.channels()
    per_pixel = sum(1 if labels else channels[o] * itemsize for o in net.outputs)
    # the picture and the result count where they live on the forward's device (on a GPU they stay on the host)
    held = _nbytes(inputs) + per_pixel * height * width if first.device == device else 0
    return plan(net.spec, height, width, budget, weights_bytes(net) + held, itemsize)


def forward(net, *inputs: torch.Tensor, max_memory: int | None = None, device: torch.device | str | None = None,
            labels: bool = False, progress: bool = True) -> tuple[torch.Tensor, ...]:
    """The net's output blobs for batch-1 ``inputs``, within ``max_memory`` bytes (default ``default_budget`` of
    the device), on ``device`` (default: where the net's weights are; the inputs may stay elsewhere, as on the
    CPU, and each tile goes to the device in turn). With ``labels`` each output is reduced to its label map
    (argmax over classes, 1 x H x W uint8) tile by tile, so the result takes one byte a pixel instead of four
    a score.

    One forward when it fits: then exactly ``net(*inputs)`` (and its argmax). Otherwise tiles (module
    docstring), with a progress bar on stderr when ``progress``; results come back where the inputs are."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    first = inputs[0]
    p = plan_for(net, *inputs, max_memory=max_memory, device=device, labels=labels)
    height, width = p.size
    if not p.tiled:
        outs = _run(net, [x.to(device) for x in inputs])
        outs = tuple(_reduce(o) if labels else o for o in outs)
        return tuple(o.to(first.device) for o in outs)
    results: list[torch.Tensor | None] = [None] * len(net.outputs)
    for rows, cols in _progress(p, net.name, progress):
        for j, kept in enumerate(_tile(net, inputs, rows, cols, device, labels)):
            if results[j] is None:
                results[j] = torch.empty((1, kept.shape[1], height, width), dtype=kept.dtype, device=first.device)
            results[j][:, :, rows.keep_start:rows.keep_stop, cols.keep_start:cols.keep_stop] = kept
    return tuple(results)


def _tile(net, inputs: tuple[torch.Tensor, ...], rows: Span, cols: Span, device: torch.device,
          labels: bool) -> list[torch.Tensor]:
    """One tile's forward: the kept part of each output (its label map with ``labels``), where the inputs are.
    Exact only for spans ``plan`` makes (origins on the grid, margins of at least the reach)."""
    outs = _run(net, [x[:, :, rows.start:rows.stop, cols.start:cols.stop].to(device) for x in inputs])
    r0, r1 = rows.keep_start - rows.start, rows.keep_stop - rows.start
    c0, c1 = cols.keep_start - cols.start, cols.keep_stop - cols.start
    kept = [o[:, :, r0:r1, c0:c1] for o in outs]
    return [(_reduce(k) if labels else k).to(inputs[0].device) for k in kept]


def _reduce(scores: torch.Tensor) -> torch.Tensor:
    return scores.argmax(dim=1, keepdim=True).to(torch.uint8)


def _progress(p: Plan, name: str, show: bool) -> Iterator[tuple[Span, Span]]:
    if not show:
        return iter(p.tiles)
    from tqdm import tqdm

    h, w = p.size
    desc = (f"{name} {w}x{h} in {len(p.tiles)} tiles (est. {format_bytes(p.peak)} each, budget "
            f"{format_bytes(p.budget)})")
    return iter(tqdm(p.tiles, desc=desc, unit="tile", dynamic_ncols=True))

