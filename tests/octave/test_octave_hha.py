"""make test-octave: Gupta's HHA code, run unmodified by GNU Octave, rebuilds the committed fixtures of
tests/fixtures/hha/ from the rooms of tests/octave/rooms.py (as make_hha_fixtures.py made them), and data.hha
is compared with what Octave makes now, at the issue's tolerances (tests/hha_tolerance.py), on those rooms and
on Gupta's own demo image (a real NYUD image with raw-depth holes, rcnn-depth/demo-data). The agreement and
the seconds are printed at the end."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

import gupta
import rooms
from data.hha import hha
from hha_tolerance import describe, meets_tolerance

pytestmark = pytest.mark.octave
FIXTURES, REPORT = rooms.FIXTURES, gupta.REPORT


@pytest.fixture(scope="session")
def rebuilt(gupta_folder, tmp_path_factory):
    """Every fixture case (name: depth, missing) and Octave's HHA of it, made now."""
    cases = rooms.cases()
    outputs, seconds = gupta.save_hha_of(gupta_folder, cases, tmp_path_factory.mktemp("octave"))
    return cases, outputs, seconds


def kit(depth: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = hha(depth, missing)
    return out, time.perf_counter() - start


def test_the_generator_rebuilds_the_committed_rooms():
    for name, (depth, missing) in rooms.cases().items():
        room = name.removesuffix("-holes")
        assert np.array_equal(depth, np.asarray(Image.open(FIXTURES / f"{room}-depth.png"))), name
        if name.endswith("-holes"):
            assert np.array_equal(missing, np.asarray(Image.open(FIXTURES / f"{room}-holes.png"))), name


def test_octave_rebuilds_the_committed_fixtures(rebuilt):
    cases, outputs, seconds = rebuilt
    failed = []
    for name, octave in outputs.items():
        committed = np.asarray(Image.open(FIXTURES / f"{name}-hha.png"))
        REPORT.append((name, "committed fixture", describe(octave, committed), f"Octave {seconds[name]:.2f}"))
        if not meets_tolerance(octave, committed, holes=name.endswith("-holes")):
            failed.append(name)
    assert failed == [], f"Octave now differs from the committed fixtures beyond the tolerance: {failed}"


def test_octave_rebuilds_the_committed_window_sums(gupta_folder):
    stored = np.load(FIXTURES / "window-sums.npz")
    assert np.array_equal(stored["planes"], rooms.window_sum_planes())
    for r in rooms.WINDOW_RADII:
        assert np.array_equal(gupta.octave_window_sums(stored["planes"], r), stored[f"r{r}"]), r


def test_the_kit_equals_octave_on_every_room_with_and_without_holes(rebuilt):
    cases, outputs, seconds = rebuilt
    failed = []
    for name, (depth, missing) in cases.items():
        ours, took = kit(depth, missing)
        REPORT.append((name, "data.hha", describe(ours, outputs[name]), f"kit {took:.2f}"))
        if not meets_tolerance(ours, outputs[name], holes=name.endswith("-holes")):
            failed.append(name)
    assert failed == [], f"data.hha differs from Octave beyond the tolerance: {failed}"


def test_the_kit_equals_octave_on_guptas_demo_image(gupta_folder, tmp_path):
    """rcnn-depth's demo-data: a real NYUD image (425 x 560 depth and raw depth PNGs, with holes)."""
    demo = gupta_folder / "rcnn-depth" / "demo-data"
    out = tmp_path / "demo-hha.png"
    ((seconds, _),) = gupta.run_save_hha(gupta_folder, [(demo / "depth.png", demo / "rawdepth.png", out)])
    octave = np.asarray(Image.open(out))
    depth, raw = np.asarray(Image.open(demo / "depth.png")), np.asarray(Image.open(demo / "rawdepth.png"))
    ours, took = kit(depth, raw == 0)
    REPORT.append(("rcnn-depth demo", "data.hha", describe(ours, octave), f"Octave {seconds:.2f}, kit {took:.2f}"))
    assert meets_tolerance(ours, octave, holes=True), describe(ours, octave)
