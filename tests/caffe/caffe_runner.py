"""Run real BVLC Caffe for the kit's parity tests.

This script runs under the pycaffe interpreter that build_caffe.sh makes (numpy<2, its own process); the kit
(numpy 2) drives it through harness.py. Arrays travel as HDF5 files:

- parameters: ``/data/<layer>/<i>``, Caffe's HDF5 snapshot layout (blob i of layer <layer>; a '/' in a layer name
  nests groups);
- inputs: ``/inputs/<blob>`` for the tops of the net's Input layers; blobs here and in the outputs are flat
  datasets under percent-encoded names (``blob_key``).

Subcommands:

- ``forward``: load parameters, feed inputs, run Net::Forward (and Net::Backward with ``--backward``), write
  every blob (``/blobs``), and with ``--backward`` every parameter diff (``/param_diff``) and blob diff
  (``/blob_diff``), the total loss (``/loss``) and ``/meta`` attributes (layer and blob names in order).
- ``save-caffemodel``: write the parameters as a binary caffemodel, current format (Net::ToProto) or, with
  ``--v1``, the old V1 format (``layers`` of V1LayerParameter, legacy num/channels/height/width blob dims,
  composed with caffe_pb2), and prove it by loading it back into a fresh caffe.Net: every blob must equal the
  given parameters bit for bit.
- ``dump-caffemodel``: load a caffemodel with Caffe and write its parameters with the shapes Caffe gives them.
- ``solve``: run Caffe's SGDSolver N steps on fixed inputs and write the parameters, the momentum history
  (read from a .solverstate snapshot, since pycaffe does not expose it) and the loss after every step.
- ``coord-map``: describe a prototxt's net through Caffe's net-spec (caffe.NetSpec, caffe.layers), check that it
  writes back the same layers, and derive every Crop's offset with Caffe's own ``coord_map.crop``, as the
  reference's net.py files did; writes them as JSON.

``forward --truncate-after BLOB`` runs only the layers up to the last one writing BLOB (BVLC GoogLeNet's deploy
net without its classifier), with the Input layers' shapes set to the given inputs.

Every output is written to a temporary file in the destination folder and then renamed into place.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import h5py
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

import caffe  # noqa: E402  (after GLOG_minloglevel so that Caffe's start-up logging is quiet)
from caffe import coord_map, net_spec  # noqa: E402
from caffe.proto import caffe_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402

PHASES = {"test": caffe.TEST, "train": caffe.TRAIN}

# Current layer type string -> V1LayerParameter.LayerType name (the inverse of Caffe's UpgradeV1LayerType).
V1_TYPES = {
    "AbsVal": "ABSVAL", "Accuracy": "ACCURACY", "ArgMax": "ARGMAX", "BNLL": "BNLL", "Concat": "CONCAT",
    "ContrastiveLoss": "CONTRASTIVE_LOSS", "Convolution": "CONVOLUTION", "Data": "DATA",
    "Deconvolution": "DECONVOLUTION", "Dropout": "DROPOUT", "DummyData": "DUMMY_DATA",
    "EuclideanLoss": "EUCLIDEAN_LOSS", "Eltwise": "ELTWISE", "Exp": "EXP", "Flatten": "FLATTEN",
    "HDF5Data": "HDF5_DATA", "HDF5Output": "HDF5_OUTPUT", "HingeLoss": "HINGE_LOSS", "Im2col": "IM2COL",
    "ImageData": "IMAGE_DATA", "InfogainLoss": "INFOGAIN_LOSS", "InnerProduct": "INNER_PRODUCT", "LRN": "LRN",
    "MemoryData": "MEMORY_DATA", "MultinomialLogisticLoss": "MULTINOMIAL_LOGISTIC_LOSS", "MVN": "MVN",
    "Pooling": "POOLING", "Power": "POWER", "ReLU": "RELU", "Sigmoid": "SIGMOID",
    "SigmoidCrossEntropyLoss": "SIGMOID_CROSS_ENTROPY_LOSS", "Silence": "SILENCE", "Softmax": "SOFTMAX",
    "SoftmaxWithLoss": "SOFTMAX_LOSS", "Split": "SPLIT", "Slice": "SLICE", "TanH": "TANH",
    "WindowData": "WINDOW_DATA", "Threshold": "THRESHOLD",
}


class RunnerError(Exception):
    """Bad input to the runner: reported on stderr with exit status 2."""


# ---- files -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(out: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; rename it to ``out`` only if the block succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def h5_key(name: str, what: str) -> str:
    """A layer name as an HDF5 path: a '/' in it (BVLC GoogLeNet's ``conv1/7x7_s2``) nests groups, as in the
    kit's weights layout (a layer's group may hold both its blobs and deeper layers' groups)."""
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise RunnerError(f"{what} name {name!r} cannot be an HDF5 path (an empty, '.' or '..' part)")
    return name


def blob_key(name: str) -> str:
    """A blob name as one flat HDF5 dataset name, '/' and '%' percent-encoded: blobs are datasets, so "a" and "a/b"
    could not both be paths (harness.py decodes the same way)."""
    return urllib.parse.quote(name, safe="")


def read_blob_lists(group: h5py.Group, where: str, lazy: bool = False, prefix: str = "") -> dict[str, list[Any]]:
    """Read ``<group>/<layer>/<i>`` (i = 0, 1, ...) into {layer: [array, ...]}; a layer name holding '/' is a
    path of nested groups (a group holding only groups is such a path, not a layer). ``lazy``: the datasets
    themselves, read when used (while the file is open)."""
    out = {}
    for key, sub in group.items():
        layer = f"{prefix}{key}"
        if not isinstance(sub, h5py.Group):
            if prefix:
                continue  # a blob of the layer ``prefix`` names, read with it
            raise RunnerError(f"{where}/{layer} is a dataset; expected a group of blobs named 0, 1, ...")
        keys = sorted((k for k, v in sub.items() if isinstance(v, h5py.Dataset)),
                      key=lambda k: int(k) if k.isdigit() else -1)
        if keys or not len(sub):  # blobs, or an empty group: a layer given no blobs (not a part of a name)
            if keys != [str(i) for i in range(len(keys))]:
                raise RunnerError(f"{where}/{layer} holds {keys}; expected blobs named 0..{len(keys) - 1}")
            out[layer] = [sub[k] if lazy else np.asarray(sub[k][()]) for k in keys]
        out.update(read_blob_lists(sub, where, lazy, f"{layer}/"))
    return out


def read_params(path: Path) -> dict[str, list[np.ndarray]]:
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise RunnerError(f"{path} has no /data group; expected parameters as /data/<layer>/<i>")
        return read_blob_lists(f["data"], "/data")


def read_inputs(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        if "inputs" not in f:
            raise RunnerError(f"{path} has no /inputs group; expected input blobs as /inputs/<blob>")
        return {urllib.parse.unquote(key): np.asarray(ds[()]) for key, ds in f["inputs"].items()}


def write_blob_lists(group: h5py.Group, blobs: dict[str, list[np.ndarray]]) -> None:
    for layer, arrays in blobs.items():
        sub = group.create_group(h5_key(layer, "layer"))
        for i, a in enumerate(arrays):
            sub.create_dataset(str(i), data=a)


def string_attr(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=h5py.string_dtype())


# ---- nets --------------------------------------------------------------------------------------------------


def read_net_param(prototxt: Path) -> caffe_pb2.NetParameter:
    param = caffe_pb2.NetParameter()
    try:
        text_format.Merge(prototxt.read_text(), param)
    except text_format.ParseError as err:
        raise RunnerError(f"{prototxt} is not a valid Caffe NetParameter prototxt: {err}") from err
    return param


def net_params(net: caffe.Net) -> dict[str, list[np.ndarray]]:
    return {name: [b.data.copy() for b in blobs] for name, blobs in net.params.items()}


def load_params(net: caffe.Net, params: dict[str, list[np.ndarray]], source: Path) -> None:
    """Copy ``params`` into the net strictly: same layers, same blob counts, same shapes."""
    missing = [name for name in net.params if name not in params]
    unknown = [name for name in params if name not in net.params]
    if unknown:
        raise RunnerError(f"{source} has parameters for layers {unknown} that the net does not have "
                          f"(layers with parameters: {list(net.params)})")
    if missing:
        raise RunnerError(f"{source} lacks parameters for the net's layers {missing}; every layer with blobs "
                          "must be given")
    for name, blobs in net.params.items():
        given = params[name]
        if len(given) != len(blobs):
            raise RunnerError(f"layer {name}: {source} has {len(given)} blobs, the net has {len(blobs)}")
        for i, (blob, a) in enumerate(zip(blobs, given, strict=True)):
            if tuple(a.shape) != tuple(blob.data.shape):
                raise RunnerError(f"layer {name} blob {i}: {source} has shape {tuple(a.shape)}, "
                                  f"Caffe expects {tuple(blob.data.shape)}")
            blob.data[...] = a


def set_inputs(net: caffe.Net, inputs: dict[str, np.ndarray], source: Path) -> None:
    """Reshape the Input layers' tops to the given arrays, reshape the net, then fill them."""
    wanted = list(net.inputs)
    unknown = [name for name in inputs if name not in wanted]
    missing = [name for name in wanted if name not in inputs]
    if unknown or missing:
        raise RunnerError(f"{source} gives inputs {sorted(inputs)}; the net's Input layers produce {wanted} "
                          f"(missing {missing}, unknown {unknown})")
    for name in wanted:
        net.blobs[name].reshape(*inputs[name].shape)
    net.reshape()
    for name in wanted:
        net.blobs[name].data[...] = inputs[name]


def loss_weights(net: caffe.Net) -> dict[str, float]:
    return {name: float(w) for name, w in zip(net._blob_names, net._blob_loss_weights, strict=True) if w != 0}


def write_meta(f: h5py.File, net: caffe.Net) -> None:
    meta = f.create_group("meta")
    meta.attrs["layers"] = string_attr(list(net._layer_names))
    meta.attrs["layer_types"] = string_attr([layer.type for layer in net.layers])
    meta.attrs["blobs"] = string_attr(list(net.blobs))
    meta.attrs["inputs"] = string_attr(list(net.inputs))
    meta.attrs["outputs"] = string_attr(list(net.outputs))
    weights = loss_weights(net)
    meta.attrs["loss_blobs"] = string_attr(list(weights))
    meta.attrs["loss_weights"] = np.array(list(weights.values()), dtype=np.float64)


# ---- forward -----------------------------------------------------------------------------------------------


def truncated(param: caffe_pb2.NetParameter, last_blob: str,
              inputs: dict[str, np.ndarray]) -> caffe_pb2.NetParameter:
    """The net's layers up to the last one writing ``last_blob``, its Input layers shaped like ``inputs``."""
    writers = [i for i, layer in enumerate(param.layer) if last_blob in layer.top]
    if not writers:
        raise RunnerError(f"--truncate-after {last_blob}: no layer of the net writes that blob")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    del out.layer[writers[-1] + 1:]
    for layer in out.layer:
        if layer.type == "Input":
            del layer.input_param.shape[:]
            for top in layer.top:
                if top not in inputs:
                    raise RunnerError(f"no input given for the Input layer's top {top}")
                layer.input_param.shape.add().dim.extend(inputs[top].shape)
    return out


def cmd_forward(args: argparse.Namespace) -> None:
    if args.backward and not read_net_param(args.prototxt).force_backward:
        raise RunnerError(f"--backward needs 'force_backward: true' in {args.prototxt}; without it Caffe "
                          "skips the diffs of blobs that do not lead to parameters (the inputs among them)")
    prototxt = args.prototxt
    if args.truncate_after:
        prototxt = args.out.with_name(args.out.name + ".truncated.prototxt")
        prototxt.write_text(text_format.MessageToString(
            truncated(read_net_param(args.prototxt), args.truncate_after, read_inputs(args.inputs))))
    net = caffe.Net(str(prototxt), PHASES[args.phase])
    load_params(net, read_params(args.params), args.params)
    set_inputs(net, read_inputs(args.inputs), args.inputs)
    # Net::ForwardFromTo returns the weighted sum of the loss blobs (pycaffe's forward() drops it).
    loss = net._forward(0, len(net.layers) - 1)
    if args.backward:
        net.clear_param_diffs()
        net._backward(len(net.layers) - 1, 0)
    with atomic_path(args.out) as tmp, h5py.File(tmp, "w") as f:
        write_meta(f, net)
        f.create_dataset("loss", data=np.float64(loss))
        blobs = f.create_group("blobs")
        for name, blob in net.blobs.items():
            blobs.create_dataset(blob_key(name), data=blob.data)
        if args.backward:
            write_blob_lists(f.create_group("param_diff"),
                             {name: [b.diff for b in bl] for name, bl in net.params.items()})
            diffs = f.create_group("blob_diff")
            for name, blob in net.blobs.items():
                diffs.create_dataset(blob_key(name), data=blob.diff)


# ---- Caffe's net-spec and coord_map -------------------------------------------------------------------------


def message_value(field, value: Any) -> Any:
    """A protobuf field's value as net-spec keyword arguments take it: messages as dicts, repeated as lists."""
    if field.type == field.TYPE_MESSAGE:
        as_dict = lambda m: {f.name: message_value(f, v) for f, v in m.ListFields()}  # noqa: E731
        return [as_dict(m) for m in value] if field.label == field.LABEL_REPEATED else as_dict(value)
    return list(value) if field.label == field.LABEL_REPEATED else value


def layer_kwargs(layer: caffe_pb2.LayerParameter) -> dict[str, Any]:
    """The keyword arguments of ``caffe.layers.<type>`` that describe ``layer``, written as the reference's net.py
    files wrote them: the type's own parameters flat (``kernel_size=...``: coord_map reads a Pooling layer's
    there), every other field under its own name (``param=[...]``, Deconvolution's ``convolution_param``)."""
    own = net_spec._param_names.get(layer.type)
    kwargs: dict[str, Any] = {"name": layer.name}
    for field, value in layer.ListFields():
        if field.name in ("name", "type", "bottom", "top"):
            continue
        if own is not None and field.name == f"{own}_param":
            kwargs.update(message_value(field, value))
        else:
            kwargs[field.name] = message_value(field, value)
    if len(layer.top) != 1:
        kwargs["ntop"] = len(layer.top)
    return kwargs


def check_concat_aligned(layer: caffe_pb2.LayerParameter, tops: dict[str, Any]) -> None:
    """Caffe's coord_map has no mapping for Concat (it may join along a spatial axis); one along channels is a
    pass-through exactly when coord_map maps each bottom onto the first one with scale 1 and shift 0. Raise
    unless Caffe's own coord_map_from_to says so for every bottom."""
    if layer.concat_param.axis != 1:
        raise RunnerError(f"Concat {layer.name} joins along axis {layer.concat_param.axis}, not channels")
    first = tops[layer.bottom[0]]
    for b in layer.bottom[1:]:
        _, scale, shift = coord_map.coord_map_from_to(tops[b], first)
        if not (np.all(scale == 1) and np.all(shift == 0)):
            raise RunnerError(f"Concat {layer.name}: coord_map maps {b} onto {layer.bottom[0]} with scale {scale} "
                              f"and shift {shift}; its bottoms do not line up")


def cmd_coord_map(args: argparse.Namespace) -> None:
    param = read_net_param(args.prototxt)
    n = caffe.NetSpec()
    tops: dict[str, Any] = {}
    crops: dict[str, dict[str, Any]] = {}
    concats: list[str] = []
    for layer in param.layer:
        bottoms = [tops[b] for b in layer.bottom]
        in_place = bool(layer.bottom) and list(layer.bottom) == list(layer.top)
        if layer.type == "Crop":
            # As net.py: the offset comes from coord_map, never from the prototxt.
            try:
                out = coord_map.crop(*bottoms)
            except AssertionError as err:
                raise RunnerError(f"Caffe's coord_map.crop refuses crop {layer.name}: {err}") from err
            out.fn.params["name"] = layer.name
            crop_param = out.fn.params["crop_param"]
            crops[layer.name] = {"axis": int(crop_param["axis"]), "offset": [int(o) for o in crop_param["offset"]]}
        else:
            kwargs = layer_kwargs(layer)
            if in_place:
                kwargs["in_place"] = True
            out = getattr(caffe.layers, layer.type)(*bottoms, **kwargs)
        outs = dict(zip(layer.top, out if isinstance(out, tuple) else (out,), strict=True))
        tops.update(outs)
        if in_place:
            n[layer.name] = out  # as net.py: an in-place layer is assigned under its layer name
        else:
            for top, t in outs.items():
                n[top] = t
        if layer.type == "Concat":
            check_concat_aligned(layer, tops)
            concats.append(layer.name)
            if "Concat" not in coord_map.PASS_THROUGH_LAYERS:
                coord_map.PASS_THROUGH_LAYERS.append("Concat")
    # The net-spec net must be the prototxt's net, layer for layer (crop offsets aside).
    written = {layer.name: layer for layer in n.to_proto().layer}
    for layer in param.layer:
        ours, theirs = caffe_pb2.LayerParameter(), written.get(layer.name)
        ours.CopyFrom(layer)
        if theirs is None:
            raise RunnerError(f"net-spec wrote no layer {layer.name}")
        if layer.type == "Crop":
            ours.crop_param.ClearField("offset")
            theirs.crop_param.ClearField("offset")
        if ours != theirs:
            raise RunnerError(f"net-spec wrote layer {layer.name} as\n{theirs}\nnot as the prototxt's\n{ours}")
    if len(written) != len(param.layer):
        raise RunnerError(f"net-spec wrote {len(written)} layers for the prototxt's {len(param.layer)}")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps({"crops": crops, "concats_aligned": concats, "layers": len(written)}))


# ---- caffemodels -------------------------------------------------------------------------------------------

# The fields the V1 writer composes by hand, looked up in Caffe's own schema (caffe_pb2) rather than typed in.
NET_LAYER_FIELD = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name["layer"]
NET_LAYERS_FIELD = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name["layers"]
V1_BLOBS_FIELD = caffe_pb2.V1LayerParameter.DESCRIPTOR.fields_by_name["blobs"]
BLOB_DATA_FIELD = caffe_pb2.BlobProto.DESCRIPTOR.fields_by_name["data"]
# Protobuf wire types.
WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5

Chunk = bytes | memoryview


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field: int, payload: list[Chunk]) -> list[Chunk]:
    """One protobuf field of wire type 2 (a message, or a packed repeated scalar) as chunks to write in order:
    its key and length, then the payload chunks themselves (never joined, so a 400 MB blob is not copied)."""
    return [varint(field << 3 | WIRE_LEN) + varint(sum(len(c) for c in payload)), *payload]


