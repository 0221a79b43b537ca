"""The VGG16 FCN family: FCN-32s, -16s, -8s and their variants (at-once, NYUD RGB-D, two-stream, two-headed).

Layer names, order and parameters follow the reference's ``net.py`` files; crop offsets are left empty here and
derived by nets.geometry when the net is assembled, then checked against the offsets the reference published
(each builder copies them from geometry.REFERENCE_CROP_OFFSETS into the NetSpec).
"""

from __future__ import annotations

from .geometry import REFERENCE_CROP_OFFSETS
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
              at_once: bool = False) -> tuple[list[Layer], dict[str, int]]:
    """score_fr and the upsampling / skip layers of FCN-32s, -16s or -8s, and the offsets the reference
    published for its crops. ``suffix`` goes on every head name (SIFT Flow's "_sem" / "_geo"); the final crop
    is named ``score{suffix}``."""
    if stride not in (32, 16, 8):
        raise ValueError(f"FCN heads exist for strides 32, 16 and 8, not {stride}")
    s = suffix
    published = REFERENCE_CROP_OFFSETS[f"{stride}s"]
    offsets: dict[str, int] = {}
    out = [conv(f"score_fr{s}", fc7, classes, 1)]

    def skip(pool: str, into: str, factor: float) -> str:
        """Score ``pool`` (scaled first in the at-once net, so that all heads can learn at once: ledger
        net.at-once-scale), crop it to the upsampled coarser score ``into`` and sum the two."""
        bottom = pool
        if at_once:
            out.append(scale(f"scale_{pool}", pool, factor))
            bottom = f"scale_{pool}"
        offsets[f"score_{pool}{s}c"] = published[f"score_{pool}c"]
        out.extend([conv(f"score_{pool}{s}", bottom, classes, 1),
                    crop(f"score_{pool}{s}c", f"score_{pool}{s}", into),
                    eltwise_sum(f"fuse_{pool}{s}", into, f"score_{pool}{s}c")])
        return f"fuse_{pool}{s}"

    top = f"score_fr{s}"
    if stride <= 16:
        out.append(deconv(f"upscore2{s}", top, classes, 4, 2))
        top = skip("pool4", f"upscore2{s}", 0.01)
    if stride == 8:
        out.append(deconv(f"upscore_pool4{s}", top, classes, 4, 2))
        top = skip("pool3", f"upscore_pool4{s}", 0.0001)
    final = {32: "upscore", 16: "upscore16", 8: "upscore8"}[stride]
    out += [deconv(f"{final}{s}", top, classes, 2 * stride, stride), crop(f"score{s}", f"{final}{s}", data)]
    offsets[f"score{s}"] = published["score"]
    return out, offsets


def fcn(name: str, stride: int, classes: int, at_once: bool = False) -> NetSpec:
    """Single-input, single-head FCN (VOC, PASCAL-Context, NYUD color or HHA)."""
    head, offsets = skip_head(stride, classes, "data", at_once=at_once)
    return NetSpec(name, {"data": 3}, tuple(vgg16_trunk("data") + head), ("score",), offsets,
                   losses=(("loss", "score", "label"),), trunk=("fc7",))


def fcn_color_depth(name: str, classes: int) -> NetSpec:
    """NYUD RGB-D early fusion: Concat(color, depth) is blob "data", whose first conv has 4 input channels."""
    head, offsets = skip_head(32, classes, "data")
    layers = [concat("data", ("color", "depth")), *vgg16_trunk("data", first_conv="conv1_1_bgrd"), *head]
    return NetSpec(name, {"color": 3, "depth": 1}, tuple(layers), ("score",), offsets,
                   losses=(("loss", "score", "label"),), trunk=("fc7",))


