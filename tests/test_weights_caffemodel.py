"""The caffemodel reader on protobuf bytes built here by hand (independently of weights.caffemodel's writer):
both layer formats, every blob encoding, Caffe's legacy-dims rule, skipped fields, and bad input."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from weights.caffemodel import CaffemodelError, read_caffemodel, write_caffemodel

# ---- a minimal protobuf encoder for the tests --------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def ld(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def vi(field: int, value: int) -> bytes:
    return key(field, 0) + varint(value)


def shape_msg(dims, packed: bool = True) -> bytes:
    if packed:
        return ld(7, ld(1, b"".join(varint(d) for d in dims)))
    return ld(7, b"".join(vi(1, d) for d in dims))


def blob(values, shape=None, legacy=None, packed=True, double=False, extra=b"") -> bytes:
    values = np.asarray(values, np.float64 if double else np.float32).reshape(-1)
    out = b""
    if legacy is not None:
        out += b"".join(vi(f, d) for f, d in zip((1, 2, 3, 4), legacy, strict=True))
    if double:
        out += ld(8, values.astype("<f8").tobytes()) if packed else b"".join(
            key(8, 1) + struct.pack("<d", v) for v in values)
    else:
        out += ld(5, values.astype("<f4").tobytes()) if packed else b"".join(
            key(5, 5) + struct.pack("<f", v) for v in values)
    if shape is not None:
        out += shape_msg(shape)
    return out + extra


def layer(name: str, type_: str, *blobs: bytes, extra: bytes = b"") -> bytes:
    """A LayerParameter as NetParameter field 100."""
    body = ld(1, name.encode()) + ld(2, type_.encode()) + extra + b"".join(ld(7, b) for b in blobs)
    return ld(100, body)


def v1_layer(name: str, type_enum: int, *blobs: bytes, extra: bytes = b"") -> bytes:
    """A V1LayerParameter as NetParameter field 2."""
    body = extra + ld(4, name.encode()) + vi(5, type_enum) + b"".join(ld(6, b) for b in blobs)
    return ld(2, body)


def read_bytes(tmp_path, data: bytes, name: str = "net.caffemodel"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_caffemodel(path)


RNG = np.random.default_rng(1234)
W = RNG.standard_normal((4, 3, 2, 2)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)
IP = RNG.standard_normal((5, 6)).astype(np.float32)


# ---- formats and encodings ---------------------------------------------------------------------------------


def test_current_format_layer_blobs_come_out_with_their_shape_field(tmp_path):
    data = ld(1, b"net") + layer("conv1", "Convolution", blob(W, W.shape), blob(B, B.shape)) + layer(
        "relu1", "ReLU")
    model = read_bytes(tmp_path, data)
    assert model.format == "layer"
    assert [x.name for x in model.layers] == ["conv1", "relu1"]
    assert [x.type for x in model.layers] == ["Convolution", "ReLU"]
    conv = model.layers[0]
    assert conv.blobs[0].dtype == np.float32 and conv.blobs[0].shape == (4, 3, 2, 2)
    assert np.array_equal(conv.blobs[0], W) and np.array_equal(conv.blobs[1], B)
    assert model.layers[1].blobs == ()
    assert list(model.blobs()) == ["conv1"]


def test_v1_format_maps_type_enums_to_current_type_strings(tmp_path):
    data = (v1_layer("conv1", 4, blob(W, legacy=W.shape), blob(B, legacy=(1, 1, 1, 4)))
            + v1_layer("relu1", 18) + v1_layer("pool1", 17) + v1_layer("drop6", 6) + v1_layer("prob", 20)
            + v1_layer("fc8", 14, blob(IP, legacy=(1, 1, 5, 6)), blob(B[:1].repeat(5), legacy=(1, 1, 1, 5))))
    model = read_bytes(tmp_path, data)
    assert model.format == "layers"
    assert [x.type for x in model.layers] == ["Convolution", "ReLU", "Pooling", "Dropout", "Softmax",
                                              "InnerProduct"]


def test_v1_legacy_dims_get_the_shapes_caffe_gives_them(tmp_path):
    one_by_one = RNG.standard_normal((1, 1, 3, 3)).astype(np.float32)
    data = (
        # a convolution with one output and one input channel keeps all four dims
        v1_layer("conv", 4, blob(one_by_one, legacy=(1, 1, 3, 3)), blob([0.5], legacy=(1, 1, 1, 1)))
        + v1_layer("fc", 14, blob(IP, legacy=(1, 1, 5, 6)), blob(np.arange(5), legacy=(1, 1, 1, 5)))
        + v1_layer("up", 39, blob(W, legacy=W.shape)))
    model = read_bytes(tmp_path, data)
    conv, fc, up = model.layers
    assert conv.shapes == ((1, 1, 3, 3), (1,))
    assert fc.shapes == ((5, 6), (5,)) and np.array_equal(fc.blobs[0], IP)
    assert up.shapes == ((4, 3, 2, 2),) and np.array_equal(up.blobs[0], W)


def test_legacy_dims_in_a_current_format_file_follow_the_same_rule(tmp_path):
    # Files upgraded with Caffe's upgrade_net_proto_binary keep their blobs' legacy dims.
    data = layer("fc7", "InnerProduct", blob(IP, legacy=(1, 1, 5, 6)), blob(np.ones(5), legacy=(1, 1, 1, 5)))
    assert read_bytes(tmp_path, data).layers[0].shapes == ((5, 6), (5,))


def test_legacy_dims_take_precedence_over_the_shape_field_as_in_caffe(tmp_path):
    data = layer("fc", "InnerProduct", blob(IP, shape=(30,), legacy=(1, 1, 5, 6)))
    assert read_bytes(tmp_path, data).layers[0].shapes == ((5, 6),)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])
def test_float_data_packed_or_unpacked_reads_the_same(tmp_path, packed):
    data = layer("conv1", "Convolution", blob(W, W.shape, packed=packed), blob(B, B.shape, packed=packed))
    conv = read_bytes(tmp_path, data).layers[0]
    assert np.array_equal(conv.blobs[0], W) and np.array_equal(conv.blobs[1], B)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])
def test_double_data_is_read_and_cast_to_float32(tmp_path, packed):
    values = RNG.standard_normal(W.shape)
    data = layer("conv1", "Convolution", blob(values, W.shape, packed=packed, double=True))
    got = read_bytes(tmp_path, data).layers[0].blobs[0]
    assert got.dtype == np.float32 and np.array_equal(got, values.astype(np.float32))


def test_double_data_wins_over_float_data_as_in_caffe(tmp_path):
    both = ld(5, np.zeros(4, "<f4").tobytes()) + ld(8, np.arange(4, dtype="<f8").tobytes()) + shape_msg((4,))
    got = read_bytes(tmp_path, layer("s", "Scale", both)).layers[0].blobs[0]
    assert np.array_equal(got, [0, 1, 2, 3])


def test_unpacked_shape_dims_and_split_packed_data_are_accepted(tmp_path):
    flat = W.reshape(-1)
    body = ld(5, flat[:10].tobytes()) + ld(5, flat[10:].tobytes()) + shape_msg(W.shape, packed=False)
    got = read_bytes(tmp_path, layer("conv1", "Convolution", body)).layers[0].blobs[0]
    assert np.array_equal(got, W)


def test_fields_the_reader_does_not_need_are_skipped(tmp_path):
    net_fields = (ld(1, b"VGG") + ld(3, b"data") + vi(4, 1) + vi(4, 3) + vi(5, 1) + ld(6, vi(1, 1))
                  + ld(8, ld(1, varint(1) + varint(3))))
    layer_fields = (ld(3, b"data") + ld(4, b"conv1") + ld(6, ld(1, b"w") + key(2, 5) + struct.pack("<f", 1.0))
                    + ld(106, vi(1, 4) + vi(4, 3)) + key(7000, 1) + struct.pack("<d", 2.0) + key(7001, 5)
                    + b"\0\0\0\0" + vi(7002, 300))
    diff = ld(6, np.full(W.size, 7, "<f4").tobytes()) + ld(9, np.full(W.size, 9, "<f8").tobytes())
    data = net_fields + layer("conv1", "Convolution", blob(W, W.shape, extra=diff), extra=layer_fields)
    conv = read_bytes(tmp_path, data).layers[0]
    assert conv.name == "conv1" and conv.shapes == ((4, 3, 2, 2),)
    assert np.array_equal(conv.blobs[0], W)


def test_unpacked_floats_followed_by_other_fields_stop_at_the_right_byte(tmp_path):
    body = b"".join(key(5, 5) + struct.pack("<f", v) for v in B) + shape_msg(B.shape) + vi(99, 5)
    assert np.array_equal(read_bytes(tmp_path, layer("b", "Scale", body)).layers[0].blobs[0], B)


def test_reader_matches_the_library_writer_in_every_variant(tmp_path):
    layers = [("conv1", "Convolution", [W, B]), ("relu1", "ReLU", []), ("fc6", "InnerProduct", [IP, B[:1]])]
    for kw in ({}, {"v1": True}, {"packed": False}, {"double": True}, {"legacy_dims": True},
               {"v1": True, "packed": False, "double": True}):
        path = tmp_path / "w.caffemodel"
        write_caffemodel(path, layers, **kw)
        model = read_caffemodel(path)
        assert model.format == ("layers" if kw.get("v1") else "layer"), kw
        for (name, type_, blobs), got in zip(layers, model.layers, strict=True):
            assert (got.name, got.type) == (name, type_)
            for a, b in zip(blobs, got.blobs, strict=True):
                assert a.shape == b.shape and np.array_equal(a, b), (kw, name)


def test_a_40_mb_blob_is_read_without_a_python_loop_per_value(tmp_path):
    """10M floats decode in a handful of Python calls (numpy over the memory map), not one per value: the
    reader's Python-level function calls are counted, not timed."""
    big = np.arange(10_000_000, dtype=np.float32)
    for packed in (True, False):
        path = tmp_path / f"big{packed}.caffemodel"
        write_caffemodel(path, [("fc6", "InnerProduct", [big.reshape(1000, 10_000)])], packed=packed)
        calls = 0

        def count(frame, event, arg):
            nonlocal calls
            calls += event == "call"

        sys.setprofile(count)
        try:
            got = read_caffemodel(path).layers[0].blobs[0]
        finally:
            sys.setprofile(None)
        assert np.array_equal(got.reshape(-1), big)
        assert calls < 1_000, f"reading 10M {'packed' if packed else 'unpacked'} floats made {calls} Python calls"


