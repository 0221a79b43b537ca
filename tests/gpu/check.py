"""The GPU check of the precision and speed work, in one run: ``bash tests/gpu/check.sh`` on a CUDA machine.

Steps, each timed, then one table (and results/gpu-check.json):

1. parity: ``pytest -m gpu --require-gpu`` over the golden fixtures (every net, plain and inference path, exact
   precision, the CPU's tolerances), the layer-semantics tests, the inference path and the precision tests
   (TF32 off inside an exact CUDA forward, fast-mode agreement thresholds);
2. agreement: every fast mode against exact on voc-fcn8s at 500x500 (nets.precision.agreement), seeded
   random weights unless ``--weights`` gives released ones (random weights make near-ties, so the 99.9%
   argmax target is judged only on released weights);
3. bench: ``python -m benchmarks.inference voc-fcn8s`` on CUDA, batch 1, 500x500, every mode (plus exact with
   cudnn.benchmark on); targets: exact <= 8 ms, the fastest mode <= 2 ms with argmax agreement >= 99.9%;
4. evaluation throughput: 736 generated VOC-sized JPEG + PNG pairs (a VOC-like mix of 500x375, 375x500,
   500x333, 333x500 and 500x500) through data.eval_loader (decoding in worker processes, pinned memory) and the
   net (non-blocking copies), argmax and a confusion matrix on the device; target 15 s in exact precision. The
   generated tree is made before the clock starts; cuDNN autotunes here, since the five sizes repeat;
5. training: voc-fcn32s steps (forward, Caffe's SoftmaxWithLoss, backward, Caffe's SGD update with the
   reference's multipliers) on VOC-sized images in exact precision: steps per second, no target.

``--cpu-dry-run`` runs every step on the CPU at tiny sizes (a few images, small inputs, one pytest case) so that
the script itself is tested without a GPU (tests/test_gpu_check.py does, in the fast suite).
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import data  # noqa: E402
import nets  # noqa: E402
from benchmarks.inference import make_inputs  # noqa: E402
from data import miniature  # noqa: E402
from nets import precision as P  # noqa: E402
from nets.seeded import seeded_weights  # noqa: E402

EVAL_IMAGES = 736  # seg11valid's size
# A VOC-like mix of image sizes (height, width) and their shares of the split.
VOC_SIZES = (((375, 500), 0.55), ((500, 375), 0.25), ((333, 500), 0.08), ((500, 333), 0.07), ((500, 500), 0.05))
TARGETS = {"exact_ms": 8.0, "fastest_ms": 2.0, "fastest_argmax": 99.9, "eval_s": 15.0}


def step_parity(dry: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if dry:
        cmd += ["tests/test_golden.py", "-k", "inference_path and voc-fcn-alexnet and cpu"]
    else:
        cmd += ["-m", "gpu", "--require-gpu", "tests/test_golden.py", "tests/test_nets.py", "tests/test_inference.py",
                "tests/test_precision.py"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    tail = (done.stdout + done.stderr).strip().splitlines()
    summary = next((line for line in reversed(tail) if " passed" in line or " failed" in line or "error" in line),
                   tail[-1] if tail else "")
    return {"ok": done.returncode == 0, "summary": summary.strip("= "), "seconds": time.perf_counter() - start,
            "log_tail": tail[-40:]}


def step_agreement(device: torch.device, size: int, weights: Path | None) -> dict:
    net = nets.build("voc-fcn8s")
    if weights is not None:
        import weights as kit_weights

        kit_weights.load(net, weights)
    else:
        seeded_weights(net)
    net = net.to(device)
    inputs = [make_inputs(net, size, device, seed=s)[0] for s in (1, 2, 3)]
    modes = [m for m in P.available(device) if m != "exact"]
    if not modes:  # the dry run on a CPU without native bf16: the emulated arithmetic, to exercise the step
        modes = [P.Precision("bf16-emulated", "dry run only", torch.bfloat16, False, ("cpu",))]
    out = {}
    for mode in modes:
        result = P.agreement(net, mode, inputs)
        out[result.mode] = result.as_record()
    return {"weights": str(weights) if weights else "seeded random (near-ties: the 99.9% target is not judged)",
            "modes": out}


def step_bench(device: torch.device, size: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="fcn-gpu-check-") as tmp:
        records = {}
        variants = [("default", [])] + ([("cudnn.benchmark", ["--cudnn-benchmark"])] if device.type == "cuda" else [])
        for label, extra in variants:
            path = Path(tmp) / f"{label}.json"
            cmd = [sys.executable, "-m", "benchmarks.inference", "voc-fcn8s", "--device", device.type,
                   "--size", str(size), "--runs", str(runs), "--json", str(path), *extra]
            if label != "default":
                cmd += ["--modes", "exact", "--no-torchfcn"]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return {"ok": False, "error": done.stderr[-2000:]}
            records[label] = json.loads(path.read_text())
    rows = {r["contestant"]: r for r in records["default"]["families"][0]["rows"] if r.get("ms")}
    bench_rows = {r["contestant"]: r for r in records["cudnn.benchmark"]["families"][0]["rows"] if r.get("ms")} \
        if "cudnn.benchmark" in records else {}
    return {"ok": True, "device": records["default"]["device"], "rows": rows, "size": size,
            "exact_cudnn_benchmark": bench_rows.get("kit exact"), "peak": records["default"]["peak"]}


class MixedReader:
    """Several generated VOC trees (one per image size) read as one split, in order: what eval_loader needs."""

    def __init__(self, readers):
        self.readers = readers
        self.index = [(r, i) for r in readers for i in range(len(r))]
        self.ids = [r.ids[i] for r, i in self.index]
        self.tops = readers[0].tops

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int):
        reader, i = self.index[k]
        return reader[i]


def generate_voc(root: Path, n: int, sizes) -> MixedReader:
    """``n`` VOC-sized JPEG + palette PNG pairs under ``root``, one VOC tree per size (data.miniature)."""
    readers = []
    first = 0
    for k, (size, share) in enumerate(sizes):
        count = n - first if k == len(sizes) - 1 else round(n * share)
        ids = miniature.voc_ids(count, first)
        first += count
        tree = miniature.build_voc(root / f"VOC-{size[0]}x{size[1]}", splits={"val": ids}, size=size, seed=k)
        readers.append(data.load("voc", "val", tree, expect_split=None))
    return MixedReader(readers)


def step_eval(device: torch.device, n: int, sizes, workers: int) -> dict:
    """Throughput of an evaluation pass: decode (in eval_loader's workers), forward, argmax, confusion matrix."""
    net = seeded_weights(nets.build("voc-fcn8s")).to(device)
    classes = net.num_classes
    with tempfile.TemporaryDirectory(prefix="fcn-gpu-eval-") as tmp:
        start = time.perf_counter()
        reader = generate_voc(Path(tmp), n, sizes)
        generated = time.perf_counter() - start
        hist = torch.zeros(classes * classes, dtype=torch.int64, device=device)
        seen = 0
        saved = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = device.type == "cuda"  # five sizes, each met ~150 times: tuning pays
        with torch.inference_mode():
            net(*make_inputs(net, 64, device))  # the one-off start-up (CUDA context, kernels) stays out
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _, tops in data.eval_loader(reader, workers=workers):
                x = tops["data"].to(device, non_blocking=True)
                label = tops["label"].to(device, non_blocking=True).long().view(-1)
                pred = net(x).argmax(1).view(-1)
                keep = label < classes
                hist += torch.bincount(classes * label[keep] + pred[keep], minlength=classes * classes)
                seen += 1
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
        torch.backends.cudnn.benchmark = saved
    return {"images": seen, "seconds": seconds, "images_per_s": seen / seconds, "generation_s": generated,
            "pixels_counted": int(hist.sum()), "workers": workers,
            "sizes": [f"{h}x{w}" for (h, w), _ in sizes]}


def step_train(device: torch.device, steps: int, sizes) -> dict:
    """voc-fcn32s training steps at batch 1 on VOC-sized random images and labels, the plain (autograd) path in
    exact precision: Caffe's loss (normalize false, ignore 255) and SGD update (lr 1e-10, momentum 0.99, the
    reference's heavy recipe)."""
    from nets.layers import softmax_with_loss
    from nets.solver import CaffeSGD

    net = seeded_weights(nets.build("voc-fcn32s")).to(device).train()
    sgd = CaffeSGD(net, 1e-10, 0.99, 5e-4, 1)
    gen = torch.Generator().manual_seed(3)
    batches = []
    for k in range(steps + 1):
        h, w = sizes[k % len(sizes)][0]
        batches.append(((torch.randn(1, 3, h, w, generator=gen) * 60).to(device),
                        torch.randint(0, 21, (1, h, w), generator=gen).to(device)))

    def one(x, label):
        sgd.zero_grad()
        loss = softmax_with_loss(net(x), label, normalize=False)
        loss.backward()
        sgd.step()
        return loss

    with P.EXACT.applied(device):
        one(*batches[0])  # start-up outside the clock
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for x, label in batches[1:]:
            loss = one(x, label)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds, "last_loss": float(loss),
            "sizes": [f"{h}x{w}" for (h, w), _ in sizes]}


