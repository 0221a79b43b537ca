"""A torchrun worker for the distributed tests: runs kit entry points with the tests' tiny nets (a worker
process cannot be monkeypatched from pytest).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_entry.py STEPS.json

STEPS.json lists ``[module, [argument, ...]]`` pairs (module: evaluate, infer, train, table3); the steps run in
order in one process group, each rank waiting for the others between steps (a step may read what rank 0
wrote in the one before). The worker exits with the first non-zero status.

Failure knobs, read here only (never by the kit):
- FCN_TEST_DIE_RANK, FCN_TEST_DIE_AT_DRAW: that rank SIGKILLs itself when it reaches that training draw,
  after FCN_TEST_WAIT_FOR (a file) exists;
- FCN_TEST_SLOW_SNAPSHOT=ITER: rank 0 creates FCN_TEST_WAIT_FOR and sleeps inside the atomic write of
  iteration ITER's solverstate, after the file is complete and before it is renamed into place.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import tiny_nets


def _install_failures() -> None:
    from reproduce import distributed, train

    wait_for = os.environ.get("FCN_TEST_WAIT_FOR")
    if "FCN_TEST_DIE_RANK" in os.environ:
        die_rank, die_draw = int(os.environ["FCN_TEST_DIE_RANK"]), int(os.environ["FCN_TEST_DIE_AT_DRAW"])
        real_pass = train.Trainer.forward_backward

        def forward_backward(self, position: int, draw: int) -> float:
            if self.world.rank == die_rank and draw == die_draw:
                deadline = time.monotonic() + 120
                while wait_for and not Path(wait_for).exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                print(f"rank {die_rank}: killing myself at draw {draw}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return real_pass(self, position, draw)

        train.Trainer.forward_backward = forward_backward
    if "FCN_TEST_SLOW_SNAPSHOT" in os.environ:
        slow_iter = int(os.environ["FCN_TEST_SLOW_SNAPSHOT"])
        real_atomic = train.atomic_path

        @contextmanager
        def atomic_path(dst, **options):
            with real_atomic(dst, **options) as tmp:
                yield tmp
                if distributed.current().main and Path(dst).name.endswith(f"_iter_{slow_iter}.solverstate.h5"):
                    print(f"rank 0: solverstate written to {Path(tmp).name}, sleeping before the rename",
                          flush=True)
                    if wait_for:
                        Path(wait_for).touch()
                    time.sleep(120)

        train.atomic_path = atomic_path


def main() -> int:
    from reproduce import distributed

    tiny_nets.use_tiny_nets(setattr, lambda mapping, key, value: mapping.__setitem__(key, value))
    tiny_nets.use_emulated_bf16(setattr, lambda mapping, key, value: mapping.__setitem__(key, value))
    _install_failures()
    steps = json.loads(Path(sys.argv[1]).read_text())
    for module, argv in steps:
        rc = importlib.import_module(f"reproduce.{module}").main(argv)
        if rc:
            return rc
        distributed.barrier()
    return 0


if __name__ == "__main__":
    from reproduce import distributed

    sys.exit(distributed.entry(main))
