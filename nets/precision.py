"""Precision policies: one name per mode, applied around a forward pass as ``torch.autocast`` is.

``exact`` is the default everywhere: float32 with Caffe's semantics, TF32 off for convolutions and matrix
products while the kit's forward runs (the caller's settings are restored afterwards), any algorithm and memory
layout allowed as long as the parity tolerances against real Caffe hold. The fast modes are opt-in, and their
agreement with exact is measured (``agreement``), never assumed:

- ``tf32`` (CUDA): float32 tensors, convolutions and matrix products on TF32 tensor cores (10-bit mantissa).
- ``bf16`` (CUDA, or a CPU with native bf16 instructions): autocast to bfloat16, float32 accumulation.
- ``fp16`` (CUDA only): autocast to float16, float32 accumulation.

In bf16 and fp16 the trunk's rectified convolutions (conv1_1 .. fc7, 99.9% of the work) run in the low
precision; the score layers, the Scale, LRN and Eltwise layers, the upsampling and the crops are kept in
float32 (``keeps_float32``): they are a tenth of a percent of the work, the skip fusions add blobs of very
different scale (the at-once net scales pool3 by 1e-4, below float16's normal range), LRN squares its input
(a square of a VGG activation can overflow float16's 65504), and the scores they make decide the argmax. A
float16 trunk activation that overflows is an error (``FloatingPointError``), not a silent infinity.

>>> net.precision = "bf16"            # or nets.precision.get("bf16"); checked against the net's device
>>> with nets.precision.get("exact").applied("cuda"): ...   # around any other code
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from . import PRECISIONS as ORDER  # torch-free, for command lines


class UnsupportedPrecision(ValueError):
    """A precision mode that is unknown or that the device cannot run; the message names those it can."""


@dataclass(frozen=True)
class Precision:
    """One precision mode. ``description`` is the line records carry beside ``precision: <name>``."""

    name: str
    description: str
    autocast_dtype: torch.dtype | None  # None: no autocast, float32 tensors
    tf32: bool  # TF32 for cuDNN convolutions and CUDA matrix products (False: forced off while applied)
    devices: tuple[str, ...]  # device types that can run it (CPU bf16 further needs native instructions)
    channels_last: bool = True  # NHWC activations: oneDNN's and cuDNN's fast layout; same arithmetic
    cudnn_benchmark: bool | None = None  # None: leave the caller's setting
    check_finite: bool = False  # float16: raise on an overflowed trunk activation

    @property
    def exact(self) -> bool:
        return self.autocast_dtype is None and not self.tf32

    def keeps_float32(self, layer_type: str, rectified: bool) -> bool:
        """Whether a layer runs in float32 under this mode: in bf16/fp16 only rectified convolutions (the
        trunk) and max pooling (which only selects) run in the low precision."""
        if self.autocast_dtype is None:
            return True
        if layer_type == "Convolution":
            return not rectified
        return layer_type not in ("Pooling", "ReLU", "Dropout")

    def check(self, device: torch.device | str) -> None:
        """Raise UnsupportedPrecision unless this device can run the mode."""
        device = torch.device(device)
        if not _runs(self, device):
            raise UnsupportedPrecision(
                f"precision {self.name!r} cannot run on {describe(device)}: {_why_not(self, device)}. "
                f"Modes this device can run: {', '.join(available(device)) or 'none'}")

    @contextlib.contextmanager
    def applied(self, device: torch.device | str) -> Iterator[Precision]:
        """Set what the mode needs for code run on ``device`` (TF32 flags, autocast, cuDNN benchmark) and
        restore the caller's settings on exit, also when the body raises."""
        device = torch.device(device)
        self.check(device)
        with contextlib.ExitStack() as stack:
            stack.enter_context(_matmul_flags(device, self.tf32))
            if device.type == "cuda" and self.cudnn_benchmark is not None:
                stack.enter_context(_flag(torch.backends.cudnn, "benchmark", self.cudnn_benchmark))
            if self.autocast_dtype is not None:
                stack.enter_context(torch.autocast(device.type, dtype=self.autocast_dtype))
            else:  # a caller's enclosing autocast must not turn an exact forward into a low-precision one
                stack.enter_context(torch.autocast(device.type, enabled=False))
            yield self


