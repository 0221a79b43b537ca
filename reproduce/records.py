"""What every experiment record carries (git revision, hashes, device); written atomically (data.files)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from data.files import write_text
from data.layout import git_revision  # noqa: F401 (the kit's one, re-exported for the records)

if TYPE_CHECKING:  # torch takes seconds to import; the missing-input checks must not wait for it
    import torch

REPO = Path(__file__).resolve().parent.parent


def _jsonable(x):
    """NaN and infinity are not JSON: a skipped class's IU is written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(dst: str | os.PathLike, record: dict) -> Path:
    return write_text(dst, json.dumps(_jsonable(record), indent=2, allow_nan=False) + "\n")


def run_name(net: str, variant: str | None = None) -> str:
    """A training run's folder under reproduce.train's --out, and its label in the tables: NET, or NET-VARIANT
    (voc-fcn32s-fixed). Here, not in reproduce.train, so that a table naming its rows' runs imports no torch."""
    return f"{net}-{variant}" if variant else net


def md5_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given and here (nets.precision.check_device: else UnavailableDevice naming the devices
    here), else the first CUDA GPU when present, else the CPU."""
    from nets.precision import check_device

    return check_device(requested)


def device_name(device: torch.device) -> str:
    """A human-readable name for records: the GPU model, or the CPU and how many threads torch uses."""
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads"


def environment(device: torch.device) -> dict:
    """The software and hardware a number was measured with."""
    import torch

    return {"git_revision": git_revision(), "device": device_name(device), "torch": torch.__version__,
            "python": platform.python_version()}
