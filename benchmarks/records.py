"""The benchmarks' records: each run writes one JSON file (results/bench-*.json, or --json PATH), whole or not at
all, carrying the machine it ran on, so that a table rendered from it (benchmarks.report) says where, when and
how it was measured. The records the docs quote are copies kept in benchmarks/records/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

RESULTS = Path("results")
KEPT = Path(__file__).resolve().parent / "records"  # the records the docs' tables are rendered from


def machine() -> dict:
    """Where a benchmark ran: CPU model and vector capability, cores and threads, torch, Python, the date, and
    the load average before the run (other work on a shared machine slows every figure)."""
    from nets.precision import cpu_model

    return {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "date": datetime.date.today().isoformat(),
            "load_average_before": list(os.getloadavg())}


def add_json_option(parser: argparse.ArgumentParser, default: str) -> None:
    from data.files import FORCE_HELP

    parser.add_argument("--json", type=Path, help=f"record path (default results/{default}, replaced there as the "
                                                  "kit's own record; a path you name is kept unless --force)")
    parser.add_argument("--force", action="store_true", help="with --json: " + FORCE_HELP)


def output(args: argparse.Namespace, default: str, prog: str) -> Path:
    """The record's path, checked before the benchmark runs: a --json file that exists is refused unless
    --force (results/ is the kit's own and replaced)."""
    from data.files import DestinationExists, refuse_existing

    if args.json is None:
        return RESULTS / default
    try:
        refuse_existing(args.json, args.force)
    except DestinationExists as e:
        raise SystemExit(f"{prog}: --json: {e}") from None
    return args.json


def write(record: dict, path: Path, argv: list[str] | None, prog: str) -> None:
    """Write ``record`` atomically, with the command that made it (``prog``: a module, or a script's path)."""
    from data.files import write_text  # the kit's one atomic writer

    args = shlex.join(argv if argv is not None else sys.argv[1:])
    run = prog if prog.endswith(".py") else f"-m {prog}"  # a script (tiled_inference.py) or a module
    record.setdefault("command", f".venv/bin/python {run} {args}".rstrip())
    record.setdefault("load_average_after", list(os.getloadavg()))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")
