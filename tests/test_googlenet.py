"""FCN-GoogLeNet (CVPR Table 1, never released) without Caffe: BVLC's trunk, the inception composition, ceil-mode
pooling with padding, its derived crop offset, slashed parameter names through the weights layout, surgery from
bvlc_googlenet, and the Table 1 structure columns. tests/caffe/test_googlenet_parity.py checks it against Caffe."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

import nets
import weights
from nets import geometry, googlenet
from nets.layers import bilinear_kernel, caffe_max_pool
from nets.spec import Layer, NetSpec
from reproduce.audit import geometry as audit
from weights import transplant as surgery
from weights.caffemodel import write_caffemodel
from weights.h5 import read_h5

NAME = "voc-fcn-googlenet"
# Channels of inception_3a/output .. inception_5b/output (GoogLeNet paper, Table 1; the sums of each module's
# 1x1, 3x3, 5x5 and pool proj outputs).
OUTPUT_CHANNELS = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832,
                   "5b": 1024}


def _with_layer(spec: NetSpec, name: str, **changes) -> NetSpec:
    layers = tuple(dataclasses.replace(x, **changes) if x.name == name else x for x in spec.layers)
    return dataclasses.replace(spec, layers=layers)


def test_fcn_googlenet_is_one_record_never_released_started_from_bvlc_googlenet():
    rec = nets.record(NAME)
    assert NAME in nets.NAMES and rec.weights is None and rec.classifier == "googlenet"
    assert nets.spec(NAME).reference_offsets == {}  # the reference never published it: derived offsets only
    assert rec.inputs == nets.record("voc-fcn32s").inputs and rec.train == ("sbd", "train")
    assert rec.test == ("voc", "seg11valid")
    s = rec.solver
    assert (s.base_lr, s.momentum, s.iter_size, s.normalize, s.weight_decay, s.init) == (
        5e-5, 0.9, 20, True, 5e-4, ("googlenet",))
    assert rec.paper_row(1).numbers == {"mean_iu": 42.5, "forward_ms": 59, "conv_layers": 22,
                                        "params_millions": 6, "rf_size": 907, "max_stride": 32}


def test_the_trunk_keeps_bvlc_names_and_only_the_final_classifier_path():
    spec = nets.spec(NAME)
    names = [x.name for x in spec.layers]
    assert names[:4] == ["conv1/7x7_s2", "conv1/relu_7x7", "pool1/3x3_s2", "pool1/norm1"]
    assert names[-4:] == ["inception_5b/output", "score_fr", "upscore", "score"]
    assert not any(n.startswith(("loss", "pool5/")) for n in names)
    assert sum(x.type == "Convolution" for x in spec.layers) == 57 + 1  # BVLC's trunk convolutions + score_fr
    assert [x.name for x in spec.layers if x.type == "Pooling" and x.stride == 2] == [
        "pool1/3x3_s2", "pool2/3x3_s2", "pool3/3x3_s2", "pool4/3x3_s2"]
    assert spec.layer("score_fr").bottom == ("inception_5b/output",)
    assert all(x.type != "Dropout" for x in spec.layers)


def test_the_inception_module_is_one_composition_called_nine_times():
    spec = nets.spec(NAME)
    net_channels = nets.build(NAME).channels
    for module, channels in OUTPUT_CHANNELS.items():
        m = f"inception_{module}"
        layers = [x for x in spec.layers if x.name.startswith(f"{m}/")]
        bottom = layers[0].bottom[0]
        row = next(r for r in googlenet.INCEPTION if r[0] == m)
        assert layers == googlenet.inception(m, bottom, *row[1:])
        assert [x.name for x in layers if x.type == "Convolution"] == [
            f"{m}/{b}" for b in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")]
        assert spec.layer(f"{m}/pool").pad == 1 and spec.layer(f"{m}/pool").stride == 1
        assert net_channels[f"{m}/output"] == channels


def test_crop_offset_is_derived_as_101_from_the_extra_input_pad():
    spec = nets.spec(NAME)
    assert spec.layer("conv1/7x7_s2").pad == 3 + 100
    assert spec.layer("score").offset == 101 == geometry.derive_crop_offsets(spec)["score"]
    # The trunk shifts by whole pixels: upscore's (63 - 1) / 2 = 31 brings it back to 1 + the extra pad.
    assert geometry.coord_maps(spec)["score_fr"].shift == 30 - 100


def test_a_kernel_64_upsampling_leaves_a_half_pixel_crop():
    spec = _with_layer(googlenet.fcn_googlenet(NAME, 21), "upscore", kernel_size=64)
    with pytest.raises(geometry.GeometryError, match=r"crop 'score': derived offset 203/2 is not"):
        geometry.derive_crop_offsets(spec)


def test_a_misaligned_inception_branch_is_a_geometry_error_at_its_concat():
    spec = _with_layer(googlenet.fcn_googlenet(NAME, 21), "inception_4b/5x5", pad=1)
    with pytest.raises(geometry.GeometryError, match="'inception_4b/output'.*do not line up"):
        geometry.coord_maps(spec)


def test_output_size_equals_input_size_for_every_size_from_1_to_520():
    spec = nets.spec(NAME)
    for h in range(1, 521):
        assert geometry.blob_sizes(spec, h, 521 - h)["score"] == (h, 521 - h), h


def _fits_every_size(input_pad: int, upto: int = 600) -> bool:
    spec = _with_layer(googlenet.fcn_googlenet(NAME, 21), "conv1/7x7_s2", pad=3 + input_pad)
    spec = geometry.resolve_crops(spec)
    try:
        return all(geometry.blob_sizes(spec, h, h)["score"] == (h, h) for h in range(1, upto))
    except geometry.GeometryError:
        return False


def test_without_extra_padding_small_inputs_fail_and_15_pixels_is_the_least_that_fits_all():
    trunk = googlenet.trunk()  # BVLC's pad 3
    with pytest.raises(geometry.GeometryError, match="pool4/3x3_s2"):
        geometry.blob_sizes(trunk, 30, 30)
    assert geometry.blob_sizes(trunk, 31, 31)["inception_5b/output"] == (1, 1)
    assert not _fits_every_size(14) and _fits_every_size(15) and _fits_every_size(100)


@pytest.mark.parametrize("size", [(1, 1), (31, 45), (64, 33)])
def test_every_blob_has_the_geometry_modules_size(size):
    net = nets.build(NAME)
    with torch.no_grad():
        blobs = net.forward_blobs(torch.zeros(1, 3, *size))
    expected = geometry.blob_sizes(net.spec, *size)
    assert set(blobs) == set(expected)
    for blob, (h, w) in expected.items():
        assert tuple(blobs[blob].shape[1:]) == (net.channels[blob], h, w), blob


# ---- pooling with padding in Caffe's ceil mode -------------------------------------------------------------

def _caffe_window_max(x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """Caffe's pooling loop written out (pooling_layer.cpp, MAX): output size from geometry.pool_out, each window
    [ph * s - p, ph * s - p + k) clipped to the input."""
    h = geometry.pool_out(x.shape[0], k, s, p)
    w = geometry.pool_out(x.shape[1], k, s, p)
    out = np.empty((h, w), x.dtype)
    for i, j in itertools.product(range(h), range(w)):
        hs, ws = i * s - p, j * s - p
        he, we = min(hs + k, x.shape[0]), min(ws + k, x.shape[1])
        out[i, j] = x[max(hs, 0):he, max(ws, 0):we].max()
    return out


# GoogLeNet pools 3/2/0 and 3/1/1; the others exercise the last-window rule, which can fire only when
# p >= k - s + 1: for 2/2/1, 3/3/1 and 4/3/2 here.
@pytest.mark.parametrize("k,s,p", [(3, 2, 0), (3, 1, 1), (2, 2, 1), (3, 2, 1), (3, 3, 1), (5, 3, 2), (2, 2, 0),
                                   (4, 2, 2), (4, 3, 2)])
def test_ceil_mode_pooling_with_padding_equals_caffes_loop_for_sizes_1_to_24(k, s, p):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    dropped = 0
    for size in range(1, 25):
        if size + 2 * p < k:
            continue
        x = rng.standard_normal((size, size + 1)).astype(np.float32)
        ours = caffe_max_pool(torch.from_numpy(x)[None, None], k, s, p)[0, 0].numpy()
        np.testing.assert_array_equal(ours, _caffe_window_max(x, k, s, p), err_msg=f"size {size}")
        dropped += -(-(size + 2 * p - k) // s) + 1 != geometry.pool_out(size, k, s, p)
    # The rule that drops a last window starting in the padding fires for some of these sizes when p > 0.
    assert (dropped > 0) == ((k, s, p) in {(2, 2, 1), (3, 3, 1), (4, 3, 2)})


def test_pooling_shapes_where_pytorch_and_caffe_part_ways_are_refused():
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="kernel >= stride"):
        caffe_max_pool(x, 1, 2)
    with pytest.raises(ValueError, match="pad <= kernel / 2"):
        caffe_max_pool(x, 3, 1, 2)


def test_average_pooling_is_refused_rather_than_computed_as_max():
    spec = NetSpec("ave", {"data": 3}, (Layer("p", "Pooling", ("data",), ("p",), kernel_size=2, stride=1,
                                              pool="AVE"),), ("p",))
    with pytest.raises(NotImplementedError, match="AVE pooling"):
        nets.CaffeNet(spec)(torch.zeros(1, 3, 4, 4))


# ---- parameter names with '/' ------------------------------------------------------------------------------

def test_state_dict_keys_are_bvlc_layer_names_with_weight_and_bias():
    keys = list(nets.build(NAME).state_dict())
    assert keys[:2] == ["conv1/7x7_s2.weight", "conv1/7x7_s2.bias"]
    assert "inception_4c/pool_proj.bias" in keys and "upscore.weight" in keys and "score_fr.weight" in keys
    assert len(keys) == 2 * 58 + 1


def test_weights_save_and_load_round_trip_slashed_names_exactly(tmp_path):
    torch.manual_seed(0)
    net = nets.build(NAME)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    path = weights.save(net, tmp_path / "g.h5")
    layers = {x.name for x in read_h5(path).layers}
    assert "conv1/7x7_s2" in layers and "inception_5b/3x3_reduce" in layers and len(layers) == 59
    back = weights.load(nets.build(NAME), path)
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


# ---- surgery from bvlc_googlenet ---------------------------------------------------------------------------

# BVLC GoogLeNet's layers that the FCN does not have: the auxiliary heads (train_val net) and the classifier.
BVLC_EXTRA = {
    "loss1/conv": ("Convolution", [(128, 512, 1, 1), (128,)]),
    "loss1/fc": ("InnerProduct", [(1024, 2048), (1024,)]),
    "loss1/classifier": ("InnerProduct", [(1000, 1024), (1000,)]),
    "loss2/conv": ("Convolution", [(128, 528, 1, 1), (128,)]),
    "loss2/fc": ("InnerProduct", [(1024, 2048), (1024,)]),
    "loss2/classifier": ("InnerProduct", [(1000, 1024), (1000,)]),
    "loss3/classifier": ("InnerProduct", [(1000, 1024), (1000,)]),
}


def test_transplant_from_a_bvlc_googlenet_caffemodel_copies_the_trunk_and_drops_the_heads(tmp_path, capsys):
    rng = np.random.default_rng(9)
    shapes = googlenet.trunk().param_shapes()
    blobs = {n: [rng.standard_normal(s, dtype=np.float32) if n == "inception_4c/5x5" else
                 np.full(s, 0.5, np.float32) for s in ss] for n, ss in shapes.items()}
    layers = [(n, "Convolution", b) for n, b in blobs.items()]
    layers += [(n, t, [np.zeros(s, np.float32) for s in ss]) for n, (t, ss) in BVLC_EXTRA.items()]
    src = tmp_path / "bvlc_googlenet.caffemodel"
    write_caffemodel(src, layers, v1=True)  # the 2014 file is an old-format (V1) caffemodel
    dst = tmp_path / "fcn-googlenet-init.h5"
    assert surgery.main(["--net", NAME, "--out", str(dst), str(src)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sorted(x.split()[1] for x in printed if x.startswith("dropping")) == sorted(BVLC_EXTRA)
    assert sum(x.startswith("copying") for x in printed) == 57
    assert "copying conv1/7x7_s2 (64, 3, 7, 7) (64,) from bvlc_googlenet.caffemodel" in printed
    assert "initialising score_fr: zeros (21, 1024, 1, 1) (21,) (new score layer; Caffe's default constant " \
           "filler)" in printed
    assert "initialising upscore: bilinear (21, 21, 63, 63)" in printed
    net = weights.load(nets.build(NAME), dst)
    assert torch.equal(getattr(net, "inception_4c/5x5").weight, torch.from_numpy(blobs["inception_4c/5x5"][0]))
    assert torch.equal(net.upscore.weight, bilinear_kernel(21, 63))
    assert not net.score_fr.weight.any() and not net.score_fr.bias.any()


# ---- Table 1 -----------------------------------------------------------------------------------------------

def test_table1_structure_of_fcn_googlenet_22_deep_6_0M_stride_32_and_rf_715_not_907():
    spec = nets.spec(NAME)
    s = audit.structure(spec)
    # 22 = conv1, conv2/3x3_reduce, conv2/3x3, two per inception module (reduce, then 3x3 or 5x5), score_fr;
    # the net has 57 + 1 convolutions in all.
    assert s["conv_layers"] == 3 + 9 * 2 + 1 == 22
    assert audit.conv_depths(spec)["score_fr"] == 22 and sum(x.type == "Convolution" for x in spec.layers) == 58
    # BVLC's trunk without its classifier (5,973,552) plus a 1024 -> 21 score_fr: 5,995,077, the paper's "6M".
    trunk = sum(int(np.prod(b)) for blobs in googlenet.trunk().param_shapes().values() for b in blobs)
    assert trunk == 5_973_552 and s["params_millions"] == round((trunk + 1024 * 21 + 21) / 1e6, 1) == 6.0
    assert s["max_stride"] == 32
    # The paper's 907 is the receptive field of the average pooling the FCN discards (7x7 at stride 32 adds
    # 6 x 32 = 192 to inception_5b/output's 715); the record states the difference, with the kit's 715.
    assert s["rf_size"] == 715 == nets.record(NAME).paper_row(1).differs["rf_size"][0]
    with_pool = NetSpec("classifier", {"data": 3}, (*googlenet.trunk().layers, googlenet.classifier_pool()),
                        ("pool5/7x7_s1",))
    assert geometry.receptive_fields(with_pool)["pool5/7x7_s1"].size == 907


def test_the_audit_states_the_receptive_field_difference_and_passes_fcn_googlenet():
    text, problems = audit.audit_net(NAME, 500)
    assert problems == []
    assert "rf_size: ours 715, paper 907: known difference, 907 is the receptive field of pool5/7x7_s1" in text
    assert "derived only (never published)" in text


def test_depth_counts_the_chain_nets_as_their_convolutions():
    assert audit.structure(nets.spec("voc-fcn32s")) == {"conv_layers": 16, "params_millions": 134.3,
                                                        "rf_size": 404, "max_stride": 32}
    assert audit.structure(nets.spec("voc-fcn-alexnet")) == {"conv_layers": 8, "params_millions": 57.0,
                                                             "rf_size": 355, "max_stride": 32}
    assert audit.structure(nets.spec("nyud-fcn32s-color-hha"))["conv_layers"] == 16  # per stream


def test_train_command_runs_the_cvpr_recipe_on_a_miniature_voc_tree(tmp_path, monkeypatch, capsys):
    """make train NET=voc-fcn-googlenet on SBD-format pictures of 12x14: the CVPR regime at lr 5e-5, minibatch
    given as --batch 2 to keep it short, two iterations, the net narrowed (tests/tiny_nets.py). Every parameter
    layer moves from its start; the frozen upsampler does not."""
    from data import miniature
    from reproduce import train
    from tiny_nets import narrow_net

    root = miniature.build_voc_training(tmp_path / "data", 3, 1)
    monkeypatch.setattr(nets, "build", lambda name, variant=None, **kw: narrow_net(name, variant))
    printed: list[str] = []
    monkeypatch.setattr(train.distributed, "say", lambda *a, **k: printed.append(" ".join(map(str, a))))
    init = weights.save(narrow_net(NAME, seed=4), tmp_path / "init.h5")
    with pytest.warns(UserWarning):  # the miniature lists are not the reference's
        rc = train.main([NAME, "--init", str(init), "--data-root", str(root), "--iters", "2", "--batch", "2",
                         "--snapshot-every", "0", "--out", str(tmp_path / "out")])
    assert rc == 0
    log = "\n".join(printed)
    # FCN-GoogLeNet's own solver is the paper's regime (it was never trained by the reference)
    assert "base_lr 5e-05, momentum 0.9, iter_size 2 (images per update), normalize True" in log
    assert "learning: all 58 parameter layers" in log and "frozen upsampling/Scale buffers: upscore" in log
    trained = {x.name: x.blobs for x in weights.read_weights(tmp_path / "out" / NAME / f"{NAME}_iter_2.h5").layers}
    start = {x.name: x.blobs for x in weights.read_weights(init).layers}
    moved = {k for k in start if any(not np.array_equal(a, b) for a, b in zip(trained[k], start[k], strict=True))}
    assert moved == set(start) - {"upscore"}
    assert "iter 2, loss" in capsys.readouterr().out
