"""The inference path (nets.inference) computes what the plain layer-by-layer path computes.

The trunk is held as a per-channel constant plus a window over what depends on the image, the edge zones come
from a cached zero-image response on a compressed grid, and the last upsampling is computed only where the crop
keeps it. Each of those is exact algebra, so in float64 the two paths agree to rounding (1e-10 of the largest
score) at every input size from 1x1 to 500x500 and every stride residue; in float32 they agree to 1e-5 with the
argmax equal at >= 99.99% of pixels (ties within float32 rounding may flip). The checks run on nets with the
reference's exact geometry (every kernel, stride, pad, crop) but few channels, so that 500x500 is cheap; the
golden tests (tests/test_golden.py) check the full nets against Caffe's numbers.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import nets
from devices import DEVICES
from nets import geometry, inference
from nets.inference import run as inference_run
from nets.seeded import seeded_weights

F64_RTOL = 1e-10
F32_RTOL = 1e-5
F32_ARGMAX = 0.9999
# Odd, even, thin, square and every residue of the input size modulo 32 (the stride of pool5, on which the
# edge zones' alignment depends), up to 500x500.
SIZES = [(1, 1), (1, 500), (500, 1), (2, 3), (17, 31), (33, 64), (63, 65), (99, 127), (128, 129), (375, 500),
         (500, 500)] + [(1 + r, 32 - r) for r in range(32)]


def few(channels: int) -> int:
    """A handful of channels for a trunk layer: even, so AlexNet's two groups still divide them."""
    return 4 if channels <= 128 else 6 if channels <= 512 else 8


def narrow(name: str) -> nets.CaffeNet:
    """``name`` with the reference's layers and geometry but a handful of channels per trunk layer (the score
    layers keep the class count), random weights."""
    spec = nets.spec(name)
    layers = tuple(x if x.type != "Convolution" or x.name.startswith("score")
                   else dataclasses.replace(x, num_output=few(x.num_output)) for x in spec.layers)
    net = nets.CaffeNet(dataclasses.replace(spec, layers=layers)).eval()
    return seeded_weights(net)


def _inputs(net, size, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(1, net.spec.inputs[i], *size, generator=gen, dtype=torch.float64) * 60).to(dtype)
            .to(device) for i in net.inputs]


def _both(net, xs):
    with torch.no_grad():
        assert inference.applies(net)
        ours = net(*xs)
        blobs = net._run(tuple(xs), keep_all=False)
    ours = ours if isinstance(ours, tuple) else (ours,)
    return list(zip(ours, (blobs[o] for o in net.outputs), strict=True))


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", ["voc-fcn8s", "voc-fcn-alexnet"])
def test_inference_path_equals_the_plain_path_in_float64_at_every_size(name):
    net = narrow(name).double()
    worst = 0.0
    for size in SIZES:
        for ours, plain in _both(net, _inputs(net, size, torch.float64, "cpu")):
            assert ours.shape == plain.shape, size
            worst = max(worst, _rel(ours, plain))
            assert worst <= F64_RTOL, (name, size, worst)
    assert worst > 0  # the two paths do differ in rounding: this is not one path compared with itself


def test_inference_path_with_winograd_in_every_3x3_layer_equals_the_plain_path_in_float64_at_every_size(
        monkeypatch):
    """Winograd normally runs only in VGG16's wide layers; with the threshold at 0 every 3x3 convolution of
    the narrow net takes it, so every window, pad and odd size it meets in a real net is checked."""
    monkeypatch.setattr(inference_run, "WINOGRAD_MIN_WORK", 0)
    monkeypatch.setattr(inference_run, "winograd_choice", lambda: inference.WinogradChoice(2.0, 1.0, True))
    taken = []
    monkeypatch.setattr(inference_run, "winograd_conv",
                        lambda *a, _conv=inference_run.winograd_conv: taken.append(1) or _conv(*a))
    net = narrow("voc-fcn8s").double()
    worst = 0.0
    for size in SIZES[:9] + SIZES[11:]:  # every residue modulo 32; the two largest sizes add nothing new here
        for ours, plain in _both(net, _inputs(net, size, torch.float64, "cpu")):
            assert ours.shape == plain.shape, size
            worst = max(worst, _rel(ours, plain))
            assert worst <= F64_RTOL, (size, worst)
    assert worst > 0 and taken


@pytest.mark.parametrize("setting, pays, expected", [("auto", True, True), ("auto", False, False),
                                                     (True, False, True), (False, True, False)])
