"""Layer geometry: coordinate mapping, crop offsets, blob sizes and receptive fields.

Every blob gets an affine map to input coordinates, ``x_input = scale * x_blob + shift``, where ``x_blob`` is the
index of a pixel and ``x_input`` the input position at the centre of what it sees. Per layer (1-D, k kernel,
s stride, p pad):

- Convolution / Pooling: ``x_in = s * x_out + (k - 1) / 2 - p``
- Deconvolution (the inverse): ``x_in = (x_out - (k - 1) / 2 + p) / s``

A Crop must line its bottom up with its reference blob: it keeps ``bottom[o:o + size(ref)]`` so that
``scale * (x + o) + shift_bottom == scale * x + shift_ref``, i.e. ``o = (shift_ref - shift_bottom) / scale``.
This is how Caffe's net-spec tool derives the reference's offsets; the result is checked against the table the
reference shipped (REFERENCE_CROP_OFFSETS), which the net builders copy into each NetSpec's
``reference_offsets``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from .spec import Layer, NetSpec

# The reference's crop offsets (ledger: geometry.crop-offsets), by head architecture and the crop's role (its
# name in the single-head nets; SIFT Flow's score_pool4_semc plays the role of score_pool4c).
REFERENCE_CROP_OFFSETS: dict[str, dict[str, int]] = {
    "32s": {"score": 19},
    "16s": {"score_pool4c": 5, "score": 27},
    "8s": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "alexnet": {"score": 18},
}


class GeometryError(ValueError):
    """A layer whose geometry cannot be what the reference net has."""


@dataclass(frozen=True)
class CoordMap:
    """x_input = scale * x_blob + shift, exact in rationals."""

    scale: Fraction
    shift: Fraction

    def then(self, layer: CoordMap) -> CoordMap:
        """Map of the top of a layer whose own map (``x_bottom = layer.scale * x_top + layer.shift``) is
        ``layer`` and whose bottom has this map."""
        return CoordMap(self.scale * layer.scale, self.shift + self.scale * layer.shift)

    def then_forward(self, k: int, s: int, p: int) -> CoordMap:
        """Map of the top of a Convolution/Pooling layer whose bottom has this map."""
        return self.then(forward_map(k, s, p))

    def then_deconv(self, k: int, s: int, p: int) -> CoordMap:
        """Map of the top of a Deconvolution layer whose bottom has this map."""
        return self.then(deconv_map(k, s, p))


def forward_map(k: int, s: int, p: int) -> CoordMap:
    """A Convolution's or Pooling's own map: ``x_in = s * x_out + (k - 1) / 2 - p``."""
    return CoordMap(Fraction(s), Fraction(k - 1, 2) - p)


def deconv_map(k: int, s: int, p: int) -> CoordMap:
    """A Deconvolution's own map, the inverse of a convolution's: ``x_in = (x_out - (k - 1) / 2 + p) / s``."""
    return CoordMap(Fraction(1, s), (p - Fraction(k - 1, 2)) / s)


def layer_map(layer: Layer) -> CoordMap | None:
    """The map a Convolution, Pooling or Deconvolution layer applies on its own (None for the other types,
    which keep or copy a bottom's map)."""
    if layer.type in ("Convolution", "Pooling"):
        return forward_map(layer.kernel_size, layer.stride, layer.pad)
    if layer.type == "Deconvolution":
        return deconv_map(layer.kernel_size, layer.stride, layer.pad)
    return None


IDENTITY = CoordMap(Fraction(1), Fraction(0))
SAME_GEOMETRY = {"ReLU", "Dropout", "LRN", "Scale"}  # layers whose top keeps the bottom's size and coordinates


def coord_maps(spec: NetSpec) -> dict[str, CoordMap]:
    """The coordinate map of every blob. All inputs share one frame (the reference feeds aligned images)."""
    maps = {name: IDENTITY for name in spec.inputs}
    for layer in spec.layers:
        bottom = [maps[b] for b in layer.bottom]
        if layer.type in ("Convolution", "Pooling"):
            top = bottom[0].then_forward(layer.kernel_size, layer.stride, layer.pad)
        elif layer.type == "Deconvolution":
            top = bottom[0].then_deconv(layer.kernel_size, layer.stride, layer.pad)
        elif layer.type in SAME_GEOMETRY:
            top = bottom[0]
        elif layer.type == "Crop":
            top = bottom[1]
        elif layer.type in ("Eltwise", "Concat"):
            if any(m != bottom[0] for m in bottom[1:]):
                raise GeometryError(
                    f"layer {layer.name!r} ({layer.type}) joins blobs {layer.bottom} whose pixels do not line up "
                    f"(coordinate maps {bottom}); a Crop is missing or wrong before it")
            top = bottom[0]
        else:
            raise GeometryError(f"layer {layer.name!r}: no coordinate mapping for Caffe type {layer.type!r}")
        for t in layer.top:
            maps[t] = top
    return maps


def crop_offset(layer: Layer, bottom: CoordMap, ref: CoordMap) -> int:
    """The offset Crop ``layer`` needs so that its bottom lines up with its reference blob."""
    if bottom.scale != ref.scale:
        raise GeometryError(
            f"crop {layer.name!r}: {layer.bottom[0]!r} has stride {bottom.scale} but {layer.bottom[1]!r} has "
            f"stride {ref.scale} in input pixels; a crop can only align blobs of equal stride")
    offset = (ref.shift - bottom.shift) / bottom.scale
    if offset.denominator != 1 or offset < 0:
        raise GeometryError(
            f"crop {layer.name!r}: derived offset {offset} is not a non-negative integer (expected one, as the "
            f"reference's crops are); check the kernel, stride and pad of the layers before it")
    return int(offset)


def derive_crop_offsets(spec: NetSpec) -> dict[str, int]:
    """Offset of every Crop layer, derived from the layer list (the layers' own offsets are ignored)."""
    maps = coord_maps(spec)
    return {layer.name: crop_offset(layer, maps[layer.bottom[0]], maps[layer.bottom[1]])
            for layer in spec.layers if layer.type == "Crop"}


def resolve_crops(spec: NetSpec) -> NetSpec:
    """Fill every Crop's offset from geometry and check it against the offsets the reference published
    (``spec.reference_offsets``; a net the reference never published has none, and its offsets are derived
    only)."""
    derived = derive_crop_offsets(spec)
    published = dict(spec.reference_offsets)
    if published and set(published) != set(derived):
        raise GeometryError(f"net {spec.name!r}: the reference's offsets name crops {sorted(published)}, the net "
                            f"has crops {sorted(derived)}")
    for name, offset in derived.items():
        if published and offset != published[name]:
            raise GeometryError(
                f"net {spec.name!r}: crop {name!r} derives offset {offset} from the layer geometry, but the "
                f"reference uses {published[name]}; a kernel, stride or pad differs from the reference net")
    layers = tuple(layer.with_offset(derived[layer.name]) if layer.type == "Crop" else layer
                   for layer in spec.layers)
    return replace(spec, layers=layers)


# ---- sizes and receptive fields (for the audit and the tests) -------------------------------------------------

def conv_out(size: int, k: int, s: int, p: int) -> int:
    """Caffe Convolution output size: floor((in + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def pool_out(size: int, k: int, s: int, p: int) -> int:
    """Caffe Pooling output size: rounded UP, ceil((in + 2p - k) / s) + 1, and with pad > 0 the last window is
    dropped if it would start inside the padding."""
    out = -(-(size + 2 * p - k) // s) + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


def deconv_out(size: int, k: int, s: int, p: int) -> int:
    """Caffe Deconvolution output size: s * (in - 1) + k - 2p."""
    return s * (size - 1) + k - 2 * p


def blob_sizes(spec: NetSpec, height: int, width: int) -> dict[str, tuple[int, int]]:
    """Spatial size (H, W) of every blob for an input of height x width; errors name the layer that breaks."""
    sizes: dict[str, tuple[int, int]] = {name: (height, width) for name in spec.inputs}
    for layer in spec.layers:
        h, w = sizes[layer.bottom[0]]
        if layer.type == "Convolution":
            top = (conv_out(h, layer.kernel_size, layer.stride, layer.pad),
                   conv_out(w, layer.kernel_size, layer.stride, layer.pad))
        elif layer.type == "Pooling":
            top = (pool_out(h, layer.kernel_size, layer.stride, layer.pad),
                   pool_out(w, layer.kernel_size, layer.stride, layer.pad))
        elif layer.type == "Deconvolution":
            top = (deconv_out(h, layer.kernel_size, layer.stride, layer.pad),
                   deconv_out(w, layer.kernel_size, layer.stride, layer.pad))
        elif layer.type == "Crop":
            ref = sizes[layer.bottom[1]]
            if layer.offset is None or h < layer.offset + ref[0] or w < layer.offset + ref[1]:
                raise GeometryError(
                    f"crop {layer.name!r}: bottom {layer.bottom[0]!r} is {h}x{w}, too small for offset "
                    f"{layer.offset} and reference {layer.bottom[1]!r} of {ref[0]}x{ref[1]}")
            top = ref
        else:
            top = (h, w)
        if top[0] < 1 or top[1] < 1:
            raise GeometryError(f"layer {layer.name!r}: output would be {top[0]}x{top[1]} for input {height}x{width}")
        for t in layer.top:
            sizes[t] = top
    return sizes


@dataclass(frozen=True)
class ReceptiveField:
    size: Fraction  # in input pixels
    jump: Fraction  # stride of the blob in input pixels


def receptive_fields(spec: NetSpec) -> dict[str, ReceptiveField]:
    """Receptive field size and cumulative stride of every blob (a Deconvolution output pixel sees
    ceil(k / s) bottom pixels)."""
    fields = {name: ReceptiveField(Fraction(1), Fraction(1)) for name in spec.inputs}
    for layer in spec.layers:
        rf = fields[layer.bottom[0]]
        if layer.type in ("Convolution", "Pooling"):
            top = ReceptiveField(rf.size + (layer.kernel_size - 1) * rf.jump, rf.jump * layer.stride)
        elif layer.type == "Deconvolution":
            seen = math.ceil(layer.kernel_size / layer.stride)
            top = ReceptiveField(rf.size + (seen - 1) * rf.jump, rf.jump / layer.stride)
        elif layer.type in ("Eltwise", "Concat"):
            top = max((fields[b] for b in layer.bottom), key=lambda f: f.size)
        else:
            top = rf
        for t in layer.top:
            fields[t] = top
    return fields
