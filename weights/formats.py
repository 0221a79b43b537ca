"""The registry of weights formats: each read into and written from the kit's one in-memory layout by its own
module (``h5``, ``caffemodel``, ``torch_state``, ``chainer``; ``export`` writes torchfcn files and ONNX from a
net).

The layout is Caffe's: layer name -> its parameter blobs in Caffe's shapes, float32 (a ``CaffeModel`` whose
``format`` says where it came from; ``CaffeModel.blobs()`` is the mapping ``weights.load`` takes). Each format
is a reader and a writer around that layout, and a file's format is told by its content, never by its name:

============================  ============================================  =====================================
format                        told apart by                                 keys
============================  ============================================  =====================================
``hdf5`` (the kit's)          the HDF5 signature                            ``/data/<layer>/<i>``
``layer`` / ``layers``        a protobuf NetParameter (anything else)       binary caffemodel, current / V1
``state_dict``                a ``torch.save`` file (zip; or the pickle     ``<layer>.weight``, ``<layer>.bias``
                              of torch < 1.6) with Caffe layer names
``torchvision-vgg16``         a ``torch.save`` file with VGG16's            ``features.N.*``, ``classifier.N.*``
                              torchvision names
``chainer-npz``               a zip holding only ``.npy`` arrays            ``<layer>/W``, ``<layer>/b``
============================  ============================================  =====================================

``state_dict`` is both the kit's own ``net.state_dict()`` and torchfcn's ``*_from_caffe.pth`` files: torchfcn
names its modules after the Caffe layers and stores the upsampling kernels, so the keys are the same. torchfcn's
VGG16 (``vgg16_from_caffe.pth``, Caffe's ILSVRC weights) is a torchvision ``vgg16`` state_dict.
``chainer-npz`` is what ``chainer.serializers.save_npz`` writes for wkentaro/fcn's models: a ``chainer.Chain``
whose links are named after the Caffe layers, each ``Convolution2D`` / ``Deconvolution2D`` holding ``W`` (the
Caffe weight shape) and ``b``; the key is the link's path, a slash, the parameter's name.

torch files are read with ``torch.load(weights_only=True)``: a pickle that would call anything but the tensor
constructors is refused with an error and never executed.

torchfcn's and Chainer fcn's at-once FCN-8s scale pool4 and pool3 in code, so their files hold no Scale blobs:
NOT_STORED names the layer types a format may lack, and ``weights.load`` fills those from the net's definition
and says so in one line. Everything else stays strict.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from data.files import not_regular

from .caffemodel import CaffeLayer, CaffeModel, read_caffemodel, write_caffemodel
from .chainer import read_chainer_npz, write_chainer_npz
from .errors import WeightsFormatError
from .h5 import HDF5_MAGIC, read_h5, write_h5
from .torch_state import read_torch, write_state_dict, write_torchvision_vgg16

if TYPE_CHECKING:
    import nets

# torch.save's legacy (torch < 1.6) file: a protocol-2 pickle whose first object is this magic number (a long).
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
ZIP_MAGIC = b"PK\x03\x04"

# Caffe layer types a format may not store, and how the net's definition gives their blobs.
NOT_STORED: dict[str, tuple[str, ...]] = {
    "state_dict": ("Scale",),   # torchfcn's FCN8sAtOnce: pool4 * 0.01 and pool3 * 0.0001 in forward()
    "chainer-npz": ("Scale",),  # Chainer fcn's FCN8sAtOnce: the same, in __call__
}
FROM_DEFINITION: dict[str, Callable[[nets.Layer, tuple[int, ...]], np.ndarray]] = {
    "Scale": lambda layer, shape: np.full(shape, layer.scale_value, np.float32),
}

DESCRIPTIONS = {
    "hdf5": "weights .h5 (Caffe's HDF5 snapshot layout)",
    "layer": "caffemodel",
    "layers": "caffemodel (V1 'layers')",
    "state_dict": "torch state_dict with Caffe layer names (the kit's or torchfcn's)",
    "torchvision-vgg16": "torchvision VGG16 state_dict",
    "chainer-npz": "Chainer fcn .npz",
}


# ---- telling formats apart ---------------------------------------------------------------------------------


def sniff(path: str | os.PathLike) -> str:
    """The container of a weights file from its first bytes: "hdf5", "torch", "npz" or "caffemodel" (the
    protobuf has no signature: anything else is handed to the caffemodel reader, which names what it found)."""
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder, not a weights file; name the .h5 (or .caffemodel, .pth, "
                                ".npz) file itself")
    if not_regular(path):  # reading a FIFO waits for a writer, /dev/zero never ends
        raise FileNotFoundError(f"{path} is {not_regular(path)}, not a regular file; name the weights file itself")
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}; fetch a release with make weights NET=NAME "
                                "(the list: make weights-list)")
    with path.open("rb") as f:
        head = f.read(len(TORCH_LEGACY_MAGIC))
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path)
    if head == TORCH_LEGACY_MAGIC:
        return "torch"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        raise WeightsFormatError(f"{path.name} is a Python pickle but not a torch.save file; it was not "
                                 "unpickled (unpickling can run code). Expected weights: .h5, .caffemodel, a "
                                 "torch.save state_dict (.pth) or a Chainer .npz")
    return "caffemodel"


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise WeightsFormatError(f"{path.name} starts as a zip archive (a torch.save .pth or a NumPy .npz) but "
                                 f"its directory cannot be read ({e}): truncated or damaged? Download it "
                                 "again") from None
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise WeightsFormatError(f"{path.name} is a zip archive holding neither a torch.save pickle (.../data.pkl) "
                             f"nor NumPy arrays (*.npy); found: {shown or 'nothing'}")


def read(path: str | os.PathLike) -> CaffeModel:
    """Any weights file the kit reads, in the one layout (format told by content; see the module docstring)."""
    path = Path(path)
    kind = sniff(path)
    if kind == "hdf5":
        return read_h5(path)
    if kind == "torch":
        return read_torch(path)
    if kind == "npz":
        return read_chainer_npz(path)
    return read_caffemodel(path)


# ---- one writer per format ---------------------------------------------------------------------------------


def write_caffemodel_layers(path: str | os.PathLike, layers: Iterable[CaffeLayer]) -> Path:
    """A binary caffemodel (current ``layer`` format); layer types must be Caffe's."""
    write_caffemodel(path, [(layer.name, layer.type, layer.blobs) for layer in layers])
    return Path(path)


