"""Paper-to-code audit of every reference net: ``python -m nets.audit [NAME ...] [--size 500]``.

For each net: its layer table (kernel / stride / pad, output size for a 500x500 input, cumulative stride,
receptive field), each crop offset as derived beside the reference's value, and the trainable parameter count
beside the paper's Table 1 (134M FCN-VGG16, 57M FCN-AlexNet). Exits non-zero on any disagreement.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import nets
from nets import geometry
from nets.spec import NetSpec

# Table 1 of the paper: parameters (millions) and receptive field of the classifier trunks, up to fc7.
PAPER_TABLE1 = {"vgg16": {"params_m": 134, "rf": 404}, "alexnet": {"params_m": 57, "rf": 355}}


@dataclass(frozen=True)
class Structure:
    """Table 1's structure columns of a single-head FCN, derived from its layer list (``structure``)."""

    conv_layers: int  # convolutions on the longest path from an input to score_fr, score_fr included
    parameters: int  # trainable: every convolution's weights and biases (the upsampling is frozen)
    rf_size: int  # receptive field of score_fr, in input pixels
    max_stride: int  # stride of score_fr, in input pixels

    def columns(self) -> dict[str, float]:
        """Keyed as the paper's Table 1 columns (reproduce.tables.TABLE1), parameters in millions."""
        return {"conv_layers": self.conv_layers, "params_millions": round(self.parameters / 1e6, 1),
                "rf_size": self.rf_size, "max_stride": self.max_stride}


def conv_depths(spec: NetSpec) -> dict[str, int]:
    """For every blob, the most Convolution layers on any path from an input to it. For a chain (VGG16,
    AlexNet) that is the number of convolutions; an inception module adds 2 (reduce, then 3x3 or 5x5), which is
    how GoogLeNet is "22 layers deep" (conv1, conv2 reduce, conv2, 9 x 2, the classifier)."""
    depth = {name: 0 for name in spec.inputs}
    for layer in spec.layers:
        d = max(depth[b] for b in layer.bottom) + (layer.type == "Convolution")
        for top in layer.top:
            depth[top] = d
    return depth