MODES: dict[str, Precision] = {
    "exact": Precision(
        "exact", "float32 throughout, TF32 off for convolutions and matrix products (Caffe's arithmetic); "
        "parity with real Caffe at 1e-4 relative, argmax >= 99.99%", None, False, ("cpu", "cuda")),
    "tf32": Precision(
        "tf32", "float32 tensors, convolutions and matrix products on TF32 tensor cores (10-bit mantissa); "
        "agreement with exact measured", None, True, ("cuda",), cudnn_benchmark=True),
    "bf16": Precision(
        "bf16", "trunk convolutions in bfloat16 (float32 accumulation), score layers, upsampling and fusion in "
        "float32; agreement with exact measured", torch.bfloat16, False, ("cpu", "cuda"), cudnn_benchmark=True),
    "fp16": Precision(
        "fp16", "trunk convolutions in float16 (float32 accumulation, overflow raises), score layers, "
        "upsampling and fusion in float32; agreement with exact measured", torch.float16, False, ("cuda",),
        cudnn_benchmark=True, check_finite=True),
}
EXACT = MODES["exact"]


def get(mode: str | Precision) -> Precision:
    """The policy named ``mode`` (a Precision passes through)."""
    if isinstance(mode, Precision):
        return mode
    if mode not in MODES:
        raise UnsupportedPrecision(f"unknown precision {mode!r}; the modes are {', '.join(ORDER)} "
                                   f"(this machine's CPU: {', '.join(available('cpu'))})")
    return MODES[mode]


class UnavailableDevice(ValueError):
    """A --device that torch does not know, the kit does not run on, or this machine does not have."""


# Names people type for a GPU that torch spells otherwise.
_DEVICE_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "cuda0": "cuda:0", "gpu0": "cuda:0", "cpu0": "cpu"}


