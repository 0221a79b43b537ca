"""Weights on disk in Caffe's HDF5 snapshot layout, and strict loading into a ``nets`` module.

Layout (what Caffe's ``Net::ToHDF5`` writes and ``CopyTrainedLayersFromHDF5`` reads): dataset
``/data/<layer>/<i>`` holds parameter blob i of layer <layer>, float32, in Caffe's blob shape. Only layers
that have parameter blobs get a group. Each group carries the layer's Caffe type as attribute ``type`` (Caffe
ignores it); the root carries where the weights came from (``source``, ``source_sha256``) and ``converter``.

The map between blobs and a net is the identity: blob 0 of layer L is ``L.weight``, blob 1 is ``L.bias``
(``nets`` names its submodules after the Caffe layers). A name that differs goes in LAYER_RENAMES, which wants
to stay empty.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

if TYPE_CHECKING:
    import torch

from data.files import atomic_path
from data.layout import kit_command

from .caffemodel import CaffeLayer, CaffeModel, CaffemodelError

# Version of the conversion written into every .h5 (bump when the output of the same input changes).
CONVERTER_VERSION = "1"
CONVERTER = f"fcn-kit weights {CONVERTER_VERSION}"

# File layer name -> net layer name, for weights whose layer names differ from the kit's. Empty: the released
# caffemodels use the kit's names character for character.
LAYER_RENAMES: dict[str, str] = {}

# Caffe parameter blob index -> attribute of the net's layer module (the nets contract).
BLOB_ATTRS = ("weight", "bias")

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

Blobs = Mapping[str, Sequence[np.ndarray]]


class WeightsMismatchError(ValueError):
    """The weights do not fit the net: lists every missing layer, unexpected layer and shape mismatch."""


class IncompleteNetError(CaffemodelError, WeightsMismatchError):
    """The file reads to its end but holds only part of a net's parameter layers, every one of them in the
    net's shape: a caffemodel cut at a layer boundary (a protobuf message can end after any field, so the
    reader alone cannot tell)."""


class NonFiniteWeightsError(ValueError):
    """Blobs hold NaN or infinite values: a diverged training run or a damaged file, never usable weights."""


def count_nonfinite(blobs: Iterable) -> tuple[int, int, int]:
    """(NaN count, infinite count, value count) over a layer's blobs (numpy arrays or CPU tensors)."""
    nan = inf = size = 0
    for blob in blobs:
        array = np.asarray(blob)
        size += array.size
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            nan += int(np.isnan(array).sum())
            inf += int(np.isinf(array).sum())
    return nan, inf, size


def refuse_nonfinite(counts: Mapping[str, tuple[int, int, int]], source: str) -> None:
    """The one finiteness rule of the kit, applied wherever weights enter or leave it (``load``, ``write_h5``:
    weights.convert, weights.export, weights.transplant, reproduce.infer/evaluate/train): ``counts`` is layer ->
    count_nonfinite; any layer with a NaN or an infinity is one NonFiniteWeightsError naming each such layer."""
    bad = {name: c for name, c in counts.items() if c[0] or c[1]}
    if not bad:
        return
    parts = [f"{name} ({nan} NaN, {inf} infinite, of {size} values)" for name, (nan, inf, size) in bad.items()]
    raise NonFiniteWeightsError(
        f"{source}: {len(bad)} layer(s) hold values that are not finite: {'; '.join(parts)}. Weights like these "
        "come from a training run that diverged (its loss became NaN or infinite) or from a damaged file; a net "
        "with them segments nothing. Use a snapshot from before the divergence, or fetch or copy the file again")


class HDF5FileError(ValueError):
    """An .h5 file that HDF5 cannot open: cut short (an interrupted download or copy) or damaged."""


def open_h5(path: str | os.PathLike, what: str = "weights file") -> h5py.File:
    """``h5py.File(path, "r")`` with HDF5's refusals as one HDF5FileError in the kit's words: the one opener of
    every .h5 the kit reads (weights, solverstates, a table row's weights). A cut file says it is cut, how much
    of it arrived, and to fetch or copy it again."""
    path = Path(path)
    if path.is_dir():
        raise HDF5FileError(f"{path} is a folder, not a {what}; name the .h5 file itself")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        text = str(e)
        cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
        if cut:
            have, want = int(cut.group(1)), int(cut.group(2))
            raise HDF5FileError(f"{path} is cut: the {what} holds {have} of its {want} bytes (an interrupted "
                                "download or copy); fetch or copy it again") from None
        if "truncated" in text or "file signature not found" in text or "bad object header" in text:
            raise HDF5FileError(f"{path} is cut or damaged: HDF5 cannot open it ({text}); the {what} is "
                                "incomplete (an interrupted download or copy?): fetch or copy it again") from None
        raise HDF5FileError(f"cannot open {path} as HDF5 ({text}); expected a complete {what} in HDF5 (.h5), "
                            "fetch or copy it again if it was cut") from None


