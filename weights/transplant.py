"""The reference's net surgery: start a kit net from the weights of another net.

``.venv/bin/python -m weights.transplant --net NET --out DST.h5 SRC.h5 [SRC2.h5]``

For every parameter layer of NET, in net order, one line says what happens:

- copying: the source has a layer of that name with the same blob shapes.
- coercing: the source layer is an InnerProduct whose weights become a convolution's (VGG16 fc6 4096x25088 ->
  4096x512x7x7, fc7 4096x4096 -> 4096x4096x1x1, CaffeNet fc6 4096x9216 -> 4096x256x6x6); the memory order is
  kept, only the shape changes.
- initialising: Deconvolution layers get the bilinear kernel (always, as the reference's ``surgery.interp``
  does after copying); Scale layers their constant; NYUD RGB-D's conv1_1_bgrd the RGB filters of conv1_1 plus
  a depth filter equal to their mean; a new score layer (a head convolution, outside the classifier trunk of
  the NetSpec, that the source lacks) zeros, Caffe's default constant filler, weight and bias.
- dropping: a source layer NET does not have (fc8, ...; BVLC GoogLeNet's auxiliary heads loss1/*, loss2/* and
  its loss3/classifier for voc-fcn-googlenet).

nyud-fcn32s-color-hha takes two sources, its color and hha 32s nets: every layer of SRC.h5 is renamed with
the suffix of the first stream of the NetSpec, "color" (conv1_1 -> conv1_1color, ..., score_fr ->
score_frcolor), every layer of SRC2.h5 with "hha". nyud-fcn16s-color-hha takes one, nyud-fcn32s-color-hha, whose
layers already carry the suffixes: every layer copied by name, score_pool4color and score_pool4hha zeros, the
upsamplers bilinear (the 32s upscore is dropped). Each rule is one function (RULES, tried in order).
A trunk layer found in no source is an error, not zeros: a net with a zero trunk outputs zeros everywhere.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import nets
from data.cli import fail, run
from data.files import FORCE_HELP, DestinationExists, refuse_existing
from nets.layers import bilinear_kernel

from .caffemodel import CaffeLayer, CaffeModel, CaffemodelError
from .errors import HDF5FileError, NonFiniteWeightsError, WeightsFormatError
from .h5 import write_h5
from .loader import Blobs, read_weights


class TransplantError(ValueError):
    """The sources cannot make the target net: lists every layer that could not be filled."""


def _depth_from_rgb_mean(rgb: Sequence[np.ndarray]) -> list[np.ndarray]:
    """conv1_1 (64, 3, 3, 3) -> conv1_1_bgrd (64, 4, 3, 3): the three colour filters, then a depth filter
    equal to their mean (ledger: init.color-d)."""
    weight, *rest = rgb
    depth = weight.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    return [np.concatenate([weight, depth], axis=1), *rest]


# Target layer -> (source layer, how its blobs are derived, in words): layers the reference built from another.
DERIVED: dict[str, tuple[str, Callable[[Sequence[np.ndarray]], list[np.ndarray]], str]] = {
    "conv1_1_bgrd": ("conv1_1", _depth_from_rgb_mean, "RGB filters + depth filter = their mean"),
}


def _fmt(shapes) -> str:
    return " ".join(str(tuple(s)) for s in shapes)


def _source_blobs(source: str | os.PathLike | CaffeModel | Blobs) -> tuple[str, dict[str, list[np.ndarray]]]:
    if isinstance(source, (str, os.PathLike)):
        name, source = Path(source).name, read_weights(source)
    else:
        name = "source"
    if isinstance(source, CaffeModel):
        source = source.blobs()
    return name, {k: [np.asarray(b, dtype=np.float32) for b in v] for k, v in source.items() if len(v)}


@dataclass
class Surgery:
    """One transplant in progress: the target net, the pooled source layers and what has been done."""

    spec: nets.NetSpec
    pool: dict[str, list[np.ndarray]]  # source layer (renamed for its stream) -> blobs
    origin: dict[str, str]  # the same keys -> where the layer came from, for the log
    trunk: frozenset[str] = frozenset()  # the classifier trunk's layers (spec.trunk_layers())
    out: dict[str, list[np.ndarray]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


# ---- the surgery rules, in the order they are tried for each parameter layer of the target ----------------
# Each takes (surgery, layer, wanted shapes) and returns the log line if it applies, None if it does not.

def _bilinear(sg: Surgery, layer: nets.Layer, shapes: list[tuple[int, ...]]) -> str | None:
    """Deconvolution: always the bilinear kernel, as the reference's surgery.interp does after copying."""
    if layer.type != "Deconvolution":
        return None
    kernel = bilinear_kernel(shapes[0][0], layer.kernel_size).numpy()
    if kernel.shape != shapes[0]:
        sg.errors.append(f"{layer.name}: a bilinear kernel is {kernel.shape}, the layer holds {shapes[0]}")
    sg.out[layer.name] = [kernel]
    replaced = " (replacing the source's blob, as the reference does)" if layer.name in sg.pool else ""
    sg.used.add(layer.name)
    return f"initialising {layer.name}: bilinear {_fmt(shapes)}{replaced}"