def devices_here() -> list[str]:
    """The devices the kit can run on in this process: cpu, and cuda and cuda:0 ... cuda:N-1 when visible."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(["cuda"] if count else []), *(f"cuda:{i}" for i in range(count))]


def check_device(value: str | torch.device | None) -> torch.device:
    """The device a --device value names, checked once for every entry point (reproduce.evaluate, infer, train,
    the table scripts, benchmarks.inference): ``None`` is the first GPU when present, else the CPU. A name torch
    does not know (``gpu``, ``tpu``), a kind the kit does not run on (``mps``, ``xla``), or one this machine lacks
    (``cuda`` without CUDA, ``cuda:3`` with one GPU) is UnavailableDevice, one line naming what is here."""
    if value is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = devices_here()
    said = f"the devices here: {', '.join(here)}"
    text = str(value).strip()
    if text.lower() in _DEVICE_ALIASES:
        raise UnavailableDevice(f"unknown device {text!r}: torch calls a GPU {_DEVICE_ALIASES[text.lower()]!r}; "
                                f"{said}")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UnavailableDevice(f"unknown device {text!r}: torch names devices cpu, cuda or cuda:N; {said}") from None
    if device.type not in ("cpu", "cuda"):
        raise UnavailableDevice(f"device {text!r} is not one the kit runs on (it runs on cpu and CUDA GPUs); {said}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is built without CUDA" if torch.version.cuda is None
                   else "no CUDA GPU is visible to this process (driver, CUDA_VISIBLE_DEVICES)")
            raise UnavailableDevice(f"device {text!r} is not available: {why}; {said}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UnavailableDevice(f"device {text!r} is not available: this machine shows "
                                    f"{torch.cuda.device_count()} GPU(s); {said}")
    elif device.index not in (None, 0):
        raise UnavailableDevice(f"device {text!r}: torch has one CPU device, 'cpu'; {said}")
    return device


def available(device: torch.device | str) -> tuple[str, ...]:
    """The modes ``device`` can run, in ORDER."""
    device = torch.device(device)
    return tuple(m for m in ORDER if _runs(MODES[m], device))


def _runs(p: Precision, device: torch.device) -> bool:
    if device.type not in p.devices:
        return False
    if device.type == "cuda":
        if p.name == "tf32":
            return torch.cuda.get_device_capability(device) >= (8, 0)
        if p.name == "bf16":
            return torch.cuda.is_bf16_supported()
        return True
    if p.name == "bf16":
        return cpu_has_native_bf16()
    return True


def _why_not(p: Precision, device: torch.device) -> str:
    if device.type not in p.devices:
        return f"{p.name} runs only on {' or '.join(x.upper() for x in p.devices)}"
    if device.type == "cpu" and p.name == "bf16":
        return ("this CPU has no native bf16 instructions (AVX512-BF16 or AMX-BF16 on x86, BF16 on Arm); "
                "autocast would emulate bfloat16 in float32 kernels plus conversions, slower than exact")
    if p.name == "tf32":
        return "TF32 tensor cores need compute capability 8.0 (Ampere) or newer"
    return "the device lacks the data type"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 dot-product instructions (x86 AVX512-BF16 or AMX-BF16, Arm BF16).

    PyTorch's own checks are used where they exist (torch.cpu._is_avx512_bf16_supported, _is_amx_tile_supported
    on x86; oneDNN's bf16 check on Arm); otherwise the kernel's CPU flags."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        checks = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        if all(c is not None for c in checks):
            return any(c() for c in checks)
        return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    if machine in ("aarch64", "arm64"):
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) or "bf16" in _cpu_flags()
    return False


def _cpu_flags() -> set[str]:
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return set()
    flags: set[str] = set()
    for line in info.read_text().splitlines():
        if line.startswith(("flags", "Features")):
            flags |= set(line.split(":", 1)[1].split())
    return flags


def describe(device: torch.device | str) -> str:
    """The device in words: the GPU's name, or the CPU's model, vector capability and thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type != "cpu":
        return str(device)
    return f"cpu ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads)"


@functools.cache
def cpu_model() -> str:
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ---- the flags a mode sets, each restored on exit -------------------------------------------------------------

@contextlib.contextmanager
def _flag(owner, attr: str, value) -> Iterator[None]:
    old = getattr(owner, attr)
    setattr(owner, attr, value)
    try:
        yield
    finally:
        setattr(owner, attr, old)


def _new_api() -> bool:
    """PyTorch 2.9+ sets TF32 per backend and operation (``torch.backends.cudnn.conv.fp32_precision``); the
    legacy ``allow_tf32`` flags remain but must not be mixed with it."""
    return hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cudnn.conv, "fp32_precision")


@contextlib.contextmanager
def _matmul_flags(device: torch.device, tf32: bool) -> Iterator[None]:
    """Convolutions and matrix products in IEEE float32 (or TF32 when asked) on ``device``, restored after.

    CUDA: cuDNN convolutions (PyTorch's default allows TF32 there) and cuBLAS products. CPU: oneDNN's
    convolutions and products, which a caller may have allowed to run in bf16 or TF32
    (``torch.backends.mkldnn.*.fp32_precision``); exact forces them back to IEEE float32."""
    value = "tf32" if tf32 else "ieee"
    if _new_api():
        knobs = ([("cudnn", "conv"), ("cudnn", "rnn"), ("cuda", "matmul")] if device.type == "cuda"
                 else [("mkldnn", "conv"), ("mkldnn", "matmul"), ("mkldnn", "rnn")])
        owners = [getattr(getattr(torch.backends, b), op) for b, op in knobs]
        olds = [o.fp32_precision for o in owners]
        try:
            for o in owners:
                o.fp32_precision = value
            yield
        finally:
            for o, old in zip(owners, olds, strict=True):
                o.fp32_precision = old
        return
    if device.type != "cuda":  # before PyTorch 2.9 oneDNN computed float32 in float32 unless asked otherwise
        yield
        return
    with _flag(torch.backends.cudnn, "allow_tf32", tf32), _flag(torch.backends.cuda.matmul, "allow_tf32", tf32):
        yield


