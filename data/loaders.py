"""Batching a reader the way the reference's solvers consumed its data layers: one image per step.

Training: the reference's data layer, under Python 2, called random.seed(1337), drew one index at set-up and
one after each forward, with random.randint(0, N-1). Python 2's randint is int(random() * N); Python 3's
randint uses another algorithm, so ReferenceSampler draws int(random() * N) to replay the same images in the
same order (ledger: train.sampler). Positions refer to the reader's id list, so the list order must be the
reference's too.

Evaluation: the split in order, batch 1 (images differ in size), decoded in worker processes, pinned memory
when a GPU is present.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .readers import Reader


class ReferenceSampler(Sampler[int]):
    """Positions in a list of ``n`` images, drawn as the reference's data layer did: seed, then int(random() *
    n) per step, with replacement. ``start`` skips that many draws (resuming at iteration ``start``);
    ``steps`` bounds the sequence (None: endless)."""

    def __init__(self, n: int, seed: int = 1337, start: int = 0, steps: int | None = None):
        if n < 1:
            raise ValueError(f"cannot sample from {n} images")
        if start < 0 or (steps is not None and steps < 0):
            raise ValueError(f"start and steps must be >= 0; got start={start}, steps={steps}")
        self.n, self.seed, self.start, self.steps = n, seed, start, steps

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed)
        for _ in range(self.start):
            rng.random()
        drawn = 0
        while self.steps is None or drawn < self.steps:
            yield int(rng.random() * self.n)
            drawn += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless ReferenceSampler has no length; give steps=")
        return self.steps


class _Items(Dataset):
    """A reader as a torch Dataset of (id, tops)."""

    def __init__(self, reader: Reader):
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> tuple[str, dict[str, np.ndarray]]:
        return self.reader.ids[index], self.reader[index]


def collate_one(batch: list[tuple[str, dict[str, np.ndarray]]]) -> tuple[str, dict[str, torch.Tensor]]:
    """Batch of one image -> (id, {top: tensor with a leading batch axis}): images 1 x C x H x W float32,
    labels 1 x H x W uint8."""
    if len(batch) != 1:
        raise ValueError(f"FCN batches hold one image (sizes differ); got {len(batch)}")
    sample_id, tops = batch[0]
    return sample_id, {top: torch.from_numpy(array)[None] for top, array in tops.items()}


def _pin(pin_memory: bool | None) -> bool:
    return torch.cuda.is_available() if pin_memory is None else pin_memory


def eval_loader(reader: Reader, workers: int = 2, pin_memory: bool | None = None) -> DataLoader:
    """The split in order, one image per batch, decoded by ``workers`` processes (0: in this process).
    pin_memory defaults to "a CUDA device is available". Yields (id, {top: tensor})."""
    return DataLoader(_Items(reader), batch_size=1, shuffle=False, num_workers=workers,
                      collate_fn=collate_one, pin_memory=_pin(pin_memory))


def train_loader(reader: Reader, seed: int = 1337, start: int = 0, steps: int | None = None, workers: int = 1,
                 pin_memory: bool | None = None) -> DataLoader:
    """One image per step in the reference's random order (ReferenceSampler). Yields (id, {top: tensor})."""
    return DataLoader(_Items(reader), batch_size=1, sampler=ReferenceSampler(len(reader), seed, start, steps),
                      num_workers=workers, collate_fn=collate_one, pin_memory=_pin(pin_memory))
