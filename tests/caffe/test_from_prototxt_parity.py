"""A prototxt the kit has never seen runs in PyTorch as it runs in real Caffe (make test-caffe).

tests/fixtures/fcn8s-cityscapes-variant.prototxt is an FCN-8s variant of the kind image-translation papers use
for their Cityscapes "FCN score": 20 classes, its own head names (cls_fr, up2_fr, cls_pool4, fuse_p4, ...),
fc6/fc7 narrowed to 512 channels, a learned first upsampling, legacy input fields. Real Caffe writes seeded
random weights for it as a caffemodel (a random, non-bilinear kernel in the learned upsampler); the kit builds
the net with nets.from_prototxt and reads the caffemodel with its own reader (weights.load, no Caffe); Caffe
loads the same caffemodel (harness.dump_caffemodel) and runs the same prototxt. Every blob is compared at the
kit's parity tolerance (parity.FORWARD_RTOL, relative to max|Caffe|) and the scores' argmax at
parity.ARGMAX_AGREEMENT, shapes asserted (this Caffe build does not check Eltwise bottoms).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nets
import parity
import weights
from nets.layers import bilinear_kernel
from nets.prototxt import PrototxtWarning

pytestmark = pytest.mark.caffe

VARIANT = Path(__file__).resolve().parent.parent / "fixtures" / "fcn8s-cityscapes-variant.prototxt"
SIZE = (37, 45)  # the input shape the file declares


def variant_params(net: nets.CaffeNet, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Caffe-layout parameters: He-scaled uniform convolutions, biases in [-0.1, 0.1], bilinear kernels in the
    frozen upsamplers and a random full (not diagonal) kernel in the learned one."""
    rng = np.random.RandomState(seed)
    out: dict[str, list[np.ndarray]] = {}
    for layer in net.layers:
        if layer.type == "Convolution":
            w = getattr(net, layer.name).weight
            bound = np.sqrt(6.0 / w[0].numel())
            out[layer.name] = [rng.uniform(-bound, bound, tuple(w.shape)).astype(np.float32),
                               rng.uniform(-0.1, 0.1, (layer.num_output,)).astype(np.float32)]
        elif layer.type == "Deconvolution":
            shape = tuple(getattr(net, layer.name).weight.shape)
            if layer.param[0][0] == 0:
                out[layer.name] = [bilinear_kernel(layer.num_output, layer.kernel_size).numpy()]
            else:
                out[layer.name] = [rng.uniform(-0.2, 0.2, shape).astype(np.float32)]
    return out


def test_a_users_fcn_variant_loads_the_caffemodel_real_caffe_wrote_and_matches_every_blob(caffe, tmp_path):
    prototxt = VARIANT.read_text()
    with pytest.warns(PrototxtWarning, match=r"up2_fr \(Deconvolution, lr_mult 1\)"):
        net = nets.from_prototxt(VARIANT)
    params = variant_params(net)
    model = caffe.save_caffemodel(prototxt, params, tmp_path / "variant.caffemodel")
    weights.load(net, model)  # the kit's own reader: no Caffe on this side
    theirs_params = caffe.dump_caffemodel(prototxt, model)  # what Caffe itself read from the file
    assert list(theirs_params) == list(params)
    x = (np.random.RandomState(1).standard_normal((1, 3, *SIZE)) * 60).astype(np.float32)
    theirs = caffe.forward(prototxt, theirs_params, {"data": x})
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in net.forward_blobs(torch.from_numpy(x)).items()}

    caffe_layers = [name for name in theirs["layers"] if not parity.is_caffe_split(name)]
    assert caffe_layers == ["input", *(layer.name for layer in net.layers)]
    blobs = {b: v for b, v in theirs["blobs"].items() if not parity.is_caffe_split(b)}
    assert set(blobs) == set(ours)
    shapes = {b: (ours[b].shape, blobs[b].shape) for b in ours if ours[b].shape != blobs[b].shape}
    assert not shapes, f"blob shapes differ (kit, caffe): {shapes}"
    assert blobs["score_city"].shape == (1, 20, *SIZE)
    comparisons = parity.compare_blobs(ours, blobs)
    worst = max(comparisons, key=lambda c: c.rel_error)
    parity.REPORT.append(("fcn8s-cityscapes-variant", "forward blobs (float32)", worst.blob, worst.rel_error,
                          f"{parity.FORWARD_RTOL:g}"))
    bad = {c.blob: f"{c.rel_error:.2e}" for c in comparisons if not c.rel_error <= parity.FORWARD_RTOL}
    assert not bad, f"blobs beyond max|ours - caffe| / max|caffe| <= {parity.FORWARD_RTOL}: {bad}"
    assert np.abs(blobs["score_city"]).max() > 0
    assert parity.argmax_agreement(ours["score_city"], blobs["score_city"]) >= parity.ARGMAX_AGREEMENT