def v1_blob_chunks(a: np.ndarray) -> list[Chunk]:
    """A BlobProto with legacy num/channels/height/width dims (up to 4 axes, padded with 1 in front).

    The dims are serialized by caffe_pb2; the float payload (BlobProto.data, packed float in caffe.proto) is
    appended as the array's own little-endian bytes, because filling a repeated field from pure-Python
    protobuf costs minutes and gigabytes for VGG-sized blobs.
    """
    if a.ndim > 4:
        raise RunnerError(f"a blob of shape {a.shape} has more than 4 axes; the V1 format cannot store it")
    dims = (1,) * (4 - a.ndim) + tuple(a.shape)
    head = caffe_pb2.BlobProto(num=dims[0], channels=dims[1], height=dims[2], width=dims[3])
    chunks: list[Chunk] = [head.SerializeToString()]
    if a.size:  # protobuf writes nothing for an empty packed field
        chunks += length_delimited(BLOB_DATA_FIELD.number, [memoryview(np.ascontiguousarray(a, "<f4")).cast("B")])
    return chunks


def v1_layer(layer: caffe_pb2.LayerParameter) -> caffe_pb2.V1LayerParameter:
    """The V1LayerParameter (without blobs) that Caffe's UpgradeV1LayerParameter turns back into ``layer``."""
    if layer.type not in V1_TYPES:
        raise RunnerError(f"layer {layer.name} of type {layer.type} has no V1 layer type")
    v1 = caffe_pb2.V1LayerParameter(name=layer.name, type=caffe_pb2.V1LayerParameter.LayerType.Value(
        V1_TYPES[layer.type]))
    v1.bottom.extend(layer.bottom)
    v1.top.extend(layer.top)
    v1.include.extend(layer.include)
    v1.exclude.extend(layer.exclude)
    v1.loss_weight.extend(layer.loss_weight)
    # ParamSpec -> the V1 parallel lists; a list is written only when some spec sets that field.
    if any(p.name for p in layer.param):
        v1.param.extend(p.name for p in layer.param)
    if any(p.HasField("lr_mult") for p in layer.param):
        v1.blobs_lr.extend(p.lr_mult for p in layer.param)
    if any(p.HasField("decay_mult") for p in layer.param):
        v1.weight_decay.extend(p.decay_mult for p in layer.param)
    v1_fields = caffe_pb2.V1LayerParameter.DESCRIPTOR.fields_by_name
    for field, value in layer.ListFields():
        if field.name.endswith("_param") and field.name != "param":
            if field.name not in v1_fields:
                raise RunnerError(f"layer {layer.name}: {field.name} has no V1 counterpart")
            getattr(v1, field.name).CopyFrom(value)
    return v1


