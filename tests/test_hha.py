"""data.hha against Gupta's own HHA code run by GNU Octave (the fixtures of tests/fixtures/hha/, made by
tests/octave/make_hha_fixtures.py; make test-octave rebuilds them), and semantic checks that need no Octave.

The tolerances are the issue's (tests/hha_tolerance.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from data import hha as hha_module
from data.hha import NYU_COLOR, NYUD_CAMERA, NYUD_CROP, Camera, hha, matlab_uint8
from hha_tolerance import describe, meets_tolerance

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hha"
ROOMS = ("office", "lounge", "shelves")
REGEN = "FCN_REGEN_HHA=1 .venv/bin/python tests/octave/make_hha_fixtures.py GUPTA (see make test-octave)"
H, W = 425, 560


def read_png(name: str) -> np.ndarray:
    path = FIXTURES / name
    assert path.is_file(), f"missing HHA fixture {path}; regenerate with {REGEN}"
    return np.asarray(Image.open(path))


def room(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The room's depth (mm) and its raw-depth holes, as committed."""
    depth, holes = read_png(f"{name}-depth.png"), read_png(f"{name}-holes.png")
    assert depth.dtype == np.uint16 and holes.dtype == bool and depth.shape == holes.shape == (H, W)
    return depth, holes


@pytest.fixture(scope="module")
def rooms_() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: room(name) for name in ROOMS}


# ---- against Octave -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ROOMS)
def test_hha_without_holes_equals_octaves_save_hha_but_1_pixel_in_10000_none_off_by_more_than_1(rooms_, name):
    depth, _ = rooms_[name]
    ours = hha(depth, np.zeros(depth.shape, bool))
    octave = read_png(f"{name}-hha.png")
    assert meets_tolerance(ours, octave, holes=False), describe(ours, octave)


@pytest.mark.parametrize("name", ROOMS)
def test_hha_with_raw_depth_holes_equals_octaves_in_99_percent_per_channel_and_995_within_1(rooms_, name):
    depth, holes = rooms_[name]
    ours = hha(depth, holes)
    octave = read_png(f"{name}-holes-hha.png")
    assert meets_tolerance(ours, octave, holes=True), describe(ours, octave)


def test_the_fixture_rooms_exercise_holes_gravity_saturation_and_the_130_cm_rule(rooms_):
    """The fixtures are worth their tolerance: holes (3% or more), disparity saturated near the camera, the
    depth 4960 mm whose disparity is 62.5 (where MATLAB's rounding and np.rint part), a room without floor in
    view (its heights start at 130 cm minus the lowest point's depth below the camera, not 0), Octave 7.3."""
    assert all(holes.mean() > 0.03 for _, holes in rooms_.values())
    assert (read_png("office-hha.png")[..., 0] == 255).sum() > 1000
    assert (rooms_["shelves"][0] == 4960).sum() > 100
    assert read_png("shelves-hha.png")[..., 1].min() > 40 and read_png("office-hha.png")[..., 1].min() == 0
    assert json.loads((FIXTURES / "provenance.json").read_text())["octave"].startswith("7.")


@pytest.mark.parametrize("mistake", ["uncropped camera", "depth / 10000", "np.rint"])
def test_the_python_ports_known_mistakes_fail_the_octave_tolerance(rooms_, mistake, monkeypatch):
    """The mistakes of Python ports of saveHHA (the 640 x 480 camera on the 425 x 560 crop, the depth PNG
    divided by 10000 instead of 1000, np.rint's half-to-even) each break the no-holes tolerance."""
    depth, _ = rooms_["shelves"]
    camera = NYUD_CAMERA
    if mistake == "uncropped camera":
        camera = NYU_COLOR
    elif mistake == "depth / 10000":
        depth = depth / 10
    else:
        monkeypatch.setattr(hha_module, "matlab_uint8", lambda x: np.clip(np.nan_to_num(np.rint(x)), 0, 255)
                            .astype(np.uint8))
    ours = hha(depth, np.zeros(depth.shape, bool), camera)
    assert not meets_tolerance(ours, read_png("shelves-hha.png"), holes=False)


