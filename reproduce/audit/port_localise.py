"""Where a port stops computing the reference's net, and how (reproduce.audit.port).

The kit's net runs layer by layer (``CaffeNet.forward_layers``: every top as its layer wrote it). The port runs
once with hooks (port_trace): each module call it makes is paired with the kit layer it plays (the weight
mapping for parameter layers and upsamplings, the order of calls for ReLU, pooling, dropout and LRN modules),
and the tensor the module reads is compared with what that kit layer reads, the tensor it returns with what the
kit layer writes; the port's output is compared with the net's output. The comparisons are walked in the kit's
layer order, and the first that fails is the first Caffe blob the port does not reproduce.

What kind of difference it is:

- a module's output differs while its input agrees: the module's own settings say which (a padding, floor
  instead of ceil rounding, an upsampling's kernel and stride, an activation that is not a ReLU);
- a tensor the port makes in functional code (a crop, a sum, an interpolation) differs: the kit layers
  between the last tensors that agree and this one are the suspects, and each is tried in turn: a constant
  factor (the at-once net's Scale), a crop whose offset is not the reference's (the shift that lines the
  port's crop up with the blob it crops; through a sum, the other operand subtracted first), an upsampling
  that is an interpolation (the kit's Deconvolutions without a module in the port replaced by F.interpolate in
  each mode, the crops they feed dropped, and the result compared with the port's), floor pooling (sizes);
- a port that raises at some input size: where, and the error.

Anything else is reported with the blob, the error and what was ruled out.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nets import geometry
from nets.layers import Deconvolution
from nets.net import CaffeNet
from nets.spec import Layer

from .port_mapping import Mapping, shape_text
from .port_trace import Call, Trace, caffe_type, trace

# As the Caffe parity suite: max abs error over max abs kit value, and the argmax agreement of the output.
TOLERANCE = 1e-4
ARGMAX_AGREEMENT = 0.9999

# The kinds of difference, as the record names them.
SHIFT, PADDING, FLOOR, UPSAMPLING, SCALE, ERROR, OTHER = (
    "spatial shift", "input padding", "floor pooling", "upsampling", "scale", "error", "something else")

# The interpolations tried where the port upsamples without a module: (mode, align_corners).
INTERPOLATIONS = (("bilinear", False), ("bilinear", True), ("nearest", None), ("nearest-exact", None),
                  ("bicubic", False), ("bicubic", True))


def interpolation_text(mode: str, corners: bool | None) -> str:
    return f"F.interpolate(mode={mode!r}" + ("" if corners is None else f", align_corners={corners}") + ")"


def size_text(shape) -> str:
    """"HxW" of an N x C x H x W shape (or of an (H, W) pair)."""
    return shape_text(tuple(shape)[-2:])


# ---- the kit's side --------------------------------------------------------------------------------------


@dataclass
class KitPass:
    """The kit net's forward at one input: every layer's top, and for each layer which tops it read (the
    index of the layer that wrote each bottom; -1 for the input). A ReLU's top is not kept but recomputed
    from its bottom when asked for: a VGG16 trunk's blobs at 500x500 take half the memory so."""

    layers: list[Layer]
    tops: list[torch.Tensor | None]
    reads: list[list[int]]
    data: torch.Tensor
    output: int  # the layer that wrote the net's output

    def value(self, version: int) -> torch.Tensor:
        if version < 0:
            return self.data
        top = self.tops[version]
        return torch.relu(self.value(self.reads[version][0])) if top is None else top

    def blob(self, version: int) -> str:
        return "data" if version < 0 else self.layers[version].top[0]

    def index(self, name: str) -> int:
        return next(i for i, x in enumerate(self.layers) if x.name == name)


def kit_pass(net: CaffeNet, x: torch.Tensor) -> KitPass:
    writer = {net.inputs[0]: -1}
    layers, tops, reads = [], [], []
    with torch.no_grad():
        for i, (layer, top) in enumerate(net.forward_layers(x)):
            reads.append([writer[b] for b in layer.bottom])
            writer[layer.top[0]] = i
            layers.append(layer)
            tops.append(None if layer.type == "ReLU" else top)
    return KitPass(layers, tops, reads, x, writer[net.outputs[0]])


# ---- comparing ---------------------------------------------------------------------------------------------