def write_v1_caffemodel(net_param: caffe_pb2.NetParameter, params: dict[str, list[np.ndarray]],
                        out: Path) -> tuple[int, list[str]]:
    """Write a V1 NetParameter; return the number of V1 layers written and the names of the layers left out
    (no V1 type and no blobs, e.g. Crop).

    Input layers become the net-level ``input``/``input_dim`` fields, as in the original VGG16 ILSVRC model.
    The file is streamed layer by layer and blob data goes from ``params`` to the file without a copy, so a
    full-size net never sits in memory as one message.
    """
    if not (BLOB_DATA_FIELD.type == BLOB_DATA_FIELD.TYPE_FLOAT and BLOB_DATA_FIELD.GetOptions().packed):
        raise RunnerError("this caffe.proto does not declare BlobProto.data as packed float; the V1 writer "
                          "encodes it that way and cannot write this schema")
    head = caffe_pb2.NetParameter(name=net_param.name)
    left_out = []
    body = []
    for layer in net_param.layer:
        if layer.type == "Input":
            for top, shape in zip(layer.top, layer.input_param.shape, strict=False):
                head.input.append(top)
                dims = list(shape.dim)
                if len(dims) != 4:
                    raise RunnerError(f"Input {top} has shape {dims}; V1 input_dim needs 4 axes")
                head.input_dim.extend(dims)
            continue
        if layer.type not in V1_TYPES:
            if layer.name in params:
                raise RunnerError(f"layer {layer.name} of type {layer.type} has blobs but no V1 layer type")
            left_out.append(layer.name)
            continue
        body.append((v1_layer(layer), params.get(layer.name, [])))
    with out.open("wb") as f:
        f.write(head.SerializeToString())
        for v1, blobs in body:
            chunks: list[Chunk] = [v1.SerializeToString()]
            for a in blobs:
                chunks += length_delimited(V1_BLOBS_FIELD.number, v1_blob_chunks(a))
            for chunk in length_delimited(NET_LAYERS_FIELD.number, chunks):
                f.write(chunk)
    return len(body), left_out


