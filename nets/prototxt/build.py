"""Nets from any Caffe prototxt: ``nets.from_prototxt(FILE)`` builds a ``nets.CaffeNet`` from a NetParameter in
protobuf text format, read without Caffe (nets.prototxt.reader) and interpreted with Caffe's defaults.

>>> net = nets.from_prototxt("my-fcn8s/deploy.prototxt")   # then weights.load(net, "my-fcn8s.caffemodel")

What it accepts: the layer types the kit implements (Convolution, Deconvolution, Pooling MAX, ReLU, Dropout, LRN
across channels, Crop on axis 2, Eltwise SUM, Scale, Concat on channels) plus the net's feed (Input layers,
the legacy ``input:`` fields, or a Python data layer as the reference wrote them) and SoftmaxWithLoss layers,
which become the spec's losses. Anything else is an error naming the layer, its line and what the kit supports.

Decisions, stated once:

- Crop offsets are taken as written in the file and checked against the offsets the layer geometry derives
  (nets.geometry). A disagreement RAISES a GeometryError naming the crop, both offsets and the line: a crop
  that does not line its blobs up makes a net that runs but scores worse, silently. ``crop_offsets="file"``
  keeps the file's offsets anyway (to reproduce a Caffe net exactly as it was) and warns with the same text.
- Parameters start as nets.build starts them: zero (Caffe's default filler), bilinear kernels in the
  Deconvolutions, the Scale constants; weight and bias fillers are not applied. Load weights with
  ``weights.load``.
- Deconvolution and Scale blobs are frozen buffers in the kit. A file that gives them lr_mult > 0 (a learned
  upsampling) still builds and computes the same forward pass; a PrototxtWarning says the kit will not train
  those blobs.
- A Python data layer declares no channel counts: its image tops get 3 channels and a top its reader calls
  "depth" 1 (what the reference's data layers produce), unless ``input_channels`` says otherwise. Tops read
  only by loss layers are labels, not inputs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from .. import geometry
from ..spec import Layer, NetSpec
from .reader import FEED_TYPES, KIT_TYPES, LOSS_TYPES, FileLayer, FileNet, _text, read_net
from .schema import DEFAULT_MULTIPLIERS

__all__ = ["PrototxtWarning", "UnsupportedLayerError", "crop_disagreements", "from_prototxt", "multipliers",
           "reader_tops", "to_spec"]


class UnsupportedLayerError(ValueError):
    """A layer (or a setting of one) the kit does not implement."""


class PrototxtWarning(UserWarning):
    """The file builds, but something in it behaves differently in the kit (the message says what)."""


_PYTHON_TOP_CHANNELS = {"depth": 1}  # reader top -> channels; the reference's other image tops have 3


def multipliers(layer: Layer) -> tuple[tuple[float, float], ...]:
    """A kit Layer's (lr_mult, decay_mult) per parameter blob, Caffe's defaults (1, 1) filled in."""
    if layer.type in ("Convolution", "Deconvolution", "Scale"):
        n = 2 if layer.bias_term else 1
    else:
        n = 0
    given = tuple((float(a), float(b)) for a, b in layer.param[:n])
    return given + (DEFAULT_MULTIPLIERS,) * (n - len(given))


def reader_tops(fl: FileLayer) -> tuple[str, ...]:
    """The reader tops a feed layer's tops carry: a Python data layer's param_str "tops" list (the reference's
    NYUD layers) when it has one of the right length, else the layer's own tops."""
    listed = (fl.python or {}).get("params") or {}
    tops = listed.get("tops") if isinstance(listed, dict) else None
    if isinstance(tops, list | tuple) and len(tops) == len(fl.top) and all(isinstance(t, str) for t in tops):
        return tuple(tops)
    return fl.top


def _where(fnet: FileNet, fl: FileLayer, line: int) -> str:
    return f"{fnet.source}:{line}: layer {fl.name!r} ({fl.type})"


