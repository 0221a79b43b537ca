"""Net surgery: ILSVRC classifiers and coarser FCNs into the reference nets, as the reference's solve scripts
did it (copy by name, InnerProduct -> convolution, bilinear upsampling, zero score layers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nets
import weights
from nets.layers import bilinear_kernel
from weights import transplant as surgery
from weights.caffemodel import CaffeLayer
from weights.h5 import read_h5, write_h5
from weights.loader import check_fit

VGG16_CONVS = [(f"conv{b}_{i}", c) for b, n, c in ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512),
                                                   (5, 3, 512)) for i in range(1, n + 1)]


def const(value: float, *shape: int) -> np.ndarray:
    """A constant blob that costs no memory (a broadcast view)."""
    return np.broadcast_to(np.float32(value), shape)


def vgg16_ilsvrc(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """VGG16's ILSVRC blobs in Caffe's shapes (fc6..fc8 InnerProduct). Distinct values where a test compares
    them (conv1_1, fc6, fc7), constants (free) elsewhere."""
    out, c_in = {}, 3
    for name, c in VGG16_CONVS:
        shape = (c, c_in, 3, 3)
        weight = rng.standard_normal(shape, dtype=np.float32) if name == "conv1_1" else const(0.5, *shape)
        out[name] = [weight, const(0.25, c)]
        c_in = c
    # fc6: a ramp (cheaper than 100M random draws; any reordering of its elements shows)
    out["fc6"] = [np.arange(4096 * 25088, dtype=np.float32).reshape(4096, 25088), rng.standard_normal(
        4096, dtype=np.float32)]
    out["fc7"] = [rng.standard_normal((4096, 4096), dtype=np.float32), const(2.0, 4096)]
    out["fc8"] = [const(1.0, 1000, 4096), const(2.0, 1000)]
    return out


@pytest.fixture(scope="module")
def vgg16() -> dict[str, list[np.ndarray]]:
    return vgg16_ilsvrc(np.random.default_rng(16))


def lines_of(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_vgg16_into_voc_fcn32s_reshapes_fc_layers_bilinear_upscore_zero_score_fr(vgg16, capsys):
    out = surgery.transplant("voc-fcn32s", [vgg16])
    printed = lines_of(capsys)
    fc6, fc7 = out["fc6"][0], out["fc7"][0]
    assert fc6.shape == (4096, 512, 7, 7) and fc7.shape == (4096, 4096, 1, 1)
    # same memory order, only the shape changes
    assert np.array_equal(fc6.reshape(4096, -1), vgg16["fc6"][0])
    assert np.array_equal(fc6[1, 2, 3, 4], vgg16["fc6"][0][1, 2 * 49 + 3 * 7 + 4])
    assert np.array_equal(fc7[:, :, 0, 0], vgg16["fc7"][0])
    assert np.array_equal(out["fc6"][1], vgg16["fc6"][1])
    assert np.array_equal(out["conv1_1"][0], vgg16["conv1_1"][0])
    assert np.array_equal(out["upscore"][0], bilinear_kernel(21, 64).numpy())
    assert not out["score_fr"][0].any() and not out["score_fr"][1].any()
    assert out["score_fr"][0].shape == (21, 4096, 1, 1)
    assert "fc8" not in out
    assert "coercing fc6 (4096, 25088) (4096,) -> (4096, 512, 7, 7) (4096,) from source" in printed
    assert "coercing fc7 (4096, 4096) (4096,) -> (4096, 4096, 1, 1) (4096,) from source" in printed
    assert any(x.startswith("copying conv5_3 (512, 512, 3, 3) (512,)") for x in printed)
    assert any(x.startswith("initialising score_fr: zeros (21, 4096, 1, 1) (21,)") for x in printed)
    assert any(x.startswith("initialising upscore: bilinear (21, 21, 64, 64)") for x in printed)
    assert any(x.startswith("dropping fc8 (1000, 4096) (1000,)") for x in printed)
    # one line per target parameter layer plus one per dropped source layer
    assert len(printed) == 13 + 2 + 2 + 1


def test_transplanted_voc_fcn32s_loads_strictly(vgg16):
    net = weights.load(nets.build("voc-fcn32s"), surgery.transplant("voc-fcn32s", [vgg16], log=None))
    assert torch.equal(net.fc6.weight, torch.from_numpy(vgg16["fc6"][0].reshape(4096, 512, 7, 7)))
    assert torch.equal(net.upscore.weight, bilinear_kernel(21, 64))
    assert not net.score_fr.weight.any() and not net.score_fr.bias.any()


def test_color_d_depth_filter_is_the_mean_of_the_rgb_filters(vgg16, capsys):
    out = surgery.transplant("nyud-fcn32s-color-d", [vgg16])
    w = out["conv1_1_bgrd"][0]
    rgb = vgg16["conv1_1"][0]
    assert w.shape == (64, 4, 3, 3)
    assert np.array_equal(w[:, :3], rgb)
    np.testing.assert_allclose(w[:, 3], rgb.mean(axis=1), rtol=1e-6, atol=1e-7)
    assert np.array_equal(out["conv1_1_bgrd"][1], vgg16["conv1_1"][1])
    printed = lines_of(capsys)
    assert "initialising conv1_1_bgrd (64, 4, 3, 3) (64,) from conv1_1 (64, 3, 3, 3) (64,): RGB filters + " \
           "depth filter = their mean" in printed
    assert not any(x.startswith("dropping conv1_1 ") for x in printed)


def test_caffenet_into_fcn_alexnet_reshapes_fc6_to_256x6x6_via_the_command_line(tmp_path, capsys):
    rng = np.random.default_rng(1)
    shapes = {"conv1": (96, 3, 11, 11), "conv2": (256, 48, 5, 5), "conv3": (384, 256, 3, 3),
              "conv4": (384, 192, 3, 3), "conv5": (256, 192, 3, 3), "fc6": (4096, 9216), "fc7": (4096, 4096),
              "fc8": (1000, 4096)}
    fc6 = rng.standard_normal((4096, 9216), dtype=np.float32)
    layers = [CaffeLayer(n, "InnerProduct" if n.startswith("fc") else "Convolution",
                         (fc6 if n == "fc6" else const(0.1, *s), const(0.2, s[0])))
              for n, s in shapes.items()]
    src = write_h5(tmp_path / "caffenet.h5", layers)
    dst = tmp_path / "fcn-alexnet-init.h5"
    assert surgery.main(["--net", "voc-fcn-alexnet", "--out", str(dst), str(src)]) == 0
    printed = lines_of(capsys)
    assert "coercing fc6 (4096, 9216) (4096,) -> (4096, 256, 6, 6) (4096,) from caffenet.h5" in printed
    assert printed[-1] == f"wrote {dst}"
    written = read_h5(dst).blobs()
    # complete: strict loading's own check passes (test_transplanted_voc_fcn32s_loads_strictly loads a net)
    check_fit(nets.spec("voc-fcn-alexnet").param_shapes(), {k: [b.shape for b in v] for k, v in written.items()},
              "voc-fcn-alexnet", dst.name)
    assert np.array_equal(written["fc6"][0].reshape(4096, -1), fc6)
    assert np.array_equal(written["upscore"][0], bilinear_kernel(21, 63).numpy())


def fcn32s_blobs(classes: int, value: float) -> dict[str, list[np.ndarray]]:
    """The blobs of a trained VGG16 FCN-32s (constants): trunk, score_fr, upscore."""
    shapes = nets.spec("voc-fcn32s").param_shapes()
    out = {n: [const(value, *s) for s in ss] for n, ss in shapes.items()}
    out["score_fr"] = [const(value, classes, 4096, 1, 1), const(value, classes)]
    out["upscore"] = [const(value, classes, classes, 64, 64)]
    return out


def test_color_hha_is_made_from_the_color_and_hha_nets_with_suffixes(capsys):
    out = surgery.transplant("nyud-fcn32s-color-hha", [fcn32s_blobs(40, 1.0), fcn32s_blobs(40, 2.0)])
    printed = lines_of(capsys)
    assert (out["conv1_1color"][0] == 1).all() and (out["conv1_1hha"][0] == 2).all()
    assert (out["score_frcolor"][0] == 1).all() and (out["score_frhha"][1] == 2).all()
    assert (out["fc7hha"][0] == 2).all() and out["fc7hha"][0].shape == (4096, 4096, 1, 1)
    assert np.array_equal(out["upscore"][0], bilinear_kernel(40, 64).numpy())
    assert "copying conv1_1color (64, 3, 3, 3) (64,) from source:conv1_1" in printed
    assert "copying score_frhha (40, 4096, 1, 1) (40,) from source:score_fr" in printed
    assert any(x.startswith("dropping upscorecolor (40, 40, 64, 64)") for x in printed)
    assert any(x.startswith("dropping upscorehha (40, 40, 64, 64)") for x in printed)


def test_fcn16s_from_fcn32s_keeps_score_fr_and_zeroes_the_new_skip_scorer(capsys):
    out = surgery.transplant("voc-fcn16s", [fcn32s_blobs(21, 3.0)])
    printed = lines_of(capsys)
    assert (out["score_fr"][0] == 3).all()
    assert not out["score_pool4"][0].any() and out["score_pool4"][0].shape == (21, 512, 1, 1)
    assert np.array_equal(out["upscore2"][0], bilinear_kernel(21, 4).numpy())
    assert np.array_equal(out["upscore16"][0], bilinear_kernel(21, 32).numpy())
    assert any(x.startswith("dropping upscore (21, 21, 64, 64)") for x in printed)


def test_at_once_fcn8s_from_vgg16_gets_the_reference_scale_constants(vgg16):
    out = surgery.transplant("voc-fcn8s-atonce", [vgg16], log=None)
    assert out["scale_pool4"][0].shape == (512,) and (out["scale_pool4"][0] == np.float32(0.01)).all()
    assert out["scale_pool3"][0].shape == (256,) and (out["scale_pool3"][0] == np.float32(0.0001)).all()


def test_siftflow_from_vgg16_zeroes_both_heads(vgg16):
    out = surgery.transplant("siftflow-fcn32s", [vgg16], log=None)
    assert out["score_fr_sem"][0].shape == (33, 4096, 1, 1) and not out["score_fr_sem"][0].any()
    assert out["score_fr_geo"][0].shape == (3, 4096, 1, 1) and not out["score_fr_geo"][0].any()


# ---- what surgery refuses ----------------------------------------------------------------------------------


def test_a_trunk_layer_missing_from_the_source_is_an_error_not_zeros(vgg16):
    partial = {k: v for k, v in vgg16.items() if k not in ("conv3_1", "fc7")}
    with pytest.raises(surgery.TransplantError) as err:
        surgery.transplant("voc-fcn32s", [partial], log=None)
    assert "conv3_1 (Convolution (256, 128, 3, 3) (256,)) is in no source" in str(err.value)
    assert "fc7 (Convolution" in str(err.value)


def test_a_score_layer_of_another_class_count_is_an_error():
    with pytest.raises(surgery.TransplantError, match=r"score_fr: the net needs \(40, 4096, 1, 1\) \(40,\), "
                                                      r"source has \(21, 4096, 1, 1\) \(21,\)"):
        surgery.transplant("nyud-fcn32s-color", [fcn32s_blobs(21, 1.0)], log=None)


@pytest.mark.parametrize("net, count", [("voc-fcn32s", 2), ("nyud-fcn32s-color-hha", 1)])
def test_the_number_of_sources_must_match_the_net(vgg16, net, count):
    with pytest.raises(surgery.TransplantError, match="source"):
        surgery.transplant(net, [vgg16] * count, log=None)


def test_command_line_error_names_the_problem_and_writes_nothing(tmp_path, capsys):
    src = write_h5(tmp_path / "wrong.h5", [CaffeLayer("conv1", "Convolution", (const(1, 2, 3, 3, 3),))])
    dst = tmp_path / "out.h5"
    assert surgery.main(["--net", "voc-fcn32s", "--out", str(dst), str(src)]) == 1
    assert "conv1_1 (Convolution (64, 3, 3, 3) (64,)) is in no source" in capsys.readouterr().err
    assert not dst.exists()


def test_parameter_shapes_are_caffes_blob_shapes():
    """The one shape function (NetSpec.param_shapes) that net construction and surgery share, against the
    Caffe blob shapes typed out: grouped convolutions, fc6 as a 7x7 convolution, the 4-channel first conv
    after the RGB-D Concat, upsamplers (in, out / group, k, k) without bias, Scale (C,)."""
    alex = nets.spec("voc-fcn-alexnet").param_shapes()
    assert alex["conv2"] == [(256, 48, 5, 5), (256,)] and alex["conv4"] == [(384, 192, 3, 3), (384,)]
    assert alex["fc6"] == [(4096, 256, 6, 6), (4096,)] and alex["upscore"] == [(21, 21, 63, 63)]
    atonce = nets.spec("voc-fcn8s-atonce").param_shapes()
    assert atonce["fc6"] == [(4096, 512, 7, 7), (4096,)] and atonce["scale_pool4"] == [(512,)]
    assert atonce["scale_pool3"] == [(256,)] and atonce["score_pool3"] == [(21, 256, 1, 1), (21,)]
    assert nets.spec("nyud-fcn32s-color-d").param_shapes()["conv1_1_bgrd"] == [(64, 4, 3, 3), (64,)]
    built = {k: tuple(v.shape) for k, v in nets.build("voc-fcn8s-atonce").state_dict().items()}
    assert built["upscore8.weight"] == (21, 21, 16, 16) and "upscore8.bias" not in built
