"""Forward time, work and peak memory of each net family, beside torchfcn and real Caffe.

Run: ``.venv/bin/python -m benchmarks.inference`` from the checkout (``make bench`` adds real Caffe).

Beside the table it prints the kit's time ratios to FCN-AlexNet next to the paper's Table 1 (K40c: FCN-AlexNet
50 ms, FCN-VGG16 210 ms, FCN-GoogLeNet 59 ms): ratios compare across machines, times do not.

A benchmark, not a test. One table per device: for each net family at one SIZE x SIZE image (batch 1) the kit in
exact precision and in every fast mode the device can run (nets.precision), torchfcn 1.9.7 run as its users run
it (its own model class for the VOC nets it has, the same weights and input), and real Caffe when an external
runner is given (``make bench`` passes benchmarks/caffe_contestant.py, which says "not built" until
``make test-caffe`` has built Caffe).

How it measures:
- Every contestant runs in its own worker process, so that its peak memory (resident set on CPU, allocator
  peak on CUDA) is its own. The workers take turns, one forward each per round, so that a machine shared with
  other work slows all of them alike: the ratios are measured in one run, forward beside forward. Time is the
  median of --runs rounds after a warm-up round (the kit's warm-up also computes its cached edge response).
- Work is the multiply-accumulates of the convolutions and deconvolutions each one computes (nets.inference.macs:
  the kit's windows, with Winograd's 16 products per 2x2 tile where it runs, or whole blobs for torchfcn and
  Caffe, whose full 21x21 deconvolutions add a little more than is counted). GMAC/s is that work over the time.
- Peak: the better of the best large matrix product (4096^3 on CPU, 8192^3 on CUDA) and the best wide 3x3
  convolution (512 channels in and out, 64x64 on CPU, 128x128 on CUDA, channels_last) at the same thread count
  (TF32 off for exact, the mode's own type for the fast modes), measured in the same rounds: on some CPUs the
  BLAS behind the product runs well below oneDNN's convolutions. The % of peak is the GMAC/s over it. The nominal
  peak (cores x 2 FMA units x vector lanes x 2 x clock, the clock read from /proc/cpuinfo)
  is printed beside it for reference only.

``--steps`` instead times the kit's exact path with its speed-ups switched on one after another (what each buys).
Writes results/bench-<device>.json or results/bench-steps-<device>.json (or --json), which
``.venv/bin/python -m benchmarks.report`` renders as Markdown. Worker protocol (used by external runners too): one
JSON line when ready ({"ready": true, "label": ..., "detail": ...} or {"unavailable": reason}), then per ``run``
line on stdin one {"ms": wall, "cpu_ms": process CPU time, optional}, and on ``quit`` one {"peak_mib": ...}. The
CPU time (all threads) is printed beside the wall time: on a shared machine it shows how much of a forward's time
went to other work.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import nets
from nets import inference
from nets import precision as P
from nets.seeded import seeded_weights

from . import records
from .torchfcn_import import TORCHFCN, torchfcn_model

# One net per family (STYLE.md: the VGG16 FCNs, AlexNet, GoogLeNet, the two-stream and the two-headed
# compositions), plus voc-fcn32s for Table 1's time ratios. FCN-16s costs what FCN-8s and FCN-32s cost (their
# trunks are one; the heads are 0.1% of the work): name it to time it.
FAMILIES = ("voc-fcn32s", "voc-fcn8s", "voc-fcn-alexnet", "voc-fcn-googlenet", "nyud-fcn32s-color-hha",
            "siftflow-fcn8s")
# bf16 through float32 kernels on a CPU without native bf16 (--emulated-bf16): shown to say why it is not offered.
EMULATED_BF16 = P.Precision("bf16-emulated", "bf16 autocast on a CPU without native bf16 (not offered: measured "
                            "to show why)", torch.bfloat16, False, ("cpu",))
# The kit's exact path with its speed-ups switched on one after another (--steps).
STEPS = (
    ("plain, NCHW", "plain", None),
    ("plain, channels_last", "plain-cl", None),
    ("+ fast path (channels_last, ReLU in place)", "fast",
     inference.Options(windows=False, gemm=False, crop_deconv=False, winograd=False)),
    ("+ windows (constant far field)", "fast",
     inference.Options(windows=True, gemm=False, crop_deconv=False, winograd=False)),
    ("+ fc6/fc7/score as matrix products", "fast",
     inference.Options(windows=True, gemm=True, crop_deconv=False, winograd=False)),
    ("+ only the cropped part of the last upsampling", "fast", inference.Options(winograd=False)),
    ("+ Winograd F(2x2, 3x3) for conv4 and conv5 (forced on)", "fast", inference.Options(winograd=True)),
)


def paper_ms(net: str) -> float | None:
    """Table 1's forward time of a net (one 500x500 image on a Tesla K40c), from its record."""
    row = nets.record(net).paper_row(1)
    return None if row is None else row.numbers.get("forward_ms")


