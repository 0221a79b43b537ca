"""Peak memory and time of voc-fcn8s on a 6000x4000 picture: the untiled estimate against a tiled run in a budget.

Run: ``.venv/bin/python benchmarks/tiled_inference.py [--max-memory 4GiB] [--size 6000x4000] [--net voc-fcn8s]``
(random weights: the work and the memory do not depend on the values). It prints the estimated peak of one
untiled forward (nets.tiling.peak_bytes), the tile plan the budget gives, and then runs the tiled forward as
``reproduce.infer`` does (label maps, argmax tile by tile), measuring its wall time and the process's peak
resident memory (getrusage's ru_maxrss, which includes the torch runtime, the weights and the picture). One run
on a shared 2-core CPU takes about ten minutes at the default size. Writes results/bench-tiled.json (or --json),
which ``.venv/bin/python -m benchmarks.report`` renders as Markdown.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the kit's packages, run from anywhere


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    import nets
    from benchmarks import records
    from nets import tiling
    from nets.seeded import seeded_weights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="voc-fcn8s", choices=nets.NAMES)
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the picture (default 6000x4000)")
    parser.add_argument("--max-memory", default="4GiB", help="the budget (default 4GiB, infer's CPU default)")
    records.add_json_option(parser, "bench-tiled.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-tiled.json", "benchmarks/tiled_inference.py")
    where = records.machine()  # before the run: its load average is the machine's, not the run's
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        budget = tiling.parse_bytes(args.max_memory)
    except ValueError as e:
        parser.error(f"{e}; expected e.g. --size 6000x4000 --max-memory 4GiB")

    torch.set_grad_enabled(False)
    net = seeded_weights(nets.build(args.net))
    if len(net.inputs) != 1:
        parser.error(f"{args.net} takes {len(net.inputs)} inputs; this benchmark feeds one picture")
    gen = torch.Generator().manual_seed(0)
    picture = torch.randn(1, 3, height, width, generator=gen) * 60  # a mean-subtracted picture's range
    net(picture[:, :, :64, :64])  # first-call costs (oneDNN, caches) out of the timing
    before = rss_now()

    whole = tiling.peak_bytes(net.spec, height, width)
    plan = tiling.plan_for(net, picture, max_memory=budget, labels=True)
    print(f"{args.net}, {width}x{height} picture, CPU ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"untiled: estimated forward peak {tiling.format_bytes(whole)} + weights, picture and label map "
          f"{tiling.format_bytes(plan.fixed)} = {tiling.format_bytes(whole + plan.fixed)}")
    print(f"budget {tiling.format_bytes(budget)}: {len(plan.tiles)} tiles, largest forward estimated "
          f"{tiling.format_bytes(plan.peak)}, total estimate {tiling.format_bytes(plan.peak + plan.fixed)}")
    start = time.perf_counter()
    tiling.forward(net, picture, max_memory=budget, labels=True, progress=True)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    print(f"tiled: {seconds:.0f} s; process peak RSS {tiling.format_bytes(peak)} (before the forward "
          f"{tiling.format_bytes(before)}: runtime, weights, picture; the forward added at most "
          f"{tiling.format_bytes(peak - before)})")
    record = {"benchmark": "tiled", "machine": where, "net": args.net, "width": width,
              "height": height, "budget": budget, "untiled_estimate": whole + plan.fixed, "tiles": len(plan.tiles),
              "tiled_estimate": plan.peak + plan.fixed, "seconds": seconds, "peak_rss": peak, "rss_before": before}
    records.write(record, path, argv, "benchmarks/tiled_inference.py")
    return 0


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