def relative_error(kit: torch.Tensor, port: torch.Tensor) -> float:
    """max |kit - port| / max |kit| (NaN anywhere counts as infinitely wrong)."""
    if not kit.numel():
        return 0.0
    port = port.to(kit.dtype)
    diff = torch.sub(kit, port).abs_().max().item()
    scale = max(kit.max().item(), -kit.min().item())
    err = diff / scale if scale > 0 else diff
    return math.inf if math.isnan(err) else err


def as_kit_layout(kit: torch.Tensor, port: torch.Tensor) -> torch.Tensor | None:
    """The port's tensor in the kit's N x C x H x W layout: as it is, from channels-last (an nn.Linear applied
    per pixel), or from N x C (an nn.Linear fc on a 1 x 1 blob); None when it has another shape."""
    if port.shape == kit.shape:
        return port
    if port.dim() == 4 and port.permute(0, 3, 1, 2).shape == kit.shape:
        return port.permute(0, 3, 1, 2)
    if port.dim() == 2 and kit.dim() == 4 and kit.shape[2:] == (1, 1) and port.shape == kit.shape[:2]:
        return port[:, :, None, None]
    return None


@dataclass
class Check:
    """One comparison: a kit blob (the version ``version`` wrote) against the port's tensor there."""

    key: tuple[int, int]  # (kit layer, 0: what it reads / 1: what it writes); the output is (layers, 2)
    layer: str
    blob: str
    side: str  # "reads", "writes" or "output"
    version: int
    port: str  # the port's module (or "the port's output")
    kit_shape: tuple[int, ...]
    port_shape: tuple[int, ...] | None
    error: float | None
    status: str  # "ok", "differs", "shape" or "missing"
    module: nn.Module | None = field(default=None, repr=False, compare=False)
    input_shape: tuple[int, ...] | None = None  # what the port's module read (for a "writes" check)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        if self.side == "writes":
            return self.layer
        if self.side == "output":
            return f"{self.blob} (the output)"
        return f"{self.blob} (read by {self.layer})"


class Comparer:
    """The observer of one port forward: pairs each call with its kit layer and compares on the spot, keeping a
    copy of the port's tensor only for the earliest comparison (in the kit's order) that fails."""

    def __init__(self, kit: KitPass, mapping: Mapping):
        self.kit = kit
        self.layer_of_module = {m: kit.index(name) for m, name in mapping.by_module.items()}
        self.by_type = {t: [i for i, x in enumerate(kit.layers) if x.type == t] for t in mapping.by_order}
        self.seen: Counter[str] = Counter()
        self.pairing: dict[int, int | None] = {}
        self.inputs: dict[int, tuple[int, ...]] = {}
        self.checks: list[Check] = []
        self.first: tuple[Check, torch.Tensor] | None = None
        # The port's last output and its check: the next module usually reads that very tensor (conv, then its
        # ReLU, then the pooling), which need not be compared twice.
        self.last: tuple[tuple, Check] | None = None

    def _layer(self, call: Call) -> int | None:
        if call.module in self.layer_of_module:
            return self.layer_of_module[call.module]
        kind = caffe_type(call.module)
        if kind in self.by_type:
            n = self.seen[kind]
            self.seen[kind] += 1
            return self.by_type[kind][n] if n < len(self.by_type[kind]) else None
        return None

    def before(self, call: Call, t: torch.Tensor | None) -> None:
        i = self._layer(call)
        self.pairing[call.index] = i
        if i is not None and t is not None:
            self.inputs[call.index] = tuple(t.shape)
            version = self.kit.reads[i][0]
            last = self.last
            if last is not None and last[0] == _identity(t) and last[1].version == version:
                c = last[1]
                self.checks.append(Check((i, 0), self.kit.layers[i].name, c.blob, "reads", version, call.name,
                                         c.kit_shape, c.port_shape, c.error, c.status))
            else:
                self.compare((i, 0), i, version, "reads", call.name, t, call.module)

    def after(self, call: Call, t: torch.Tensor | None) -> None:
        i = self.pairing.get(call.index)
        self.last = None
        if i is not None and t is not None:
            check = self.compare((i, 1), i, i, "writes", call.name, t, call.module, self.inputs.get(call.index))
            self.last = (_identity(t), check)

    def compare(self, key, i: int, version: int, side: str, port: str, t: torch.Tensor, module=None,
                input_shape=None) -> Check:
        kit = self.kit.value(version)
        layer = self.kit.layers[i].name if i < len(self.kit.layers) else self.kit.layers[-1].name
        p = as_kit_layout(kit, t)
        if p is None:
            status, err = "shape", None
        else:
            err = relative_error(kit, p)
            status = "ok" if err <= TOLERANCE else "differs"
        check = Check(key, layer, self.kit.blob(version), side, version, port, tuple(kit.shape),
                      tuple(t.shape), err, status, module, input_shape)
        self.checks.append(check)
        if not check.ok and (self.first is None or key < self.first[0].key):
            self.first = (check, (p if p is not None else t).detach().clone())
        return check


