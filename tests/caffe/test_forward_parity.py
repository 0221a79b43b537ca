"""Every reference net computes what real Caffe computes, blob by blob (make test-caffe).

Seeded He-scaled random weights, bilinear upsampling, odd input sizes. The Caffe side runs the kit's prototxt
with the crop offsets from the reference's literal table (tests/parity.py), not the kit's derivation. This Caffe
build does not check Eltwise bottom shapes, so every blob shape is asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nets
import parity
from nets.prototxt import deploy_prototxt

pytestmark = pytest.mark.caffe


def kit_blobs(name: str, params: dict, inputs: dict, dtype=torch.float32) -> tuple[nets.CaffeNet, dict]:
    net = parity.load_params(nets.build(name), params).to(dtype)
    with torch.no_grad():
        blobs = net.forward_blobs(*(torch.from_numpy(inputs[i]).to(dtype) for i in net.inputs))
    return net, {k: v.float().numpy() for k, v in blobs.items()}


@pytest.mark.parametrize("name", nets.NAMES)
def test_forward_matches_real_caffe_blob_by_blob(name, caffe):
    params = parity.random_params(name, seed=0)
    inputs = parity.random_inputs(name, seed=0)
    h, w = parity.INPUT_SIZES[name]
    prototxt = deploy_prototxt(name, h, w, offsets=parity.REFERENCE_CROP_OFFSETS[name])
    theirs = caffe.forward(prototxt, params, inputs)
    net, ours = kit_blobs(name, params, inputs)

    # Same layers in the same order (Caffe adds its Input layer and a Split wherever a blob has several readers),
    # same blobs, same shapes.
    caffe_layers = [x for x in theirs["layers"] if not parity.is_caffe_split(x)]
    assert caffe_layers == ["input", *(layer.name for layer in net.layers)]
    theirs["blobs"] = {b: v for b, v in theirs["blobs"].items() if not parity.is_caffe_split(b)}
    assert set(ours) == set(theirs["blobs"])
    shapes = {b: (ours[b].shape, theirs["blobs"][b].shape) for b in ours if ours[b].shape != theirs["blobs"][b].shape}
    assert not shapes, f"{name}: blob shapes differ (kit, caffe): {shapes}"

    comparisons = parity.compare_blobs(ours, theirs["blobs"])
    worst = max(comparisons, key=lambda c: c.rel_error)
    parity.REPORT.append((name, "forward blobs", worst.blob, worst.rel_error, f"{parity.FORWARD_RTOL:g}"))
    bad = {c.blob: f"{c.rel_error:.2e}" for c in comparisons if not c.rel_error <= parity.FORWARD_RTOL}
    assert not bad, f"{name}: blobs beyond max|ours - caffe| / max|caffe| <= {parity.FORWARD_RTOL}: {bad}"
    for out in net.outputs:
        agreement = parity.argmax_agreement(ours[out], theirs["blobs"][out])
        assert agreement >= parity.ARGMAX_AGREEMENT, f"{name}/{out}: argmax agrees on {agreement:.4%} of pixels"
        assert np.abs(theirs["blobs"][out]).max() > 0, f"{name}/{out}: Caffe's output is all zero"
