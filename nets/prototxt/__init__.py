"""Caffe's text format, both ways, without Caffe: the kit's nets written as prototxts, and prototxts read into nets.

- ``writer``: a kit net's deploy (or with-loss) prototxt, ``deploy_prototxt(NAME)``; the command line
  ``.venv/bin/python -m nets.prototxt NAME [-o FILE]``.
- ``reader``: a NetParameter prototxt read into FileLayers (``read_net``), Caffe's defaults applied, every field's
  line kept (the prototxt audit reads the reference's files with it).
- ``build``: a read file made a kit NetSpec (``to_spec``) or CaffeNet (``from_prototxt``, also ``nets.from_prototxt``),
  its crop offsets checked against the geometry.
- ``schema``: the part of caffe.proto the reader checks fields against (copied by hand).
- ``textformat``: protobuf text-format syntax (tokens, messages, errors at line and column), schema-free.

Importing this package does not import torch (``import nets`` reads the records without it); only ``from_prototxt``
builds a CaffeNet.
"""

from __future__ import annotations

from .build import (
    PrototxtWarning,
    UnsupportedLayerError,
    crop_disagreements,
    from_prototxt,
    multipliers,
    reader_tops,
    to_spec,
)
from .reader import KIT_TYPES, FileLayer, FileNet, Setting, read_net
from .textformat import PrototxtError, parse
from .writer import deploy_prototxt, layer_text

__all__ = ["KIT_TYPES", "FileLayer", "FileNet", "PrototxtError", "PrototxtWarning", "Setting",
           "UnsupportedLayerError", "crop_disagreements", "deploy_prototxt", "from_prototxt", "layer_text",
           "multipliers", "parse", "read_net", "reader_tops", "to_spec"]