def to_spec(fnet: FileNet, input_channels: Mapping[str, int] | None = None,
            crop_offsets: Literal["check", "file"] = "check", name: str | None = None) -> NetSpec:
    """The NetSpec of a read prototxt (the rules are from_prototxt's)."""
    if crop_offsets not in ("check", "file"):
        raise ValueError(f"crop_offsets={crop_offsets!r}; expected 'check' (raise on a disagreement with the "
                         "geometry) or 'file' (keep the file's offsets and warn)")
    problems = []
    for fl in fnet.layers:
        if fl.type not in KIT_TYPES + FEED_TYPES + LOSS_TYPES:
            problems.append(f"{_where(fnet, fl, fl.line)}: type {fl.type!r} is not implemented by the kit; it "
                            f"implements {', '.join(KIT_TYPES)}, with {' or '.join(FEED_TYPES)} feeds and "
                            f"{', '.join(LOSS_TYPES)} losses")
        problems += [f"{_where(fnet, fl, s.line)}: {s.path}: {s.value}: {s.why}" for s in fl.settings
                     if s.effect == "unsupported"]
        if fl.type in KIT_TYPES and len(fl.top) != 1:
            problems.append(f"{_where(fnet, fl, fl.lines['top'])}: {len(fl.top)} tops; the kit's layers have one")
        if fl.type == "Scale" and fl.layer is not None and fl.layer.scale_value is None:
            problems.append(f"{_where(fnet, fl, fl.line_of('scale_param.filler'))}: scale_param.filler is not a "
                            "constant; the kit's Scale starts from one constant (write filler { type: \"constant\" "
                            "value: ... } and load the factors with weights.load)")
    if problems:
        raise UnsupportedLayerError("cannot build a kit net from this prototxt:\n  " + "\n  ".join(problems))

    reads = {b for fl in fnet.body for b in fl.bottom}
    inputs: dict[str, int] = {}
    from_shape: set[str] = set()
    for top, shape in fnet.legacy_inputs.items():
        if top in reads:
            inputs[top] = int(shape[1]) if len(shape) >= 2 else 1
            from_shape.add(top)
    for fl in fnet.feed:
        for i, (top, rtop) in enumerate(zip(fl.top, reader_tops(fl), strict=True)):
            if top not in reads:
                continue  # a label (read only by a loss) or a top nothing reads
            if fl.type == "Input":
                shape = fl.input_shapes[i] if i < len(fl.input_shapes) else ()
                if len(shape) < 2:
                    raise UnsupportedLayerError(f"{_where(fnet, fl, fl.line)}: top {top!r} has shape {shape}; "
                                                "expected N x C x H x W")
                inputs[top] = int(shape[1])
                from_shape.add(top)
            else:
                inputs[top] = _PYTHON_TOP_CHANNELS.get(rtop, 3)
    for top, c in (input_channels or {}).items():
        if top not in inputs:
            raise ValueError(f"input_channels names {top!r}, but the net's inputs are {sorted(inputs)}")
        if top in from_shape and inputs[top] != c:
            raise ValueError(f"input_channels gives {top!r} {c} channels, but the file's input shape says "
                             f"{inputs[top]}")
        inputs[top] = int(c)
    if not inputs:
        raise UnsupportedLayerError(f"{fnet.source}: the net has no inputs; expected an Input layer, the legacy "
                                    "input / input_shape fields, or a Python data layer whose tops the layers read")
    known = set(inputs) | {t for fl in fnet.feed for t in fl.top}
    for fl in fnet.body:
        missing = [b for b in fl.bottom if b not in known]
        if missing:
            raise UnsupportedLayerError(f"{_where(fnet, fl, fl.lines['bottom'])}: bottom(s) {missing} are made by "
                                        "no earlier layer (nor are they inputs)")
        known.update(fl.top)
    losses = []
    for fl in fnet.losses:
        if len(fl.bottom) != 2:
            raise UnsupportedLayerError(f"{_where(fnet, fl, fl.lines['bottom'])}: a SoftmaxWithLoss takes two "
                                        f"bottoms (scores, labels), found {list(fl.bottom)}")
        losses.append((fl.name, fl.bottom[0], fl.bottom[1]))
    if losses:
        outputs = tuple(dict.fromkeys(score for _, score, _ in losses))
    else:  # Caffe's rule: the outputs are the blobs no later layer reads (an in-place layer reads and rewrites)
        available: dict[str, None] = {}
        for fl in fnet.body:
            for b in fl.bottom:
                available.pop(b, None)
            available.update(dict.fromkeys(fl.top))
        outputs = tuple(available)
    layers = tuple(fl.layer for fl in fnet.body)
    # No published offsets for a file's net: its offsets are the file's, checked against the geometry.
    spec = NetSpec(name or fnet.name or Path(fnet.source).stem, inputs, layers, outputs, reference_offsets={},
                   losses=tuple(losses))
    _check_crops(fnet, spec, crop_offsets)
    _warn_frozen(fnet)
    return spec


def crop_disagreements(fnet: FileNet, spec: NetSpec) -> list[str]:
    """One line per Crop whose offset in the file differs from the one the layer geometry derives."""
    derived = geometry.derive_crop_offsets(spec)
    by_name = {fl.name: fl for fl in fnet.body}
    return [f"{fnet.source}:{by_name[x.name].line_of('crop_param.offset')}: crop {x.name!r} has offset {x.offset} "
            f"in the file, but the layer geometry derives {derived[x.name]} (the offset that lines its bottom up "
            "with its reference blob)" for x in spec.layers if x.type == "Crop" and derived[x.name] != x.offset]


def _check_crops(fnet: FileNet, spec: NetSpec, crop_offsets: str) -> None:
    wrong = crop_disagreements(fnet, spec)
    if not wrong:
        return
    text = "\n  ".join(wrong)
    if crop_offsets == "check":
        raise geometry.GeometryError(f"crop offsets disagree with the geometry:\n  {text}\nFix the offsets, or "
                                     "pass crop_offsets='file' to keep the file's (with a warning)")
    warnings.warn(f"keeping the file's crop offsets, which disagree with the geometry:\n  {text}", PrototxtWarning,
                  stacklevel=3)


def _warn_frozen(fnet: FileNet) -> None:
    learned = [f"{fl.name} ({fl.type}, lr_mult {_text(fl.layer.param[0][0])})" for fl in fnet.body
               if fl.type in ("Deconvolution", "Scale") and fl.layer is not None and fl.layer.param[0][0] != 0]
    if learned:
        warnings.warn(f"{fnet.source}: {', '.join(learned)}: the file trains these blobs; the kit holds them as "
                      "frozen buffers (the forward pass is the same; CaffeSGD will not update them)",
                      PrototxtWarning, stacklevel=3)


def from_prototxt(path: str | os.PathLike, *, input_channels: Mapping[str, int] | None = None,
                  crop_offsets: Literal["check", "file"] = "check", name: str | None = None):
    """A CaffeNet (eval mode) built from a Caffe prototxt whose layer types the kit implements.

    ``input_channels`` sets the channels of inputs a Python data layer feeds (default 3, "depth" 1);
    ``crop_offsets``: "check" raises when a Crop's offset differs from the geometry's, "file" keeps it and
    warns; ``name`` names the net (default: the file's name field, else the file's stem). Parameters start as
    in nets.build (CaffeNet's: zeros, bilinear upsampling kernels, Scale constants); load weights with
    weights.load."""
    from ..net import CaffeNet

    return CaffeNet(to_spec(read_net(path), input_channels, crop_offsets, name)).eval()
