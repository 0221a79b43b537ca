"""torch.save files: a state_dict with Caffe layer names (the kit's ``net.state_dict()``, torchfcn's
``*_from_caffe.pth``) and torchvision's VGG16 state_dict (torchfcn's ``vgg16_from_caffe.pth``).

Read with ``torch.load(weights_only=True)``: a pickle that would call anything but the tensor constructors is
refused with an error and never executed.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from data.files import atomic_path

from .caffemodel import CaffeLayer, CaffeModel
from .errors import WeightsFormatError

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

# Blob index -> the parameter's name.
TORCH_NAMES = ("weight", "bias")

# torch words a refused global two ways: an unknown callable ("Unsupported global: GLOBAL io.open"), and one of
# a module it blocks outright ("unsupported GLOBAL posix.system whose module posix is blocked").
_REFUSED_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)")
# The platform modules behind os: os.system pickles as posix.system (nt.system on Windows).
_OS_MODULES = ("posix.", "nt.")


def _unsupported_global(message: str) -> str | None:
    """The callable a refused pickle would have called, as the user knows it (os.system, not posix.system)."""
    found = _REFUSED_GLOBAL.search(message)
    if found is None:
        return None
    name = found.group(1)
    return f"os.{name.split('.', 1)[1]} ({name})" if name.startswith(_OS_MODULES) else name


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
