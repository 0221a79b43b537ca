"""Caffe's HDF5 snapshot layout, the kit's own weights format (``.h5``).

Layout (what Caffe's ``Net::ToHDF5`` writes and ``CopyTrainedLayersFromHDF5`` reads): dataset
``/data/<layer>/<i>`` holds parameter blob i of layer <layer>, float32, in Caffe's blob shape. Only layers
that have parameter blobs get a group. Each group carries the layer's Caffe type as attribute ``type`` (Caffe
ignores it); the root carries where the weights came from (``source``, ``source_sha256``) and ``converter``.
``open_h5`` is the one opener of every .h5 the kit reads (weights, solverstates): a cut file says it is cut, and a
file that would read another file's bytes (external links or storage, virtual datasets, soft links) is refused
naming the object (data.hdf5). ``read_h5`` takes float32 blobs as they are and float64 ones converted; any other
type (float16, integers) is refused naming the dataset and its type.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from data.files import atomic_path
from data.hdf5 import open_hdf5
from data.layout import kit_command

from .caffemodel import CaffeLayer, CaffeModel
from .errors import HDF5FileError, WeightsFormatError, count_nonfinite, refuse_nonfinite

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# Version of the conversion written into every .h5 (bump when the output of the same input changes).
CONVERTER_VERSION = "1"
CONVERTER = f"fcn-kit weights {CONVERTER_VERSION}"


def open_h5(path: str | os.PathLike, what: str = "weights file") -> h5py.File:
    """``h5py.File(path, "r")`` with HDF5's refusals as one HDF5FileError in the kit's words: the one opener of
    every .h5 the kit reads (weights, solverstates, a table row's weights). A cut file says it is cut, how much
    of it arrived, and to fetch or copy it again; an object that reads outside the file is UnsafeHDF5Error."""
    path = Path(path)
    if path.is_dir():
        raise HDF5FileError(f"{path} is a folder, not a {what}; name the .h5 file itself")
    try:
        return open_hdf5(path, what)
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


def _float32(path: Path, dataset: h5py.Dataset) -> np.ndarray:
    """A blob as float32: Caffe writes float32; float64 (Caffe's double nets, numpy's default) converts without
    loss of what a float32 net can use. Anything else is refused: float16 has lost precision already, and an
    integer or other type is not a weight."""
    if dataset.dtype == np.float32:
        return np.asarray(dataset[()])
    if dataset.dtype == np.float64:
        return np.asarray(dataset[()], dtype=np.float32)
    raise WeightsFormatError(f"{path.name}: dataset {dataset.name} holds {dataset.dtype} values; weights are "
                             "float32 (float64 is converted). A float16 or integer file is not Caffe's weights: "
                             f"convert the original file again ({kit_command('weights.convert', 'SRC DST.h5')})")


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
                arrays = tuple(_float32(path, blobs[str(i)]) for i in range(len(blobs)))
                layer_type = group.attrs.get("type", "")
                layers.append(CaffeLayer(prefix, str(layer_type), arrays))
            for key, sub in group.items():
                if isinstance(sub, h5py.Group):
                    visit(sub, f"{prefix}/{key}" if prefix else key)

        visit(f["data"], "")
    return CaffeModel(tuple(layers), "hdf5")
