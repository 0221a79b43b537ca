"""Everything a training run depends on matches real Caffe: the loss and every gradient (make test-caffe).

For every net: SoftmaxWithLoss with ignore_label 255, normalize false and true (the second as a loss_weight 0
layer in the same Caffe net, so one run gives both values), then Net::Backward: the gradient of every trainable
parameter and of every input. The kit runs in float64 (see CAFFE.md: two float32 implementations may disagree
where a ReLU input lies within rounding of zero; float64 against Caffe's float32 leaves ~1e-6). Dropout is in
test mode on both sides (its random masks cannot match); its train-time statistics are checked separately.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nets
import parity
from nets.layers import caffe_dropout
from nets.prototxt import deploy_prototxt
from reproduce.solver import softmax_with_loss

pytestmark = pytest.mark.caffe

GRAD_RTOL = 1e-4  # per blob max|ours - caffe| / max|caffe|, kit in float64
LOSS_RTOL = 1e-5


def recipe_normalize(name: str) -> bool:
    """The loss normalisation of the net's reference solver: only FCN-AlexNet normalises (FACTS.md section 2)."""
    return name == "voc-fcn-alexnet"


def with_second_loss(prototxt: str, spec: nets.NetSpec, normalize: bool) -> str:
    """Append, per loss, a copy with the other normalisation and loss_weight 0: Caffe computes its value in the
    forward pass but it adds nothing to the gradients."""
    extra = []
    for name, score, label in spec.losses:
        extra.append(f'layer {{\n  name: "{name}_other"\n  type: "SoftmaxWithLoss"\n  bottom: "{score}"\n'
                     f'  bottom: "{label}"\n  top: "{name}_other"\n  loss_weight: 0\n'
                     f"  loss_param {{ ignore_label: 255 normalize: {'false' if normalize else 'true'} }}\n}}")
    return prototxt + "\n".join(extra) + "\n"


