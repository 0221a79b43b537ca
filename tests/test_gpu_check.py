"""The GPU check script (tests/gpu/check.sh) works before any GPU sees it: its CPU dry run takes every step
(parity through pytest, agreement, the benchmark's workers, generated images through the evaluation loader)
at tiny sizes, and without a CUDA device the real run refuses at once, naming the dry run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


# The dry run's sizes (tests/gpu/check.py): 3 inputs of 48x48 for agreement, 6 images of 40x48 and 48x40 for the
# evaluation, 2 training steps of which the last is on a 40x48 image with labels drawn uniformly from 21 classes.
AGREEMENT_PIXELS = 3 * 48 * 48
EVAL_PIXELS = 3 * 40 * 48 + 3 * 48 * 40
LAST_TRAIN_PIXELS = 40 * 48


def check_dry_run_record(record: dict) -> None:
    """What the dry run's record must hold: counts that follow from its sizes, and times that agree."""
    assert record["dry_run"] and record["parity"]["ok"] and "1 passed" in record["parity"]["summary"]
    assert record["agreement"]["modes"]
    for mode in record["agreement"]["modes"].values():
        assert mode["pixels"] == AGREEMENT_PIXELS
        agreeing = mode["argmax_agreement_percent"] * AGREEMENT_PIXELS / 100  # a count of pixels
        assert abs(agreeing - round(agreeing)) < 1e-6 and 0 < agreeing <= AGREEMENT_PIXELS
        assert 0 <= mode["max_rel_score_error"] < 0.05  # bf16 keeps 8 bits of mantissa
    bench = record["bench"]
    rows = bench["rows"]
    assert bench["ok"] and bench["size"] == 48 and {"kit exact", "torchfcn 1.9.7"} <= set(rows)
    for row in rows.values():
        assert row["min_ms"] == min(row["times_ms"]) and row["min_ms"] <= row["ms"] <= max(row["times_ms"])
    assert rows["kit exact"]["vs_torchfcn"] == pytest.approx(rows["torchfcn 1.9.7"]["ms"] / rows["kit exact"]["ms"])
    ev = record["eval"]
    assert ev["images"] == 6 and ev["sizes"] == ["40x48", "48x40"]
    assert 0 < ev["pixels_counted"] <= EVAL_PIXELS  # labelled pixels, each counted once at the image's size
    assert ev["images_per_s"] == pytest.approx(ev["images"] / ev["seconds"])
    tr = record["train"]
    assert tr["steps"] == 2 and tr["steps_per_s"] == pytest.approx(tr["steps"] / tr["seconds"])
    # Caffe's loss, summed over pixels (normalize false): on uniform random labels no net scores below the
    # labels' entropy, log 21 per pixel; a normalised (per-pixel) loss would be ~2000 times smaller.
    assert math.isfinite(tr["last_loss"]) and tr["last_loss"] >= 0.9 * math.log(21) * LAST_TRAIN_PIXELS



@pytest.mark.slow  # the whole GPU check on the CPU: pytest, the benchmark's workers, training; about a minute
def test_the_cpu_dry_run_takes_every_step_and_prints_one_table(tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run(["bash", "tests/gpu/check.sh", "--cpu-dry-run", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_dry_run_record(json.loads(out.read_text()))
    table = done.stdout[done.stdout.index("GPU check on"):]
    for step in ("parity", "agreement", "bench", "eval", "train"):
        assert f"\n{step} " in table, table


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: the real check would run")
def test_without_cuda_the_real_check_refuses_and_names_the_dry_run():
    done = subprocess.run([sys.executable, "tests/gpu/check.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2 and "--cpu-dry-run" in done.stderr