def read_varint(f: BinaryIO, path: Path) -> int | None:
    """The next varint of ``f``; None at a clean end of file."""
    result = shift = 0
    while True:
        byte = f.read(1)
        if not byte:
            if shift:
                raise RunnerError(f"{path} ends inside a varint")
            return None
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7


def top_level_fields(path: Path) -> Counter[int]:
    """How many times each field number occurs at the top level of a protobuf file.

    Each field is skipped by its length, so no payload is decoded; a field running past the end of the file
    is an error. Enough to tell a V1 NetParameter (``layers``) from a current one (``layer``) at any size.
    """
    counts: Counter[int] = Counter()
    size = path.stat().st_size
    with path.open("rb") as f:
        while (key := read_varint(f, path)) is not None:
            number, wire = key >> 3, key & 7
            if wire == WIRE_VARINT:
                if read_varint(f, path) is None:
                    raise RunnerError(f"{path} ends inside field {number}")
                skip = 0
            elif wire == WIRE_LEN:
                length = read_varint(f, path)
                if length is None:
                    raise RunnerError(f"{path} ends inside the length of field {number}")
                skip = length
            elif wire in (WIRE_I32, WIRE_I64):
                skip = 4 if wire == WIRE_I32 else 8
            else:
                raise RunnerError(f"{path}: field {number} has wire type {wire}, which caffe.proto never uses")
            if f.seek(skip, os.SEEK_CUR) > size:
                raise RunnerError(f"{path}: field {number} runs past the end of the file")
            counts[number] += 1
    return counts


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a32 = np.ascontiguousarray(a, np.float32)
    b32 = np.ascontiguousarray(b, np.float32)
    return a32.shape == b32.shape and np.array_equal(a32.view(np.uint32), b32.view(np.uint32))


