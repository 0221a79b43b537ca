"""A net as Caffe sees it: a flat list of layers with bottoms and tops.

Every net in the kit is declared as such a list (the same list a reference ``net.py`` produced through Caffe's
NetSpec), and everything else is derived from it: the PyTorch module, the crop offsets, the prototxt and the
audit tables. Layer and blob names are Caffe's, character for character.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

# (lr_mult, decay_mult) per parameter blob, as in a prototxt ``param { }`` block.
ParamSpec = tuple[tuple[float, float], ...]

# Learning-rate and decay multipliers used by the reference nets (ledger: train.multipliers).
TRAINED = ((1.0, 1.0), (2.0, 0.0))  # VGG16 convs and every score layer
CAFFE_DEFAULT = ((1.0, 1.0), (1.0, 1.0))  # no param block: FCN-AlexNet's trunk
FROZEN = ((0.0, 1.0),)  # Deconvolution and Scale: lr_mult 0, so never updated


@dataclass(frozen=True)
class Layer:
    """One Caffe layer. Fields other than name/type/bottom/top apply to the types that use them."""

    name: str
    type: str
    bottom: tuple[str, ...]
    top: tuple[str, ...]
    # Convolution / Deconvolution
    num_output: int | None = None
    kernel_size: int | None = None
    stride: int = 1
    pad: int = 0
    group: int = 1
    bias_term: bool = True
    param: ParamSpec = ()
    # Pooling (only MAX runs in the FCNs; GoogLeNet's removed classifier pooling is AVE, for geometry only)
    pool: str = "MAX"
    # Dropout
    dropout_ratio: float = 0.5
    # Crop: offset is derived from geometry when the net is assembled (nets.geometry)
    axis: int = 2
    offset: int | None = None
    # Eltwise (only SUM occurs in FCN); empty coeff means all ones
    operation: str = "SUM"
    coeff: tuple[float, ...] = ()
    # Scale: a constant per-channel factor (at-once FCN-8s)
    scale_value: float | None = None
    # LRN (FCN-AlexNet), across channels
    local_size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    # Concat
    concat_axis: int = 1

    @property
    def in_place(self) -> bool:
        return self.bottom == self.top

    def with_offset(self, offset: int) -> Layer:
        return replace(self, offset=offset)


def conv(name: str, bottom: str, num_output: int, kernel_size: int, *, pad: int = 0, stride: int = 1,
         group: int = 1, param: ParamSpec = TRAINED) -> Layer:
    return Layer(name, "Convolution", (bottom,), (name,), num_output=num_output, kernel_size=kernel_size,
                 pad=pad, stride=stride, group=group, param=param)


def relu(name: str, blob: str) -> Layer:
    return Layer(name, "ReLU", (blob,), (blob,))


def conv_relu(conv_name: str, relu_name: str, bottom: str, num_output: int, kernel_size: int = 3, *,
              pad: int = 1, stride: int = 1, group: int = 1, param: ParamSpec = TRAINED) -> list[Layer]:
    """A convolution followed by its in-place ReLU, as the reference's ``conv_relu`` helper wrote them."""
    return [conv(conv_name, bottom, num_output, kernel_size, pad=pad, stride=stride, group=group, param=param),
            relu(relu_name, conv_name)]


def max_pool(name: str, bottom: str, kernel_size: int = 2, stride: int = 2, pad: int = 0) -> Layer:
    """MAX pooling in Caffe's ceil mode (nets.layers.caffe_max_pool); GoogLeNet's inception branches pad 1."""
    return Layer(name, "Pooling", (bottom,), (name,), kernel_size=kernel_size, stride=stride, pad=pad, pool="MAX")


def dropout(name: str, blob: str, ratio: float = 0.5) -> Layer:
    return Layer(name, "Dropout", (blob,), (blob,), dropout_ratio=ratio)


def deconv(name: str, bottom: str, num_output: int, kernel_size: int, stride: int) -> Layer:
    """A frozen upsampling layer: Deconvolution without bias, lr_mult 0."""
    return Layer(name, "Deconvolution", (bottom,), (name,), num_output=num_output, kernel_size=kernel_size,
                 stride=stride, bias_term=False, param=FROZEN)


def crop(name: str, bottom: str, like: str) -> Layer:
    """Crop ``bottom`` to the spatial size of ``like``; the offset is filled in by nets.geometry."""
    return Layer(name, "Crop", (bottom, like), (name,), axis=2)


def eltwise_sum(name: str, a: str, b: str, coeff: tuple[float, ...] = ()) -> Layer:
    return Layer(name, "Eltwise", (a, b), (name,), operation="SUM", coeff=coeff)


def scale(name: str, bottom: str, value: float) -> Layer:
    return Layer(name, "Scale", (bottom,), (name,), scale_value=value, bias_term=False, param=FROZEN)


