"""The command-line options every entry point shares (reproduce.evaluate, infer, train and the table scripts):
where a run computes and how its ranks wait for each other. A new common option is added here once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import distributed

if TYPE_CHECKING:
    import torch


def add_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--device", help="torch device, cuda or cpu (default: cuda when present, else cpu); under "
                                         "torchrun each rank takes cuda:LOCAL_RANK")
    parser.add_argument("--dist-timeout", type=float, default=distributed.DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="under torchrun, the longest a rank waits for the others in one collective before it "
                             f"fails the run (default {distributed.DEFAULT_TIMEOUT_S:g})")
    return parser


def start(args: argparse.Namespace) -> tuple[distributed.World, torch.device]:
    """Join torchrun's process group when launched by it, and pick the device (distributed.start)."""
    if args.dist_timeout <= 0:
        raise SystemExit(f"--dist-timeout must be positive, got {args.dist_timeout}")
    return distributed.start(args.device, args.dist_timeout)
