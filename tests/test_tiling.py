"""Tiled inference (nets.tiling) gives the untiled scores, and its memory estimate bounds the real peak.

Every net family runs narrowed (the reference's layers, kernels, strides, pads and crops with a few channels per
trunk layer, seeded random weights), on pictures whose sizes are not multiples of the grid, with a budget forced
small enough that several tiles are run; the untiled forward fits the machine too and is the reference. Scores
agree to 1e-5 of the largest score (float32 rounding of sums taken in other orders, as tests/test_fast.py
allows between the fast and the plain path).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import nets
import weights
from nets import tiling
from tiny_nets import narrow_net

RTOL = 1e-5
# One net per family: VGG16 at each stride, at-once with its Scale layers, AlexNet, GoogLeNet, the two-input
# NYUD nets (early and late fusion) and SIFT Flow's two heads.
FAMILIES = ["voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn8s-atonce", "voc-fcn-alexnet", "voc-fcn-googlenet",
            "nyud-fcn32s-color-d", "nyud-fcn32s-color-hha", "siftflow-fcn8s"]


def _net(name: str) -> nets.CaffeNet:
    return narrow_net(name, seed=1, factor=16).eval()


def _inputs(net, height: int, width: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, height, width, generator=gen) * 60 for c in net.spec.inputs.values()]


def _untiled(net, xs) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = net(*xs)
    return out if isinstance(out, tuple) else (out,)


def _budget_for_tiles(net, xs, keep: int, labels: bool = False) -> int:
    """A budget that fits tiles keeping ``keep`` x ``keep`` pixels and not the whole picture."""
    margin = tiling.halo(net.spec)
    h, w = xs[0].shape[2:]
    held = tiling.plan_for(net, *xs, max_memory=2**62, labels=labels).fixed
    return held + math.ceil(tiling.HEADROOM * tiling.peak_bytes(net.spec, min(h, keep + 2 * margin),
                                                               min(w, keep + 2 * margin)))


def _worst(ours, theirs) -> float:
    return max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(ours, theirs, strict=True))


# The fast tier tiles the families whose geometry covers the others' (FCN-8s: every skip crop; AlexNet: another
# trunk and grid; the late-fusion net: two inputs, two streams); the slow tier, which CI runs, tiles the rest, whose
# pictures are larger (GoogLeNet's margin is 416 pixels) and would take a third of the fast tier's budget.
FAST_FAMILIES = ("voc-fcn8s", "voc-fcn-alexnet", "nyud-fcn32s-color-hha")


@pytest.mark.parametrize("name", [n if n in FAST_FAMILIES else pytest.param(n, marks=pytest.mark.slow)
                                  for n in FAMILIES])
def test_tiled_scores_equal_the_untiled_forward_for_every_net_family(name):
    net = _net(name)
    margin = tiling.halo(net.spec)
    # Two kept parts a side at least, plus margins, and sizes off the grid (the right and bottom edges).
    h, w = 2 * margin + 3 * 32 + 7, 2 * margin + 4 * 32 + 19
    xs = _inputs(net, h, w)
    budget = _budget_for_tiles(net, xs, keep=96)  # the widest kept part under h - 2 margins: the fewest tiles
    plan = tiling.plan_for(net, *xs, max_memory=budget)
    assert len(plan.tiles) > 1 and len({r for r, _ in plan.tiles}) > 1 and len({c for _, c in plan.tiles}) > 1
    assert plan.peak * tiling.HEADROOM + plan.fixed <= budget < (tiling.HEADROOM * tiling.peak_bytes(net.spec, h, w)
                                                                 + plan.fixed)
    with torch.no_grad():
        tiled = tiling.forward(net, *xs, max_memory=budget, progress=False)
    untiled = _untiled(net, xs)
    assert [t.shape for t in tiled] == [u.shape for u in untiled]
    assert _worst(tiled, untiled) <= RTOL


@pytest.mark.slow  # 56 tiles of a two-headed net; the fast tier's infer --max-memory test reduces tiles to labels
def test_tiled_label_maps_equal_the_untiled_argmax():
    net = _net("siftflow-fcn16s")
    xs = _inputs(net, 700, 650, seed=2)
    budget = _budget_for_tiles(net, xs, keep=96, labels=True)
    assert tiling.plan_for(net, *xs, max_memory=budget, labels=True).tiled
    with torch.no_grad():
        tiled = tiling.forward(net, *xs, max_memory=budget, labels=True, progress=False)
    for labels, scores in zip(tiled, _untiled(net, xs), strict=True):
        assert labels.dtype == torch.uint8
        agree = float((labels[:, 0] == scores.argmax(dim=1)).double().mean())
        assert agree >= 0.9999  # ties within float32 rounding may flip, as between the fast and plain paths


def test_a_picture_that_fits_runs_as_one_forward_equal_to_the_plain_call():
    net = _net("voc-fcn8s")
    xs = _inputs(net, 300, 217)
    assert not tiling.plan_for(net, *xs).tiled  # the default budget (4 GiB on a CPU)
    with torch.no_grad():
        ours = tiling.forward(net, *xs, progress=False)
    assert torch.equal(ours[0], _untiled(net, xs)[0])


def _kept_scores(net, xs, rows: tiling.Span, cols: tiling.Span) -> torch.Tensor:
    with torch.no_grad():
        return tiling._tile(net, tuple(xs), rows, cols, torch.device("cpu"), labels=False)[0]


def test_a_tile_origin_off_the_stride_grid_breaks_exactness():
    """The mutation the grid guards against: the same kept part, read with margins longer than the reach, from
    an origin on the grid (exact) and from one 16 pixels off it (pooling windows shifted: other scores)."""
    net = _net("voc-fcn32s")
    grid, reach = tiling.stride(net.spec), tiling.reach(net.spec)
    assert grid == 32
    h, w = 200, 2 * grid + 2 * tiling.halo(net.spec) + 64
    xs = _inputs(net, h, w, seed=3)
    untiled = _untiled(net, xs)[0]
    keep = (2 * grid + math.ceil(reach), w)  # the kept columns, up to the picture's right edge
    rows = tiling.Span(0, h, 0, h)
    on_grid = _kept_scores(net, xs, rows, tiling.Span(grid, w, *keep))
    off_grid = _kept_scores(net, xs, rows, tiling.Span(grid + 16, w, *keep))
    expected = untiled[:, :, :, keep[0]:keep[1]]
    assert _worst([on_grid], [expected]) <= RTOL
    assert _worst([off_grid], [expected]) > 1e-2


def test_a_margin_short_of_the_reach_breaks_exactness():
    """The other half of the claim: an origin on the grid but a margin of one grid step (32 < reach 233) leaves
    kept scores that read the tile's zero band instead of the picture."""
    net = _net("voc-fcn32s")
    grid = tiling.stride(net.spec)
    h, w = 200, 12 * grid + 5
    xs = _inputs(net, h, w, seed=4)
    keep = (8 * grid, w)
    rows = tiling.Span(0, h, 0, h)
    short = _kept_scores(net, xs, rows, tiling.Span(keep[0] - grid, w, *keep))
    full = _kept_scores(net, xs, rows, tiling.Span(keep[0] - tiling.halo(net.spec), w, *keep))
    expected = _untiled(net, xs)[0][:, :, :, keep[0]:keep[1]]
    assert _worst([full], [expected]) <= RTOL
    assert _worst([short], [expected]) > 1e-2


