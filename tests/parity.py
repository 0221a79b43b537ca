"""Parity cases shared by the real-Caffe tests and the golden fixtures: seeded weights, inputs, comparisons.

Nothing here imports Caffe. The Caffe side of every comparison gets its crop offsets from
REFERENCE_CROP_OFFSETS, a literal copy of the reference's table, or, for a net the reference never published
(FCN-GoogLeNet), from Caffe's own net-spec coord_map (``caffe_crop_offsets``); never from the kit's geometry, so
that one bug cannot sit on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

import nets

# The reference's crop offsets, typed out per net and crop layer: the Caffe side of every comparison keeps its
# own copy on purpose, so that one bug in nets.geometry cannot sit on both sides.
REFERENCE_CROP_OFFSETS: dict[str, dict[str, int]] = {
    "voc-fcn32s": {"score": 19},
    "voc-fcn16s": {"score_pool4c": 5, "score": 27},
    "voc-fcn8s": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "voc-fcn8s-atonce": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "voc-fcn-alexnet": {"score": 18},
    "nyud-fcn32s-color": {"score": 19},
    "nyud-fcn32s-hha": {"score": 19},
    "nyud-fcn32s-color-d": {"score": 19},
    "nyud-fcn32s-color-hha": {"score": 19},
    "siftflow-fcn32s": {"score_sem": 19, "score_geo": 19},
    "siftflow-fcn16s": {"score_pool4_semc": 5, "score_sem": 27, "score_pool4_geoc": 5, "score_geo": 27},
    "siftflow-fcn8s": {"score_pool4_semc": 5, "score_pool3_semc": 9, "score_sem": 31,
                       "score_pool4_geoc": 5, "score_pool3_geoc": 9, "score_geo": 31},
    "pascalcontext-fcn32s": {"score": 19},
    "pascalcontext-fcn16s": {"score_pool4c": 5, "score": 27},
    "pascalcontext-fcn8s": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
}

# Odd, non-square input sizes per net (small enough for a 2-core CPU, large enough for several score cells).
INPUT_SIZES: dict[str, tuple[int, int]] = {name: (37 + 2 * (i % 4), 53 - 2 * (i % 3))
                                           for i, name in enumerate(REFERENCE_CROP_OFFSETS)}
# FCN-GoogLeNet: 55 rows make each of its four stride-2 poolings round up (ceil mode), 39 columns three of them.
INPUT_SIZES["voc-fcn-googlenet"] = (55, 39)
# The two-stream FCN-16s: odd sizes whose pool4 blobs differ from upscore2's by more than the crop in both axes.
INPUT_SIZES["nyud-fcn16s-color-hha"] = (43, 35)

# Tolerances of the forward comparison (issue: per blob max|ours - caffe| / max|caffe|, argmax agreement).
FORWARD_RTOL = 1e-4
ARGMAX_AGREEMENT = 0.9999

# Rows for the end-of-session table (printed by tests/conftest.py).
REPORT: list[tuple[str, str, str, float, str]] = []


def caffe_crop_offsets(name: str, harness, height: int, width: int) -> dict[str, int]:
    """The crop offsets the Caffe side runs ``name`` with: the reference's literal table, or for a net the
    reference never published the offsets Caffe's net-spec coord_map derives from the kit's prototxt (written
    with placeholder offsets 0, so nothing of the kit's derivation reaches Caffe). ``harness`` is
    tests/caffe/harness.py."""
    if name in REFERENCE_CROP_OFFSETS:
        return REFERENCE_CROP_OFFSETS[name]
    from nets.prototxt import deploy_prototxt

    placeholder = {x.name: 0 for x in nets.spec(name).layers if x.type == "Crop"}
    crops = harness.coord_map_offsets(deploy_prototxt(name, height, width, offsets=placeholder))["crops"]
    out = {}
    for crop, derived in crops.items():
        if derived["axis"] != 2 or len(set(derived["offset"])) != 1:
            raise ValueError(f"{name}: coord_map gives crop {crop} axis {derived['axis']} offsets "
                             f"{derived['offset']}; the kit's crops take one offset for H and W from axis 2")
        out[crop] = derived["offset"][0]
    return out


def random_params(name: str | nets.NetSpec, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Seeded parameters in Caffe's layout ``{layer: [blob0, blob1]}``: He-scaled convolution weights (uniform
    on [-a, a] with a = sqrt(6 / fan_in), i.e. variance 2 / fan_in), biases uniform in [-0.1, 0.1], bilinear
    Deconvolution kernels and the reference's Scale constants.

    Draws come from numpy's legacy RandomState (a stream that is stable across numpy versions) as 16-bit
    integers, 20x faster than normal draws: a VGG16 net's 134M weights take well under a second."""
    rng = np.random.RandomState(seed)
    spec = nets.spec(name) if isinstance(name, str) else name
    # The kit's shape function: Caffe checks every blob's shape itself when the harness copies them in.
    params: dict[str, list[np.ndarray]] = {}
    for layer_name, shapes in spec.param_shapes().items():
        layer = spec.layer(layer_name)
        if layer.type == "Convolution":
            fan_in = int(np.prod(shapes[0][1:]))
            params[layer_name] = [_uniform(rng, shapes[0], np.sqrt(6.0 / fan_in)), _uniform(rng, shapes[1], 0.1)]
        elif layer.type == "Deconvolution":
            params[layer_name] = [nets.bilinear_kernel(layer.num_output, layer.kernel_size).numpy()]
        elif layer.type == "Scale":
            params[layer_name] = [np.full(shapes[0], layer.scale_value, np.float32)]
    return params


def _uniform(rng: np.random.RandomState, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """Uniform float32 on (-bound, bound) from seeded int16 draws (centred: (i + 0.5) / 2^15)."""
    ints = rng.randint(-(2**15), 2**15, shape, dtype=np.int16)
    # In place: the same float32 operations as ((ints + 0.5) * step), bit for bit, without two temporaries of
    # the blob's size (a VGG net's fc6 is 400 MB of float32; twice as fast).
    out = ints.astype(np.float32)
    out += np.float32(0.5)
    out *= np.float32(bound / 2**15)
    return out


def random_inputs(name: str, seed: int = 0, size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs: images on the scale of mean-subtracted pixels, depth on the scale of log depth."""
    rng = np.random.RandomState(1000 + seed)
    spec = nets.spec(name)
    h, w = size or INPUT_SIZES[name]
    out = {}
    for blob, c in spec.inputs.items():
        scale = 1.0 if blob == "depth" else 60.0
        out[blob] = (rng.standard_normal((1, c, h, w)) * scale).astype(np.float32)
    return out


def random_labels(name: str, seed: int = 0, size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Seeded labels per loss, N x 1 x H x W float (as Caffe feeds them), with about 10% ignore (255)."""
    rng = np.random.RandomState(2000 + seed)
    spec = nets.spec(name)
    h, w = size or INPUT_SIZES[name]
    out = {}
    for _, score, label in spec.losses:
        c = spec.layer(spec.layer(score).bottom[0]).num_output  # score = crop(upscore..., data)
        lab = rng.randint(0, c, (1, 1, h, w))
        lab[rng.uniform(size=lab.shape) < 0.1] = 255
        out[label] = lab.astype(np.float32)
    return out


def load_params(net: nets.CaffeNet, params: dict[str, list[np.ndarray]]) -> nets.CaffeNet:
    """Copy Caffe-layout params into the net by the identity name map (blob 0 -> weight, 1 -> bias), strictly."""
    state = net.state_dict()
    names = ("weight", "bias")
    wanted = {f"{layer}.{names[i]}": torch.from_numpy(np.asarray(a)) for layer, blobs in params.items()
              for i, a in enumerate(blobs)}
    if set(wanted) != set(state):
        raise KeyError(f"params and net differ: missing {sorted(set(state) - set(wanted))}, "
                       f"unexpected {sorted(set(wanted) - set(state))}")
    net.load_state_dict(wanted, strict=True)
    return net


def is_caffe_split(name: str) -> bool:
    """Caffe's automatic Split layers and their tops: ``<blob>_<layer>_<i>_split[_<j>]``."""
    return re.search(r"_split(_\d+)?$", name) is not None


def max_rel_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs| (0 when both are all zero)."""
    scale = float(np.abs(theirs).max())
    diff = float(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max())
    return diff / scale if scale > 0 else diff


def argmax_agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float((ours.argmax(axis=1) == theirs.argmax(axis=1)).mean())


@dataclass
class BlobComparison:
    blob: str
    rel_error: float
    shape_ours: tuple[int, ...]
    shape_caffe: tuple[int, ...]


def compare_blobs(ours: dict[str, np.ndarray], caffe: dict[str, np.ndarray]) -> list[BlobComparison]:
    """Compare every blob the two sides share; shapes are asserted separately by the caller."""
    return [BlobComparison(b, max_rel_error(ours[b], caffe[b]) if ours[b].shape == caffe[b].shape else float("inf"),
                           tuple(ours[b].shape), tuple(caffe[b].shape)) for b in caffe if b in ours]


def keep_conv_tops(net: nets.CaffeNet) -> dict[str, torch.Tensor]:
    """Make every Convolution's output keep its gradient after backward, by layer name: the terms a bias gradient
    sums, whose L1 mass is the scale its float32 rounding grows with."""
    tops: dict[str, torch.Tensor] = {}

    def keep(layer_name: str):
        def hook(module, args, output):
            output.retain_grad()
            tops[layer_name] = output
        return hook

    for layer in net.layers:
        if layer.type == "Convolution":
            getattr(net, layer.name).register_forward_hook(keep(layer.name))
    return tops