def test_window_sums_are_added_in_the_order_of_octaves_filter2_bit_for_bit():
    """computeNormalsSquareSupport sums its windows with filter2; on values spread over twelve orders of
    magnitude the order of the additions shows in the last bits, and the kit's sums are Octave's exactly: the
    whole-image 7 x 7 sums (the angle's normals) and the per-pixel 21 x 21 ones (gravity's fragile windows)."""
    stored = np.load(FIXTURES / "window-sums.npz")
    planes = stored["planes"]
    rows, cols = np.nonzero(np.ones(planes.shape[1:], bool))
    assert np.array_equal(hha_module._window_sums_in_octave_order(planes, 3), stored["r3"])
    for r in (3, 10):
        assert np.array_equal(hha_module._window_sums_at(planes, r, rows, cols).reshape(planes.shape), stored[f"r{r}"])
        rows_first = ndimage.correlate(planes, np.ones((1, 2 * r + 1, 2 * r + 1)), mode="constant")
        assert (rows_first != stored[f"r{r}"]).mean() > 0.5  # the order shows: another one differs


# ---- semantics ------------------------------------------------------------------------------------------------

def test_nyud_camera_is_nyus_colour_camera_moved_by_the_crop():
    """nyu-hooks getCameraParam('color'), then cropCamera for I(46:470, 41:600): cx - 40, cy - 45."""
    assert NYU_COLOR == Camera(518.85790117450188, 519.46961112127485, 325.58244941119034, 253.73616633400465)
    assert NYUD_CROP == (45, 470, 40, 600)
    assert NYUD_CAMERA == Camera(NYU_COLOR.fx, NYU_COLOR.fy, 325.58244941119034 - 40, 253.73616633400465 - 45)


FY, CY = 519.46961112127485, 253.73616633400465 - 45  # NYUD's cropped camera, typed here (the kit's is tested)


def level_view(wall_cm: float, floor_cm: float | None = None, ceiling_cm: float | None = None,
               width: int = 64) -> np.ndarray:
    """Depth (mm, H x ``width``) from a level camera facing a wall ``wall_cm`` away, with a floor ``floor_cm``
    below it and a ceiling ``ceiling_cm`` above it (None: not in view). No column sees anything else."""
    drop = (np.arange(1, H + 1) - CY) / FY  # the ray's drop per unit of depth, row by row (MATLAB's 1-based rows)
    z = np.full(H, float(wall_cm))
    with np.errstate(divide="ignore"):
        if floor_cm is not None:
            z = np.minimum(z, np.where(drop > 0, floor_cm / drop, np.inf))
        if ceiling_cm is not None:
            z = np.minimum(z, np.where(drop < 0, -ceiling_cm / drop, np.inf))
    return np.floor(z * 10 + 0.5).astype(np.uint16)[:, None].repeat(width, axis=1)


def test_a_floor_120_cm_below_a_level_camera_is_height_0_angle_38_and_the_wall_has_its_height_above_it():
    depth = level_view(wall_cm=500, floor_cm=120)
    out = hha(depth, np.zeros(depth.shape, bool)).astype(int)
    drop = (np.arange(1, H + 1) - CY) / FY * 500  # how far below the camera each row's ray is at the wall
    floor, wall = np.nonzero(drop > 120 + 5)[0][:-3], np.nonzero(drop < 120 - 5)[0]  # away from the corner
    assert len(floor) > 50 and len(wall) > 250
    assert (out[floor, 3:-3, 1] == 0).all()
    assert (out[floor, 3:-3, 2] >= 38).all() and (out[floor, 3:-3, 2] <= 39).all()  # parallel to gravity, to 1.5
    expected = np.clip(120 - drop[wall], 0, 255)  # cm above the floor
    assert np.abs(out[wall, 3:-3, 1] - expected[:, None]).max() <= 1
    assert (np.abs(out[wall, 3:-3, 2] - 128) <= 1).all()  # at 90 degrees to gravity


