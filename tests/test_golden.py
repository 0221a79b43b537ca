"""Golden fixtures: the kit reproduces what real Caffe computed, with no Caffe installed (make test).

The fixtures in tests/golden/ were written by tests/golden/make_golden.py from real Caffe runs of the seeded
parity cases (tests/parity.py). Here the weights are regenerated from the seed and the kit's blobs, losses and
gradients are compared with Caffe's at the stored positions, on every device present (the CPU, and CUDA when
there is one: ``make test-gpu``), in exact precision, at the same tolerances. Every blob comes from the plain
layer-by-layer path (forward_blobs); the inference path (nets.inference, windows over the trunk) is compared on its
outputs, and its argmax must equal the plain path's. The mutation tests prove the comparison can fail: a crop
offset, a padding, the pooling rounding and the inference path's windows are changed in turn and each must be
caught.
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
from devices import DEVICES
from nets import inference as inference_path
from nets import layers as caffe_layers
from nets.inference import plan as inference_plan
from nets.inference import run as inference_run
from nets.inference import span as inference_span
from nets.layers import softmax_with_loss
from nets.seeded import seeded_net
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


def mismatches(net: nets.CaffeNet, g: h5py.File, device: str = "cpu", inference: bool = False) -> list[str]:
    """Every way the net's forward pass and losses differ from the fixture (empty when they agree): every blob
    of the plain path, or with ``inference`` the outputs of the inference path (whose argmax must also equal the
    plain path's)."""
    net = net.to(device)
    inputs = [torch.from_numpy(g["inputs"][i][()]).to(device) for i in net.inputs]
    try:
        with torch.no_grad():
            blobs = {b: t.cpu() for b, t in net.forward_blobs(*inputs).items()}
            if inference:
                assert inference_path.applies(net)
                outs = net(*inputs)
                plain = {o: blobs[o] for o in net.outputs}
                blobs = dict(zip(net.outputs, (t.cpu() for t in (outs if isinstance(outs, tuple) else (outs,))),
                                 strict=True))
    except ValueError as err:  # e.g. a crop that no longer fits: a disagreement with Caffe like any other
        return [f"forward failed: {err}"]
    problems = []
    for name, group in stored(g["blobs"]).items():
        if name not in blobs:
            if not inference:
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
            if inference and not torch.equal(blobs[out].argmax(1), plain[out].argmax(1)):
                differ = int((blobs[out].argmax(1) != plain[out].argmax(1)).sum())
                problems.append(f"{out}: the inference path's argmax differs from the plain path's at {differ} pixels")
    if not problems:
        normalize = bool(g.attrs["normalize"])
        for loss_name, score, label in net.spec.losses:
            lab = torch.from_numpy(g["labels"][label][()].astype(np.int64))
            for norm, key in ((normalize, loss_name), (not normalize, f"{loss_name}_other")):
                ours = softmax_with_loss(blobs[score], lab, normalize=norm).item()
                if abs(ours - g["loss"].attrs[key]) > LOSS_RTOL * abs(g["loss"].attrs[key]):
                    problems.append(f"loss {key}: {ours} vs caffe {g['loss'].attrs[key]}")
    return problems


@pytest.fixture(scope="module", params=nets.NAMES)
def seeded(request) -> nets.CaffeNet:
    """The net of the fixture's seed, drawn once for both comparisons of it: module scope makes pytest run a
    net's tests together, and a full-size VGG16 net takes seconds to draw."""
    return seeded_net(request.param)


@pytest.mark.parametrize("device", DEVICES)
def test_forward_blobs_and_losses_match_the_caffe_fixture(seeded, device):
    name = seeded.name
    with golden(name) as g:
        assert g.attrs["seed"] == 0 and g.attrs["net"] == name
        assert set(stored(g["blobs"])) == set(nets.spec(name).inputs) | {t for x in nets.spec(name).layers
                                                                         for t in x.top}
        problems = mismatches(seeded, g, device)
    assert not problems, f"{name} on {device} differs from Caffe: {problems}"


@pytest.mark.parametrize("device", DEVICES)
def test_inference_path_matches_the_caffe_fixture_and_the_plain_argmax(seeded, device):
    name = seeded.name
    with golden(name) as g:
        problems = mismatches(seeded, g, device, inference=True)
    assert not problems, f"{name} on {device}: the inference path differs: {problems}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", GRADIENT_NETS)
