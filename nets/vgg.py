"""The VGG16 FCN family: FCN-32s, -16s, -8s and their variants (at-once, NYUD RGB-D, two-stream, two-headed).

Layer names, order and parameters follow the reference's ``net.py`` files; crop offsets are left empty here and
derived by nets.geometry when the net is assembled.
"""

from __future__ import annotations

from .spec import (
    Layer,
    NetSpec,
    concat,
    conv,
    conv_relu,
    crop,
    deconv,
    dropout,
    eltwise_sum,
    max_pool,
    scale,
)

# (block, number of 3x3 convs, channels) of VGG16's five conv blocks.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def vgg16_trunk(bottom: str, suffix: str = "", first_conv: str | None = None) -> list[Layer]:
    """conv1_1 .. pool5, fc6 / fc7 as convolutions, with drop6 / drop7. conv1_1 pads by 100 so that every input
    size down to 1x1 leaves fc6 at least 1x1 and the crops room to align.

    ``suffix`` is appended to every name (the two-stream NYUD net's "color" / "hha"); ``first_conv`` renames
    conv1_1 (NYUD RGB-D's "conv1_1_bgrd")."""
    out: list[Layer] = []
    blob = bottom
    for block, n_convs, channels in VGG16_BLOCKS:
        for i in range(1, n_convs + 1):
            name = f"conv{block}_{i}{suffix}"
            if block == 1 and i == 1 and first_conv:
                name = first_conv
            pad = 100 if (block, i) == (1, 1) else 1
            out += conv_relu(name, f"relu{block}_{i}{suffix}", blob, channels, 3, pad=pad)
            blob = name
        out.append(max_pool(f"pool{block}{suffix}", blob))
        blob = f"pool{block}{suffix}"
    out += conv_relu(f"fc6{suffix}", f"relu6{suffix}", blob, 4096, 7, pad=0)
    out.append(dropout(f"drop6{suffix}", f"fc6{suffix}"))
    out += conv_relu(f"fc7{suffix}", f"relu7{suffix}", f"fc6{suffix}", 4096, 1, pad=0)
    out.append(dropout(f"drop7{suffix}", f"fc7{suffix}"))
    return out


def skip_head(stride: int, classes: int, data: str, fc7: str = "fc7", suffix: str = "",
              at_once: bool = False) -> list[Layer]:
    """score_fr and the upsampling / skip layers of FCN-32s, -16s or -8s. ``suffix`` goes on every head name
    (SIFT Flow's "_sem" / "_geo"); the final crop is named ``score{suffix}``."""
    s = suffix
    out = [conv(f"score_fr{s}", fc7, classes, 1)]
    if stride == 32:
        out += [deconv(f"upscore{s}", f"score_fr{s}", classes, 64, 32),
                crop(f"score{s}", f"upscore{s}", data)]
        return out
    out.append(deconv(f"upscore2{s}", f"score_fr{s}", classes, 4, 2))
    pool4 = "pool4"
    if at_once:  # the skips are scaled down so that all heads can learn at once (FACTS.md section 1)
        out.append(scale("scale_pool4", "pool4", 0.01))
        pool4 = "scale_pool4"
    out += [conv(f"score_pool4{s}", pool4, classes, 1),
            crop(f"score_pool4{s}c", f"score_pool4{s}", f"upscore2{s}"),
            eltwise_sum(f"fuse_pool4{s}", f"upscore2{s}", f"score_pool4{s}c")]
    if stride == 16:
        out += [deconv(f"upscore16{s}", f"fuse_pool4{s}", classes, 32, 16),
                crop(f"score{s}", f"upscore16{s}", data)]
        return out
    if stride != 8:
        raise ValueError(f"FCN heads exist for strides 32, 16 and 8, not {stride}")
    out.append(deconv(f"upscore_pool4{s}", f"fuse_pool4{s}", classes, 4, 2))
    pool3 = "pool3"
    if at_once:
        out.append(scale("scale_pool3", "pool3", 0.0001))
        pool3 = "scale_pool3"
    out += [conv(f"score_pool3{s}", pool3, classes, 1),
            crop(f"score_pool3{s}c", f"score_pool3{s}", f"upscore_pool4{s}"),
            eltwise_sum(f"fuse_pool3{s}", f"upscore_pool4{s}", f"score_pool3{s}c"),
            deconv(f"upscore8{s}", f"fuse_pool3{s}", classes, 16, 8),
            crop(f"score{s}", f"upscore8{s}", data)]
    return out


def fcn(name: str, stride: int, classes: int, at_once: bool = False) -> NetSpec:
    """Single-input, single-head FCN (VOC, PASCAL-Context, NYUD color or HHA)."""
    layers = vgg16_trunk("data") + skip_head(stride, classes, "data", at_once=at_once)
    return NetSpec(name, {"data": 3}, tuple(layers), ("score",), f"{stride}s",
                   losses=(("loss", "score", "label"),))


def fcn_color_depth(name: str, classes: int) -> NetSpec:
    """NYUD RGB-D early fusion: Concat(color, depth) is blob "data", whose first conv has 4 input channels."""
    layers = [concat("data", ("color", "depth"))]
    layers += vgg16_trunk("data", first_conv="conv1_1_bgrd") + skip_head(32, classes, "data")
    return NetSpec(name, {"color": 3, "depth": 1}, tuple(layers), ("score",), "32s",
                   losses=(("loss", "score", "label"),))


def fcn_two_stream(name: str, classes: int, streams: tuple[str, str] = ("color", "hha")) -> NetSpec:
    """NYUD RGB-HHA late fusion: one full VGG16 stream per input, score_fr per stream, averaged (Eltwise SUM
    with coefficients 0.5, 0.5) before a single upsampling."""
    layers: list[Layer] = []
    for stream in streams:
        layers += vgg16_trunk(stream, suffix=stream)
        layers.append(conv(f"score_fr{stream}", f"fc7{stream}", classes, 1))
    layers += [eltwise_sum("score_fused", *(f"score_fr{s}" for s in streams), coeff=(0.5, 0.5)),
               deconv("upscore", "score_fused", classes, 64, 32),
               crop("score", "upscore", streams[0])]
    return NetSpec(name, {s: 3 for s in streams}, tuple(layers), ("score",), "32s",
                   losses=(("loss", "score", "label"),))


def fcn_two_headed(name: str, stride: int, heads: dict[str, int]) -> NetSpec:
    """SIFT Flow: one trunk, a semantic and a geometric head with _sem / _geo suffixes, each with its loss."""
    layers = vgg16_trunk("data")
    for head, classes in heads.items():
        layers += skip_head(stride, classes, "data", suffix=f"_{head}")
    outputs = tuple(f"score_{h}" for h in heads)
    # The reference names the semantic loss plain "loss" and the geometric one "loss_geo".
    losses = (("loss", "score_sem", "sem"), ("loss_geo", "score_geo", "geo"))
    return NetSpec(name, {"data": 3}, tuple(layers), outputs, f"{stride}s", losses=losses)
