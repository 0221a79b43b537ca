"""The prototxt writer: a net's deploy form as a Caffe prototxt (``.venv/bin/python -m nets.prototxt NAME``).

The deploy form is the reference's val/test net with its data layer replaced by one Input layer whose tops are
the data layer's tops (labels excepted) and its loss layers dropped; dropout stays (identity at test time).
``with_loss=True`` keeps the labels and SoftmaxWithLoss layers (and sets force_backward) for gradient checks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from data.files import FORCE_HELP, DestinationExists, refuse_existing, write_text  # the kit's one atomic writer

from ..spec import CAFFE_DEFAULT, Layer, NetSpec


def _num(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def _params(layer: Layer) -> list[str]:
    if layer.param == CAFFE_DEFAULT or not layer.param:
        return []  # the reference sets none: Caffe's defaults (lr_mult 1, decay_mult 1)
    return [f"  param {{ lr_mult: {_num(lr)} decay_mult: {_num(dm)} }}" for lr, dm in layer.param]


def layer_text(layer: Layer, offset: int | None = None) -> str:
    lines = [f'layer {{\n  name: "{layer.name}"\n  type: "{layer.type}"']
    lines += [f'  bottom: "{b}"' for b in layer.bottom]
    lines += [f'  top: "{t}"' for t in layer.top]
    t = layer.type
    if t in ("Convolution", "Deconvolution"):
        lines += _params(layer)
        body = [f"num_output: {layer.num_output}"]
        if not layer.bias_term:
            body.append("bias_term: false")
        body += [f"pad: {layer.pad}", f"kernel_size: {layer.kernel_size}", f"stride: {layer.stride}"]
        if layer.group != 1:
            body.append(f"group: {layer.group}")
        lines.append(f"  convolution_param {{ {' '.join(body)} }}")
    elif t == "Pooling":
        lines.append(f"  pooling_param {{ pool: {layer.pool} kernel_size: {layer.kernel_size} "
                     f"stride: {layer.stride} pad: {layer.pad} }}")
    elif t == "Dropout":
        lines.append(f"  dropout_param {{ dropout_ratio: {_num(layer.dropout_ratio)} }}")
    elif t == "Crop":
        lines.append(f"  crop_param {{ axis: {layer.axis} offset: {layer.offset if offset is None else offset} }}")
    elif t == "Eltwise":
        coeff = "".join(f" coeff: {_num(c)}" for c in layer.coeff)
        lines.append(f"  eltwise_param {{ operation: {layer.operation}{coeff} }}")
    elif t == "Scale":
        lines += _params(layer)
        lines.append(f'  scale_param {{ filler {{ type: "constant" value: {_num(layer.scale_value)} }} }}')
    elif t == "Concat":
        lines.append(f"  concat_param {{ axis: {layer.concat_axis} }}")
    elif t == "LRN":
        lines.append(f"  lrn_param {{ local_size: {layer.local_size} alpha: {_num(layer.alpha)} "
                     f"beta: {_num(layer.beta)} k: {_num(layer.k)} }}")
    lines.append("}")
    return "\n".join(lines)


def deploy_prototxt(spec: NetSpec | str, height: int = 500, width: int = 500, batch: int = 1,
                    offsets: Mapping[str, int] | None = None, with_loss: bool = False,
                    normalize: bool = False) -> str:
    """The prototxt text of ``spec``.

    ``offsets`` replaces every Crop's offset (a parity harness passes the reference's literal table so that
    Caffe does not inherit the kit's derivation); every crop must then be named in it. ``spec`` may be a reference
    net's name.
    """
    if isinstance(spec, str):
        import nets

        spec = nets.spec(spec)
    if offsets is not None:
        missing = [x.name for x in spec.layers if x.type == "Crop" and x.name not in offsets]
        if missing:
            raise KeyError(f"offsets given for {sorted(offsets)} but not for crops {missing} of {spec.name}")
    tops = list(spec.inputs)
    shapes = [(batch, c, height, width) for c in spec.inputs.values()]
    if with_loss:
        for _, _, label in spec.losses:
            tops.append(label)
            shapes.append((batch, 1, height, width))
    out = [f'name: "{spec.name}"']
    if with_loss:
        out.append("force_backward: true")
    shape_text = " ".join("shape { " + " ".join(f"dim: {d}" for d in s) + " }" for s in shapes)
    out.append('layer {\n  name: "input"\n  type: "Input"\n' + "".join(f'  top: "{t}"\n' for t in tops)
               + f"  input_param {{ {shape_text} }}\n}}")
    for layer in spec.layers:
        out.append(layer_text(layer, None if offsets is None or layer.type != "Crop" else offsets[layer.name]))
    if with_loss:
        for name, score, label in spec.losses:
            out.append(f'layer {{\n  name: "{name}"\n  type: "SoftmaxWithLoss"\n  bottom: "{score}"\n'
                       f'  bottom: "{label}"\n  top: "{name}"\n'
                       f"  loss_param {{ ignore_label: 255 normalize: {'true' if normalize else 'false'} }}\n}}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    import nets

    parser = argparse.ArgumentParser(prog=".venv/bin/python -m nets.prototxt",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", type=nets.net_name, metavar="NAME", help=f"one of: {', '.join(nets.NAMES)}")
    parser.add_argument("-o", "--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--height", type=int, default=500)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--with-loss", action="store_true", help="keep labels and SoftmaxWithLoss layers")
    parser.add_argument("--force", action="store_true", help="with -o: " + FORCE_HELP)
    args = parser.parse_args(argv)
    if args.out is not None:
        try:
            refuse_existing(args.out, args.force)
        except DestinationExists as e:
            parser.error(f"-o: {e}")
    text = deploy_prototxt(nets.spec(args.name), args.height, args.width, with_loss=args.with_loss)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text(args.out, text)
    return 0
