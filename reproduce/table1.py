"""Table 1 (CVPR 2015): from classifier to dense FCN, on VOC2011 val (the kit scores seg11valid).

Command: ``make reproduce-table1`` (= ``.venv/bin/python -m reproduce.table1``); ``SMOKE=1`` for the wiring check.

Expected: the structure columns are exact and computed from the nets: conv. layers {voc-fcn-alexnet T1 conv_layers} /
{voc-fcn32s T1 conv_layers}, parameters {voc-fcn-alexnet T1 params_millions}M / {voc-fcn32s T1 params_millions}M
(trunk conv1..fc7 plus a 21-class score_fr), receptive field {voc-fcn-alexnet T1 rf_size} / {voc-fcn32s T1 rf_size},
max. stride {voc-fcn-alexnet T1 max_stride} / {voc-fcn32s T1 max_stride} for FCN-AlexNet / FCN-VGG16. Mean IU: the
released voc-fcn-alexnet must score {voc-fcn-alexnet} and voc-fcn32s {voc-fcn32s} on seg11valid within 0.1 (PASS/FAIL,
the reference README); the paper's {voc-fcn-alexnet T1} / {voc-fcn32s T1} (CVPR recipe) are printed beside them for
information. Forward time is measured on one 500x500 input on the device at hand; the paper's
{voc-fcn-alexnet T1 forward_ms} ms / {voc-fcn32s T1 forward_ms} ms are a 2015 Tesla K40c, so only the ratio (about 4x)
compares. FCN-GoogLeNet ({voc-fcn-googlenet T1}) was never released: its column gets the kit net's structure (22 conv
layers, 6.0M parameters, stride 32, and a receptive field of 715 where the paper's {voc-fcn-googlenet T1 rf_size} is
that of the discarded average pooling) and forward time, and the commands that train it; ``--retrained --weights
voc-fcn-googlenet=FILE`` judges a run against {voc-fcn-googlenet T1} at 1.0.

Needs: ``make weights NET=voc-fcn-alexnet``, ``make weights NET=voc-fcn32s``, ``make data DATASET=voc``.

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): a 2-core CPU takes
about two hours (seg11valid for both nets, plus the 500x500 timing); a GPU, minutes. Smoke run: about 20 s on
the CPU.
"""

from __future__ import annotations

import sys

from . import distributed
from .runner import Context, Outcome, run_table
from .tables import COLUMNS, TABLE1, Row, with_figures

__doc__ = with_figures(__doc__)  # the release scores and paper numbers, read from the net records

STRUCTURE = ("conv_layers", "params_millions", "rf_size", "max_stride")


def measure(ctx: Context, row: Row, outcome: Outcome) -> None:
    """The structure columns and the forward time of every row's net, released or not: neither depends on the
    weights (FCN-GoogLeNet, never released, gets both)."""
    if row.net is None:
        return
    import nets
    from reproduce.audit.geometry import structure

    ours = structure(nets.spec(row.net))
    outcome.ours.update(ours)
    exact = [c for c in STRUCTURE if round(ours[c]) == row.paper.get(c)]
    outcome.extra["structure columns equal to the paper"] = f"{len(exact)} of {len(STRUCTURE)}"
    for column, (_, why) in nets.record(row.net).paper_row(1).differs.items():
        outcome.extra[f"{COLUMNS[column]} differs"] = why
    if not ctx.world.main:
        return  # under torchrun rank 0 times the forward; the others' numbers would not be reported
    size, runs = (64, 1) if ctx.smoke else (500, 10 if ctx.device.type == "cuda" else 3)
    ms, device = forward_time(row.net, size, runs, ctx.device)
    outcome.ours["forward_ms"] = round(ms, 1)
    outcome.extra["forward time"] = f"median of {runs} on {device}, {size}x{size} input"


def forward_time(name: str, size: int, runs: int, device) -> tuple[float, str]:
    """Median forward time (ms) of one SIZE x SIZE image (batch 1) through net ``name`` in exact precision, after
    a warm-up pass (allocators, kernels, the inference path's edge response), and the device's name. Timing
    does not depend on the weights: the net gets seeded random ones (nets.seeded). benchmarks/inference.py
    (make bench) is the fuller account: every family and mode, beside torchfcn and Caffe."""
    import statistics
    import time

    import torch

    import nets
    from nets import precision as P
    from nets.seeded import seeded_weights

    net = seeded_weights(nets.build(name)).to(device)
    gen = torch.Generator().manual_seed(1)
    inputs = [(torch.randn(1, net.spec.inputs[i], size, size, generator=gen) * 60).to(device) for i in net.inputs]
    times = []
    with torch.inference_mode():
        for i in range(runs + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            net(*inputs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first pass warms up
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), P.describe(device)


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE1, __doc__, argv, measure=measure)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