def _constant(sg: Surgery, layer: nets.Layer, shapes: list[tuple[int, ...]]) -> str | None:
    """Scale: the net's constant factor (the at-once net's 0.01 / 0.0001)."""
    if layer.type != "Scale":
        return None
    sg.out[layer.name] = [np.full(shapes[0], layer.scale_value, dtype=np.float32)]
    sg.used.add(layer.name)
    return f"initialising {layer.name}: constant {layer.scale_value} {_fmt(shapes)}"


def _copy_or_coerce(sg: Surgery, layer: nets.Layer, shapes: list[tuple[int, ...]]) -> str | None:
    """A source layer of the same name: copied when the shapes agree; an InnerProduct's weights coerced into
    the convolution's shape (same memory order: VGG16 fc6 4096x25088 -> 4096x512x7x7)."""
    have = sg.pool.get(layer.name)
    if have is None:
        return None
    sg.used.add(layer.name)
    where = sg.origin[layer.name]
    if [b.shape for b in have] == shapes:
        sg.out[layer.name] = have
        return f"copying {layer.name} {_fmt(shapes)} from {where}"
    if (len(have) == len(shapes) and have[0].ndim == 2 and len(shapes[0]) == 4 and have[0].shape[0] == shapes[0][0]
            and have[0].size == int(np.prod(shapes[0]))
            and all(h.shape == s for h, s in zip(have[1:], shapes[1:], strict=True))):
        sg.out[layer.name] = [have[0].reshape(shapes[0]), *have[1:]]
        return f"coercing {layer.name} {_fmt(b.shape for b in have)} -> {_fmt(shapes)} from {where}"
    sg.errors.append(f"{layer.name}: the net needs {_fmt(shapes)}, {where} has {_fmt(b.shape for b in have)}")
    return f"cannot use {layer.name} from {where}"


def _derived(sg: Surgery, layer: nets.Layer, shapes: list[tuple[int, ...]]) -> str | None:
    """A layer the reference built from another one (DERIVED: NYUD RGB-D's 4-channel conv1_1_bgrd)."""
    if layer.name not in DERIVED or DERIVED[layer.name][0] not in sg.pool:
        return None
    src_name, derive, how = DERIVED[layer.name]
    blobs = derive(sg.pool[src_name])
    sg.used.add(src_name)
    if [b.shape for b in blobs] != shapes:
        sg.errors.append(f"{layer.name}: derived from {src_name} {_fmt(b.shape for b in sg.pool[src_name])} as "
                         f"{_fmt(b.shape for b in blobs)}, the net needs {_fmt(shapes)}")
    sg.out[layer.name] = blobs
    return f"initialising {layer.name} {_fmt(shapes)} from {src_name} {_fmt(b.shape for b in sg.pool[src_name])}: {how}"


def _new_head_layer(sg: Surgery, layer: nets.Layer, shapes: list[tuple[int, ...]]) -> str | None:
    """A head convolution (outside the classifier trunk) that no source has: zeros, Caffe's default constant
    filler, weight and bias (the reference's new score layers)."""
    if layer.type != "Convolution" or layer.name in sg.trunk:
        return None
    sg.out[layer.name] = [np.zeros(s, dtype=np.float32) for s in shapes]
    return f"initialising {layer.name}: zeros {_fmt(shapes)} (new score layer; Caffe's default constant filler)"


RULES = (_bilinear, _constant, _copy_or_coerce, _derived, _new_head_layer)


