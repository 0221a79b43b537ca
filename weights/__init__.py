"""Caffe weights for the kit: read caffemodels without Caffe, keep them in Caffe's HDF5 snapshot layout, load
them strictly into ``nets``, transplant them between nets, fetch the released ones, and read and write other
tools' formats (``weights.formats``: torch state_dicts as torchfcn and torchvision write them, Chainer .npz;
``weights.export``: torchfcn, caffemodel, ONNX).

>>> import nets, weights
>>> net = weights.load(nets.build("voc-fcn8s"), "voc-fcn8s.h5")   # or the .caffemodel, a .pth, a .npz
>>> weights.save(net, "mine.h5")

Rooms: one module per format (``h5``, ``caffemodel``, ``torch_state``, ``chainer``; ``export`` writes a net for
torchfcn, Caffe or ONNX) around ``formats`` (telling them apart) and ``loader`` (strict loading); ``errors``.
Command lines (``.venv/bin/python -m MODULE``): ``weights.convert`` (any format to any, both directions),
``weights.transplant``, ``weights.zoo``. The conversion benchmark is benchmarks/conversion.py.
"""

try:  # the kit's data package: importing it refuses a package in the working folder that shadows the kit's
    import data.shadowing  # noqa: F401
except ModuleNotFoundError:  # a package named data in the working folder came first
    raise SystemExit(f"error: {getattr(__import__('sys').modules.get('data'), '__file__', 'data')} shadows the "
                     "kit's data package; run the command from another folder (or rename that package)") from None

from .caffemodel import CaffeLayer, CaffeModel, CaffemodelError, read_caffemodel, write_caffemodel
from .errors import HDF5FileError, NonFiniteWeightsError, WeightsFormatError, WeightsMismatchError
from .loader import LAYER_RENAMES, load, read_weights, save

__all__ = [
    "LAYER_RENAMES",
    "HDF5FileError",
    "NonFiniteWeightsError",
    "CaffeLayer",
    "CaffeModel",
    "CaffemodelError",
    "WeightsFormatError",
    "WeightsMismatchError",
    "load",
    "read_caffemodel",
    "read_weights",
    "save",
    "write_caffemodel",
]
