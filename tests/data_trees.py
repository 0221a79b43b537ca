"""Shared helpers for the data tests: the reference's data-layer arithmetic written out independently of the
data package (so the readers are checked against it, not against themselves), and small tree builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

# The papers' and the reference's values (ledger: data.means, data.splits), typed again here on purpose: the
# readers' constants are checked against these.
VOC_MEAN = (104.00699, 116.66877, 122.67892)
NYUD_MEAN = (116.190, 97.203, 92.318)
NYUD_HHA_MEAN = (132.431, 94.076, 118.477)
SIFTFLOW_MEAN = (114.578, 115.294, 108.353)
CONTEXT_MEAN = (104.007, 116.669, 122.679)
SUBDIR = "spatial_envelope_256x256_static_8outdoorcategories"


def reference_image(path: Path, mean: tuple[float, float, float], flip: bool = True) -> np.ndarray:
    """load_image of the reference's data layers: float32, RGB -> BGR, minus mean, HWC -> CHW."""
    in_ = np.array(Image.open(path), dtype=np.float32)
    if flip:
        in_ = in_[:, :, ::-1]
    in_ -= np.array(mean, dtype=np.float32)
    return in_.transpose((2, 0, 1))


def reference_depth(path: Path) -> np.ndarray:
    d = np.array(Image.open(path), dtype=np.float32)
    d = np.log(d)
    d -= np.array((7.844,), dtype=np.float32)
    return d[np.newaxis, ...]


def reference_shifted(raw: np.ndarray) -> np.ndarray:
    """label.astype(np.uint8) - 1 with uint8 wrap-around (void 0 -> 255)."""
    label = raw.astype(np.uint8)
    label -= 1
    return label


def load_mat(path: Path, key: str) -> np.ndarray:
    return scipy.io.loadmat(path)[key]


def context_reference_labels(context_root: Path, sample_id: str) -> np.ndarray:
    """The reference's PASCAL-Context load_label, re-implemented with plain loops."""
    def names(path: Path) -> list[str]:  # genfromtxt(delimiter=":") column 2, spaces removed
        return [line.split(":", 1)[1].replace(" ", "") for line in path.read_text().split("\n") if line]

    full = names(context_root / "labels.txt")
    task = names(context_root / "59_labels.txt")
    for main, task_name in zip(("table", "bedclothes", "cloth"), ("diningtable", "bedcloth", "clothes"),
                               strict=True):
        task[task.index(task_name)] = main
    raw = load_mat(context_root / "trainval" / f"{sample_id}.mat", "LabelMap")
    label = np.zeros_like(raw, dtype=np.uint8)
    for k, name in enumerate(task):
        label[raw == full.index(name) + 1] = k + 1
    return label