def trainable_parameters(spec: NetSpec) -> int:
    """Weights and biases of every Convolution (the only trainable layers; upsampling and Scale are frozen)."""
    channels = dict(spec.inputs)
    total = 0
    for layer in spec.layers:
        c_in = channels[layer.bottom[0]]
        c_out = c_in
        if layer.type in ("Convolution", "Deconvolution"):
            c_out = layer.num_output
        elif layer.type == "Concat":
            c_out = sum(channels[b] for b in layer.bottom)
        if layer.type == "Convolution":
            total += c_out * (c_in // layer.group) * layer.kernel_size ** 2 + (c_out if layer.bias_term else 0)
        for top in layer.top:
            channels[top] = c_out
    return total


def structure(net: str | NetSpec, score: str = "score_fr") -> Structure:
    """Table 1's structure columns of a net (a name or a NetSpec): conv layers by depth up to ``score``, trainable
    parameters, receptive field and stride of ``score``. For FCN-VGG16 and FCN-AlexNet, whose score_fr is a 1x1
    on fc7, the field and stride are fc7's, as in the paper."""
    spec = nets.spec(net) if isinstance(net, str) else net
    rf = geometry.receptive_fields(spec)[score]
    if rf.size.denominator != 1 or rf.jump.denominator != 1:
        raise geometry.GeometryError(f"{spec.name}: {score} has receptive field {rf.size} and stride {rf.jump}; "
                                     "expected whole input pixels")
    return Structure(conv_depths(spec)[score], trainable_parameters(spec), int(rf.size), int(rf.jump))


def layer_rows(spec: NetSpec, size: int) -> list[tuple[str, ...]]:
    sizes = geometry.blob_sizes(spec, size, size)
    fields = geometry.receptive_fields(spec)
    rows = []
    for layer in spec.layers:
        if layer.type in ("ReLU", "Dropout"):
            continue  # in place: same blob, same geometry
        top = layer.top[0]
        if layer.type in ("Convolution", "Deconvolution", "Pooling"):
            kind = f"k{layer.kernel_size} s{layer.stride} p{layer.pad}"
            if layer.group > 1:
                kind += f" g{layer.group}"
        elif layer.type == "Crop":
            kind = f"offset {layer.offset}"
        elif layer.type == "Eltwise" and layer.coeff:
            kind = "coeff " + "/".join(f"{c:g}" for c in layer.coeff)
        elif layer.type == "Scale":
            kind = f"x{layer.scale_value:g}"
        else:
            kind = ""
        h, w = sizes[top]
        rf = fields[top]
        rows.append((layer.name, layer.type, kind, f"{h}x{w}", f"{rf.jump}", f"{rf.size}"))
    return rows


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def audit_net(name: str, size: int) -> tuple[str, list[str]]:
    """The audit text of one net and the list of disagreements found."""
    problems: list[str] = []
    spec = nets.spec(name)
    out = [f"== {name}  inputs {dict(spec.inputs)}  outputs {spec.outputs}"]
    out.append(format_table(("layer", "type", "kernel/stride/pad", f"out @{size}", "stride", "rf"),
                            layer_rows(spec, size)))
    derived = geometry.derive_crop_offsets(spec)
    crop_rows = []
    for crop_name, offset in derived.items():
        ref = geometry.reference_crop_offset(spec, crop_name)
        ok = offset == ref
        crop_rows.append((crop_name, str(offset), str(ref), "ok" if ok else "DIFFERS"))
        if not ok:
            problems.append(f"{name}: crop {crop_name} derived {offset}, reference {ref}")
    out.append("crop offsets:\n" + format_table(("crop", "derived", "reference", ""), crop_rows))
    sizes = geometry.blob_sizes(spec, size, size)
    for o in spec.outputs:
        if sizes[o] != (size, size):
            problems.append(f"{name}: output {o} is {sizes[o]} for a {size}x{size} input")
    net = nets.build(name)
    trainable = sum(p.numel() for p in net.parameters())
    # Table 1 counts the classifier made convolutional (conv1 .. fc7, per stream) plus a 21-class score_fr.
    trunk = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("score"))
    frozen = sum(b.numel() for b in net.buffers())
    family = "alexnet" if spec.heads == "alexnet" else "vgg16"
    fc7 = next(x.top[0] for x in spec.layers if x.name.startswith("fc7"))  # fc7, or fc7color in two streams
    rf = geometry.receptive_fields(spec)[fc7].size
    paper = PAPER_TABLE1[family]
    streams = sum(1 for x in spec.layers if x.name.startswith("fc7") and x.type == "Convolution")
    per_stream = trunk / streams + 4096 * 21 + 21
    out.append(f"trainable parameters {trainable:,} ({trainable / 1e6:.1f}M); per stream conv1..fc7 + a 21-class "
               f"score_fr: {per_stream / 1e6:.1f}M (paper Table 1 FCN-{family}: {paper['params_m']}M); "
               f"frozen buffers {frozen:,}; fc7 receptive field {rf} (paper {paper['rf']})")
    if round(per_stream / 1e6) != paper["params_m"]:
        problems.append(f"{name}: {per_stream / 1e6:.1f}M parameters per stream, paper {paper['params_m']}M")
    if rf != paper["rf"]:
        problems.append(f"{name}: receptive field {rf}, paper {paper['rf']}")
    return "\n".join(out), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(nets.NAMES), metavar="NAME")
    parser.add_argument("--size", type=int, default=500, help="input height and width for the size column")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in nets.NAMES]
    if unknown:
        parser.error(f"unknown net(s) {unknown}; valid: {', '.join(nets.NAMES)}")
    problems: list[str] = []
    for name in args.names:
        text, found = audit_net(name, args.size)
        print(text + "\n", flush=True)
        problems += found
    if problems:
        print(f"AUDIT FAILED: {len(problems)} disagreement(s):\n  " + "\n  ".join(problems))
        return 1
    print(f"audit passed: {len(args.names)} nets, every crop offset derived equals the reference's, every output "
          f"is {args.size}x{args.size}, parameter counts and receptive fields match Table 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