# ---- bad input ---------------------------------------------------------------------------------------------


GOOD = layer("conv1_1", "Convolution", blob(W, W.shape), blob(B, B.shape)) + layer(
    "fc7", "InnerProduct", blob(IP, IP.shape))


def test_truncated_file_is_an_error_naming_the_cut_layer(tmp_path):
    with pytest.raises(CaffemodelError, match=r"truncated: layer 'fc7' .* needs \d+ bytes but only \d+ "):
        read_bytes(tmp_path, GOOD[:-7])


def test_truncated_v1_file_is_an_error_naming_the_cut_layer(tmp_path):
    data = (v1_layer("conv1_1", 4, blob(W, legacy=W.shape))
            + v1_layer("fc6", 14, blob(IP, legacy=(1, 1, 5, 6))))
    with pytest.raises(CaffemodelError, match=r"truncated: layer 'fc6'"):
        read_bytes(tmp_path, data[:-30])


def test_file_cut_inside_a_key_is_reported_as_truncated(tmp_path):
    with pytest.raises(CaffemodelError, match="truncated"):
        read_bytes(tmp_path, GOOD + b"\xa2")  # first byte of a two-byte key


@pytest.mark.parametrize("content, hint", [
    (b'name: "FCN"\nlayer {\n  name: "data"\n}\n', "looks like text"),
    (b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5"),
    (b"\xff\xd8\xff\xe0" + bytes(64), "not a protobuf NetParameter"),
], ids=["prototxt", "hdf5", "jpeg"])
def test_a_file_that_is_not_a_caffemodel_is_an_error_saying_so(tmp_path, content, hint):
    with pytest.raises(CaffemodelError, match=f"not a caffemodel.*{hint}"):
        read_bytes(tmp_path, content)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(CaffemodelError, match=r"empty \(0 bytes\)"):
        read_bytes(tmp_path, b"")


def test_empty_net_is_an_error(tmp_path):
    with pytest.raises(CaffemodelError, match="empty net: no layers"):
        read_bytes(tmp_path, ld(1, b"VGG_ILSVRC_16_layers") + ld(3, b"data") + vi(4, 1))


def test_blob_whose_size_disagrees_with_its_shape_is_an_error_naming_the_layer(tmp_path):
    data = layer("score_fr", "Convolution", blob(W, (4, 3, 2, 3)))
    with pytest.raises(CaffemodelError, match=r"layer 'score_fr' blob 0: shape \(4, 3, 2, 3\) holds 72 "
                                              r"values but the file stores 48"):
        read_bytes(tmp_path, data)


def test_legacy_dims_that_cannot_be_a_bias_are_an_error_naming_the_layer(tmp_path):
    data = v1_layer("conv1", 4, blob(W, legacy=W.shape), blob(B, legacy=(1, 1, 4, 1)))
    with pytest.raises(CaffemodelError, match=r"layer 'conv1' \(Convolution\) blob 1: legacy dims"):
        read_bytes(tmp_path, data)


def test_v0_layers_are_an_error_naming_caffes_upgrade_tool(tmp_path):
    data = ld(2, ld(1, ld(1, b"conv1") + ld(2, b"conv")))
    with pytest.raises(CaffemodelError, match="V0 layer format.*upgrade_net_proto_binary"):
        read_bytes(tmp_path, data)


def test_mixing_current_and_v1_layers_is_an_error(tmp_path):
    with pytest.raises(CaffemodelError, match="mixes"):
        read_bytes(tmp_path, GOOD + v1_layer("fc8", 14, blob(IP, legacy=(1, 1, 5, 6))))


def test_unknown_v1_type_enum_is_an_error_naming_the_layer(tmp_path):
    with pytest.raises(CaffemodelError, match=r"layer 'odd': unknown V1 layer type enum value 77"):
        read_bytes(tmp_path, v1_layer("odd", 77))


def test_packed_data_of_a_broken_length_is_an_error_naming_the_layer(tmp_path):
    body = ld(5, W.tobytes()[:-2]) + shape_msg(W.shape)
    with pytest.raises(CaffemodelError, match=r"layer 'conv1' blob 0: packed float data of 190 bytes"):
        read_bytes(tmp_path, layer("conv1", "Convolution", body))
