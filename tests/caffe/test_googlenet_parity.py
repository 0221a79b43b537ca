"""FCN-GoogLeNet against real Caffe (make test-caffe): BVLC's own trunk, Caffe's coord_map, Caffe's pooling.

The whole net (every blob, both loss normalisations, every gradient, kit in float64) is one case of
test_net_parity.py, run with the crop offset Caffe's coord_map derives. Here:

- the kit's trunk computes what Caffe computes running BVLC's own ``models/bvlc_googlenet/deploy.prototxt``
  (read from the Caffe source package at test time, run up to inception_5b/output), every blob;
- Caffe's net-spec coord_map, given the kit's net with placeholder offsets, derives the kit's offset (101), and
  refuses the half-pixel crop a kernel-64 upsampling would need;
- MAX pooling with padding in ceil mode: sizes and values equal Caffe's for many input sizes and pooling shapes,
  including those where the last window would start in the padding.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nets
import parity
from nets import geometry, googlenet
from nets.layers import caffe_max_pool
from nets.prototxt import deploy_prototxt

pytestmark = pytest.mark.caffe

NAME = "voc-fcn-googlenet"
MODULES = [row[0] for row in googlenet.INCEPTION]


def bvlc_deploy(caffe) -> Path:
    path = caffe.caffe_source() / "models" / "bvlc_googlenet" / "deploy.prototxt"
    if not path.is_file():
        pytest.fail(f"BVLC's GoogLeNet deploy net is not at {path}; the Caffe source package should ship it "
                    "(rebuild with bash tests/caffe/build_caffe.sh)", pytrace=False)
    return path


# (63, 50): at BVLC's pad 3 all four stride-2 poolings round up along H, two of them along W; (31, 46): the
# smallest height that leaves inception_5b/output 1 pixel high.
@pytest.mark.parametrize("size", [(63, 50), (31, 46)])
def test_the_kit_trunk_computes_every_blob_of_bvlc_googlenets_own_deploy_prototxt(caffe, size):
    trunk = googlenet.trunk()
    params = parity.random_params(trunk, seed=3)
    x = (np.random.RandomState(5).standard_normal((1, 3, *size)) * 60).astype(np.float32)
    theirs = caffe.forward(bvlc_deploy(caffe).read_text(), params, {"data": x},
                           truncate_after="inception_5b/output")
    layers = [n for n in theirs["layers"] if not parity.is_caffe_split(n)]
    assert layers == ["data", *(x.name for x in trunk.layers)]
    caffe_blobs = {b: v for b, v in theirs["blobs"].items() if not parity.is_caffe_split(b)}
    net = parity.load_params(nets.CaffeNet(trunk), params).eval()
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in net.forward_blobs(torch.from_numpy(x)).items()}
    assert set(ours) == set(caffe_blobs)
    assert {b: v.shape for b, v in ours.items()} == {b: v.shape for b, v in caffe_blobs.items()}
    assert caffe_blobs["inception_5b/output"].shape[1:] == (1024, *geometry.blob_sizes(trunk, *size)[
        "inception_5b/output"])
    comparisons = parity.compare_blobs(ours, caffe_blobs)
    worst = max(comparisons, key=lambda c: c.rel_error)
    parity.REPORT.append((f"bvlc-googlenet trunk {size[0]}x{size[1]}", "forward blobs (float32)", worst.blob,
                          worst.rel_error, f"{parity.FORWARD_RTOL:g}"))
    assert np.abs(caffe_blobs["inception_5b/output"]).max() > 0
    bad = {c.blob: f"{c.rel_error:.2e}" for c in comparisons if not c.rel_error <= parity.FORWARD_RTOL}
    assert not bad, f"blobs beyond {parity.FORWARD_RTOL}: {bad}"


def test_caffes_coord_map_derives_the_kits_crop_offset_101(caffe):
    h, w = parity.INPUT_SIZES[NAME]
    derived = caffe.coord_map_offsets(deploy_prototxt(NAME, h, w, offsets={"score": 0}))
    assert derived["crops"] == {"score": {"axis": 2, "offset": [101]}}
    # Caffe's coord_map has no rule for Concat; the runner lets one through only after coord_map itself mapped
    # every branch onto the first with scale 1 and shift 0: all nine inception outputs.
    assert derived["concats_aligned"] == [f"{m}/output" for m in MODULES]
    assert derived["layers"] == len(nets.spec(NAME).layers) + 1  # and the Input layer
    assert parity.caffe_crop_offsets(NAME, caffe, h, w) == geometry.derive_crop_offsets(nets.spec(NAME))
    parity.REPORT.append((NAME, "crop offset: Caffe coord_map 101 vs kit 101", "score", 0.0, "exact"))


def test_caffes_coord_map_refuses_the_half_pixel_crop_of_a_kernel_64_upsampling(caffe):
    spec = googlenet.fcn_googlenet(NAME, 21)
    k64 = nets.NetSpec(spec.name, spec.inputs, tuple(dataclasses.replace(x, kernel_size=64) if x.name == "upscore"
                                                     else x for x in spec.layers), spec.outputs, None)
    with pytest.raises(caffe.CaffeError, match="cannot crop noninteger offset"):
        caffe.coord_map_offsets(deploy_prototxt(k64, 55, 39, offsets={"score": 0}))


# (kernel, stride, pad): GoogLeNet's 3/2/0 and 3/1/1, and shapes where the last window would start in the padding
# (p >= k - s + 1: 2/2/1, 3/3/1, 4/3/2).
POOLS = [(3, 2, 0), (3, 1, 1), (2, 2, 1), (3, 2, 1), (3, 3, 1), (4, 3, 2), (5, 3, 2), (2, 2, 0)]
# Where PyTorch's ceil mode and Caffe part ways (kernel < stride), so that caffe_max_pool refuses it.
REFUSED = [(1, 2, 0), (2, 3, 0)]
SIZES = range(1, 26)


def pooling_prototxt() -> str:
    tops = [f"x{n}" for n in SIZES]
    shapes = " ".join(f"shape {{ dim: 1 dim: 2 dim: {n} dim: {n + 3} }}" for n in SIZES)
    out = ['name: "pooling"', 'layer { name: "input" type: "Input" ' + " ".join(f'top: "{t}"' for t in tops)
           + f" input_param {{ {shapes} }} }}"]
    for k, s, p in POOLS + REFUSED:
        for n in SIZES:
            if n + 2 * p >= k:
                out.append(f'layer {{ name: "k{k}s{s}p{p}_{n}" type: "Pooling" bottom: "x{n}" top: "k{k}s{s}p{p}_{n}" '
                           f"pooling_param {{ pool: MAX kernel_size: {k} stride: {s} pad: {p} }} }}")
    return "\n".join(out) + "\n"


def test_max_pooling_with_padding_in_ceil_mode_matches_caffe_for_many_sizes(caffe):
    rng = np.random.RandomState(7)
    inputs = {f"x{n}": rng.standard_normal((1, 2, n, n + 3)).astype(np.float32) for n in SIZES}
    theirs = caffe.forward(pooling_prototxt(), {}, inputs)["blobs"]
    checked = dropped = 0
    for k, s, p in POOLS:
        for n in SIZES:
            if n + 2 * p < k:
                continue
            want = theirs[f"k{k}s{s}p{p}_{n}"]
            assert want.shape[2:] == (geometry.pool_out(n, k, s, p), geometry.pool_out(n + 3, k, s, p)), (k, s, p, n)
            got = caffe_max_pool(torch.from_numpy(inputs[f"x{n}"]), k, s, p).numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"pool k{k} s{s} p{p} on {n}x{n + 3}")
            checked += 1
            dropped += want.shape[2] < -(-(n + 2 * p - k) // s) + 1
    assert checked > 150 and dropped > 0  # the last-window rule did fire
    parity.REPORT.append(("pooling k/s/p grid", f"{checked} cases, {dropped} dropped windows", "-", 0.0, "exact"))
    # Where the kit refuses: Caffe's sizes differ from PyTorch's ceil mode for some input size.
    for k, s, p in REFUSED:
        assert any(theirs[f"k{k}s{s}p{p}_{n}"].shape[2:] != F.max_pool2d(
            torch.from_numpy(inputs[f"x{n}"]), k, s, p, ceil_mode=True).shape[2:] for n in SIZES if n >= k), (k, s, p)


@pytest.mark.parametrize("v1", [True, False])
def test_transplant_from_a_bvlc_googlenet_caffemodel_equals_caffes_own_copy_by_name(caffe, tmp_path, v1):
    """Caffe writes a caffemodel of BVLC's deploy net (trunk and loss3/classifier; the 2014 file is V1); the kit's
    surgery then fills voc-fcn-googlenet exactly as Caffe's own Net::CopyTrainedLayersFrom (the reference's
    ``solver.net.copy_from``) fills the kit's prototxt: every trunk blob bit for bit, score_fr zeros."""
    from weights.transplant import transplant

    deploy = bvlc_deploy(caffe).read_text()
    given = parity.random_params(googlenet.trunk(), seed=11)
    rng = np.random.RandomState(12)
    given["loss3/classifier"] = [(rng.standard_normal((1000, 1024)) * 0.01).astype(np.float32),
                                 rng.standard_normal(1000).astype(np.float32)]
    model = caffe.save_caffemodel(deploy, given, tmp_path / "bvlc_googlenet.caffemodel", v1=v1)
    ours = transplant(NAME, [model], log=None)
    theirs = caffe.dump_caffemodel(deploy_prototxt(NAME, 55, 39), model)
    assert set(ours) == set(theirs) == set(given) - {"loss3/classifier"} | {"score_fr", "upscore"}
    for layer, blobs in given.items():
        if layer != "loss3/classifier":
            for i, blob in enumerate(blobs):
                assert np.array_equal(ours[layer][i].view(np.uint32), blob.view(np.uint32)), (layer, i)
                assert np.array_equal(theirs[layer][i].view(np.uint32), blob.view(np.uint32)), (layer, i)
    assert not any(b.any() for b in ours["score_fr"] + theirs["score_fr"])  # Caffe's default filler: constant 0
