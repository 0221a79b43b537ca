"""FCN-GoogLeNet (CVPR 2015 Table 1): BVLC GoogLeNet's trunk made fully convolutional, one 32x upsampling.

The paper never released this net (ledger: googlenet.trunk). The trunk is BVLC GoogLeNet's, layer for layer and name for
name as BVLC Caffe's ``models/bvlc_googlenet/deploy.prototxt`` (conv1/7x7_s2 .. inception_5b/output), so that
``bvlc_googlenet.caffemodel`` loads by the identity map. As the paper says, only the final classifier path is kept
(the auxiliary heads loss1/* and loss2/* exist only in BVLC's train_val net and are dropped by surgery) and the
final average pooling pool5/7x7_s1, its dropout pool5/drop_7x7_s1 and loss3/classifier are removed; a 1x1
``score_fr`` on inception_5b/output (1024 channels, stride 32) scores the classes.

Choices the paper does not state, and why (derived by nets.geometry, checked against Caffe's own coord_map in
tests/caffe/test_googlenet_parity.py):

- Upsampling kernel 63, not 64. Every kernel of GoogLeNet's trunk is odd, so every blob's coordinate shift is a
  whole number of input pixels; a Deconvolution of kernel k and stride 32 adds (k - 1) / 2, so k = 64 leaves the
  final crop at a half pixel (offset 1.5 + extra pad, for any integer pad) and Caffe's coord_map refuses it
  ("cannot crop noninteger offset"). FCN-AlexNet, the reference's other odd-kernel trunk, uses k = 63 and stride 32
  for the same reason; so does this net. The bilinear kernel of size 63 interpolates by 32 with its peak on a pixel.
- Input padding: 100 pixels on the first convolution, as the reference's FCN-VGG16 and FCN-AlexNet pad theirs,
  so conv1/7x7_s2 pads 3 + 100 = 103. The crop offset is then 1 + 100 = 101. Any input from 1x1 up then gives
  an output of the input's size; without the extra pad, inputs under 31 pixels leave pool4/3x3_s2 empty, and 15
  extra pixels is the least that works for every size. The price is work: a 500x500 input runs the trunk on 700x700.
- No dropout: BVLC's only dropout on the classifier path (pool5/drop_7x7_s1) sits after the removed pooling.
- No fillers: BVLC's xavier / constant fillers initialise a classifier trained from scratch; the kit's nets start
  at zero (Caffe's default constant filler) and take their weights from surgery (weights.transplant), as the
  paper's net started from its trained classifier. The LRN layers are BVLC's (local_size 5, alpha 1e-4,
  beta 0.75, k 1).

Parameters (the kit's one rule): the layer names keep BVLC's slashes and become the module names, so
``state_dict`` keys are ``<layer>.weight`` / ``<layer>.bias`` (``conv1/7x7_s2.weight``); torch allows '/' in a
module name (not '.'). In the kit's HDF5 layout a '/' nests groups (``/data/conv1/7x7_s2/0``), which
weights.h5 reads back by walking the groups.
"""

from __future__ import annotations

from .spec import Layer, NetSpec, concat, conv, conv_relu, crop, deconv, lrn, max_pool

# The extra input padding of the FCN (see the module docstring); BVLC's conv1/7x7_s2 itself pads 3.
FCN_INPUT_PAD = 100
BVLC_CONV1_PAD = 3

# (module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) of BVLC GoogLeNet's nine inception modules,
# with the stride-2 poolings between them (after 3b and 4e).
INCEPTION = (
    ("inception_3a", 64, 96, 128, 16, 32, 32),
    ("inception_3b", 128, 128, 192, 32, 96, 64),
    ("inception_4a", 192, 96, 208, 16, 48, 64),
    ("inception_4b", 160, 112, 224, 24, 64, 64),
    ("inception_4c", 128, 128, 256, 24, 64, 64),
    ("inception_4d", 112, 144, 288, 32, 64, 64),
    ("inception_4e", 256, 160, 320, 32, 128, 128),
    ("inception_5a", 256, 160, 320, 32, 128, 128),
    ("inception_5b", 384, 192, 384, 48, 128, 128),
)
POOL_AFTER = {"inception_3b": "pool3/3x3_s2", "inception_4e": "pool4/3x3_s2"}


