"""The inference path: every no-grad eval forward of a CaffeNet, exact, computing the trunk only where it depends
on the image.

conv1_1 (conv1 in FCN-AlexNet) pads its input by 100 zeros. Far from the image, every blob of the trunk is a
per-channel constant that depends only on the weights: the first conv gives its bias there, and each later layer
maps a constant to a constant. So each trunk blob is held as

    blob = c + Y       c: per-channel constant (C,); Y: a tensor on a computed window, exactly 0 outside it

which is exact because each trunk layer commutes with that split: a convolution of c + Y is conv(Y) plus the
constant b + sum(W) c (zero padding of Y stands for the constant band), max pooling is max(Y) + c per channel,
and ReLU(c + Y) - ReLU(c) = max(Y + min(c, 0), -max(c, 0)), which folds into the convolution's bias and one
in-place clamp. Windows are derived exactly from the layers' geometry per axis (``Span``): a layer's window is
the set of positions whose kernel reaches the previous window, and its kernels must not reach the blob's edge.

Near the blob's edge the zero padding of the later convolutions makes an "edge zone" that is not constant
either, but it does not depend on the image: it is the net's response to an all-zero image, and it depends on
the blob size only through the stride residues. It is computed once per weight set on a compressed grid (the
same residues, a short constant band in the middle; ``Compression``), cached, and stretched to the real size
when a trunk blob has to become an ordinary tensor (``materialise``): where the image window grows into the
edge zone (conv5 of VGG16, for any input size), or where a skip layer reads it (pool3, pool4).

The rest of the net runs layer by layer as nets.net does, in channels_last (oneDNN's and cuDNN's fast layout),
with ReLU in place; on a CPU fc6, fc7 and the score layers run as one matrix product each (``Options.gemm``),
and the final upsampling is computed only over the part the final crop keeps. The far-field constants and the
edge responses are cached per weight set (any in-place change of a parameter, as an optimizer step or
weights.load makes, or a move to another device, invalidates them).

Used for inference only (``applies``: eval mode, autograd off): the cached edge response holds no graph, so
training and ``forward_blobs`` (every Caffe blob) run the plain layer-by-layer path of nets.net.

The switch: ``with nets.inference.disabled(): net(x)`` runs the plain layer-by-layer path of nets.net instead
(the path training takes), to compare with it or to rule this path out. Nothing else turns it off but the
conditions of ``applies`` (train mode, autograd on, an ONNX export or TorchScript trace).

The modules, in the order a forward uses them: ``options`` (Options, DEFAULT, applies, disabled), ``span`` (the
geometry of a window, one axis at a time), ``plan`` (which layers run windowed, for one input size), ``cache``
(per-net state: plans per input size and converted weights per weight set), ``run`` (one forward pass:
``forward``, with the edge responses and Winograd F(2x2, 3x3) for the wide 3x3 convolutions on a CPU where it
measures faster there: ``winograd_choice``), ``work``
(the multiply-accumulates a forward computes: ``macs``).
"""

from __future__ import annotations

from .options import DEFAULT, Options, applies, disabled
from .plan import Chain, Compression, Plan, make_plan, rectified_convs
from .run import WinogradChoice, forward, winograd_choice, winograd_conv, winograd_layer, winograd_on, winograd_weight
from .span import Span, needed, next_span, root_span
from .work import macs

__all__ = ["DEFAULT", "Chain", "Compression", "Options", "Plan", "Span", "applies", "disabled",
           "forward", "macs", "make_plan", "needed", "next_span", "rectified_convs", "root_span", "winograd_conv",
           "winograd_layer", "winograd_weight", "WinogradChoice", "winograd_choice", "winograd_on"]