def table(result: dict, dry: bool) -> list[str]:
    def verdict(ok):
        return "-" if dry else ("PASS" if ok else "FAIL")

    lines = [f"GPU check on {result['device']}" + (" (CPU DRY RUN: tiny sizes, no targets judged)" if dry else ""),
             f"{'step':11s} {'what':52s} {'measured':>22s} {'target':>12s}  verdict"]
    par = result["parity"]
    lines.append(f"{'parity':11s} {'pytest -m gpu: golden, layers, inference path, precision':52s} "
                 f"{par['summary'][:22]:>22s} {'all pass':>12s}  {verdict(par['ok'])}")
    for mode, rec in result["agreement"]["modes"].items():
        lines.append(f"{'agreement':11s} {mode + ' vs exact, argmax % / max rel error':52s} "
                     f"{rec['argmax_agreement_percent']:9.3f} / {rec['max_rel_score_error']:9.2e} "
                     f"{'(see note)':>12s}  -")
    bench = result["bench"]
    if bench.get("ok"):
        rows = bench["rows"]
        exact = rows.get("kit exact")
        what = f"kit exact, ms per {bench['size']}x{bench['size']} forward (batch 1)"
        lines.append(f"{'bench':11s} {what:52s} {exact['ms']:22.2f} "
                     f"{'<= 8 ms':>12s}  {verdict(exact['ms'] <= TARGETS['exact_ms'])}")
        cb = bench.get("exact_cudnn_benchmark")
        if cb:
            lines.append(f"{'bench':11s} {'kit exact with cudnn.benchmark':52s} {cb['ms']:22.2f} {'<= 8 ms':>12s}  "
                         f"{verdict(cb['ms'] <= TARGETS['exact_ms'])}")
        for label, row in rows.items():
            if label in ("kit exact",):
                continue
            lines.append(f"{'bench':11s} {label + ', ms':52s} {row['ms']:22.2f} {'':>12s}  -")
        fast_rows = {k.split()[-1]: v for k, v in rows.items() if k.startswith("kit ") and k != "kit exact"}
        if fast_rows:
            mode, row = min(fast_rows.items(), key=lambda kv: kv[1]["ms"])
            agree = result["agreement"]["modes"].get(mode, {}).get("argmax_agreement_percent")
            judged = result["agreement"]["weights"].startswith("seeded") is False
            ok = row["ms"] <= TARGETS["fastest_ms"] and (agree is not None and agree >= TARGETS["fastest_argmax"])
            lines.append(f"{'bench':11s} {'fastest mode: ' + mode + ', ms / argmax %':52s} "
                         f"{row['ms']:12.2f} / {agree if agree is not None else float('nan'):7.3f} "
                         f"{'<=2 / >=99.9':>12s}  "
                         f"{verdict(ok) if judged else verdict(row['ms'] <= TARGETS['fastest_ms']) + ' (time only)'}")
    else:
        lines.append(f"{'bench':11s} {'benchmarks.inference failed':52s} {'':>22s} {'':>12s}  {verdict(False)}")
    ev = result["eval"]
    lines.append(f"{'eval':11s} {str(ev['images']) + ' VOC-sized images, decode + forward + hist (exact)':52s} "
                 f"{ev['seconds']:20.2f} s {'<= 15 s':>12s}  {verdict(ev['seconds'] <= TARGETS['eval_s'])}")
    tr = result["train"]
    lines.append(f"{'train':11s} {'voc-fcn32s steps/s, VOC-sized images, batch 1 (exact)':52s} "
                 f"{tr['steps_per_s']:22.2f} {'-':>12s}  -")
    lines.append(f"note: agreement on {result['agreement']['weights']}; total {result['seconds']:.0f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu-dry-run", action="store_true", help="every step on the CPU at tiny sizes")
    p.add_argument("--weights", type=Path, help="released voc-fcn8s weights (.h5 or .caffemodel) for agreement")
    p.add_argument("--json", type=Path, default=ROOT / "results" / "gpu-check.json")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    args = p.parse_args(argv)
    dry = args.cpu_dry_run
    if not dry and not torch.cuda.is_available():
        print("tests/gpu/check.sh: no CUDA device is visible (torch.cuda.is_available() is False); on a CPU use "
              "--cpu-dry-run", file=sys.stderr)
        return 2
    device = torch.device("cpu" if dry else "cuda")
    start = time.perf_counter()
    result = {"device": P.describe(device), "dry_run": dry, "torch": torch.__version__}
    print("1/5 parity ...", flush=True)
    result["parity"] = step_parity(dry)
    print("2/5 agreement ...", flush=True)
    result["agreement"] = step_agreement(device, 48 if dry else 500, args.weights)
    print("3/5 bench ...", flush=True)
    result["bench"] = step_bench(device, 48 if dry else 500, 1 if dry else 20)
    print("4/5 evaluation throughput ...", flush=True)
    sizes = (((40, 48), 0.5), ((48, 40), 0.5)) if dry else VOC_SIZES
    result["eval"] = step_eval(device, 6 if dry else EVAL_IMAGES, sizes, 0 if dry else args.workers)
    print("5/5 training step rate ...", flush=True)
    result["train"] = step_train(device, 2 if dry else 20, sizes)
    result["seconds"] = time.perf_counter() - start
    lines = table(result, dry)
    print("\n".join(lines))
    if not result["parity"]["ok"]:
        print("\nparity log (tail):\n" + "\n".join(result["parity"]["log_tail"]))
    from data.files import write_text

    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.json, json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {args.json}")
    return 0 if result["parity"]["ok"] and result["bench"].get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
