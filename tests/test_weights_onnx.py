"""ONNX export of every reference net (python -m weights.convert SRC DST.onnx): onnxruntime on
CPU gives the kit's outputs within FORWARD_RTOL and with ARGMAX_AGREEMENT at an odd input size (parity.INPUT_SIZES,
another per net) other than the traced example's, so H and W are dynamic.

Every net is exported narrowed (tests/tiny_nets.narrow: every convolution but the score layers 32 times
narrower; the same layers, kernels, strides, pads, crops, fusions and outputs), which is what the export's
graph depends on, in seconds. One net is also exported at full size (500+ MB for the VGG nets, removed after
use), and the command line exports a full-size FCN-32s: both in the slow tier (make test-all)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nets
import weights
from parity import (
    ARGMAX_AGREEMENT,
    FORWARD_RTOL,
    INPUT_SIZES,
    argmax_agreement,
    load_params,
    max_rel_error,
    random_inputs,
    random_params,
)
from tiny_nets import narrow
from weights.convert import main
from weights.export import ONNX_EXAMPLE_SIZE, ONNX_OPSET, write_onnx

INSTALL = ".venv/bin/pip install -r requirements.txt"


@pytest.fixture(scope="module")
def ort():
    try:
        import onnxruntime
    except ImportError:
        pytest.fail(f"onnxruntime is not installed; install the pinned requirements with `{INSTALL}`",
                    pytrace=False)
    return onnxruntime


def run_both(net: nets.CaffeNet, session, size: tuple[int, int], batch: int = 1):
    """The kit's and onnxruntime's outputs, by output blob, on seeded inputs of ``size``."""
    inputs = {blob: np.concatenate([a] * batch) for blob, a in random_inputs(net.name, size=size).items()}
    with torch.no_grad():
        ours = net(*(torch.from_numpy(inputs[b]) for b in net.inputs))
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = session.run(list(net.outputs), inputs)
    return dict(zip(net.outputs, (o.numpy() for o in ours), strict=True)), dict(
        zip(net.outputs, theirs, strict=True))


# The full-size export of one net: the 500 MB graph that a user exports, in the slow tier.
FULL_SIZE = "voc-fcn8s"
WIDTHS = [pytest.param(name, "narrow", id=f"{name}-narrow") for name in nets.NAMES] + [
    pytest.param(FULL_SIZE, "full", id=f"{FULL_SIZE}-full", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name, width", WIDTHS)
def test_onnxruntime_matches_the_kit_within_1e_4_with_dynamic_height_and_width(tmp_path, ort, name, width):
    spec = nets.spec(name) if width == "full" else narrow(nets.spec(name))
    net = load_params(nets.CaffeNet(spec).eval(), random_params(spec, seed=7))
    path = write_onnx(net, tmp_path / f"{name}.onnx")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [(i.name, i.shape) for i in session.get_inputs()] == [
            (b, ["N", c, "H", "W"]) for b, c in net.spec.inputs.items()]
        assert [o.name for o in session.get_outputs()] == list(net.outputs)
        size = INPUT_SIZES[name]
        assert size != ONNX_EXAMPLE_SIZE
        ours, theirs = run_both(net, session, size)
        for blob in net.outputs:
            assert theirs[blob].shape == ours[blob].shape == (1, net.channels[blob], *size)
            error, agreement = max_rel_error(theirs[blob], ours[blob]), argmax_agreement(theirs[blob], ours[blob])
            print(f"{name} {blob} {size[0]}x{size[1]}: onnxruntime vs kit max rel error {error:.2e}, argmax "
                  f"agreement {agreement:.6f}")
            assert error <= FORWARD_RTOL and agreement >= ARGMAX_AGREEMENT, (blob, size, error, agreement)
    finally:
        session = None
        path.unlink(missing_ok=True)


@pytest.mark.slow
def test_onnx_export_from_the_command_line_states_its_opset_and_runs_a_batch_of_two(tmp_path, ort, capsys):
    import onnx

    net = load_params(nets.build("voc-fcn32s"), random_params("voc-fcn32s", seed=8))
    src = weights.save(net, tmp_path / "fcn32s.h5")
    dst = tmp_path / "fcn32s.onnx"
    assert main([str(src), str(dst)]) == 0  # the format from the suffix, the net from the file's layers
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"voc-fcn32s: fcn32s.h5 -> {dst} as onnx (opset {ONNX_OPSET}, inputs data, outputs score; N, H, W dynamic)")
    src.unlink()
    model = onnx.load(str(dst))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", ONNX_OPSET)]
    onnx.checker.check_model(model)
    del model
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    ours, theirs = run_both(net, session, (33, 41), batch=2)
    assert theirs["score"].shape == (2, 21, 33, 41)
    assert max_rel_error(theirs["score"], ours["score"]) <= FORWARD_RTOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fcn32s.onnx"]  # no temporary file left
