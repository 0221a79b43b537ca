"""The NYUD build from NYU's originals (data.nyud): time per image and memory, on a miniature set.

``.venv/bin/python -m benchmarks.nyud_build`` writes a miniature of NYU's originals (data.miniature: full-size
480 x 640 images in NYU's MATLAB v7.3 layout, gzip-compressed one image per chunk) to a temporary folder and
builds the NYUD folder from it with 1 and 2 worker processes, each build in a fresh process that imports only
the data package. It measures the wall time of the image phase (from the first image to the last, spawning the
workers included) and the peak resident memory of the build's process (its VmHWM) and of its largest worker
(getrusage of its children, which counts a worker's start as its parent's size at most); the whole build's
peak is at most the first plus the workers times the second. It also measures how fast the machine
hashes a file (MD5 and SHA-256 in one read, as data.download verifies NYU's 2,972,037,809-byte .mat).

The figures for the real set are an EXTRAPOLATION, stated as such: 1449 images at the measured CPU time per
image spread over the workers (as on that many idle cores: the wall time of a shared machine says more about
its other jobs), plus hashing the real file at the measured rate. The real .mat's chunking and compression are
MATLAB's, not the miniature's, so its reading time may differ. Writes results/bench-nyud-build.json (or
--json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import records

ROOT = Path(__file__).resolve().parent.parent
NYU_IMAGES, NYU_MAT_BYTES = 1449, 2_972_037_809
TARGET_SECONDS, TARGET_BYTES = 20 * 60, 2 * 2**30  # issue 26: the whole set in under 20 minutes, under 2 GB

# One build in a fresh process: the parts pointed at the miniature's files, every log line timed.
_CHILD = """
import dataclasses, hashlib, json, resource, sys, time
from pathlib import Path
from data import download
from data.download import PARTS, Checksum, Source

def vm_hwm():  # this process's own peak resident memory (ru_maxrss would carry the parent's across exec)
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


if __name__ == "__main__":
    files, root, workers = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    import data.nyud
    data.nyud.git_revision = lambda: "benchmark"  # no git child: the largest child is a worker
    parts = [dataclasses.replace(PARTS["nyud"], sources=())]
    for key in download.TARGETS["nyud"][1:]:
        path = Path(files[key])
        parts.append(dataclasses.replace(PARTS[key], sources=(Source(str(path), "miniature"),), size=None,
                                         checksums=(Checksum("md5", hashlib.md5(path.read_bytes()).hexdigest(),
                                                             "miniature"),)))
    lines = []
    start = time.perf_counter()
    download.download("nyud", root, parts=parts, workers=workers, progress=False,
                      log=lambda line: lines.append((time.perf_counter() - start, time.process_time(), line)))
    first = next((t, cpu) for t, cpu, line in lines if line.startswith("nyud: building "))
    last = next((t, cpu) for t, cpu, line in lines if line.startswith("nyud: built "))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers (their start-up included)
    print(json.dumps({"seconds_total": time.perf_counter() - start, "seconds_images": last[0] - first[0],
                      "cpu_seconds_images": last[1] - first[1] + children.ru_utime + children.ru_stime,
                      "peak_rss_main": vm_hwm(),
                      "peak_rss_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""


def hash_rate(folder: Path, mib: int = 256) -> float:
    """Bytes per second of MD5 and SHA-256 together over a file of ``mib`` MiB (one read, as data.download)."""
    from data.files import file_digests

    path = folder / "hash-me"
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    start = time.perf_counter()
    file_digests(path, ["sha256", "md5"])
    seconds = time.perf_counter() - start
    path.unlink()
    return mib * 2**20 / seconds


def build_once(files: dict[str, Path], root: Path, workers: int) -> dict:
    script = root.parent / "build_child.py"
    script.write_text(_CHILD)
    done = subprocess.run([sys.executable, str(script), json.dumps({k: str(v) for k, v in files.items()}), str(root),
                           str(workers)], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.nyud_build: the build with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    from data import miniature

    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.nyud_build",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12, help="images in the miniature (default 12)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    records.add_json_option(parser, "bench-nyud-build.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-nyud-build.json", "benchmarks.nyud_build")
    record = {"benchmark": "nyud-build", "machine": records.machine(), "images": args.images,
              "picture": "480 x 640 (cropped to 425 x 560), NYU's MATLAB v7.3 layout, gzip, one image per chunk",
              "nyu_images": NYU_IMAGES, "nyu_mat_bytes": NYU_MAT_BYTES, "target_seconds": TARGET_SECONDS,
              "target_bytes": TARGET_BYTES, "rows": []}
    with tempfile.TemporaryDirectory(prefix="fcn-nyud-bench-") as tmp:
        tmp = Path(tmp)
        files = miniature.build_nyu_originals(tmp / "originals", n=args.images,
                                              test=range(2, args.images + 1, 2), val=(1,), seed=9)
        record["hash_bytes_per_s"] = hash_rate(tmp)
        print(f"nyud build, {args.images} full-size images; MD5 + SHA-256 at "
              f"{record['hash_bytes_per_s'] / 2**20:.0f} MiB/s")
        for workers in args.workers:
            run = build_once(files, tmp / f"root-{workers}", workers)
            per_image = run["seconds_images"] / args.images
            # One worker builds in the main process: no worker of its own.
            peak = run["peak_rss_main"] + (workers * run["peak_rss_worker"] if workers > 1 else 0)
            cpu_per_image = run["cpu_seconds_images"] / args.images
            row = {"workers": workers, **run, "seconds_per_image": per_image, "cpu_seconds_per_image": cpu_per_image,
                   "folder_bytes_per_image": folder_bytes(tmp / f"root-{workers}" / "nyud") / args.images,
                   "peak_rss_bound": peak,
                   # On as many idle cores as workers: the CPU time spread over the workers.
                   "extrapolated_seconds": NYU_IMAGES * cpu_per_image / workers
                   + NYU_MAT_BYTES / record["hash_bytes_per_s"]}
            record["rows"].append(row)
            parts = f"main {run['peak_rss_main'] / 2**20:.0f}" + (
                f" + {workers} x {run['peak_rss_worker'] / 2**20:.0f}" if workers > 1 else "")
            print(f"  workers={workers}: {per_image:.2f} s per image (wall), {cpu_per_image:.2f} CPU s per image, "
                  f"peak {peak / 2**20:.0f} MiB ({parts}); EXTRAPOLATED to {NYU_IMAGES} images on {workers} idle "
                  f"core(s): {row['extrapolated_seconds'] / 60:.1f} min")
    records.write(record, path, argv, "benchmarks.nyud_build")


if __name__ == "__main__":
    main()
