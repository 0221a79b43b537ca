"""The reference FCNs as Caffe-faithful PyTorch modules.

>>> import nets
>>> net = nets.build("voc-fcn8s")          # a CaffeNet (torch.nn.Module)
>>> score = net(data)                      # N x 21 x H x W, same H x W as data
>>> blobs = net.forward_blobs(data)        # every Caffe blob by name
"""

from __future__ import annotations

from collections.abc import Callable

from . import alexnet, googlenet, vgg
from .geometry import resolve_crops
from .layers import bilinear_kernel
from .net import CaffeNet
from .spec import Layer, NetSpec

# name -> builder of the deploy NetSpec. Names are the reference's directory names (FACTS.md section 1).
_SPECS: dict[str, Callable[[str], NetSpec]] = {
    "voc-fcn32s": lambda n: vgg.fcn(n, 32, 21),
    "voc-fcn16s": lambda n: vgg.fcn(n, 16, 21),
    "voc-fcn8s": lambda n: vgg.fcn(n, 8, 21),
    "voc-fcn8s-atonce": lambda n: vgg.fcn(n, 8, 21, at_once=True),
    "voc-fcn-alexnet": lambda n: alexnet.fcn_alexnet(n, 21),
    "nyud-fcn32s-color": lambda n: vgg.fcn(n, 32, 40),
    "nyud-fcn32s-hha": lambda n: vgg.fcn(n, 32, 40),
    "nyud-fcn32s-color-d": lambda n: vgg.fcn_color_depth(n, 40),
    "nyud-fcn32s-color-hha": lambda n: vgg.fcn_two_stream(n, 40),
    "siftflow-fcn32s": lambda n: vgg.fcn_two_headed(n, 32, {"sem": 33, "geo": 3}),
    "siftflow-fcn16s": lambda n: vgg.fcn_two_headed(n, 16, {"sem": 33, "geo": 3}),
    "siftflow-fcn8s": lambda n: vgg.fcn_two_headed(n, 8, {"sem": 33, "geo": 3}),
    "pascalcontext-fcn32s": lambda n: vgg.fcn(n, 32, 60),
    "pascalcontext-fcn16s": lambda n: vgg.fcn(n, 16, 60),
    "pascalcontext-fcn8s": lambda n: vgg.fcn(n, 8, 60),
}

NAMES: tuple[str, ...] = tuple(_SPECS)

# The paper's nets that the reference never released (FACTS.md section 9), built from the paper's description:
# no released weights and no reference crop table (their offsets are derived only). Not in NAMES.
_PAPER_ONLY_SPECS: dict[str, Callable[[str], NetSpec]] = {
    "voc-fcn-googlenet": lambda n: googlenet.fcn_googlenet(n, 21),
}
PAPER_ONLY: tuple[str, ...] = tuple(_PAPER_ONLY_SPECS)


def spec(name: str) -> NetSpec:
    """The deploy NetSpec of a reference net (or a paper-only net), crop offsets derived and checked against the
    reference's table where it has one."""
    builder = _SPECS.get(name) or _PAPER_ONLY_SPECS.get(name)
    if builder is None:
        raise KeyError(f"unknown net {name!r}; the reference nets are: {', '.join(NAMES)}; paper only: "
                       f"{', '.join(PAPER_ONLY)}")
    return resolve_crops(builder(name))


def build(name: str) -> CaffeNet:
    """A reference net as a torch Module, in eval mode (dropout off). Parameters are zero-initialised except the
    frozen upsampling kernels (bilinear) and Scale factors (the reference's constants); load weights with
    ``weights.load``."""
    net = CaffeNet(spec(name))
    for layer in net.layers:
        if layer.type == "Deconvolution":
            getattr(net, layer.name).weight.copy_(bilinear_kernel(layer.num_output, layer.kernel_size))
    return net.eval()


__all__ = ["NAMES", "PAPER_ONLY", "CaffeNet", "Layer", "NetSpec", "bilinear_kernel", "build", "spec"]