def concat(name: str, bottoms: tuple[str, ...]) -> Layer:
    return Layer(name, "Concat", bottoms, (name,), concat_axis=1)


def lrn(name: str, bottom: str, local_size: int = 5, alpha: float = 1e-4, beta: float = 0.75) -> Layer:
    return Layer(name, "LRN", (bottom,), (name,), local_size=local_size, alpha=alpha, beta=beta, k=1.0)


def frozen_except(spec: NetSpec, trained: tuple[str, ...]) -> NetSpec:
    """``spec`` with every Convolution outside ``trained`` at lr_mult 0 on all its blobs (decay_mult kept), as a
    prototxt's ``param { lr_mult: 0 }`` freezes a layer: Caffe never updates it and skips its backward pass, and
    so does CaffeNet (its parameters do not require gradients). Upsampling and Scale layers are frozen already."""
    convs = [x.name for x in spec.layers if x.type == "Convolution"]
    unknown = sorted(set(trained) - set(convs))
    if unknown:
        raise ValueError(f"{spec.name}: layers {unknown} to train are not convolutions of the net; its "
                         f"convolutions are {convs}")
    layers = tuple(replace(x, param=tuple((0.0, decay) for _, decay in x.param))
                   if x.type == "Convolution" and x.name not in trained else x for x in spec.layers)
    return replace(spec, layers=layers)


@dataclass(frozen=True)
class NetSpec:
    """A whole deploy net: its inputs (name -> channels), layers in execution order and output blobs."""

    name: str
    inputs: dict[str, int]
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...]
    # The offset the reference published for each Crop (geometry derives them and checks against these). Empty
    # for a net the reference never published: its offsets are derived only.
    reference_offsets: Mapping[str, int] = field(default_factory=dict)
    # Loss layers of the reference's train/val net: (loss layer name, score blob, label blob).
    losses: tuple[tuple[str, str, str], ...] = ()
    # The blob where each stream's classifier trunk ends (fc7; fc7color and fc7hha for two streams): the layers
    # that compute them are the trunk (ILSVRC weights), every other parameter layer belongs to the heads.
    trunk: tuple[str, ...] = ()
    # The name suffix of each parallel stream of a multi-stream net, in input order (("color", "hha")): its
    # layers are named <layer><suffix>; surgery builds the net from one source net per stream.
    streams: tuple[str, ...] = ()

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"net {self.name!r} has no layer {name!r}; its layers are {[x.name for x in self.layers]}")

    def channels(self) -> dict[str, int]:
        """The channel count of every blob."""
        channels = dict(self.inputs)
        for layer in self.layers:
            c_in = channels[layer.bottom[0]]
            if layer.type in ("Convolution", "Deconvolution"):
                if c_in % layer.group:
                    raise ValueError(f"layer {layer.name!r}: {c_in} input channels do not split into "
                                     f"{layer.group} groups")
                c_out = layer.num_output
            elif layer.type == "Concat":
                c_out = sum(channels[b] for b in layer.bottom)
            else:
                c_out = c_in
            for top in layer.top:
                channels[top] = c_out
        return channels

    def param_shapes(self) -> dict[str, list[tuple[int, ...]]]:
        """Caffe's parameter blob shapes of every layer that has some, in layer order: Convolution weight
        (out, in/group, k, k) and bias (out,); Deconvolution (in, out/group, k, k) (and (out,) with a bias);
        Scale (C,). The one place the kit derives them (net construction, surgery, Table 1 counts)."""
        channels = self.channels()
        out: dict[str, list[tuple[int, ...]]] = {}
        for layer in self.layers:
            c_in, k = channels[layer.bottom[0]], layer.kernel_size
            if layer.type == "Convolution":
                out[layer.name] = [(layer.num_output, c_in // layer.group, k, k)]
            elif layer.type == "Deconvolution":
                out[layer.name] = [(c_in, layer.num_output // layer.group, k, k)]
            elif layer.type == "Scale":
                out[layer.name] = [(c_in,)]
            if layer.type in ("Convolution", "Deconvolution") and layer.bias_term:
                out[layer.name].append((layer.num_output,))
        return out

    def trunk_layers(self) -> frozenset[str]:
        """Names of the layers that compute the trunk blobs (everything upstream of ``trunk``)."""
        producers: dict[str, list[Layer]] = {}
        for layer in self.layers:
            for top in layer.top:
                producers.setdefault(top, []).append(layer)
        seen: set[str] = set()
        todo = list(self.trunk)
        blobs_done: set[str] = set()
        while todo:
            blob = todo.pop()
            if blob in blobs_done:
                continue
            blobs_done.add(blob)
            for layer in producers.get(blob, ()):
                seen.add(layer.name)
                todo.extend(b for b in layer.bottom if b != blob)
        return frozenset(seen)
