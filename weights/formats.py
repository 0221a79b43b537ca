"""Weights files of other tools, read into and written from the kit's one in-memory layout.

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
import pickle
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from data.files import atomic_path

from .caffemodel import CaffeLayer, CaffeModel, read_caffemodel, write_caffemodel
from .snapshot import HDF5_MAGIC, read_h5, write_h5

if TYPE_CHECKING:
    import nets


class WeightsFormatError(ValueError):
    """A weights file that no reader accepts: says what was expected, what was found and what to do."""


# torch.save's legacy (torch < 1.6) file: a protocol-2 pickle whose first object is this magic number (a long).
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
ZIP_MAGIC = b"PK\x03\x04"

# torchvision's vgg16 module path -> the Caffe layer (ledger: format.torchvision-vgg16; features 0, 2, 5, ... are
# conv1_1 .. conv5_3 between the ReLUs and pools; classifier 0, 3, 6 are fc6, fc7, fc8 between ReLU/Dropout).
TORCHVISION_VGG16: dict[str, str] = {
    "features.0": "conv1_1", "features.2": "conv1_2",
    "features.5": "conv2_1", "features.7": "conv2_2",
    "features.10": "conv3_1", "features.12": "conv3_2", "features.14": "conv3_3",
    "features.17": "conv4_1", "features.19": "conv4_2", "features.21": "conv4_3",
    "features.24": "conv5_1", "features.26": "conv5_2", "features.28": "conv5_3",
    "classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8",
}

# Blob index -> the parameter's name in each layout.
TORCH_NAMES = ("weight", "bias")
CHAINER_NAMES = ("W", "b")

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


# ---- torch files: state_dict and torchvision VGG16 ---------------------------------------------------------


def _unsupported_global(message: str) -> str | None:
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    return found.group(1) if found else None


def load_torch_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save'd dict as float32 arrays, read with ``weights_only=True`` (no code runs)."""
    import torch  # here: reading .h5 and .caffemodel files needs no torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        culprit = _unsupported_global(str(e))
        what = f"calls {culprit}" if culprit else "holds more than tensors"
        raise WeightsFormatError(
            f"{path.name} was refused, not loaded: its pickle {what}, which would run when unpickled. A weights "
            "file holds only tensors (torch.load(weights_only=True)). If the file is yours and holds a whole "
            "model, load it yourself and keep its weights: torch.save(model.state_dict(), 'weights.pth')"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise WeightsFormatError(f"{path.name} cannot be read as a torch.save file ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else 'no detail'}): truncated or damaged? "
                                 "Download or save it again") from None
    if not isinstance(obj, Mapping):
        raise WeightsFormatError(f"{path.name} holds a {type(obj).__name__}, not a state_dict (a dict of "
                                 "tensors keyed <layer>.weight / <layer>.bias); save one with "
                                 "torch.save(net.state_dict(), path)")
    out: dict[str, np.ndarray] = {}
    bad = []
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor) or not value.is_floating_point():
            bad.append(f"{key!r}: {type(value).__name__}" + (f" {value.dtype}" if hasattr(value, "dtype") else ""))
            continue
        out[key] = value.detach().to(torch.float32).numpy()
    if bad:
        raise WeightsFormatError(f"{path.name} is not a state_dict of float tensors; these entries are not: "
                                 f"{', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}. A training checkpoint "
                                 "holding a state_dict under a key: save that state_dict on its own")
    return out


def read_torch(path: str | os.PathLike) -> CaffeModel:
    """A torch.save'd state_dict: torchvision's VGG16 names (``features.N``, ``classifier.N``) or Caffe's."""
    path = Path(path)
    tensors = load_torch_dict(path)
    if tensors and all(k.split(".", 1)[0] in ("features", "classifier") for k in tensors):
        return CaffeModel(tuple(torchvision_vgg16_layers(tensors, path.name)), "torchvision-vgg16")
    return CaffeModel(tuple(named_layers(tensors, TORCH_NAMES, ".", path.name)), "state_dict")


