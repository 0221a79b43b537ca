"""Golden fixtures: the kit reproduces what real Caffe computed, with no Caffe installed (make test).

The fixtures in tests/golden/ were written by tests/golden/make_golden.py from real Caffe runs of the seeded
parity cases (tests/parity.py). Here the weights are regenerated from the seed and the kit's blobs, losses and
gradients are compared with Caffe's at the stored positions. The mutation tests prove the comparison can fail:
a crop offset, a padding and the pooling rounding are changed in turn and each must be caught.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nets
import parity
from nets import layers as caffe_layers
from nets.layers import softmax_with_loss
from nets.spec import NetSpec

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = ("FCN_REGEN_GOLDEN=1 .venv/bin/python tests/golden/make_golden.py {name}  "
         "(after bash tests/caffe/build_caffe.sh)")
RTOL = 1e-4  # |ours - caffe| / max|caffe blob|, at every stored position
LOSS_RTOL = 1e-4  # the summed loss inherits the scores' float32 error (~1e-6 of max|score| per pixel)
# Gradients need the kit in float64 (CAFFE.md), which is slow on a CPU: the fast suite checks them on the cheap
# AlexNet net (LRN, groups, normalised loss), the at-once VGG net (Scale, all skips) and FCN-GoogLeNet (Concat,
# padded pooling); make test-caffe checks every net against live Caffe.
GRADIENT_NETS = ("voc-fcn-alexnet", "voc-fcn8s-atonce", "voc-fcn-googlenet")


def golden(name: str) -> h5py.File:
    path = GOLDEN / f"{name}.h5"
    if not path.is_file():
        pytest.fail(f"missing golden fixture {path.name}; generate it with: {REGEN.format(name=name)}", pytrace=False)
    return h5py.File(path, "r")


def sampled_error(ours: np.ndarray, group: h5py.Group) -> float:
    """Worst |ours - caffe| / max|caffe| over the stored positions (inf if the shapes differ)."""
    if tuple(ours.shape) != tuple(group.attrs["shape"]):
        return float("inf")
    scale = float(group.attrs["max_abs"]) or 1.0
    diff = np.abs(ours.ravel()[group["positions"][()]].astype(np.float64) - group["values"][()])
    return float(diff.max()) / scale


def stored(group: h5py.Group, prefix: str = "") -> dict[str, h5py.Group]:
    """The stored arrays under ``group`` by name: groups holding ``positions``; a name with '/' (GoogLeNet's
    ``inception_3a/1x1``) is a path of nested groups."""
    out = {}
    for key, sub in group.items():
        if isinstance(sub, h5py.Group):
            if "positions" in sub:
                out[f"{prefix}{key}"] = sub
            out.update(stored(sub, f"{prefix}{key}/"))
    return out


def mismatches(net: nets.CaffeNet, g: h5py.File) -> list[str]:
    """Every way the net's forward pass and losses differ from the fixture (empty when they agree)."""
    inputs = [torch.from_numpy(g["inputs"][i][()]) for i in net.inputs]
    try:
        with torch.no_grad():
            blobs = net.forward_blobs(*inputs)
    except ValueError as err:  # e.g. a crop that no longer fits: a disagreement with Caffe like any other
        return [f"forward failed: {err}"]
    problems = []
    for name, group in stored(g["blobs"]).items():
        if name not in blobs:
            problems.append(f"blob {name} missing")
            continue
        err = sampled_error(blobs[name].numpy(), group)
        if not err <= RTOL:
            problems.append(f"blob {name}: error {err:.2e} (shape {tuple(blobs[name].shape)} vs "
                            f"{tuple(group.attrs['shape'])})")
    for out in net.outputs:
        if out in blobs and tuple(blobs[out].shape[2:]) == g["argmax"][out].shape[1:]:
            agree = float((blobs[out].argmax(1).numpy() == g["argmax"][out][()]).mean())
            if agree < parity.ARGMAX_AGREEMENT:
                problems.append(f"{out}: argmax agrees on {agree:.4%}")
    if not problems:
        normalize = bool(g.attrs["normalize"])
        for loss_name, score, label in net.spec.losses:
            lab = torch.from_numpy(g["labels"][label][()].astype(np.int64))
            for norm, key in ((normalize, loss_name), (not normalize, f"{loss_name}_other")):
                ours = softmax_with_loss(blobs[score], lab, normalize=norm).item()
                if abs(ours - g["loss"].attrs[key]) > LOSS_RTOL * abs(g["loss"].attrs[key]):
                    problems.append(f"loss {key}: {ours} vs caffe {g['loss'].attrs[key]}")
    return problems


def seeded_net(name: str, spec: NetSpec | None = None) -> nets.CaffeNet:
    net = nets.CaffeNet(spec or nets.spec(name))
    return parity.load_params(net, parity.random_params(name, 0)).eval()


