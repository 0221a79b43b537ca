"""Seconds per training step of every stage a retrain runs, and what each table's retrain takes at that pace:
``.venv/bin/python -m benchmarks.retrain_steps`` (``make bench``). docs/retrain.md renders its record.

Each stage's net is timed as ``make retrain-tableN PLAN=1`` times it (reproduce.retrain.time_stage: seeded
weights, one warm-up step, the median of the timed ones, at a typical picture of its dataset), once for every
table that needs it. A table's total is its stages' iterations at those step times, scheduled as the retrain
runs them: all chains on one device in turn, or each chain on a device of its own (``GPUS=N``).
"""

from __future__ import annotations

import argparse
import gc
import sys

import torch

from benchmarks import records
from nets.registry import RECORDS
from reproduce import retrain


def time_tables(tables: list[int], device: torch.device, steps: int) -> dict:
    """The record's body: every stage net's timing (once), each table's stages and totals."""
    timed: dict[str, dict] = {}
    out: dict[str, dict] = {}
    for number in tables:
        rows = [r.net for r in retrain.retrainable_rows(number)]
        stages = retrain.stages_for(rows)
        for stage in stages:
            if stage.net not in timed:
                size = retrain.TYPICAL_SIZE[RECORDS[stage.net].train[0]]
                print(f"timing {stage.net} at {size[1]}x{size[0]} ...", file=sys.stderr, flush=True)
                timed[stage.net] = retrain.time_stage(stage, device, size, steps)
                gc.collect()
        seconds = {s.net: retrain.stage_seconds(s, timed[s.net], s.iterations) for s in stages}
        groups = retrain.chains(stages)
        out[str(number)] = {
            "rows": rows,
            "stages": [{"net": s.net, "iterations": s.iterations, "iter_size": s.solver.iter_size,
                        "seconds": seconds[s.net]} for s in stages],
            "chains": [[s.net for s in chain] for chain in groups],
            "one_device_seconds": retrain.simulate(groups, 1, seconds),
            "device_per_chain_seconds": retrain.simulate(groups, len(groups), seconds)}
    return {"nets": timed, "tables": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.retrain_steps",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=list(retrain.retrain_tables()),
                        choices=retrain.retrain_tables(), help="the tables to time (default: every retrainable one)")
    parser.add_argument("--device", default="cpu", help="where to time the steps (default cpu)")
    parser.add_argument("--steps", type=int, default=retrain.TIMING_STEPS,
                        help=f"timed steps per stage after a warm-up (default {retrain.TIMING_STEPS})")
    records.add_json_option(parser, "bench-retrain-steps.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-retrain-steps.json", "benchmarks.retrain_steps")
    device = torch.device(args.device)
    record = {"benchmark": "retrain-steps", "machine": records.machine(), "device": str(device),
              "steps": args.steps, **time_tables(args.tables, device, args.steps)}
    records.write(record, path, argv, "benchmarks.retrain_steps")
    return 0


if __name__ == "__main__":
    from data.cli import run

    sys.exit(run(main))
