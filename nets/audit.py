"""Paper-to-code audit of every kit net: ``python -m nets.audit [NAME ...] [--size 500]``.

For each net: its layer table (kernel / stride / pad, output size for a 500x500 input, cumulative stride,
receptive field), each crop offset as derived beside the reference's value, and its trunk's structure (conv
layers, parameters, receptive field, stride) beside the paper's Table 1 row for that trunk, which the net
records hold (134M FCN-VGG16, 57M FCN-AlexNet). Exits non-zero on any disagreement.
"""

from __future__ import annotations

import argparse
import math
import sys

import nets
from nets import geometry
from nets.registry import RECORDS, PaperRow
from nets.spec import NetSpec

TABLE1_CLASSES = 21  # Table 1 counts the classifier made convolutional with a 21-class (VOC) score_fr


def table1_row(classifier: str) -> tuple[str, PaperRow] | None:
    """The net whose record holds the paper's Table 1 row for this ILSVRC trunk, and that row."""
    for rec in RECORDS.values():
        row = rec.paper_row(1)
        if row is not None and rec.classifier == classifier:
            return rec.name, row
    return None


def structure(spec: NetSpec) -> dict[str, float]:
    """Table 1's structure columns of a net's trunk, per stream: convolution layers (the trunk's and a
    score_fr), parameters in millions (trunk plus a 21-class score_fr on the trunk's output), receptive field
    and stride in input pixels of the trunk's output blob."""
    shapes = spec.param_shapes()
    trunk = spec.trunk_layers()
    streams = len(spec.trunk)
    trunk_convs = [x.name for x in spec.layers if x.type == "Convolution" and x.name in trunk]
    params = sum(int(math.prod(s)) for name in trunk_convs for s in shapes[name]) / streams
    score_fr = spec.channels()[spec.trunk[0]] * TABLE1_CLASSES + TABLE1_CLASSES
    field = geometry.receptive_fields(spec)[spec.trunk[0]]
    return {"conv_layers": len(trunk_convs) // streams + 1, "params_millions": round((params + score_fr) / 1e6, 1),
            "rf_size": int(field.size), "max_stride": int(field.jump)}


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
        ref = spec.reference_offsets.get(crop_name)
        ok = ref is None or offset == ref
        crop_rows.append((crop_name, str(offset), "-" if ref is None else str(ref),
                          "derived only (never published)" if ref is None else "ok" if ok else "DIFFERS"))
        if not ok:
            problems.append(f"{name}: crop {crop_name} derived {offset}, reference {ref}")
    out.append("crop offsets:\n" + format_table(("crop", "derived", "reference", ""), crop_rows))
    sizes = geometry.blob_sizes(spec, size, size)
    for o in spec.outputs:
        if sizes[o] != (size, size):
            problems.append(f"{name}: output {o} is {sizes[o]} for a {size}x{size} input")
    ours = structure(spec)
    shapes = spec.param_shapes()
    trainable = sum(int(math.prod(s)) for layer in spec.layers if layer.type == "Convolution"
                    for s in shapes[layer.name])
    found = table1_row(nets.record(name).classifier)
    line = (f"trainable parameters {trainable:,} ({trainable / 1e6:.1f}M); per stream: {ours['conv_layers']} conv "
            f"layers, {ours['params_millions']}M parameters with a 21-class score_fr, receptive field "
            f"{ours['rf_size']}, stride {ours['max_stride']}")
    if found is None:
        out.append(line + " (no Table 1 row for this trunk)")
    else:
        holder, row = found
        paper = {k: row.numbers[k] for k in ours}
        out.append(line + f"; paper Table 1 {row.method} (record {holder}): " + ", ".join(
            f"{k} {v:g}" for k, v in paper.items()))
        if round(ours["params_millions"]) != paper["params_millions"]:
            problems.append(f"{name}: {ours['params_millions']}M parameters per stream, paper "
                            f"{paper['params_millions']}M")
        for key in ("conv_layers", "rf_size", "max_stride"):
            if ours[key] != paper[key]:
                problems.append(f"{name}: {key} {ours[key]}, paper {paper[key]}")
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
