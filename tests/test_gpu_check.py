"""The GPU check script (tests/gpu/check.sh) works before any GPU sees it: its CPU dry run takes every step
(parity through pytest, agreement, the benchmark's workers, generated images through the evaluation loader)
at tiny sizes, and without a CUDA device the real run refuses at once, naming the dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the whole GPU check on the CPU: pytest, the benchmark's workers, training; about a minute
def test_the_cpu_dry_run_takes_every_step_and_prints_one_table(tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run(["bash", "tests/gpu/check.sh", "--cpu-dry-run", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["dry_run"] and record["parity"]["ok"] and "1 passed" in record["parity"]["summary"]
    assert record["agreement"]["modes"] and all(0 < m["argmax_agreement_percent"] <= 100
                                                for m in record["agreement"]["modes"].values())
    rows = record["bench"]["rows"]
    assert record["bench"]["ok"] and rows["kit exact"]["ms"] > 0 and "torchfcn 1.9.7" in rows
    assert record["eval"]["images"] == 6 and record["eval"]["pixels_counted"] > 0
    assert record["train"]["steps"] == 2 and record["train"]["steps_per_s"] > 0
    assert record["train"]["last_loss"] > 0
    table = done.stdout[done.stdout.index("GPU check on"):]
    for step in ("parity", "agreement", "bench", "eval", "train"):
        assert f"\n{step} " in table, table


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: the real check would run")
def test_without_cuda_the_real_check_refuses_and_names_the_dry_run():
    done = subprocess.run([sys.executable, "tests/gpu/check.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2 and "--cpu-dry-run" in done.stderr