# ---- agreement of a fast mode with exact ----------------------------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """How a fast mode's scores compare with exact's on the same inputs.

    argmax_percent: pixels whose predicted class is the same; max_rel_error: max |fast - exact| / max |exact|
    per output (the parity tests' measure), worst over inputs; mean_iu_delta: fast minus exact mean IU (in
    points, on the given labels, both from one confusion matrix over all inputs), None without labels."""

    mode: str
    argmax_percent: float
    max_rel_error: float
    mean_iu_delta: float | None
    pixels: int

    def as_record(self) -> dict:
        return {"precision": self.mode, "argmax_agreement_percent": self.argmax_percent,
                "max_rel_score_error": self.max_rel_error, "mean_iu_delta": self.mean_iu_delta,
                "pixels": self.pixels}


def agreement(net: torch.nn.Module, mode: str | Precision, inputs, labels=None,
              num_classes: int | None = None) -> Agreement:
    """Run ``net`` in exact and in ``mode`` on each item of ``inputs`` (a tensor, or a tuple of tensors for a
    multi-input net) and measure their agreement. ``labels`` (one H x W integer tensor per item, 255 or any
    value outside [0, classes) ignored) adds the mean-IU difference; for a two-headed net the first output is
    scored. The net's own precision is restored afterwards."""
    fast = get(mode)
    saved = net.precision
    hist_exact = hist_fast = None
    agree = total = 0
    worst = 0.0
    try:
        for i, item in enumerate(inputs):
            item = item if isinstance(item, (tuple, list)) else (item,)
            outs = {}
            for p in (EXACT, fast):
                net.precision = p
                with torch.no_grad():
                    out = net(*item)
                outs[p.name] = out if isinstance(out, tuple) else (out,)
            for e, f in zip(outs["exact"], outs[fast.name], strict=True):
                same, pixels, error = compare(e, f)
                agree, total, worst = agree + same, total + pixels, max(worst, error)
            if labels is not None:
                e0, f0 = outs["exact"][0], outs[fast.name][0]
                c = num_classes or e0.shape[1]
                lab = torch.as_tensor(labels[i]).to(e0.device).long().reshape(-1)
                hist_exact = _hist(hist_exact, lab, e0.argmax(1).reshape(-1), c)
                hist_fast = _hist(hist_fast, lab, f0.argmax(1).reshape(-1), c)
    finally:
        net.precision = saved
    delta = None
    if hist_exact is not None:
        delta = 100.0 * (_mean_iu(hist_fast) - _mean_iu(hist_exact))
    return Agreement(fast.name, 100.0 * agree / max(total, 1), worst, delta, total)


def compare(exact: torch.Tensor, fast: torch.Tensor) -> tuple[int, int, float]:
    """One output's scores (N x C x H x W) in exact and in a fast mode: (pixels whose argmax agrees, pixels,
    max |fast - exact| / max |exact|), the measures of ``Agreement``."""
    e, f = exact.float(), fast.float()
    scale = float(e.abs().max()) or 1.0
    same = int((e.argmax(1) == f.argmax(1)).sum())
    return same, e[:, 0].numel(), float((f - e).abs().max()) / scale


def _hist(hist: torch.Tensor | None, label: torch.Tensor, pred: torch.Tensor, c: int) -> torch.Tensor:
    keep = (label >= 0) & (label < c)
    h = torch.bincount(c * label[keep] + pred[keep], minlength=c * c).reshape(c, c).cpu().double()
    return h if hist is None else hist + h


def _mean_iu(hist: torch.Tensor) -> float:
    """Mean IU as the reference's scorer: nan-mean over classes with ground truth or predictions."""
    iu = hist.diag() / (hist.sum(1) + hist.sum(0) - hist.diag())
    return float(iu[~torch.isnan(iu)].mean())
