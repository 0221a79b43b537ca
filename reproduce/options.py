"""The command-line options every entry point shares (reproduce.evaluate, infer, train and the table scripts):
where a run computes, in which precision, and how its ranks wait for each other. A new common option is added
here once."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from . import distributed

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nets.precision import Precision

PRECISION_HELP = ("precision mode of every forward (default exact): exact = float32 with TF32 off, Caffe's "
                  "arithmetic, the only mode that matches Caffe; tf32 = float32 tensors on TF32 tensor cores "
                  "(CUDA); bf16 = trunk convolutions in bfloat16 (CUDA, or a CPU with native bf16); fp16 = trunk "
                  "convolutions in float16 (CUDA). A fast mode's records carry its measured agreement with exact")


def precision_name(value: str) -> str:
    """argparse type of --precision: a mode's name (checked without importing torch; the device is checked by
    ``start``)."""
    import nets

    if value not in nets.PRECISIONS:
        raise argparse.ArgumentTypeError(f"unknown precision {value!r}; the modes are {', '.join(nets.PRECISIONS)} "
                                         "(exact unless asked)")
    return value


class DeviceOption(argparse.Action):
    """--device, checked as it is parsed (nets.precision.check_device), before any input is read or any rank
    joins a group: a device that is unknown or not here stops the run with one line naming the devices here,
    exit 2 (rank 0 says it under torchrun; every rank finds the same)."""

    def __call__(self, parser, namespace, value, option_string=None):
        from nets.precision import UnavailableDevice, check_device

        try:
            check_device(value)
        except UnavailableDevice as e:
            if distributed.environment_world().main:
                print(f"error: --device {value}: {e}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        setattr(namespace, self.dest, value)


def add_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    import nets

    parser.add_argument("--device", action=DeviceOption,
                        help="torch device, cpu, cuda or cuda:N (default: cuda when present, else cpu); under "
                             "torchrun each rank takes cuda:LOCAL_RANK")
    parser.add_argument("--precision", type=precision_name, default="exact",
                        metavar="{" + ",".join(nets.PRECISIONS) + "}", help=PRECISION_HELP)
    parser.add_argument("--dist-timeout", type=float, default=distributed.DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="under torchrun, the longest a rank waits for the others in one collective before it "
                             f"fails the run (default {distributed.DEFAULT_TIMEOUT_S:g})")
    return parser


def start(args: argparse.Namespace) -> tuple[distributed.World, torch.device]:
    """Join torchrun's process group when launched by it, and pick the device (distributed.start). A
    --precision the device cannot run stops the run here: one line naming the modes it can run, exit 2; so does
    a --device this machine does not have (nets.precision.check_device: one line naming the devices here)."""
    if args.dist_timeout <= 0:
        raise SystemExit(f"--dist-timeout must be positive, got {args.dist_timeout}")
    from nets import precision as P

    try:
        world, device = distributed.start(args.device, args.dist_timeout)
    except P.UnavailableDevice as e:  # before any process group: each rank finds the same, rank 0 says it
        if distributed.environment_world().main:
            print(f"error: --device {args.device}: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None

    try:
        P.get(getattr(args, "precision", "exact")).check(device)
    except P.UnsupportedPrecision as e:
        if world.main:
            print(f"error: --precision {args.precision}: {e}", file=sys.stderr, flush=True)
        distributed.barrier(world)  # every rank finds the same; rank 0 says it before any rank exits
        raise SystemExit(2) from None
    return world, device


def set_precision(net: nn.Module, args: argparse.Namespace, device: torch.device) -> Precision:
    """Move ``net`` to ``device`` and set its precision to --precision (``start`` checked the device)."""
    net.to(device)
    net.precision = getattr(args, "precision", "exact")
    return net.precision
