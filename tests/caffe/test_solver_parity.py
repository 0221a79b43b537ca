"""Three SGD iterations of nets.solver equal real Caffe's SGDSolver (make test-caffe).

Same net, weights, image and labels on both sides; dropout removed from both nets (its masks cannot match
Caffe's). Cases: voc-fcn16s (the heavy recipe), voc-fcn-alexnet (its reference solver, iter_size 20) and
FCN-32s-fixed (voc-fcn32s's variant "fixed" in the CVPR regime: every layer but score_fr at lr_mult 0 in both
prototxts; at an effective batch of 2 instead of 20, which only divides the same summed gradient differently).
Checked per parameter blob after each of three iterations: the momentum history V and the weight change
W_t - W_0; for a blob at lr_mult 0, that V stays 0 and W keeps its starting bits on both sides. The kit's side
runs in float64 (a float32 pre-activation within rounding of zero can flip one ReLU and move a whole gradient;
see CAFFE.md); Caffe computes in float32.

Tolerances: history max|ours - caffe| / max|caffe| <= 1e-3. Weight change after iteration t: the same 1e-3 of
the blob's largest change, plus t float32 ulps of the blob's largest weight, because Caffe stores W in float32
and every W - V rounds there by up to half an ulp (for a blob whose update is far below its weights'
resolution only that rounding is left to compare).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import nets
import parity
from nets.layers import softmax_with_loss
from nets.net import CaffeNet
from nets.prototxt import deploy_prototxt
from nets.solver import CaffeSGD, recipe_multipliers

pytestmark = pytest.mark.caffe

RTOL = 1e-3
STEPS = 3


def _without_dropout(name: str, variant: str | None = None) -> nets.NetSpec:
    spec = nets.spec(name, variant)
    return dataclasses.replace(spec, layers=tuple(x for x in spec.layers if x.type != "Dropout"))


def _kit_pass(net: CaffeNet, inputs: dict, labels: dict, normalize: bool) -> float:
    x = [torch.from_numpy(inputs[i]).double() for i in net.inputs]
    outs = net(*x)
    outs = outs if isinstance(outs, tuple) else (outs,)
    by_name = dict(zip(net.outputs, outs, strict=True))
    loss = sum(softmax_with_loss(by_name[score], torch.from_numpy(labels[label]).long(), normalize)
               for _, score, label in net.spec.losses)
    loss.backward()
    return float(loss.detach())


def _learning_rate(net: CaffeNet, inputs: dict, labels: dict, normalize: bool, lr_mults: dict) -> float:
    """A power of ten that moves the most-moved blob by about 1% of its largest weight in one step, so that
    the weight changes are well above float32 resolution where the gradients allow it (the reference's
    1e-10 would leave most changes below it)."""
    net.zero_grad()
    _kit_pass(net, inputs, labels, normalize)
    ratios = [float(p.detach().abs().max() / (lr_mults[k] * p.grad.abs().max()))
              for k, p in net.named_parameters() if p.grad is not None and p.grad.abs().max() > 0]
    net.zero_grad()
    return float(10 ** np.floor(np.log10(1e-2 * min(ratios))))


CASES = {"voc-fcn16s": (None, "reference", None), "voc-fcn-alexnet": (None, "reference", None),
         "voc-fcn32s-fixed": ("fixed", "cvpr", 2)}  # (variant, regime, iter_size for the test)


@pytest.mark.parametrize("case", list(CASES))
def test_three_sgd_iterations_match_caffe_sgdsolver(case, caffe):
    variant, regime, iter_size = CASES[case]
    name = case.removesuffix(f"-{variant}") if variant else case
    setting = nets.record(name).recipe(regime)
    if iter_size is not None:
        setting = dataclasses.replace(setting, iter_size=iter_size)
    spec = _without_dropout(name, variant)
    h, w = parity.INPUT_SIZES[name]
    params = parity.random_params(name, seed=0)
    inputs = parity.random_inputs(name, seed=0)
    labels = parity.random_labels(name, seed=0)

    net = parity.load_params(CaffeNet(spec), params).double().train()
    multipliers = net.param_multipliers()
    lr = _learning_rate(net, inputs, labels, setting.normalize, {k: m[0] for k, m in multipliers.items()})
    solver_text = (f'base_lr: {lr!r} lr_policy: "fixed" momentum: {setting.momentum!r} '
                   f"weight_decay: {setting.weight_decay!r} iter_size: {setting.iter_size} max_iter: {STEPS}\n")
    prototxt = deploy_prototxt(spec, h, w, offsets=parity.REFERENCE_CROP_OFFSETS[name], with_loss=True,
                               normalize=setting.normalize)
    theirs = caffe.solve(solver_text, prototxt, params, {**inputs, **labels}, STEPS)

    # The recipe's multipliers are the prototxt's (the CVPR doubling of bias rates changes nothing for VGG16).
    assert recipe_multipliers(net, setting) == multipliers
    sgd = CaffeSGD(net, lr, setting.momentum, setting.weight_decay, setting.iter_size)
    worst_v = worst_dw = 0.0
    frozen_blobs = 0
    for step in theirs:
        sgd.zero_grad()
        losses = [_kit_pass(net, inputs, labels, setting.normalize) for _ in range(setting.iter_size)]
        sgd.step()
        assert np.mean(losses) == pytest.approx(step["loss"], rel=1e-4), f"iteration {step['iter']} loss"
        for layer, blobs in step["history"].items():
            for i, (v_caffe, w_caffe) in enumerate(zip(blobs, step["params"][layer], strict=True)):
                key = f"{layer}.{('weight', 'bias')[i]}"
                if key not in sgd.history:  # frozen Deconvolution / Scale blobs: buffers on the kit's side
                    assert multipliers.get(key) is None and np.all(v_caffe == 0), key
                    continue
                v_ours = sgd.history[key].numpy()
                if multipliers[key][0] == 0:
                    # lr_mult 0: V stays 0 on both sides and W is its starting value bit for bit.
                    w_kit = net.get_parameter(key).detach().numpy().astype(np.float32)
                    assert not v_caffe.any() and not v_ours.any(), f"iteration {step['iter']}, {key}: history moved"
                    assert np.array_equal(w_caffe.view(np.uint32), params[layer][i].view(np.uint32)), key
                    assert np.array_equal(w_kit.view(np.uint32), params[layer][i].view(np.uint32)), key
                    frozen_blobs += 1
                    continue
                err_v = np.abs(v_ours - v_caffe).max() / np.abs(v_caffe).max()
                assert err_v <= RTOL, f"iteration {step['iter']}, {key}: history rel. error {err_v:.2e}"
                w_start = params[layer][i].astype(np.float64)  # both sides started from these float32 values
                dw_ours = net.get_parameter(key).detach().numpy() - w_start
                dw_caffe = w_caffe.astype(np.float64) - w_start
                ulp = float(np.spacing(np.abs(params[layer][i]).max()))
                err_dw = np.abs(dw_ours - dw_caffe).max()
                limit = RTOL * np.abs(dw_caffe).max() + step["iter"] * ulp
                assert err_dw <= limit, (f"iteration {step['iter']}, {key}: weight change differs by "
                                         f"{err_dw:.3e} > {limit:.3e}")
                worst_v = max(worst_v, err_v)
                worst_dw = max(worst_dw, err_dw / limit)
    # The updates were real: the scorer moved on both sides.
    score = "score_fr"
    assert np.abs(theirs[-1]["params"][score][0] - params[score][0]).max() > 0
    if variant:
        frozen = [k for k, m in multipliers.items() if m[0] == 0]
        assert len(frozen) == 30 and frozen_blobs == STEPS * len(frozen)  # conv1_1 .. fc7, weight and bias
        parity.REPORT.append((case, f"SGD x{STEPS}: {frozen_blobs // STEPS} lr_mult-0 blobs bit-identical", "trunk",
                              0.0, "exact"))
    parity.REPORT.append((case, f"SGD x{STEPS} history", "all", worst_v, f"{RTOL:g}"))
    parity.REPORT.append((case, f"SGD x{STEPS} dW / limit", "all", worst_dw, "1"))