def check_same(got: dict[str, list[np.ndarray]], want: dict[str, list[Any]], what: str) -> None:
    """Every blob of ``want`` (arrays or HDF5 datasets, read one at a time) is in ``got`` with the same shape
    and float32 bits; else a RunnerError."""
    if set(got) != set(want) or any(len(got[name]) != len(blobs) for name, blobs in want.items()):
        raise RunnerError(f"{what} has blobs {[(n, len(b)) for n, b in got.items()]}; "
                          f"expected {[(n, len(b)) for n, b in want.items()]}")
    for name, blobs in want.items():
        for i, a in enumerate(blobs):
            if not same_bits(got[name][i], a[()] if isinstance(a, h5py.Dataset) else a):
                raise RunnerError(f"{what}: layer {name} blob {i} differs from the parameters given")


def cmd_save_caffemodel(args: argparse.Namespace) -> None:
    net = caffe.Net(str(args.prototxt), caffe.TEST)
    params = read_params(args.params)
    load_params(net, params, args.params)
    # What Caffe holds (float32 views of the net's blobs, not copies) is what goes into the file and what the
    # load below must give back; first make sure it is what the caller gave, bit for bit.
    held = {name: [b.data for b in blobs] for name, blobs in net.params.items()}
    check_same(held, params, f"the net after loading {args.params}")
    del params  # a VGG net is 550 MB a copy
    with atomic_path(args.out) as tmp:
        if args.v1:
            n_layers, left_out = write_v1_caffemodel(read_net_param(args.prototxt), held, tmp)
            fields = top_level_fields(tmp)
            if fields[NET_LAYER_FIELD.number] or fields[NET_LAYERS_FIELD.number] != n_layers:
                raise RunnerError(f"the written file has {fields[NET_LAYER_FIELD.number]} current and "
                                  f"{fields[NET_LAYERS_FIELD.number]} V1 layers; expected {n_layers} V1 layers")
            if left_out:
                print(f"V1 caffemodel: left out layers without V1 type and blobs: {left_out}", file=sys.stderr)
        else:
            net.save(str(tmp))
        # Proof that the file is a valid caffemodel holding exactly the given parameters: Caffe itself parses
        # it (upgrading V1 on load, UpgradeV1Net) into a fresh net. For V1 this Caffe load, not a Python parse,
        # is what validates the hand-composed fields. The writing net goes first (the views in ``held`` keep
        # its blobs alive) and the given parameters are read again one blob at a time, so that Caffe's parsed
        # message and the fresh net are the only full copies in memory.
        del net, held
        loaded = caffe.Net(str(args.prototxt), str(tmp), caffe.TEST)
        with h5py.File(args.params, "r") as f:
            check_same({name: [b.data for b in blobs] for name, blobs in loaded.params.items()},
                       read_blob_lists(f["data"], "/data", lazy=True),
                       f"the net Caffe loaded from the written {'V1' if args.v1 else 'current-format'} file")