def _identity(t: torch.Tensor) -> tuple:
    """A tensor as it is now: its storage, view and in-place version (a ReLU that rewrites it changes it)."""
    return id(t), t.data_ptr(), tuple(t.shape), t.stride(), t._version


@dataclass
class Finding:
    """The first difference: the Caffe blob (or layer) the port does not reproduce, the kind, and what a reader
    confirms in the port's code."""

    blob: str
    kind: str
    message: str
    size: tuple[int, int]
    key: tuple[int, int]
    details: list[str] = field(default_factory=list)
    offset: tuple[int, int] | None = None
    reference_offset: int | None = None
    padding: int | None = None
    factor: float | None = None
    interpolation: str | None = None


@dataclass
class SizeRun:
    """One input size: every comparison, the output's error and argmax agreement, the port's error if it
    raised, and the first difference found there."""

    size: tuple[int, int]
    checks: list[Check]
    output_error: float | None
    argmax_agreement: float | None
    output_shapes: tuple[tuple[int, ...], tuple[int, ...] | None]
    error: str | None
    where: str
    finding: Finding | None = None
    seconds: float = 0.0  # both nets, the comparisons and the localisation

    @property
    def first(self) -> Check | None:
        failed = [c for c in self.checks if not c.ok]
        return min(failed, key=lambda c: c.key) if failed else None

    @property
    def equal(self) -> bool:
        return self.first is None and self.error is None


def run_size(port: nn.Module, net: CaffeNet, mapping: Mapping, kit_input: torch.Tensor,
             port_input: torch.Tensor) -> SizeRun:
    """Both nets at one input, compared point by point; the first difference localised."""
    start = time.perf_counter()
    kit = kit_pass(net, kit_input)
    comparer = Comparer(kit, mapping)
    done: Trace = trace(port, port_input, comparer.before, comparer.after)
    n = len(kit.layers)
    out_kit = kit.value(kit.output)
    output_error = agreement = None
    if done.output is not None:
        check = comparer.compare((n, 2), n, kit.output, "output", "the port's output", done.output)
        output_error = check.error
        if check.status != "shape":
            p = as_kit_layout(out_kit, done.output)
            agreement = (out_kit.argmax(1) == p.argmax(1)).double().mean().item()
    if done.error is not None:
        # Where the port stopped: the first kit layer after the last one it reached.
        last = max((c.key[0] for c in comparer.checks), default=-1)
        nxt = min(last + 1, n - 1)
        check = Check((last, 2), kit.layers[nxt].name, kit.layers[nxt].name, "reads", nxt, done.where or "-",
                      tuple(kit.value(nxt).shape), None, None, "missing")
        comparer.checks.append(check)
        if comparer.first is None or check.key < comparer.first[0].key:
            comparer.first = None
    comparer.checks.sort(key=lambda c: c.key)
    run = SizeRun(tuple(kit_input.shape[2:]), comparer.checks, output_error, agreement,
                  (tuple(out_kit.shape), None if done.output is None else tuple(done.output.shape)),
                  done.error, done.where)
    first = run.first
    if first is not None:
        known = {c.version for c in run.checks if c.ok}
        port_value = comparer.first[1] if comparer.first and comparer.first[0] is first else None
        run.finding = localise(kit, net, mapping, first, port_value, known, run)
    run.seconds = time.perf_counter() - start
    return run


# ---- what kind of difference -------------------------------------------------------------------------------


def localise(kit: KitPass, net: CaffeNet, mapping: Mapping, check: Check, port: torch.Tensor | None,
             known: set[int], run: SizeRun) -> Finding:
    """The first difference at one size, classified."""
    size = run.size
    if check.status == "missing" or port is None:
        return Finding(check.layer, ERROR, f"{check.layer}: the port raises at the {size_text(size)} input before "
                       f"it computes it: {run.error} (the port's last module called: {run.where or 'none'})",
                       size, check.key)
    if check.side == "writes":
        return _module_finding(kit, check, port, size)
    return _blob_finding(kit, net, mapping, check, port, known, size)


