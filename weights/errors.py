"""The weights package's errors, and its one finiteness rule: each message says what was expected, what was
found and what to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .caffemodel import CaffemodelError


class WeightsFormatError(ValueError):
    """A weights file that no reader accepts: says what was expected, what was found and what to do."""


class WeightsMismatchError(ValueError):
    """The weights do not fit the net: lists every missing layer, unexpected layer and shape mismatch."""


class IncompleteNetError(CaffemodelError, WeightsMismatchError):
    """The file reads to its end but holds only part of a net's parameter layers, every one of them in the
    net's shape: a caffemodel cut at a layer boundary (a protobuf message can end after any field, so the
    reader alone cannot tell)."""


class NonFiniteWeightsError(ValueError):
    """Blobs hold NaN or infinite values: a diverged training run or a damaged file, never usable weights."""


def count_nonfinite(blobs: Iterable) -> tuple[int, int, int]:
    """(NaN count, infinite count, value count) over a layer's blobs (numpy arrays or CPU tensors)."""
    nan = inf = size = 0
    for blob in blobs:
        array = np.asarray(blob)
        size += array.size
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            nan += int(np.isnan(array).sum())
            inf += int(np.isinf(array).sum())
    return nan, inf, size


def refuse_nonfinite(counts: Mapping[str, tuple[int, int, int]], source: str) -> None:
    """The one finiteness rule of the kit, applied wherever weights enter or leave it (``load``, ``write_h5``:
    weights.convert (every format), weights.transplant, reproduce.infer/evaluate/train): ``counts`` is layer ->
    count_nonfinite; any layer with a NaN or an infinity is one NonFiniteWeightsError naming each such layer."""
    bad = {name: c for name, c in counts.items() if c[0] or c[1]}
    if not bad:
        return
    parts = [f"{name} ({nan} NaN, {inf} infinite, of {size} values)" for name, (nan, inf, size) in bad.items()]
    raise NonFiniteWeightsError(
        f"{source}: {len(bad)} layer(s) hold values that are not finite: {'; '.join(parts)}. Weights like these "
        "come from a training run that diverged (its loss became NaN or infinite) or from a damaged file; a net "
        "with them segments nothing. Use a snapshot from before the divergence, or fetch or copy the file again")


class HDF5FileError(ValueError):
    """An .h5 file that HDF5 cannot open: cut short (an interrupted download or copy) or damaged."""


