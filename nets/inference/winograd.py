"""Winograd F(2x2, 3x3) for the wide 3x3, stride-1 convolutions on a CPU (outside autocast): 2.25x fewer products
than the direct convolution, exact to rounding."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..spec import Layer

# Winograd pays where the 16 products are wide enough to hide its transforms (measured with
# ``.venv/bin/python -m benchmarks.inference --steps``): VGG16's conv4 and conv5 (256 or 512 in, 512 out); below,
# oneDNN's direct convolution is faster on a CPU.
WINOGRAD_MIN_WORK = 256 * 512  # input channels x output channels


def winograd_layer(layer: Layer, c_in: int) -> bool:
    """Whether a convolution is one Winograd takes (on a CPU, without autocast): 3x3, stride 1, ungrouped, wide."""
    return (layer.type == "Convolution" and layer.kernel_size == 3 and layer.stride == 1 and layer.group == 1
            and c_in * layer.num_output >= WINOGRAD_MIN_WORK)


def _as_winograd(layer: Layer, weight: torch.Tensor, x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and winograd_layer(layer, weight.shape[1]))


# F(2x2, 3x3) (Lavin and Gray 2016): a 4x4 input tile d gives a 2x2 output tile A^T [(G g G^T) * (B^T d B)] A.
# B^T and A^T hold only 0 and +-1 and G only 0, +-1/2 and 1, so the transforms add and halve exactly; what
# rounding there is comes from the products, as in the direct convolution (float32 agreement ~2e-6 of the largest
# output, float64 ~1e-14, tests/test_inference.py).
_WINO_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """The kernels' transform G g G^T, as the 16 matrices of the products: (16, in, out)."""
    g = torch.tensor(_WINO_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight.detach().double(), g)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def winograd_conv(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None,
                  pad: tuple[int, int]) -> torch.Tensor:
    """A 3x3, stride-1 convolution with zero padding ``pad`` as Winograd F(2x2, 3x3): 2.25x fewer products than
    the direct convolution, computed as 16 matrix products (tiles x in) @ (in x out) per image. Works on the
    channels-last view; returns a channels_last tensor."""
    n, c, h, w = x.shape
    ph, pw = pad
    ho, wo = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    cout = u.shape[2]
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, pw, 2 * tw + 2 - w - pw, ph, 2 * th + 2 - h - ph))  # N H W C
    out = torch.empty(n, 2 * th, 2 * tw, cout, dtype=x.dtype, device=x.device)
    v = torch.empty(16, th, tw, c, dtype=x.dtype, device=x.device)
    m = torch.empty(16, th * tw, cout, dtype=x.dtype, device=x.device)
    for b in range(n):
        rows = [xp[b, r:r + 2 * th:2] for r in range(4)]  # B^T d: rows of every tile at once
        for i, d in enumerate((rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])):
            cols = [d[:, s:s + 2 * tw:2] for s in range(4)]  # (B^T d) B: their columns
            torch.sub(cols[0], cols[2], out=v[4 * i])
            torch.add(cols[1], cols[2], out=v[4 * i + 1])
            torch.sub(cols[2], cols[1], out=v[4 * i + 2])
            torch.sub(cols[1], cols[3], out=v[4 * i + 3])
        vv = v.view(16, th * tw, c)
        for k in range(16):  # one product per tile position; a batched product is slower on a CPU
            torch.mm(vv[k], u[k], out=m[k])
        mm = m.view(4, 4, th, tw, cout)
        o = out[b]
        for r, p in ((0, mm[0] + mm[1] + mm[2]), (1, mm[1] - mm[2] - mm[3])):  # A^T M, then (A^T M) A
            torch.add(p[0], p[1], out=o[r::2, 0::2]).add_(p[2])
            torch.sub(p[1], p[2], out=o[r::2, 1::2]).sub_(p[3])
    if bias is not None:
        out.add_(bias.to(out.dtype))
    out = out.permute(0, 3, 1, 2)
    if (ho, wo) != (2 * th, 2 * tw):
        out = out[:, :, :ho, :wo].contiguous(memory_format=torch.channels_last)
    return out
