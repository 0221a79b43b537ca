"""Conversion to Caffe's HDF5 snapshot layout, strict loading into nets, and the save/load round trip."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch

import nets
import weights
import weights.convert as convert_cli
from weights.caffemodel import CaffeLayer, CaffemodelError, write_caffemodel
from weights.errors import WeightsMismatchError
from weights.h5 import CONVERTER, read_h5, write_h5

RNG = np.random.default_rng(7)


def rand(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def tiny_spec() -> nets.NetSpec:
    """A small net with every kind of blob the kit has: conv weight + bias, a frozen Scale factor and a frozen
    Deconvolution kernel."""
    from nets.spec import conv, deconv, scale

    layers = (conv("conv1", "data", 4, 3, pad=1), scale("scale_conv1", "conv1", 0.01),
              conv("score_fr", "scale_conv1", 2, 1), deconv("upscore", "score_fr", 2, 4, 2))
    return nets.NetSpec("tiny", {"data": 3}, layers, ("upscore",), "32s")


TINY_BLOBS = {
    "conv1": [rand(4, 3, 3, 3), rand(4)],
    "scale_conv1": [rand(4)],
    "score_fr": [rand(2, 4, 1, 1), rand(2)],
    "upscore": [rand(2, 2, 4, 4)],
}
TINY_TYPES = {"conv1": "Convolution", "scale_conv1": "Scale", "score_fr": "Convolution",
              "upscore": "Deconvolution"}


def tiny_caffemodel(path, blobs=TINY_BLOBS, **kw):
    layers = [("data", "Input", [])] + [(n, TINY_TYPES.get(n, "Convolution"), b) for n, b in blobs.items()]
    write_caffemodel(path, layers, **kw)
    return path


# ---- convert -----------------------------------------------------------------------------------------------


def test_convert_writes_caffes_snapshot_layout_with_provenance(tmp_path, capsys):
    src = tiny_caffemodel(tmp_path / "tiny.caffemodel")
    dst = tmp_path / "out" / "tiny.h5"
    assert convert_cli.main([str(src), str(dst)]) == 0
    printed = capsys.readouterr().out.splitlines()
    # one line per layer of the file (name, type, shapes), then a summary
    assert [line.split()[0] for line in printed[:5]] == ["data", "conv1", "scale_conv1", "score_fr",
                                                         "upscore"]
    assert "Convolution" in printed[1] and "(4, 3, 3, 3) (4,)" in printed[1]
    assert "(no blobs)" in printed[0]
    with h5py.File(dst) as f:
        assert set(f["data"]) == set(TINY_BLOBS)  # only layers with blobs get a group
        for name, blobs in TINY_BLOBS.items():
            assert f["data"][name].attrs["type"] == TINY_TYPES[name]
            for i, b in enumerate(blobs):
                ds = f["data"][name][str(i)]
                assert ds.dtype == np.float32 and ds.shape == b.shape and np.array_equal(ds[()], b)
        assert f.attrs["source"] == "tiny.caffemodel"
        assert f.attrs["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        assert f.attrs["converter"] == CONVERTER
    assert not [p for p in dst.parent.iterdir() if p.name != "tiny.h5"]  # no temporary left


def test_convert_of_a_v1_file_gives_current_caffe_shapes(tmp_path):
    ip = rand(6, 4 * 2 * 2)
    src = tmp_path / "v1.caffemodel"
    write_caffemodel(src, [("conv1", "Convolution", [rand(4, 3, 3, 3), rand(4)]),
                           ("fc6", "InnerProduct", [ip, rand(6)])], v1=True)
    dst = convert_cli.convert(src, tmp_path / "v1.h5", log=None)
    got = {x.name: x.shapes for x in read_h5(dst).layers}
    assert got == {"conv1": ((4, 3, 3, 3), (4,)), "fc6": ((6, 16), (6,))}


@pytest.mark.parametrize("damage", ["truncated", "not_caffemodel", "empty_net", "size_mismatch"])
def test_bad_caffemodel_leaves_no_partial_h5_and_keeps_an_existing_one(tmp_path, damage, capsys):
    good = tiny_caffemodel(tmp_path / "good.caffemodel").read_bytes()
    src = tmp_path / "bad.caffemodel"
    if damage == "truncated":
        src.write_bytes(good[:-100])
        expected = "truncated: layer 'upscore'"
    elif damage == "not_caffemodel":
        src.write_bytes(b"layer {\n  name: 'conv1'\n}\n")
        expected = "not a caffemodel"
    elif damage == "empty_net":
        src.write_bytes(b"\x0a\x03FCN")
        expected = "empty net"
    else:
        write_caffemodel(src, [("conv1", "Convolution", [rand(4, 3, 3, 3)])])
        raw = bytearray(src.read_bytes())
        assert raw[-4:] == b"\x04\x03\x03\x03"  # the shape field's packed dims end the file
        raw[-1] = 4  # shape (4, 3, 3, 4) wants 144 values; 108 are stored
        src.write_bytes(bytes(raw))
        expected = "layer 'conv1' blob 0: shape"
    dst = tmp_path / "out.h5"
    with pytest.raises(CaffemodelError, match=expected):
        convert_cli.convert(src, dst, log=None)
    assert not dst.exists()
    dst.write_bytes(b"previous")
    assert convert_cli.main([str(src), str(dst), "--force"]) == 1  # asked to replace it: a bad source keeps it
    assert expected.split(":")[0] in capsys.readouterr().err
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.caffemodel", "good.caffemodel", "out.h5"]


def test_layer_names_with_a_slash_survive_the_h5_round_trip(tmp_path):
    # GoogLeNet names layers "inception_3a/1x1"; HDF5 stores them as nested groups.
    layers = [CaffeLayer("inception_3a/1x1", "Convolution", (rand(2, 3, 1, 1), rand(2))),
              CaffeLayer("inception_3a", "Convolution", (rand(1, 1, 1, 1),))]
    got = {x.name: x for x in read_h5(write_h5(tmp_path / "g.h5", layers)).layers}
    assert set(got) == {"inception_3a/1x1", "inception_3a"}
    assert np.array_equal(got["inception_3a/1x1"].blobs[1], layers[0].blobs[1])


# ---- strict load -------------------------------------------------------------------------------------------


def test_load_fills_every_parameter_and_frozen_buffer_from_h5_and_caffemodel(tmp_path):
    src = tiny_caffemodel(tmp_path / "tiny.caffemodel")
    for path in (src, convert_cli.convert(src, tmp_path / "tiny.h5", log=None)):
        net = weights.load(nets.CaffeNet(tiny_spec()), path)
        sd = net.state_dict()
        assert set(sd) == {f"{n}.{a}" for n, bs in TINY_BLOBS.items() for a in ("weight", "bias")[:len(bs)]}
        for name, blobs in TINY_BLOBS.items():
            for attr, b in zip(("weight", "bias"), blobs, strict=False):
                assert torch.equal(sd[f"{name}.{attr}"], torch.from_numpy(b)), (path.name, name, attr)
    assert "upscore.weight" not in dict(net.named_parameters())  # loaded into the frozen buffer


def test_strict_load_lists_missing_unexpected_and_mismatched_in_one_error(tmp_path):
    blobs = dict(TINY_BLOBS)
    del blobs["scale_conv1"]  # missing
    blobs["fc8"] = [rand(10, 4), rand(10)]  # unexpected
    blobs["score_fr"] = [rand(3, 4, 1, 1), rand(3)]  # shape mismatch
    blobs["upscore"] = [rand(2, 2, 4, 4), rand(2)]  # a bias the layer does not have
    net = nets.CaffeNet(tiny_spec())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsMismatchError) as err:
        weights.load(net, tiny_caffemodel(tmp_path / "bad.caffemodel", blobs))
    text = str(err.value)
    assert "missing from the file (1):\n    scale_conv1 (4,)" in text
    assert "unexpected in the file, the net has no such layer (1):\n    fc8 (10, 4) (10,)" in text
    assert "score_fr blob 0 (weight): net expects (2, 4, 1, 1), file has (3, 4, 1, 1)" in text
    assert "score_fr blob 1 (bias): net expects (2,), file has (3,)" in text
    assert "upscore: the net has 1 blob(s) (2, 2, 4, 4), the file 2" in text
    assert "-m weights.transplant --net tiny" in text
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched


def test_strict_load_rejects_a_layer_the_net_does_not_have_by_name(tmp_path):
    blobs = {**TINY_BLOBS, "conv1_extra": [rand(4, 3, 3, 3), rand(4)]}
    with pytest.raises(WeightsMismatchError, match=r"no such layer \(1\):\n    conv1_extra \(4, 3, 3, 3\)"):
        weights.load(nets.CaffeNet(tiny_spec()), blobs)


def test_layer_renames_table_is_empty(tmp_path):
    """The weight map is the identity: the file's layer names are the net's Caffe layer names, both ways."""
    assert weights.LAYER_RENAMES == {}
    net = nets.CaffeNet(tiny_spec())
    weights.load(net, TINY_BLOBS)
    path = weights.save(net, tmp_path / "tiny.h5")
    assert set(read_h5(path).blobs()) == set(TINY_BLOBS) == {x.name for x in tiny_spec().layers}
    # A layer the file names differently from the net is refused, never matched by a guess.
    renamed = {("conv1_renamed" if k == "conv1" else k): v for k, v in TINY_BLOBS.items()}
    with pytest.raises(WeightsMismatchError, match="conv1_renamed"):
        weights.load(nets.CaffeNet(tiny_spec()), renamed)


def test_save_then_load_restores_a_reference_net_exactly(tmp_path):
    # FCN-AlexNet (the smallest reference net) has grouped convs and a frozen deconv; the tiny net above
    # covers Scale buffers.
    torch.manual_seed(0)
    net = nets.build("voc-fcn-alexnet")
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    path = weights.save(net, tmp_path / "alexnet.h5")
    with h5py.File(path) as f:
        assert f["data/conv2/0"].shape == (256, 48, 5, 5) and f["data/upscore/0"].shape == (21, 21, 63, 63)
        assert f["data/fc6/0"].dtype == np.float32 and f.attrs["source"] == "net voc-fcn-alexnet"
    fresh = weights.load(nets.build("voc-fcn-alexnet"), path)
    a, b = net.state_dict(), fresh.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_save_then_load_restores_scale_buffers(tmp_path):
    net = nets.CaffeNet(tiny_spec())
    weights.load(net, TINY_BLOBS)
    fresh = weights.load(nets.CaffeNet(tiny_spec()), weights.save(net, tmp_path / "tiny.h5"))
    assert torch.equal(fresh.scale_conv1.weight, torch.from_numpy(TINY_BLOBS["scale_conv1"][0]))
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in net.state_dict().items())


def test_load_of_a_missing_file_names_the_fetch_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="make weights NET=NAME"):
        weights.load(nets.CaffeNet(tiny_spec()), tmp_path / "nothing.h5")