def cmd_dump_caffemodel(args: argparse.Namespace) -> None:
    if not args.model.is_file():
        raise RunnerError(f"no caffemodel at {args.model}")
    net = caffe.Net(str(args.prototxt), str(args.model), caffe.TEST)
    with atomic_path(args.out) as tmp, h5py.File(tmp, "w") as f:
        write_meta(f, net)
        # Straight from the blobs (no copies): a full-size net is 550 MB.
        write_blob_lists(f.create_group("data"), {name: [b.data for b in bl] for name, bl in net.params.items()})


# ---- solver ------------------------------------------------------------------------------------------------


def read_history(state_path: Path, net: caffe.Net) -> dict[str, list[np.ndarray]]:
    """SGDSolver's momentum history from an HDF5 .solverstate.h5: datasets history/<j>, one per learnable
    parameter in net order. (HDF5, not the binary proto: this venv's protobuf is pure Python and takes minutes
    and gigabytes to parse a VGG16-sized state.)"""
    slots = [(name, i, blob.data.shape) for name, blobs in net.params.items() for i, blob in enumerate(blobs)]
    history: dict[str, list[np.ndarray]] = {name: [] for name in net.params}
    with h5py.File(state_path, "r") as f:
        if "history" not in f or len(f["history"]) != len(slots):
            found = len(f["history"]) if "history" in f else 0
            raise RunnerError(f"{state_path} holds {found} history blobs for {len(slots)} "
                              "parameters (shared parameters are not supported)")
        for j, (name, i, shape) in enumerate(slots):
            a = np.asarray(f["history"][str(j)][()], dtype=np.float32)
            if a.size != int(np.prod(shape)):
                raise RunnerError(f"history of layer {name} blob {i} has {a.size} values for shape {shape}")
            history[name].append(a.reshape(shape))
    return history


