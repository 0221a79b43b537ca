"""Real Caffe in ``make bench``: ``.venv/bin/python benchmarks/caffe_contestant.py NET SIZE THREADS``.

benchmarks/inference.py starts this as a worker (``--external "Caffe=... {net} {size} {threads}"``). It writes the kit's
deploy prototxt of NET for a SIZE x SIZE input (for voc-fcn8s the reference's deploy.prototxt, whose test-time
Dropout layers Caffe runs as copies) and runs caffe_worker.py under the pycaffe interpreter with OpenBLAS
limited to THREADS threads. Without a Caffe build it prints one line saying so (and how to build it) and exits.
The Caffe build is the parity tests' (tests/caffe/build_caffe.sh); tests/caffe/harness.py says where it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "caffe"))  # harness.py: where the Caffe build is
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
from nets.prototxt import deploy_prototxt  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n")[0], file=sys.stderr)
        return 2
    name, size, threads = argv[0], int(argv[1]), argv[2]
    try:
        env = harness.caffe_env()
        python = harness.caffe_python()
    except harness.CaffeNotBuilt as err:
        print(json.dumps({"unavailable": f"not built ({err})"}), flush=True)
        return 0
    env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    with tempfile.TemporaryDirectory(prefix="fcn-bench-caffe-") as tmp:
        prototxt = Path(tmp) / f"{name}.prototxt"
        prototxt.write_text(deploy_prototxt(name, size, size))
        done = subprocess.run([str(python), str(HERE / "caffe_worker.py"), "--prototxt", str(prototxt)], env=env,
                              check=False)
    return done.returncode


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(lambda: main(sys.argv[1:])))