@pytest.mark.parametrize("name", nets.NAMES)
def test_loss_and_every_gradient_match_real_caffe(name, caffe):
    spec = nets.spec(name)
    params = parity.random_params(name, seed=0)
    inputs = parity.random_inputs(name, seed=0)
    labels = parity.random_labels(name, seed=0)
    h, w = parity.INPUT_SIZES[name]
    normalize = recipe_normalize(name)
    prototxt = deploy_prototxt(name, h, w, offsets=parity.REFERENCE_CROP_OFFSETS[name], with_loss=True,
                               normalize=normalize)
    theirs = caffe.forward(with_second_loss(prototxt, spec, normalize), params, {**inputs, **labels},
                           backward=True)

    net = parity.load_params(nets.build(name), params).double()
    xs = [torch.from_numpy(inputs[i]).double().requires_grad_() for i in net.inputs]
    outs = net(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    scores = dict(zip(net.outputs, outs, strict=True))
    total = 0
    for loss_name, score, label in spec.losses:
        lab = torch.from_numpy(labels[label]).long()
        loss = softmax_with_loss(scores[score], lab, normalize=normalize)
        other = softmax_with_loss(scores[score].detach(), lab, normalize=not normalize)
        for ours, key in ((loss, loss_name), (other, f"{loss_name}_other")):
            caffe_value = float(theirs["blobs"][key].reshape(()))
            assert ours.item() == pytest.approx(caffe_value, rel=LOSS_RTOL), f"{name}: loss {key}"
        total = total + loss
    total.backward()
    loss_err = abs(total.item() - theirs["loss"]) / abs(theirs["loss"])
    parity.REPORT.append((name, "loss (both normalisations)", "loss", loss_err, f"{LOSS_RTOL:g}"))

    param_errors = {}
    for layer in net.layers:
        if layer.type != "Convolution":
            continue
        module = getattr(net, layer.name)
        for i, p in enumerate((module.weight, module.bias)):
            caffe_diff = theirs["param_diff"][layer.name][i]
            param_errors[f"{layer.name}[{i}]"] = parity.max_rel_error(p.grad.numpy(), caffe_diff)
    for layer in net.layers:  # frozen in Caffe too: lr_mult 0 means no gradient is even computed
        if layer.type in ("Deconvolution", "Scale"):
            assert not np.any(theirs["param_diff"][layer.name][0]), f"{name}: Caffe computed a diff for {layer.name}"
    worst = max(param_errors, key=param_errors.get)
    parity.REPORT.append((name, "parameter gradients", worst, param_errors[worst], f"{GRAD_RTOL:g}"))
    bad = {k: f"{v:.2e}" for k, v in param_errors.items() if not v <= GRAD_RTOL}
    assert not bad, f"{name}: parameter gradients beyond {GRAD_RTOL}: {bad}"

    input_errors = {i: parity.max_rel_error(x.grad.numpy(), theirs["blob_diff"][i]) for i, x in zip(net.inputs, xs,
                                                                                                       strict=True)}
    worst = max(input_errors, key=input_errors.get)
    parity.REPORT.append((name, "input gradients", worst, input_errors[worst], f"{GRAD_RTOL:g}"))
    assert all(v <= GRAD_RTOL for v in input_errors.values()), f"{name}: input gradients {input_errors}"


SATURATING_LOSS = """name: "loss_only"
layer { name: "input" type: "Input" top: "score" top: "label"
  input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } shape { dim: 2 dim: 1 dim: 4 dim: 5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
  loss_param { ignore_label: 255 normalize: NORMALIZE } }
"""


@pytest.mark.parametrize("normalize", [False, True])
def test_loss_clamps_at_flt_min_like_caffe(normalize, caffe):
    """Scores far apart make the true class's probability underflow to 0: Caffe charges -log(FLT_MIN) ~ 87.34
    per such pixel, and its gradient stays p - onehot."""
    rng = np.random.RandomState(5)
    score = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    label = rng.randint(0, 3, (2, 1, 4, 5)).astype(np.float32)
    label[0, 0, 0, :2] = 255
    score[1, :, 2, :] = [[0.0], [0.0], [0.0]]
    score[1, 0, 2, :] = 1000.0  # class 0 dominates: labels 1 and 2 in that row get p = 0
    label[1, 0, 2, :] = [1, 2, 1, 0, 2]
    text = SATURATING_LOSS.replace("NORMALIZE", "true" if normalize else "false")
    theirs = caffe.forward(text + "force_backward: true\n", {}, {"score": score, "label": label}, backward=True)
    s = torch.from_numpy(score).requires_grad_()
    ours = softmax_with_loss(s, torch.from_numpy(label).long(), normalize=normalize)
    ours.backward()
    assert ours.item() == pytest.approx(theirs["loss"], rel=1e-6)
    assert theirs["loss"] * (38 if normalize else 2) > 4 * 87.3  # four clamped pixels are in it
    np.testing.assert_allclose(s.grad.numpy(), theirs["blob_diff"]["score"], rtol=1e-5, atol=1e-7)


DROPOUT_NET = """name: "dropout_only"
layer { name: "input" type: "Input" top: "x" input_param { shape { dim: 1 dim: 64 dim: 32 dim: 32 } } }
layer { name: "drop" type: "Dropout" bottom: "x" top: "x" dropout_param { dropout_ratio: 0.5 } }
"""


def test_dropout_train_statistics_match_caffe(caffe):
    """At train time both drop about half of the ELEMENTS (zeros inside every channel) and double the rest."""
    x = np.full((1, 64, 32, 32), 3.0, np.float32)
    theirs = caffe.forward(DROPOUT_NET, {}, {"x": x}, phase="train")["blobs"]["x"]
    ours = caffe_dropout(torch.from_numpy(x), 0.5, training=True).numpy()
    for y in (theirs, ours):
        assert set(np.unique(y)) == {0.0, 6.0}
        dropped = (y == 0).mean()
        assert abs(dropped - 0.5) < 0.02  # 65,536 draws: 4 standard deviations is 0.008
        per_channel = (y == 0).reshape(64, -1).mean(axis=1)
        assert per_channel.min() > 0.3 and per_channel.max() < 0.7
    test_phase = caffe.forward(DROPOUT_NET, {}, {"x": x}, phase="test")["blobs"]["x"]
    np.testing.assert_array_equal(test_phase, x)
