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
of tests/fixtures/hha/, ``make test-octave GUPTA=...`` against Octave itself; docs/data.md, section HHA;
ledger: data.hha-equals-gupta).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

__all__ = ["Camera", "NYU_COLOR", "NYUD_CROP", "NYUD_CAMERA", "hha", "matlab_uint8", "gravity_direction"]


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
        normal, gravity_normal = _normals(z / 100, missing, camera)
        gravity = gravity_direction(gravity_normal)
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


def _normals(depth_m: np.ndarray, missing: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """computeNormalsSquareSupport (one superpixel) over 7 x 7 and 21 x 21 windows: two 3 x H x W fields of unit
    normals, NaN where no plane is defined.

    The 7 x 7 normals (the angle channel) are Octave's bit for bit: their window sums are added in Octave's
    order. The 21 x 21 ones only feed gravity, a sum of their outer products: their window sums are made from
    nine 7 x 7 sums each (fast; equal to Octave's to rounding), and redone in Octave's order where the rounding
    decides the normal (_fragile)."""
    z = depth_m * 100  # back to centimetres, as Gupta's function does (not always z bit for bit)
    xf, yf = _points(z, camera)
    x, y, zm = (np.where(missing, np.nan, a) for a in (xf, yf, z))
    x_z, y_z = x / zm, y / zm
    one = np.where(np.isnan(zm), np.nan, 1.0)
    terms = np.stack([x_z * x_z, x_z * y_z, x_z, y_z * y_z, y_z, one,  # A^T A of the rows (x/z, y/z, 1)
                      x / (zm * zm), y / (zm * zm), 1 / zm])           # A^T b with b = 1/z
    terms[np.isnan(terms)] = 0
    points = np.stack([xf, yf, z])
    h, w = z.shape
    r, step = ANGLE_RADIUS, 2 * ANGLE_RADIUS + 1
    assert GRAVITY_RADIUS == r + step  # a 21 x 21 window is 3 x 3 windows of 7 x 7
    # The 7 x 7 sums around every pixel and around the pixels up to one window (7) outside the image.
    sums7 = _window_sums_in_octave_order(np.pad(terms, ((0, 0), (step, step), (step, step))), r)
    normal = _oriented_normals(sums7[:, step:step + h, step:step + w], points)
    thirds = sums7[:, 0:h] + sums7[:, step:step + h] + sums7[:, 2 * step:2 * step + h]
    sums21 = thirds[:, :, 0:w] + thirds[:, :, step:step + w] + thirds[:, :, 2 * step:2 * step + w]
    gravity_normal = _oriented_normals(sums21, points)
    # A full window has the same well-conditioned A^T A wherever it is (its rows are the rays, whatever the
    # depth), and a window without a valid point gives NaN in any order: only the others can be fragile.
    count = sums21[5].ravel()
    maybe = np.flatnonzero((count > 0) & (count < (2 * GRAVITY_RADIUS + 1) ** 2))

    def at(planes: np.ndarray) -> np.ndarray:  # C x H x W -> C x len(maybe)
        return np.take(planes.reshape(len(planes), -1), maybe, axis=1)

    magnitudes = at(_magnitude_sums(terms[MIXED_SIGN], GRAVITY_RADIUS))
    fragile = maybe[_fragile(at(gravity_normal), at(sums21), magnitudes, at(points))]
    if fragile.size:
        rows, cols = np.unravel_index(fragile, (h, w))
        exact = _window_sums_at(terms, GRAVITY_RADIUS, rows, cols)
        gravity_normal[:, rows, cols] = _oriented_normals(exact, points[:, rows, cols])
    return normal, gravity_normal


MIXED_SIGN = [1, 2, 4, 6, 7]  # the terms that take both signs (x and y change sign across the image)
NUDGE, FRAGILE = 1e-15, 1e-8  # a normal moved by more than FRAGILE when its sums move by NUDGE is fragile


def _fragile(normal: np.ndarray, sums: np.ndarray, magnitudes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which of these normals (3 x N, from the window sums 9 x N) the rounding of the sums decides: those that
    move by more than FRAGILE when every sum moves by NUDGE (a few units in the last place) of the sum of its
    terms' magnitudes (``magnitudes``: those of the MIXED_SIGN terms), in a seeded random direction. A window
    with one valid point, or with its valid points on one image line, has a singular A^T A and a normal made
    of rounding errors. Elsewhere the normal is Octave's to about FRAGILE, which moves gravity by far less than
    could change a height (about 1e-12)."""
    scale = np.abs(sums)
    scale[MIXED_SIGN] = magnitudes
    nudge = np.where(np.random.default_rng(0).random(sums.shape) < 0.5, -NUDGE, NUDGE)
    moved = _oriented_normals(sums + nudge * scale, points)
    # up to sign: the orientation flips where n . p = 0, and gravity sees n n^T only
    change = np.minimum(np.abs(moved - normal).max(axis=0), np.abs(moved + normal).max(axis=0))
    return ~(change <= FRAGILE)  # NaN is fragile


def _oriented_normals(sums: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The normals of computeNormalsSquareSupport from the window sums of its nine terms (9 x ...), for the
    points ``points`` (3 x ...): the adjugate of the symmetric A^T A = [a1 a2 a3; a2 a4 a5; a3 a5 a6] times
    A^T b (not divided by the determinant: only the direction counts), normalised, then turned to n_z >= 0
    and to face away from the camera's side of the point."""
    a1, a2, a3, a4, a5, a6, b1, b2, b3 = sums
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
    side = np.sign(n[0] * points[0] + n[1] * points[1] + n[2] * points[2])
    side[np.isnan(side) | (side == 0)] = 1  # an undecided side keeps the normal
    n *= side
    return n


def _window_sums_in_octave_order(terms: np.ndarray, radius: int) -> np.ndarray:
    """Sums over the (2r+1) x (2r+1) window around every pixel of each C x H x W plane, zero outside, added in
    the order of GNU Octave's ``filter2(ones(2r+1), f)`` (its conv2: the window's columns left to right, each
    column bottom to top, one running sum). scipy.ndimage.correlate adds in C order over the window (rows,
    then columns within a row, one running sum): on the planes transposed and turned upside down, that is
    Octave's order."""
    k = 2 * radius + 1
    flipped = np.ascontiguousarray(terms[:, ::-1, :].transpose(0, 2, 1))
    sums = ndimage.correlate(flipped, np.ones((1, k, k)), mode="constant", cval=0.0)
    return sums.transpose(0, 2, 1)[:, ::-1, :]


def _magnitude_sums(terms: np.ndarray, radius: int) -> np.ndarray:
    """The window sums of the terms' magnitudes, to a few digits (a scale for _fragile)."""
    k = 2 * radius + 1
    return ndimage.uniform_filter(np.abs(terms), size=(1, k, k), mode="constant", cval=0.0) * (k * k)


def _window_sums_at(terms: np.ndarray, radius: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The window sums at the pixels (rows, cols) only, in Octave's order (_window_sums_in_octave_order)."""
    k = 2 * radius + 1
    padded = np.pad(terms, ((0, 0), (radius, radius), (radius, radius)))
    d_col = np.repeat(np.arange(k), k)  # offsets into the padded planes: columns left to right ...
    d_row = np.tile(np.arange(k - 1, -1, -1), k)  # ... and, within a column, rows bottom to top
    sums = np.empty((terms.shape[0], rows.size))
    step = max(1, (1 << 22) // (k * k * terms.shape[0]))  # about 32 MB of gathered values at a time
    for start in range(0, rows.size, step):
        r, c = rows[start:start + step, None], cols[start:start + step, None]
        window = padded[:, r + d_row, c + d_col]  # C x pixels x k*k, in the order of the additions
        sums[:, start:start + step] = np.cumsum(window, axis=2)[:, :, -1]  # cumsum adds one after the other
    return sums


def gravity_direction(normals: np.ndarray) -> np.ndarray:
    """getYDir: the unit gravity direction (the camera's y axis when level) from a 3 x H x W normal field.

    Each round keeps the normals within the threshold of the current estimate (F, near-parallel) and of its
    plane (W, near-perpendicular) and takes the eigenvector of the smallest eigenvalue of W^T W - F^T F; the
    sign follows the previous estimate."""
    nn = normals.reshape(3, -1)
    nn = nn[:, ~np.isnan(nn[0])]
    # The six distinct products of each normal with itself: W^T W - F^T F is then one product with weights.
    products = np.stack([nn[0] * nn[0], nn[0] * nn[1], nn[0] * nn[2], nn[1] * nn[1], nn[1] * nn[2], nn[2] * nn[2]])
    y = np.array([0.0, 1.0, 0.0])
    for degrees, rounds in GRAVITY_ROUNDS:
        cos_t, sin_t = _cosd(degrees), _sind(degrees)
        for _ in range(rounds):
            similarity = np.abs(np.einsum("i,in->n", y, nn))  # einsum: no BLAS threads for this
            weight = (similarity < sin_t).astype(np.float64) - (similarity > cos_t)
            xx, xy, xz, yy, yz, zz = np.einsum("kn,n->k", products, weight)
            _, vectors = np.linalg.eigh(np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
            new = vectors[:, 0]  # eigh sorts the eigenvalues in ascending order
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
