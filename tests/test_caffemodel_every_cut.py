"""Every cut and a seeded sample of damaged bytes of caffemodels written by real Caffe (tests/fixtures/caffemodels,
both layer formats): the reader either reads the file or says clearly what is wrong, and never raises anything
but a CaffemodelError.

A cut inside a field is the truncation error ("... is truncated: ...; fetch the file again"). A cut at a layer
boundary is a complete protobuf message, so the reader reads it; converting it against the full net's layers
is the partial-net error naming what is missing, and only a file holding every parameter layer converts."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from weights.caffemodel import CaffemodelError, TruncatedError, iter_layers, read_caffemodel
from weights.convert import convert
from weights.errors import IncompleteNetError
from weights.h5 import read_h5

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "caffemodels"
NAMES = ("narrow_current", "narrow_v1")
TRUNCATED = r"is truncated: .*; the file is incomplete \(an interrupted download or copy\): fetch the file again"


def fixture_bytes(name: str) -> bytes:
    path = FIXTURES / f"{name}.caffemodel"
    if not path.is_file():
        pytest.fail(f"fixture {path} is missing; make it with `FCN_REGEN_FIXTURES=1 .venv/bin/python "
                    "tests/fixtures/make_caffemodel_fixtures.py`", pytrace=False)
    return path.read_bytes()


def parameter_shapes(data: bytes) -> dict[str, list[tuple[int, ...]]]:
    return {layer.name: [tuple(b.shape) for b in layer.blobs]
            for layer, _ in iter_layers(memoryview(data), "full") if layer.blobs}


def cut_kind(data: bytes) -> tuple[str, int]:
    """("truncated", 0) for the truncation error, ("read", layers) for a file the reader reads."""
    try:
        return "read", sum(1 for _ in iter_layers(memoryview(data), "cut.caffemodel"))
    except TruncatedError as e:
        assert e.args[0].startswith("cut.caffemodel is truncated: "), e
        assert "fetch the file again" in e.args[0] and "_Truncated" not in repr(e), e
        return "truncated", 0


@functools.cache
def every_cut(name: str) -> tuple[tuple[str, int], ...]:
    """cut_kind of the fixture cut at every byte offset (offset len is the whole file)."""
    data = fixture_bytes(name)
    return tuple(cut_kind(data[:cut]) for cut in range(len(data) + 1))


@pytest.mark.parametrize("name", NAMES)
def test_every_cut_of_a_real_caffe_file_is_the_truncation_error_or_reads_whole_layers(name):
    data = fixture_bytes(name)
    full = sum(1 for _ in iter_layers(memoryview(data), "full"))
    kinds = every_cut(name)[:-1]
    reads = [(cut, n) for cut, (kind, n) in enumerate(kinds) if kind == "read"]
    # The reader only reads a cut file at a layer boundary: as many of those as the file has layers, minus
    # the last (which is the whole file).
    assert [n for _, n in reads] == list(range(1, full)), reads
    truncated = sum(kind == "truncated" for kind, _ in kinds)
    assert truncated == len(data) - (full - 1)


@pytest.mark.parametrize("name", NAMES)
def test_a_cut_at_a_layer_boundary_converts_only_as_the_partial_net_error_naming_what_is_missing(name, tmp_path):
    data = fixture_bytes(name)
    want = parameter_shapes(data)
    src, dst = tmp_path / "cut.caffemodel", tmp_path / "cut.h5"
    boundaries = [cut for cut, (kind, _) in enumerate(every_cut(name)) if kind == "read"]
    assert boundaries[-1] == len(data)
    for cut in boundaries:
        src.write_bytes(data[:cut])
        have = parameter_shapes(data[:cut])
        if have == want:  # every parameter layer is there (what is cut off has no blobs)
            convert(src, dst, log=None, net=want)
            assert {layer.name for layer in read_h5(dst).layers} == set(want)
            dst.unlink()
            continue
        missing = [layer for layer in want if layer not in have]
        with pytest.raises(IncompleteNetError, match=f"missing \\({len(missing)}\\): {', '.join(missing)}. A "
                                                     "caffemodel cut at a layer boundary.*fetch it again"):
            convert(src, dst, log=None, net=want)
        assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cut.caffemodel"]


@pytest.mark.parametrize("name", NAMES)
def test_converting_or_loading_a_cut_file_raises_the_same_truncation_error_as_reading_it(name, tmp_path):
    """read_caffemodel (what weights.load reads a .caffemodel with) and convert at a seeded sample of cuts: the
    same error type and message as the in-memory reader above, and nothing written."""
    data = fixture_bytes(name)
    rng = np.random.default_rng(11)
    src, dst = tmp_path / "cut.caffemodel", tmp_path / "cut.h5"
    for cut in sorted(set(rng.integers(0, len(data), 60).tolist()) | {0, 1, 2, len(data) - 1}):
        if every_cut(name)[cut][0] != "truncated":
            continue
        src.write_bytes(data[:cut])
        with pytest.raises(TruncatedError, match=TRUNCATED):
            read_caffemodel(src)
        with pytest.raises(TruncatedError, match=TRUNCATED):
            convert(src, dst, log=None)
        assert not dst.exists()


@pytest.mark.parametrize("name", NAMES)
def test_damaged_bytes_give_a_caffemodel_error_or_a_read_never_another_exception(name, tmp_path):
    """One byte changed at 1500 seeded positions (XOR with a random non-zero value): reading either succeeds or
    raises a CaffemodelError (its message naming the file); converting every tenth gives the same outcome and
    leaves nothing behind on failure."""
    data = fixture_bytes(name)
    rng = np.random.default_rng(7)
    outcomes = {"read": 0, "error": 0}
    src, dst = tmp_path / "damaged.caffemodel", tmp_path / "damaged.h5"
    for trial in range(1500):
        damaged = bytearray(data)
        damaged[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        try:
            list(iter_layers(memoryview(bytes(damaged)), "damaged.caffemodel"))
            outcome = "read"
        except CaffemodelError as e:
            assert "damaged.caffemodel" in str(e) or "layer" in str(e), e
            outcome = "error"
        outcomes[outcome] += 1
        if trial % 25:
            continue
        src.write_bytes(damaged)
        try:
            convert(src, dst, log=None, net="none")
            assert outcome == "read"  # what the reader refuses is never converted
            dst.unlink()
        except CaffemodelError:  # also for a readable file whose layer names HDF5 cannot hold (duplicates, "")
            assert not dst.exists()
    # Most bytes are float values (any bits are a float); the sample must still hit the structure.
    assert outcomes["error"] > 20 and outcomes["read"] > 500, outcomes
