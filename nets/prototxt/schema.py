"""The part of Caffe's schema (caffe.proto, BVLC master) that the prototxt reader checks a file against: each
message's fields, their kinds and whether they repeat. Copied by hand from caffe.proto for the messages a
fully convolutional net uses; a field not listed here is an error naming the fields that are.

Kinds: "int", "float", "bool", "str", "msg" or ("enum", names in enum-number order); each entry is
(kind, repeated).
"""

from __future__ import annotations

ENGINE = ("enum", ("DEFAULT", "CAFFE", "CUDNN"))
SCHEMAS: dict[str, dict[str, tuple[object, bool]]] = {
    "convolution_param": {
        "num_output": ("int", False), "bias_term": ("bool", False), "pad": ("int", True),
        "kernel_size": ("int", True), "stride": ("int", True), "dilation": ("int", True),
        "pad_h": ("int", False), "pad_w": ("int", False), "kernel_h": ("int", False), "kernel_w": ("int", False),
        "stride_h": ("int", False), "stride_w": ("int", False), "group": ("int", False),
        "weight_filler": ("msg", False), "bias_filler": ("msg", False), "engine": (ENGINE, False),
        "axis": ("int", False), "force_nd_im2col": ("bool", False)},
    "pooling_param": {
        "pool": (("enum", ("MAX", "AVE", "STOCHASTIC")), False), "pad": ("int", False), "pad_h": ("int", False),
        "pad_w": ("int", False), "kernel_size": ("int", False), "kernel_h": ("int", False),
        "kernel_w": ("int", False), "stride": ("int", False), "stride_h": ("int", False),
        "stride_w": ("int", False), "engine": (ENGINE, False), "global_pooling": ("bool", False),
        "round_mode": (("enum", ("CEIL", "FLOOR")), False),
        "ceil_mode": ("bool", False)},  # ceil_mode: how the Caffe fork the kit builds spells round_mode
    "dropout_param": {"dropout_ratio": ("float", False)},
    "crop_param": {"axis": ("int", False), "offset": ("int", True)},
    "eltwise_param": {"operation": (("enum", ("PROD", "SUM", "MAX")), False), "coeff": ("float", True),
                      "stable_prod_grad": ("bool", False)},
    "scale_param": {"axis": ("int", False), "num_axes": ("int", False), "filler": ("msg", False),
                    "bias_term": ("bool", False), "bias_filler": ("msg", False)},
    "lrn_param": {"local_size": ("int", False), "alpha": ("float", False), "beta": ("float", False),
                  "norm_region": (("enum", ("ACROSS_CHANNELS", "WITHIN_CHANNEL")), False), "k": ("float", False),
                  "engine": (ENGINE, False)},
    "concat_param": {"axis": ("int", False), "concat_dim": ("int", False)},
    "relu_param": {"negative_slope": ("float", False), "engine": (ENGINE, False)},
    "input_param": {"shape": ("msg", True)},
    "python_param": {"module": ("str", False), "layer": ("str", False), "param_str": ("str", False),
                     "share_in_parallel": ("bool", False)},
    "loss_param": {"ignore_label": ("int", False), "normalize": ("bool", False),
                   "normalization": (("enum", ("FULL", "VALID", "BATCH_SIZE", "NONE")), False)},
    "softmax_param": {"engine": (ENGINE, False), "axis": ("int", False)},
    "filler": {"type": ("str", False), "value": ("float", False), "min": ("float", False), "max": ("float", False),
               "mean": ("float", False), "std": ("float", False), "sparse": ("int", False),
               "variance_norm": (("enum", ("FAN_IN", "FAN_OUT", "AVERAGE")), False)},
    "param": {"name": ("str", False), "share_mode": (("enum", ("STRICT", "PERMISSIVE")), False),
              "lr_mult": ("float", False), "decay_mult": ("float", False)},
    "shape": {"dim": ("int", True)},
}
# LayerParameter fields other than the type-specific *_param messages.
LAYER_FIELDS = {
    "name": ("str", False), "type": ("str", False), "bottom": ("str", True), "top": ("str", True),
    "phase": (("enum", ("TRAIN", "TEST")), False), "loss_weight": ("float", True), "param": ("msg", True),
    "blobs": ("msg", True), "propagate_down": ("bool", True), "include": ("msg", True), "exclude": ("msg", True),
}
# The *_param messages each type reads.
TYPE_PARAMS: dict[str, tuple[str, ...]] = {
    "Convolution": ("convolution_param",), "Deconvolution": ("convolution_param",),
    "Pooling": ("pooling_param",), "Dropout": ("dropout_param",), "Crop": ("crop_param",),
    "Eltwise": ("eltwise_param",), "Scale": ("scale_param",), "LRN": ("lrn_param",),
    "Concat": ("concat_param",), "ReLU": ("relu_param",), "Input": ("input_param",),
    "Python": ("python_param",), "SoftmaxWithLoss": ("loss_param", "softmax_param"),
}
NET_FIELDS = {
    "name": ("str", False), "input": ("str", True), "input_shape": ("msg", True), "input_dim": ("int", True),
    "force_backward": ("bool", False), "state": ("msg", False), "debug_info": ("bool", False),
    "layer": ("msg", True),
}
DEFAULT_MULTIPLIERS = (1.0, 1.0)  # Caffe's ParamSpec defaults: lr_mult 1, decay_mult 1