def pool_sources(spec: nets.NetSpec, sources: Sequence[str | os.PathLike | CaffeModel | Blobs]) -> Surgery:
    """Every source's layers, renamed with its stream's suffix for a multi-stream net made from one net per
    stream (the color net's conv1_1 becomes conv1_1color). A multi-stream net made from one source (the 16s
    two-stream net from the 32s one) takes that source's layers by their own, suffixed names."""
    suffixes = spec.streams or ("",)
    if spec.streams and len(sources) == 1:
        suffixes = ("",)
    if len(sources) != len(suffixes):
        what = (" and ".join(f"the {s} net" for s in suffixes) + ", or one net holding both streams"
                if spec.streams else "one net")
        raise TransplantError(f"{spec.name} is made from {len(suffixes)} source(s) ({what}), got {len(sources)}")
    sg = Surgery(spec, {}, {}, spec.trunk_layers())
    for source, suffix in zip(sources, suffixes, strict=True):
        label, blobs = _source_blobs(source)
        for name, b in blobs.items():
            sg.pool[name + suffix] = b
            sg.origin[name + suffix] = f"{label}:{name}" if suffix else label
    if spec.streams and len(sources) == 1 and not sg.trunk & set(sg.pool):
        raise TransplantError(f"{spec.name} is made from one net per stream ({', '.join(spec.streams)}) or from "
                              f"one net holding both streams' layers (conv1_1{spec.streams[0]} ...); the one "
                              f"source given holds no layer of either stream")
    return sg


def transplant(net_name: str, sources: Sequence[str | os.PathLike | CaffeModel | Blobs],
               log: Callable[[str], None] | None = print) -> dict[str, list[np.ndarray]]:
    """Blobs (layer -> [weight, bias]) for every parameter layer of ``net_name``, made from ``sources``
    (weights files or mappings) by the reference's surgery; see the module docstring. Raises TransplantError
    listing every layer it cannot fill."""
    say = log or (lambda _: None)
    spec = nets.spec(net_name)
    sg = pool_sources(spec, sources)
    for name, shapes in spec.param_shapes().items():
        layer = spec.layer(name)
        line = next((line for rule in RULES if (line := rule(sg, layer, shapes)) is not None), None)
        if line is None:
            sg.errors.append(f"{name} ({layer.type} {_fmt(shapes)}) is in no source; a trunk layer must come from "
                             "the source net (is it the right one?)")
        else:
            say(line)
    if sg.errors:
        labels = ", ".join(_source_blobs_label(s) for s in sources)
        raise TransplantError(f"cannot make {net_name} from {labels}:\n  " + "\n  ".join(sg.errors))
    for name in sg.pool:
        if name not in sg.used:
            say(f"dropping {name} {_fmt(b.shape for b in sg.pool[name])} from {sg.origin[name]}: {net_name} has "
                "no such layer")
    return sg.out


def _source_blobs_label(source) -> str:
    return Path(source).name if isinstance(source, (str, os.PathLike)) else "the given blobs"


def transplant_file(net_name: str, sources: Sequence[str | os.PathLike | CaffeModel | Blobs], out: str | os.PathLike,
                    log: Callable[[str], None] | None = print) -> Path:
    """Run ``transplant`` and write the result as a weights .h5 that ``weights.load`` accepts strictly (its
    ``source`` attribute names the files it came from)."""
    blobs = transplant(net_name, sources, log)
    types = {layer.name: layer.type for layer in nets.spec(net_name).layers}
    layers = [CaffeLayer(name, types[name], tuple(b)) for name, b in blobs.items()]
    label = " + ".join(_source_blobs_label(s) for s in sources)
    path = write_h5(out, layers, {"source": f"transplant {net_name} from {label}"})
    if log:
        log(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True, type=nets.net_name, metavar="NET",
                        help=f"target net, one of: {', '.join(nets.NAMES)}")
    parser.add_argument("--out", required=True, type=Path, help="weights .h5 to write")
    parser.add_argument("sources", nargs="+", type=Path,
                        help="weights .h5, .caffemodel, torch state_dict (Caffe or torchvision VGG16 names) or "
                             "Chainer .npz (two for nyud-fcn32s-color-hha: the color then the hha net)")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    args = parser.parse_args(argv)
    try:
        if any(src.exists() and args.out.exists() and os.path.samefile(src, args.out) for src in args.sources):
            raise TransplantError(f"--out {args.out} is one of the sources, which is kept; name another file")
        refuse_existing(args.out, args.force)
        transplant_file(args.net, args.sources, args.out)
    except (TransplantError, CaffemodelError, WeightsFormatError, HDF5FileError, NonFiniteWeightsError,
            DestinationExists, FileNotFoundError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