@pytest.mark.parametrize("name", nets.NAMES)
def test_forward_blobs_and_losses_match_the_caffe_fixture(name):
    with golden(name) as g:
        assert g.attrs["seed"] == 0 and g.attrs["net"] == name
        assert set(stored(g["blobs"])) == set(nets.build(name).spec.inputs) | {t for x in nets.spec(name).layers
                                                                               for t in x.top}
        problems = mismatches(seeded_net(name), g)
    assert not problems, f"{name} differs from Caffe: {problems}"


@pytest.mark.parametrize("name", GRADIENT_NETS)
def test_parameter_and_input_gradients_match_the_caffe_fixture(name):
    net = seeded_net(name).double()
    conv_tops = parity.keep_conv_tops(net)
    with golden(name) as g:
        normalize = bool(g.attrs["normalize"])
        xs = [torch.from_numpy(g["inputs"][i][()]).double().requires_grad_() for i in net.inputs]
        outs = net(*xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        scores = dict(zip(net.outputs, outs, strict=True))
        total = sum(softmax_with_loss(scores[s], torch.from_numpy(g["labels"][lab][()].astype(np.int64)), normalize)
                    for _, s, lab in net.spec.losses)
        total.backward()
        errors = {}
        for layer in net.layers:
            if layer.type == "Convolution":
                module = getattr(net, layer.name)
                weight = g["param_diff"][f"{layer.name}.0"]
                errors[f"{layer.name}.0"] = sampled_error(module.weight.grad.numpy(), weight)
                # A bias gradient sums its conv output's gradient over every position, in float32 in Caffe: its
                # error is measured against the L1 mass of those terms (as in tests/caffe/test_net_parity.py).
                bias = g["param_diff"][f"{layer.name}.1"]
                l1_mass = float(conv_tops[layer.name].grad.abs().sum(dim=(0, 2, 3)).max())
                ours = module.bias.grad.numpy()[bias["positions"][()]]
                errors[f"{layer.name}.1"] = float(np.abs(ours - bias["values"][()]).max()) / l1_mass
        for i, x in zip(net.inputs, xs, strict=True):
            errors[f"input {i}"] = sampled_error(x.grad.numpy(), g["input_diff"][i])
    bad = {k: f"{v:.2e}" for k, v in errors.items() if not v <= RTOL}
    assert len(errors) > 10 and not bad, f"{name}: gradients differ from Caffe: {bad}"


# ---- the comparison can fail --------------------------------------------------------------------------------

def _mutate(spec: NetSpec, layer_name: str, **changes) -> NetSpec:
    """The spec with one layer changed, bypassing the crop derivation (which would refuse it)."""
    layers = tuple(dataclasses.replace(x, **changes) if x.name == layer_name else x for x in spec.layers)
    return dataclasses.replace(spec, layers=layers)


@pytest.mark.parametrize("name,crop,offset", [("voc-fcn32s", "score", 18), ("voc-fcn8s", "score_pool3c", 10),
                                              ("voc-fcn8s", "score", 34), ("voc-fcn-googlenet", "score", 100),
                                              ("nyud-fcn16s-color-hha", "score_pool4c", 6)])
def test_a_mutated_crop_offset_fails_the_golden_comparison(name, crop, offset):
    """The comparison catches the mutated crop at the crop itself: its blob differs from Caffe's (or no longer
    fits), and every blob computed before it still agrees."""
    spec = nets.spec(name)
    index = next(i for i, x in enumerate(spec.layers) if x.name == crop)
    upstream = {t for x in spec.layers[:index] for t in x.top} | set(spec.inputs)
    with golden(name) as g:
        problems = mismatches(seeded_net(name, _mutate(spec, crop, offset=offset)), g)
    at_crop = [p for p in problems if p.startswith(f"blob {crop}:") or (p.startswith("forward failed") and
                                                                      f"offset {offset}" in p)]
    assert at_crop, f"mutating {crop} to offset {offset} was not caught at {crop}: {problems}"
    assert not [p for p in problems if p.split(":")[0].removeprefix("blob ") in upstream], problems


def test_a_mutated_input_padding_fails_the_golden_comparison():
    with golden("voc-fcn32s") as g:
        problems = mismatches(seeded_net("voc-fcn32s", _mutate(nets.spec("voc-fcn32s"), "conv1_1", pad=99)), g)
    assert any(p.startswith("blob conv1_1") for p in problems)


def test_floor_mode_pooling_fails_the_golden_comparison(monkeypatch):
    def floor_pool(x, kernel_size, stride, pad=0):
        return F.max_pool2d(x, kernel_size, stride, pad, ceil_mode=False)

    monkeypatch.setattr(caffe_layers, "caffe_max_pool", floor_pool)
    with golden("voc-fcn8s") as g:
        problems = mismatches(seeded_net("voc-fcn8s"), g)
    assert problems, "floor-mode pooling went unnoticed"
