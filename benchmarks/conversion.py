"""Time and memory of converting a full-size caffemodel: ``.venv/bin/python -m benchmarks.conversion``.

Without ``--caffemodel PATH`` it writes a VGG16-sized file (the ILSVRC classifier's 138M parameters, about
553 MB: the size of the released FCN caffemodels) with seeded random weights using the kit's own writer
(weights.caffemodel.write_caffemodel), in the V1 format by default as VGG16's real file, and says so. Each
measurement runs in a fresh child process, so the peak resident memory (VmHWM) is that of the conversion alone;
the memory of a child that only imports the same modules is reported as the baseline. Writes
results/bench-conversion.json (or --json), which ``.venv/bin/python -m benchmarks.report`` renders as
Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weights.caffemodel import write_caffemodel

from . import records

VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))

# What each child process runs (it then prints "<seconds> <peak KiB>").
STEPS = {
    "baseline": "import weights.convert, weights.caffemodel, h5py, numpy; t = 0.0",
    "convert": "from weights.convert import convert; t = time.perf_counter(); convert(SRC, DST, log=None, force=True); "
               "t = time.perf_counter() - t",
    "read": "from weights.caffemodel import read_caffemodel; t = time.perf_counter(); "
            "m = read_caffemodel(SRC); t = time.perf_counter() - t",
}


def vgg16_layers(seed: int) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    """VGG16 ILSVRC layers with random blobs, made one at a time so that the writer never holds them all."""
    rng = np.random.default_rng(seed)
    c_in = 3
    for block, n, c in VGG16_BLOCKS:
        for i in range(1, n + 1):
            yield (f"conv{block}_{i}", "Convolution", [rng.standard_normal((c, c_in, 3, 3), dtype=np.float32),
                                                       rng.standard_normal(c, dtype=np.float32)])
            yield f"relu{block}_{i}", "ReLU", []
            c_in = c
        yield f"pool{block}", "Pooling", []
    for name, n_out, n_in in (("fc6", 4096, 25088), ("fc7", 4096, 4096), ("fc8", 1000, 4096)):
        yield name, "InnerProduct", [rng.standard_normal((n_out, n_in), dtype=np.float32),
                                     rng.standard_normal(n_out, dtype=np.float32)]
    yield "prob", "Softmax", []


# The child's peak resident memory. VmHWM (Linux) belongs to the child's own address space; ru_maxrss would
# also count the parent's memory at fork time, which Linux carries across exec.
PEAK = ("def peak():\n"
        "    try:\n"
        "        for line in open('/proc/self/status'):\n"
        "            if line.startswith('VmHWM:'):\n"
        "                return int(line.split()[1])\n"
        "    except OSError:\n"
        "        pass\n"
        "    import resource\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n")


def measure(step: str, src: Path, dst: Path) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one step, run in a fresh child process that reports its own peak."""
    code = f"{PEAK}import time\nSRC, DST = {str(src)!r}, {str(dst)!r}\n{STEPS[step]}\nprint(t, peak())\n"
    root = Path(__file__).resolve().parent.parent
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"benchmark step {step} failed (exit status {done.returncode}):\n{done.stderr}")
    seconds, kib = done.stdout.split()[-2:]
    return float(seconds), int(kib) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.conversion",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--caffemodel", type=Path,
                        help="a caffemodel to convert (default: write a VGG16-sized one with "
                             "weights.caffemodel.write_caffemodel)")
    parser.add_argument("--current-format", action="store_true",
                        help="write the generated file in the current 'layer' format instead of V1")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where temporary files go (default: $TMPDIR)")
    records.add_json_option(parser, "bench-conversion.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-conversion.json", "benchmarks.conversion")
    record = {"benchmark": "conversion", "machine": records.machine(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="weights-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if args.caffemodel:
            src, origin = args.caffemodel, "given file"
        else:
            src = work / "vgg16-sized.caffemodel"
            start = time.perf_counter()
            write_caffemodel(src, vgg16_layers(0), v1=not args.current_format)
            fmt = "current 'layer'" if args.current_format else "V1 'layers'"
            seconds = time.perf_counter() - start
            origin = (f"generated by weights.caffemodel.write_caffemodel, NOT by Caffe ({fmt} format, VGG16 "
                      f"ILSVRC shapes, seeded random weights; written in {seconds:.1f} s)")
        size_mb = src.stat().st_size / 2**20
        # Page-cache state matters for the first read; one untimed pass makes every step start warm.
        with src.open("rb") as f:
            while f.read(1 << 24):
                pass
        print(f"caffemodel: {src.name}, {size_mb:.0f} MiB, {origin}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}")
        _, base = measure("baseline", src, work / "unused.h5")
        record.update(file=src.name if args.caffemodel else None, file_mib=size_mb, origin=origin, baseline_mib=base)
        for step in ("convert", "read"):
            seconds, peak = measure(step, src, work / "out.h5")
            what = "convert to .h5 (streamed)" if step == "convert" else "read_caffemodel (arrays in memory)"
            print(f"{what:<36} {seconds:6.2f} s   peak RSS {peak:7.0f} MiB = {peak / size_mb:.2f} x file "
                  f"({(peak - base) / size_mb:.2f} x above the {base:.0f} MiB of the imports alone)")
            record["rows"].append({"step": what, "seconds": seconds, "peak_mib": peak})
            (work / "out.h5").unlink(missing_ok=True)
    records.write(record, path, argv, "benchmarks.conversion")
    return 0


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