def cmd_solve(args: argparse.Namespace) -> None:
    if args.steps < 1:
        raise RunnerError(f"--steps must be at least 1, got {args.steps}")
    solver_param = caffe_pb2.SolverParameter()
    try:
        text_format.Merge(args.solver.read_text(), solver_param)
    except text_format.ParseError as err:
        raise RunnerError(f"{args.solver} is not a valid Caffe SolverParameter prototxt: {err}") from err
    solver_type = solver_param.type if solver_param.HasField("type") else "SGD"
    if solver_type != "SGD" or solver_param.solver_type != caffe_pb2.SolverParameter.SGD:
        raise RunnerError(f"{args.solver} asks for solver type {solver_type!r}; "
                          "this runner drives SGDSolver only")
    with tempfile.TemporaryDirectory(prefix="caffe-solve-") as work:
        work_dir = Path(work)
        # One net (the given one), no test nets, no automatic snapshots; this runner snapshots itself to read
        # the momentum history, which pycaffe does not expose.
        if args.net is not None:
            for field in ("net", "net_param", "train_net", "train_net_param"):
                solver_param.ClearField(field)
            solver_param.net = str(args.net.resolve())
        for field in ("test_net", "test_net_param", "test_iter", "test_state", "test_interval"):
            solver_param.ClearField(field)
        solver_param.test_initialization = False
        solver_param.snapshot = 0
        solver_param.snapshot_after_train = False
        solver_param.snapshot_format = caffe_pb2.SolverParameter.HDF5
        solver_param.snapshot_prefix = str(work_dir / "state")
        solver_param.display = 0
        solver_param.max_iter = max(solver_param.max_iter, args.steps)
        solver_path = work_dir / "solver.prototxt"
        solver_path.write_text(text_format.MessageToString(solver_param))

        solver = caffe.SGDSolver(str(solver_path))
        net = solver.net
        load_params(net, read_params(args.params), args.params)
        inputs = read_inputs(args.inputs)
        weights = loss_weights(net)
        if not weights:
            raise RunnerError("the solver's net has no loss blobs (layers with loss_weight); "
                              "nothing to minimise")
        with atomic_path(args.out) as tmp, h5py.File(tmp, "w") as f:
            write_meta(f, net)
            for _ in range(args.steps):
                set_inputs(net, inputs, args.inputs)
                solver.step(1)
                k = solver.iter
                step = f.create_group(f"step{k}")
                # The loss blobs still hold this step's forward pass (computed before the update).
                step.create_dataset("loss", data=np.float64(sum(w * float(net.blobs[name].data.sum())
                                                               for name, w in weights.items())))
                write_blob_lists(step.create_group("data"), net_params(net))
                solver.snapshot()
                state = work_dir / f"state_iter_{k}.solverstate.h5"
                if not state.is_file():
                    raise RunnerError(f"Caffe's snapshot did not write {state.name}")
                write_blob_lists(step.create_group("history"), read_history(state, net))
                for leftover in work_dir.glob(f"state_iter_{k}.*"):
                    leftover.unlink()


