"""nets.solver and nets.layers: Caffe's SGD update and SoftmaxWithLoss against hand-computed and float64 numpy
values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nets
from nets.layers import FLT_MIN, softmax_with_loss
from nets.net import CaffeNet
from nets.solver import CaffeSGD
from nets.spec import CAFFE_DEFAULT, TRAINED, NetSpec, conv, deconv

# ---- SGD -------------------------------------------------------------------------------------------------


def _toy_net() -> CaffeNet:
    """Two 1x1 convolutions on one channel: "a" with the VGG16 multipliers (1/1, 2/0), "b" with Caffe's
    defaults (1/1, 1/1, FCN-AlexNet's trunk), and a frozen deconvolution."""
    layers = (conv("a", "data", 1, 1, param=TRAINED), conv("b", "a", 1, 1, param=CAFFE_DEFAULT),
              deconv("up", "b", 1, 2, 2))
    net = CaffeNet(NetSpec("toy", {"data": 1}, layers, ("up",), "32s")).double()
    with torch.no_grad():
        for name in ("a", "b"):
            getattr(net, name).weight.fill_(2.0)
            getattr(net, name).bias.fill_(1.0)
        net.up.weight.fill_(0.25)
    return net


def _set_grads(net: CaffeNet, value: float) -> None:
    for p in net.parameters():
        p.grad = torch.full_like(p, value)


def test_sgd_two_steps_match_hand_computed_momentum_and_weight_decay():
    net = _toy_net()
    sgd = CaffeSGD(net, base_lr=0.1, momentum=0.9, weight_decay=0.01)
    _set_grads(net, 0.5)
    sgd.step()
    # a.weight (lr 1, decay 1): V = 0.1 * (0.5 + 0.01 * 2.0) = 0.052; W = 2.0 - 0.052 = 1.948
    # a.bias (lr 2, decay 0):   V = 0.1 * 2 * 0.5 = 0.1;              b = 1.0 - 0.1 = 0.9
    # b.bias (lr 1, decay 1):   V = 0.1 * (0.5 + 0.01 * 1.0) = 0.051; b = 1.0 - 0.051 = 0.949
    assert sgd.history["a.weight"].item() == pytest.approx(0.052, abs=1e-15)
    assert net.a.weight.item() == pytest.approx(1.948, abs=1e-15)
    assert net.a.bias.item() == pytest.approx(0.9, abs=1e-15)
    assert net.b.bias.item() == pytest.approx(0.949, abs=1e-15)
    _set_grads(net, 0.5)
    sgd.step()
    # a.weight: V = 0.9 * 0.052 + 0.1 * (0.5 + 0.01 * 1.948) = 0.0468 + 0.051948 = 0.098748;
    #           W = 1.948 - 0.098748 = 1.849252
    # a.bias:   V = 0.9 * 0.1 + 0.2 * 0.5 = 0.19; b = 0.9 - 0.19 = 0.71
    assert sgd.history["a.weight"].item() == pytest.approx(0.098748, abs=1e-15)
    assert net.a.weight.item() == pytest.approx(1.849252, abs=1e-15)
    assert sgd.history["a.bias"].item() == pytest.approx(0.19, abs=1e-15)
    assert net.a.bias.item() == pytest.approx(0.71, abs=1e-15)
    assert sgd.iter == 2
    # The upsampler is a buffer: untouched and not in the solver.
    assert "up.weight" not in sgd.history
    assert torch.all(net.up.weight == 0.25)


def test_iter_size_averages_the_summed_gradients_of_its_passes():
    net = _toy_net()
    sgd = CaffeSGD(net, base_lr=0.1, momentum=0.9, weight_decay=0.01, iter_size=2)
    sgd.zero_grad()
    x = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    # d(scale * a(x))/d a.bias = scale: two passes with 0.3 and 0.7 sum to 1.0, halved to 0.5.
    for scale in (0.3, 0.7):
        (scale * net.a(x)).sum().backward()
    sgd.step()
    # a.bias: V = 0.1 * 2 * 0.5 = 0.1 -> 0.9 (the same as one pass of gradient 0.5 above)
    assert net.a.bias.item() == pytest.approx(0.9, abs=1e-15)
    # a.weight: gradient (0.3 + 0.7) * x / 2 = 0.5 -> V = 0.1 * (0.5 + 0.02) = 0.052
    assert net.a.weight.item() == pytest.approx(1.948, abs=1e-15)


def test_sgd_refuses_a_net_whose_parameters_lack_multipliers():
    net = nn.Conv2d(1, 1, 1)
    with pytest.raises(TypeError, match="param_multipliers"):
        CaffeSGD(net, 0.1, 0.9)
    with pytest.raises(ValueError, match="without multipliers"):
        CaffeSGD(net, 0.1, 0.9, multipliers={"weight": (1, 1)})


def test_vgg_and_alexnet_multipliers_are_the_references():
    vgg = CaffeSGD(nets.build("voc-fcn8s"), 1e-14, 0.99).multipliers
    assert vgg["conv1_1.weight"] == (1.0, 1.0) and vgg["conv1_1.bias"] == (2.0, 0.0)
    assert vgg["score_pool3.weight"] == (1.0, 1.0) and vgg["score_pool3.bias"] == (2.0, 0.0)
    assert not any(k.startswith("upscore") for k in vgg)
    alex = CaffeSGD(nets.build("voc-fcn-alexnet"), 1e-4, 0.9, iter_size=20).multipliers
    assert alex["conv1.bias"] == (1.0, 1.0) and alex["fc7.bias"] == (1.0, 1.0)
    assert alex["score_fr.weight"] == (1.0, 1.0) and alex["score_fr.bias"] == (2.0, 0.0)


def test_solver_state_round_trips_and_refuses_other_settings():
    net = _toy_net()
    sgd = CaffeSGD(net, 0.1, 0.9, weight_decay=0.01)
    _set_grads(net, 0.5)
    sgd.step()
    other = CaffeSGD(_toy_net(), 0.1, 0.9, weight_decay=0.01)
    other.load_state_dict(sgd.state_dict())
    assert other.iter == 1
    assert all(torch.equal(other.history[k], sgd.history[k]) for k in sgd.history)
    with pytest.raises(ValueError, match="momentum"):
        CaffeSGD(_toy_net(), 0.1, 0.99, weight_decay=0.01).load_state_dict(sgd.state_dict())


def test_the_net_records_hold_the_reference_solver_settings():
    SOLVERS = {name: nets.record(name).solver for name in nets.NAMES}
    s = SOLVERS["voc-fcn8s"]
    assert (s.base_lr, s.momentum, s.iter_size, s.normalize, s.max_iter) == (1e-14, 0.99, 1, False, 100_000)
    a = SOLVERS["voc-fcn-alexnet"]
    assert (a.base_lr, a.momentum, a.iter_size, a.normalize, a.max_iter) == (1e-4, 0.9, 20, True, 100_000)
    assert SOLVERS["voc-fcn8s-atonce"].max_iter == 300_000
    assert SOLVERS["pascalcontext-fcn16s"].base_lr == 1e-12
    assert SOLVERS["pascalcontext-fcn8s"].max_iter == 400_000
    assert SOLVERS["siftflow-fcn8s"].base_lr == 1e-12
    assert all(s.weight_decay == 5e-4 for s in SOLVERS.values())


# ---- SoftmaxWithLoss ------------------------------------------------------------------------------------


def _reference_loss(score: np.ndarray, label: np.ndarray, normalize: bool) -> tuple[float, np.ndarray]:
    """Caffe's forward and backward in float64 numpy, written out loop-free."""
    s = score - score.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    valid = label != 255
    lab = np.where(valid, label, 0)
    p_label = np.take_along_axis(p, lab[:, None], axis=1)[:, 0]
    loss = np.where(valid, -np.log(np.maximum(p_label, FLT_MIN)), 0.0).sum()
    norm = max(1, valid.sum()) if normalize else score.shape[0]
    grad = p.copy()
    np.put_along_axis(grad, lab[:, None], np.take_along_axis(grad, lab[:, None], axis=1) - 1, axis=1)
    grad *= valid[:, None]
    return loss / norm, grad / norm


@pytest.mark.parametrize("normalize", [False, True])
def test_softmax_with_loss_value_and_gradient_match_float64_reference(normalize):
    rng = np.random.default_rng(3)
    score = rng.normal(0, 3, (2, 5, 4, 6))
    label = rng.integers(0, 5, (2, 4, 6))
    label[0, 1, :] = 255
    label[1, :, 0] = 255
    want_loss, want_grad = _reference_loss(score, label, normalize)
    x = torch.tensor(score, requires_grad=True)
    loss = softmax_with_loss(x, torch.tensor(label), normalize=normalize)
    loss.backward()
    assert loss.item() == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, rtol=1e-10, atol=1e-14)
    # Ignored pixels get no gradient at all.
    assert np.all(x.grad.numpy()[0, :, 1, :] == 0)


