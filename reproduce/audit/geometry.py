"""Paper-to-code audit of every kit net: ``.venv/bin/python -m reproduce.audit [NAME ...] [--size 500]``.

For each net: its layer table (kernel / stride / pad, output size for a 500x500 input, cumulative stride,
receptive field), each crop offset as derived beside the reference's value, and its trunk's structure (conv
layers, parameters, receptive field, stride) beside the paper's Table 1 row for that trunk, which the net
records hold (134M FCN-VGG16, 57M FCN-AlexNet, 6M FCN-GoogLeNet). Exits non-zero on any disagreement, except a
difference the record states with its reason (``PaperRow.differs``: FCN-GoogLeNet's receptive field), whose
value the kit must then derive exactly.

Prototxts (reproduce.audit.prototxt, no Caffe needed):

- ``--prototxt FILE [--net NAME]``: every difference between a Caffe prototxt and the kit's net, layer by
  layer (without --net, the net is guessed and the guess printed). Exit 0 when equivalent, 1 otherwise.
- ``--reference-repo DIR``: every net prototxt of a checkout of the reference release against the kit's nets,
  one line per file. Exit 0 when all are equivalent, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import nets
from data.cli import fail
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


def structure(spec: NetSpec) -> dict[str, float]:
    """Table 1's structure columns of a net's trunk, per stream: convolution layers by depth (the most on any
    path from the input to the trunk's output, plus a score_fr; the count of a chain such as VGG16 or AlexNet),
    parameters in millions (trunk plus a 21-class score_fr on the trunk's output), receptive field and stride in
    input pixels of the trunk's output blob."""
    shapes = spec.param_shapes()
    trunk = spec.trunk_layers()
    streams = len(spec.trunk)
    trunk_convs = [x.name for x in spec.layers if x.type == "Convolution" and x.name in trunk]
    params = sum(int(math.prod(s)) for name in trunk_convs for s in shapes[name]) / streams
    score_fr = spec.channels()[spec.trunk[0]] * TABLE1_CLASSES + TABLE1_CLASSES
    field = geometry.receptive_fields(spec)[spec.trunk[0]]
    return {"conv_layers": conv_depths(spec)[spec.trunk[0]] + 1,
            "params_millions": round((params + score_fr) / 1e6, 1), "rf_size": int(field.size),
            "max_stride": int(field.jump)}


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
        for key, (kit_value, why) in row.differs.items():
            # A difference the record states: the kit must derive exactly the value it names.
            if ours[key] != kit_value:
                problems.append(f"{name}: {key} {ours[key]}, the record says the kit derives {kit_value:g}")
            out.append(f"  {key}: ours {ours[key]:g}, paper {paper[key]:g}: known difference, {why}")
        if "params_millions" not in row.differs and round(ours["params_millions"]) != paper["params_millions"]:
            problems.append(f"{name}: {ours['params_millions']}M parameters per stream, paper "
                            f"{paper['params_millions']}M")
        for key in ("conv_layers", "rf_size", "max_stride"):
            if key not in row.differs and ours[key] != paper[key]:
                problems.append(f"{name}: {key} {ours[key]}, paper {paper[key]}")
    return "\n".join(out), problems


def audit_prototxt(path: Path, net: str | None) -> int:
    """``--prototxt``: the layer-by-layer comparison of one file; 0 when equivalent, 1 otherwise."""
    from nets.prototxt import read_net

    from . import prototxt

    fnet = read_net(path)
    if net is None:
        net, why = prototxt.guess_net(path, fnet)
        print(f"--net not given: comparing with {net} ({why}); pass --net NAME to choose", flush=True)
    audit = prototxt.audit_file(path, net, fnet=fnet)
    print(f"== {path} against the kit's {net} ({audit.role} file)")
    print(prototxt.format_audit(audit))
    return 0 if audit.equivalent else 1


def audit_reference_repo(root: Path) -> int:
    """``--reference-repo``: one line per net file of a reference checkout; 0 when every one is equivalent."""
    from . import prototxt

    lines = prototxt.audit_reference_repo(root)
    print(prototxt.format_repo(lines))
    return 1 if any(x.failed for x in lines) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m reproduce.audit", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", type=nets.net_name, default=list(nets.NAMES), metavar="NAME")
    parser.add_argument("--size", type=int, default=500, help="input height and width for the size column")
    parser.add_argument("--prototxt", type=Path, metavar="FILE",
                        help="compare a Caffe prototxt with a kit net, layer by layer (exit 1 on a difference)")
    parser.add_argument("--net", metavar="NAME", help="the kit net --prototxt is compared with (default: a guess, "
                                                      "printed)")
    parser.add_argument("--reference-repo", type=Path, metavar="DIR",
                        help="audit every net prototxt of a checkout of the reference release")
    args = parser.parse_args(argv)
    if args.net is not None and args.prototxt is None:
        parser.error("--net goes with --prototxt FILE")
    if args.net is not None:
        try:
            args.net = nets.canonical_name(args.net)
        except KeyError as e:
            parser.error(e.args[0])
    if args.prototxt is not None or args.reference_repo is not None:
        if args.names != list(nets.NAMES) or (args.prototxt and args.reference_repo):
            parser.error("--prototxt, --reference-repo and net names are three separate audits; give one")
        from nets.prototxt import PrototxtError

        try:
            if args.prototxt is not None:
                return audit_prototxt(args.prototxt, args.net)
            return audit_reference_repo(args.reference_repo)
        except (PrototxtError, FileNotFoundError) as e:
            return fail(e, 2)
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
          f"is {args.size}x{args.size}, parameter counts and receptive fields match Table 1 (or differ as their "
          "records state)")
    return 0