def test_winograd_runs_where_this_machine_measured_it_faster_unless_forced(setting, pays, expected, monkeypatch):
    monkeypatch.setattr(inference_run, "WINOGRAD_MIN_WORK", 0)
    monkeypatch.setattr(inference_run, "winograd_choice", lambda: inference.WinogradChoice(2.0, 1.0, pays))
    taken = []
    monkeypatch.setattr(inference_run, "winograd_conv",
                        lambda *a, _conv=inference_run.winograd_conv: taken.append(1) or _conv(*a))
    net = narrow("voc-fcn32s")
    x = _inputs(net, (37, 53), torch.float32, "cpu")
    with torch.no_grad():
        ours = inference.forward(net, tuple(x), nets.precision.EXACT, inference.Options(winograd=setting))
        plain = net._run(tuple(x), keep_all=False)[net.outputs[0]]
    assert bool(taken) == expected
    assert _rel(ours[0] if isinstance(ours, tuple) else ours, plain) <= F32_RTOL


def test_the_winograd_choice_is_measured_once_per_process_with_a_margin_against_noise():
    first = inference.winograd_choice()
    assert first is inference.winograd_choice()  # measured once: every forward of the process agrees
    assert first.direct_ms > 0 and first.winograd_ms > 0
    assert first.pays == (first.winograd_ms * inference_run.WINOGRAD_MARGIN <= first.direct_ms)
    with pytest.raises(ValueError, match="Options.winograd: expected True, False or 'auto', found 'yes'"):
        inference.winograd_on(inference.Options(winograd="yes"))


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("n, c_in, c_out, h, w, pad", [(1, 5, 7, 9, 9, (1, 1)), (2, 3, 4, 8, 11, (0, 0)),
                                                       (1, 6, 2, 3, 3, (2, 1)), (1, 4, 4, 1, 2, (1, 2)),
                                                       (1, 16, 32, 37, 20, (1, 1))])
def test_winograd_f2x2_3x3_equals_the_direct_convolution(dtype, rtol, n, c_in, c_out, h, w, pad):
    gen = torch.Generator().manual_seed(c_in * 100 + h)
    x = torch.randn(n, c_in, h, w, generator=gen, dtype=torch.float64).to(dtype)
    weight = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=torch.float64).to(dtype)
    bias = torch.randn(c_out, generator=gen, dtype=torch.float64).to(dtype)
    ours = inference.winograd_conv(x.contiguous(memory_format=torch.channels_last), inference.winograd_weight(weight),
                              bias, pad)
    direct = torch.nn.functional.conv2d(x, weight, bias, 1, pad)
    assert ours.shape == direct.shape
    assert _rel(ours, direct) <= rtol
    assert _rel(ours, direct) > 0  # a different algorithm: not the direct convolution called twice


def test_winograd_takes_vgg16s_conv4_and_conv5_on_a_cpu_and_nothing_else():
    net = nets.build("voc-fcn8s")
    x = torch.zeros(1, 1, 1, 1)
    chosen = [x_.name for x_ in net.layers if x_.type == "Convolution"
              and inference_run._as_winograd(x_, getattr(net, x_.name).weight, x)]
    assert chosen == ["conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    assert not inference_run._as_winograd(net.spec.layer("conv4_2"), net.conv4_2.weight, x.to(torch.bfloat16))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", nets.NAMES)
def test_inference_path_equals_the_plain_path_in_float32_for_every_net(name, device):
    net = narrow(name).to(device)
    for size in [(1, 1), (37, 53)]:
        for ours, plain in _both(net, _inputs(net, size, torch.float32, device)):
            assert ours.shape == plain.shape and ours.dtype == torch.float32
            assert _rel(ours, plain) <= F32_RTOL, (size, _rel(ours, plain))
            assert float((ours.argmax(1) == plain.argmax(1)).float().mean()) >= F32_ARGMAX, size


