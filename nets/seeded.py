"""Seeded random weights: the kit's one initialiser for nets that have no trained weights.

Smoke runs (reproduce.runner), the benchmarks (benchmarks/), the golden fixtures and the parity tests all draw
their weights here, so that a seed means the same numbers everywhere:

>>> from nets.seeded import seeded_net, seeded_weights
>>> net = seeded_net("voc-fcn8s", seed=0)      # nets.build + seeded_weights
>>> seeded_weights(any_caffe_net, seed=3)      # in place, for a hand-built or narrowed NetSpec too

The draws (``seeded_params``) are in Caffe's layout ``{layer: [blob0, blob1]}``, so the real-Caffe tests copy
the same numbers into Caffe: He-scaled convolution weights (uniform on [-a, a], a = sqrt(6 / fan_in), i.e.
variance 2 / fan_in, so that activations keep a trained net's scale and no layer runs on zeros or denormals),
biases uniform in [-0.1, 0.1], bilinear Deconvolution kernels and the reference's Scale constants. They come from
numpy's legacy RandomState (a stream that is stable across numpy versions) as 16-bit integers, 20x faster than
normal draws: a VGG16 net's 134M weights take well under a second. The golden fixtures in tests/golden/ were made
from these numbers: changing the scheme means regenerating them (tests/golden/make_golden.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .spec import NetSpec

if TYPE_CHECKING:
    from .net import CaffeNet


def seeded_params(spec: NetSpec | str, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Seeded parameters of ``spec`` (or of the kit net of that name) in Caffe's layout ``{layer: [weight,
    bias]}``, drawn layer by layer in layer order."""
    import nets

    rng = np.random.RandomState(seed)
    spec = nets.spec(spec) if isinstance(spec, str) else spec
    # The kit's shape function: Caffe checks every blob's shape itself when the parity harness copies them in.
    params: dict[str, list[np.ndarray]] = {}
    for layer_name, shapes in spec.param_shapes().items():
        layer = spec.layer(layer_name)
        if layer.type == "Convolution":
            fan_in = int(np.prod(shapes[0][1:]))
            params[layer_name] = [_uniform(rng, shapes[0], np.sqrt(6.0 / fan_in)), _uniform(rng, shapes[1], 0.1)]
        elif layer.type == "Deconvolution":
            params[layer_name] = [nets.bilinear_kernel(layer.num_output, layer.kernel_size).numpy()]
        elif layer.type == "Scale":
            params[layer_name] = [np.full(shapes[0], layer.scale_value, np.float32)]
    return params


def _uniform(rng: np.random.RandomState, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """Uniform float32 on (-bound, bound) from seeded int16 draws (centred: (i + 0.5) / 2^15)."""
    ints = rng.randint(-(2**15), 2**15, shape, dtype=np.int16)
    # In place: the same float32 operations as ((ints + 0.5) * step), bit for bit, without two temporaries of
    # the blob's size (a VGG net's fc6 is 400 MB of float32; twice as fast).
    out = ints.astype(np.float32)
    out += np.float32(0.5)
    out *= np.float32(bound / 2**15)
    return out


def load_params(net: CaffeNet, params: dict[str, list[np.ndarray]]) -> CaffeNet:
    """Copy Caffe-layout params into the net by the identity name map (blob 0 -> weight, 1 -> bias), strictly:
    a missing or unexpected blob is a KeyError naming them."""
    import torch

    state = net.state_dict()
    names = ("weight", "bias")
    wanted = {f"{layer}.{names[i]}": torch.from_numpy(np.asarray(a)) for layer, blobs in params.items()
              for i, a in enumerate(blobs)}
    if set(wanted) != set(state):
        raise KeyError(f"params and net differ: missing {sorted(set(state) - set(wanted))}, "
                       f"unexpected {sorted(set(wanted) - set(state))}")
    net.load_state_dict(wanted, strict=True)
    return net


def seeded_weights(net: CaffeNet, seed: int = 0) -> CaffeNet:
    """Fill ``net`` (any CaffeNet: a kit net, a narrowed or hand-built spec) with ``seeded_params`` of its own
    spec, in place; returns it."""
    return load_params(net, seeded_params(net.spec, seed))


def seeded_net(spec: NetSpec | str, seed: int = 0) -> CaffeNet:
    """A net in eval mode with ``seeded_params``: ``nets.build(name)`` for a kit net's name, or a CaffeNet of
    the given spec."""
    import nets

    net = nets.build(spec) if isinstance(spec, str) else nets.CaffeNet(spec).eval()
    return seeded_weights(net, seed)
