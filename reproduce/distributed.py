"""Scaling out on torch.distributed, launched by torchrun: the one module of the kit that knows about process
groups (ledger: metrics.sharded-sum, train.distributed).

``torchrun --nproc_per_node=N -m reproduce.evaluate NET ...`` starts N copies of an entry point with RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set. ``start()`` reads them, gives each rank one GPU
(cuda:LOCAL_RANK, backend NCCL) or the CPU (backend gloo) and joins the process group with a timeout on every
collective. Without torchrun's environment nothing is initialised: one process, no process group, as always.

The rules the entry points follow:

- sharding: rank r of N takes positions r, r + N, r + 2N, ... of a list, in list order (``World.shard``), so
  every image is scored exactly once whatever N and the list's length: no padding, no duplicates (unlike
  torch's DistributedSampler); a rank may get none;
- counts are int64 and summed with all_reduce(SUM): over disjoint shards the sum of the per-rank confusion
  matrices is exactly the single-process matrix;
- rank 0 alone prints results and writes records, caches and snapshots; a prediction PNG is written by the
  rank that made it (disjoint files; several nodes need a shared results folder, as they need shared data);
- a collective that fails (another rank died, or did not answer within the timeout) raises RankFailure naming
  this rank; torchrun's elastic agent stops the other ranks and its summary names the rank that failed first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch takes seconds to import; the missing-input checks must not wait for it
    import torch

DEFAULT_TIMEOUT_S = 600.0  # longest a rank waits in one collective (rank 0 writing a VGG16 snapshot: seconds)
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank of size, its rank on its node, and the process group's backend
    ("none": one process, no process group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = "none"

    @property
    def main(self) -> bool:
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend != "none"

    def shard(self, n: int) -> range:
        """This rank's positions of a list of ``n``: r, r + N, r + 2N, ... (every position on exactly one rank)."""
        return range(self.rank, n, self.size)

    def __str__(self) -> str:
        return "one process" if not self.distributed else f"rank {self.rank} of {self.size} ({self.backend})"


SINGLE = World()
_world = SINGLE


class RankFailure(RuntimeError):
    """A collective failed on this rank: another rank died or stopped answering."""


def launched() -> bool:
    """True under torchrun (its environment variables are set)."""
    return all(v in os.environ for v in TORCHRUN_VARIABLES)


def environment_world() -> World:
    """The rank, size and local rank torchrun gave this process (SINGLE without torchrun), read without joining
    any process group: cheap enough for deciding who prints a missing-inputs message."""
    if not launched():
        return SINGLE
    try:
        rank, size, local = (int(os.environ[v]) for v in TORCHRUN_VARIABLES)
    except ValueError as e:
        found = {v: os.environ[v] for v in TORCHRUN_VARIABLES}
        raise ValueError(f"torchrun's RANK, WORLD_SIZE and LOCAL_RANK must be integers, found {found}") from e
    if not 0 <= rank < size:
        raise ValueError(f"RANK {rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE {size})")
    return World(rank, size, local, "none")


def start(device: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[World, torch.device]:
    """Join torchrun's process group (when launched by it) and pick this rank's device.

    ``device``: "cuda" or "cpu" (default: a GPU when present). Under torchrun each rank takes cuda:LOCAL_RANK
    with NCCL, or the CPU with gloo; without torchrun, ``device`` as given (records.pick_device) and no
    process group. ``timeout_s`` bounds every collective, so that a rank whose peers died does not hang.
    """
    import torch
    import torch.distributed as dist

    from .records import pick_device

    global _world
    if not launched():
        return SINGLE, pick_device(device)
    if device:
        pick_device(device)  # a device this node lacks is nets.precision.UnavailableDevice on every rank
    env = environment_world()
    requested = torch.device(device) if device else None
    if requested is not None and requested.type not in ("cuda", "cpu"):
        raise ValueError(f"--device {device}: under torchrun a rank runs on 'cuda' (one GPU per rank) or 'cpu'")
    if requested is not None and requested.type == "cuda" and requested.index is not None:
        raise ValueError(f"--device {device}: under torchrun rank r runs on cuda:LOCAL_RANK; pass --device cuda "
                         "(and CUDA_VISIBLE_DEVICES to choose the GPUs)")
    use_cuda = requested.type == "cuda" if requested is not None else torch.cuda.is_available()
    if use_cuda:
        count = torch.cuda.device_count()
        if count == 0:
            raise RuntimeError(f"rank {env.rank}: --device cuda, but no GPU is visible to this process")
        if env.local_rank >= count:
            raise RuntimeError(f"rank {env.rank}: LOCAL_RANK {env.local_rank} needs GPU {env.local_rank}, but this "
                               f"node shows {count}; start at most {count} processes per node (--nproc_per_node)")
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        # device_id binds NCCL's communicator to this rank's GPU at once (no guessing from the current device).
        options = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **options)
    if dist.get_world_size() != env.size or dist.get_rank() != env.rank:
        raise RuntimeError(f"the process group has rank {dist.get_rank()} of {dist.get_world_size()}, torchrun's "
                           f"environment says {env.rank} of {env.size}")
    _world = World(env.rank, env.size, env.local_rank, backend)
    return _world, dev


def current() -> World:
    """The world ``start()`` joined (SINGLE before, or without torchrun)."""
    return _world


def shutdown() -> None:
    """Leave the process group (a no-op without one)."""
    global _world
    if _world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _world = SINGLE