# ---- command line ------------------------------------------------------------------------------------------


def existing(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"no file at {p}")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    fwd = sub.add_parser("forward", help="Net::Forward (and Backward) on given parameters and inputs")
    fwd.add_argument("--prototxt", type=existing, required=True)
    fwd.add_argument("--params", type=existing, required=True, help="HDF5 with /data/<layer>/<i>")
    fwd.add_argument("--inputs", type=existing, required=True, help="HDF5 with /inputs/<blob>")
    fwd.add_argument("--out", type=Path, required=True)
    fwd.add_argument("--backward", action="store_true", help="also run Net::Backward (needs force_backward)")
    fwd.add_argument("--phase", choices=sorted(PHASES), default="test")
    fwd.add_argument("--truncate-after", metavar="BLOB", help="run only the layers up to the last writing BLOB")
    fwd.set_defaults(run=cmd_forward)

    cmap = sub.add_parser("coord-map", help="crop offsets from Caffe's net-spec coord_map")
    cmap.add_argument("--prototxt", type=existing, required=True)
    cmap.add_argument("--out", type=Path, required=True, help="JSON: crops {name: {axis, offset}}")
    cmap.set_defaults(run=cmd_coord_map)

    save = sub.add_parser("save-caffemodel", help="write parameters as a binary caffemodel")
    save.add_argument("--prototxt", type=existing, required=True)
    save.add_argument("--params", type=existing, required=True)
    save.add_argument("--out", type=Path, required=True)
    save.add_argument("--v1", action="store_true", help="the old V1 format (layers, legacy 4-D blob dims)")
    save.set_defaults(run=cmd_save_caffemodel)

    dump = sub.add_parser("dump-caffemodel", help="load a caffemodel with Caffe and write its parameters")
    dump.add_argument("--prototxt", type=existing, required=True)
    dump.add_argument("--model", type=Path, required=True)
    dump.add_argument("--out", type=Path, required=True)
    dump.set_defaults(run=cmd_dump_caffemodel)

    solve = sub.add_parser("solve", help="run Caffe's SGDSolver step by step on fixed inputs")
    solve.add_argument("--solver", type=existing, required=True)
    solve.add_argument("--net", type=existing, default=None, help="net prototxt replacing the solver's nets")
    solve.add_argument("--params", type=existing, required=True)
    solve.add_argument("--inputs", type=existing, required=True)
    solve.add_argument("--steps", type=int, required=True)
    solve.add_argument("--out", type=Path, required=True)
    solve.set_defaults(run=cmd_solve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    caffe.set_mode_cpu()
    try:
        args.run(args)
    except RunnerError as err:
        print(f"caffe_runner {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
