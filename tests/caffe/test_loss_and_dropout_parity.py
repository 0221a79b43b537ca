"""Caffe's SoftmaxWithLoss clamp and Dropout statistics, checked against real Caffe (make test-caffe).

The per-net losses and gradients are in test_net_parity.py; here are the two behaviours those runs cannot show:
the FLT_MIN clamp (scores far apart, as at initialisation) and dropout at train time (masks cannot match, so
their statistics are compared).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nets.layers import caffe_dropout, softmax_with_loss

pytestmark = pytest.mark.caffe


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
