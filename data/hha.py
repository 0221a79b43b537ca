"""HHA, Gupta et al.'s three-channel encoding of depth (ECCV 2014), computed as Gupta's own MATLAB computes it.

The NYUD HHA nets read ``data/hha/img_ID.png``, which Gupta made with ``saveHHA`` of s-gupta/rcnn-depth (through
``processDepthImage`` and s-gupta/rgbdutils) from the 425 x 560 crop of NYU's depth, with NYU's colour camera
moved by nyu-hooks' ``cropCamera``. ``hha`` is the kit's own implementation of that arithmetic, in float64 as
MATLAB computes it (``double(D) ./ 1000``), step for step where the order of operations changes a rounding:

1. points: ``z`` in centimetres, ``x = ((u - cx) * z) / fx``, ``y = ((v - cy) * z) / fy`` with MATLAB's 1-based
   pixel coordinates ``u = 1..W``, ``v = 1..H``;
2. normals: at each pixel a least-squares plane through the points of a (2r+1)^2 window, zero-padded at the
   border, pixels of the missing mask left out: r = 3 (7 x 7) for the angle, r = 10 (21 x 21) for gravity;
   solved by the adjugate of the 3 x 3 normal equations (not divided by the determinant: only the direction
   counts), oriented by the sign of ``n_z``, then to face away from the camera's side of the point;
3. gravity: starting from the camera's y axis, five rounds with normals within 45 degrees of it (or of its
   plane), then five within 15: the eigenvector of the smallest eigenvalue of ``W^T W - F^T F`` (W: normals
   near-perpendicular to it, F: near-parallel);
4. height: the points rotated so that gravity is the y axis, height above the lowest point in centimetres,
   the lowest point taken as -130 cm when it is above -90 cm;
5. channels, in saveHHA's order: disparity ``31000 / max(z, 100)``, height, angle between the normal and
   gravity in degrees ``+ 128 - 90`` (a normal that could not be estimated, NaN, gives 180 + 38 = 218), each
   converted as MATLAB's ``uint8``: rounded half away from zero, saturated to 0..255, NaN to 0.

The kit holds this to Gupta's files run unmodified under GNU Octave (tests/test_hha.py against the fixtures
of tests/fixtures/hha/, ``make test-octave GUPTA=...`` against Octave itself; docs/data.md, section HHA).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Camera", "NYU_COLOR", "NYUD_CROP", "NYUD_CAMERA", "hha", "matlab_uint8"]


@dataclass(frozen=True)
class Camera:
    """A pinhole camera in pixels, in MATLAB's convention: the centre of the top-left pixel is (1, 1), so that
    pixel (row v, column u), both 1-based, sees the ray ``((u - cx) / fx, (v - cy) / fy, 1)``."""

    fx: float
    fy: float
    cx: float
    cy: float

    def cropped(self, top: int, left: int) -> Camera:
        """The camera of the image cropped by ``top`` rows and ``left`` columns (nyu-hooks' cropCamera)."""
        return replace(self, cx=self.cx - left, cy=self.cy - top)


# s-gupta/nyu-hooks getCameraParam('color'): the Kinect colour camera of NYU Depth v2 (640 x 480).
NYU_COLOR = Camera(fx=5.1885790117450188e02, fy=5.1946961112127485e02,
                   cx=3.2558244941119034e02, cy=2.5373616633400465e02)
# nyu-hooks cropIt: I(46:470, 41:600), i.e. rows 45:470 and columns 40:600 (0-based, end exclusive): 425 x 560.
NYUD_CROP = (45, 470, 40, 600)
# cropCamera: cx - 40, cy - 45 (the camera saveHHA was given for every NYUD image).
NYUD_CAMERA = NYU_COLOR.cropped(top=NYUD_CROP[0], left=NYUD_CROP[2])

ANGLE_RADIUS, GRAVITY_RADIUS = 3, 10  # processDepthImage's normalParam.patchSize: 7 x 7 and 21 x 21 windows
GRAVITY_ROUNDS = ((45.0, 5), (15.0, 5))  # getYDir's yDirParam: (angleThresh in degrees, iterations)


def hha(depth_mm: np.ndarray, missing: np.ndarray, camera: Camera = NYUD_CAMERA) -> np.ndarray:
    """HHA of one depth map, equal to Gupta's saveHHA.

    ``depth_mm``: H x W depth in millimetres (uint16, as NYUD's depth PNG holds it); ``missing``: H x W bool, the
    pixels the sensor did not measure (raw depth == 0), left out of the normals only. Returns H x W x 3 uint8 in
    the order saveHHA writes its PNG: disparity, height above the floor, angle with gravity.
    """
    depth_mm = np.asarray(depth_mm)
    missing = np.asarray(missing)
    if depth_mm.ndim != 2 or missing.shape != depth_mm.shape or missing.dtype != bool:
        raise ValueError(f"hha: expected an H x W depth map and an H x W bool missing mask; got depth "
                         f"{depth_mm.shape} {depth_mm.dtype} and mask {missing.shape} {missing.dtype}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = depth_mm.astype(np.float64) / 1000 * 100  # saveHHA: double(D) ./ 1000, then processDepthImage(D * 100)
        x, y = _points(z, camera)
        normal = _normals(z / 100, missing, camera, ANGLE_RADIUS)
        gravity = gravity_direction(_normals(z / 100, missing, camera, GRAVITY_RADIUS))
        height = _height(x, y, z, gravity)
        # saveHHA's clamp to [-1, 1] is MATLAB's max/min, which ignore NaN: a NaN normal gives acos(-1) = 180.
        cosine = normal[0] * gravity[0] + normal[1] * gravity[1] + normal[2] * gravity[2]
        angle = _acosd(np.fmin(1.0, np.fmax(-1.0, cosine)))
        disparity = 31000 / np.maximum(z, 100)
        channels = (disparity, height, angle + 128 - 90)
    return np.stack([matlab_uint8(c) for c in channels], axis=-1)


def matlab_uint8(values: np.ndarray) -> np.ndarray:
    """MATLAB's ``uint8(x)``: round half away from zero, saturate to 0..255, NaN to 0 (``np.rint`` and
    ``astype`` round half to even and wrap)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        floor = np.floor(values)
        rounded = floor + (values - floor >= 0.5)  # exact: values - floor(values) has no rounding error
        rounded = np.clip(rounded, 0, 255)
    return np.where(np.isnan(values), 0, rounded).astype(np.uint8)


def _points(z: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """getPointCloudFromZ: x and y of every pixel, from MATLAB's 1-based pixel coordinates."""
    h, w = z.shape
    u = np.arange(1, w + 1, dtype=np.float64)[None, :]
    v = np.arange(1, h + 1, dtype=np.float64)[:, None]
    return (u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy


def _box_sum(stack: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1) x (2r+1) window around every pixel of each C x H x W plane, zero outside
    (MATLAB's ``filter2(ones(2r+1), f)``)."""
    c, h, w = stack.shape
    k = 2 * radius + 1
    padded = np.zeros((c, h + 2 * radius, w), stack.dtype)
    padded[:, radius:radius + h] = stack
    rows = padded[:, 0:h].copy()
    for i in range(1, k):
        rows += padded[:, i:i + h]
    padded = np.zeros((c, h, w + 2 * radius), stack.dtype)
    padded[:, :, radius:radius + w] = rows
    out = padded[:, :, 0:w].copy()
    for i in range(1, k):
        out += padded[:, :, i:i + w]
    return out


def _normals(depth_m: np.ndarray, missing: np.ndarray, camera: Camera, radius: int) -> np.ndarray:
    """computeNormalsSquareSupport (one superpixel): 3 x H x W unit normals, NaN where no plane is defined."""
    z = depth_m * 100  # back to centimetres, as Gupta's function does (not always z bit for bit)
    xf, yf = _points(z, camera)
    x, y, zm = (np.where(missing, np.nan, a) for a in (xf, yf, z))
    x_z, y_z = x / zm, y / zm
    one = np.where(np.isnan(zm), np.nan, 1.0)
    raw = np.stack([x_z * x_z, x_z * y_z, x_z, y_z * y_z, y_z, one,  # A^T A of the rows (x/z, y/z, 1)
                    x / (zm * zm), y / (zm * zm), 1 / zm])           # A^T b with b = 1/z
    raw[np.isnan(raw)] = 0
    a1, a2, a3, a4, a5, a6, b1, b2, b3 = _box_sum(raw, radius)
    # The adjugate of the symmetric [a1 a2 a3; a2 a4 a5; a3 a5 a6], times A^T b.
    adj_a = a4 * a6 - a5 * a5
    adj_d = -(a2 * a6 - a3 * a5)
    adj_g = a2 * a5 - a3 * a4
    adj_e = a1 * a6 - a3 * a3
    adj_h = -(a1 * a5 - a2 * a3)
    adj_k = a1 * a4 - a2 * a2
    n = np.stack([adj_a * b1 + adj_d * b2 + adj_g * b3,
                  adj_d * b1 + adj_e * b2 + adj_h * b3,
                  adj_g * b1 + adj_h * b2 + adj_k * b3])
    n /= np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    flip = np.sign(n[2])
    flip[flip == 0] = 1
    n *= flip
    # Facing away from the camera's side of the (unmasked) point; an undecided sign keeps the normal.
    side = np.sign(n[0] * xf + n[1] * yf + n[2] * z)
    side[np.isnan(side) | (side == 0)] = 1
    n *= side
    return n


def gravity_direction(normals: np.ndarray) -> np.ndarray:
    """getYDir: the unit gravity direction (the camera's y axis when level) from a 3 x H x W normal field."""
    nn = normals.reshape(3, -1)
    nn = nn[:, ~np.isnan(nn[0])]
    y = np.array([0.0, 1.0, 0.0])
    for degrees, rounds in GRAVITY_ROUNDS:
        cos_t, sin_t = _cosd(degrees), _sind(degrees)
        for _ in range(rounds):
            similarity = np.abs(y @ nn)
            parallel, perpendicular = nn[:, similarity > cos_t], nn[:, similarity < sin_t]
            a = perpendicular @ perpendicular.T - parallel @ parallel.T
            _, vectors = np.linalg.eigh(a)  # ascending eigenvalues: the first is the smallest
            new = vectors[:, 0]
            y = new * np.sign(y @ new)
    return y


def _rotation(y_from: np.ndarray, y_to: np.ndarray) -> np.ndarray:
    """getRMatrix: the rotation taking ``y_from`` to ``y_to`` about their cross product; the identity below
    0.1 degrees."""
    y_from = y_from / np.linalg.norm(y_from)
    y_to = y_to / np.linalg.norm(y_to)
    axis = np.cross(y_from, y_to)
    axis = axis / np.linalg.norm(axis)
    phi = _acosd(y_from @ y_to)
    if not abs(phi) > 0.1:
        return np.eye(3)
    phi = phi * (np.pi / 180)
    s = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(phi) * s + (1 - np.cos(phi)) * (s @ s)


def _height(x: np.ndarray, y: np.ndarray, z: np.ndarray, gravity: np.ndarray) -> np.ndarray:
    """processDepthImage's height: minus the y of the points rotated by R^T (R: the camera's y axis to gravity),
    above the lowest point, which is taken as -130 when it is above -90 (a view without floor)."""
    r = _rotation(np.array([0.0, 1.0, 0.0]), gravity)
    if np.array_equal(r, np.eye(3)):
        height = -y
    else:
        height = -(r[0, 1] * x + r[1, 1] * y + r[2, 1] * z)
    lowest = np.min(height)
    if lowest > -90:
        lowest = -130.0
    return height - lowest


# Octave's sind, cosd and acosd, with their order of operations (the thresholds and angles are compared and
# rounded to integers: the last bit can decide).
def _sind(degrees: float) -> float:
    return float(np.sin(((degrees - 180) % 360 - 180) / 180 * np.pi))


def _cosd(degrees: float) -> float:
    return _sind(degrees + 90)


def _acosd(x):
    return np.arccos(x) * 180 / np.pi
