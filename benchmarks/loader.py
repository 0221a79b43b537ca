"""Images per second through the evaluation loader for VOC-sized images on this machine.

``.venv/bin/python -m benchmarks.loader`` (from the checkout) builds a miniature VOC tree of 500 x 375 JPEGs with
palette PNG labels in a temporary folder and reads it through ``eval_loader`` (decode, BGR, mean, label checks,
batching) with 0 and 2 worker processes. The time of a pass includes starting the workers, as an evaluation run
pays it once per split. Writes results/bench-loader.json (or --json), which
``.venv/bin/python -m benchmarks.report`` renders as Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from data import load, miniature
from data.loaders import eval_loader

from . import records


def images_per_second(root: Path, workers: int, passes: int = 2) -> float:
    """Best of ``passes`` full passes over the miniature split, in images per second."""
    reader = load("voc", "val", root, expect_split=None)
    best = 0.0
    for _ in range(passes):
        start = time.perf_counter()
        count = sum(1 for _ in eval_loader(reader, workers=workers))
        best = max(best, count / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.loader", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    records.add_json_option(parser, "bench-loader.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-loader.json", "benchmarks.loader")
    record = {"benchmark": "loader", "machine": records.machine(), "images": args.images,
              "picture": "500 x 375 JPEG + palette PNG label", "batch": 1, "passes": 2, "rows": []}
    with tempfile.TemporaryDirectory(prefix="fcn-data-bench-") as tmp:
        ids = miniature.voc_ids(args.images)
        root = miniature.build_voc(Path(tmp) / "VOC2011", splits={"val": ids}, size=(375, 500))
        print(f"eval loader, {args.images} VOC-sized images (500 x 375 JPEG + palette PNG), batch 1, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        for workers in args.workers:
            rate = images_per_second(root, workers)
            record["rows"].append({"workers": workers, "images_per_s": rate})
            print(f"  workers={workers}: {rate:.1f} images/s")
    records.write(record, path, argv, "benchmarks.loader")

if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
