"""How close the kit's HHA must be to Gupta's code under Octave (issue 26), for tests/test_hha.py and make
test-octave: without holes in the raw depth every pixel equal but at most 1 in 10,000, none off by more than 1;
with holes at least 99% of the pixels equal per channel and 99.5% within 1. Near holes the normals are
ill-conditioned: a one-ulp change of the depth moves about 0.5% of those pixels inside Octave itself."""

from __future__ import annotations

import numpy as np


def agreement(ours: np.ndarray, reference: np.ndarray) -> list[tuple[float, float, int]]:
    """Per channel: the fraction of pixels equal, the fraction within 1, the largest difference."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype == np.uint8, (ours.shape, reference.shape)
    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    return [(float((d == 0).mean()), float((d <= 1).mean()), int(d.max())) for d in np.moveaxis(diff, -1, 0)]


def meets_tolerance(ours: np.ndarray, reference: np.ndarray, holes: bool) -> bool:
    if holes:
        return all(equal >= 0.99 and within1 >= 0.995 for equal, within1, _ in agreement(ours, reference))
    return all(equal >= 1 - 1e-4 and worst <= 1 for equal, _, worst in agreement(ours, reference))


def describe(ours: np.ndarray, reference: np.ndarray) -> str:
    """One line: equal and within-1 percentages per channel, the largest difference."""
    rows = agreement(ours, reference)
    equal = " / ".join(f"{e:.4%}" for e, _, _ in rows)
    within = " / ".join(f"{w:.4%}" for _, w, _ in rows)
    return f"equal {equal}, within 1 {within}, max diff {max(m for _, _, m in rows)}"
