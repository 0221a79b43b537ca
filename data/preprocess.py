"""Preprocessing exactly as the reference's Python data layers did it, in one place.

Colour images (every dataset): read with PIL, cast to float32, RGB -> BGR, subtract the per-dataset BGR mean,
H x W x C -> C x H x W. No resizing, cropping or flipping. The cast comes first, as in the reference, so the
mean is subtracted in float32. NYUD's HHA images keep their stored channel order (no flip) and subtract their
own mean; NYUD's depth becomes one channel of log(depth in mm) - 7.844.

The same ``preprocess_image`` serves every reader and inference on a user's own image, so that a picture from
disk reaches the net exactly as the training data did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# The order the nets' first convolution expects (Caffe / OpenCV convention inherited from the ILSVRC nets).
CHANNEL_ORDER = "BGR"

# The means subtracted before the nets (ledger: data.means), as the reference's data layers give them: per
# dataset (B, G, R) for colour images, NYUD's HHA mean in the stored channel order (horizontal disparity,
# height, angle: no BGR flip), NYUD's one-channel log-depth mean. Defined here once; the net records
# (nets.registry) name them per input, and readers apply them in float32 like the reference's
# np.array(..., dtype=np.float32).
MEAN_VALUES: dict[str, tuple[float, ...]] = {
    "voc": (104.00699, 116.66877, 122.67892),
    "nyud": (116.190, 97.203, 92.318),
    "nyud-hha": (132.431, 94.076, 118.477),
    "nyud-log-depth": (7.844,),
    "siftflow": (114.578, 115.294, 108.353),
    "pascalcontext": (104.007, 116.669, 122.679),
}
MEAN_VALUES["sbd"] = MEAN_VALUES["voc"]  # SBD's images are VOC images, fed with the VOC mean
_COLOUR = ("voc", "sbd", "nyud", "siftflow", "pascalcontext")
MEANS: dict[str, np.ndarray] = {k: np.array(MEAN_VALUES[k], dtype=np.float32) for k in _COLOUR}
NYUD_HHA_MEAN = np.array(MEAN_VALUES["nyud-hha"], dtype=np.float32)
NYUD_LOG_DEPTH_MEAN = np.array(MEAN_VALUES["nyud-log-depth"], dtype=np.float32)

ImageLike = Image.Image | np.ndarray | str | Path

# What PIL raises on a damaged or foreign file: UnidentifiedImageError is an OSError, truncated data raises
# OSError when decoded, some malformed headers ValueError or SyntaxError.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError)

# What each reader top holds, hence how a picture becomes it: "color" (RGB -> BGR, minus a BGR mean), "hha"
# (NYUD's HHA encoding, stored channel order, minus its mean), "depth" (log of millimetres, minus its mean).
TOP_KINDS: dict[str, str] = {"data": "color", "color": "color", "hha": "hha", "depth": "depth"}

# 16-bit and 32-bit single-channel PIL modes: scaled to 8 bits before the RGB conversion, not clipped.
_WIDE_GRAY = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0}


# PIL's own guard against decompression bombs: it refuses pictures of more than twice its MAX_IMAGE_PIXELS
# (178,956,970 pixels, about 13,377 x 13,377); the kit refuses above this number, in its own words, and a
# command's --max-pixels raises it knowingly.
DEFAULT_MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


class PictureTooLarge(ValueError):
    """A picture of more pixels than the limit (a decompression bomb, or a picture larger than expected)."""


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """An image file opened and decoded now, so that a damaged or foreign file fails here (one of
    IMAGE_ERRORS) and not halfway through a computation. A picture of more than ``max_pixels`` pixels is
    PictureTooLarge, told from its header before anything is decoded. A multi-frame file (an animated GIF, a
    multi-page TIFF) gives its first frame; ``n_frames`` says how many it has."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the check below replaces PIL's, with the limit asked for
    try:
        image = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PictureTooLarge(f"{width} x {height} = {width * height:,} pixels, more than the limit of "
                              f"{max_pixels:,} (a guard against decompression bombs); if the picture is what you "
                              f"meant, pass --max-pixels {width * height} to segment it")
    image.load()
    return image