def named_layers(arrays: Mapping[str, np.ndarray], names: Sequence[str], sep: str, source: str,
                 types: Mapping[str, str] | None = None) -> list[CaffeLayer]:
    """``<layer><sep><name>`` arrays -> layers with blobs in Caffe's order (``names[i]`` is blob i), in the
    order the file lists them."""
    by_layer: dict[str, dict[int, np.ndarray]] = {}
    unknown = []
    for key, array in arrays.items():
        layer, _, attr = key.rpartition(sep)
        if not layer or attr not in names:
            unknown.append(key)
            continue
        by_layer.setdefault(layer, {})[names.index(attr)] = array
    if unknown:
        shown = ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        spelled = " / ".join(f"<layer>{sep}{n}" for n in names)
        raise WeightsFormatError(f"{source}: keys {shown} are not {spelled}; expected a net's parameters keyed "
                                 "by Caffe layer name")
    layers = []
    for layer, blobs in by_layer.items():
        if sorted(blobs) != list(range(len(blobs))):
            raise WeightsFormatError(f"{source}: layer {layer!r} has {sep}{names[max(blobs)]} but no "
                                     f"{sep}{names[0]}")
        layers.append(CaffeLayer(layer, (types or {}).get(layer, ""),
                                 tuple(np.asarray(blobs[i], np.float32) for i in range(len(blobs)))))
    return layers


def torchvision_vgg16_layers(tensors: Mapping[str, np.ndarray], source: str) -> list[CaffeLayer]:
    """torchvision vgg16 keys -> VGG16's Caffe layers (fc6..fc8 stay InnerProduct-shaped; transplant coerces)."""
    renamed = {}
    unknown = []
    for key, array in tensors.items():
        module, _, attr = key.rpartition(".")
        if module not in TORCHVISION_VGG16:
            unknown.append(key)
            continue
        renamed[f"{TORCHVISION_VGG16[module]}.{attr}"] = array
    if unknown:
        raise WeightsFormatError(f"{source}: {', '.join(unknown[:8])} are not modules of torchvision's vgg16 "
                                 f"(expected {', '.join(TORCHVISION_VGG16)}); a VGG with batch norm or another "
                                 "depth is not Caffe's VGG16")
    types = {name: "InnerProduct" if name.startswith("fc") else "Convolution" for name in TORCHVISION_VGG16.values()}
    return named_layers(renamed, TORCH_NAMES, ".", source, types)


def write_state_dict(path: str | os.PathLike, layers: Iterable[CaffeLayer]) -> Path:
    """``torch.save`` of ``{<layer>.weight, <layer>.bias: tensor}`` in layer order, atomically."""
    import torch

    state = {f"{layer.name}.{TORCH_NAMES[i]}": torch.from_numpy(np.ascontiguousarray(b, np.float32))
             for layer in layers for i, b in enumerate(layer.blobs)}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def write_torchvision_vgg16(path: str | os.PathLike, layers: Iterable[CaffeLayer]) -> Path:
    """VGG16's Caffe layers as a torchvision ``vgg16`` state_dict (fc weights 2-D, as ``nn.Linear`` holds them)."""
    module_of = {caffe: module for module, caffe in TORCHVISION_VGG16.items()}
    out = []
    for layer in layers:
        if layer.name not in module_of:
            raise WeightsFormatError(f"layer {layer.name!r} has no place in torchvision's vgg16 (its layers: "
                                     f"{', '.join(module_of)})")
        blobs = layer.blobs
        if layer.name.startswith("fc"):
            blobs = (blobs[0].reshape(blobs[0].shape[0], -1), *blobs[1:])
        out.append(CaffeLayer(module_of[layer.name], layer.type, blobs))
    return write_state_dict(path, out)


# ---- Chainer fcn .npz --------------------------------------------------------------------------------------


def read_chainer_npz(path: str | os.PathLike) -> CaffeModel:
    """A ``chainer.serializers.save_npz`` file of a Chain whose links are Caffe layers (``<layer>/W``,
    ``<layer>/b``), read with ``allow_pickle=False``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise WeightsFormatError(f"{path.name} cannot be read as a NumPy .npz of arrays ({e}): truncated, or "
                                 "holding pickled objects (refused)") from None
    bad = [k for k, a in arrays.items() if not np.issubdtype(a.dtype, np.floating)]
    if bad:
        raise WeightsFormatError(f"{path.name}: {', '.join(bad[:8])} are not float arrays; a Chainer model's "
                                 "parameters are")
    return CaffeModel(tuple(named_layers(arrays, CHAINER_NAMES, "/", path.name)), "chainer-npz")


def write_chainer_npz(path: str | os.PathLike, layers: Iterable[CaffeLayer]) -> Path:
    """The layers as ``save_npz`` spells them (``<layer>/W``, ``<layer>/b``), uncompressed, atomically."""
    arrays = {f"{layer.name}/{CHAINER_NAMES[i]}": np.asarray(b, np.float32)
              for layer in layers for i, b in enumerate(layer.blobs)}
    with atomic_path(path) as tmp, tmp.open("wb") as f:  # a file object: numpy would append .npz to a name
        np.savez(f, **arrays)
    return Path(path)


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
