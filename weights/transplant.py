"""The reference's net surgery: start a kit net from the weights of another net.

``python -m weights.transplant --net NET --out DST.h5 SRC.h5 [SRC2.h5]``

For every parameter layer of NET, in net order, one line says what happens:

- copying: the source has a layer of that name with the same blob shapes.
- coercing: the source layer is an InnerProduct whose weights become a convolution's (VGG16 fc6 4096x25088 ->
  4096x512x7x7, fc7 4096x4096 -> 4096x4096x1x1, CaffeNet fc6 4096x9216 -> 4096x256x6x6); the memory order is
  kept, only the shape changes.
- initialising: Deconvolution layers get the bilinear kernel (always, as the reference's ``surgery.interp``
  does after copying); Scale layers their constant; NYUD RGB-D's conv1_1_bgrd the RGB filters of conv1_1 plus
  a depth filter equal to their mean; a new score layer (a convolution with one output per class that the
  source lacks) zeros, Caffe's default constant filler, weight and bias.
- dropping: a source layer NET does not have (fc8, ...).

nyud-fcn32s-color-hha takes two sources, its color and hha 32s nets: every layer of SRC.h5 is renamed with
the suffix "color" (conv1_1 -> conv1_1color, ..., score_fr -> score_frcolor), every layer of SRC2.h5 with
"hha".
A trunk layer found in no source is an error, not zeros: a net with a zero trunk outputs zeros everywhere.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import nets
from nets.layers import bilinear_kernel

from .caffemodel import CaffeLayer, CaffeModel, CaffemodelError
from .formats import WeightsFormatError
from .snapshot import Blobs, read_weights, write_h5

# Nets made of several source nets: the suffix each source's layer names get, in source order.
STREAM_SUFFIXES: dict[str, tuple[str, ...]] = {
    "nyud-fcn32s-color-hha": ("color", "hha"),
}


class TransplantError(ValueError):
    """The sources cannot make the target net: lists every layer that could not be filled."""


def _depth_from_rgb_mean(rgb: Sequence[np.ndarray], want: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """conv1_1 (64, 3, 3, 3) -> conv1_1_bgrd (64, 4, 3, 3): the three colour filters, then a depth filter
    equal to their mean (FACTS.md section 2, NYUD color-d)."""
    weight, *rest = rgb
    depth = weight.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    out = np.concatenate([weight, depth], axis=1)
    return [out, *rest]


# Target layer -> (source layer, how its blobs are derived): layers the reference built from another layer.
DERIVED: dict[str, tuple[str, Callable[[Sequence[np.ndarray], Sequence[tuple[int, ...]]], list[np.ndarray]],
                         str]] = {
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


def blob_shapes(spec: nets.NetSpec) -> tuple[dict[str, list[tuple[int, ...]]], dict[str, int]]:
    """Caffe's blob shapes of every parameter layer, read off the layer list, and the channel count of every
    blob. Convolution (out, in/group, k, k) and (out,); Deconvolution (in, out/group, k, k) (and (out,) with
    a bias); Scale (C,)."""
    channels = dict(spec.inputs)
    out: dict[str, list[tuple[int, ...]]] = {}
    for layer in spec.layers:
        c_in = c_out = channels[layer.bottom[0]]
        k = layer.kernel_size
        if layer.type == "Convolution":
            c_out = layer.num_output
            out[layer.name] = [(c_out, c_in // layer.group, k, k)]
        elif layer.type == "Deconvolution":
            c_out = layer.num_output
            out[layer.name] = [(c_in, c_out // layer.group, k, k)]
        elif layer.type == "Scale":
            out[layer.name] = [(c_in,)]
        elif layer.type == "Concat":
            c_out = sum(channels[b] for b in layer.bottom)
        if layer.type in ("Convolution", "Deconvolution") and layer.bias_term:
            out[layer.name].append((c_out,))
        for top in layer.top:
            channels[top] = c_out
    return out, channels


@dataclass(frozen=True)
class Target:
    """What surgery needs to know of a kit net: its layers, class counts and blob shapes by layer."""

    layers: tuple[nets.Layer, ...]
    classes: frozenset[int]
    shapes: dict[str, list[tuple[int, ...]]]


@functools.cache
def target(net_name: str) -> Target:
    """A kit net as surgery sees it, from its NetSpec (no parameters are allocated)."""
    spec = nets.spec(net_name)
    shapes, channels = blob_shapes(spec)
    return Target(spec.layers, frozenset(channels[o] for o in spec.outputs), shapes)


def transplant(net_name: str, sources: Sequence[str | os.PathLike | CaffeModel | Blobs],
               log: Callable[[str], None] | None = print) -> dict[str, list[np.ndarray]]:
    """Blobs (layer -> [weight, bias]) for every parameter layer of ``net_name``, made from ``sources``
    (weights files or mappings) by the reference's surgery; see the module docstring. Raises TransplantError
    listing every layer it cannot fill."""
    say = log or (lambda _: None)
    tgt = target(net_name)
    want = tgt.shapes
    suffixes = STREAM_SUFFIXES.get(net_name, ("",))
    if len(sources) != len(suffixes):
        what = " and ".join(f"the {s} net" for s in suffixes) if suffixes != ("",) else "one net"
        raise TransplantError(f"{net_name} is made from {len(suffixes)} source(s) ({what}), "
                              f"got {len(sources)}")
    pool: dict[str, list[np.ndarray]] = {}
    origin: dict[str, str] = {}
    for source, suffix in zip(sources, suffixes, strict=True):
        label, blobs = _source_blobs(source)
        for name, b in blobs.items():
            pool[name + suffix] = b
            origin[name + suffix] = f"{label}:{name}" if suffix else label
    used: set[str] = set()
    out: dict[str, list[np.ndarray]] = {}
    errors: list[str] = []
    for layer in tgt.layers:
        if layer.name not in want:
            continue
        shapes = want[layer.name]
        name = layer.name
        if layer.type == "Deconvolution":
            kernel = bilinear_kernel(shapes[0][0], layer.kernel_size).numpy()
            if kernel.shape != shapes[0]:
                errors.append(f"{name}: a bilinear kernel is {kernel.shape}, the layer holds {shapes[0]}")
            out[name] = [kernel]
            replaced = " (replacing the source's blob, as the reference does)" if name in pool else ""
            used.add(name)
            say(f"initialising {name}: bilinear {_fmt(shapes)}{replaced}")
        elif layer.type == "Scale":
            out[name] = [np.full(shapes[0], layer.scale_value, dtype=np.float32)]
            used.add(name)
            say(f"initialising {name}: constant {layer.scale_value} {_fmt(shapes)}")
        elif name in pool:
            have = pool[name]
            used.add(name)
            if [b.shape for b in have] == shapes:
                out[name] = have
                say(f"copying {name} {_fmt(shapes)} from {origin[name]}")
            elif (len(have) == len(shapes) and have[0].ndim == 2 and len(shapes[0]) == 4
                  and have[0].shape[0] == shapes[0][0] and have[0].size == int(np.prod(shapes[0]))
                  and all(h.shape == s for h, s in zip(have[1:], shapes[1:], strict=True))):
                out[name] = [have[0].reshape(shapes[0]), *have[1:]]
                say(f"coercing {name} {_fmt(b.shape for b in have)} -> {_fmt(shapes)} from {origin[name]}")
            else:
                errors.append(f"{name}: the net needs {_fmt(shapes)}, {origin[name]} has "
                              f"{_fmt(b.shape for b in have)}")
        elif name in DERIVED and DERIVED[name][0] in pool:
            src_name, derive, how = DERIVED[name]
            blobs = derive(pool[src_name], shapes)
            used.add(src_name)
            if [b.shape for b in blobs] != shapes:
                errors.append(f"{name}: derived from {src_name} {_fmt(b.shape for b in pool[src_name])} as "
                              f"{_fmt(b.shape for b in blobs)}, the net needs {_fmt(shapes)}")
            out[name] = blobs
            say(f"initialising {name} {_fmt(shapes)} from {src_name} "
                f"{_fmt(b.shape for b in pool[src_name])}: {how}")
        elif layer.type == "Convolution" and layer.num_output in tgt.classes:
            out[name] = [np.zeros(s, dtype=np.float32) for s in shapes]
            say(f"initialising {name}: zeros {_fmt(shapes)} (new score layer; Caffe's default constant "
                "filler)")
        else:
            errors.append(f"{name} ({layer.type} {_fmt(shapes)}) is in no source; a trunk layer must come "
                          "from the source net (is it the right one?)")
    if errors:
        labels = ", ".join(_source_blobs_label(s) for s in sources)
        raise TransplantError(f"cannot make {net_name} from {labels}:\n  " + "\n  ".join(errors))
    for name in pool:
        if name not in used:
            say(f"dropping {name} {_fmt(b.shape for b in pool[name])} from {origin[name]}: {net_name} has no "
                "such layer")
    return out


def _source_blobs_label(source) -> str:
    return Path(source).name if isinstance(source, (str, os.PathLike)) else "the given blobs"


def transplant_file(net_name: str, sources: Sequence[str | os.PathLike], out: str | os.PathLike,
                    log: Callable[[str], None] | None = print) -> Path:
    """Run ``transplant`` and write the result as a weights .h5 that ``weights.load`` accepts strictly."""
    blobs = transplant(net_name, sources, log)
    types = {layer.name: layer.type for layer in target(net_name).layers}
    layers = [CaffeLayer(name, types[name], tuple(b)) for name, b in blobs.items()]
    label = " + ".join(Path(s).name for s in sources)
    path = write_h5(out, layers, {"source": f"transplant {net_name} from {label}"})
    if log:
        log(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True, choices=nets.NAMES, metavar="NET",
                        help=f"target net, one of: {', '.join(nets.NAMES)}")
    parser.add_argument("--out", required=True, type=Path, help="weights .h5 to write")
    parser.add_argument("sources", nargs="+", type=Path,
                        help="weights .h5, .caffemodel, torch state_dict (Caffe or torchvision VGG16 names) or "
                             "Chainer .npz (two for nyud-fcn32s-color-hha: the color then the hha net)")
    args = parser.parse_args(argv)
    try:
        transplant_file(args.net, args.sources, args.out)
    except (TransplantError, CaffemodelError, WeightsFormatError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