def test_parameter_and_input_gradients_match_the_caffe_fixture(name, device):
    net = seeded_net(name).double().to(device)
    conv_tops = parity.keep_conv_tops(net)
    with golden(name) as g:
        normalize = bool(g.attrs["normalize"])
        xs = [torch.from_numpy(g["inputs"][i][()]).double().to(device).requires_grad_() for i in net.inputs]
        outs = net(*xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        scores = dict(zip(net.outputs, outs, strict=True))
        total = sum(softmax_with_loss(scores[s], torch.from_numpy(g["labels"][lab][()].astype(np.int64)).to(device),
                                      normalize) for _, s, lab in net.spec.losses)
        total.backward()
        errors = {}
        for layer in net.layers:
            if layer.type == "Convolution":
                module = getattr(net, layer.name)
                weight = g["param_diff"][f"{layer.name}.0"]
                errors[f"{layer.name}.0"] = sampled_error(module.weight.grad.cpu().numpy(), weight)
                # A bias gradient sums its conv output's gradient over every position, in float32 in Caffe: its
                # error is measured against the L1 mass of those terms (as in tests/caffe/test_net_parity.py).
                bias = g["param_diff"][f"{layer.name}.1"]
                l1_mass = float(conv_tops[layer.name].grad.abs().sum(dim=(0, 2, 3)).max())
                ours = module.bias.grad.cpu().numpy()[bias["positions"][()]]
                errors[f"{layer.name}.1"] = float(np.abs(ours - bias["values"][()]).max()) / l1_mass
        for i, x in zip(net.inputs, xs, strict=True):
            errors[f"input {i}"] = sampled_error(x.grad.cpu().numpy(), g["input_diff"][i])
    bad = {k: f"{v:.2e}" for k, v in errors.items() if not v <= RTOL}
    assert len(errors) > 10 and not bad, f"{name} on {device}: gradients differ from Caffe: {bad}"


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
        problems = mismatches(seeded_net(_mutate(spec, crop, offset=offset)), g)
    at_crop = [p for p in problems if p.startswith(f"blob {crop}:") or (p.startswith("forward failed") and
                                                                      f"offset {offset}" in p)]
    assert at_crop, f"mutating {crop} to offset {offset} was not caught at {crop}: {problems}"
    assert not [p for p in problems if p.split(":")[0].removeprefix("blob ") in upstream], problems


def test_a_mutated_input_padding_fails_the_golden_comparison():
    with golden("voc-fcn32s") as g:
        problems = mismatches(seeded_net(_mutate(nets.spec("voc-fcn32s"), "conv1_1", pad=99)), g)
    assert any(p.startswith("blob conv1_1") for p in problems)


def test_floor_mode_pooling_fails_the_golden_comparison(monkeypatch):
    def floor_pool(x, kernel_size, stride, pad=0):
        return F.max_pool2d(x, kernel_size, stride, pad, ceil_mode=False)

    monkeypatch.setattr(caffe_layers, "caffe_max_pool", floor_pool)
    with golden("voc-fcn8s") as g:
        problems = mismatches(seeded_net("voc-fcn8s"), g)
    assert problems, "floor-mode pooling went unnoticed"


@pytest.mark.parametrize("name", ["voc-fcn8s", "voc-fcn-alexnet"])
def test_ignoring_the_edge_zones_fails_the_golden_comparison(name, monkeypatch):
    """The inference path must keep its windows out of the zones that the blobs' zero padding reaches: with the
    zones forgotten, windows grow into them and the compressed edge response is too small to be right."""
    def no_rims(layer, n_in, rim_lo, rim_hi, n_out):
        return 0, 0

    for module in (inference_span, inference_plan):  # the windows' geometry and the compressed grid both use it
        monkeypatch.setattr(module, "_rims", no_rims)
    with golden(name) as g:
        problems = mismatches(seeded_net(name), g, inference=True)
    assert any("score" in p for p in problems), problems


def test_a_wrong_far_field_constant_fails_the_golden_comparison(monkeypatch):
    """The constant outside the windows carries each convolution's bias: drop it and the outputs move."""
    real = inference_run._const_conv
    monkeypatch.setattr(inference_run, "_const_conv", lambda c, weight, bias, layer: real(c, weight, None, layer))
    with golden("voc-fcn8s") as g:
        problems = mismatches(seeded_net("voc-fcn8s"), g, inference=True)
    assert any("score" in p for p in problems), problems