def device_name(device: torch.device) -> str:
    return P.describe(device)


# ---- what runs -------------------------------------------------------------------------------------------------

def make_inputs(net, size: int, device: torch.device, seed: int = 1) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(1, net.spec.inputs[i], size, size, generator=gen) * 60).to(device) for i in net.inputs]


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed_both(fn, device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU time (all threads, user + system) of one call, in ms."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def _serve(fn, device: torch.device, ready: dict) -> int:
    """The worker protocol: ready line, one timing per ``run``, peak memory on ``quit``."""
    print(json.dumps({"ready": True, **ready}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            wall, cpu = _timed_both(fn, device)
            print(json.dumps({"ms": wall, "cpu_ms": cpu}), flush=True)
        elif cmd == "quit":
            print(json.dumps({"peak_mib": _peak_mib(device)}), flush=True)
            return 0
    return 0


def worker(kind: str, name: str, mode: str, size: int, device: torch.device, step: int | None = None) -> int:
    """One contestant in this process: ``kit`` (net ``name`` in precision ``mode``; with ``step``, the STEPS
    variant), ``torchfcn``, ``peak`` (the matrix-product peak in ``mode``) or ``peak-conv`` (the 3x3 convolution
    peak)."""
    policy = EMULATED_BF16 if mode == EMULATED_BF16.name else P.get(mode)
    if kind == "peak-conv":
        c, hw = 512, (128 if device.type == "cuda" else 64)
        dtype = policy.autocast_dtype or torch.float32
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, c, hw, hw, generator=gen).to(device, dtype).contiguous(memory_format=torch.channels_last)
        w = (torch.randn(c, c, 3, 3, generator=gen) * 0.01).to(device, dtype).contiguous(
            memory_format=torch.channels_last)

        def convolution():
            with torch.inference_mode(), policy.applied(device):
                torch.nn.functional.conv2d(x, w, None, 1, 1)

        return _serve(convolution, device, {"label": f"3x3 convolution {c}x{c} at {hw}x{hw} ({mode})",
                                            "flop": 2 * c * c * 9 * hw * hw})
    if kind == "peak":
        n = 8192 if device.type == "cuda" else 4096
        dtype = policy.autocast_dtype or torch.float32
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))

        def product():
            with policy.applied(device):
                a @ b

        return _serve(product, device, {"label": f"{n}^3 matmul ({mode})", "flop": 2 * n**3})
    net = seeded_weights(nets.build(name)).to(device)
    inputs = make_inputs(net, size, device)
    if kind == "torchfcn":
        model = torchfcn_model(name)
        model.load_state_dict(net.state_dict(), strict=True)  # same names: the identity map
        model = model.to(device).eval()
        with torch.inference_mode():
            agree = float((model(*inputs).argmax(1) == net(*inputs).argmax(1)).float().mean()) * 100
        del net

        def run():
            with torch.inference_mode():
                model(*inputs)

        return _serve(run, device, {"label": "torchfcn 1.9.7", "macs": inference.macs(nets.build(name), (size, size),
                                                                                 windowed=False),
                                    "detail": f"its {TORCHFCN[name][1]} class, PyTorch defaults; argmax agrees "
                                              f"with the kit's on {agree:.4f}% of pixels"})
    net.precision = policy
    # Winograd runs on a CPU outside autocast (nets.inference): count the products it does there
    wino = device.type == "cpu" and policy.autocast_dtype is None
    label, macs = f"kit {mode}", inference.macs(net, (size, size),
                                                winograd=wino and inference.winograd_on(inference.DEFAULT))
    ready = {"label": label, "macs": macs, "detail": policy.description}
    if wino:  # the per-machine choice the default path made (nets.inference.winograd_choice)
        ready["winograd"] = inference.winograd_choice()._asdict()
    run_net = None
    if step is not None:
        label, variant, options = STEPS[step]
        if variant.startswith("plain"):
            macs = inference.macs(net, (size, size), windowed=False)
            if variant == "plain-cl":
                net = net.to(memory_format=torch.channels_last)
                inputs = [x.contiguous(memory_format=torch.channels_last) for x in inputs]

            def run_net():
                with torch.inference_mode(), policy.applied(device):
                    net._run(tuple(inputs), keep_all=False)
        else:
            macs = inference.macs(net, (size, size), windowed=options.windows,
                                  winograd=wino and inference.winograd_on(options))

            def run_net():
                with torch.inference_mode(), policy.applied(device):
                    inference.forward(net, tuple(inputs), policy, options)
    if run_net is None:
        def run_net():
            with torch.inference_mode():
                net(*inputs)

    return _serve(run_net, device, {**ready, "label": label, "macs": macs})


