"""Strict loading of weights into a ``nets`` module, from any format the kit reads (``weights.formats``), and
saving a net in the kit's own format (``weights.h5``); which kit net a file's layers are.

The map between blobs and a net is the identity: blob 0 of layer L is ``L.weight``, blob 1 is ``L.bias``
(``nets`` names its submodules after the Caffe layers). A name that differs goes in LAYER_RENAMES, which wants
to stay empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from data.layout import kit_command

from . import formats
from .caffemodel import CaffeLayer, CaffeModel
from .errors import IncompleteNetError, WeightsMismatchError, count_nonfinite, refuse_nonfinite
from .h5 import write_h5

# File layer name -> net layer name, for weights whose layer names differ from the kit's. Empty: the released
# caffemodels use the kit's names character for character.
LAYER_RENAMES: dict[str, str] = {}

# Caffe parameter blob index -> attribute of the net's layer module (the nets contract).
BLOB_ATTRS = ("weight", "bias")


Blobs = Mapping[str, Sequence[np.ndarray]]


def read_weights(path: str | os.PathLike) -> CaffeModel:
    """A weights file of any format the kit reads, told apart by its content (``weights.formats``): HDF5
    snapshot, binary caffemodel, torch state_dict (Caffe or torchvision VGG16 names) or Chainer .npz."""
    return formats.read(path)  # a missing file or a folder is named by formats.sniff


# ---- nets --------------------------------------------------------------------------------------------------


def net_blobs(net: torch.nn.Module) -> dict[str, list[torch.Tensor]]:
    """Layer name -> the net's tensors for Caffe blobs 0, 1, ... (parameters and frozen buffers alike)."""
    out: dict[str, dict[int, torch.Tensor]] = {}
    for key, tensor in net.state_dict(keep_vars=True).items():
        layer, _, attr = key.rpartition(".")
        if attr not in BLOB_ATTRS:
            raise ValueError(f"net tensor {key!r} is not a Caffe blob (expected <layer>.weight or "
                             "<layer>.bias)")
        out.setdefault(layer, {})[BLOB_ATTRS.index(attr)] = tensor
    result = {}
    for layer, blobs in out.items():
        if sorted(blobs) != list(range(len(blobs))):
            raise ValueError(f"net layer {layer!r} has a bias but no weight")
        result[layer] = [blobs[i] for i in range(len(blobs))]
    return result


def _shapes(shapes: Iterable[Sequence[int]]) -> str:
    return " ".join(str(tuple(s)) for s in shapes)


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def check_fit(net_shapes: Mapping[str, Sequence[Sequence[int]]],
              file_shapes: Mapping[str, Sequence[Sequence[int]]], net_name: str, source: str) -> None:
    """Raise one WeightsMismatchError listing every difference between the net's blobs and the file's."""
    missing = [n for n in net_shapes if n not in file_shapes]
    unexpected = [n for n in file_shapes if n not in net_shapes]
    mismatched = []
    for name, want in net_shapes.items():
        if name not in file_shapes:
            continue
        have = file_shapes[name]
        if len(have) != len(want):
            mismatched.append(f"{name}: the net has {len(want)} blob(s) {_shapes(want)}, the file "
                              f"{len(have)} {_shapes(have)}")
            continue
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            if tuple(w) != tuple(h):
                what = BLOB_ATTRS[i] if i < len(BLOB_ATTRS) else i
                mismatched.append(f"{name} blob {i} ({what}): net expects {tuple(w)}, file has {tuple(h)}")
    if not (missing or unexpected or mismatched):
        return
    if not (unexpected or mismatched):
        have = [n for n in net_shapes if n in file_shapes]
        raise IncompleteNetError(
            f"weights {source} do not fit net {net_name}: they hold only {len(have)} of its {len(net_shapes)} "
            f"parameter layers, every one in its shape: {_names(have)}; missing ({len(missing)}): {_names(missing)}. "
            "A caffemodel cut at a layer boundary reads like this: if the file was downloaded or copied, fetch "
            "it again.")
    lines = [f"weights {source} do not fit net {net_name}:"]
    if missing:
        lines.append(f"  missing from the file ({len(missing)}):")
        lines += [f"    {n} {_shapes(net_shapes[n])}" for n in missing]
    if unexpected:
        lines.append(f"  unexpected in the file, the net has no such layer ({len(unexpected)}):")
        lines += [f"    {n} {_shapes(file_shapes[n])}" for n in unexpected]
    if mismatched:
        lines.append(f"  shape mismatches ({len(mismatched)}):")
        lines += [f"    {m}" for m in mismatched]
    lines.append("  Load the weights made for this net (the releases: make weights-list), or start one from "
                 f"another net with {kit_command('weights.transplant', f'--net {net_name} --out DST.h5 SRC.h5')}"
                 "; layer names that differ go in weights.loader.LAYER_RENAMES.")
    raise WeightsMismatchError("\n".join(lines))


