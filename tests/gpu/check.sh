#!/usr/bin/env bash
# The GPU check in one command: bash tests/gpu/check.sh [--cpu-dry-run] [--weights voc-fcn8s.h5]
#
# Needs no network. It runs tests/gpu/check.py with the first interpreter that has a CUDA-enabled torch and the
# kit's other imports (numpy, scipy, h5py, PIL, pytest, tqdm): $FCN_PYTHON if set, the checkout's .venv, then
# the machine's own python3 (a GPU machine's image usually brings torch with CUDA; the kit's pins are for CPU
# machines). Wheels for anything missing can travel with the checkout in .whl/ (pip install --no-index); the
# script names what is missing otherwise. --cpu-dry-run accepts a CPU-only torch.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_cuda=1
for arg in "$@"; do [[ "$arg" == "--cpu-dry-run" ]] && need_cuda=0; done

probe='import importlib, sys, torch
missing = [m for m in ("numpy", "scipy", "h5py", "PIL", "pytest", "tqdm") if importlib.util.find_spec(m) is None]
if missing: sys.exit("missing " + " ".join(missing))
if '"$need_cuda"' and not torch.cuda.is_available(): sys.exit("no CUDA device visible to torch " + torch.__version__)'

python=""
for candidate in "${FCN_PYTHON:-}" .venv/bin/python python3; do
  [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null || continue
  if why=$("$candidate" -c "$probe" 2>&1); then python="$candidate"; break; fi
  echo "check.sh: $candidate: ${why##*$'\n'}" >&2
done
if [[ -z "$python" && -d .whl ]]; then
  echo "check.sh: installing the wheels in .whl/ (no index) for python3" >&2
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  if why=$(python3 -c "$probe" 2>&1); then python=python3; else echo "check.sh: python3: $why" >&2; fi
fi
if [[ -z "$python" ]]; then
  echo "check.sh: no interpreter with a CUDA torch and the kit's imports (see above); set FCN_PYTHON or carry" \
       "wheels in .whl/" >&2
  exit 2
fi
echo "check.sh: using $python ($("$python" -c 'import torch; print("torch", torch.__version__)'))"
export PYTHONUNBUFFERED=1
exec "$python" tests/gpu/check.py "$@"
