"""A kit net with its weights, written for other tools: what ``.venv/bin/python -m weights.convert SRC DST`` does for
a DST that is not the kit's .h5 (``export(NET, SRC, DST, FORMAT)`` from Python).

SRC is any weights file ``weights.load`` reads (.h5, caffemodel, torch state_dict, Chainer .npz); it is loaded
strictly into NET first, so a file made for another net is an error before anything is written. DST appears
only when complete.

- ``h5``: the kit's own file (Caffe's HDF5 snapshot layout), complete for NET: torchfcn's or Chainer fcn's
  at-once file, which holds no Scale blobs, becomes a file that loads strictly (as with weights.convert --net).
- ``torchfcn``: a ``torch.save`` state_dict that torchfcn's model class (TORCHFCN_CLASSES) loads with
  ``strict=True``: the kit's keys, which are torchfcn's, less the Scale blobs (torchfcn's FCN8sAtOnce scales
  pool4 and pool3 in code).
- ``caffemodel``: a binary NetParameter in the current ``layer`` format, layer names and types the
  reference's, which Caffe loads into the reference's deploy prototxt.
- ``onnx``: the whole net, opset ONNX_OPSET, inputs named after Caffe's input blobs and outputs after the score
  blobs, batch, height and width dynamic. Made by torch's TorchScript-based exporter
  (``torch.onnx.export(dynamo=False)``): it traces the net once on an example, so the nets' Python-side checks
  and the Deconvolution layer's choice of its per-class path run then, on the example and the weights; the
  torch.export-based exporter cannot trace that choice, which reads the weights.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import nets
from data.files import DestinationExists, atomic_path, refuse_existing

from .caffemodel import CaffeLayer
from .formats import write_caffemodel_layers
from .loader import load, net_blobs, save
from .torch_state import write_state_dict

# Kit net -> the torchfcn 1.9.7 model class (torchfcn.models) with the same parameters; n_class is the net's
# class count. torchfcn has no class for the other nets (AlexNet, NYUD RGB-D and two-stream, SIFT Flow's two
# heads).
TORCHFCN_CLASSES: dict[str, str] = {
    "voc-fcn32s": "FCN32s",
    "voc-fcn16s": "FCN16s",
    "voc-fcn8s": "FCN8s",
    "voc-fcn8s-atonce": "FCN8sAtOnce",
    "nyud-fcn32s-color": "FCN32s",
    "nyud-fcn32s-hha": "FCN32s",
    "pascalcontext-fcn32s": "FCN32s",
    "pascalcontext-fcn16s": "FCN16s",
    "pascalcontext-fcn8s": "FCN8s",
}

# ONNX opset of the export: MaxPool's ceil_mode, ConvTranspose and Slice with computed ends are all there, and
# onnxruntime has run it since 1.11.
ONNX_OPSET = 17
# The example the exporter traces with: any size the net accepts (H and W stay dynamic).
ONNX_EXAMPLE_SIZE = (64, 64)


class ExportError(ValueError):
    """The export cannot be made: an unknown net, a format the net has no counterpart in, a bad destination."""


def _layers(net: nets.CaffeNet, skip_types: tuple[str, ...] = ()) -> list[CaffeLayer]:
    types = {layer.name: layer.type for layer in net.layers}
    return [CaffeLayer(name, types[name], tuple(t.detach().cpu().numpy() for t in tensors))
            for name, tensors in net_blobs(net).items() if types[name] not in skip_types]


def write_torchfcn(net: nets.CaffeNet, dst: str | os.PathLike) -> Path:
    """The net's state_dict as torchfcn's model class holds it: without Scale blobs."""
    if net.name not in TORCHFCN_CLASSES:
        raise ExportError(_no_torchfcn_class(net.name))
    return write_state_dict(dst, _layers(net, skip_types=("Scale",)))


def write_caffemodel_of(net: nets.CaffeNet, dst: str | os.PathLike) -> Path:
    """The net's parameter layers, with Caffe's layer types, as a binary caffemodel."""
    return write_caffemodel_layers(dst, _layers(net))


def write_onnx(net: nets.CaffeNet, dst: str | os.PathLike) -> Path:
    """The net as an ONNX graph (opset ONNX_OPSET; N, H, W dynamic), float32, eval mode."""
    import torch

    example = tuple(torch.zeros(1, c, *ONNX_EXAMPLE_SIZE) for c in net.spec.inputs.values())
    axes = {blob: {0: "N", 2: "H", 3: "W"} for blob in (*net.inputs, *net.outputs)}
    net.eval()
    with atomic_path(dst) as tmp, warnings.catch_warnings(), torch.no_grad():
        # One eager pass first: each Deconvolution then holds its per-class kernels, which the trace records as
        # constants (the graph gets a grouped ConvTranspose, not ops that pick the diagonal out of the kernel).
        net(*example)
        # Expected, see the module docstring: the trace runs the nets' Python-side checks once, and torch calls
        # this exporter deprecated in favour of the one that cannot trace the nets. The constant-folding note
        # is about slices of LRN's padding in FCN-AlexNet, left to onnxruntime.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        torch.onnx.export(net, example, str(tmp), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=list(net.inputs), output_names=list(net.outputs), dynamic_axes=axes,
                          do_constant_folding=False)
    return Path(dst)


WRITERS: dict[str, Callable[[nets.CaffeNet, str | os.PathLike], Path]] = {
    "h5": save,
    "torchfcn": write_torchfcn,
    "caffemodel": write_caffemodel_of,
    "onnx": write_onnx,
}


def _no_torchfcn_class(name: str) -> str:
    return (f"torchfcn has no model class for {name}; its classes FCN32s, FCN16s, FCN8s and FCN8sAtOnce hold "
            f"these nets: {', '.join(TORCHFCN_CLASSES)}. Export {name} as h5, caffemodel or onnx")


def export(net_name: str, src: str | os.PathLike, dst: str | os.PathLike, fmt: str,
           log: Callable[[str], None] | None = print, force: bool = False) -> Path:
    """Load ``src`` strictly into ``net_name`` and write it to ``dst`` in format ``fmt`` (see the module
    docstring); ``dst`` is written atomically and only after the load succeeded (weights holding NaN or
    infinity are refused there). An existing ``dst`` is kept unless ``force``."""
    if fmt not in WRITERS:
        raise ExportError(f"unknown export format {fmt!r}; the formats are {', '.join(WRITERS)}")
    try:
        net_name = nets.canonical_name(net_name)
    except KeyError as e:
        raise ExportError(e.args[0]) from None
    if fmt == "torchfcn" and net_name not in TORCHFCN_CLASSES:
        raise ExportError(_no_torchfcn_class(net_name))
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ExportError(f"{dst} is the source file itself, which is kept; name another destination")
    try:
        refuse_existing(dst, force)
    except DestinationExists as e:
        raise ExportError(str(e)) from None
    net = load(nets.build(net_name), src, log=log)
    path = WRITERS[fmt](net, dst)
    if log is not None:
        extra = {"torchfcn": f" (torchfcn.models.{TORCHFCN_CLASSES.get(net_name)}(n_class={net.num_classes}))",
                 "onnx": f" (opset {ONNX_OPSET}, inputs {', '.join(net.inputs)}, outputs "
                         f"{', '.join(net.outputs)}; N, H, W dynamic)"}.get(fmt, "")
        log(f"{net_name}: {src.name} -> {path} as {fmt}{extra}")
    return path
