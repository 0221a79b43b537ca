"""The benchmark's contestants compute the same function: torchfcn's own model class, given the kit's weights
through load_state_dict (the names are the identity map), gives the kit's scores; the worker protocol runs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nets
from benchmarks import inference as bench
from benchmarks.torchfcn_import import torchfcn_model
from nets.seeded import seeded_weights

ROOT = Path(__file__).resolve().parents[1]


# Full-size nets: the slow tier. The fast tier holds torchfcn's classes to the kit's nets through the port audit
# (tests/test_audit_port.py, narrowed) and the torchfcn export (tests/test_weights_export.py).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["voc-fcn32s", "voc-fcn8s"])
def test_torchfcn_on_the_kits_weights_gives_the_kits_scores(name):
    if importlib.util.find_spec("torchfcn") is None:
        pytest.skip("torchfcn is not installed: .venv/bin/pip install --no-deps -r requirements-nodeps.txt")
    net = seeded_weights(nets.build(name))
    model = torchfcn_model(name)
    model.load_state_dict(net.state_dict(), strict=True)
    x = bench.make_inputs(net, 45, torch.device("cpu"))[0]
    with torch.no_grad():
        ours, theirs = net(x), model.eval()(x)
    assert theirs.shape == ours.shape
    assert float((theirs - ours).abs().max() / ours.abs().max()) <= 1e-5
    assert float((theirs.argmax(1) == ours.argmax(1)).float().mean()) >= 0.9999
    assert "fcn" not in sys.modules and "torchfcn" not in sys.modules  # the stand-ins left after the import
    with pytest.raises(RuntimeError, match="Chainer-based fcn package"):
        type(model).download()


def test_a_kit_worker_speaks_the_protocol():
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.inference", "--worker", "kit", "voc-fcn-alexnet",
                             "--mode", "exact", "--size", "40", "--threads", "1"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate("run\nrun\nquit\n", timeout=300)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[0]["ready"] and lines[0]["label"] == "kit exact" and lines[0]["macs"] > 0
    assert [("ms" in x) for x in lines[1:3]] == [True, True] and lines[3]["peak_mib"] > 0
    assert proc.returncode == 0


@pytest.mark.parametrize("mode", ["fp8", "fp16"])
def test_a_mode_the_device_cannot_run_stops_the_bench_before_it_writes_a_record(mode, tmp_path):
    record = tmp_path / "bench.json"
    with pytest.raises(SystemExit, match=r"--modes .*Modes this device can run: exact|unknown") as stop:
        bench.main(["voc-fcn8s", "--device", "cpu", "--modes", mode, "--no-torchfcn", "--json", str(record)])
    assert mode in str(stop.value) and not record.exists()
