"""Caffe weights for the kit: read caffemodels without Caffe, keep them in Caffe's HDF5 snapshot layout, load
them strictly into ``nets``, transplant them between nets, and fetch the released ones.

>>> import nets, weights
>>> net = weights.load(nets.build("voc-fcn8s"), "voc-fcn8s.h5")   # or the .caffemodel itself
>>> weights.save(net, "mine.h5")

Command lines (``.venv/bin/python -m MODULE``): ``weights.convert``, ``weights.transplant``, ``weights.zoo``,
``weights.bench``; each module's function of the same name does the work (``weights.convert`` is the module,
``weights.convert.convert`` the function).
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
