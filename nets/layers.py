"""Caffe layer behaviours in PyTorch, each named where it differs from a modern default."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def bilinear_kernel(channels: int, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Caffe-shaped (in=channels, out=channels, k, k) Deconvolution weights: a bilinear filter on the diagonal
    (output class c reads only input class c), zero elsewhere.

    f = ceil(k / 2); centre c = f - 1 for odd k, f - 0.5 for even k; w[i, j] = (1 - |i - c| / f)(1 - |j - c| / f).
    """
    f = (k + 1) // 2
    centre = f - 1 if k % 2 == 1 else f - 0.5
    og = np.arange(k, dtype=np.float64)
    filt1d = 1 - np.abs(og - centre) / f
    filt = np.outer(filt1d, filt1d)
    weight = np.zeros((channels, channels, k, k), dtype=np.float64)
    weight[range(channels), range(channels)] = filt
    return torch.from_numpy(weight).to(dtype)


class Deconvolution(nn.Module):
    """Caffe Deconvolution without bias, frozen: its kernel is a buffer, never a trainable parameter.

    Buffer ``weight`` has Caffe's (and PyTorch's transposed-convolution) layout (in, out / group, k, k). When the
    kernel is diagonal (the bilinear upsampler) each class is upsampled on its own, which is the same sum over
    fewer zeros; any other kernel is applied as the full transposed convolution.
    """

    def __init__(self, channels_in: int, num_output: int, kernel_size: int, stride: int, pad: int = 0,
                 group: int = 1):
        super().__init__()
        self.stride, self.pad, self.group = stride, pad, group
        self.register_buffer("weight", torch.zeros(channels_in, num_output // group, kernel_size, kernel_size))
        self._diag_cache: tuple[int, int, torch.Tensor | None] | None = None

    def _diagonal(self) -> torch.Tensor | None:
        """(C, 1, k, k) per-class kernels if ``weight`` is zero off the diagonal, else None (cached per version)."""
        w = self.weight
        key = (w.data_ptr(), w._version)
        if self._diag_cache is None or self._diag_cache[:2] != key:
            diag = None
            if self.group == 1 and w.shape[0] == w.shape[1]:
                idx = torch.arange(w.shape[0], device=w.device)
                on_diag = w[idx, idx]
                off = w.clone()
                off[idx, idx] = 0
                if not torch.any(off):
                    diag = on_diag.unsqueeze(1).contiguous()
            self._diag_cache = (*key, diag)
        return self._diag_cache[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype)
        diag = self._diagonal()
        if diag is not None:
            return F.conv_transpose2d(x, diag.to(x.dtype), stride=self.stride, padding=self.pad, groups=w.shape[0])
        return F.conv_transpose2d(x, w, stride=self.stride, padding=self.pad, groups=self.group)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, stride={self.stride}, pad={self.pad}, frozen"


class Scale(nn.Module):
    """Caffe Scale with one bottom and no bias: multiplies channel c by ``weight[c]``. Frozen (lr_mult 0), so the
    factor is a buffer; the reference fills it with a constant (0.01 for pool4, 0.0001 for pool3)."""

    def __init__(self, channels: int, value: float):
        super().__init__()
        self.register_buffer("weight", torch.full((channels,), float(value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.to(x.dtype).view(1, -1, 1, 1)


def caffe_max_pool(x: torch.Tensor, kernel_size: int, stride: int, pad: int = 0) -> torch.Tensor:
    """Caffe MAX pooling with padding, in Caffe's ceil mode: output size ceil((in + 2p - k) / s) + 1, minus one
    when p > 0 and the last window would start inside the padding (nets.geometry.pool_out); each window is
    clipped to the input, so the padding never wins a max.

    PyTorch's ceil_mode gives the same sizes and values whenever kernel >= stride (every pooling of the kit's
    nets): it applies the last-window rule without padding too, where it then never fires. Caffe also accepts
    kernel < stride (windows that see no input, valued -FLT_MAX) and pad up to kernel - 1; PyTorch differs or
    refuses there, so those are refused here rather than computed differently."""
    if kernel_size < stride or 2 * pad > kernel_size:
        raise ValueError(f"MAX pooling kernel {kernel_size}, stride {stride}, pad {pad}: only kernel >= stride and "
                         "pad <= kernel / 2 compute exactly as Caffe (the FCNs' poolings all do)")
    return F.max_pool2d(x, kernel_size, stride, pad, ceil_mode=True)


def caffe_dropout(x: torch.Tensor, ratio: float, training: bool) -> torch.Tensor:
    """Caffe Dropout: each ELEMENT kept with probability 1 - ratio and scaled by 1 / (1 - ratio) at train time;
    identity at test time. (Not channel dropout.)"""
    return F.dropout(x, ratio, training)


def caffe_lrn(x: torch.Tensor, local_size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """Caffe LRN across channels: b = a / (k + alpha / n * sum of a^2 over the n-channel window) ^ beta, the
    window centred with (n - 1) / 2 channels each side and zero beyond the ends. PyTorch's local_response_norm
    computes exactly this formula (same division by n, same zero padding)."""
    return F.local_response_norm(x, local_size, alpha, beta, k)


def caffe_crop(x: torch.Tensor, like: torch.Tensor, offset: int) -> torch.Tensor:
    """Caffe Crop on axis 2: ``x[:, :, o:o + H, o:o + W]`` with (H, W) from ``like``; counted from the top-left,
    not centred."""
    h, w = like.shape[2:]
    if x.shape[2] < offset + h or x.shape[3] < offset + w:
        raise ValueError(f"crop: bottom of size {tuple(x.shape[2:])} is too small for offset {offset} and "
                         f"reference size {(h, w)}")
    return x[:, :, offset:offset + h, offset:offset + w]


def caffe_eltwise_sum(tensors: list[torch.Tensor], coeff: tuple[float, ...]) -> torch.Tensor:
    """Caffe Eltwise SUM: sum_i coeff_i * bottom_i (coefficients 1 when none are given). Shapes must match."""
    if any(t.shape != tensors[0].shape for t in tensors[1:]):
        raise ValueError(f"Eltwise SUM needs bottoms of one shape, found {[tuple(t.shape) for t in tensors]}")
    coeff = coeff or (1.0,) * len(tensors)
    out = tensors[0] * coeff[0] if coeff[0] != 1 else tensors[0]
    for c, t in zip(coeff[1:], tensors[1:], strict=True):
        out = out + (t * c if c != 1 else t)
    return out


# ---- SoftmaxWithLoss (the reference's loss layers) ---------------------------------------------------------

FLT_MIN = 1.17549435e-38  # float.h FLT_MIN: SoftmaxWithLoss clamps probabilities here before the log


class _SoftmaxWithLoss(torch.autograd.Function):
    """Forward: sum over valid pixels of -log(max(p_label, FLT_MIN)), divided by the normaliser.
    Backward: (p - onehot(label)) on valid pixels, 0 on ignored ones, times top diff / normaliser; the clamp
    does not enter the gradient, exactly as in Caffe's SoftmaxWithLossLayer::Backward_cpu."""

    @staticmethod
    def forward(ctx, score: torch.Tensor, label: torch.Tensor, normalize: bool, ignore_label: int):
        # Caffe's SoftmaxLayer: subtract the channel max, exponentiate, divide by the sum.
        shifted = score - score.amax(dim=1, keepdim=True)
        expd = shifted.exp()
        prob = expd / expd.sum(dim=1, keepdim=True)
        valid = label != ignore_label
        safe = torch.where(valid, label, torch.zeros_like(label)).unsqueeze(1)
        p_label = prob.gather(1, safe).squeeze(1)
        per_pixel = -torch.log(torch.clamp(p_label, min=FLT_MIN))
        total = torch.where(valid, per_pixel, torch.zeros_like(per_pixel)).sum()
        count = int(valid.sum())
        # LossParameter normalization: legacy normalize true = VALID (Caffe floors the count at 1),
        # normalize false = BATCH_SIZE (the outer dimension N).
        normalizer = float(max(1, count)) if normalize else float(score.shape[0])
        ctx.save_for_backward(prob, safe, valid)
        ctx.normalizer = normalizer
        return total / normalizer

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        prob, safe, valid = ctx.saved_tensors
        grad = prob.clone()
        grad.scatter_add_(1, safe, -torch.ones_like(safe, dtype=grad.dtype))
        grad = grad * valid.unsqueeze(1).to(grad.dtype)
        grad = grad * (grad_output / ctx.normalizer)
        return grad, None, None, None


def softmax_with_loss(score: torch.Tensor, label: torch.Tensor, normalize: bool,
                      ignore_label: int = 255) -> torch.Tensor:
    """Caffe SoftmaxWithLoss with ``ignore_label`` and the legacy ``normalize`` flag.

    score: N x C x H x W; label: N x H x W or N x 1 x H x W (the reference's data layers add the singleton
    axis), integer class indices with ``ignore_label`` for void. normalize=False divides the summed loss by N
    (the reference's heavy recipe, N = 1), normalize=True by the number of valid pixels (FCN-AlexNet).
    """
    if score.dim() != 4:
        raise ValueError(f"score must be N x C x H x W, found shape {tuple(score.shape)}")
    if label.dim() == 4:
        if label.shape[1] != 1:
            raise ValueError(f"a 4-D label must be N x 1 x H x W, found shape {tuple(label.shape)}")
        label = label[:, 0]
    n, c, h, w = score.shape
    if tuple(label.shape) != (n, h, w):
        raise ValueError(f"label shape {tuple(label.shape)} does not match score {tuple(score.shape)}: "
                         f"expected {(n, h, w)} (the net's output is cropped to the input size)")
    if label.dtype.is_floating_point:
        raise TypeError(f"labels must be an integer tensor, found {label.dtype}")
    label = label.to(device=score.device, dtype=torch.int64)
    valid = label != ignore_label
    if valid.any():
        lo, hi = int(label[valid].min()), int(label[valid].max())
        if lo < 0 or hi >= c:
            raise ValueError(f"label values must lie in [0, {c}) or equal ignore_label {ignore_label}, found "
                             f"values from {lo} to {hi}")
    return _SoftmaxWithLoss.apply(score, label, normalize, ignore_label)
