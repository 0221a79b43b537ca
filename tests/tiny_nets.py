"""Tiny nets that carry a reference net's name (so its record's inputs apply) but run in milliseconds, and the
solver the training tests use: shared by the in-process tests and the torchrun workers of
tests/distributed_entry.py (which pytest cannot monkeypatch)."""

from __future__ import annotations

import torch

from nets.net import CaffeNet
from nets.registry import Solver
from nets.seeded import seeded_weights
from nets.spec import TRAINED, NetSpec, conv, dropout, relu

# Small steps on random data: enough to move the weights visibly in three iterations without diverging.
TRAIN_SOLVER = Solver(base_lr=1e-5, momentum=0.9, iter_size=2, normalize=False, max_iter=4, init=(),
                      init_note="random")


def scoring_net(name: str = "voc-fcn32s", classes: int = 21, inputs: dict | None = None) -> CaffeNet:
    """conv 3x3 + ReLU + 1x1 score with ``classes`` outputs, named like a reference net, seeded weights."""
    inputs = inputs or {"data": 3}
    first = next(iter(inputs))
    layers = (conv("conv1", first, 4, 3, pad=1, param=TRAINED), relu("relu1", "conv1"),
              conv("score", "conv1", classes, 1, param=TRAINED))
    net = CaffeNet(NetSpec(name, inputs, layers, ("score",), losses=(("loss", "score", "label"),)))
    seeded_weights(net, 3)
    return net.eval()


def training_net(seed: int = 0, name: str = "tiny", classes: int = 3) -> CaffeNet:
    """conv (3->4, 3x3) + ReLU + Dropout + 1x1 score: small enough to train in milliseconds, with dropout so
    that the dropout masks matter."""
    layers = (conv("conv1", "data", 4, 3, pad=1, param=TRAINED), relu("relu1", "conv1"),
              dropout("drop1", "conv1"), conv("score", "conv1", classes, 1, param=TRAINED))
    spec = NetSpec(name, {"data": 3}, layers, ("score",), losses=(("loss", "score", "label"),))
    net = CaffeNet(spec)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net


def use_emulated_bf16(patch_attr, patch_item) -> str:
    """Offer the test-only mode "bf16-emulated" on the command lines (--precision bf16-emulated): bfloat16
    through autocast's CPU kernels, the arithmetic of bf16 on any CPU (slow; never offered to users). Returns
    its name. ``patch_attr`` and ``patch_item`` as for ``use_tiny_nets``."""
    import nets
    from nets import precision as P

    name = "bf16-emulated"
    patch_attr(nets, "PRECISIONS", (*nets.PRECISIONS, name))
    patch_item(P.MODES, name, P.Precision(name, "test only: bf16 emulated on a CPU", torch.bfloat16, False,
                                          ("cpu",)))
    return name


def use_tiny_nets(patch_attr, patch_item) -> None:
    """Make the entry points build tiny nets and train voc-fcn32s with TRAIN_SOLVER: ``patch_attr(obj, name,
    value)`` and ``patch_item(mapping, key, value)`` are monkeypatch's setattr and setitem (or plain ones)."""
    import dataclasses

    import nets

    def build(name: str, variant: str | None = None) -> CaffeNet:
        # The training tests train voc-fcn32s (dropout); the others score the other VOC nets' names.
        return training_net(name=name, classes=21) if name == "voc-fcn32s" else scoring_net(name)

    patch_attr(nets, "build", build)
    patch_item(nets.RECORDS, "voc-fcn32s", dataclasses.replace(nets.record("voc-fcn32s"), solver=TRAIN_SOLVER))


def narrow(spec: NetSpec, factor: int = 32) -> NetSpec:
    """``spec`` with every convolution but the score layers ``factor`` times narrower (at least 2 outputs):
    the same layers, names, kernels, strides, pads, crops, fusions and lr_mult / decay_mult, so the training
    tests run a reference net's exact geometry and recipe in seconds and megabytes (a VGG16 stream has 134M
    parameters, two streams with their gradients and momentum history take gigabytes)."""
    import dataclasses

    # Widths are rounded up to a multiple of the largest group count (FCN-AlexNet's group 2), so that every
    # grouped convolution still splits its input and its output evenly; the VGG nets' widths are unchanged.
    groups = max(x.group for x in spec.layers if x.type == "Convolution")

    def width(n: int) -> int:
        n = max(2, n // factor)
        return -(-n // groups) * groups

    layers = tuple(dataclasses.replace(x, num_output=width(x.num_output))
                   if x.type == "Convolution" and not x.name.startswith("score") else x for x in spec.layers)
    return dataclasses.replace(spec, layers=layers)


def narrow_net(name: str, variant: str | None = None, seed: int = 0, factor: int = 32) -> CaffeNet:
    """A kit net (or its training variant) narrowed by ``narrow`` (``factor``: 16 keeps FCN-AlexNet's two groups
    dividing its channels), with He-scaled seeded weights, seeded biases and bilinear upsamplers
    (nets.seeded.seeded_weights)."""
    import nets

    return seeded_weights(CaffeNet(narrow(nets.spec(name, variant), factor)), seed)