def _check_group_name(name: str) -> None:
    """A layer name must be a relative HDF5 path of non-empty parts, or its blobs would land elsewhere than
    /data/<layer> (h5py reads "/a" as absolute and "." as the group itself)."""
    parts = name.split("/")
    if "\x00" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"layer name {name!r} cannot be stored as the HDF5 group /data/<layer>: it is empty or "
                         "has an empty, '.' or '..' part or a NUL byte")


def write_h5(dst: str | os.PathLike, layers: Iterable[CaffeLayer], attrs: Mapping[str, str] | None = None,
             log=None, check: Callable[[dict[str, list[tuple[int, ...]]]], None] | None = None,
             finite: bool = True) -> Path:
    """Write layers with blobs as ``/data/<layer>/<i>`` float32 datasets, atomically. ``log`` (a print-like
    callable) gets one line per layer written. ``check`` sees layer name -> blob shapes of every layer with
    blobs once all are written and may raise to leave ``dst`` as it was; with ``finite`` (the default) a blob
    holding NaN or infinity is NonFiniteWeightsError (refuse_nonfinite) and ``dst`` is left as it was too.
    Returns the path."""
    dst = Path(dst)
    seen: set[str] = set()
    counts: dict[str, tuple[int, int, int]] = {}
    shapes: dict[str, list[tuple[int, ...]]] = {}
    with atomic_path(dst) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["converter"] = CONVERTER
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        data = f.create_group("data")
        for layer in layers:
            if layer.name in seen:
                raise ValueError(f"layer {layer.name!r} appears twice; Caffe matches weights by layer name, "
                                 "so names must be unique")
            seen.add(layer.name)
            if log is not None:
                log(layer_line(layer))
            if not layer.blobs:
                continue
            _check_group_name(layer.name)
            shapes[layer.name] = [tuple(b.shape) for b in layer.blobs]
            if finite:
                counts[layer.name] = count_nonfinite(layer.blobs)
            group = data.require_group(layer.name)  # exists already when "a/b" came before "a"
            group.attrs["type"] = layer.type
            for i, blob in enumerate(layer.blobs):
                group.create_dataset(str(i), data=np.asarray(blob, dtype=np.float32))
        if not data:
            raise ValueError(f"no layer with parameter blobs to write to {dst.name}")
        if check is not None:
            check(shapes)
        refuse_nonfinite(counts, attrs.get("source", dst.name) if attrs else dst.name)
    return dst


def layer_line(layer: CaffeLayer) -> str:
    """``name  type  shapes``: the line printed for each layer converted."""
    shapes = " ".join(str(tuple(b.shape)) for b in layer.blobs) if layer.blobs else "(no blobs)"
    return f"{layer.name:<24} {layer.type or '?':<16} {shapes}"


def read_h5(path: str | os.PathLike) -> CaffeModel:
    """The layers of a weights .h5 (groups under /data, nested groups for layer names holding '/')."""
    path = Path(path)
    layers: list[CaffeLayer] = []
    with open_h5(path) as f:
        if "data" not in f or not isinstance(f["data"], h5py.Group):
            raise ValueError(f"{path.name} has no /data group: not weights in Caffe's HDF5 snapshot layout "
                             f"(make one with {kit_command('weights.convert', 'SRC.caffemodel DST.h5')})")

        def visit(group: h5py.Group, prefix: str) -> None:
            blobs = {k: v for k, v in group.items() if isinstance(v, h5py.Dataset)}
            if blobs:
                if set(blobs) != {str(i) for i in range(len(blobs))}:
                    raise ValueError(f"{path.name}: layer {prefix!r} has datasets {sorted(blobs)}; Caffe's "
                                     "layout names them 0, 1, ... in blob order")
                arrays = tuple(np.asarray(blobs[str(i)][()], dtype=np.float32) for i in range(len(blobs)))
                layer_type = group.attrs.get("type", "")
                layers.append(CaffeLayer(prefix, str(layer_type), arrays))
            for key, sub in group.items():
                if isinstance(sub, h5py.Group):
                    visit(sub, f"{prefix}/{key}" if prefix else key)

        visit(f["data"], "")
    return CaffeModel(tuple(layers), "hdf5")


def read_weights(path: str | os.PathLike) -> CaffeModel:
    """A weights file of any format the kit reads, told apart by its content (``weights.formats``): HDF5
    snapshot, binary caffemodel, torch state_dict (Caffe or torchvision VGG16 names) or Chainer .npz."""
    from . import formats  # here: formats builds on this module's HDF5 reader and writer

    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder, not a weights file; name the .h5 (or .caffemodel, .pth, "
                                ".npz) file itself")
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}; fetch a release with make weights NET=NAME "
                                f"(the list: make weights-list)")
    return formats.read(path)


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
                 "; layer names that differ go in weights.snapshot.LAYER_RENAMES.")
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
        from .formats import fill_from_definition

        file_blobs, filled = fill_from_definition(getattr(net, "layers", ()), net_shapes, file_blobs, fmt, source,
                                                  net_name)
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