def fcn_two_stream(name: str, classes: int, streams: tuple[str, str] = ("color", "hha"), stride: int = 32
                   ) -> NetSpec:
    """NYUD RGB-HHA late fusion: one full VGG16 stream per input, each scoring its own layers (score_fr<s>; at
    stride 16 also score_pool4<s>), the streams' scores averaged (Eltwise SUM, coefficients 0.5, 0.5) at each
    stride, then one FCN head on the averages.

    Stride 32 is the reference's nyud-fcn32s-color-hha: score_fused = the average of score_frcolor and
    score_frhha, one upscore (k64 s32), crop to the input (19).

    Stride 16 is the kit's reading of the paper's one sentence (CVPR 2015, NYUDv2 results: the late-fusion net
    "upgraded" to stride 16; the reference never released it). Each stream gets its own pool4 scorer
    (score_pool4color on pool4color, score_pool4hha on pool4hha), averaged like the fr scores into
    score_pool4_fused; then FCN-16s's head, layer for layer and name for name, runs once on the averages:
    upscore2 (k4 s2) of score_fused, score_pool4c = crop(score_pool4_fused, upscore2), fuse_pool4 = upscore2 +
    score_pool4c, upscore16 (k32 s16), score = crop(upscore16, color). Why this one: the upsamplers are frozen
    and linear and every fusion is a sum, so the net equals 0.5 x (an FCN-16s on color) + 0.5 x (an FCN-16s on
    HHA), exactly as the reference's 32s net equals the average of two FCN-32s: each stream is upgraded as
    FCN-16s upgrades FCN-32s, and the fusion stays the reference's average. Summing the pool4 scores instead
    (coefficients 1) would give each stream's skip twice the weight of its fr scores, which no FCN-16s has;
    cropping each stream's pool4 scores before averaging computes the same numbers with two crops for one. Starts
    from nyud-fcn32s-color-hha by surgery (every layer copied, the two score_pool4 zero). Its crop offsets (5,
    27) are derived only, the reference having none to check against."""
    if stride not in (32, 16):
        raise ValueError(f"the two-stream net is built at stride 32 (the reference's) or 16 (the paper's upgrade), "
                         f"not {stride}")
    layers: list[Layer] = []
    for stream in streams:
        layers += vgg16_trunk(stream, suffix=stream)
        layers.append(conv(f"score_fr{stream}", f"fc7{stream}", classes, 1))
        if stride == 16:
            layers.append(conv(f"score_pool4{stream}", f"pool4{stream}", classes, 1))
    layers.append(eltwise_sum("score_fused", *(f"score_fr{s}" for s in streams), coeff=(0.5, 0.5)))
    if stride == 32:
        layers += [deconv("upscore", "score_fused", classes, 64, 32), crop("score", "upscore", streams[0])]
        # The reference published this net's offset (19); the 16s net has none, so its offsets are derived only.
        offsets = {"score": REFERENCE_CROP_OFFSETS["32s"]["score"]}
    else:
        layers += [deconv("upscore2", "score_fused", classes, 4, 2),
                   eltwise_sum("score_pool4_fused", *(f"score_pool4{s}" for s in streams), coeff=(0.5, 0.5)),
                   crop("score_pool4c", "score_pool4_fused", "upscore2"),
                   eltwise_sum("fuse_pool4", "upscore2", "score_pool4c"),
                   deconv("upscore16", "fuse_pool4", classes, 32, 16),
                   crop("score", "upscore16", streams[0])]
        offsets = {}
    return NetSpec(name, {s: 3 for s in streams}, tuple(layers), ("score",), offsets,
                   losses=(("loss", "score", "label"),), trunk=tuple(f"fc7{s}" for s in streams), streams=streams)


def fcn_two_headed(name: str, stride: int, heads: dict[str, int]) -> NetSpec:
    """SIFT Flow: one trunk, a semantic and a geometric head with _sem / _geo suffixes, each with its loss."""
    layers = vgg16_trunk("data")
    offsets: dict[str, int] = {}
    for head, classes in heads.items():
        head_layers, head_offsets = skip_head(stride, classes, "data", suffix=f"_{head}")
        layers += head_layers
        offsets.update(head_offsets)
    outputs = tuple(f"score_{h}" for h in heads)
    # The reference names the semantic loss plain "loss" and the geometric one "loss_geo".
    losses = (("loss", "score_sem", "sem"), ("loss_geo", "score_geo", "geo"))
    return NetSpec(name, {"data": 3}, tuple(layers), outputs, offsets, losses=losses, trunk=("fc7",))
