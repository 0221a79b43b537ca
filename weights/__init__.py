"""Caffe weights for the kit: read caffemodels without Caffe, keep them in Caffe's HDF5 snapshot layout, load
them strictly into ``nets``, transplant them between nets, and fetch the released ones.

>>> import nets, weights
>>> net = weights.load(nets.build("voc-fcn8s"), "voc-fcn8s.h5")   # or the .caffemodel itself
>>> weights.save(net, "mine.h5")

The package's modules share their names with its command lines (so ``weights.convert`` is the module whose
``convert`` function does the conversion): ``python -m weights.convert``, ``python -m weights.transplant``, ``python -m weights.zoo``,
``python -m weights.bench``.
"""

from .caffemodel import CaffeLayer, CaffeModel, CaffemodelError, read_caffemodel, write_caffemodel
from .snapshot import LAYER_RENAMES, WeightsMismatchError, load, read_weights, save

__all__ = [
    "LAYER_RENAMES",
    "CaffeLayer",
    "CaffeModel",
    "CaffemodelError",
    "WeightsMismatchError",
    "load",
    "read_caffemodel",
    "read_weights",
    "save",
    "write_caffemodel",
]
