"""The kit's weights mapped into a port: the port's parameter layers, in the order its forward calls them,
paired with the kit net's Caffe layers by order and shape (reproduce.audit.port).

- Convolutions: each parameter layer of the port (nn.Conv2d, nn.Linear, or any module holding a weight and a
  bias of its own) takes the first unpaired Convolution of the kit whose weight has its shape; an nn.Linear
  fc6 / fc7 takes it reshaped (4096 x 25088 is fc6's 4096 x 512 x 7 x 7). A port that computes score_pool4
  right after pool4, before conv5, is paired all the same: only layers of one shape keep their order.
- Upsamplings: each nn.ConvTranspose2d (or nn.Upsample, or the kit's own Deconvolution) takes the first
  unpaired Deconvolution with its channels; the kit's bilinear kernel is copied where the kernels have one
  size (torchfcn holds its bilinear kernels as parameters), the port's own kernel is kept otherwise. A
  Deconvolution of the kit that no module takes is upsampled by the port's functional code (F.interpolate):
  noted, and the localiser finds out how.
- A parameter layer of the port with no partner (BatchNorm, a 512-channel learned decoder), or a Convolution
  of the kit that no module of the port takes, stops the audit with one message naming the first such layer:
  such a port changes the architecture beyond the reference's layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from nets.layers import Deconvolution
from nets.net import CaffeNet

from .port_trace import UPSAMPLERS, caffe_type, owns_parameters, trace, watched

# The parameterless layers the audit compares one by one where the port has a module for each.
ORDERED_TYPES = ("ReLU", "Pooling", "Dropout", "LRN")


class MappingError(ValueError):
    """The port's parameter layers cannot be paired with the kit net's: the message names the first layer."""


def shape_text(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


@dataclass
class Pair:
    """One Caffe layer of the kit and the module of the port that plays it (``port`` empty: none does)."""

    kit: str
    kit_type: str
    kit_shape: str
    port: str
    port_kind: str
    port_shape: str
    action: str


@dataclass
class Mapping:
    """How the kit's weights went into the port, in the kit's layer order, and what the audit noted on the way."""

    pairs: list[Pair]
    notes: list[str]
    by_module: dict[nn.Module, str] = field(default_factory=dict)  # the port's module -> the kit's layer
    functional: list[str] = field(default_factory=list)  # kit Deconvolutions no module of the port plays
    # Caffe types whose parameterless modules (ReLU, Pooling, Dropout, LRN) pair with the kit's layers one by
    # one in order: those the port calls exactly as often as the kit has layers of that type.
    by_order: tuple[str, ...] = ()


def _weight_shape(module: nn.Module) -> tuple[int, ...]:
    w = getattr(module, "weight", None)
    return tuple(w.shape) if isinstance(w, torch.Tensor) else ()


def _conv_fit(module: nn.Module, shape: tuple[int, ...]) -> str | None:
    """How the port's ``module`` takes a kit Convolution weight of ``shape`` ("" when as it is, a note when
    reshaped), or None when it cannot."""
    params = dict(module.named_parameters(recurse=False))
    if set(params) - {"weight", "bias"} or "weight" not in params:
        return None
    w = tuple(params["weight"].shape)
    if "bias" in params and tuple(params["bias"].shape) != shape[:1]:
        return None
    if w == shape:
        return ""
    if len(w) == 2 and w == (shape[0], math.prod(shape[1:])):
        return f"reshaped from the port's {type(module).__name__} {shape_text(w)}"
    return None


def _deconv_fit(module: nn.Module, channels_in: int, layer) -> bool:
    if isinstance(module, nn.ConvTranspose2d):
        return module.in_channels == channels_in and module.out_channels == layer.num_output
    if isinstance(module, Deconvolution):
        return module.weight.shape[0] == channels_in and module.weight.shape[1] * module.group == layer.num_output
    return isinstance(module, nn.Upsample)


def _same_geometry(module: nn.Module, layer, kshape: tuple[int, ...]) -> bool:
    if isinstance(module, nn.Upsample):
        factor = module.scale_factor
        factor = factor[0] if isinstance(factor, tuple) else factor
        return factor is not None and float(factor) == layer.stride
    return _weight_shape(module) == tuple(kshape) and _deconv_settings(module)[1] == layer.stride


def _upsampler_text(module: nn.Module) -> str:
    if isinstance(module, nn.Upsample):
        return (f"nn.Upsample(mode={module.mode!r}, scale_factor={module.scale_factor}, "
                f"align_corners={module.align_corners})")
    k, s = _deconv_settings(module)[:2]
    return f"{type(module).__name__} k{k} s{s}"


def _deconv_settings(module: nn.Module) -> tuple[int, int, int]:
    """(kernel, stride, pad) of a transposed convolution (the kit's or torch's)."""
    if isinstance(module, Deconvolution):
        return module.weight.shape[-1], module.stride, module.pad
    return module.kernel_size[0], module.stride[0], module.padding[0]


def map_weights(port: nn.Module, net: CaffeNet, probes: Sequence[torch.Tensor]) -> Mapping:
    """Pair the port's parameter layers with ``net``'s layers and copy the net's weights into the port (in
    place). The port runs on ``probes`` in turn (a small input first) until one goes through: its calls show
    their order. Raises MappingError."""
    for probe in probes:
        first = trace(port, probe)
        if first.error is None:
            break
    order: list[nn.Module] = []
    calls: dict[nn.Module, int] = {}
    for c in first.calls:
        calls[c.module] = calls.get(c.module, 0) + 1
        if c.module not in order:
            order.append(c.module)
    names = {m: n for n, m in watched(port)}
    notes: list[str] = []
    if first.error:
        notes.append(f"the probe forward ({shape_text(probe.shape[2:])}) raised {first.error}; the modules it "
                     "did not reach are paired in the order the port registers them")
        order += [m for _, m in watched(port) if m not in order]
    for name, m in watched(port):
        if owns_parameters(m) and m not in calls and not first.error:
            notes.append(f"{name} ({type(m).__name__}) holds parameters but the port's forward never calls it: "
                         "not paired")
    spec = net.spec
    shapes = spec.param_shapes()
    channels = spec.channels()
    convs = [x for x in spec.layers if x.type == "Convolution"]
    deconvs = [x for x in spec.layers if x.type == "Deconvolution"]
    state = net.state_dict()
    taken: dict[str, Pair] = {}
    by_module: dict[nn.Module, str] = {}
    for m in order:
        is_upsampler = isinstance(m, UPSAMPLERS)
        if not is_upsampler and not owns_parameters(m):
            continue
        name = names[m]
        if calls.get(m, 0) > 1 and owns_parameters(m):
            raise MappingError(f"the port calls its module {name} ({type(m).__name__}) {calls[m]} times in one "
                               "forward; the reference has one Caffe layer per set of weights, so the audit "
                               "pairs each parameter layer with one layer and cannot pair a shared one")
        if is_upsampler:
            fits = [x for x in deconvs if x.name not in taken and _deconv_fit(m, channels[x.bottom[0]], x)]
            # One with the port's kernel (or scale factor) first: a port that upsamples one stride
            # functionally must not shift its later modules onto the wrong layers.
            same = [x for x in fits if _same_geometry(m, x, shapes[x.name][0])]
            layer = (same or fits or [None])[0]
            if layer is None:
                raise _no_partner(name, m, spec, taken)
            kshape = shapes[layer.name][0]
            action = _map_upsampler(m, layer, kshape, state, notes, name)
            port_shape = shape_text(_weight_shape(m)) if _weight_shape(m) else "no weights"
            taken[layer.name] = Pair(layer.name, layer.type, f"{shape_text(kshape)} k{layer.kernel_size} "
                                     f"s{layer.stride}", name, _upsampler_text(m), port_shape, action)
        else:
            layer, how = None, None
            for x in convs:
                if x.name not in taken:
                    how = _conv_fit(m, shapes[x.name][0])
                    if how is not None:
                        layer = x
                        break
            if layer is None:
                raise _no_partner(name, m, spec, taken)
            with torch.no_grad():
                m.weight.copy_(state[f"{layer.name}.weight"].reshape(m.weight.shape))
                if getattr(m, "bias", None) is not None:
                    m.bias.copy_(state[f"{layer.name}.bias"])
            action = "copied" + (f", {how}" if how else "")
            if getattr(m, "bias", None) is None and layer.bias_term:
                action += "; the port has no bias here, the reference has one (left out)"
                notes.append(f"{name} has no bias where the reference's {layer.name} has one: the outputs differ "
                             "unless the reference's bias is zero")
            taken[layer.name] = Pair(layer.name, layer.type, shape_text(shapes[layer.name][0]), name,
                                     type(m).__name__, shape_text(_weight_shape(m)), action)
        by_module[m] = layer.name
    missing = [x for x in convs if x.name not in taken]
    if missing:
        x = missing[0]
        raise MappingError(
            f"the kit's {x.name} (Convolution {shape_text(shapes[x.name][0])}) has no partner in the port: no "
            f"parameter layer the port's forward calls holds weights of that shape (paired so far: "
            f"{len(taken)} of the kit's {len(convs) + len(deconvs)} parameter layers). A port that leaves out or "
            f"reshapes a layer of {spec.name} cannot be mapped; a module whose weights the port uses without "
            "calling it (F.conv2d(x, self.conv.weight)) is invisible to the audit")
    functional = [x.name for x in deconvs if x.name not in taken]
    for name in functional:
        x = spec.layer(name)
        notes.append(f"{name} (Deconvolution k{x.kernel_size} s{x.stride}, frozen bilinear) has no module in the "
                     "port: its forward upsamples without weights (F.interpolate or the like)")
    for name, m in watched(port):
        if isinstance(m, nn.Dropout2d):
            notes.append(f"{name} is nn.Dropout2d, which drops whole channels; Caffe's Dropout drops single "
                         "elements: the same at test time, not in training")
    by_order = []
    for kind in ORDERED_TYPES:
        port_calls = [c for c in first.calls if caffe_type(c.module) == kind and c.module not in by_module]
        kit_layers = [x for x in spec.layers if x.type == kind]
        if len(port_calls) == len(kit_layers) or (first.error and len(port_calls) < len(kit_layers)):
            by_order.append(kind)
        else:
            notes.append(f"the port calls {len(port_calls)} {kind} module(s) where {spec.name} has "
                         f"{len(kit_layers)} {kind} layer(s) (the others are functional code): they are not "
                         "compared one by one")
    pairs = [taken.get(x.name) or Pair(x.name, x.type, shape_text(shapes[x.name][0]), "", "", "",
                                       "the port's forward upsamples without a module")
             for x in spec.layers if x.type in ("Convolution", "Deconvolution")]
    return Mapping(pairs, notes, by_module, functional, tuple(by_order))


def _map_upsampler(m: nn.Module, layer, kshape: tuple[int, ...], state, notes: list[str], name: str) -> str:
    """Copy the kit's frozen kernel into the port's upsampling module where it fits; the action taken."""
    if isinstance(m, nn.Upsample):
        return "no weights"
    if tuple(m.weight.shape) != tuple(kshape):
        k, s, _ = _deconv_settings(m)
        notes.append(f"{name} is {type(m).__name__} k{k} s{s} with a {shape_text(m.weight.shape)} kernel where the "
                     f"reference's {layer.name} is k{layer.kernel_size} s{layer.stride}: the port's own kernel is kept")
        return "kept the port's kernel (another size)"
    with torch.no_grad():
        m.weight.copy_(state[f"{layer.name}.weight"])
    action = "bilinear kernel copied"
    bias = getattr(m, "bias", None)
    if isinstance(bias, torch.Tensor):
        with torch.no_grad():
            bias.zero_()
        action += "; the port's bias set to 0 (the reference's has none)"
        notes.append(f"{name} has a bias the reference's {layer.name} lacks: set to 0 for the audit")
    if isinstance(m.weight, nn.Parameter) and m.weight.requires_grad:
        notes.append(f"{name}'s kernel is a trainable parameter; the reference's {layer.name} is frozen "
                     "(lr_mult 0): it stays bilinear only if the port's training leaves it out of the optimizer")
    return action


def _no_partner(name: str, m: nn.Module, spec, taken: dict) -> MappingError:
    params = ", ".join(f"{n} {shape_text(p.shape)}" for n, p in m.named_parameters(recurse=False)) or "no weights"
    role = caffe_type(m)
    has = "has no partner among" if role in ("Convolution", "Deconvolution") else "is not a layer of"
    shapes = spec.param_shapes()
    nxt = next((x for x in spec.layers if x.type in ("Convolution", "Deconvolution") and x.name not in taken), None)
    then = "" if nxt is None else f"; the kit's next unpaired layer is {nxt.name}, {nxt.type} " \
                                  f"{shape_text(shapes[nxt.name][0])}"
    return MappingError(
        f"the port's {name} ({type(m).__name__}: {params}) {has} {spec.name}'s layers (paired before it: "
        f"{len(taken)}{then}): the port's architecture goes beyond the reference's layers, so the kit's weights "
        "cannot be mapped into it")