def test_the_windows_cover_conv1_1_to_pool4_and_the_work_is_126_of_181_gmac_at_500():
    net = nets.build("voc-fcn8s")
    plan = inference.make_plan(net, (500, 500))
    windowed = [x.name for x, s in zip(net.layers, plan.spans, strict=True) if s is not None]
    trunk = [x.name for x in net.layers[:net.layers.index(net.spec.layer("pool4")) + 1]]
    assert windowed == [*trunk, "score_pool3"]  # conv5_1's kernels would reach pool4's edge zone
    h, _ = plan.spans[[x.name for x in net.layers].index("conv1_1")]
    assert (h.n, h.lo, h.hi) == (698, 98, 599)  # conv1_1 output j sees input j - 100 .. j - 98
    assert round(inference.macs(net, (500, 500), windowed=False) / 1e9, 1) == 181.0
    assert round(inference.macs(net, (500, 500)) / 1e9, 1) == 125.9
    # Winograd's products in conv4 and conv5: 16 per 2x2 tile where the direct convolution has 36
    direct, wino = inference.macs(net, (500, 500)), inference.macs(net, (500, 500), winograd=True)
    assert 0.75 < wino / direct < 0.85


def test_the_window_is_where_the_image_reaches_and_the_rest_is_the_zero_image_response():
    """Per axis, positions outside the window do not move when the image changes (the far field and edge zones
    depend on the weights only), and every position inside it can."""
    net = narrow("voc-fcn32s")
    spec = net.spec
    size = (40, 45)
    plan = inference.make_plan(net, size)
    i = [x.name for x in spec.layers].index("pool3")
    sh, sw = plan.spans[i]
    with torch.no_grad():
        a = net.forward_blobs(*_inputs(net, size, torch.float32, "cpu", seed=1))["pool3"]
        b = net.forward_blobs(*_inputs(net, size, torch.float32, "cpu", seed=2))["pool3"]
    moved = (a != b).any(dim=1)[0]
    assert tuple(moved.shape) == geometry.blob_sizes(spec, *size)["pool3"] == (sh.n, sw.n)
    rows, cols = moved.any(1).nonzero().flatten(), moved.any(0).nonzero().flatten()
    assert sh.lo <= rows.min() and rows.max() <= sh.hi and sw.lo <= cols.min() and cols.max() <= sw.hi
    assert rows.max() - rows.min() >= sh.hi - sh.lo - 2  # the window is not much larger than what moves


def test_the_edge_response_is_recomputed_when_weights_change():
    net = narrow("voc-fcn16s")
    xs = _inputs(net, (64, 64), torch.float32, "cpu")
    before = _both(net, xs)[0][0]
    with torch.no_grad():
        net.conv2_1.bias.add_(0.5)  # an in-place update, as an optimizer step or weights.load makes
    ours, plain = _both(net, xs)[0]
    assert _rel(ours, plain) <= F32_RTOL and _rel(before, plain) > 1e-3


def test_training_runs_the_plain_path_and_its_gradients_are_unaffected_by_the_inference_cache():
    net = narrow("voc-fcn8s-atonce").double()
    xs = _inputs(net, (41, 43), torch.float64, "cpu")
    with torch.no_grad():
        net(*xs)  # fills the inference path's caches
    grads = []
    for _ in range(2):
        net.zero_grad()
        assert not inference.applies(net)  # autograd on: the plain path
        net(*xs).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in net.named_parameters()})
        with torch.no_grad():
            net(*xs)
    fresh = narrow("voc-fcn8s-atonce").double()
    fresh(*xs).square().mean().backward()
    for n, p in fresh.named_parameters():
        assert torch.equal(p.grad, grads[0][n]) and torch.equal(p.grad, grads[1][n]), n
    net.train()
    with torch.no_grad():
        assert not inference.applies(net)  # dropout on: the plain path


def test_the_inference_path_runs_batches_and_two_input_nets():
    net = narrow("nyud-fcn32s-color-hha")
    xs = [torch.cat([x, 2 * x]) for x in _inputs(net, (50, 61), torch.float32, "cpu")]
    for ours, plain in _both(net, xs):
        assert ours.shape == (2, 40, 50, 61) and _rel(ours, plain) <= F32_RTOL


def test_the_switch_turns_the_inference_path_off_inside_it_and_only_there():
    """``with nets.inference.disabled():`` gives the plain path's outputs bit for bit (the same layers run), and
    the inference path comes back on exit, also when the block raises."""
    net = narrow("voc-fcn8s")
    xs = _inputs(net, (45, 52), torch.float32, "cpu")
    with torch.no_grad():
        ours = net(*xs)
        plain = net._run(tuple(xs), keep_all=False)["score"]
        with inference.disabled():
            assert not inference.applies(net)
            off = net(*xs)
        assert inference.applies(net)
        with pytest.raises(RuntimeError, match="inside"), inference.disabled():
            raise RuntimeError("inside")
        assert inference.applies(net)
    assert torch.equal(off, plain) and not torch.equal(ours, plain)