def to_rgb(image: ImageLike) -> Image.Image:
    """Any still image as an 8-bit RGB PIL image: grayscale is replicated, palette images are expanded, an
    alpha channel is dropped (not composited: the reference never saw alpha), CMYK and YCbCr are converted.
    An RGB image comes back unchanged, so the reference's pixel values are kept bit for bit."""
    if isinstance(image, str | Path):
        image = Image.open(image)
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if image.mode == "RGB":
        return image
    if image.mode in _WIDE_GRAY:
        wide = np.asarray(image, dtype=np.float64)
        eight = np.clip(np.rint(wide * (255.0 / _WIDE_GRAY[image.mode])), 0, 255).astype(np.uint8)
        return Image.fromarray(eight).convert("RGB")
    if image.mode == "F":
        raise ValueError("a floating-point (mode F) image has no defined 0..255 range; save it as 8-bit "
                         "RGB or grayscale first")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # the palette may carry transparency; dropped below
    return image.convert("RGB")


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise ValueError(f"an image array must be uint8 (H x W, H x W x 3 RGB or H x W x 4 RGBA); got "
                         f"{array.dtype} {array.shape}. Convert with np.clip(a, 0, 255).astype(np.uint8).")
    if array.ndim == 2:
        return Image.fromarray(array)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array[:, :, :3]))
    raise ValueError(f"an image array must be H x W, H x W x 3 (RGB) or H x W x 4 (RGBA); got shape "
                     f"{array.shape}")


def preprocess_image(image: ImageLike, mean: np.ndarray | str) -> np.ndarray:
    """The reference's load_image: float32 C x H x W, BGR, mean subtracted. ``mean`` is a (B, G, R) array or a
    dataset name in MEANS. Grayscale, palette and RGBA images are converted to RGB first."""
    mean = MEANS[mean] if isinstance(mean, str) else np.asarray(mean, dtype=np.float32)
    if mean.shape != (3,):
        raise ValueError(f"a colour mean is three numbers (B, G, R); got shape {mean.shape}")
    in_ = np.array(to_rgb(image), dtype=np.float32)  # cast first: the mean is subtracted in float32
    in_ = in_[:, :, ::-1]  # RGB -> BGR
    in_ -= mean
    return np.ascontiguousarray(in_.transpose((2, 0, 1)))


def preprocess_hha(image: ImageLike, mean: np.ndarray = NYUD_HHA_MEAN) -> np.ndarray:
    """NYUD HHA as the reference fed it: float32 3 x H x W, stored channel order, minus ``mean``."""
    image = Image.open(image) if isinstance(image, str | Path) else image
    hha = np.array(image, dtype=np.float32)
    if hha.ndim != 3 or hha.shape[2] != 3:
        raise ValueError(f"an HHA image has three 8-bit channels; got array shape {hha.shape}")
    hha -= np.asarray(mean, dtype=np.float32)
    return np.ascontiguousarray(hha.transpose((2, 0, 1)))


def preprocess_depth(image: ImageLike, mean: np.ndarray = NYUD_LOG_DEPTH_MEAN) -> np.ndarray:
    """NYUD depth as the reference fed it: float32 1 x H x W, log(depth in mm) - ``mean`` (7.844).

    The depth PNG of the reference's prepared archive is single-channel 16-bit, millimetres (exp(7.844) is
    about 2.55 m, a typical indoor depth). A zero (missing depth) would give -inf, so it is refused here."""
    image = Image.open(image) if isinstance(image, str | Path) else image
    d = np.array(image, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"a depth image has one channel (16-bit PNG, millimetres); got array shape "
                         f"{d.shape}")
    zeros = int(np.count_nonzero(d <= 0))
    if zeros:
        raise ValueError(f"depth has {zeros} pixel(s) <= 0 and log(depth) would be -inf; the reference's "
                         "depth maps are filled (no holes). Fill the holes or use the reference's prepared "
                         "archive.")
    d = np.log(d)
    d -= np.asarray(mean, dtype=np.float32)
    return d[np.newaxis, ...]


def preprocess_top(top: str, image: ImageLike, mean: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """A picture as the reader top ``top`` holds it (TOP_KINDS), with the given mean: what the net record's
    inputs ask for (nets.record(NAME).inputs)."""
    if top not in TOP_KINDS:
        raise ValueError(f"no preprocessing for reader top {top!r}; known tops: {sorted(TOP_KINDS)}")
    kind = TOP_KINDS[top]
    mean = np.asarray(mean, dtype=np.float32)
    if kind == "color":
        return preprocess_image(image, mean)
    return preprocess_hha(image, mean) if kind == "hha" else preprocess_depth(image, mean)


def deprocess_image(blob: np.ndarray, mean: np.ndarray | str) -> np.ndarray:
    """The inverse of preprocess_image for display: C x H x W BGR minus mean -> H x W x 3 uint8 RGB."""
    mean = MEANS[mean] if isinstance(mean, str) else np.asarray(mean, dtype=np.float32)
    if blob.ndim != 3 or blob.shape[0] != 3:
        raise ValueError(f"expected a 3 x H x W colour blob; got shape {blob.shape}")
    bgr = blob.transpose((1, 2, 0)) + mean
    return np.clip(np.rint(bgr[:, :, ::-1]), 0, 255).astype(np.uint8)
