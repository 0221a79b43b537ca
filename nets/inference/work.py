"""The work of a forward pass: multiply-accumulates in convolutions and deconvolutions, over the inference path's
windows or over whole blobs (the benchmarks' GMAC/s)."""

from __future__ import annotations

from .plan import _dense_size, make_plan
from .run import winograd_layer


def macs(net, size: tuple[int, int], windowed: bool = True, winograd: bool = False) -> int:
    """Multiply-accumulates of one forward pass (batch 1) in convolutions and deconvolutions: over the windows
    and the kept part of the final upsampling (``windowed``), or over whole blobs as the plain path does. With
    ``winograd`` the layers Winograd takes count its products: 16 per 2x2 output tile and channel pair, against
    the direct convolution's 36 (its transforms' additions are not counted)."""
    plan = make_plan(net, size) if windowed else None  # the default options
    sizes = {name: size for name in net.inputs}
    channels = net.channels
    total = 0
    for i, layer in enumerate(net.layers):
        if layer.type == "Crop":
            sizes[layer.top[0]] = sizes[layer.bottom[1]]
            continue
        h, w = sizes[layer.bottom[0]]
        out = _dense_size(layer, sizes) if layer.type != "Deconvolution" else _dense_size(layer, sizes)
        sizes[layer.top[0]] = out
        if layer.type not in ("Convolution", "Deconvolution"):
            continue
        c_in, k = channels[layer.bottom[0]], layer.kernel_size
        oh, ow = out
        if plan is not None and plan.spans[i] is not None:
            sh, sw = plan.spans[i]
            oh, ow = sh.hi - sh.lo + 1, sw.hi - sw.lo + 1
        if layer.type == "Convolution" and winograd and winograd_layer(layer, c_in):
            total += ((oh + 1) // 2) * ((ow + 1) // 2) * 16 * layer.num_output * c_in
        elif layer.type == "Convolution":
            total += oh * ow * layer.num_output * (c_in // layer.group) * k * k
        else:  # a diagonal (bilinear) kernel: each output reads about (k / s)^2 inputs of its own class
            if plan is not None and i in plan.crop_fused:
                oh, ow = sizes[net.layers[plan.crop_fused[i]].bottom[1]]
            total += oh * ow * layer.num_output * (k // layer.stride) ** 2
    return total
