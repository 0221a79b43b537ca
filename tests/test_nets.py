"""Fast checks of the nets without Caffe: names, geometry, sizes, alignment, frozen buffers, Caffe layer maths.

The layer-semantics checks (blob sizes, deconvolution, alignment, in-place ReLU, dropout, LRN) run on every
device present (tests/devices.py: CUDA cases carry the gpu marker, make test-gpu), at the same tolerances."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nets
import parity
from devices import DEVICES
from nets import geometry
from nets.layers import Deconvolution, bilinear_kernel, caffe_lrn
from nets.spec import NetSpec, crop, deconv

REFERENCE_OFFSETS = parity.REFERENCE_CROP_OFFSETS  # typed out independently of nets.geometry


def test_unknown_name_is_an_error_listing_the_valid_ones():
    with pytest.raises(KeyError, match="voc-fcn8s.*pascalcontext-fcn8s"):
        nets.build("voc-fcn4s")


@pytest.mark.parametrize("name", REFERENCE_OFFSETS)  # the nets the reference published
def test_derived_crop_offsets_equal_the_reference_table(name):
    derived = geometry.derive_crop_offsets(nets.spec(name))
    assert derived == REFERENCE_OFFSETS[name]


def test_fcn8s_crop_offsets_are_5_9_31_and_not_centred():
    spec = nets.spec("voc-fcn8s")
    assert [x.offset for x in spec.layers if x.type == "Crop"] == [5, 9, 31]
    # A centred last crop would be (upscore8 - data) / 2 = 34 for a 500x500 input: the reference keeps 31.
    sizes = geometry.blob_sizes(spec, 500, 500)
    assert (sizes["upscore8"][0] - 500) // 2 == 34


def _with_layer(spec: NetSpec, name: str, **changes) -> NetSpec:
    layers = tuple(dataclasses.replace(x, **changes) if x.name == name else x for x in spec.layers)
    return dataclasses.replace(spec, layers=layers)


def test_a_mutated_input_pad_changes_the_derived_offset_and_is_rejected():
    spec = nets.vgg.fcn("voc-fcn32s", 32, 21)
    mutated = _with_layer(spec, "conv1_1", pad=99)
    assert geometry.derive_crop_offsets(mutated) == {"score": 18}
    with pytest.raises(geometry.GeometryError, match="'score'.*18.*reference uses 19"):
        geometry.resolve_crops(mutated)


def test_a_fractional_offset_is_an_error_naming_the_crop():
    spec = _with_layer(nets.vgg.fcn("voc-fcn16s", 16, 21), "upscore2", kernel_size=5)
    with pytest.raises(geometry.GeometryError, match="crop 'score_pool4c'.*not a non-negative integer"):
        geometry.derive_crop_offsets(spec)


def test_a_negative_offset_is_an_error():
    spec = _with_layer(nets.vgg.fcn("voc-fcn32s", 32, 21), "conv1_1", pad=70)  # offset = pad - 81
    with pytest.raises(geometry.GeometryError, match="-11"):
        geometry.derive_crop_offsets(spec)


@pytest.mark.parametrize("name", nets.NAMES)
def test_output_size_equals_input_size_for_every_size_from_1_to_520(name):
    spec = nets.spec(name)
    for h in range(1, 521):
        sizes = geometry.blob_sizes(spec, h, 520 - h + 1)
        for out in spec.outputs:
            assert sizes[out] == (h, 520 - h + 1), (name, h)


@pytest.mark.parametrize("name,size", [("voc-fcn8s", (1, 1)), ("voc-fcn8s", (37, 53)),
                                       ("voc-fcn-alexnet", (2, 31)), ("siftflow-fcn16s", (33, 17)),
                                       ("nyud-fcn32s-color-d", (19, 24)), ("voc-fcn8s-atonce", (64, 65))])
@pytest.mark.parametrize("device", DEVICES)
def test_every_blob_has_the_geometry_modules_size(name, size, device):
    net = nets.build(name).to(device)
    inputs = [torch.zeros(1, net.spec.inputs[i], *size, device=device) for i in net.inputs]
    with torch.no_grad():
        blobs = net.forward_blobs(*inputs)
    expected = geometry.blob_sizes(net.spec, *size)
    assert set(blobs) == set(expected)
    for blob, (h, w) in expected.items():
        assert tuple(blobs[blob].shape[2:]) == (h, w), blob
        assert blobs[blob].shape[1] == net.channels[blob], blob


def test_caffe_layer_names_are_the_state_dict_keys_of_voc_fcn8s():
    keys = set(nets.build("voc-fcn8s").state_dict())
    convs = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2",
             "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "score_fr", "score_pool4", "score_pool3"]
    expected = {f"{c}.{b}" for c in convs for b in ("weight", "bias")}
    expected |= {"upscore2.weight", "upscore_pool4.weight", "upscore8.weight"}
    assert keys == expected


@pytest.mark.parametrize("name,present", [
    ("voc-fcn8s-atonce", ["scale_pool4.weight", "scale_pool3.weight"]),
    ("nyud-fcn32s-color-d", ["conv1_1_bgrd.weight", "conv1_2.weight"]),
    ("nyud-fcn32s-color-hha", ["conv1_1color.weight", "fc7hha.bias", "score_frcolor.weight", "score_frhha.bias",
                               "upscore.weight"]),
    ("siftflow-fcn8s", ["score_fr_sem.weight", "score_pool4_geo.bias", "upscore8_sem.weight",
                        "upscore_pool4_geo.weight"]),
    ("voc-fcn-alexnet", ["conv1.weight", "conv5.bias", "fc6.weight", "score_fr.weight", "upscore.weight"]),
])
def test_variant_layer_names_follow_the_reference(name, present):
    keys = set(nets.build(name).state_dict())
    assert set(present) <= keys


def test_inputs_and_outputs_name_the_caffe_blobs():
    assert nets.build("nyud-fcn32s-color-d").inputs == ("color", "depth")
    assert nets.build("nyud-fcn32s-color-hha").inputs == ("color", "hha")
    assert nets.build("siftflow-fcn32s").outputs == ("score_sem", "score_geo")
    assert nets.build("voc-fcn32s").inputs == ("data",)


def test_trainable_parameter_counts_are_the_papers_134M_and_57M():
    vgg = sum(p.numel() for p in nets.build("voc-fcn32s").parameters())
    alex = sum(p.numel() for p in nets.build("voc-fcn-alexnet").parameters())
    # VGG16 convs 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + score_fr 86,037 (ledger: table1.structure: 134M).
    assert vgg == 14_714_688 + 102_764_544 + 16_781_312 + 86_037
    assert round(vgg / 1e6) == 134 and round(alex / 1e6) == 57


def test_upsampling_and_scale_are_frozen_buffers_not_parameters():
    net = nets.build("voc-fcn8s-atonce")
    params = dict(net.named_parameters())
    buffers = dict(net.named_buffers())
    for name in ("upscore2.weight", "upscore_pool4.weight", "upscore8.weight", "scale_pool4.weight",
                 "scale_pool3.weight"):
        assert name in buffers and name not in params
        assert not buffers[name].requires_grad
    assert torch.equal(buffers["scale_pool4.weight"], torch.full((512,), 0.01))
    assert torch.equal(buffers["scale_pool3.weight"], torch.full((256,), 0.0001))
    assert buffers["upscore8.weight"].shape == (21, 21, 16, 16)


def test_bilinear_kernel_matches_the_formula_for_k4_and_k63():
    k4 = bilinear_kernel(2, 4)
    one_d = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(k4[0, 0].numpy(), np.outer(one_d, one_d))
    assert torch.count_nonzero(k4[0, 1]) == 0 and torch.count_nonzero(k4[1, 0]) == 0
    k63 = bilinear_kernel(1, 63)[0, 0].numpy()  # f = 32, centre 31: peak 1 at the middle, 1/32 at the border
    assert k63[31, 31] == 1.0 and k63[0, 31] == pytest.approx(1 / 32)


@pytest.mark.parametrize("device", DEVICES)
def test_a_non_diagonal_deconvolution_kernel_is_applied_in_full(device):
    torch.manual_seed(0)
    layer = Deconvolution(3, 3, 4, 2).to(device)
    x = torch.randn(1, 3, 5, 6).to(device)
    layer.weight.copy_(bilinear_kernel(3, 4))

    def full():
        return F.conv_transpose2d(x.cpu().double(), layer.weight.cpu().double(), stride=2).numpy()

    np.testing.assert_allclose(layer(x).cpu().numpy(), full(), atol=1e-6)
    layer.weight.copy_(torch.randn(3, 3, 4, 4))  # a loaded kernel that is not the diagonal bilinear one
    np.testing.assert_allclose(layer(x).cpu().numpy(), full(), atol=1e-5)


def _tent_centroid(profile: np.ndarray) -> float:
    return float((profile * np.arange(len(profile))).sum() / profile.sum())


@pytest.mark.parametrize("name,k,stride", [("voc-fcn32s", 64, 32), ("voc-fcn-alexnet", 63, 32)])
@pytest.mark.parametrize("device", DEVICES)
def test_an_impulse_on_score_fr_lands_where_the_coordinate_map_says(name, k, stride, device):
    """Feed the head alone: an impulse at score_fr pixel i must come out of upscore + crop as a bilinear tent
    centred at input position stride * i + shift, the shift the coordinate map gives score_fr."""
    full = nets.spec(name)
    shift = geometry.coord_maps(full)["score_fr"].shift
    size = 300
    n = geometry.blob_sizes(full, size, size)["score_fr"][0]
    layers = (deconv("upscore", "score_fr", 1, k, stride),
              crop("score", "upscore", "data").with_offset(full.layer("score").offset))
    head = NetSpec("head", {"data": 1, "score_fr": 1}, layers, ("score",))
    net = nets.CaffeNet(head).to(device)
    net._check_inputs = lambda inputs: None  # the head's two inputs live at different strides on purpose
    net.upscore.weight.copy_(bilinear_kernel(1, k))
    for i in (2, 5):
        score_fr = torch.zeros(1, 1, n, n, device=device)
        score_fr[0, 0, i, i] = 1
        out = net(torch.zeros(1, 1, size, size, device=device), score_fr)[0, 0].cpu().numpy()
        assert _tent_centroid(out[:, stride * i + int(shift)]) == pytest.approx(stride * i + float(shift), abs=1e-4)


@pytest.mark.parametrize("name,stride", [("voc-fcn8s", 32), ("voc-fcn-alexnet", 32)])
@pytest.mark.parametrize("device", DEVICES)
def test_shifting_the_input_by_the_net_stride_shifts_the_output_by_the_same(name, stride, device):
    torch.manual_seed(1)
    net = nets.build(name)
    with torch.no_grad():
        for name_, p in net.named_parameters():
            # Zero biases keep the empty plane at exactly zero, so the padding looks like more empty plane.
            p.normal_(0, 0.05) if name_.endswith("weight") else p.zero_()
        x = torch.zeros(1, 3, 192, 192)
        x[0, :, 60, 70] = 10.0
        shifted = torch.roll(x, shifts=(stride, stride), dims=(2, 3))
        net = net.to(device)
        a, b = net(x.to(device)).cpu(), net(shifted.to(device)).cpu()
    # Away from the borders (output pixels whose score_fr cells, within +-56 pixels through the 8s skips, all
    # exist in both runs) the response to the shifted impulse is the same map, moved by one stride.
    lo, hi = 64, 112
    moved = b[0, :, stride + lo:stride + hi, stride + lo:stride + hi]
    assert moved.abs().max() > 0
    np.testing.assert_allclose(moved.numpy(), a[0, :, lo:hi, lo:hi].numpy(), rtol=1e-4, atol=1e-6 * moved.abs().max())


@pytest.mark.parametrize("device", DEVICES)
def test_inplace_relu_leaves_the_conv_blob_non_negative(device):
    torch.manual_seed(0)
    net = nets.build("voc-fcn32s")
    with torch.no_grad():
        net.conv1_1.weight.normal_()
        blobs = net.to(device).forward_blobs(torch.randn(1, 3, 8, 8).to(device))
    assert blobs["conv1_1"].min() >= 0 and blobs["conv1_1"].max() > 0
    assert "relu1_1" not in blobs  # a layer name, not a blob


def test_ceil_mode_pooling_rounds_up():
    spec = nets.spec("voc-fcn32s")
    # conv1_1 pads 100: 1x1 input -> 199 -> pool1 ceil((199 - 2) / 2) + 1 = 100 (floor would give 99)
    assert geometry.blob_sizes(spec, 1, 1)["pool1"] == (100, 100)
    assert geometry.pool_out(199, 2, 2, 0) == 100 and geometry.pool_out(14, 3, 2, 0) == 7  # floor: 6


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_is_elementwise_and_scales_kept_units_at_train_time(device):
    """Run the net itself: in train mode drop6 / drop7 zero single elements (not whole channels) with
    probability 0.5 and scale the kept ones by 1 / (1 - 0.5) = 2; in test mode they are the identity."""
    net = parity.load_params(nets.build("voc-fcn-alexnet"), parity.random_params("voc-fcn-alexnet")).to(device)
    x = torch.from_numpy(parity.random_inputs("voc-fcn-alexnet", size=(150, 150))["data"]).to(device)
    with torch.no_grad(), net.precision.applied(device):  # net.fc7 below runs in exact float32 too
        kept = net.eval().forward_blobs(x)
        torch.manual_seed(0)
        dropped = net.train().forward_blobs(x)
    for blob in ("fc6", "fc7"):
        # fc7 reads the dropped fc6, so compare each drop layer with the ReLU output it received.
        with net.precision.applied(device):
            before = kept["fc6"] if blob == "fc6" else torch.relu(net.fc7(dropped["fc6"]))
        after = dropped[blob]
        live = before > 0
        assert live.sum() > 10_000, blob
        zero = (after == 0) & live
        assert torch.allclose(after[live & ~zero], 2 * before[live & ~zero], rtol=1e-6), blob
        assert abs(zero.sum().item() / live.sum().item() - 0.5) < 0.02, blob
        per_channel = zero.float().sum(dim=(2, 3)) / live.float().sum(dim=(2, 3)).clamp(min=1)
        many = live.sum(dim=(2, 3)) >= 8
        assert ((per_channel[many] > 0) & (per_channel[many] < 1)).float().mean() > 0.9, blob
    with torch.no_grad(), net.precision.applied(device):  # test mode: drop7 passes relu7's output through
        torch.testing.assert_close(kept["fc7"], torch.relu(net.fc7(kept["fc6"])), rtol=0 if device == "cpu" else 1e-6,
                                   atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_lrn_is_caffes_across_channel_formula(device):
    torch.manual_seed(0)
    x = torch.randn(1, 7, 3, 3, dtype=torch.float64)
    a = x.numpy()[0]
    n, alpha, beta = 5, 1e-4, 0.75
    expected = np.empty_like(a)
    for c in range(7):
        lo, hi = max(0, c - 2), min(7, c + 3)
        expected[c] = a[c] / (1 + alpha / n * (a[lo:hi] ** 2).sum(0)) ** beta
    np.testing.assert_allclose(caffe_lrn(x.to(device), n, alpha, beta, 1.0)[0].cpu().numpy(), expected, rtol=1e-12)


def test_param_multipliers_follow_the_reference_solvers():
    vgg = nets.build("voc-fcn8s").param_multipliers()
    assert vgg["conv1_1.weight"] == (1, 1) and vgg["conv1_1.bias"] == (2, 0) and vgg["score_pool3.bias"] == (2, 0)
    alex = nets.build("voc-fcn-alexnet").param_multipliers()
    assert alex["conv1.bias"] == (1, 1) and alex["fc7.bias"] == (1, 1) and alex["score_fr.bias"] == (2, 0)


def test_wrong_input_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="'depth' must be N x 1 x H x W"):
        nets.build("nyud-fcn32s-color-d")(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
