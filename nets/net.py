"""CaffeNet: runs a NetSpec layer by layer, keeping Caffe's blob names and in-place semantics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import skip_init

from . import inference
from . import layers as L
from . import precision as P
from .spec import Layer, NetSpec

if TYPE_CHECKING:
    from collections.abc import Iterator


def _convolution(layer: Layer, shapes: list[tuple[int, ...]]) -> nn.Conv2d:
    """Caffe's default filler is constant 0: PyTorch's random init is skipped (slow on fc6's 103M weights)."""
    out, per_group, k, _ = shapes[0]
    module = skip_init(nn.Conv2d, per_group * layer.group, out, k, layer.stride, layer.pad, groups=layer.group,
                       bias=layer.bias_term)
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    if layer.param and all(lr == 0 for lr, _ in layer.param):
        # lr_mult 0 on every blob (a training variant's frozen trunk): as Caffe, no backward pass reaches it.
        module.requires_grad_(False)
    return module


def _deconvolution(layer: Layer, shapes: list[tuple[int, ...]]) -> L.Deconvolution:
    """Frozen upsampling, filled with the bilinear kernel as the reference's surgery.interp does (when the
    layer maps C classes to C classes, as every FCN upsampler does; any other shape starts at zero)."""
    c_in = shapes[0][0]
    module = L.Deconvolution(c_in, layer.num_output, layer.kernel_size, layer.stride, layer.pad, layer.group)
    kernel = L.bilinear_kernel(layer.num_output, layer.kernel_size)
    if kernel.shape == module.weight.shape:
        with torch.no_grad():
            module.weight.copy_(kernel)
    return module


def _scale(layer: Layer, shapes: list[tuple[int, ...]]) -> L.Scale:
    return L.Scale(shapes[0][0], layer.scale_value)


# Caffe types whose layers own parameter blobs -> the module holding them (named after the layer).
_MODULES = {"Convolution": _convolution, "Deconvolution": _deconvolution, "Scale": _scale}


class CaffeNet(nn.Module):
    """A reference FCN as a torch Module.

    Submodules are named after the Caffe layers that own parameter blobs, so ``state_dict()`` keys are
    ``<layer>.weight`` (Caffe blob 0) and ``<layer>.bias`` (blob 1). Upsampling kernels and Scale factors are
    buffers: frozen by construction.
    """

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        self.name = spec.name
        self.inputs: tuple[str, ...] = tuple(spec.inputs)
        self.outputs: tuple[str, ...] = spec.outputs
        self.layers: tuple[Layer, ...] = spec.layers
        self.channels = spec.channels()
        shapes = spec.param_shapes()
        for layer in spec.layers:
            build = _MODULES.get(layer.type)
            if build is not None:
                self.add_module(layer.name, build(layer, shapes[layer.name]))
        # The index of the last layer that reads each blob: lets forward() free blobs early. In-place layers read
        # and rewrite one blob, so they count as one read.
        self._last_use = {b: i for i, layer in enumerate(spec.layers) for b in layer.bottom}

    # ---- what the net is ------------------------------------------------------------------------------------

    @property
    def num_classes(self) -> int | tuple[int, ...]:
        counts = tuple(self.channels[o] for o in self.outputs)
        return counts[0] if len(counts) == 1 else counts

    def param_multipliers(self) -> dict[str, tuple[float, float]]:
        """(lr_mult, decay_mult) of every trainable parameter, from the layers' ``param`` blocks."""
        out = {}
        for layer in self.layers:
            if layer.type != "Convolution":
                continue
            out[f"{layer.name}.weight"] = layer.param[0]
            if layer.bias_term:
                out[f"{layer.name}.bias"] = layer.param[1]
        return out

    # ---- precision ------------------------------------------------------------------------------------------

    @property
    def precision(self) -> P.Precision:
        """The precision policy every forward runs under: ``exact`` unless set (``net.precision = "bf16"``)."""
        return self.__dict__.get("_precision", P.EXACT)

    @precision.setter
    def precision(self, mode: str | P.Precision) -> None:
        policy = P.get(mode)
        first = next(iter(self.parameters()), None)
        if first is not None:
            policy.check(first.device)
        self.__dict__["_precision"] = policy

    def _apply(self, fn, recurse=True):
        # .to(device), .cuda(), .cpu() ... : a mode the new device cannot run is an error now, not a surprise at
        # the next forward (which checks too).
        out = super()._apply(fn, recurse)
        first = next(iter(self.parameters()), None)
        if first is not None and not self.precision.exact:
            try:
                self.precision.check(first.device)
            except P.UnsupportedPrecision as e:
                raise P.UnsupportedPrecision(f"{e}; set net.precision to one of them before moving the net "
                                             "there") from None
        return out

    # ---- running it -----------------------------------------------------------------------------------------

    def _check_inputs(self, inputs: tuple[torch.Tensor, ...]) -> None:
        if len(inputs) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs)} input(s) {self.inputs}, got {len(inputs)}")
        for name, x in zip(self.inputs, inputs, strict=True):
            want = self.spec.inputs[name]
            if x.dim() != 4 or x.shape[1] != want:
                raise ValueError(f"{self.name}: input {name!r} must be N x {want} x H x W, got {tuple(x.shape)}")
        if any(x.shape[2:] != inputs[0].shape[2:] for x in inputs[1:]):
            raise ValueError(f"{self.name}: inputs {self.inputs} must share H x W, got "
                             f"{[tuple(x.shape[2:]) for x in inputs]}")

    def _run(self, inputs: tuple[torch.Tensor, ...], keep_all: bool) -> dict[str, torch.Tensor]:
        """The plain path: every layer in order on whole blobs (autograd, training, every blob kept)."""
        self._check_inputs(inputs)
        blobs: dict[str, torch.Tensor] = dict(zip(self.inputs, inputs, strict=True))
        policy = self.precision
        rectified = inference.rectified_convs(self) if not policy.exact else set()
        for i, layer in enumerate(self.layers):
            bottoms = [blobs[b] for b in layer.bottom]
            if policy.autocast_dtype is not None and policy.keeps_float32(layer.type, i in rectified or
                                                                           layer.type != "Convolution"):
                with torch.autocast(bottoms[0].device.type, enabled=False):
                    blobs[layer.top[0]] = self._layer(layer, [b.float() for b in bottoms])
            else:
                blobs[layer.top[0]] = self._layer(layer, bottoms)
            if not keep_all:  # free what no later layer reads (outputs stay)
                for b in set(layer.bottom) - set(layer.top):
                    if self._last_use.get(b) == i and b not in self.outputs:
                        del blobs[b]
        return blobs

    def apply_layer(self, layer: Layer, bottoms: list[torch.Tensor]) -> torch.Tensor:
        """One of the net's layers on whole blobs (its own weights), outside a forward pass: an audit replays a
        part of the net with some blobs replaced (reproduce.audit.port_localise)."""
        return self._layer(layer, bottoms)

    def _layer(self, layer: Layer, bottoms: list[torch.Tensor]) -> torch.Tensor:
        """One Caffe layer on whole blobs."""
        x = bottoms[0]
        t = layer.type
        if t in ("Convolution", "Deconvolution", "Scale"):
            y = getattr(self, layer.name)(x)
        elif t == "ReLU":
            y = torch.relu(x)
        elif t == "Pooling":
            if layer.pool != "MAX":
                raise NotImplementedError(f"layer {layer.name!r}: {layer.pool} pooling is not implemented "
                                          "(the FCNs pool with MAX only)")
            y = L.caffe_max_pool(x, layer.kernel_size, layer.stride, layer.pad)
        elif t == "Dropout":
            y = L.caffe_dropout(x, layer.dropout_ratio, self.training)
        elif t == "Crop":
            y = L.caffe_crop(x, bottoms[1], layer.offset)
        elif t == "Eltwise":
            y = L.caffe_eltwise_sum(bottoms, layer.coeff)
        elif t == "Concat":
            y = torch.cat(bottoms, dim=layer.concat_axis)
        elif t == "LRN":
            y = L.caffe_lrn(x, layer.local_size, layer.alpha, layer.beta, layer.k)
        else:
            raise NotImplementedError(f"layer {layer.name!r}: Caffe type {t!r} is not implemented")
        return y

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The output blob(s), N x C x H x W with the input's H x W, under ``self.precision``.

        For inference (eval mode, autograd off) the trunk is computed only where it depends on the image
        (nets.inference, exact to float32 rounding; ``with nets.inference.disabled():`` turns it off);
        otherwise, as for training, layer by layer."""
        self._check_inputs(inputs)
        with self.precision.applied(inputs[0].device):
            if inference.applies(self):
                outs = inference.forward(self, inputs, self.precision)
            else:
                blobs = self._run(inputs, keep_all=False)
                outs = tuple(blobs[o] for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def forward_blobs(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every blob of the deploy net after a forward pass, by Caffe blob name, on the plain path. As in
        Caffe, an in-place layer's blob holds its last writer's value: "conv1_1" is the ReLU output, "fc6" is
        post-dropout."""
        self._check_inputs(inputs)
        with self.precision.applied(inputs[0].device):
            return self._run(inputs, keep_all=True)

    def forward_layers(self, *inputs: torch.Tensor) -> Iterator[tuple[Layer, torch.Tensor]]:
        """Every layer of the plain path in order with the top it wrote, before any later in-place layer
        rewrote that blob: ``conv1_1``'s top is the convolution's output, ``relu1_1``'s the ReLU's. What a
        layer read is the latest top written to each of its bottoms before it (the inputs first). A generator
        that holds only the blobs later layers read: the caller keeps what it needs. For audits that compare
        another implementation layer by layer (reproduce.audit.port). Exact precision only."""
        self._check_inputs(inputs)
        if not self.precision.exact:
            raise ValueError(f"{self.name}: forward_layers runs in exact precision only, the net is set to "
                             f"{self.precision.name}; set net.precision = 'exact' first")
        blobs: dict[str, torch.Tensor] = dict(zip(self.inputs, inputs, strict=True))
        for i, layer in enumerate(self.layers):
            # Every layer returns a new tensor (no in-place op on the plain path), so what an earlier layer
            # wrote stays as it was.
            with self.precision.applied(inputs[0].device):
                top = self._layer(layer, [blobs[b] for b in layer.bottom])
            blobs[layer.top[0]] = top
            for b in set(layer.bottom) - set(layer.top):
                if self._last_use.get(b) == i and b not in self.outputs:
                    del blobs[b]
            yield layer, top
