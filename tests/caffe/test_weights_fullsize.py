"""Full-size caffemodels written by REAL Caffe read bit-identically without Caffe (make test-caffe).

For every reference net (deploy prototxt from nets.prototxt) and for VGG16 as an ILSVRC classifier in the old
V1 format (as the real VGG_ILSVRC_16_layers.caffemodel), Caffe writes seeded random weights as a caffemodel of
the real size (500+ MB for the VGG nets) and, in the same process, loads the file back into a fresh net that
must hold those weights bit for bit (harness.save_caffemodel); weights.caffemodel must then give the same
arrays bit for bit. One file at a time in a temporary folder, removed after each net.
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path

import numpy as np
import pytest

import nets
from nets.layers import bilinear_kernel
from nets.prototxt import deploy_prototxt
from weights.caffemodel import iter_layers, open_buffer, read_caffemodel
from weights.convert import convert
from weights.transplant import transplant

pytestmark = pytest.mark.caffe

# VGG16 as released for ILSVRC (Simonyan & Zisserman): 3x3 convs with pad 1, fc6..fc8 InnerProduct, 224x224.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def vgg16_ilsvrc() -> tuple[str, dict[str, list[tuple[int, ...]]]]:
    """The deploy prototxt of VGG16's ILSVRC classifier and its blob shapes."""
    lines = ['name: "VGG_ILSVRC_16_layers"',
             'layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 224 '
             'dim: 224 } } }']
    shapes: dict[str, list[tuple[int, ...]]] = {}
    bottom, c_in = "data", 3
    for block, n, c in VGG16_BLOCKS:
        for i in range(1, n + 1):
            name = f"conv{block}_{i}"
            lines.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                         f"convolution_param {{ num_output: {c} pad: 1 kernel_size: 3 }} }}")
            lines.append(f'layer {{ name: "relu{block}_{i}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            shapes[name] = [(c, c_in, 3, 3), (c,)]
            bottom, c_in = name, c
        lines.append(f'layer {{ name: "pool{block}" type: "Pooling" bottom: "{bottom}" top: "pool{block}" '
                     "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }")
        bottom = f"pool{block}"
    for name, n_out, n_in in (("fc6", 4096, 512 * 7 * 7), ("fc7", 4096, 4096), ("fc8", 1000, 4096)):
        lines.append(f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
                     f"inner_product_param {{ num_output: {n_out} }} }}")
        if name != "fc8":
            lines.append(f'layer {{ name: "relu{name[2]}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            lines.append(f'layer {{ name: "drop{name[2]}" type: "Dropout" bottom: "{name}" top: "{name}" '
                         "dropout_param { dropout_ratio: 0.5 } }")
        shapes[name] = [(n_out, n_in), (n_out,)]
        bottom = name
    lines.append('layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }')
    return "\n".join(lines) + "\n", shapes


def random_params(shapes: dict[str, list[tuple[int, ...]]], seed: int) -> dict[str, list[np.ndarray]]:
    """Seeded float32 blobs whose sign and 23 mantissa bits are all random (exponent 2^-7..2^0, so every value
    is a finite normal number with 2^-7 <= |x| < 2): a bit-exact check then exercises every bit a weight can
    carry. Raw PCG64 words (no per-value transform) make a VGG-sized net in well under a second, where normal
    draws take several seconds."""
    bits = np.random.PCG64(seed)
    return {name: [random_floats(bits, shape) for shape in blobs] for name, blobs in shapes.items()}


def random_floats(bits: np.random.PCG64, shape: tuple[int, ...]) -> np.ndarray:
    n = math.prod(shape)
    words = bits.random_raw((n + 1) // 2).view(np.uint32)[:n]
    words &= 0x83FF_FFFF  # keep the sign, the mantissa and the exponent's low 3 bits
    words |= 0x3C00_0000  # exponent 120..127 (bias 127)
    return words.view(np.float32).reshape(shape)


def assert_bit_identical(ours: dict, given: dict) -> None:
    """The kit's arrays are float32 in the given (Caffe's) shapes with the same bits, layer by layer."""
    assert set(ours) == set(given)
    for name, blobs in given.items():
        assert len(ours[name]) == len(blobs), name
        for i, (mine, theirs) in enumerate(zip(ours[name], blobs, strict=True)):
            assert mine.dtype == np.float32 and mine.shape == theirs.shape, (name, i, mine.dtype, mine.shape)
            assert np.array_equal(mine.view(np.uint32), theirs.view(np.uint32)), (name, i)


def assert_streamed_bit_identical(model: Path, given: dict) -> None:
    """weights.caffemodel decodes ``model`` layer by layer from a memory map (views, no copies: a two-stream
    net is 1.1 GB) into exactly the layers of ``given``, blob for blob float32 with the same shapes and bits."""
    seen = []
    with open_buffer(model) as buf:
        for layer, fmt in iter_layers(buf, model.name):
            assert fmt == "layer", layer.name
            if layer.blobs:
                seen.append(layer.name)
                assert_bit_identical({layer.name: layer.blobs}, {layer.name: given.get(layer.name, [])})
            del layer  # no view into the map may outlive it
    assert sorted(seen) == sorted(given)


@pytest.mark.parametrize("name", nets.NAMES)
def test_fullsize_caffemodel_written_by_caffe_reads_bit_identical(caffe, tmp_path, name):
    prototxt = deploy_prototxt(name, 64, 64)  # the input size does not change parameter shapes
    given = random_params(nets.spec(name).param_shapes(), seed=sum(map(ord, name)))
    # Caffe writes the file (Net::ToProto) and loads it back into a fresh net, which must hold ``given`` bit for
    # bit (CaffeError otherwise): so ``given`` is Caffe's parameters, as Caffe itself reads them from the file.
    model = caffe.save_caffemodel(prototxt, given, tmp_path / f"{name}.caffemodel")
    size = model.stat().st_size
    assert size >= sum(b.nbytes for blobs in given.values() for b in blobs)
    start = time.perf_counter()
    assert_streamed_bit_identical(model, given)
    seconds = time.perf_counter() - start
    print(f"{name}: {size / 1e6:.0f} MB caffemodel by Caffe, read and compared in {seconds:.1f} s")
    model.unlink()


def test_fullsize_vgg16_v1_caffemodel_reads_bit_identical_and_transplants_into_fcn32s(caffe, tmp_path):
    prototxt, shapes = vgg16_ilsvrc()
    given = random_params(shapes, seed=16)
    # The V1 file is composed with caffe_pb2 and proven by Caffe: loaded (UpgradeV1Net) into a fresh net, every
    # blob must equal ``given`` bit for bit.
    model = caffe.save_caffemodel(prototxt, given, tmp_path / "VGG_ILSVRC_16_layers.caffemodel", v1=True)
    ours = read_caffemodel(model)
    assert ours.format == "layers"
    assert_bit_identical(ours.blobs(), given)
    # Legacy dims (1, 1, out, in) and (1, 1, 1, out) come out in the shapes Caffe gives them.
    assert ours.blobs()["fc6"][0].shape == (4096, 25088) and ours.blobs()["fc8"][1].shape == (1000,)
    del ours
    gc.collect()

    start = time.perf_counter()
    h5 = convert(model, tmp_path / "vgg16.h5", log=None)
    print(f"VGG16 V1 ({model.stat().st_size / 1e6:.0f} MB) converted in {time.perf_counter() - start:.1f} s")
    model.unlink()
    out = transplant("voc-fcn32s", [h5], log=None)
    assert np.array_equal(out["fc6"][0], given["fc6"][0].reshape(4096, 512, 7, 7))
    assert np.array_equal(out["fc7"][0], given["fc7"][0].reshape(4096, 4096, 1, 1))
    assert np.array_equal(out["conv1_1"][0], given["conv1_1"][0])
    assert np.array_equal(out["upscore"][0], bilinear_kernel(21, 64).numpy())
    assert not out["score_fr"][0].any() and not out["score_fr"][1].any()
