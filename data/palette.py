"""Colour palettes and pictures of label maps.

The PASCAL VOC palette gives index i the colour whose bits interleave the bits of i: bit 3k of i sets bit 7-k
of red, bit 3k+1 of green, bit 3k+2 of blue (0 black, 1 dark red, 2 dark green, ..., 255 cream (224, 224, 192)
for "void"). Segmentation results go to the PASCAL evaluation server as palette PNGs (mode "P") with this
palette; the same palette colours every dataset's labels here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .files import atomic_path


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map, n x 3 uint8 (RGB)."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


VOC_PALETTE = voc_palette()


def _as_label(label: np.ndarray) -> np.ndarray:
    label = np.asarray(label)
    if label.ndim != 2 or label.dtype.kind not in "iub":
        raise ValueError(f"a label map is an H x W integer array; got {label.dtype} {label.shape}")
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f"palette PNGs hold indices 0..255; the label map spans "
                         f"{label.min()}..{label.max()}")
    return label.astype(np.uint8)


def label_image(label: np.ndarray) -> Image.Image:
    """A label map as a mode "P" image carrying the VOC palette."""
    im = Image.fromarray(_as_label(label))  # mode L; putpalette turns it into P keeping the indices
    im.putpalette(VOC_PALETTE.tobytes())
    return im


def colorize(label: np.ndarray) -> np.ndarray:
    """A label map as H x W x 3 uint8 RGB in VOC palette colours."""
    return VOC_PALETTE[_as_label(label)]


def _save_atomic(image: Image.Image, path: Path | str, comment: str | None = None) -> Path:
    """Write a PNG atomically (data.files): never a half-written file. ``comment``: a PNG text chunk
    (``Comment``) that travels with the file (what made it, or that it means nothing)."""
    from PIL.PngImagePlugin import PngInfo

    info = None
    if comment is not None:
        info = PngInfo()
        info.add_text("Comment", comment)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def save_label_png(path: Path | str, label: np.ndarray, comment: str | None = None) -> Path:
    """Save a label map (or prediction) as a VOC palette PNG, the format the PASCAL server accepts."""
    return _save_atomic(label_image(label), path, comment)


def overlay(image: np.ndarray | Image.Image, label: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The image blended with its coloured labels (alpha = weight of the colours), RGB, for a person to look
    at. ``image`` is H x W x 3 uint8 RGB (see preprocess.deprocess_image) or a PIL image."""
    from .preprocess import to_rgb

    rgb = np.asarray(to_rgb(image), dtype=np.float32)
    colours = colorize(label).astype(np.float32)
    if rgb.shape != colours.shape:
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but the label map is "
                         f"{colours.shape[1]}x{colours.shape[0]} (W x H); they must match")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is a blending weight in [0, 1]; got {alpha}")
    blended = (1.0 - alpha) * rgb + alpha * colours
    return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))


def save_overlay(path: Path | str, image: np.ndarray | Image.Image, label: np.ndarray,
                 alpha: float = 0.5, comment: str | None = None) -> Path:
    """Save ``overlay(image, label, alpha)`` as a PNG."""
    return _save_atomic(overlay(image, label, alpha), path, comment)
