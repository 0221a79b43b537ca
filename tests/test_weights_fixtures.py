"""The reader against caffemodels written by REAL Caffe (tests/fixtures/caffemodels, made by
tests/fixtures/make_caffemodel_fixtures.py): the arrays must be bit-identical to the parameters Caffe reports
after loading the same file, in both the current and the V1 format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

from weights.caffemodel import read_caffemodel
from weights.convert import convert
from weights.h5 import read_h5

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "caffemodels"
EXPECTED = FIXTURES / "expected_params.h5"
GENERATOR = "FCN_REGEN_FIXTURES=1 .venv/bin/python tests/fixtures/make_caffemodel_fixtures.py"
NAMES = ("narrow_current", "narrow_v1")


def caffe_reported(name: str) -> tuple[str, dict[str, list[np.ndarray]]]:
    if not EXPECTED.is_file() or not (FIXTURES / f"{name}.caffemodel").is_file():
        pytest.fail(f"fixture {name} is missing from {FIXTURES}; make it with `{GENERATOR}` (needs the Caffe "
                    "build of `bash tests/caffe/build_caffe.sh`)", pytrace=False)
    with h5py.File(EXPECTED) as f:
        group = f[name]
        return str(group.attrs["format"]), {
            layer: [group[layer][str(i)][()] for i in range(len(group[layer]))] for layer in group}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.mark.parametrize("name", NAMES)
def test_reader_is_bit_identical_to_the_parameters_caffe_loads(name):
    fmt, expected = caffe_reported(name)
    model = read_caffemodel(FIXTURES / f"{name}.caffemodel")
    assert model.format == fmt
    got = model.blobs()
    assert set(got) == set(expected)
    for layer, blobs in expected.items():
        assert len(got[layer]) == len(blobs), layer
        for i, (want, have) in enumerate(zip(blobs, got[layer], strict=True)):
            assert have.dtype == np.float32
            assert have.shape == want.shape, (layer, i)
            assert np.array_equal(bits(have), bits(want)), (layer, i)


def test_v1_fixture_covers_the_legacy_shapes_that_matter():
    _, expected = caffe_reported("narrow_v1")
    # Caffe gives InnerProduct weights two dims and keeps a 1-in 1-out convolution's four.
    assert expected["fc6"][0].shape == (8, 100) and expected["fc6"][1].shape == (8,)
    assert expected["conv1_1"][0].shape == (1, 1, 3, 3) and expected["conv1_1"][1].shape == (1,)


def test_reader_gives_caffe_type_strings_for_both_formats():
    current = {x.name: x.type for x in read_caffemodel(FIXTURES / "narrow_current.caffemodel").layers}
    v1 = {x.name: x.type for x in read_caffemodel(FIXTURES / "narrow_v1.caffemodel").layers}
    assert current["scale_pool"] == "Scale" and current["upscore"] == "Deconvolution"
    assert v1 == {"conv1_1": "Convolution", "relu1_1": "ReLU", "conv1_2": "Convolution", "pool1": "Pooling",
                  "fc6": "InnerProduct", "relu6": "ReLU", "drop6": "Dropout", "fc7": "InnerProduct",
                  "fc8": "InnerProduct", "prob": "Softmax"}


@pytest.mark.parametrize("name", NAMES)
def test_converted_h5_holds_the_same_bits(tmp_path, name):
    _, expected = caffe_reported(name)
    got = read_h5(convert(FIXTURES / f"{name}.caffemodel", tmp_path / f"{name}.h5", log=None)).blobs()
    assert set(got) == set(expected)
    for layer, blobs in expected.items():
        assert all(np.array_equal(bits(a), bits(b)) and a.shape == b.shape
                   for a, b in zip(blobs, got[layer], strict=True)), layer


def _generator():
    spec = importlib.util.spec_from_file_location("make_caffemodel_fixtures", FIXTURES.parent /
                                                  "make_caffemodel_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixtures_stay_small(monkeypatch, capsys):
    """The folder holds exactly what the generator makes, each fixture with the shapes it declares, under 200 kB in
    all; and the generator keeps them unless FCN_REGEN_FIXTURES=1 asks for new ones."""
    gen = _generator()
    made = {f"{n}.{ext}" for n in gen.FIXTURES for ext in ("caffemodel", "prototxt")} | {EXPECTED.name}
    assert {p.name for p in FIXTURES.iterdir()} == made and set(NAMES) == set(gen.FIXTURES)
    for name, (_, _, shapes) in gen.FIXTURES.items():
        _, params = caffe_reported(name)
        assert {k: [a.shape for a in v] for k, v in params.items()} == \
            {k: [tuple(s) for s in v] for k, v in shapes.items()}, name
    sizes = {p.name: p.stat().st_size for p in FIXTURES.iterdir()}
    assert sum(sizes.values()) < 200_000, f"fixtures take {sizes} bytes; keep them well under 1 MB"
    before = {p.name: p.stat().st_mtime_ns for p in FIXTURES.iterdir()}
    monkeypatch.delenv("FCN_REGEN_FIXTURES", raising=False)
    assert gen.main() == 0 and "set FCN_REGEN_FIXTURES=1" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in FIXTURES.iterdir()} == before
