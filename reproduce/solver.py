"""Caffe's SGDSolver and SoftmaxWithLoss, and the reference's solver settings per net (FACTS.md section 2).

Update, per parameter blob, as Caffe's SGDSolver::ApplyUpdate does it (fixed learning rate):

    g = (sum of the gradients of iter_size passes) / iter_size       Normalize
    g = g + weight_decay * decay_mult * W                            Regularize (L2)
    V = momentum * V + base_lr * lr_mult * g                         ComputeUpdateValue
    W = W - V                                                        Update

Upsampling (Deconvolution) and Scale blobs are buffers in nets/, so they are never seen here: lr_mult 0 by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

FLT_MIN = 1.17549435e-38  # float.h FLT_MIN: SoftmaxWithLoss clamps probabilities here before the log
WEIGHT_DECAY = 5e-4  # every reference solver


# ---- SoftmaxWithLoss ------------------------------------------------------------------------------------


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


# ---- SGD ------------------------------------------------------------------------------------------------


class CaffeSGD:
    """Caffe's SGDSolver update with per-parameter lr_mult / decay_mult and iter_size.

    Call ``zero_grad()``, run ``iter_size`` forward/backward passes (PyTorch sums their gradients into
    ``.grad`` as Caffe sums into the blob diffs), then ``step()``. ``history`` is Caffe's momentum history.
    """

    def __init__(self, net: nn.Module, base_lr: float, momentum: float, weight_decay: float = WEIGHT_DECAY,
                 iter_size: int = 1, multipliers: dict[str, tuple[float, float]] | None = None):
        if iter_size < 1:
            raise ValueError(f"iter_size must be at least 1, found {iter_size}")
        if multipliers is None:
            if not hasattr(net, "param_multipliers"):
                raise TypeError(f"{type(net).__name__} has no param_multipliers(); pass multipliers= "
                                "{parameter name: (lr_mult, decay_mult)}")
            multipliers = net.param_multipliers()
        named = dict(net.named_parameters())
        missing, extra = sorted(set(named) - set(multipliers)), sorted(set(multipliers) - set(named))
        if missing or extra:
            raise ValueError(f"lr_mult/decay_mult must be given for exactly the trainable parameters; "
                             f"parameters without multipliers: {missing}; "
                             f"multipliers without a parameter: {extra}")
        self.base_lr, self.momentum = base_lr, momentum
        self.weight_decay, self.iter_size = weight_decay, iter_size
        self.params: dict[str, nn.Parameter] = named
        self.multipliers = {k: (float(multipliers[k][0]), float(multipliers[k][1])) for k in named}
        self.history = {k: torch.zeros_like(p) for k, p in named.items()}
        self.iter = 0

    def zero_grad(self) -> None:
        """Caffe's ClearParamDiffs: every diff to zero before the iter_size passes of one step."""
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Normalize, Regularize, ComputeUpdateValue, Update, in Caffe's order, then ++iter."""
        for name, p in self.params.items():
            lr_mult, decay_mult = self.multipliers[name]
            g = torch.zeros_like(p) if p.grad is None else p.grad
            # Caffe computes these products in the blob's precision (Dtype).
            dt = np.float64 if p.dtype == torch.float64 else np.float32
            if self.iter_size > 1:
                g.mul_(float(dt(1.0) / dt(self.iter_size)))
            local_decay = float(dt(self.weight_decay) * dt(decay_mult))
            if local_decay != 0:
                g.add_(p, alpha=local_decay)
            local_rate = float(dt(self.base_lr) * dt(lr_mult))
            v = self.history[name]
            v.mul_(self.momentum).add_(g, alpha=local_rate)
            p.sub_(v)
        self.iter += 1

    def state_dict(self) -> dict:
        return {"iter": self.iter, "history": {k: v.detach().cpu().clone() for k, v in self.history.items()},
                "base_lr": self.base_lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "iter_size": self.iter_size}

    def load_state_dict(self, state: dict) -> None:
        """Restore the iteration and momentum history of a snapshot taken with the same settings."""
        for key in ("base_lr", "momentum", "weight_decay", "iter_size"):
            if state[key] != getattr(self, key):
                raise ValueError(f"snapshot was taken with {key}={state[key]}, this solver has "
                                 f"{key}={getattr(self, key)}; resume with the same solver settings")
        if set(state["history"]) != set(self.history):
            raise ValueError(f"snapshot history covers {sorted(state['history'])}, the net has "
                             f"{sorted(self.history)}")
        for k, v in state["history"].items():
            if tuple(v.shape) != tuple(self.history[k].shape):
                raise ValueError(f"snapshot history {k!r} has shape {tuple(v.shape)}, the net's parameter "
                                 f"has {tuple(self.history[k].shape)}")
            self.history[k].copy_(v)
        self.iter = int(state["iter"])


