"""FCN-AlexNet: CaffeNet's trunk made fully convolutional, with a single 32x upsampling (kernel 63)."""

from __future__ import annotations

from .geometry import REFERENCE_CROP_OFFSETS
from .spec import CAFFE_DEFAULT, Layer, NetSpec, conv, conv_relu, crop, deconv, dropout, lrn, max_pool


def alexnet_trunk(bottom: str) -> list[Layer]:
    """conv1 .. fc7 of CaffeNet. The reference sets no param blocks here, so Caffe's defaults apply
    (lr_mult 1 and decay_mult 1 for weights and biases alike)."""
    p = CAFFE_DEFAULT
    return [
        *conv_relu("conv1", "relu1", bottom, 96, 11, stride=4, pad=100, param=p),
        max_pool("pool1", "conv1", 3, 2),
        lrn("norm1", "pool1"),
        *conv_relu("conv2", "relu2", "norm1", 256, 5, pad=2, group=2, param=p),
        max_pool("pool2", "conv2", 3, 2),
        lrn("norm2", "pool2"),
        *conv_relu("conv3", "relu3", "norm2", 384, 3, pad=1, param=p),
        *conv_relu("conv4", "relu4", "conv3", 384, 3, pad=1, group=2, param=p),
        *conv_relu("conv5", "relu5", "conv4", 256, 3, pad=1, group=2, param=p),
        max_pool("pool5", "conv5", 3, 2),
        *conv_relu("fc6", "relu6", "pool5", 4096, 6, pad=0, param=p),
        dropout("drop6", "fc6"),
        *conv_relu("fc7", "relu7", "fc6", 4096, 1, pad=0, param=p),
        dropout("drop7", "fc7"),
    ]


def fcn_alexnet(name: str, classes: int) -> NetSpec:
    layers = alexnet_trunk("data") + [
        conv("score_fr", "fc7", classes, 1),
        deconv("upscore", "score_fr", classes, 63, 32),
        crop("score", "upscore", "data"),
    ]
    return NetSpec(name, {"data": 3}, tuple(layers), ("score",), REFERENCE_CROP_OFFSETS["alexnet"],
                   losses=(("loss", "score", "label"),), trunk=("fc7",))