def inception(module: str, bottom: str, n1x1: int, n3x3_reduce: int, n3x3: int, n5x5_reduce: int, n5x5: int,
              pool_proj: int) -> list[Layer]:
    """One inception module in BVLC's layer order: four branches on ``bottom`` (1x1; 1x1 reduce then 3x3 pad 1;
    1x1 reduce then 5x5 pad 2; MAX pool 3x3 stride 1 pad 1 then 1x1 projection), each convolution followed by its
    in-place ReLU, joined by a Concat along channels into ``<module>/output``. Every branch keeps the bottom's
    size and pixel positions, so the Concat joins aligned blobs."""
    m = module
    return [
        *conv_relu(f"{m}/1x1", f"{m}/relu_1x1", bottom, n1x1, 1, pad=0),
        *conv_relu(f"{m}/3x3_reduce", f"{m}/relu_3x3_reduce", bottom, n3x3_reduce, 1, pad=0),
        *conv_relu(f"{m}/3x3", f"{m}/relu_3x3", f"{m}/3x3_reduce", n3x3, 3, pad=1),
        *conv_relu(f"{m}/5x5_reduce", f"{m}/relu_5x5_reduce", bottom, n5x5_reduce, 1, pad=0),
        *conv_relu(f"{m}/5x5", f"{m}/relu_5x5", f"{m}/5x5_reduce", n5x5, 5, pad=2),
        max_pool(f"{m}/pool", bottom, 3, 1, pad=1),
        *conv_relu(f"{m}/pool_proj", f"{m}/relu_pool_proj", f"{m}/pool", pool_proj, 1, pad=0),
        concat(f"{m}/output", (f"{m}/1x1", f"{m}/3x3", f"{m}/5x5", f"{m}/pool_proj")),
    ]


def googlenet_trunk(bottom: str, input_pad: int = FCN_INPUT_PAD) -> list[Layer]:
    """conv1/7x7_s2 .. inception_5b/output of BVLC GoogLeNet; conv1/7x7_s2 pads 3 + ``input_pad`` (0 gives
    BVLC's classifier trunk exactly)."""
    out = [
        *conv_relu("conv1/7x7_s2", "conv1/relu_7x7", bottom, 64, 7, stride=2, pad=BVLC_CONV1_PAD + input_pad),
        max_pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2),
        lrn("pool1/norm1", "pool1/3x3_s2"),
        *conv_relu("conv2/3x3_reduce", "conv2/relu_3x3_reduce", "pool1/norm1", 64, 1, pad=0),
        *conv_relu("conv2/3x3", "conv2/relu_3x3", "conv2/3x3_reduce", 192, 3, pad=1),
        lrn("conv2/norm2", "conv2/3x3"),
        max_pool("pool2/3x3_s2", "conv2/norm2", 3, 2),
    ]
    blob = "pool2/3x3_s2"
    for module, *channels in INCEPTION:
        out += inception(module, blob, *channels)
        blob = f"{module}/output"
        if module in POOL_AFTER:
            out.append(max_pool(POOL_AFTER[module], blob, 3, 2))
            blob = POOL_AFTER[module]
    return out


def trunk(name: str = "bvlc-googlenet-trunk", input_pad: int = 0) -> NetSpec:
    """BVLC GoogLeNet up to inception_5b/output as a net of its own (the parity tests' view of the classifier's
    trunk; ``input_pad`` 0 is BVLC's deploy net)."""
    return NetSpec(name, {"data": 3}, tuple(googlenet_trunk("data", input_pad)), ("inception_5b/output",),
                   trunk=("inception_5b/output",))


def fcn_googlenet(name: str, classes: int) -> NetSpec:
    """FCN-GoogLeNet: the trunk padded for the FCN, score_fr, a frozen bilinear upscore (kernel 63, stride 32)
    and the crop ``score`` back to the input (offset derived by nets.geometry: 101)."""
    layers = googlenet_trunk("data") + [
        conv("score_fr", "inception_5b/output", classes, 1),
        deconv("upscore", "score_fr", classes, 63, 32),
        crop("score", "upscore", "data"),
    ]
    # No reference_offsets: the reference never published this net, so its offset is derived only.
    return NetSpec(name, {"data": 3}, tuple(layers), ("score",), losses=(("loss", "score", "label"),),
                   trunk=("inception_5b/output",))


def classifier_pool() -> Layer:
    """BVLC's final average pooling pool5/7x7_s1 (7x7, stride 1, AVE), which the FCN removes. For geometry only
    (the paper's Table 1 receptive field of 907 is this blob's); the kit's nets do not run AVE pooling."""
    return Layer("pool5/7x7_s1", "Pooling", ("inception_5b/output",), ("pool5/7x7_s1",), kernel_size=7, stride=1,
                 pool="AVE")
