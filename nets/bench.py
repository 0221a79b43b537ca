"""Forward time and peak memory of each net family on one 500x500 image: ``python -m nets.bench``.

A benchmark, not a test: it prints a table (median over --runs passes after one warm-up, the device named) and
the time ratios beside the paper's Table 1 (K40c: FCN-AlexNet 50 ms, FCN-VGG16 210 ms). Each net runs in its own
process so that its peak memory (resident set on CPU, allocator peak on CUDA) is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

import nets

FAMILIES = ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn-alexnet", "nyud-fcn32s-color-hha", "siftflow-fcn8s")


def paper_ms(net: str) -> float | None:
    """Table 1's forward time of a net (one 500x500 image on a Tesla K40c), from its record."""
    row = nets.record(net).paper_row(1)
    return None if row is None else row.numbers.get("forward_ms")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def measure(name: str, size: int, runs: int, device: torch.device) -> dict:
    """Median forward time (ms) and peak memory (MiB) of one net, in this process."""
    torch.manual_seed(0)
    net = nets.build(name).to(device)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.01)
    inputs = [torch.randn(1, net.spec.inputs[i], size, size, device=device) for i in net.inputs]
    times = []
    with torch.inference_mode():
        for i in range(runs + 1):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            net(*inputs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first pass warms up allocators and kernels
                times.append((time.perf_counter() - start) * 1000)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"net": name, "median_ms": statistics.median(times), "min_ms": min(times), "peak_mib": peak,
            "device": device_name(device), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(FAMILIES), metavar="NAME")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--runs", type=int, help="timed passes per net (default 10 on CUDA, 3 on CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child mode: print one JSON line
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    args.runs = args.runs or (10 if device.type == "cuda" else 3)
    if args.one:
        print(json.dumps(measure(args.names[0], args.size, args.runs, device)))
        return 0
    results = []
    for name in args.names:
        cmd = [sys.executable, "-m", "nets.bench", name, "--one", "--size", str(args.size), "--runs",
               str(args.runs), "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{name}: benchmark process failed:\n{done.stderr}", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{name:24s} {r['median_ms']:9.1f} ms (min {r['min_ms']:.1f})  peak {r['peak_mib']:8.0f} MiB", flush=True)
    print(f"\ndevice: {results[0]['device']}; input {args.size}x{args.size}, "
          f"median of {args.runs} runs after a warm-up")
    by = {r["net"]: r["median_ms"] for r in results}
    if "voc-fcn32s" in by and "voc-fcn-alexnet" in by:
        ours = by["voc-fcn32s"] / by["voc-fcn-alexnet"]
        vgg, alex = paper_ms("voc-fcn32s"), paper_ms("voc-fcn-alexnet")
        print(f"FCN-VGG16 / FCN-AlexNet time ratio: ours {ours:.2f}, paper Table 1 {vgg / alex:.2f} "
              f"(K40c: {vgg:g} / {alex:g} ms)")
    if "voc-fcn8s" in by and "voc-fcn32s" in by:
        print(f"FCN-8s / FCN-32s time ratio: ours {by['voc-fcn8s'] / by['voc-fcn32s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
