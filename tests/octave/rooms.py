"""Synthetic rooms for the HHA fixtures: the depth a Kinect on NYUD's cropped colour camera would see in a box
room with furniture, from a camera tilted and rolled a little (so that the gravity estimate has work to do),
and the holes such a sensor leaves (the sensor's border, shadows beside near objects, dark patches, dropouts).

Each room is ray-cast through ``data.hha.NYUD_CAMERA`` at 425 x 560, in millimetres as NYUD's depth PNGs hold
them. Seeded: the same rooms on every run (only ``Generator.random``, the stream NumPy keeps stable).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.hha import NYUD_CAMERA, NYUD_CROP

HEIGHT, WIDTH = NYUD_CROP[1] - NYUD_CROP[0], NYUD_CROP[3] - NYUD_CROP[2]  # 425 x 560
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hha"  # what make_hha_fixtures.py writes
WINDOW_RADII = (3, 10)  # computeNormalsSquareSupport's: 7 x 7 and 21 x 21


@dataclass(frozen=True)
class Room:
    """A box room in metres, in a world frame whose y axis points down (gravity): the camera at the origin,
    the floor at y = camera_height, the walls at x = -left and x = right, the back wall at z = back."""

    name: str
    camera_height: float
    ceiling: float  # height of the ceiling above the floor
    left: float
    right: float
    back: float
    pitch: float  # degrees the camera looks down (negative: up)
    roll: float  # degrees about the viewing axis
    yaw: float  # degrees about the vertical
    boxes: tuple[tuple[float, float, float, float, float, float], ...]  # (x0, x1, y0, y1, z0, z1), world
    seed: int


def _box_on_floor(room_height: float, x0: float, x1: float, z0: float, z1: float, height: float,
                  lift: float = 0.0) -> tuple[float, float, float, float, float, float]:
    """A box standing on the floor (or ``lift`` above it), in world coordinates for a camera at room_height."""
    return (x0, x1, room_height - lift - height, room_height - lift, z0, z1)


def _table(camera_height: float, x0: float, x1: float, z0: float, z1: float, top: float):
    """A table: a 4 cm top at height ``top`` and four 5 cm legs."""
    legs = [_box_on_floor(camera_height, x, x + 0.05, z, z + 0.05, top - 0.04)
            for x in (x0 + 0.03, x1 - 0.08) for z in (z0 + 0.03, z1 - 0.08)]
    return (_box_on_floor(camera_height, x0, x1, z0, z1, 0.04, lift=top - 0.04), *legs)


ROOMS: tuple[Room, ...] = (
    # An office: desk, cabinet, a chair close to the camera (its disparity saturates at 255).
    Room("office", camera_height=1.30, ceiling=2.70, left=2.2, right=2.6, back=5.6, pitch=12.0, roll=3.0,
         yaw=8.0, seed=1,
         boxes=(*_table(1.30, -0.9, 0.5, 2.4, 3.1, 0.74),
                _box_on_floor(1.30, 1.9, 2.6, 3.5, 4.4, 1.2),
                _box_on_floor(1.30, -0.9, -0.4, 0.95, 1.3, 0.9))),
    # A long room seen from higher up, rolled the other way: sofa, low table, the ceiling in view.
    Room("lounge", camera_height=1.60, ceiling=2.50, left=1.6, right=3.0, back=6.5, pitch=18.0, roll=-5.0,
         yaw=-14.0, seed=2,
         boxes=(_box_on_floor(1.60, -1.6, -0.7, 2.0, 4.5, 0.85),
                *_table(1.60, 0.1, 1.1, 2.6, 3.3, 0.45),
                _box_on_floor(1.60, 2.2, 3.0, 5.0, 5.9, 1.9))),
    # Looking up at a wall from a low camera: no floor in view, so the lowest point is less than 90 cm below
    # the camera and saveHHA measures heights from 130 cm below it.
    Room("shelves", camera_height=0.80, ceiling=2.20, left=2.5, right=2.5, back=4.9, pitch=-10.0, roll=4.0,
         yaw=5.0, seed=3,
         boxes=(_box_on_floor(0.80, -1.2, 0.2, 4.5, 4.9, 0.30, lift=1.10),
                _box_on_floor(0.80, 0.6, 1.6, 4.3, 4.9, 0.45, lift=0.60),
                _box_on_floor(0.80, -2.5, -1.6, 2.0, 3.5, 2.1))),
)


def _rotation(room: Room) -> np.ndarray:
    """Camera to world: roll about the viewing axis, then pitch about x, then yaw about the vertical."""
    p, r, w = np.radians([room.pitch, room.roll, room.yaw])
    pitch = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    yaw = np.array([[np.cos(w), 0, np.sin(w)], [0, 1, 0], [-np.sin(w), 0, np.cos(w)]])
    return yaw @ pitch @ roll


def depth_mm(room: Room) -> np.ndarray:
    """The room's depth (the camera's z, not the range) in millimetres, uint16, H x W."""
    cam = NYUD_CAMERA
    u = np.arange(1, WIDTH + 1)[None, :]
    v = np.arange(1, HEIGHT + 1)[:, None]
    rays = np.stack(np.broadcast_arrays((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones((HEIGHT, 1))))
    d = np.einsum("ij,jhw->ihw", _rotation(room), rays)  # world direction of each pixel's ray, camera z = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        planes = [(1, room.camera_height), (1, room.camera_height - room.ceiling), (0, -room.left),
                  (0, room.right), (2, room.back)]
        t = np.full((HEIGHT, WIDTH), np.inf)
        for axis, at in planes:
            hit = at / d[axis]
            t = np.where((hit > 0) & (hit < t), hit, t)
        for box in room.boxes:  # slabs: the ray is inside the box between the largest entry and smallest exit
            lo, hi = np.array(box[0::2])[:, None, None], np.array(box[1::2])[:, None, None]
            t0, t1 = lo / d, hi / d
            enter, leave = np.minimum(t0, t1).max(axis=0), np.maximum(t0, t1).min(axis=0)
            hit = (enter <= leave) & (enter > 0)
            t = np.where(hit & (enter < t), enter, t)
    assert np.isfinite(t).all(), f"{room.name}: a ray leaves the room"
    return np.floor(t * 1000 + 0.5).astype(np.uint16)


def holes(room: Room, depth: np.ndarray) -> np.ndarray:
    """Where the sensor would give no depth (True): a ragged band at the left border, a shadow to the right of
    each depth edge of a near object, a few dark patches, one dropout in two hundred pixels."""
    rng = np.random.default_rng(room.seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    mask = cols < (4 + 6 * rng.random((HEIGHT, 1)))
    # Shadows: the projector sits to the side, so the background just right of a near object goes unseen.
    jump = np.zeros_like(mask)
    jump[:, :-1] = depth[:, 1:].astype(np.int32) - depth[:, :-1] > 250
    for shift in range(1, 9):
        mask[:, shift:] |= jump[:, :-shift]
    for _ in range(6):
        r0, c0 = rng.random() * HEIGHT, rng.random() * WIDTH
        a, b = 6 + 30 * rng.random(), 4 + 20 * rng.random()
        mask |= ((rows - r0) / a) ** 2 + ((cols - c0) / b) ** 2 < 1
    mask |= rng.random((HEIGHT, WIDTH)) < 0.005
    return mask


def cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every fixture case, ``name: (depth in mm, missing mask)``: each room without holes and with them."""
    out = {}
    for room in ROOMS:
        depth = depth_mm(room)
        out[room.name] = (depth, np.zeros(depth.shape, bool))
        out[f"{room.name}-holes"] = (depth, holes(room, depth))
    return out


def window_sum_planes() -> np.ndarray:
    """Two 24 x 30 planes of values spread over twelve orders of magnitude, whose window sums depend on the
    order of the additions in their last bits (the fixture of Octave's filter2 order)."""
    rng = np.random.default_rng(7)
    return (rng.random((2, 24, 30)) - 0.5) * 10.0 ** (12 * rng.random((2, 24, 30)) - 6)