def kit_net_shapes(net_name: str) -> dict[str, list[tuple[int, ...]]]:
    """Layer name -> Caffe blob shapes of every parameter layer of a kit net, from its layer list (nothing
    is allocated)."""
    import nets

    if net_name not in nets.NAMES:
        raise ValueError(f"no kit net named {net_name!r}; the kit nets are: {', '.join(nets.NAMES)}")
    return nets.spec(net_name).param_shapes()


def match_kit_nets(file_shapes: Mapping[str, Sequence[Sequence[int]]]
                   ) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The kit nets whose parameter layers are exactly the file's (names and shapes), and those of which the
    file holds a strict part, every layer in the net's shape, with the layers it lacks (fewest first)."""
    import nets

    have = {name: [tuple(s) for s in shapes] for name, shapes in file_shapes.items()}
    exact, partial = [], []
    for name in nets.NAMES:
        want = kit_net_shapes(name)
        if have == want:
            exact.append(name)
        elif have and all(want.get(layer) == shapes for layer, shapes in have.items()):
            partial.append((name, [layer for layer in want if layer not in have]))
    return exact, sorted(partial, key=lambda p: len(p[1]))


def fitting_kit_nets(file_shapes: Mapping[str, Sequence[Sequence[int]]], fmt: str = "",
                     fill: bool = False) -> list[str]:
    """The kit nets a file is: those whose parameter layers are exactly the file's, else (or, with ``fill``,
    only) those it fits once the layers of the types its format never stores (weights.formats.NOT_STORED:
    torchfcn's at-once file has no Scale blobs) are filled from the net's definition."""
    import nets

    exact, partial = match_kit_nets(file_shapes)
    if (exact and not fill) or fmt not in formats.NOT_STORED:
        return [] if fill else exact
    kinds = formats.NOT_STORED[fmt]
    return [name for name, missing in partial if all(nets.spec(name).layer(m).type in kinds for m in missing)]


# check_layers' ``net`` besides a kit net name: compare with every kit net, or check nothing.
AUTO, UNCHECKED = "auto", "none"


def check_layers(file_shapes: Mapping[str, Sequence[Sequence[int]]],
                 net: str | Mapping[str, Sequence[Sequence[int]]], source: str) -> str:
    """What a converted file holds, as a line to print; raises where it cannot be the whole of a net.

    ``net`` a kit net name (or layer -> shapes): the file must hold exactly its parameter layers (one error
    lists every difference; IncompleteNetError when layers are only missing). AUTO: the file is compared with
    every kit net; holding a strict part of one is taken for a cut file (IncompleteNetError naming what is
    missing), anything else is accepted and the line says which kit net, if any, it matches. UNCHECKED: the
    line only lists the layers."""
    found = list(file_shapes)
    summary = f"{source} holds {len(found)} parameter layers: {_names(found)}"
    if net == UNCHECKED:
        return f"{summary} (not checked against a kit net)"
    if net != AUTO:
        name, want = (net, kit_net_shapes(net)) if isinstance(net, str) else ("the expected net", net)
        check_fit(want, file_shapes, name, source)
        return f"{summary}; they are exactly the parameter layers of {name}"
    exact, partial = match_kit_nets(file_shapes)
    if exact:
        return f"{summary}; they match kit net {', '.join(exact)}"
    if partial:
        closest, missing = partial[0]
        others = [n for n, _ in partial[1:]]
        also = f" (and part of {', '.join(others)})" if others else ""
        raise IncompleteNetError(
            f"{summary}. They are part of kit net {closest}{also}, which also has ({len(missing)}): "
            f"{_names(missing)}. A caffemodel cut at a layer boundary reads like this: if the file was "
            f"downloaded or copied, fetch it again. To check against one net, pass --net NAME; if this is a net "
            "of your own, pass --net none to convert it as it is.")
    return f"{summary}; they match no kit net's parameter layers (an ILSVRC classifier or a net of your own)"