def test_the_grid_and_reach_derive_from_the_layer_geometry():
    # every blob's stride divides 32; the reach grows with each skip's upsampling; GoogLeNet sees furthest
    assert {tiling.stride(nets.spec(n)) for n in nets.NAMES} == {32}
    assert [tiling.reach(nets.spec(n)) for n in ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s")] == [233, 241, 245]
    assert tiling.halo(nets.spec("voc-fcn8s")) == 256
    assert tiling.halo(nets.spec("voc-fcn-googlenet")) == 416


# ---- memory -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILIES)
def test_the_blob_sizes_the_estimate_counts_are_those_forward_blobs_holds(name):
    net = _net(name)
    xs = _inputs(net, 131, 97)
    with torch.no_grad():
        blobs = net.forward_blobs(*xs)
    assert tiling.blob_bytes(net.spec, 131, 97) == {b: t.numel() * t.element_size() for b, t in blobs.items()}


class _TensorPeak(TorchDispatchMode):
    """The most bytes of tensor storage allocated by the ops run under it and alive at once (a storage an op
    returns that none of its arguments holds is new; it counts until it is freed)."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.now -= self.live.pop(key)[1]
        held = {a.untyped_storage().data_ptr() for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in held and key not in self.live:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.now += storage.nbytes()
        self.peak = max(self.peak, self.now)
        return out


# How far above the measured peak the estimate may be: it counts a copy of each convolution's bottom that the
# fast path mostly avoids at small sizes (it makes the estimate an upper bound at voc-fcn8s' full width:
# benchmarks/tiled_inference.py), and GoogLeNet's inception branches free blobs sooner than the layer order says.
ESTIMATE_FACTOR = 2.5


@pytest.mark.parametrize("name", FAMILIES)
def test_the_peak_estimate_bounds_the_measured_tensor_peak_of_a_forward_within_a_factor(name):
    net = _net(name)
    xs = _inputs(net, 300, 260)
    with torch.no_grad():
        net(*xs)  # the fast path's caches (far-field constants, edge responses) are per weight set, not per call
        meter = _TensorPeak()
        with meter:
            net(*xs)
    measured = meter.peak + sum(x.numel() * x.element_size() for x in xs)
    estimate = tiling.peak_bytes(net.spec, 300, 260)
    assert measured <= estimate <= ESTIMATE_FACTOR * measured, (measured, estimate)


def test_a_budget_too_small_for_any_tile_names_the_least_that_works():
    net = _net("voc-fcn8s")
    xs = _inputs(net, 900, 800)
    with pytest.raises(tiling.MemoryBudgetError) as e:
        tiling.plan_for(net, *xs, max_memory=2**20)
    message = str(e.value)
    assert message.startswith("voc-fcn8s: a memory budget of 1.00 MiB is too small for a 800x900 picture")
    least = int(message.split("give --max-memory ")[1].split("MiB")[0])
    assert tiling.plan_for(net, *xs, max_memory=least * 2**20).tiled


@pytest.mark.parametrize("text, expected", [("2GiB", 2 * 2**30), ("1500MB", 1_500_000_000), ("512 MiB", 2**29),
                                            ("0.5GiB", 2**29), ("3000", 3000), ("4gib", 4 * 2**30)])
def test_memory_sizes_read_binary_and_decimal_units(text, expected):
    assert tiling.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["2 gigs", "GiB", "-1GiB", "0"])
def test_a_memory_size_without_a_number_and_unit_is_refused_with_examples(text):
    with pytest.raises(ValueError, match=r"expected a positive number with an optional unit .* e\.g\. 2GiB"):
        tiling.parse_bytes(text)


# ---- the command ------------------------------------------------------------------------------------------------

def test_infer_with_max_memory_writes_the_label_map_of_one_forward(tmp_path, monkeypatch, capsys):
    from reproduce import infer

    net = _net("voc-fcn32s")
    weights_file = weights.save(net, tmp_path / "narrow.h5")
    monkeypatch.setattr(nets, "build", lambda name, variant=None: _net(name))
    picture = tmp_path / "big.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (650, 700, 3), dtype=np.uint8)).save(picture)
    xs = [torch.zeros(1, 3, 650, 700)]
    budget = _budget_for_tiles(net, xs, keep=96, labels=True)
    assert infer.main(["voc-fcn32s", "--weights", str(weights_file), str(picture), "-o", str(tmp_path / "one")]) == 0
    assert infer.main(["voc-fcn32s", "--weights", str(weights_file), str(picture), "-o", str(tmp_path / "tiles"),
                       "--max-memory", str(budget)]) == 0
    err = capsys.readouterr().err
    assert "voc-fcn32s 700x650 in " in err and " tiles (est. " in err  # the progress bar
    with Image.open(tmp_path / "one" / "big.png") as one, Image.open(tmp_path / "tiles" / "big.png") as tiles:
        assert np.mean(np.asarray(one) == np.asarray(tiles)) >= 0.9999


def test_infer_refuses_a_max_memory_that_is_not_a_size(tmp_path, capsys):
    from reproduce import infer

    with pytest.raises(SystemExit) as e:
        infer.main(["voc-fcn32s", "--weights", "w.h5", "x.jpg", "-o", str(tmp_path), "--max-memory", "lots"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --max-memory: memory size 'lots': expected a positive number" in err
    assert "Traceback" not in err
