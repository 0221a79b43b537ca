"""The central claim on real weights: a released caffemodel gives the same scores in the kit as in Caffe.

    make test-caffe WEIGHTS=path/to/fcn8s-heavy-pascal.caffemodel NET=voc-fcn8s IMAGE=path/to/image.jpg

Converts the file with the kit's own reader (no Caffe), loads it strictly, preprocesses the image as the net's
dataset was (data/), runs kit and Caffe on it, and prints the error and the argmax agreement. Nets with two
inputs take two images, comma-separated in the input order (nyud-fcn32s-color-hha: IMAGE=color.png,hha.png;
nyud-fcn32s-color-d: IMAGE=color.png,depth.png). Without WEIGHTS the test is skipped with this usage line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import data
import nets
import parity
import weights
from nets.prototxt import deploy_prototxt
from weights.convert import convert

pytestmark = pytest.mark.caffe

USAGE = "make test-caffe WEIGHTS=path/to/x.caffemodel NET=voc-fcn8s IMAGE=path/to/image.jpg"


def test_released_weights_match_real_caffe_on_an_image(request, caffe, tmp_path):
    weights_path = request.config.getoption("--weights")
    if weights_path is None:
        pytest.skip(f"no released weights given; run: {USAGE}")
    name, image = request.config.getoption("--net"), request.config.getoption("--image")
    if name not in nets.NAMES or not image:
        pytest.fail(f"WEIGHTS needs NET (one of {', '.join(nets.NAMES)}) and IMAGE; got NET={name!r} "
                    f"IMAGE={image!r}. Usage: {USAGE}", pytrace=False)
    h5 = convert(weights_path, tmp_path / "weights.h5")
    net = weights.load(nets.build(name), h5)
    record = nets.record(name)
    tops = record.input_tops
    paths = [Path(p) for p in image.split(",")]
    if len(paths) != len(net.inputs):
        pytest.fail(f"{name} takes {len(net.inputs)} images ({', '.join(tops.values())}), got {len(paths)}: "
                    f"{image}", pytrace=False)
    means = {i.blob: i.mean for i in record.inputs}  # the input's reader top and mean, as the reader applies them
    inputs = {blob: data.preprocess_top(tops[blob], p, means[blob])[None]
              for blob, p in zip(net.inputs, paths, strict=True)}
    h, w = next(iter(inputs.values())).shape[2:]

    params = {layer: list(blobs) for layer, blobs in weights.read_weights(h5).blobs().items()}
    prototxt = deploy_prototxt(name, h, w, offsets=parity.REFERENCE_CROP_OFFSETS[name])
    theirs = caffe.forward(prototxt, params, inputs)["blobs"]
    with torch.no_grad():
        ours = net(*(torch.from_numpy(inputs[i]) for i in net.inputs))
    ours = ours if isinstance(ours, tuple) else (ours,)
    lines = []
    for out, score in zip(net.outputs, ours, strict=True):
        err = parity.max_rel_error(score.numpy(), theirs[out])
        agree = parity.argmax_agreement(score.numpy(), theirs[out])
        lines.append((out, err, agree))
        parity.REPORT.append((name, f"released weights {Path(weights_path).name}", out, err,
                              f"{parity.FORWARD_RTOL:g}"))
        print(f"\n{name} on {image} ({h}x{w}): {out} max|kit - caffe| / max|caffe| = {err:.2e}, argmax agreement "
              f"{agree:.4%}")
    assert all(err <= parity.FORWARD_RTOL and agree >= parity.ARGMAX_AGREEMENT for _, err, agree in lines), lines