def test_summed_loss_divides_by_batch_and_normalized_by_valid_pixels():
    score = torch.zeros(1, 4, 2, 2, dtype=torch.float64)  # p = 1/4 everywhere: each pixel costs log 4
    label = torch.tensor([[[0, 1], [255, 3]]])
    assert softmax_with_loss(score, label, normalize=False).item() == pytest.approx(3 * np.log(4))
    assert softmax_with_loss(score, label, normalize=True).item() == pytest.approx(np.log(4))
    # All pixels ignored: Caffe floors the VALID normaliser at 1, so the loss is 0, not NaN.
    assert softmax_with_loss(score, torch.full((1, 2, 2), 255), normalize=True).item() == 0.0


def test_loss_caps_a_pixel_at_minus_log_flt_min_but_the_gradient_is_p_minus_onehot():
    # Label class 0 with a score 1000 below class 1: p underflows to 0 in float32, the loss is clamped
    # to -log(FLT_MIN) = 87.3365..., and the gradient is still p - onehot = (-1, +1).
    score = torch.tensor([[[[0.0]], [[1000.0]]]], dtype=torch.float32, requires_grad=True)
    label = torch.tensor([[[0]]])
    loss = softmax_with_loss(score, label, normalize=False)
    loss.backward()
    assert loss.item() == pytest.approx(87.3365447505531, rel=1e-6)
    assert loss.item() == pytest.approx(-np.log(np.float64(FLT_MIN)), rel=1e-6)
    np.testing.assert_array_equal(score.grad.numpy().ravel(), [-1.0, 1.0])


def test_loss_accepts_an_n_1_h_w_label_and_rejects_bad_labels():
    score = torch.zeros(1, 3, 2, 2)
    a = softmax_with_loss(score, torch.zeros(1, 1, 2, 2, dtype=torch.uint8), normalize=False)
    b = softmax_with_loss(score, torch.zeros(1, 2, 2, dtype=torch.int64), normalize=False)
    assert a.item() == b.item() == pytest.approx(4 * np.log(3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        softmax_with_loss(score, torch.full((1, 2, 2), 3), normalize=False)
    with pytest.raises(ValueError, match="does not match"):
        softmax_with_loss(score, torch.zeros(1, 3, 2, dtype=torch.int64), normalize=False)
