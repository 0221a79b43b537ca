"""Every reference net computes what real Caffe computes: every blob, the loss and every gradient (make test-caffe).

Seeded He-scaled random weights, bilinear upsampling, odd input sizes (tests/parity.py). One Caffe run per net
(forward and backward with the reference's SoftmaxWithLoss, ignore_label 255) is compared three ways:

- every forward blob, kit in float32: max|ours - caffe| / max|caffe| <= 1e-4, argmax agreement >= 99.99%, and
  the same for the outputs of the kit's inference path (nets.inference), which forward_blobs does not take;
- the loss with normalize false and true (the other normalisation as a loss_weight 0 layer in the same net);
- after backward, the gradient of every weight and of every input, kit in float64 (CAFFE.md: two float32
  implementations can disagree where a ReLU input lies within rounding of zero) at 1e-4, and of every bias at
  1e-4 of the L1 mass of the terms it sums (see BIAS_L1_RTOL). Where Caffe's float32 puts a ReLU input on the
  other side of zero than the exact value (a "flip"; one flip moves every gradient below it by up to ~1e-2), the
  kit's backward follows Caffe's ReLU decisions, read from Caffe's in-place blobs, so that both differentiate the
  same piecewise-linear function; the number of flips is reported.

The Caffe side gets its crop offsets from the reference's literal table (for FCN-GoogLeNet, which has none, from
Caffe's own net-spec coord_map), not the kit's derivation, and every
blob shape is asserted here because this Caffe build does not check Eltwise bottoms. Dropout is in test mode on
both sides (its masks cannot match); test_loss_and_dropout_parity.py checks its train-time statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import nets
import parity
from nets import inference, precision
from nets.layers import softmax_with_loss
from nets.prototxt import deploy_prototxt

pytestmark = pytest.mark.caffe

GRAD_RTOL = 1e-4
# A bias gradient is the sum over every position of the conv output's gradient, and Caffe accumulates it in float32
# (one gemv over ~60k positions for conv1_1). Where the terms cancel, max|sum| is far below the terms' own size and
# float32 rounding of the terms shows: so bias errors are measured against the L1 mass of the summed terms,
# max_c sum_{n,h,w} |dL/dtop_c|, the scale that rounding error grows with, at the same 1e-4.
BIAS_L1_RTOL = 1e-4
LOSS_RTOL = 1e-4  # the summed loss inherits the scores' float32 error (~1e-6 of max|score| per pixel)


def recipe_normalize(name: str) -> bool:
    """The loss normalisation of the net's solver record: FCN-AlexNet's reference solver and FCN-GoogLeNet's CVPR
    regime normalise (ledger: train.heavy, train.cvpr-regime), the heavy recipe sums."""
    return nets.record(name).solver.normalize


def with_other_normalisation(prototxt: str, spec: nets.NetSpec, normalize: bool) -> str:
    """Append, per loss, a copy with the other normalisation and loss_weight 0: Caffe computes its value in the
    forward pass but it adds nothing to the gradients."""
    extra = [f'layer {{ name: "{n}_other" type: "SoftmaxWithLoss" bottom: "{s}" bottom: "{lab}" top: "{n}_other" '
             f"loss_weight: 0 loss_param {{ ignore_label: 255 normalize: {'false' if normalize else 'true'} }} }}"
             for n, s, lab in spec.losses]
    return prototxt + "\n".join(extra) + "\n"


def run_caffe(caffe, name: str) -> tuple[dict, dict, dict, dict]:
    spec = nets.spec(name)
    params = parity.random_params(name, seed=0)
    inputs = parity.random_inputs(name, seed=0)
    labels = parity.random_labels(name, seed=0)
    h, w = parity.INPUT_SIZES[name]
    normalize = recipe_normalize(name)
    text = deploy_prototxt(name, h, w, offsets=parity.caffe_crop_offsets(name, caffe, h, w), with_loss=True,
                           normalize=normalize)
    theirs = caffe.forward(with_other_normalisation(text, spec, normalize), params, {**inputs, **labels},
                           backward=True)
    return params, inputs, labels, theirs


def check_forward(name: str, params: dict, inputs: dict, theirs: dict) -> list[str]:
    net = parity.load_params(nets.build(name), params)
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in net.forward_blobs(*(torch.from_numpy(inputs[i]) for i in net.inputs)).items()}
    problems = []
    # Same layers in the same order (Caffe adds its Input layer, a Split wherever a blob has several readers, and
    # here the loss layers), same blobs, same shapes.
    losses = {n for n, _, _ in net.spec.losses} | {f"{n}_other" for n, _, _ in net.spec.losses}
    caffe_layers = [x for x in theirs["layers"] if not parity.is_caffe_split(x) and x not in losses]
    if caffe_layers != ["input", *(layer.name for layer in net.layers)]:
        problems.append(f"layer lists differ: caffe {caffe_layers}")
    labels = {lab for _, _, lab in net.spec.losses}
    blobs = {b: v for b, v in theirs["blobs"].items() if not parity.is_caffe_split(b) and b not in labels | losses}
    if set(ours) != set(blobs):
        problems.append(f"blob sets differ: kit only {set(ours) - set(blobs)}, caffe only {set(blobs) - set(ours)}")
    shapes = {b: (ours[b].shape, blobs[b].shape) for b in ours if b in blobs and ours[b].shape != blobs[b].shape}
    if shapes:
        problems.append(f"blob shapes differ (kit, caffe): {shapes}")
    comparisons = parity.compare_blobs(ours, blobs)
    worst = max(comparisons, key=lambda c: c.rel_error)
    parity.REPORT.append((name, "forward blobs (float32)", worst.blob, worst.rel_error, f"{parity.FORWARD_RTOL:g}"))
    bad = {c.blob: f"{c.rel_error:.2e}" for c in comparisons if not c.rel_error <= parity.FORWARD_RTOL}
    if bad:
        problems.append(f"blobs beyond max|ours - caffe| / max|caffe| <= {parity.FORWARD_RTOL}: {bad}")
    for out in net.outputs:
        if out in blobs and ours[out].shape == blobs[out].shape:
            agreement = parity.argmax_agreement(ours[out], blobs[out])
            if agreement < parity.ARGMAX_AGREEMENT or not np.abs(blobs[out]).max() > 0:
                problems.append(f"{out}: argmax agrees on {agreement:.4%} of pixels (max |caffe| "
                                f"{np.abs(blobs[out]).max():g})")
    # The inference path (nets.inference: windows over the trunk, the cropped last upsampling) gives the outputs,
    # with Winograd in conv4/conv5 forced on and off: the default takes it only where it measures faster
    # (nets.inference.winograd_choice), so both are held to Caffe on every machine.
    for winograd in (True, False):
        with torch.no_grad(), precision.EXACT.applied(torch.device("cpu")):  # as net(x) runs it
            fast = inference.forward(net, tuple(torch.from_numpy(inputs[i]) for i in net.inputs), precision.EXACT,
                                     inference.Options(winograd=winograd))
        fast = dict(zip(net.outputs, (t.numpy() for t in fast), strict=True))
        worst_fast = max((parity.max_rel_error(fast[o], blobs[o]), o) for o in net.outputs if o in blobs)
        what = f"inference path outputs (float32, Winograd {'on' if winograd else 'off'})"
        parity.REPORT.append((name, what, worst_fast[1], worst_fast[0], f"{parity.FORWARD_RTOL:g}"))
        for out in net.outputs:
            if out not in blobs or fast[out].shape != blobs[out].shape:
                problems.append(f"{what}: {out} has shape {fast[out].shape}, caffe {blobs[out].shape}")
                continue
            err = parity.max_rel_error(fast[out], blobs[out])
            agreement = parity.argmax_agreement(fast[out], blobs[out])
            if not err <= parity.FORWARD_RTOL or agreement < parity.ARGMAX_AGREEMENT:
                problems.append(f"{what}: {out} error {err:.2e}, argmax agrees on {agreement:.4%}")
    return problems


class CaffeReluDecisions(TorchFunctionMode):
    """While active, each torch.relu (the kit's ReLU layers, in layer order) keeps exactly the units Caffe kept:
    ``x * (caffe_top > 0)``. Counts the units where that differs from the kit's own decision."""

    def __init__(self, masks: list[torch.Tensor]):
        super().__init__()
        self.masks = masks
        self.calls = 0
        self.flips = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not torch.relu:
            return func(*args, **kwargs)
        x = args[0]
        mask = self.masks[self.calls]
        self.calls += 1
        self.flips += int(((x > 0) != mask).sum())
        return x * mask.to(x.dtype)


def check_backward(name: str, params: dict, inputs: dict, labels: dict, theirs: dict) -> list[str]:
    spec = nets.spec(name)
    normalize = recipe_normalize(name)
    net = parity.load_params(nets.build(name), params).double()
    conv_tops = parity.keep_conv_tops(net)
    relus = [layer for layer in net.layers if layer.type == "ReLU"]
    decisions = CaffeReluDecisions([torch.from_numpy(theirs["blobs"][layer.top[0]] > 0) for layer in relus])
    xs = [torch.from_numpy(inputs[i]).double().requires_grad_() for i in net.inputs]
    with decisions:
        outs = net(*xs)
    assert decisions.calls == len(relus), f"{decisions.calls} relu calls for {len(relus)} ReLU layers"
    units = sum(int(m.numel()) for m in decisions.masks)
    parity.REPORT.append((name, f"ReLU flips (of {units:,} units)", "-", float(decisions.flips), "info"))
    outs = outs if isinstance(outs, tuple) else (outs,)
    scores = dict(zip(net.outputs, outs, strict=True))
    problems = []
    total = 0
    loss_err = 0.0
    for loss_name, score, label in spec.losses:
        lab = torch.from_numpy(labels[label]).long()
        loss = softmax_with_loss(scores[score], lab, normalize=normalize)
        other = softmax_with_loss(scores[score].detach(), lab, normalize=not normalize)
        for ours, key in ((loss, loss_name), (other, f"{loss_name}_other")):
            caffe_value = float(theirs["blobs"][key].reshape(()))
            err = abs(ours.item() - caffe_value) / abs(caffe_value)
            loss_err = max(loss_err, err)
            if not err <= LOSS_RTOL:
                problems.append(f"loss {key}: kit {ours.item()!r}, caffe {caffe_value!r}")
        total = total + loss
    parity.REPORT.append((name, "loss (normalize false, true)", "loss", loss_err, f"{LOSS_RTOL:g}"))
    total.backward()

    # Deconvolution and Scale diffs are not compared: they are buffers in the kit, and lr_mult 0 keeps Caffe from
    # ever applying whatever its diff holds.
    errors, bias_errors = {}, {}
    for layer in net.layers:
        if layer.type == "Convolution":
            module = getattr(net, layer.name)
            caffe_w, caffe_b = theirs["param_diff"][layer.name]
            errors[f"{layer.name}[0]"] = parity.max_rel_error(module.weight.grad.numpy(), caffe_w)
            l1_mass = float(conv_tops[layer.name].grad.abs().sum(dim=(0, 2, 3)).max())
            diff = float(np.abs(module.bias.grad.numpy() - caffe_b.astype(np.float64)).max())
            bias_errors[f"{layer.name}[1]"] = diff / l1_mass if l1_mass > 0 else diff
    worst = max(errors, key=errors.get)
    parity.REPORT.append((name, "weight gradients (float64)", worst, errors[worst], f"{GRAD_RTOL:g}"))
    worst_b = max(bias_errors, key=bias_errors.get)
    parity.REPORT.append((name, "bias gradients / L1 mass", worst_b, bias_errors[worst_b], f"{BIAS_L1_RTOL:g}"))
    bad_bias = {k: f"{v:.2e}" for k, v in bias_errors.items() if not v <= BIAS_L1_RTOL}
    if bad_bias:
        problems.append(f"bias gradients beyond {BIAS_L1_RTOL} of their terms' L1 mass: {bad_bias}")
    inputs_err = {i: parity.max_rel_error(x.grad.numpy(), theirs["blob_diff"][i])
                  for i, x in zip(net.inputs, xs, strict=True)}
    worst_in = max(inputs_err, key=inputs_err.get)
    parity.REPORT.append((name, "input gradients (float64)", worst_in, inputs_err[worst_in], f"{GRAD_RTOL:g}"))
    bad = {k: f"{v:.2e}" for k, v in {**errors, **inputs_err}.items() if not v <= GRAD_RTOL}
    if bad:
        problems.append(f"gradients beyond {GRAD_RTOL}: {bad}")
    return problems


@pytest.mark.parametrize("name", nets.NAMES)
def test_blobs_loss_and_gradients_match_real_caffe(name, caffe):
    params, inputs, labels, theirs = run_caffe(caffe, name)
    problems = check_forward(name, params, inputs, theirs)
    problems += check_backward(name, params, inputs, labels, theirs)
    assert not problems, f"{name} differs from real Caffe:\n  " + "\n  ".join(problems)
