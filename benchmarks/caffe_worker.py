"""Real Caffe as a benchmark worker of ``.venv/bin/python -m benchmarks.inference`` (run by caffe_contestant.py under
pycaffe).

Loads a deploy prototxt, fills it with seeded random weights (He-scaled convolution weights uniform on [-a, a]
with a = sqrt(6 / fan_in), biases uniform in [-0.1, 0.1], bilinear upsampling kernels: the distributions of the
kit's nets.seeded, though not the same numbers, since this interpreter has no torch to import the kit with) and
a random input on the scale of mean-subtracted pixels, then speaks benchmarks.inference's worker protocol: one
JSON line when ready, one per ``run`` line on stdin (Net::Forward over every layer, in milliseconds), and its
peak resident memory on ``quit``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

import caffe  # noqa: E402


def bilinear(channels: int, k: int) -> np.ndarray:
    f = (k + 1) // 2
    centre = f - 1 if k % 2 == 1 else f - 0.5
    og = np.arange(k, dtype=np.float64)
    filt = np.outer(1 - np.abs(og - centre) / f, 1 - np.abs(og - centre) / f)
    w = np.zeros((channels, channels, k, k), dtype=np.float32)
    w[range(channels), range(channels)] = filt
    return w


def fill(net: caffe.Net, seed: int) -> None:
    rng = np.random.RandomState(seed)
    types = dict(zip(net._layer_names, (layer.type for layer in net.layers), strict=True))
    for name, blobs in net.params.items():
        w = blobs[0].data
        if types[name] == "Deconvolution":
            w[...] = bilinear(w.shape[0], w.shape[2]) if w.shape[0] == w.shape[1] else 0
            continue
        if types[name] == "Scale":
            continue  # a constant factor; its value does not change the time
        fan_in = int(np.prod(w.shape[1:]))
        bound = np.sqrt(6.0 / fan_in)  # variance 2 / fan_in, as nets.seeded
        w[...] = rng.uniform(-bound, bound, w.shape).astype(np.float32)
        if len(blobs) > 1:
            blobs[1].data[...] = rng.uniform(-0.1, 0.1, blobs[1].data.shape).astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prototxt", required=True)
    p.add_argument("--label", default="Caffe")
    args = p.parse_args()
    caffe.set_mode_cpu()
    net = caffe.Net(args.prototxt, caffe.TEST)
    fill(net, 0)
    rng = np.random.RandomState(1)
    for name in net.inputs:
        net.blobs[name].data[...] = (rng.standard_normal(net.blobs[name].data.shape) * 60).astype(np.float32)
    last = len(net.layers) - 1
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "?")
    print(json.dumps({"ready": True, "label": args.label, "threads": threads,
                      "detail": f"BVLC Caffe (CPU, OpenBLAS {threads} threads), the kit's deploy prototxt"}),
          flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            start, cpu = time.perf_counter(), time.process_time()
            net._forward(0, last)
            print(json.dumps({"ms": (time.perf_counter() - start) * 1000,
                              "cpu_ms": (time.process_time() - cpu) * 1000}), flush=True)
        elif cmd == "quit":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"peak_mib": peak}), flush=True)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
