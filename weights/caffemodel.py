"""Read (and write) binary Caffe NetParameter files without Caffe or a compiled caffe.proto.

A caffemodel is one protobuf message, NetParameter. Only the parts that carry weights are decoded:

    NetParameter     layer = 100 (LayerParameter), layers = 2 (V1LayerParameter, old files such as VGG16)
    LayerParameter   name = 1 (string), type = 2 (string), blobs = 7 (BlobProto)
    V1LayerParameter name = 4 (string), type = 5 (enum LayerType), blobs = 6 (BlobProto)
    BlobProto        shape = 7 (BlobShape: dim = 1, int64), data = 5 (float), double_data = 8 (double),
                     legacy 4-D dims num = 1, channels = 2, height = 3, width = 4

Everything else (bottoms, tops, layer parameters, diffs) is skipped by its length without being decoded.
Float data is read with ``numpy.frombuffer`` straight from a memory map of the file, so a 550 MB file costs no
Python loop per value.

Legacy 4-D dims (old files) get the shapes Caffe gives them when it copies such a blob into a current net
(``Blob::ShapeEquals`` aligns the legacy dims to the right): a bias (1, 1, 1, N) becomes (N,), an InnerProduct
weight (1, 1, out, in) becomes (out, in), a (de)convolution weight keeps its four dims.
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.files import atomic_path

# Protobuf wire types.
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5

# NetParameter fields.
NET_NAME, NET_V1_LAYERS, NET_LAYER = 1, 2, 100
# Fields NetParameter has (caffe.proto): name, layers, input, input_dim, force_backward, state, debug_info,
# input_shape, layer. Any other field at the top level means the file is not a NetParameter.
NET_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 100}
# LayerParameter and V1LayerParameter fields that matter here.
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS = 1, 2, 7
V1_NAME, V1_TYPE, V1_BLOBS, V1_V0_LAYER = 4, 5, 6, 1
# BlobProto fields.
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_DIFF, BLOB_SHAPE, BLOB_DOUBLE_DATA, BLOB_DOUBLE_DIFF = 5, 6, 7, 8, 9
SHAPE_DIM = 1

# V1LayerParameter.LayerType (caffe.proto) -> the type string the current format uses for it (Caffe's
# UpgradeV1LayerType).
V1_LAYER_TYPES: dict[int, str] = {
    0: "",  # NONE
    35: "AbsVal", 1: "Accuracy", 30: "ArgMax", 2: "BNLL", 3: "Concat", 37: "ContrastiveLoss",
    4: "Convolution", 5: "Data", 39: "Deconvolution", 6: "Dropout", 32: "DummyData", 7: "EuclideanLoss",
    25: "Eltwise", 38: "Exp", 8: "Flatten", 9: "HDF5Data", 10: "HDF5Output", 28: "HingeLoss", 11: "Im2col",
    12: "ImageData", 13: "InfogainLoss", 14: "InnerProduct", 15: "LRN", 29: "MemoryData",
    16: "MultinomialLogisticLoss", 34: "MVN", 17: "Pooling", 26: "Power", 18: "ReLU", 19: "Sigmoid",
    27: "SigmoidCrossEntropyLoss", 36: "Silence", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split",
    33: "Slice", 23: "TanH", 24: "WindowData", 31: "Threshold",
}
V1_TYPE_NUMBERS: dict[str, int] = {v: k for k, v in V1_LAYER_TYPES.items() if v}

# Number of dims of each parameter blob in a current net, by layer type: what legacy (num, channels, height,
# width) blobs become when Caffe copies them into that layer. Types not listed keep all four legacy dims.
BLOB_NDIMS: dict[str, tuple[int, ...]] = {
    "Convolution": (4, 1),
    "Deconvolution": (4, 1),
    "InnerProduct": (2, 1),
}


class CaffemodelError(ValueError):
    """The file is not a readable caffemodel (truncated, another format, inconsistent blob)."""


class TruncatedError(CaffemodelError):
    """The file ends inside a message: an interrupted download or copy. Every cut gives the same message,
    ``<file> is truncated: <where>; ... fetch the file again``."""

    def __init__(self, source: str, where: str):
        super().__init__(f"{source} is truncated: {where}; the file is incomplete (an interrupted download or "
                         "copy): fetch the file again")


@dataclass(frozen=True)
class CaffeLayer:
    """One layer of a caffemodel: its name, its Caffe type string and its parameter blobs (float32, Caffe blob
    shapes, legacy dims already resolved)."""

    name: str
    type: str
    blobs: tuple[np.ndarray, ...]

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(b.shape) for b in self.blobs)


@dataclass(frozen=True)
class CaffeModel:
    """The layers of a caffemodel, in file order, and which of the two layer formats the file uses."""

    layers: tuple[CaffeLayer, ...]
    format: str  # "layer" (current) or "layers" (V1)

    def blobs(self) -> dict[str, tuple[np.ndarray, ...]]:
        """Layer name -> parameter blobs, for the layers that have any."""
        return {layer.name: layer.blobs for layer in self.layers if layer.blobs}


# ---- protobuf wire format ----------------------------------------------------------------------------------


class _Truncated(Exception):
    """Raised inside the walker when a field runs past the end of its message; turned into a CaffemodelError
    that names the layer by the caller."""


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Truncated(pos)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffemodelError(f"malformed varint ending at byte {pos}: longer than 10 bytes")


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Walk one message: yields (field number, wire type, value start, value end); for a varint the value
    itself is in place of the start and the end is the position after it."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CaffemodelError(f"field number 0 at byte {pos}: not a protobuf message")
        if wire == VARINT:
            value, nxt = _varint(buf, pos, end)
            yield number, wire, value, nxt
            pos = nxt
        elif wire == LEN:
            length, start = _varint(buf, pos, end)
            stop = start + length
            if stop > end:
                raise _Truncated(start)
            yield number, wire, start, stop
            pos = stop
        elif wire == I32:
            if pos + 4 > end:
                raise _Truncated(pos)
            yield number, wire, pos, pos + 4
            pos += 4
        elif wire == I64:
            if pos + 8 > end:
                raise _Truncated(pos)
            yield number, wire, pos, pos + 8
            pos += 8
        else:
            # Groups (3, 4) are not used by caffe.proto; 6 and 7 do not exist.
            raise CaffemodelError(f"wire type {wire} (field {number}) at byte {pos}: "
                                  "not a Caffe protobuf message")


def _text(buf: memoryview, start: int, stop: int) -> str:
    return bytes(buf[start:stop]).decode("utf-8", errors="replace")


def _packed_varints(buf: memoryview, start: int, stop: int) -> list[int]:
    out = []
    pos = start
    while pos < stop:
        value, pos = _varint(buf, pos, stop)
        out.append(value)
    return out


def _int64(value: int) -> int:
    """A varint read as int64 (two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unpacked_run(buf: memoryview, tag_pos: int, end: int, tag: int, width: int, dtype: str
                  ) -> tuple[np.ndarray, int]:
    """An unpacked repeated fixed32/fixed64 field: records of one tag byte plus ``width`` value bytes follow
    each other. Finds how many consecutive records carry ``tag`` (vectorised, in chunks) and returns their
    values and the position after the run."""
    rec = 1 + width
    available = (end - tag_pos) // rec
    count = 0
    chunk = 1 << 20
    while count < available:
        m = min(chunk, available - count)
        tags = np.frombuffer(buf, np.uint8, count=m * rec, offset=tag_pos + count * rec)[::rec]
        bad = np.flatnonzero(tags != tag)
        if bad.size:
            count += int(bad[0])
            break
        count += m
    if count == 0:
        raise _Truncated(tag_pos)
    records = np.frombuffer(buf, np.uint8, count=count * rec, offset=tag_pos).reshape(count, rec)
    values = np.ascontiguousarray(records[:, 1:]).view(dtype).reshape(-1)
    return values, tag_pos + count * rec


# ---- messages ----------------------------------------------------------------------------------------------


@dataclass
class _RawBlob:
    """A BlobProto as stored: shape (or legacy dims) and the values (views into the file where possible)."""

    shape: tuple[int, ...] | None
    legacy: tuple[int, int, int, int] | None
    data: list[np.ndarray]
    double_data: list[np.ndarray]


def _read_blob(buf: memoryview, start: int, stop: int) -> _RawBlob:
    shape = None
    legacy: dict[int, int] = {}
    data: list[np.ndarray] = []
    double_data: list[np.ndarray] = []
    pos = start
    while pos < stop:
        key, _ = _varint(buf, pos, stop)
        number, wire = key >> 3, key & 7
        if number == BLOB_DATA and wire == I32:
            values, pos = _unpacked_run(buf, pos, stop, key, 4, "<f4")
            data.append(values)
            continue
        if number == BLOB_DOUBLE_DATA and wire == I64:
            values, pos = _unpacked_run(buf, pos, stop, key, 8, "<f8")
            double_data.append(values)
            continue
        # Any other field: decode one with the generic walker from its key.
        field = next(_fields(buf, pos, stop))
        _, _, a, b = field
        pos = b
        if number == BLOB_DATA and wire == LEN:
            if (b - a) % 4:
                raise CaffemodelError(f"packed float data of {b - a} bytes is not a whole number of floats")
            data.append(np.frombuffer(buf, "<f4", count=(b - a) // 4, offset=a))
        elif number == BLOB_DOUBLE_DATA and wire == LEN:
            if (b - a) % 8:
                raise CaffemodelError(f"packed double data of {b - a} bytes is not a whole number of doubles")
            double_data.append(np.frombuffer(buf, "<f8", count=(b - a) // 8, offset=a))
        elif number == BLOB_SHAPE and wire == LEN:
            dims: list[int] = list(shape or ())
            for n, w, x, y in _fields(buf, a, b):
                if n == SHAPE_DIM and w == LEN:
                    dims += [_int64(d) for d in _packed_varints(buf, x, y)]
                elif n == SHAPE_DIM and w == VARINT:
                    dims.append(_int64(x))
            shape = tuple(dims)
        elif number in (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH) and wire == VARINT:
            legacy[number] = _int64(a)
        # diff, double_diff and unknown fields are skipped without decoding.
    legacy_dims = None
    if legacy:
        # Caffe reads a missing legacy dim as its default, 0.
        legacy_dims = (legacy.get(BLOB_NUM, 0), legacy.get(BLOB_CHANNELS, 0), legacy.get(BLOB_HEIGHT, 0),
                       legacy.get(BLOB_WIDTH, 0))
    return _RawBlob(shape, legacy_dims, data, double_data)


def _blob_shape(raw: _RawBlob, layer: str, layer_type: str, index: int) -> tuple[int, ...]:
    """The blob's shape in a current Caffe net (see the module docstring for legacy dims)."""
    if raw.legacy is None:
        # Neither shape nor legacy dims: Caffe's Blob::FromProto gives a 0-axis blob of one value.
        return raw.shape if raw.shape is not None else ()
    ndims = BLOB_NDIMS.get(layer_type, ())
    ndim = ndims[index] if index < len(ndims) else 4
    leading, kept = raw.legacy[:4 - ndim], raw.legacy[4 - ndim:]
    if any(d != 1 for d in leading):
        raise CaffemodelError(
            f"layer {layer!r} ({layer_type}) blob {index}: legacy dims (num, channels, height, width) = "
            f"{raw.legacy} cannot be a {ndim}-D blob of that layer type: Caffe needs the leading "
            f"{4 - ndim} dims to be 1")
    return tuple(kept)


def _finish_blob(raw: _RawBlob, layer: str, layer_type: str, index: int) -> np.ndarray:
    """A float32 array of the blob's values in its Caffe shape (a view into the file when the data is packed
    float32 in one piece); checks that the value count agrees with the shape."""
    shape = _blob_shape(raw, layer, layer_type, index)
    if any(d < 0 for d in shape):
        raise CaffemodelError(f"layer {layer!r} blob {index}: negative dimension in shape {shape}")
    # Caffe reads double_data when there is any, else data.
    parts = raw.double_data if sum(p.size for p in raw.double_data) else raw.data
    values = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.float32)
    count = math.prod(shape)  # Python ints: a damaged dim cannot wrap around as int64 would
    if values.size != count:
        kind = "double_data" if parts is raw.double_data else "data"
        raise CaffemodelError(
            f"layer {layer!r} blob {index}: shape {shape} holds {count} values but the file stores "
            f"{values.size} in {kind}; the file is corrupt or was not written by Caffe")
    if values.dtype != np.float32:
        values = values.astype(np.float32)  # Caffe's float nets cast double_data the same way
    return values.reshape(shape)


def _layer_name_in(buf: memoryview, start: int, end: int, name_field: int) -> str | None:
    """The name of a (possibly truncated) layer message, if it can be read before the data runs out."""
    try:
        for number, wire, a, b in _fields(buf, start, end):
            if number == name_field and wire == LEN:
                return _text(buf, a, b)
    except (_Truncated, CaffemodelError):
        return None
    return None


def _read_layer(buf: memoryview, start: int, stop: int, v1: bool, index: int) -> CaffeLayer:
    name_field, type_field, blobs_field = (V1_NAME, V1_TYPE, V1_BLOBS) if v1 else (LAYER_NAME, LAYER_TYPE,
                                                                                    LAYER_BLOBS)
    name, layer_type = f"#{index}", ""
    raws: list[_RawBlob] = []
    for number, wire, a, b in _fields(buf, start, stop):
        if number == name_field and wire == LEN:
            name = _text(buf, a, b)
        elif number == type_field:
            if v1 and wire == VARINT:
                if a not in V1_LAYER_TYPES:
                    raise CaffemodelError(f"layer {name!r}: unknown V1 layer type enum value {a}")
                layer_type = V1_LAYER_TYPES[a]
            elif not v1 and wire == LEN:
                layer_type = _text(buf, a, b)
            else:
                raise CaffemodelError(f"layer {name!r}: type field has wire type {wire}; not a caffemodel")
        elif number == blobs_field and wire == LEN:
            try:
                raws.append(_read_blob(buf, a, b))
            except CaffemodelError as e:
                raise CaffemodelError(f"layer {name!r} blob {len(raws)}: {e}") from None
        elif v1 and number == V1_V0_LAYER and wire == LEN:
            raise CaffemodelError(
                f"layer {index} uses the V0 layer format (caffe.proto V0LayerParameter), older than V1; "
                "upgrade the file with Caffe's tool: upgrade_net_proto_binary OLD.caffemodel NEW.caffemodel")
    blobs = tuple(_finish_blob(r, name, layer_type, i) for i, r in enumerate(raws))
    return CaffeLayer(name, layer_type, blobs)


def _what_is(buf: memoryview) -> str:
    """A hint about what a file that is not a caffemodel might be."""
    head = bytes(buf[:8])
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file (a converted .h5 is loaded with weights.load, not read as a caffemodel)"
    if head.startswith(b"PK"):
        return "it is a zip archive (unpack it first)"
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed (gunzip it first)"
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in bytes(buf[:64])):
        return "it looks like text (a .prototxt describes a net; the weights are in the binary .caffemodel)"
    return "its bytes are not a protobuf NetParameter"


def _cut_layer(buf: memoryview, vpos: int, end: int, index: int, v1: bool) -> str:
    """Where a layer field whose key starts the last part of a cut file breaks off, in words."""
    try:
        length, body = _varint(buf, vpos, end)
    except _Truncated:
        return f"the length of layer {index} (at byte {vpos}) is cut off"
    name = _layer_name_in(buf, body, end, V1_NAME if v1 else LAYER_NAME)
    what = f"layer {name!r}" if name else f"layer {index}"
    return f"{what} (starting at byte {body}) needs {length} bytes but only {end - body} remain"


def iter_layers(buf: memoryview, source: str = "caffemodel") -> Iterator[tuple[CaffeLayer, str]]:
    """Decode a NetParameter layer by layer: yields (layer, format) with format "layer" or "layers" (V1). Blob
    arrays may be views into ``buf``. A file that ends inside any field raises TruncatedError."""
    end = len(buf)
    if end == 0:
        raise TruncatedError(source, "it is empty (0 bytes)")
    index = 0
    formats = set()
    pos = 0
    while pos < end:
        start = pos
        try:
            key, vpos = _varint(buf, pos, end)
        except _Truncated:
            raise TruncatedError(source, f"the file ends inside a field key at byte {pos}, after {index} "
                                 "layers") from None
        number, wire = key >> 3, key & 7
        if number not in NET_FIELDS or wire not in (VARINT, I64, LEN, I32):
            if index == 0:
                raise CaffemodelError(f"{source} is not a caffemodel: {_what_is(buf)} (found field {number}, "
                                      f"wire type {wire} at byte {start}, not a NetParameter field)")
            raise CaffemodelError(f"{source}: unexpected field {number} (wire type {wire}) at byte {start} "
                                  f"after {index} layers: not a NetParameter field; the file is corrupt")
        try:
            _, _, a, b = next(_fields(buf, pos, end))
        except _Truncated:
            if number in (NET_LAYER, NET_V1_LAYERS) and wire == LEN:
                where = _cut_layer(buf, vpos, end, index, number == NET_V1_LAYERS)
            else:
                where = f"field {number} at byte {start}, after {index} layers, runs past the end of the file"
            raise TruncatedError(source, where) from None
        pos = b
        if number in (NET_LAYER, NET_V1_LAYERS):
            if wire != LEN:
                raise CaffemodelError(f"{source} is not a caffemodel: {_what_is(buf)}")
            v1 = number == NET_V1_LAYERS
            fmt = "layers" if v1 else "layer"
            formats.add(fmt)
            if len(formats) > 1:
                # Caffe refuses these too (UpgradeV1Net).
                raise CaffemodelError(f"{source} mixes the current 'layer' and the V1 'layers' fields")
            try:
                layer = _read_layer(buf, a, b, v1, index)
            except _Truncated as e:
                # The layer's bytes are all there (its length fits the file), so this is damage, not a cut.
                name = _layer_name_in(buf, a, b, V1_NAME if v1 else LAYER_NAME)
                raise CaffemodelError(f"{source}: layer {name or index!r} is malformed: a field at byte "
                                      f"{e.args[0]} runs past the end of the layer; the file is corrupt") from None
            except CaffemodelError as e:
                # Name the file, and the layer where the message does not already.
                message = str(e)
                if not message.startswith("layer "):
                    name = _layer_name_in(buf, a, b, V1_NAME if v1 else LAYER_NAME)
                    message = f"layer {name or index!r}: {message}; the file is corrupt"
                raise CaffemodelError(f"{source}: {message}") from None
            index += 1
            yield layer, fmt
    if index == 0:
        # Caffe writes the net's name and inputs before its layers: a file cut there reads as a net without
        # layers.
        raise TruncatedError(source, f"it holds an empty net: no layers in either the 'layer' (100) or the V1 "
                             f"'layers' (2) field, only the net's header ({end} bytes)")


@contextmanager
def open_buffer(path: str | os.PathLike) -> Iterator[memoryview]:
    """A read-only memory map of a file as a memoryview (an empty file gives an empty view). Arrays made from
    the view should be dropped (or copied) before the block ends."""
    path = Path(path)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            yield memoryview(b"")
            return
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mm)
        try:
            yield view
        finally:
            try:
                view.release()
                mm.close()
            except BufferError:
                # Arrays made from the map are still alive (an exception's traceback can hold them); the map
                # is unmapped when the last of them goes.
                pass


def read_caffemodel(path: str | os.PathLike) -> CaffeModel:
    """Every layer of a binary caffemodel with its blobs as float32 arrays in Caffe's shapes (copies: the file
    is closed on return). Raises CaffemodelError naming the layer for a truncated, inconsistent or foreign
    file."""
    path = Path(path)
    layers = []
    formats = set()
    with open_buffer(path) as buf:
        for layer, fmt in iter_layers(buf, path.name):
            formats.add(fmt)
            blobs = tuple(np.array(b, np.float32) for b in layer.blobs)
            layers.append(CaffeLayer(layer.name, layer.type, blobs))
            del layer
    return CaffeModel(tuple(layers), formats.pop())


# ---- writing -----------------------------------------------------------------------------------------------
# Caffe writes caffemodels itself; this writer exists so that the kit can export weights back to Caffe and so
# that tests and the benchmark can make caffemodels of every variant (V1, legacy dims, unpacked, double) on
# machines without Caffe.


def _enc_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _enc_varint(number << 3 | wire)


def _len_field(number: int, payload_size: int) -> bytes:
    return _key(number, LEN) + _enc_varint(payload_size)


def _blob_parts(blob: np.ndarray, legacy_dims: bool, packed: bool, double: bool) -> list[bytes | memoryview]:
    """The serialized pieces of one BlobProto (the value bytes stay one piece, not copied into a header)."""
    parts: list[bytes | memoryview] = []
    if legacy_dims:
        dims = (1,) * (4 - blob.ndim) + tuple(blob.shape)
        if len(dims) != 4:
            raise ValueError(f"legacy 4-D dims cannot hold a {blob.ndim}-D blob of shape {blob.shape}")
        for number, d in zip((BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH), dims, strict=True):
            parts.append(_key(number, VARINT) + _enc_varint(d))
    values = np.ascontiguousarray(blob, "<f8" if double else "<f4").reshape(-1)
    number = BLOB_DOUBLE_DATA if double else BLOB_DATA
    if packed:
        if values.size:
            parts.append(_len_field(number, values.nbytes))
            parts.append(memoryview(values).cast("B"))
    else:
        width = 8 if double else 4
        rec = np.empty((values.size, 1 + width), np.uint8)
        rec[:, 0] = (number << 3) | (I64 if double else I32)
        rec[:, 1:] = values.view(np.uint8).reshape(-1, width)
        parts.append(memoryview(rec).cast("B"))
    if not legacy_dims:
        dims_payload = b"".join(_enc_varint(d) for d in blob.shape)
        shape_msg = _len_field(SHAPE_DIM, len(dims_payload)) + dims_payload if blob.ndim else b""
        parts.append(_len_field(BLOB_SHAPE, len(shape_msg)) + shape_msg)
    return parts


def write_caffemodel(path: str | os.PathLike, layers: Iterable[tuple[str, str, Sequence[np.ndarray]]], *,
                     v1: bool = False, legacy_dims: bool | None = None, packed: bool = True,
                     double: bool = False, net_name: str = "") -> None:
    """Write layers (name, Caffe type string, blobs) as a binary NetParameter, streaming the value bytes.

    ``v1`` writes the old V1 ``layers`` field (type as the V1 enum), ``legacy_dims`` the deprecated 4-D blob
    dims (default: on for V1, as old Caffe wrote them), ``packed=False`` unpacked repeated floats, ``double``
    the double_data field. The file is written to a temporary name and renamed when complete.
    """
    legacy_dims = v1 if legacy_dims is None else legacy_dims
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            if net_name:
                name = net_name.encode()
                f.write(_len_field(NET_NAME, len(name)) + name)
            for name, layer_type, blobs in layers:
                if v1:
                    if layer_type not in V1_TYPE_NUMBERS:
                        raise ValueError(f"layer {name!r}: type {layer_type!r} has no V1 enum value")
                    head = (_len_field(V1_NAME, len(name.encode())) + name.encode()
                            + _key(V1_TYPE, VARINT) + _enc_varint(V1_TYPE_NUMBERS[layer_type]))
                else:
                    head = (_len_field(LAYER_NAME, len(name.encode())) + name.encode()
                            + _len_field(LAYER_TYPE, len(layer_type.encode())) + layer_type.encode())
                blob_msgs = [_blob_parts(np.asarray(b), legacy_dims, packed, double) for b in blobs]
                blob_sizes = [sum(len(p) for p in parts) for parts in blob_msgs]
                blobs_field = V1_BLOBS if v1 else LAYER_BLOBS
                body = len(head) + sum(len(_len_field(blobs_field, s)) + s for s in blob_sizes)
                f.write(_len_field(NET_V1_LAYERS if v1 else NET_LAYER, body))
                f.write(head)
                for parts, size in zip(blob_msgs, blob_sizes, strict=True):
                    f.write(_len_field(blobs_field, size))
                    for p in parts:
                        f.write(p)
