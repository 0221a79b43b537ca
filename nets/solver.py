"""Caffe's SGDSolver, as the reference trained every FCN with it.

Update, per parameter blob, as Caffe's SGDSolver::ApplyUpdate does it (fixed learning rate):

    g = (sum of the gradients of iter_size passes) / iter_size       Normalize
    g = g + weight_decay * decay_mult * W                            Regularize (L2)
    V = momentum * V + base_lr * lr_mult * g                         ComputeUpdateValue
    W = W - V                                                        Update

lr_mult / decay_mult come from each layer's ``param`` blocks (``CaffeNet.param_multipliers``). Upsampling
(Deconvolution) and Scale blobs are buffers, so they are never seen here: lr_mult 0 by construction. The
reference's settings per net are in the net records (``nets.record(NAME).solver``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .registry import Solver


class CaffeSGD:
    """Caffe's SGDSolver update with per-parameter lr_mult / decay_mult and iter_size.

    Call ``zero_grad()``, run ``iter_size`` forward/backward passes (PyTorch sums their gradients into
    ``.grad`` as Caffe sums into the blob diffs), then ``step()``. ``history`` is Caffe's momentum history.
    """

    def __init__(self, net: nn.Module, base_lr: float, momentum: float, weight_decay: float = 5e-4,
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


def recipe_multipliers(net: nn.Module, setting: Solver) -> dict[str, tuple[float, float]]:
    """(lr_mult, decay_mult) of every parameter for a run with ``setting``: the net's own param blocks, and with
    ``setting.double_bias_lr`` (the CVPR regime) each bias at twice its layer's weight rate, decay_mult kept.
    That changes only FCN-AlexNet's trunk (Caffe's default lr_mult 1 on its biases becomes 2); a frozen layer
    (lr_mult 0) stays frozen."""
    out = dict(net.param_multipliers())
    if setting.double_bias_lr:
        for name in out:
            if name.endswith(".bias"):
                weight = name[: -len(".bias")] + ".weight"
                out[name] = (2.0 * out[weight][0], out[name][1])
    return out


def solver_for(net: nn.Module, setting: Solver) -> CaffeSGD:
    """A CaffeSGD with a recipe's settings and the net's lr/decay multipliers as the recipe applies them."""
    return CaffeSGD(net, setting.base_lr, setting.momentum, setting.weight_decay, setting.iter_size,
                    recipe_multipliers(net, setting))