def test_without_a_floor_in_view_heights_start_130_cm_below_the_camera():
    """A wall 2 m away under a ceiling 60 cm above the camera: the lowest point seen, 83 cm below the camera,
    is above -90 cm, so saveHHA measures heights from -130 cm and the camera's own height reads 130."""
    depth = level_view(wall_cm=200, ceiling_cm=60)
    out = hha(depth, np.zeros(depth.shape, bool)).astype(int)
    drop = (np.arange(1, H + 1) - CY) / FY * 200
    wall = np.nonzero(drop > -60 + 5)[0][:-3]
    assert np.abs(out[wall, 3:-3, 1] - (130 - drop[wall])[:, None]).max() <= 1
    assert out[wall[-1], 3:-3, 1].min() <= 130 - 80  # the lowest row: 83 cm below the camera
    ceiling = np.nonzero(drop < -60 - 5)[0][3:]
    assert (out[ceiling, 3:-3, 2] >= 217).all()  # facing down, against gravity (180 + 38, to 1.5 degrees)


def test_disparity_is_31000_over_the_depth_in_cm_at_least_100_rounded_half_away_from_zero():
    stripes = {4960: 63, 24800: 13, 4000: 78, 2000: 155, 6000: 52, 1300: 238, 1000: 255, 500: 255}
    depth = np.repeat(np.array(list(stripes), np.uint16), 8)[None, :].repeat(20, axis=0)
    out = hha(depth, np.zeros(depth.shape, bool))
    assert out[:, ::8, 0].tolist() == [list(stripes.values())] * 20


def test_a_pixel_whose_window_has_no_measured_depth_gets_angle_218():
    """No valid point in the 7 x 7 window: the normal is NaN, MATLAB's max(-1, NaN) is -1, acosd(-1) + 38."""
    depth = level_view(wall_cm=250, floor_cm=100, width=120)
    missing = np.zeros(depth.shape, bool)
    missing[100:160, 20:100] = True
    angle = hha(depth, missing)[..., 2]
    assert (angle[103:157, 23:97] == 218).all()
    wall = np.zeros(depth.shape, bool)
    wall[3:int(CY + 100 / 250 * FY) - 4, 3:-3] = True  # the wall's rows, clear of the floor
    wall[94:166, 14:106] = False  # and of the hole
    assert (angle[wall] == 128).all()  # at 90 degrees to gravity


def test_matlab_uint8_rounds_half_away_from_zero_saturates_and_maps_nan_to_0():
    values = np.array([-0.5, -3, 0.49999999999999994, 0.5, 1.5, 2.5, 62.5, 254.5, 255.49, 300, np.nan, np.inf,
                       -np.inf])
    assert matlab_uint8(values).tolist() == [0, 0, 0, 1, 2, 3, 63, 255, 255, 255, 0, 255, 0]


# ---- the commands -----------------------------------------------------------------------------------------------

def test_make_test_octave_without_a_gupta_folder_says_what_to_clone_and_install_in_one_message(tmp_path):
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(["make", "--no-print-directory", "test-octave", f"STAMP={stamp}", f"PY={sys.executable}"],
                          cwd=FIXTURES.parents[2], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "GUPTA"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "-m pytest" not in done.stdout  # stopped before the tests
    message, make_line = done.stderr.splitlines()  # the message, then make's "Error 2"
    assert "found: no GUPTA folder given" in message and "apt-get install octave octave-image" in message
    for repo in ("rcnn-depth", "rgbdutils", "nyu-hooks"):
        assert f"git clone https://github.com/s-gupta/{repo} GUPTA/{repo}" in message
    assert message.endswith("Then: make test-octave GUPTA=/path/to/that/folder") and "Error 2" in make_line


@pytest.mark.slow  # eight full-size HHA calls, about 3 s
def test_an_hha_benchmark_without_octave_writes_a_record_that_renders_its_figures(tmp_path):
    from benchmarks import hha as hha_bench
    from benchmarks import report

    before = os.sched_getaffinity(0)
    out = tmp_path / "hha.json"
    hha_bench.main(["--repeats", "1", "--json", str(out)])
    assert os.sched_getaffinity(0) == before  # the one-core pinning is undone
    record = json.loads(out.read_text())
    assert record["benchmark"] == "hha" and [r["image"] for r in record["rows"]][:2] == ["office", "office-holes"]
    table = report.render(out)
    assert all(f"| {r['image']} | {r['holes']:.1%} | {r['kit_s']:.3f} |" in table for r in record["rows"])

