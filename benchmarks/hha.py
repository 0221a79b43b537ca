"""Seconds per 425 x 560 HHA image on one core: data.hha beside Gupta's saveHHA under GNU Octave.

``.venv/bin/python -m benchmarks.hha [--gupta FOLDER]`` (``make bench``, with ``GUPTA=FOLDER`` for Octave) pins
itself, and the Octave it starts, to one core, and times data.hha on the six images of tests/fixtures/hha/
(three rooms, without and with raw-depth holes) plus, with --gupta, Gupta's demo image (a real NYUD image).
With --gupta, Octave runs saveHHA on the same PNGs in one process on one BLAS thread (tests/octave/gupta.py;
the seconds are saveHHA's own, without Octave's start), and the record keeps the agreement of the two per
image. In --repeats rounds (Octave on every image, then the kit), the best round per image is kept, wall and
CPU seconds apart. Also the peak of memory allocated during one
data.hha call (tracemalloc). Writes results/bench-hha.json (or --json).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from data.hha import hha

from . import records

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "hha"
ROOMS = ("office", "lounge", "shelves")


def images(gupta: Path | None) -> dict[str, tuple[Path, np.ndarray, np.ndarray]]:
    """name: (depth PNG, depth in mm, missing mask): the fixture rooms, and Gupta's demo image with --gupta."""
    out = {}
    for room in ROOMS:
        depth_png = FIXTURES / f"{room}-depth.png"
        depth = np.asarray(Image.open(depth_png))
        out[room] = (depth_png, depth, np.zeros(depth.shape, bool))
        out[f"{room}-holes"] = (depth_png, depth, np.asarray(Image.open(FIXTURES / f"{room}-holes.png")))
    if gupta is not None:
        demo = gupta / "rcnn-depth" / "demo-data"
        depth = np.asarray(Image.open(demo / "depth.png"))
        out["rcnn-depth demo"] = (demo / "depth.png", depth, np.asarray(Image.open(demo / "rawdepth.png")) == 0)
    return out


def time_kit(depth: np.ndarray, missing: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds of one data.hha call, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = hha(depth, missing)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def peak_mib(depth: np.ndarray, missing: np.ndarray) -> float:
    tracemalloc.start()
    hha(depth, missing)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def octave_runner():
    """make test-octave's runner of Gupta's code, tests/octave/gupta.py (as caffe_contestant.py finds Caffe's)."""
    sys.path.insert(0, str(ROOT / "tests" / "octave"))
    import gupta

    return gupta


def time_octave(gupta: Path, cases: dict, tmp: Path) -> dict[str, tuple[float, float, np.ndarray]]:
    """Wall and CPU seconds of one saveHHA call per image (all in one Octave process), and Octave's HHA."""
    jobs = []
    for name, (depth_png, depth, missing) in cases.items():
        raw = tmp / f"{name}-rawdepth.png"
        Image.fromarray(np.where(missing, 0, depth).astype(np.uint16)).save(raw)
        jobs.append((depth_png, raw, tmp / f"{name}-hha.png"))
    seconds = octave_runner().run_save_hha(gupta, jobs, timeout=3600)
    return {name: (wall, cpu, np.asarray(Image.open(job[2])))
            for name, (wall, cpu), job in zip(cases, seconds, jobs, strict=True)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.hha", description=__doc__.split("\n")[0])
    parser.add_argument("--gupta", type=Path, help="a folder holding clones of s-gupta/rcnn-depth, rgbdutils and "
                                                   "nyu-hooks: time Gupta's saveHHA under GNU Octave too")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, the best kept per image (default 3)")
    records.add_json_option(parser, "bench-hha.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-hha.json", "benchmarks.hha")
    then = ".venv/bin/python -m benchmarks.hha --gupta GUPTA"
    if args.gupta is not None and (message := octave_runner().problem(args.gupta, then)):
        raise SystemExit(f"benchmarks.hha: --gupta {args.gupta}: {message}")
    allowed = os.sched_getaffinity(0)
    core = max(allowed)
    os.sched_setaffinity(0, {core})  # one core, for the kit and for the Octave it starts
    try:
        measure(args, core, path, argv)
    finally:
        os.sched_setaffinity(0, allowed)


def measure(args: argparse.Namespace, core: int, path: Path, argv: list[str] | None) -> None:
    record = {"benchmark": "hha", "machine": records.machine(), "image": "425 x 560", "core": core,
              "repeats": args.repeats, "rows": []}
    cases = images(args.gupta)
    first = next(iter(cases.values()))
    hha(first[1], first[2])  # warm-up: imports, first-touch allocations
    record["kit_peak_mib"] = peak_mib(first[1], first[2])
    # Rounds: Octave on every image, then the kit on every image; the best of the rounds per image, so that
    # both meet the same load on a shared machine.
    best: dict[str, dict] = {name: {} for name in cases}
    with tempfile.TemporaryDirectory(prefix="fcn-bench-hha-") as tmp:
        for _ in range(args.repeats):
            octave = time_octave(args.gupta, cases, Path(tmp)) if args.gupta is not None else {}
            for name, (_, depth, missing) in cases.items():
                wall, cpu, ours = time_kit(depth, missing)
                row = best[name]
                row.update(kit_s=min(wall, row.get("kit_s", wall)), kit_cpu_s=min(cpu, row.get("kit_cpu_s", cpu)))
                if name in octave:
                    o_wall, o_cpu, theirs = octave[name]
                    row.update(octave_s=min(o_wall, row.get("octave_s", o_wall)),
                               octave_cpu_s=min(o_cpu, row.get("octave_cpu_s", o_cpu)),
                               equal=[float((ours[..., c] == theirs[..., c]).mean()) for c in range(3)])
    print(f"HHA of a 425 x 560 depth map on core {core}, best of {args.repeats} rounds (wall / CPU seconds)")
    for name, (_, _, missing) in cases.items():
        row = {"image": name, "holes": float(missing.mean()), **best[name]}
        record["rows"].append(row)
        line = f"  {name}: kit {row['kit_s']:.3f} / {row['kit_cpu_s']:.3f}"
        if "octave_s" in row:
            line += (f", Octave {row['octave_s']:.3f} / {row['octave_cpu_s']:.3f}: "
                     f"{row['octave_s'] / row['kit_s']:.1f}x, equal {min(row['equal']):.4%}")
        print(line)
    for key in ("kit_s", "kit_cpu_s", "octave_s", "octave_cpu_s"):
        if all(key in r for r in record["rows"]):
            record[f"median_{key}"] = statistics.median(r[key] for r in record["rows"])
    if args.gupta is not None:
        record["octave"] = octave_runner().versions(args.gupta)
        record["speedup"] = record["median_octave_s"] / record["median_kit_s"]
        record["speedup_cpu"] = record["median_octave_cpu_s"] / record["median_kit_cpu_s"]
        print(f"median: kit {record['median_kit_s']:.3f} s, Octave {record['median_octave_s']:.3f} s: "
              f"{record['speedup']:.1f}x ({record['speedup_cpu']:.1f}x in CPU seconds)")
    print(f"the kit's peak allocation in one call: {record['kit_peak_mib']:.0f} MiB")
    records.write(record, path, argv, "benchmarks.hha")


if __name__ == "__main__":
    from data import cli

    raise SystemExit(cli.run(main))
