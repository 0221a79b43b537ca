"""Shared test set-up: puts tests/ on the import path (for parity.py and devices.py) and the checkout's root
(for benchmarks/, which is not installed with the kit), and prints parity tables at the end. ``make test-gpu``
runs ``-m gpu --require-gpu``, which fails at once without a CUDA device."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import parity
from devices import NO_GPU

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # benchmarks/ sits beside the kit's packages and is imported from the checkout
    sys.path.append(ROOT)


def pytest_addoption(parser):
    # Registered here, not in tests/caffe/conftest.py: pytest reads only the root conftest before parsing options.
    group = parser.getgroup("caffe", "parity against real Caffe on released weights (make test-caffe WEIGHTS=...)")
    group.addoption("--weights", default=None, help="a released FCN .caffemodel to compare on")
    group.addoption("--net", default=None, help="the reference net name of --weights (e.g. voc-fcn8s)")
    group.addoption("--image", default=None, help="an image to run --weights on")
    parser.getgroup("octave", "Gupta's HHA code under GNU Octave (make test-octave GUPTA=...)").addoption(
        "--gupta", default=None, help="a folder holding clones of s-gupta/rcnn-depth, rgbdutils and nyu-hooks")
    parser.getgroup("gpu", "device checks").addoption(
        "--require-gpu", action="store_true", help="fail unless a CUDA device is visible (make test-gpu)")


def pytest_configure(config):
    if config.getoption("--require-gpu") and not torch.cuda.is_available():
        raise pytest.UsageError(f"--require-gpu (make test-gpu): {NO_GPU}")


def pytest_terminal_summary(terminalreporter):
    if not parity.REPORT:
        return
    terminalreporter.section("parity with real Caffe: worst relative error per net and blob kind")
    rows = [("net", "kind", "worst blob", "max rel err", "limit")] + [
        (n, k, b, f"{e:.2e}", lim) for n, k, b, e, lim in parity.REPORT]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