# ---- the parent: workers in turn ---------------------------------------------------------------------------------

@dataclass
class Worker:
    """A contestant's process, driven line by line."""

    label: str
    argv: list[str]
    env: dict | None = None
    info: dict = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    peak_mib: float | None = None
    unavailable: str | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=self.env, bufsize=1)
        first = self._read()
        if first is None:
            self.unavailable = f"failed to start (exit status {self.proc.wait()})"
        elif "unavailable" in first:
            self.unavailable = first["unavailable"]
            self.proc.wait()
        else:
            self.info = first
            self.label = first.get("label", self.label)

    def _read(self) -> dict | None:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return None
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def run(self, keep: bool) -> None:
        if self.unavailable:
            return
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        out = self._read()
        if out is None or "ms" not in out:
            self.unavailable = f"died during a forward (exit status {self.proc.wait()})"
            return
        if keep:
            self.times.append(out["ms"])
            if "cpu_ms" in out:
                self.cpu_times.append(out["cpu_ms"])

    def stop(self) -> None:
        if self.unavailable:
            return
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        out = self._read() or {}
        self.peak_mib = out.get("peak_mib")
        self.proc.wait()

    @property
    def ms(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def rounds(workers: list[Worker], runs: int) -> None:
    """One warm-up round, then ``runs`` rounds, each worker one forward per round, in turn."""
    for w in workers:
        w.start()
    for r in range(runs + 1):
        for w in workers:
            w.run(keep=r > 0)
    for w in workers:
        w.stop()


def _self(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.inference", *args]


def nominal_peak_gflops(device: torch.device) -> str:
    """cores x 2 FMA units x lanes x 2 FLOP x clock, from /proc/cpuinfo (an assumption-laden upper bound)."""
    if device.type != "cpu":
        return "n/a"
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    lanes = 16 if "avx512f" in P._cpu_flags() else 8 if "avx2" in P._cpu_flags() else 4
    if not mhz:
        return "unknown clock"
    threads = torch.get_num_threads()
    return f"{threads * 2 * lanes * 2 * max(mhz) / 1000:.0f} GFLOP/s ({threads} cores x 2 FMA x {lanes} lanes x 2 x " \
           f"{max(mhz):.0f} MHz)"


def bench_device(args, device: torch.device) -> dict:
    modes = args.modes or list(P.available(device))
    for m in modes:  # an unknown mode, or one this device cannot run: refused before any worker starts
        try:
            P.get(m).check(device)
        except P.UnsupportedPrecision as e:
            raise SystemExit(f"benchmarks.inference: --modes {m}: {e}") from None
    common = ["--size", str(args.size), "--device", str(device), "--threads", str(args.threads)]
    if args.cudnn_benchmark:
        common.append("--cudnn-benchmark")
    peaks = {(kind, m): Worker(f"{kind} {m}", _self("--worker", kind, "--mode", m, *common))
             for m in modes for kind in ("peak", "peak-conv")}
    record = {"benchmark": "inference-steps" if args.steps else "inference", "machine": records.machine(),
              "device": device_name(device), "threads": args.threads, "size": args.size, "runs": args.runs,
              "torch": torch.__version__, "date": datetime.date.today().isoformat(), "families": [],
              "load_average_before": os.getloadavg()}
    print(f"device: {record['device']}; input {args.size}x{args.size}, batch 1; median of {args.runs} rounds "
          f"after a warm-up, contestants in turn", flush=True)
    first = True
    names = args.names or ([args.names_steps] if args.steps else list(FAMILIES))
    for name in names:
        if args.steps:
            workers = [Worker(STEPS[i][0], _self("--worker", "kit", name, "--mode", "exact", "--step", str(i),
                                                 *common)) for i in range(len(STEPS))]
        else:
            workers = [Worker(f"kit {m}", _self("--worker", "kit", name, "--mode", m, *common)) for m in modes]
            if args.emulated_bf16 and device.type == "cpu" and "bf16" not in P.available(device):
                workers.append(Worker("kit bf16-emulated", _self("--worker", "kit", name, "--mode",
                                                                 EMULATED_BF16.name, *common)))
            if name in TORCHFCN and not args.no_torchfcn:
                workers.append(Worker("torchfcn", _self("--worker", "torchfcn", name, *common)))
            for ext in args.external:
                label, _, template = ext.partition("=")
                cmd = template.format(net=name, size=args.size, threads=args.threads)
                workers.append(Worker(label, shlex.split(cmd)))
        group = workers + (list(peaks.values()) if first else [])
        rounds(group, args.runs)
        first = False
        rows = _rows(name, workers, peaks, args.size)
        record["families"].append({"net": name, "rows": rows})
        _print_table(name, rows, steps=args.steps)
    record["peak"] = {m: {"method": f"best of the rounds' large {'float32' if m == 'exact' else m} matrix products "
                                    "and wide 3x3 convolutions",
                          "gflops": _best_peak(peaks, m), "matmul_gflops": _peak_gflops(peaks["peak", m]),
                          "conv_gflops": _peak_gflops(peaks["peak-conv", m])} for m in modes}
    record["nominal_peak"] = nominal_peak_gflops(device)
    record["load_average_after"] = os.getloadavg()
    _paper_ratios(record)
    print(f"load average (1, 5, 15 min) before {_load(record['load_average_before'])}, after "
          f"{_load(record['load_average_after'])}: other work on the machine slows every contestant")
    print("peak (measured): " + ", ".join(f"{m} {v['gflops']:.0f} GFLOP/s (matrix product {v['matmul_gflops']:.0f}, "
                                           f"3x3 convolution {v['conv_gflops']:.0f})"
                                           for m, v in record["peak"].items() if v["gflops"])
          + f"; nominal {record['nominal_peak']}")
    return record


def _load(avg) -> str:
    return " ".join(f"{x:.1f}" for x in avg)


def paper_ratios(record: dict) -> list[tuple[str, float, float]]:
    """(label, the kit's exact time ratio to FCN-AlexNet in this record, Table 1's) for FCN-VGG16 and
    FCN-GoogLeNet: ratios compare across machines, times do not."""
    ms = {f["net"]: r["ms"] for f in record["families"] for r in f["rows"]
          if r["contestant"] == "kit exact" and r.get("ms")}
    alex = paper_ms("voc-fcn-alexnet")
    out = []
    for net, label in (("voc-fcn32s", "FCN-VGG16"), ("voc-fcn-googlenet", "FCN-GoogLeNet")):
        paper = paper_ms(net)
        if net in ms and "voc-fcn-alexnet" in ms and paper and alex:
            out.append((label, ms[net] / ms["voc-fcn-alexnet"], paper / alex))
    return out


def _paper_ratios(record: dict) -> None:
    nets_of = {"FCN-VGG16": "voc-fcn32s", "FCN-GoogLeNet": "voc-fcn-googlenet"}
    for label, ours, paper in paper_ratios(record):
        note = "; the kit's FCN-GoogLeNet runs its trunk on the input padded by 100 pixels a side" \
            if label == "FCN-GoogLeNet" else ""
        print(f"{label} / FCN-AlexNet time ratio (kit exact): {ours:.2f}, paper Table 1 {paper:.2f} (K40c: "
              f"{paper_ms(nets_of[label]):g} / {paper_ms('voc-fcn-alexnet'):g} ms{note})")


def _peak_gflops(w: Worker) -> float | None:
    if not w.times:
        return None
    return w.info["flop"] / (min(w.times) / 1000) / 1e9


def _best_peak(peaks: dict[tuple[str, str], Worker], mode: str) -> float | None:
    """The better of the matrix-product and the convolution peak measured in ``mode``."""
    found = [g for g in (_peak_gflops(peaks[kind, mode]) for kind in ("peak", "peak-conv")
                         if (kind, mode) in peaks) if g]
    return max(found) if found else None


def _rows(name: str, workers: list[Worker], peaks: dict[tuple[str, str], Worker], size: int) -> list[dict]:
    ref = {w.label: w.ms for w in workers}
    caffe_ms = next((w.ms for w in workers if w.label.lower().startswith("caffe")), None)
    torchfcn_ms = ref.get("torchfcn 1.9.7")
    rows = []
    for w in workers:
        row = {"contestant": w.label, "detail": w.info.get("detail", ""), "unavailable": w.unavailable}
        if "winograd" in w.info:
            row["winograd"] = w.info["winograd"]
        if w.ms is not None:
            mode = w.label.split()[-1] if w.label.startswith("kit ") else "exact"
            macs = w.info.get("macs") or inference.macs(nets.build(name), (size, size), windowed=False)
            peak = _best_peak(peaks, mode)
            gmacs = macs / 1e9 / (w.ms / 1000)
            row.update(ms=w.ms, min_ms=min(w.times), times_ms=w.times, gmac=macs / 1e9, gmac_per_s=gmacs,
                       cpu_ms=statistics.median(w.cpu_times) if w.cpu_times else None,
                       peak_fraction=(2 * gmacs / peak) if peak else None, peak_mib=w.peak_mib,
                       vs_caffe=(caffe_ms / w.ms) if caffe_ms else None,
                       vs_torchfcn=(torchfcn_ms / w.ms) if torchfcn_ms else None)
        rows.append(row)
    return rows


def _print_table(name: str, rows: list[dict], steps: bool = False) -> None:
    """One net's rows. With ``steps`` the ratio columns are to the first row (the plain path) and to the row
    before (what that step bought) instead of to Caffe and torchfcn."""
    print(f"\n{name}")
    ratios = ("x plain", "x prev") if steps else ("x Caffe", "x torchfcn")
    print(f"  {'contestant':48s} {'ms':>9s} {'min ms':>9s} {'CPU ms':>9s} {ratios[0]:>8s} {ratios[1]:>10s} "
          f"{'GMAC':>6s} {'GMAC/s':>7s} {'% peak':>6s} {'MiB':>6s}")

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    prev = None
    for r in rows:
        if r.get("ms") is None:
            print(f"  {r['contestant']:48s} {r['unavailable'] or 'no result'}")
            continue
        if steps:
            first = rows[0].get("ms")
            a, b = (first / r["ms"] if first else None), (prev / r["ms"] if prev else None)
            prev = r["ms"]
        else:
            a, b = r["vs_caffe"], r["vs_torchfcn"]
        print(f"  {r['contestant']:48s} {r['ms']:9.1f} {r['min_ms']:9.1f} {f(r.get('cpu_ms'), '9.1f'):>9s} "
              f"{f(a, '8.2f'):>8s} {f(b, '10.2f'):>10s} "
              f"{r['gmac']:6.1f} {r['gmac_per_s']:7.1f} "
              f"{f(r['peak_fraction'] and 100 * r['peak_fraction'], '6.1f'):>6s} {f(r['peak_mib'], '6.0f'):>6s}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.inference",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"nets (default: {', '.join(FAMILIES)})")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--runs", type=int, help="timed rounds (default 20 on CUDA, 5 on CPU)")
    parser.add_argument("--device", action="append", help="cpu, cuda (default: cpu, and cuda when present)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads per contestant")
    parser.add_argument("--modes", nargs="*", help="precision modes of the kit (default: all the device runs)")
    parser.add_argument("--external", action="append", default=[], metavar="LABEL=COMMAND",
                        help="another contestant: a command speaking the worker protocol; {net} {size} {threads} "
                             "are filled in (make bench: Caffe)")
    parser.add_argument("--no-torchfcn", action="store_true")
    parser.add_argument("--emulated-bf16", action="store_true",
                        help="on a CPU without native bf16, also time bf16 autocast (which the kit does not offer)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its algorithms per input size (torch.backends.cudnn.benchmark)")
    parser.add_argument("--steps", action="store_true", help="what each speed-up of the exact path buys")
    records.add_json_option(parser, "bench[-steps]-<device>.json")
    parser.add_argument("--worker", choices=["kit", "torchfcn", "peak", "peak-conv"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="exact", help=argparse.SUPPRESS)
    parser.add_argument("--step", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if args.worker:
        device = torch.device((args.device or ["cpu"])[0])
        return worker(args.worker, args.names[0] if args.names else "", args.mode, args.size, device, args.step)
    try:  # every --device checked before any worker starts (nets.precision.check_device)
        devices = [P.check_device(d) for d in (args.device or (["cpu", "cuda"] if torch.cuda.is_available()
                                                               else ["cpu"]))]
    except P.UnavailableDevice as e:
        raise SystemExit(f"benchmarks.inference: --device: {e}") from None
    if args.json is not None and len(devices) > 1:
        raise SystemExit(f"benchmarks.inference: --json {args.json} names one record, and {len(devices)} devices "
                         "would each write one there; give one --device, or leave --json out "
                         "(results/bench-<device>.json)")
    if args.json is not None:
        records.output(args, "", "benchmarks.inference")
    unknown = [n for n in args.names if n not in nets.NAMES]
    if unknown:  # the hub spelling is a net; anything else gets the closest names
        try:
            args.names = [nets.canonical_name(n) for n in args.names]
        except KeyError as e:
            raise SystemExit(f"benchmarks.inference: {e.args[0]}") from None
    args.names_steps = (args.names or ["voc-fcn8s"])[0]
    if args.steps:
        args.names = [args.names_steps]
    for device in devices:
        args.runs = args.runs or (20 if device.type == "cuda" else 5)
        if device.type == "cuda":
            args.external = [e for e in args.external if "cuda" in e.lower()]  # the Caffe build is CPU only
        record = bench_device(args, device)
        path = args.json or records.RESULTS / f"bench{'-steps' if args.steps else ''}-{device.type}.json"
        records.write(record, path, argv, "benchmarks.inference")
    return 0


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
