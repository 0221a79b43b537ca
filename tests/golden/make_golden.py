"""Regenerate the golden fixtures from real Caffe: ``FCN_REGEN_GOLDEN=1 .venv/bin/python tests/golden/make_golden.py``.

For every kit net (nets.NAMES: the fifteen reference nets and the paper's two, FCN-GoogLeNet and the NYUD
FCN-16s RGB-HHA, or those named on the command line): the seeded parity case of tests/parity.py
(weights regenerated from the seed, never stored), run once through real Caffe with its loss layers, forward
and backward. Stored per net in ``tests/golden/<net>.h5``: the inputs and labels, every blob's shape and max
|value| plus values at seeded positions, both loss normalisations, and the same samples of every parameter
gradient and input gradient, plus the argmax map of each output. A blob or layer name holding '/' (GoogLeNet's
``inception_3a/1x1``) is a path of nested groups. Needs ``bash tests/caffe/build_caffe.sh``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "caffe"), str(HERE.parents[1])]

import harness  # noqa: E402
import nets  # noqa: E402
import parity  # noqa: E402
from nets.prototxt import deploy_prototxt  # noqa: E402

SAMPLES = 48  # values kept per blob: enough to catch any misalignment, small enough to commit
SEED = 0


def recipe_normalize(name: str) -> bool:
    return nets.record(name).solver.normalize  # FCN-AlexNet and FCN-GoogLeNet normalise; the heavy recipe sums


def sample_positions(key: str, size: int) -> np.ndarray:
    """Seeded flat positions for one array (the seed derives from the blob key, so it is stable per blob)."""
    rng = np.random.RandomState(sum(ord(c) * 31**i for i, c in enumerate(key)) % 2**32)
    return np.sort(rng.choice(size, min(SAMPLES, size), replace=False)).astype(np.int64)


def store_array(group: h5py.Group, key: str, array: np.ndarray) -> None:
    sub = group.create_group(key)
    flat = np.asarray(array, np.float32).ravel()
    pos = sample_positions(f"{group.name}/{key}", flat.size)
    sub.attrs["shape"] = np.asarray(array.shape, np.int64)
    sub.attrs["max_abs"] = float(np.abs(flat).max()) if flat.size else 0.0
    sub.create_dataset("positions", data=pos)
    sub.create_dataset("values", data=flat[pos])


def second_loss(prototxt: str, spec: nets.NetSpec, normalize: bool) -> str:
    extra = [f'layer {{ name: "{n}_other" type: "SoftmaxWithLoss" bottom: "{s}" bottom: "{lab}" top: "{n}_other" '
             f"loss_weight: 0 loss_param {{ ignore_label: 255 normalize: {'false' if normalize else 'true'} }} }}"
             for n, s, lab in spec.losses]
    return prototxt + "\n".join(extra) + "\n"


def generate(name: str, out_dir: Path) -> Path:
    spec = nets.spec(name)
    params = parity.random_params(name, SEED)
    inputs = parity.random_inputs(name, SEED)
    labels = parity.random_labels(name, SEED)
    h, w = parity.INPUT_SIZES[name]
    normalize = recipe_normalize(name)
    text = deploy_prototxt(name, h, w, offsets=parity.caffe_crop_offsets(name, harness, h, w), with_loss=True,
                           normalize=normalize)
    res = harness.forward(second_loss(text, spec, normalize), params, {**inputs, **labels}, backward=True)
    path = out_dir / f"{name}.h5"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(net=name, seed=SEED, normalize=normalize, samples=SAMPLES,
                           generator="tests/golden/make_golden.py", caffe=harness.caffe_home().name)
            grp = f.create_group("inputs")
            for k, v in inputs.items():
                grp.create_dataset(k, data=v, compression="gzip")
            grp = f.create_group("labels")
            for k, v in labels.items():
                grp.create_dataset(k, data=v.astype(np.uint8), compression="gzip")
            blobs = f.create_group("blobs")
            for b, v in res["blobs"].items():
                if parity.is_caffe_split(b) or b in labels or b.startswith("loss"):
                    continue
                store_array(blobs, b, v)
            loss = f.create_group("loss")
            for n, _, _ in spec.losses:
                loss.attrs[n] = float(res["blobs"][n].reshape(()))
                loss.attrs[f"{n}_other"] = float(res["blobs"][f"{n}_other"].reshape(()))
            grads = f.create_group("param_diff")
            for layer in spec.layers:
                if layer.type == "Convolution":
                    for i, d in enumerate(res["param_diff"][layer.name]):
                        store_array(grads, f"{layer.name}.{i}", d)
            dgrp = f.create_group("input_diff")
            for i in spec.inputs:
                store_array(dgrp, i, res["blob_diff"][i])
            amax = f.create_group("argmax")
            for o in spec.outputs:
                amax.create_dataset(o, data=res["blobs"][o].argmax(axis=1).astype(np.uint8), compression="gzip")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def main(argv: list[str]) -> int:
    if os.environ.get("FCN_REGEN_GOLDEN") != "1":
        print("refusing to overwrite the golden fixtures: set FCN_REGEN_GOLDEN=1 to regenerate them", file=sys.stderr)
        return 2
    names = argv or list(nets.NAMES)
    for name in names:
        path = generate(name, HERE)
        print(f"{name}: {path.name} {path.stat().st_size / 1024:.0f} KiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