# ---- the reference's solvers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SolverSetting:
    """One reference solver.prototxt plus what its solve.py trained on and started from."""

    net: str
    base_lr: float
    momentum: float
    iter_size: int
    normalize: bool  # SoftmaxWithLoss normalize
    max_iter: int
    init: str  # what the weights start from (weights.transplant builds the .h5)
    train: tuple[str, str]  # (dataset, split) drawn from with replacement
    val: tuple[str, str]  # (dataset, split) scored in order
    weight_decay: float = WEIGHT_DECAY
    note: str = ""
    init_sources: tuple[str, ...] = ()  # weights.zoo names that weights.transplant turns into the start

    def init_command(self, out: str = "INIT.h5") -> str:
        """The commands that build the starting weights from the zoo (the released coarser nets stand in for
        the user's own; the reference trained each finer net from its own coarser one)."""
        from data.layout import kit_command

        from .datasets import weights_path

        fetch = " && ".join(f"make weights NET={s}" for s in self.init_sources)
        # Where make weights puts them (a literal $FCN_WEIGHTS would be empty in a shell that never set it).
        sources = " ".join(str(weights_path(s)) for s in self.init_sources)
        return f"{fetch} && {kit_command('weights.transplant', f'--net {self.net} --out {out}', sources)}"


_VOC = (("sbd", "train"), ("voc", "seg11valid"))
_NYUD = (("nyud", "trainval"), ("nyud", "test"))
_SIFT = (("siftflow", "trainval"), ("siftflow", "test"))
_CONTEXT = (("pascalcontext", "train"), ("pascalcontext", "val"))
_ROUNDS = "the reference's solve.py runs 2000-step rounds, scoring the test split after each"

SOLVERS: dict[str, SolverSetting] = {s.net: s for s in (
    SolverSetting("voc-fcn32s", 1e-10, 0.99, 1, False, 100_000, "VGG16 ILSVRC (fc6/fc7 reshaped)", *_VOC,
                  init_sources=("vgg16",)),
    SolverSetting("voc-fcn16s", 1e-12, 0.99, 1, False, 100_000, "voc-fcn32s", *_VOC,
                  init_sources=("voc-fcn32s",)),
    SolverSetting("voc-fcn8s", 1e-14, 0.99, 1, False, 100_000, "voc-fcn16s", *_VOC,
                  init_sources=("voc-fcn16s",)),
    SolverSetting("voc-fcn8s-atonce", 1e-10, 0.99, 1, False, 300_000, "VGG16 ILSVRC", *_VOC,
                  init_sources=("vgg16",)),
    SolverSetting("voc-fcn-alexnet", 1e-4, 0.9, 20, True, 100_000, "CaffeNet ILSVRC", *_VOC,
                  init_sources=("caffenet",)),
    SolverSetting("nyud-fcn32s-color", 1e-10, 0.99, 1, False, 100_000, "VGG16 ILSVRC", *_NYUD, note=_ROUNDS,
                  init_sources=("vgg16",)),
    SolverSetting("nyud-fcn32s-hha", 1e-10, 0.99, 1, False, 100_000, "VGG16 ILSVRC", *_NYUD, note=_ROUNDS,
                  init_sources=("vgg16",)),
    SolverSetting("nyud-fcn32s-color-d", 1e-10, 0.99, 1, False, 100_000,
                  "VGG16 ILSVRC, depth filter = mean of conv1_1's RGB filters", *_NYUD, note=_ROUNDS,
                  init_sources=("vgg16",)),
    SolverSetting("nyud-fcn32s-color-hha", 1e-12, 0.99, 1, False, 100_000,
                  "nyud-fcn32s-color and nyud-fcn32s-hha", *_NYUD,
                  init_sources=("nyud-fcn32s-color", "nyud-fcn32s-hha")),
    SolverSetting("siftflow-fcn32s", 1e-10, 0.99, 1, False, 100_000, "VGG16 ILSVRC", *_SIFT,
                  init_sources=("vgg16",)),
    SolverSetting("siftflow-fcn16s", 1e-12, 0.99, 1, False, 100_000, "siftflow-fcn32s", *_SIFT,
                  init_sources=("siftflow-fcn32s",)),
    SolverSetting("siftflow-fcn8s", 1e-12, 0.99, 1, False, 100_000, "siftflow-fcn16s", *_SIFT,
                  init_sources=("siftflow-fcn16s",)),
    SolverSetting("pascalcontext-fcn32s", 1e-10, 0.99, 1, False, 400_000, "VGG16 ILSVRC", *_CONTEXT,
                  init_sources=("vgg16",)),
    SolverSetting("pascalcontext-fcn16s", 1e-12, 0.99, 1, False, 400_000, "pascalcontext-fcn32s", *_CONTEXT,
                  init_sources=("pascalcontext-fcn32s",)),
    SolverSetting("pascalcontext-fcn8s", 1e-14, 0.99, 1, False, 400_000, "pascalcontext-fcn16s", *_CONTEXT,
                  init_sources=("pascalcontext-fcn16s",)),
)}


def solver_for(net: nn.Module, setting: SolverSetting) -> CaffeSGD:
    """A CaffeSGD with a reference solver's settings and the net's own lr/decay multipliers."""
    return CaffeSGD(net, setting.base_lr, setting.momentum, setting.weight_decay, setting.iter_size)