def entry(main: Callable[[], int]) -> int:
    """Run an entry point's ``main`` under torchrun's error recording (an exception on any rank reaches the
    elastic agent's summary with its rank and traceback), leaving the process group at the end; Ctrl-C is one
    line and status 130 (data.cli.run)."""
    from torch.distributed.elastic.multiprocessing.errors import record

    from data.cli import run

    try:
        return run(record(main))
    finally:
        shutdown()


def refuse(message: str, device: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, code: int = 2) -> int:
    """Say why the run cannot start (missing inputs, a batch that does not divide) and return ``code``. Under
    torchrun every rank finds the same problem: rank 0 says it, and every rank waits for the others at a
    barrier before it exits, because torchrun's agent stops all ranks as soon as one exits non-zero and would
    cut rank 0 off before it printed. Without torchrun: print, return (torch is not imported)."""
    import sys

    if not launched():
        print(message, file=sys.stderr)
        return code
    from nets.precision import UnavailableDevice

    try:
        world, _ = start(device, timeout_s)
    except UnavailableDevice as e:  # no process group to wait at: every rank says both, and stops
        print(f"{message}\nerror: --device {device}: {e}", file=sys.stderr, flush=True)
        return code
    if world.main:
        print(message, file=sys.stderr, flush=True)
    barrier(world)
    return code


def say(*args: Any, **kwargs: Any) -> None:
    """print() on rank 0 only (every rank computes the same results; one prints them)."""
    if _world.main:
        print(*args, **kwargs)


# ---- collectives ----------------------------------------------------------------------------------------


@contextmanager
def collective(what: str, world: World | None = None) -> Iterator[None]:
    """Turn a failed collective into RankFailure naming this rank and what it was doing. Only
    torch.distributed's own errors are translated; anything else passes unchanged."""
    import torch.distributed as dist

    world = world or _world
    try:
        yield
    except dist.DistError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RankFailure(f"rank {world.rank} of {world.size}: {what} failed ({type(e).__name__}: {first}). "
                          "Another rank died or did not answer within the timeout (--dist-timeout); torchrun's "
                          "summary names the rank that failed first") from e


def _device(world: World) -> torch.device:
    """Where collectives' tensors live: this rank's GPU for NCCL, the CPU for gloo."""
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if world.backend == "nccl" else torch.device("cpu")


def all_reduce_counts(counts: Mapping[str, np.ndarray], world: World | None = None) -> dict[str, np.ndarray]:
    """Sum integer count arrays (confusion matrices) over all ranks: int64, all_reduce(SUM), in sorted key
    order so that every rank issues the same collectives. Every rank gets the sums."""
    world = world or _world
    out = {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in counts.items()}
    if not world.distributed:
        return out
    import torch
    import torch.distributed as dist

    for key in sorted(out):
        t = torch.from_numpy(out[key].copy()).to(_device(world))
        with collective(f"summing the counts {key!r}", world):
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        out[key] = t.cpu().numpy()
    return out


def all_reduce_sum(value: float, world: World | None = None) -> float:
    """Sum one float64 over all ranks (a logged loss)."""
    world = world or _world
    if not world.distributed:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=_device(world))
    with collective("summing a loss", world):
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def all_gather(obj: Any, world: World | None = None) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    world = world or _world
    if not world.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world.size
    with collective("gathering results", world):
        dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, world: World | None = None) -> Any:
    """Rank 0's ``obj`` on every rank (what rank 0 alone decided: reuse a cached evaluation or not)."""
    world = world or _world
    if not world.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if world.main else None]
    with collective("receiving rank 0's decision", world):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World | None = None) -> None:
    """Wait until every rank gets here (rank 0 reading files the others wrote)."""
    world = world or _world
    if not world.distributed:
        return
    import torch.distributed as dist

    with collective("waiting for the other ranks", world):
        if world.backend == "nccl":
            dist.barrier(device_ids=[_device(world).index])
        else:
            dist.barrier()


# ---- training --------------------------------------------------------------------------------------------


def data_parallel(net: torch.nn.Module, device: torch.device, world: World | None = None) -> torch.nn.Module:
    """``net`` wrapped in DistributedDataParallel whose backward SUMS the ranks' gradients (a comm hook
    without DDP's division by N), so that CaffeSGD, built with the effective iter_size N x k, divides the sum
    of all N x k passes once, as one process divides its iter_size passes' sum (Caffe's Normalize).

    Buffers (the frozen upsampling kernels, Scale factors) are the same on every rank (the same weights file)
    and never change: DDP checks them once at construction and does not broadcast them before every forward.
    Every trainable parameter of a reference net takes part in every forward, so find_unused_parameters stays
    off (DDP raises at the next step if one did not)."""
    from torch.nn.parallel import DistributedDataParallel

    world = world or _world
    if not world.distributed:
        return net
    ddp = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None,
                                  forward_sync_buffers=False, find_unused_parameters=False)
    ddp.register_comm_hook(None, _sum_gradients)
    return ddp


def _sum_gradients(state, bucket):  # unannotated: DDP compares annotations with types, and ours are strings
    """DDP communication hook: all_reduce(SUM) of one gradient bucket (a torch.futures.Future of the summed
    tensor), with no division by the world size."""
    import torch.distributed as dist

    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda f: f.value()[0])


def in_list_order(parts: list[tuple[range | list[int], list]]) -> list:
    """Merge per-rank lists back into list order: ``parts[r] = (positions of rank r, its items)``."""
    placed = [(p, item) for positions, items in parts for p, item in zip(positions, items, strict=True)]
    return [item for _, item in sorted(placed, key=lambda pair: pair[0])]