WRITERS: dict[str, Callable[[str | os.PathLike, Iterable[CaffeLayer]], Path]] = {
    "hdf5": write_h5,
    "layer": write_caffemodel_layers,
    "state_dict": write_state_dict,
    "torchvision-vgg16": write_torchvision_vgg16,
    "chainer-npz": write_chainer_npz,
}


# ---- what a format does not store --------------------------------------------------------------------------


def fill_from_definition(layers: Sequence[nets.Layer], shapes: Mapping[str, Sequence[Sequence[int]]],
                         blobs: Mapping[str, Sequence[np.ndarray]], fmt: str, source: str,
                         net_name: str) -> tuple[dict[str, Sequence[np.ndarray]], str | None]:
    """``blobs`` plus, for every layer of a type the format ``fmt`` does not store (NOT_STORED) and that the
    file lacks, the blobs the net's definition gives it (its shapes from ``shapes``); and the one line that says
    so (None when nothing was filled), for the caller to print once the weights are known to fit."""
    kinds = NOT_STORED.get(fmt, ())
    missing = [layer for layer in layers if layer.type in kinds and layer.name in shapes and layer.name not in blobs]
    if not missing:
        return dict(blobs), None
    out = dict(blobs)
    parts = []
    for layer in missing:
        shape = tuple(shapes[layer.name][0])
        out[layer.name] = [FROM_DEFINITION[layer.type](layer, shape)]
        parts.append(f"{layer.name} {shape} = {layer.scale_value}" if layer.type == "Scale" else layer.name)
    types = "/".join(sorted({layer.type for layer in missing}))
    return out, (f"{source}: a {DESCRIPTIONS.get(fmt, fmt)} stores no {types} blobs; filled from {net_name}'s "
                 f"definition: {', '.join(parts)}")
