"""Chainer fcn's ``.npz`` files: what ``chainer.serializers.save_npz`` writes for wkentaro/fcn's models, a
``chainer.Chain`` whose links are named after the Caffe layers, each ``Convolution2D`` / ``Deconvolution2D``
holding ``W`` (the Caffe weight shape) and ``b``; the key is the link's path, a slash, the parameter's name."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from data.files import atomic_path

from .caffemodel import CaffeLayer, CaffeModel
from .errors import WeightsFormatError
from .torch_state import named_layers

# Blob index -> the parameter's name.
CHAINER_NAMES = ("W", "b")

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