def load(net: torch.nn.Module, weights: str | os.PathLike | CaffeModel | Blobs,
         log: Callable[[str], None] | None = print) -> torch.nn.Module:
    """Fill every parameter and frozen buffer of ``net`` from a weights file of any format the kit reads
    (``weights.formats``: .h5, caffemodel, torch state_dict, Chainer .npz) or a mapping layer -> blobs.
    Strict: every layer of the file must land on the net and every blob of the net must be filled, with
    identical shapes; otherwise one WeightsMismatchError lists all differences and the net is left untouched.
    Weights holding NaN or infinity are NonFiniteWeightsError (refuse_nonfinite), the net left untouched too.
    The one exception: a layer of a type the file's format does not store (torchfcn's and Chainer fcn's files
    hold no Scale blobs) is filled from the net's definition, and one line to ``log`` says so. Returns the net."""
    source = "mapping"
    fmt = ""
    if isinstance(weights, (str, os.PathLike)):
        source = Path(weights).name
        weights = read_weights(weights)
    if isinstance(weights, CaffeModel):
        fmt = weights.format
        weights = weights.blobs()
    file_blobs = {LAYER_RENAMES.get(name, name): blobs for name, blobs in weights.items() if len(blobs)}
    targets = net_blobs(net)
    net_shapes = {n: [t.shape for t in ts] for n, ts in targets.items()}
    net_name = getattr(net, "name", type(net).__name__)
    filled = None
    if fmt:
        file_blobs, filled = formats.fill_from_definition(getattr(net, "layers", ()), net_shapes, file_blobs, fmt,
                                                          source, net_name)
    check_fit(net_shapes, {n: [np.shape(b) for b in bs] for n, bs in file_blobs.items()}, net_name, source)
    refuse_nonfinite({n: count_nonfinite(bs) for n, bs in file_blobs.items()}, source)
    if filled and log is not None:
        log(filled)
    import torch  # here, not at the top: converting caffemodels does not need torch

    with torch.no_grad():
        for name, tensors in targets.items():
            for tensor, blob in zip(tensors, file_blobs[name], strict=True):
                array = np.asarray(blob)
                if not array.flags.writeable:
                    array = array.copy()  # torch refuses to wrap read-only memory
                tensor.copy_(torch.from_numpy(array))
    return net


def save(net: torch.nn.Module, path: str | os.PathLike, attrs: Mapping[str, str] | None = None) -> Path:
    """Write every parameter and frozen buffer of ``net`` in the same layout (float32), atomically. Loading
    the file into the same net restores a float32 net exactly. ``attrs`` are extra file attributes (a training
    snapshot's ``variant``)."""
    types = {layer.name: layer.type for layer in getattr(net, "layers", ())}
    reverse = {v: k for k, v in LAYER_RENAMES.items()}
    layers = []
    for name, tensors in net_blobs(net).items():
        blobs = tuple(t.detach().cpu().numpy().astype(np.float32, copy=False) for t in tensors)
        layers.append(CaffeLayer(reverse.get(name, name), types.get(name, ""), blobs))
    # Not checked finite: a training snapshot is written as the run left it (a diverged run's too), and is
    # refused when loaded (``load``), with the reason.
    return write_h5(path, layers, {"source": f"net {getattr(net, 'name', type(net).__name__)}", **(attrs or {})},
                    finite=False)