def _conv_settings(m: nn.Module) -> dict[str, int] | None:
    if isinstance(m, nn.Conv2d) and not isinstance(m.padding, str):
        return {"kernel": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0], "dilation": m.dilation[0],
                "group": m.groups}
    return None


def _explained_padding(in_shape, out_shape, k: int, s: int) -> list[int]:
    """The padding p with (in + 2p - k) // s + 1 == out, per spatial axis (stride-1 exact)."""
    return [((o - 1) * s + k - i) // 2 for i, o in zip(in_shape[-2:], out_shape[-2:], strict=True)]


def _module_finding(kit: KitPass, check: Check, port: torch.Tensor, size) -> Finding:
    """A module of the port returns other values (or another size) than its kit layer from the same input."""
    layer = kit.layers[check.key[0]]
    m = check.module
    kind_name = type(m).__name__
    shapes = (f"its output is {size_text(check.port_shape)} where the reference's is {size_text(check.kit_shape)} "
              f"for the {size_text(size)} input")
    if layer.type == "Convolution":
        ours = _conv_settings(m)
        ref = {"kernel": layer.kernel_size, "stride": layer.stride, "pad": layer.pad, "dilation": 1,
               "group": layer.group}
        diffs = {k: (ours[k], v) for k, v in ref.items() if ours is not None and ours[k] != v}
        if "pad" in diffs and check.status == "shape":
            explained = _explained_padding(check.input_shape or check.kit_shape, check.port_shape, layer.kernel_size,
                                           layer.stride)
            first_conv = next(x for x in kit.layers if x.type == "Convolution").name == layer.name
            what = "input padding" if first_conv else "padding"
            return Finding(layer.name, PADDING,
                           f"{layer.name}: {what} {diffs['pad'][0]} where the reference's is {layer.pad}: {shapes}; "
                           f"a padding of {_pair(explained)} explains the port's size", size, check.key,
                           padding=diffs["pad"][0])
        if diffs:
            said = ", ".join(f"{k} {a} where the reference's is {b}" for k, (a, b) in diffs.items())
            return Finding(layer.name, OTHER, f"{layer.name}: {kind_name} with {said} ({shapes})", size, check.key)
        return Finding(layer.name, OTHER, f"{layer.name}: the port's {check.port} ({kind_name}) reads what the "
                       f"reference's reads and holds its weights, yet returns other values (error "
                       f"{_err(check)}); ruled out: its kernel, stride, padding, dilation and groups", size,
                       check.key)
    if layer.type == "Pooling":
        if isinstance(m, nn.MaxPool2d):
            k, s, p = (_one(m.kernel_size), _one(m.stride), _one(m.padding))
            if (k, s, p) == (layer.kernel_size, layer.stride, layer.pad) and not m.ceil_mode:
                return Finding(layer.name, FLOOR, f"{layer.name}: nn.MaxPool2d rounds its output size down "
                               f"(ceil_mode=False) where Caffe's pooling rounds up: {shapes}", size, check.key)
            if (k, s, p) != (layer.kernel_size, layer.stride, layer.pad):
                return Finding(layer.name, OTHER, f"{layer.name}: nn.MaxPool2d k{k} s{s} p{p} where the reference's "
                               f"is k{layer.kernel_size} s{layer.stride} p{layer.pad} ({shapes})", size, check.key)
        return Finding(layer.name, OTHER, f"{layer.name}: the port's {kind_name} differs from Caffe's MAX pooling "
                       f"k{layer.kernel_size} s{layer.stride} (error {_err(check)}; {shapes})", size, check.key)
    if layer.type == "Deconvolution":
        return Finding(layer.name, UPSAMPLING, f"{layer.name}: the port upsamples with {_upsampling_text(m)} where "
                       f"the reference's is a frozen bilinear Deconvolution k{layer.kernel_size} s{layer.stride} "
                       f"without padding (error {_err(check)}; {shapes})", size, check.key)
    what = {"ReLU": "a ReLU", "Dropout": "Dropout (the identity at test time)", "LRN": "Caffe's LRN"}[layer.type]
    return Finding(layer.name, OTHER, f"{layer.name}: the port's {check.port} ({kind_name}) differs from "
                   f"{what} (error {_err(check)}; {shapes})", size, check.key)


def _pair(values) -> str:
    """One number where both axes agree, "HxW" otherwise."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _one(v) -> int:
    return v[0] if isinstance(v, tuple) else v


def _upsampling_text(m: nn.Module) -> str:
    if isinstance(m, nn.Upsample):
        return (f"nn.Upsample(mode={m.mode!r}, scale_factor={m.scale_factor}, size={m.size}, "
                f"align_corners={m.align_corners})")
    if isinstance(m, Deconvolution):
        return f"a Deconvolution k{m.weight.shape[-1]} s{m.stride} p{m.pad}"
    k, s, p = m.kernel_size[0], m.stride[0], m.padding[0]
    extra = f" output_padding {m.output_padding[0]}" if m.output_padding[0] else ""
    return f"{type(m).__name__} k{k} s{s} p{p}{extra}"


def _err(check: Check) -> str:
    return "another size" if check.error is None else f"{check.error:.3g}"


def unobserved(kit: KitPass, version: int, known: set[int]) -> list[int]:
    """The kit layers that make ``version`` from tensors the port was seen to reproduce (in layer order)."""
    out: set[int] = set()
    todo = [version]
    while todo:
        v = todo.pop()
        if v < 0 or v in known or v in out:
            continue
        out.add(v)
        todo += kit.reads[v]
    return sorted(out)


def _blob_finding(kit: KitPass, net: CaffeNet, mapping: Mapping, check: Check, port: torch.Tensor,
                  known: set[int], size) -> Finding:
    """A tensor the port makes between modules (or returns) differs from the kit's blob there."""
    v = check.version
    suspects = unobserved(kit, v, known)
    where = "the port's output" if check.side == "output" else f"what the port's {check.port} reads"
    if check.status == "shape":
        found = _size_finding(kit, check, port, suspects, size, where)
        if found is not None:
            return found
        made = ", ".join(kit.layers[i].name for i in suspects) or "no layer: the port changes it between modules"
        return Finding(check.blob, OTHER, f"{check.blob}: {where} is {size_text(port.shape)} where the reference's "
                       f"{check.blob} is {size_text(check.kit_shape)} for the {size_text(size)} input (made in the "
                       f"port's functional code: {made}); ruled out: floor pooling", size, check.key)
    found = (_scale_finding(kit, net, check, port, suspects, size)
             or _solve(kit, net, v, port, known, size, check)
             or _rebuild(kit, net, mapping, suspects, v, port, size, check))
    if found is not None:
        return found
    if v < 0:
        return Finding("data", OTHER, f"data: {where} is not the input it was fed (error {_err(check)}): the port's "
                       f"forward changes its input before {check.layer}, as a port does that preprocesses the picture "
                       "itself; --input feeds it the picture as it expects (caffe, bgr255, rgb255, rgb01)", size,
                       check.key)
    names = [kit.layers[i].name for i in suspects]
    crops = [kit.layers[i].name for i in suspects if kit.layers[i].type == "Crop"]
    ruled = ["a constant factor"]
    if crops:
        ruled.append(f"a shifted crop ({', '.join(crops)}: no offset lines the port's tensor up)")
    functional = [n for n in names if n in mapping.functional]
    if functional:
        ruled.append("interpolation (" + ", ".join(interpolation_text(*i) for i in INTERPOLATIONS) + ")")
        return Finding(functional[0], UPSAMPLING, f"{', '.join(functional)}: the port upsamples without a module and "
                       f"{where} differs from {check.blob} (error {_err(check)}) with no shift; ruled out: "
                       f"{'; '.join(ruled)}", size, check.key)
    made = ", ".join(names) or "no kit layer: the port changes the tensor between two modules"
    return Finding(check.blob, OTHER, f"{check.blob}: {where} differs from the reference's (error {_err(check)}); "
                   f"made in the port by {made}; ruled out: {'; '.join(ruled)}", size, check.key)


def _size_finding(kit: KitPass, check: Check, port: torch.Tensor, suspects: list[int], size, where: str
                  ) -> Finding | None:
    """Sizes differ where the port computes in functional code: an input padding before the first module, or
    a pooling that rounds down."""
    if check.version < 0:
        pads = [(p - k) / 2 for p, k in zip(port.shape[-2:], check.kit_shape[-2:], strict=True)]
        if all(p == int(p) and p > 0 for p in pads) and port.shape[:2] == check.kit_shape[:2]:
            pad = _pair([int(p) for p in pads])
            return Finding("data", PADDING, f"data: the port pads its input by {pad} before {check.layer} "
                           f"({where} is {size_text(port.shape)} for the {size_text(size)} input)", size,
                           check.key, padding=int(pads[0]))
        return None
    pools = [i for i in suspects if kit.layers[i].type == "Pooling"]
    for i in pools:
        if _sizes_with_floor(kit, suspects, {i}, check.version) == tuple(port.shape[-2:]):
            layer = kit.layers[i]
            return Finding(layer.name, FLOOR, f"{layer.name}: the port's pooling rounds its output size down (floor) "
                           f"where Caffe's rounds up: {where} is {size_text(port.shape)} where the reference's "
                           f"{check.blob} is {size_text(check.kit_shape)} for the {size_text(size)} input", size,
                           check.key)
    return None


def _sizes_with_floor(kit: KitPass, suspects: list[int], floored: set[int], version: int) -> tuple[int, int]:
    """The (H, W) ``version`` would have if the pooling layers ``floored`` rounded down."""
    sizes: dict[int, tuple[int, int]] = {}

    def size(v: int) -> tuple[int, int]:
        return sizes[v] if v in sizes else tuple(kit.value(v).shape[-2:])

    for i in suspects:
        layer = kit.layers[i]
        h, w = size(kit.reads[i][0])
        k, s, p = layer.kernel_size, layer.stride, layer.pad
        if layer.type == "Pooling":
            if i in floored:
                sizes[i] = ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            else:
                sizes[i] = (geometry.pool_out(h, k, s, p), geometry.pool_out(w, k, s, p))
        elif layer.type == "Convolution":
            sizes[i] = (geometry.conv_out(h, k, s, p), geometry.conv_out(w, k, s, p))
        elif layer.type == "Deconvolution":
            sizes[i] = (geometry.deconv_out(h, k, s, p), geometry.deconv_out(w, k, s, p))
        elif layer.type == "Crop":
            sizes[i] = size(kit.reads[i][1])
        else:
            sizes[i] = (h, w)
    return size(version)


def _fit_factor(kit_t: torch.Tensor, port: torch.Tensor) -> float | None:
    """a with port == a * kit (to the tolerance), or None."""
    k, p = kit_t.double(), port.double()
    kk = float((k * k).sum())
    if kk == 0:
        return None
    a = float((k * p).sum()) / kk
    return a if relative_error(a * k, p) <= TOLERANCE else None


def _scale_finding(kit: KitPass, net: CaffeNet, check: Check, port: torch.Tensor, suspects: list[int], size
                   ) -> Finding | None:
    a = _fit_factor(check_value(kit, check), port)
    if a is None or abs(a - 1) < 1e-3:
        return None
    scales = [kit.layers[i] for i in suspects if kit.layers[i].type == "Scale"]
    product = math.prod(x.scale_value for x in scales)
    if scales and abs(a * product - 1) < 1e-3:
        names = ", ".join(f"{x.name} (x {x.scale_value:g})" for x in scales)
        return Finding(scales[0].name, SCALE, f"{scales[0].name}: the port leaves out {names}: {check.layer} reads "
                       f"{kit.blob(kit.reads[kit.index(scales[0].name)][0])} unscaled where the reference's "
                       f"{net.name} scales it", size, check.key, factor=1.0)
    hint = _net_with_scale(net.spec, check.blob, check.layer, a)
    return Finding(check.blob, SCALE, f"{check.layer}: the port scales what it reads, {check.blob}, by {a:.6g}, "
                   f"which the reference's {net.name} does not{hint}", size, check.key, factor=a)


def check_value(kit: KitPass, check: Check) -> torch.Tensor:
    return kit.value(check.version)


def _weighted(spec) -> tuple[str, ...]:
    return tuple(x.name for x in spec.layers if x.type in ("Convolution", "Deconvolution"))


@functools.cache
def _kit_scales() -> tuple[tuple[str, Layer, str, tuple[str, ...]], ...]:
    """Every Scale layer of the kit's nets: (net, the layer, the layer reading its top, the net's weighted
    layers)."""
    import nets

    out = []
    for name in nets.NAMES:
        spec = nets.spec(name)
        for x in spec.layers:
            if x.type == "Scale":
                reader = next((y.name for y in spec.layers if x.top[0] in y.bottom), "")
                out.append((name, x, reader, _weighted(spec)))
    return tuple(out)


def _net_with_scale(audited, blob: str, layer: str, factor: float) -> str:
    """A kit net that scales ``blob`` by ``factor`` before ``layer`` (the at-once FCN-8s), named as a hint; the
    hint says to audit against it when it has the audited net's parameter layers."""
    for name, x, reader, weighted in _kit_scales():
        if x.bottom[0] == blob and reader == layer and abs(x.scale_value - factor) <= 1e-6 * abs(factor):
            said = f" ({name}'s {x.name} scales {blob} by {x.scale_value:g} before {layer}"
            if weighted == _weighted(audited):
                return said + f"; audit the port against it with --net {name})"
            return said + f"; no net with {audited.name}'s layers does)"
    return ""


def find_shift(source: torch.Tensor, target: torch.Tensor, scale: float) -> list[tuple[int, int]]:
    """Every (dy, dx) with source[..., dy:dy + h, dx:dx + w] == target (to TOLERANCE x ``scale``): a few
    hundred probe points screen all the offsets at once, the survivors are compared whole."""
    if source.dim() != 4 or target.dim() != 4 or source.shape[:2] != target.shape[:2]:
        return []
    (hs, ws), (h, w) = source.shape[-2:], target.shape[-2:]
    if h > hs or w > ws:
        return []
    tol = TOLERANCE * scale
    g = torch.Generator().manual_seed(0)
    n = min(256, target[0].numel())
    c = torch.randint(target.shape[1], (n,), generator=g)
    y = torch.randint(h, (n,), generator=g)
    x = torch.randint(w, (n,), generator=g)
    dy = torch.arange(hs - h + 1)[:, None, None]
    dx = torch.arange(ws - w + 1)[None, :, None]
    probes = source[0][c, y + dy, x + dx]  # (offsets y, offsets x, n)
    close = ((probes - target[0][c, y, x]).abs() <= tol).all(-1)
    out = []
    for oy, ox in close.nonzero().tolist():
        if ((source[..., oy:oy + h, ox:ox + w] - target).abs().max().item()) <= tol:
            out.append((oy, ox))
    return out


def _solve(kit: KitPass, net: CaffeNet, v: int, port: torch.Tensor, known: set[int], size, check: Check,
           depth: int = 0) -> Finding | None:
    """Explain the port's value of kit version ``v`` through the kit layer that writes it: a crop's offset (the
    shift that lines the port's tensor up with the crop's bottom), a sum (the known operand subtracted, then
    the other explained), an upsampling done by interpolation."""
    if v < 0 or v in known or depth > 8:
        return None
    layer = kit.layers[v]
    ins = kit.reads[v]
    if layer.type == "Crop" and (ins[0] in known or ins[0] < 0):
        source = kit.value(ins[0])
        shifts = find_shift(source, port, max(source.abs().max().item(), port.abs().max().item()))
        if not shifts:
            return None
        dy, dx = shifts[0]
        said = f"offset {dy}" if dy == dx else f"offset (dy, dx) = ({dy}, {dx})"
        return Finding(layer.name, SHIFT, f"{layer.name}: {said}, the reference's is {layer.offset} (the port crops "
                       f"{kit.blob(ins[0])} at ({dy}, {dx}) where the reference crops it at ({layer.offset}, "
                       f"{layer.offset}))", size, check.key, offset=(dy, dx), reference_offset=layer.offset)
    if layer.type == "Eltwise":
        coeff = layer.coeff or (1.0,) * len(ins)
        unknown = [j for j, u in enumerate(ins) if u >= 0 and u not in known]
        if len(unknown) == 1:
            j = unknown[0]
            rest = sum(coeff[k] * kit.value(u) for k, u in enumerate(ins) if k != j)
            if rest.shape != port.shape:
                return None
            return _solve(kit, net, ins[j], (port - rest) / coeff[j], known, size, check, depth + 1)
        return None
    if layer.type == "Deconvolution" and (ins[0] in known or ins[0] < 0):
        bottom = kit.value(ins[0])
        for mode, corners in INTERPOLATIONS:
            up = F.interpolate(bottom, size=tuple(port.shape[-2:]), mode=mode, align_corners=corners)
            if relative_error(up, port) <= TOLERANCE:
                how = interpolation_text(mode, corners)
                return Finding(layer.name, UPSAMPLING, f"{layer.name}: the port upsamples {kit.blob(ins[0])} by "
                               f"{how} to {size_text(port.shape)} where the reference's is a frozen bilinear "
                               f"Deconvolution k{layer.kernel_size} s{layer.stride}", size, check.key,
                               interpolation=how)
    return None


def _rebuild(kit: KitPass, net: CaffeNet, mapping: Mapping, suspects: list[int], v: int, port: torch.Tensor,
             size, check: Check) -> Finding | None:
    """The suspects replayed with each kit Deconvolution that has no module in the port replaced by an
    interpolation to the size of the blob it is cropped against (the crop then dropped): the port's upsampling
    when one mode reproduces the port's tensor."""
    ups = [i for i in suspects if kit.layers[i].type == "Deconvolution" and kit.layers[i].name in mapping.functional]
    if not ups:
        return None
    for mode, corners in INTERPOLATIONS:
        env: dict[int, torch.Tensor] = {}

        def value(u: int, env=env) -> torch.Tensor:
            return env[u] if u in env else kit.value(u)

        dropped, targets = [], {}
        try:
            for i in suspects:
                layer = kit.layers[i]
                bottoms = [value(u) for u in kit.reads[i]]
                if i in ups:
                    target, partner = _interpolation_target(kit, suspects, i, value)
                    targets[i] = partner
                    env[i] = F.interpolate(bottoms[0], size=target, mode=mode, align_corners=corners)
                elif layer.type == "Crop" and any(u in ups for u in kit.reads[i]):
                    env[i] = bottoms[0]  # the interpolation gave the blob its partner's size: nothing to crop
                    dropped.append(layer.name)
                else:
                    with torch.no_grad():
                        env[i] = net.apply_layer(layer, bottoms)
        except (RuntimeError, ValueError):
            continue
        got = env.get(v)
        if got is not None and got.shape == port.shape and relative_error(got, port) <= TOLERANCE:
            how = interpolation_text(mode, corners)
            parts = [f"{kit.layers[i].name} (the reference's Deconvolution k{kit.layers[i].kernel_size} "
                     f"s{kit.layers[i].stride}) is {how} of {kit.blob(kit.reads[i][0])} to the size of {targets[i]}"
                     for i in ups]
            crops = (f", without the crop{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} (offset "
                     f"{', '.join(str(kit.layers[kit.index(d)].offset) for d in dropped)} in the reference)"
                     if dropped else "")
            first = kit.layers[ups[0]].name
            return Finding(first, UPSAMPLING, f"{first}: the port upsamples by interpolation, not with the "
                           f"reference's frozen bilinear deconvolution: {'; '.join(parts)}{crops}", size, check.key,
                           interpolation=how)
    return None


def _interpolation_target(kit: KitPass, suspects: list[int], i: int, value) -> tuple[tuple[int, int], str]:
    """The size an interpolation standing in for Deconvolution ``i`` goes to: that of the blob a crop lines it
    up with (its reference, or what it is the reference for), else the Deconvolution's own."""
    for j in range(i + 1, len(kit.layers)):
        layer = kit.layers[j]
        if layer.type != "Crop":
            continue
        a, b = kit.reads[j]
        if a == i:
            return tuple(value(b).shape[-2:]), kit.blob(b)
        if b == i:
            return tuple(value(a).shape[-2:]), kit.blob(a)
    return tuple(kit.value(i).shape[-2:]), kit.blob(i)


def _inputs(sizes: list[str]) -> str:
    """"500x500 input", "375x500 and 507x507 inputs"."""
    if len(sizes) == 1:
        return f"{sizes[0]} input"
    return f"{', '.join(sizes[:-1])} and {sizes[-1]} inputs"


def describe_sizes(finding: Finding, runs: list[SizeRun]) -> None:
    """Add to a size-dependent finding (floor pooling, padding) the input sizes where the sizes differ at its
    point and those where they agree: what a reader checks against the port's rounding."""
    differ, agree = [], []
    for run in runs:
        at = [c for c in run.checks if c.key == finding.key]
        (differ if any(not c.ok for c in at) else agree).append(size_text(run.size))
    if finding.kind == FLOOR:
        finding.message += (f"; sizes differ for the {_inputs(differ)}"
                            + (f" and agree for the {_inputs(agree)}, where the pooling's input divides evenly"
                               if agree else ""))
    elif finding.kind == PADDING:
        finding.message += (f"; sizes differ from {finding.blob} on at every size audited ({', '.join(differ)})"
                            if not agree else f"; sizes differ for {', '.join(differ)}")
    finding.details.append(f"differs at: {', '.join(differ) or 'none'}; agrees at: {', '.join(agree) or 'none'}")
