"""The audit report: ``.venv/bin/python -m reproduce.audit.report`` (run by ``make audit`` after the geometry audit).

Writes ``results/audit/index.html`` (one static page: inline CSS and SVG, no script, nothing fetched) and
``results/audit/summary.md``. Per net: a drawing of the net made from its spec (the trunk as a strip of blocks
with their strides, the score / upsample / crop / fuse path of every skip, each layer with its geometry), the
coordinate-map arithmetic behind each crop offset (19, 5, 27, 9, 31, 18), and the layer table. Then the
claims ledger (reproduce/audit/claims.py, or the one given), and, for every table record that exists
(results/tableN.json from ``make reproduce-tableN``, results/smoke/tableN.json from a SMOKE run), the
paper's scores beside the kit's and the per-class IU as bar charts.

It reads only: the nets' specs, results/ and an optional ledger (``--ledger FILE.json``, a list of claims
with id, source, claim, status, code, tests). It takes a few seconds and no net is built.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..records import REPO, write_text

RESULTS = REPO / "results"
LEDGER_FIELDS = ("id", "source", "claim", "status", "code", "tests")
PERCENT_COLUMNS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu", "geo_pixel_accuracy")


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def frac(x: Fraction) -> str:
    """An exact rational as a short decimal when it has one (the maps here have power-of-two denominators)."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    d = x.denominator
    if d & (d - 1) == 0 and d <= 1024:
        return f"{float(x):g}"
    return f"{x.numerator}/{x.denominator}"


def signed(x: Fraction) -> str:
    return f"+ {frac(x)}" if x >= 0 else f"− {frac(-x)}"


# ---- the drawing of a net ------------------------------------------------------------------------------

HEAD_TYPES = ("Deconvolution", "Crop", "Eltwise", "Scale")


@dataclass
class Node:
    key: str
    kind: str  # input, stage, score, upsample, crop, fuse, scale, output
    lines: list[str]
    stride: Fraction
    col: float = 0.0
    row: float = 0.0
    layers: list[str] = field(default_factory=list)


@dataclass
class Edge:
    src: str
    dst: str
    dashed: bool = False


def head_layers(spec) -> set[str]:
    """The layers of the FCN heads: every layer outside the trunk the spec names (``spec.trunk``); for a spec
    without one, the upsampling, crops, fusions, Scale and the score convolutions (whose output only those
    read, or nothing)."""
    if spec.trunk:
        trunk = spec.trunk_layers()
        return {x.name for x in spec.layers if x.name not in trunk}
    readers: dict[str, list] = {}
    for layer in spec.layers:
        for b in layer.bottom:
            if b not in layer.top:
                readers.setdefault(b, []).append(layer)
    head: set[str] = set()
    for layer in spec.layers:
        if layer.type in HEAD_TYPES:
            head.add(layer.name)
        elif layer.type == "Convolution":
            users = readers.get(layer.top[0], [])
            if all(u.type in HEAD_TYPES for u in users):
                head.add(layer.name)
    return head


def _span(names: list[str]) -> str:
    """conv3_1, conv3_2, conv3_3 -> conv3_1–3; conv3, conv4, conv5 -> conv3–5; one name as it is."""
    if len(names) == 1:
        return names[0]
    first, last = names[0], names[-1]
    prefix = os.path.commonprefix([first, last])
    suffix = os.path.commonprefix([first[len(prefix):][::-1], last[len(prefix):][::-1]])[::-1]
    a, b = first[len(prefix):len(first) - len(suffix)], last[len(prefix):len(last) - len(suffix)]
    if not a or not b:
        return f"{first}–{last}"
    return f"{prefix}{a}–{b}{suffix}"


def _trunk_text(layers: list, stride: Fraction) -> list[str]:
    """A trunk stage's lines: its convolutions, their geometry and width, LRN / concat / pooling / dropout, and
    the stride of its output."""
    convs = [x for x in layers if x.type == "Convolution"]
    lines = [_span([c.name for c in convs])] if convs else []  # the title
    for x in layers:
        if convs and x is convs[0]:
            geometry = dict.fromkeys((c.kernel_size, c.stride, c.pad, c.group) for c in convs)  # in layer order
            lines.append(", ".join(f"{k}×{k}" + (f" s{s}" if s != 1 else "") + f" p{p}"
                                   + (f" g{g}" if g != 1 else "") for k, s, p, g in geometry)
                         + f" · {convs[-1].num_output}")
        elif x.type == "Concat":
            lines += [x.name, "concat " + " + ".join(x.bottom)]
        elif x.type == "LRN":
            lines.append(f"{x.name} LRN {x.local_size}")
        elif x.type == "Pooling":
            lines.append(f"{x.name} max {x.kernel_size}/{x.stride}")
    drops = [x for x in layers if x.type == "Dropout"]
    if drops:
        lines.append("dropout " + "/".join(f"{x.dropout_ratio:g}" for x in drops))
    lines.append(f"stride {frac(stride)}")
    return lines


def _head_text(layer, spec, sized_like_input: set[str]) -> tuple[str, list[str]]:
    if layer.type == "Convolution":
        return "score", [layer.name, f"{layer.kernel_size}×{layer.kernel_size} conv · {layer.num_output}"]
    if layer.type == "Deconvolution":
        frozen = not layer.param or layer.param[0][0] == 0
        return "upsample", [layer.name, f"deconv k{layer.kernel_size} s{layer.stride}",
                            f"×{layer.stride} {'bilinear, frozen' if frozen else 'learned'}"]
    if layer.type == "Crop":
        lines = [layer.name, f"crop offset {layer.offset}"]
        if layer.bottom[1] in sized_like_input:
            lines.append(f"to the size of {layer.bottom[1]}")
        return ("output" if layer.top[0] in spec.outputs else "crop"), lines
    if layer.type == "Eltwise":
        how = "sum" if not layer.coeff else "sum × (" + ", ".join(f"{c:g}" for c in layer.coeff) + ")"
        return "fuse", [layer.name, how]
    return "scale", [layer.name, f"× {layer.scale_value:g}, frozen"]


def diagram(spec) -> tuple[dict[str, Node], list[Edge], list[tuple[float, str]]]:
    """Nodes, edges and head row labels of the drawing, laid out as the paper's figure of the skip nets.

    Top: the inputs and, per input stream, the trunk as a strip of stages (a pooling closes a stage; after the
    last pooling each convolution is a stage: fc6, fc7). Below, per head (SIFT Flow's semantic and geometric
    heads apart), one row per stride: each score layer under the stage it reads, fusions to the right of what
    they fuse, and every upsampling half a row down, on its way to the finer row."""
    from nets import geometry

    fields = geometry.receptive_fields(spec)
    head = head_layers(spec)
    ancestors: dict[str, frozenset] = {name: frozenset([name]) for name in spec.inputs}
    for layer in spec.layers:
        deps = frozenset().union(*(ancestors[b] for b in layer.bottom))
        for t in layer.top:
            ancestors[t] = deps
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    producer: dict[str, str] = {}  # blob -> key of the node that makes it
    trunk = [x for x in spec.layers if x.name not in head]
    streams = list(dict.fromkeys(ancestors[x.top[0]] for x in trunk))
    inputs = list(spec.inputs.items())
    for i, (name, channels) in enumerate(inputs):
        row = i if len(inputs) == len(streams) else i * 0.6  # several inputs of one stream: stacked
        nodes[name] = Node(name, "input", [name, f"{channels} channel{'s' if channels > 1 else ''}"], Fraction(1),
                           0, row)
        producer[name] = name
    for row, key in enumerate(streams):
        layers = [x for x in trunk if ancestors[x.top[0]] == key]
        last_pool = max((i for i, x in enumerate(layers) if x.type == "Pooling"), default=-1)
        stages: list[list] = []
        current: list = []
        for i, x in enumerate(layers):
            if current and x.type == "Convolution" and i > last_pool:
                stages.append(current)
                current = []
            current.append(x)
            if x.type in ("Pooling", "Concat"):
                stages.append(current)
                current = []
        if current:
            stages.append(current)
        for col, stage in enumerate(stages, start=1):
            main = next((x for x in stage if x.type in ("Convolution", "Concat")), stage[0])
            node = Node(f"stage:{main.name}", "stage", _trunk_text(stage, fields[stage[-1].top[0]].jump),
                        fields[stage[-1].top[0]].jump, col, row, [x.name for x in stage])
            nodes[node.key] = node
            for x in stage:
                for b in x.bottom:
                    if b in producer and producer[b] != node.key and Edge(producer[b], node.key) not in edges:
                        edges.append(Edge(producer[b], node.key))
                for t in x.top:
                    producer[t] = node.key
    # Heads: the components the head layers form among themselves.
    members: dict[str, list] = {}
    owner: dict[str, str] = {}  # blob -> component
    for layer in (x for x in spec.layers if x.name in head):
        joined = list(dict.fromkeys(owner[b] for b in layer.bottom if b in owner))
        comp = joined[0] if joined else layer.name
        for other in joined[1:]:
            members[comp] += members.pop(other)
            owner.update({b: comp for b, c in owner.items() if c == other})
        members.setdefault(comp, []).append(layer)
        for t in layer.top:
            owner[t] = comp
    labels: list[tuple[float, str]] = []
    trunk_blobs = {b for b, key in producer.items() if nodes[key].kind in ("stage", "input")}
    base = len(streams) + 0.3
    taken: set[tuple[float, float]] = set()
    for comp_layers in members.values():
        comp_layers.sort(key=spec.layers.index)
        strides = sorted({fields[x.top[0]].jump for x in comp_layers}, reverse=True)
        labels += [(base + i, f"stride {frac(s)}") for i, s in enumerate(strides)]
        for layer in comp_layers:
            kind, lines = _head_text(layer, spec, trunk_blobs)
            srcs = [nodes[producer[b]] for b in (layer.bottom[:1] if layer.type == "Crop" else layer.bottom)]
            row = base + strides.index(fields[layer.top[0]].jump)
            if layer.type == "Deconvolution":  # half-way down to the finer row, right of its bottom
                col, row = srcs[0].col + 1, (srcs[0].row + row) / 2
            elif all(n.kind in ("stage", "input") for n in srcs):  # a tap: under the stage it reads
                col = max(n.col for n in srcs)
                src = max(srcs, key=lambda n: n.col)
                if _blocked(nodes, col, src.row, row, set()) and not _blocked(nodes, col + 1, src.row - 0.01, row,
                                                                               set()):
                    col += 1  # another stream below is in the way: step right, round it
            else:  # right of what it reads in its own row, under what it reads from above
                col = max(n.col + (1 if abs(n.row - row) < 0.01 else 0) for n in srcs)
            while (col, row) in taken:
                col += 1
            taken.add((col, row))
            nodes[layer.name] = Node(layer.name, kind, lines, fields[layer.top[0]].jump, col, row, [layer.name])
            for i, b in enumerate(layer.bottom):
                reference = layer.type == "Crop" and i == 1
                if b in producer and not (reference and b in trunk_blobs):  # the text names that one
                    edges.append(Edge(producer[b], layer.name, dashed=reference))
            for t in layer.top:
                producer[t] = layer.name
        base += len(strides) + 0.3
    return nodes, edges, labels


# Colours: trunk blocks by stride, head nodes by kind.
_KIND_STYLE = {"input": ("#eef2f7", "#5b6b82"), "score": ("#fff1e0", "#d9822b"), "upsample": ("#e6f6ec", "#2e9d5b"),
               "crop": ("#f1ebfb", "#7b55c7"), "fuse": ("#e9eef7", "#3b5b9a"), "scale": ("#fdf3f3", "#c0504d"),
               "output": ("#e7f3fb", "#1f77b4")}
COL_W, NODE_W, ROW_H, LEFT = 112, 98, 116, 12


def _stage_fill(stride: Fraction) -> str:
    """Deeper blue for a coarser stride."""
    level = min(max(math.log2(float(stride)), 0), 5) / 5
    light, dark = (226, 236, 248), (88, 128, 186)
    return "#{:02x}{:02x}{:02x}".format(*(round(a + (b - a) * level) for a, b in zip(light, dark, strict=True)))


def _box(n: Node) -> tuple[float, float, float, float]:
    x, y = LEFT + n.col * COL_W, 8 + n.row * ROW_H
    if n.kind == "stage":  # the paper's figure draws coarser layers as smaller blocks
        return x, y, NODE_W, max(92 - 6 * min(max(math.log2(float(n.stride)), 0), 5), 14 + 12 * len(n.lines))
    return x, y, NODE_W, 12 + 12.5 * len(n.lines)


def _blocked(nodes: dict[str, Node], col: float, row_a: float, row_b: float, skip: set[str]) -> bool:
    """Whether some node sits in column ``col`` strictly between rows ``row_a`` and ``row_b``."""
    return any(abs(n.col - col) < 0.01 and row_a + 0.01 < n.row < row_b - 0.01 for k, n in nodes.items()
               if k not in skip)


def _edge_path(nodes: dict[str, Node], e: Edge) -> str:
    a, b = nodes[e.src], nodes[e.dst]
    ax, ay, aw, ah = _box(a)
    bx, by, bw, bh = _box(b)
    acx, bcx = ax + aw / 2, bx + bw / 2
    skip = {e.src, e.dst}
    if abs(a.row - b.row) < 0.01:
        between = any(abs(n.row - a.row) < 0.01 and min(a.col, b.col) < n.col < max(a.col, b.col)
                      for k, n in nodes.items() if k not in skip)
        if b.col > a.col and not between:  # side by side
            y1, y2 = ay + min(ah, bh) / 2, by + min(ah, bh) / 2
            return f"M{ax + aw},{y1} L{bx},{y2}"
        dip = 18  # under whatever sits between (the row gap below is free), or back to an earlier column
        return f"M{acx},{ay + ah} C{acx},{ay + ah + dip} {bcx},{by + bh + dip} {bcx},{by + bh}"
    if b.row < a.row:  # upwards (a second input joining its stream)
        y1, y2 = ay + ah / 2, by + bh / 2
        mid = (ax + aw + bx) / 2
        return f"M{ax + aw},{y1} C{mid},{y1} {mid},{y2} {bx},{y2}"
    if abs(a.col - b.col) < 0.01:
        if not _blocked(nodes, a.col, a.row, b.row, skip):
            return f"M{acx},{ay + ah} L{bcx},{by}"
        # A stream or head below is in the way: run down the free channel right of the column.
        lane = ax + aw + (COL_W - NODE_W) / 2
        y1, y2 = ay + ah + 5, by - 5
        return f"M{acx},{ay + ah} L{acx},{y1} L{lane},{y1} L{lane},{y2} L{bcx},{y2} L{bcx},{by}"
    if b.col > a.col:
        if _blocked(nodes, b.col, a.row - 0.01, b.row, skip):
            lane = bx - (COL_W - NODE_W) / 2
            y1, y2 = ay + ah + 5, by - 5
            return f"M{acx},{ay + ah} L{acx},{y1} L{lane},{y1} L{lane},{y2} L{bcx},{y2} L{bcx},{by}"
        y1 = ay + min(ah, 40) / 2
        return f"M{ax + aw},{y1} C{bcx},{y1} {bcx},{y1} {bcx},{by}"
    # down and back to the left: a crop's dashed reference to an upsampling above it
    y1 = ay + ah / 2
    return f"M{ax},{y1} C{bcx},{y1} {bcx},{y1} {bcx},{by}"


def diagram_svg(spec) -> str:
    """The drawing of a net as inline SVG (see diagram)."""
    nodes, edges, labels = diagram(spec)
    right = max(_box(n)[0] + _box(n)[2] for n in nodes.values())
    bottom = max(_box(n)[1] + _box(n)[3] for n in nodes.values())
    width, height = int(right + LEFT), int(bottom + 10)
    out = [f'<svg class="net" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{esc(spec.name)}: layers and skips" xmlns="http://www.w3.org/2000/svg">',
           '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#7d8799"/></marker></defs>']
    for i, (row, text) in enumerate(labels):  # the head's rows, banded as in the paper's figure
        y = 8 + row * ROW_H - 12
        band = "#f5f7fb" if i % 2 == 0 else "#fbfcfe"
        out.append(f'<rect x="0" y="{y:.0f}" width="{width}" height="{ROW_H - 2}" fill="{band}"/>'
                   f'<text x="{LEFT}" y="{y + 18:.0f}" font-size="10.5" fill="#8a94a6" font-weight="600">'
                   f'{esc(text)}</text>')
    for e in edges:
        dash = ' stroke-dasharray="4 3"' if e.dashed else ""
        out.append(f'<path d="{_edge_path(nodes, e)}" fill="none" stroke="#7d8799" stroke-width="1.3" '
                   f'stroke-linejoin="round"{dash} marker-end="url(#arrow)"/>')
    for n in nodes.values():
        x, y, w, h = _box(n)
        if n.kind == "stage":
            fill, stroke = _stage_fill(n.stride), "#3d5f94"
            ink = "#10243f" if float(n.stride) < 8 else "#ffffff"
        else:
            (fill, stroke), ink = _KIND_STYLE[n.kind], "#1d2533"
        out.append(f'<g class="node {n.kind}"><title>{esc(", ".join(n.layers) or n.key)}</title>'
                   f'<rect x="{x}" y="{y}" width="{w}" height="{h:.0f}" rx="6" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{1.8 if n.kind == "output" else 1.1}"/>')
        for i, line in enumerate(n.lines):
            bold = ' font-weight="600"' if i == 0 else ""
            size, fit = (10.5, 18) if i == 0 else (9.5, 23)
            out.append(f'<text x="{x + w / 2}" y="{y + 15 + 12.5 * i}" text-anchor="middle" font-size="{size}" '
                       f'fill="{ink}"{bold}>{esc(_fit(line, fit))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _fit(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- crop derivations ----------------------------------------------------------------------------------


@dataclass
class Step:
    layer: str
    geometry: str
    scale: Fraction
    shift: Fraction
    arithmetic: str = ""


@dataclass
class CropDerivation:
    crop: str
    bottom: str
    reference: str
    bottom_steps: list[Step]
    reference_steps: list[Step]
    offset: int
    table_offset: int | None


def _chain(spec, blob: str, maps) -> list[Step]:
    """The layers that set ``blob``'s coordinate map, from an input forward (in-place layers change nothing;
    a crop takes its reference's map, a sum its first bottom's)."""
    origin = {}
    for layer in spec.layers:
        for t in layer.top:
            if t not in layer.bottom:
                origin[t] = layer
    steps: list[Step] = []
    while blob in origin:
        layer = origin[blob]
        m = maps[layer.top[0]]
        if layer.type in ("Convolution", "Pooling", "Deconvolution"):
            before = maps[layer.bottom[0]]
            k, st, p = layer.kernel_size, layer.stride, layer.pad
            if m != before:  # a 3x3 pad-1 stride-1 layer leaves the map as it is: not worth a row
                half = Fraction(k - 1, 2)
                if layer.type == "Deconvolution":
                    how = f"{frac(before.shift)} + {frac(before.scale)}·({p} − {frac(half)}) / {st}"
                else:
                    how = f"{frac(before.shift)} + {frac(before.scale)}·({frac(half)} − {p})"
                steps.append(Step(layer.name, f"{layer.type} k{k} s{st} p{p}", m.scale, m.shift, how))
        elif layer.type == "Crop":
            steps.append(Step(layer.name, f"Crop: the map of {layer.bottom[1]}", m.scale, m.shift))
            blob = layer.bottom[1]
            continue
        elif layer.type == "Eltwise":
            steps.append(Step(layer.name, f"Eltwise: the map of {layer.bottom[0]}", m.scale, m.shift))
        blob = layer.bottom[0]
    steps.append(Step(blob, "input", Fraction(1), Fraction(0)))
    return list(reversed(steps))


def _unsuffixed(name: str) -> str:
    """SIFT Flow's head names without their _sem / _geo suffix (how the reference's crop table names them)."""
    return name.replace("_sem", "").replace("_geo", "")


def crop_derivations(spec) -> list[CropDerivation]:
    from nets import geometry

    maps = geometry.coord_maps(spec)
    derived = geometry.derive_crop_offsets(spec)
    out = []
    for layer in spec.layers:
        if layer.type != "Crop":
            continue
        out.append(CropDerivation(layer.name, layer.bottom[0], layer.bottom[1], _chain(spec, layer.bottom[0], maps),
                                  _chain(spec, layer.bottom[1], maps), derived[layer.name],
                                  spec.reference_offsets.get(layer.name)))
    return out


def _map_text(s: Step) -> str:
    a = "" if s.scale == 1 else f"{frac(s.scale)}·"
    b = "" if s.shift == 0 else f" {signed(s.shift)}"
    return f"x = {a}x′{b}"


def derivation_html(d: CropDerivation, open_: bool = False) -> str:
    def rows(steps: list[Step]) -> str:
        return "".join(f"<tr><td><code>{esc(s.layer)}</code></td><td>{esc(s.geometry)}</td>"
                       f"<td class='num'>{esc(frac(s.scale))}</td><td class='how'>{esc(s.arithmetic)}</td>"
                       f"<td class='num'><b>{esc(frac(s.shift))}</b></td></tr>" for s in steps)
    head = ("<tr><th>layer</th><th>geometry</th><th class='num'>scale</th><th>shift′ + scale′ · …</th>"
            "<th class='num'>shift</th></tr>")
    b, r = d.bottom_steps[-1], d.reference_steps[-1]
    ok = d.table_offset is None or d.table_offset == d.offset
    badge = (f"<span class='badge ok'>= reference {d.table_offset}</span>" if ok and d.table_offset is not None
             else "<span class='badge info'>no reference table</span>" if d.table_offset is None
             else f"<span class='badge bad'>reference says {d.table_offset}</span>")
    formula = (f"o = (shift<sub>{esc(d.reference)}</sub> − shift<sub>{esc(d.bottom)}</sub>) / scale = "
               f"({esc(frac(r.shift))} − ({esc(frac(b.shift))})) / {esc(frac(b.scale))} = <b>{d.offset}</b>")
    return (f"<div class='crop'><h4><code>{esc(d.crop)}</code> = crop(<code>{esc(d.bottom)}</code>, "
            f"<code>{esc(d.reference)}</code>): offset <b>{d.offset}</b> {badge}</h4>"
            f"<p class='formula'>{formula}</p>"
            f"<details{' open' if open_ else ''}><summary>the two coordinate maps, layer by layer</summary>"
            "<div class='chains'>"
            f"<table class='chain'><caption>map of <code>{esc(d.bottom)}</code>: x<sub>input</sub> = scale · x + "
            f"shift</caption>{head}{rows(d.bottom_steps)}</table>"
            + (f"<p class='meta'><code>{esc(d.reference)}</code> is an input: scale 1, shift 0.</p>"
               if len(d.reference_steps) == 1 else
               f"<table class='chain'><caption>map of <code>{esc(d.reference)}</code></caption>{head}"
               f"{rows(d.reference_steps)}</table>") +
            "</div></details></div>")


# ---- table records -------------------------------------------------------------------------------------


def load_records(results: Path) -> list[tuple[Path, dict]]:
    """Every table record under ``results``: tableN.json (real runs), then smoke/tableN.json."""
    found = []
    for folder in (results, results / "smoke"):
        for n in range(1, 7):
            path = folder / f"table{n}.json"
            if path.is_file():
                try:
                    found.append((path, json.loads(path.read_text())))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} is not a table record (JSON error: {e}); rerun the table or "
                                     "remove the file") from e
    return found


def per_class_of(row: Mapping, record: Mapping, results: Path) -> dict[str, dict[str, float | None]]:
    """A row's per-class IU (percent): from the record, or from the cached evaluation under results/."""
    if row.get("per_class_iu"):
        return row["per_class_iu"]
    net = row.get("net")
    prov = (record.get("provenance") or {}).get(net or "")
    if not net or not prov:
        return {}
    cache = results / ("smoke" if record.get("smoke") else "") / "evaluations" / \
        f"{net}_{prov['dataset']}_{prov['split']}.json"
    if not cache.is_file():
        return {}
    import numpy as np

    import nets
    from data import CLASSES

    from ..metrics import scores

    saved = json.loads(cache.read_text())
    labels = {score: label for _, score, label in nets.spec(net).losses}
    out = {}
    for blob, hist in saved["hists"].items():
        s = scores(np.array(hist, dtype=np.int64), present_only=saved.get("present_only", {}).get(blob, False))
        names = CLASSES.get((prov["dataset"], labels.get(blob, "")), ())
        out[blob] = {(names[c] if c < len(names) else str(c)): None if math.isnan(v) else 100 * v
                     for c, v in enumerate(s["per_class_iu"])}
    return out


def bars_svg(groups: Sequence[tuple[str, float | None, float | None]], title: str) -> str:
    """Grouped vertical bars: per column, the paper's value (grey) and the kit's (blue), labelled."""
    n = len(groups)
    w, h, pad_l, pad_b, top = max(270, 90 * n + 60), 196, 34, 34, 22
    plot_h = h - pad_b - top
    out = [f'<svg class="bars" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">']
    for v in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - v / 100)
        out.append(f'<line x1="{pad_l}" x2="{w - 8}" y1="{y}" y2="{y}" stroke="#e3e7ee"/>'
                   f'<text x="{pad_l - 6}" y="{y + 3}" text-anchor="end" font-size="9" fill="#7a8494">{v}</text>')
    for i, (label, paper, ours) in enumerate(groups):
        x0 = pad_l + 14 + i * 90
        for j, (value, colour, who) in enumerate(((paper, "#b7bfcc", "paper"), (ours, "#2f6fb5", "kit"))):
            x = x0 + j * 30
            if value is None:
                out.append(f'<text x="{x + 13}" y="{top + plot_h - 4}" text-anchor="middle" font-size="9" '
                           f'fill="#9aa3b2">–</text>')
                continue
            bh = plot_h * max(0.0, min(value, 100.0)) / 100
            out.append(f'<rect x="{x}" y="{top + plot_h - bh:.1f}" width="26" height="{bh:.1f}" rx="2" '
                       f'fill="{colour}"><title>{esc(who)} {esc(label)}: {value:.2f}</title></rect>'
                       f'<text x="{x + 13}" y="{top + plot_h - bh - 3:.1f}" text-anchor="middle" font-size="9" '
                       f'fill="#3a4353">{value:.1f}</text>')
        out.append(f'<text x="{x0 + 28}" y="{h - pad_b + 14}" text-anchor="middle" font-size="10" '
                   f'fill="#3a4353">{esc(label)}</text>')
    for j, (colour, who) in enumerate((("#b7bfcc", "paper"), ("#2f6fb5", "kit"))):
        x = w - 110 + j * 52
        out.append(f'<rect x="{x}" y="2" width="10" height="10" rx="2" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="11" font-size="10" fill="#3a4353">{who}</text>')
    out.append("</svg>")
    return "\n".join(out)


def class_bars_svg(values: Mapping[str, float | None], ours_mean: float | None, paper_mean: float | None,
                   title: str) -> str:
    """Horizontal bars, one per class (IU %), with the kit's and the paper's mean IU as vertical lines."""
    names = list(values)
    row_h, label_w, plot_w, top = 15, 118, 330, 26
    h = top + row_h * len(names) + 26
    w = label_w + plot_w + 60

    def xv(v: float) -> float:
        return label_w + plot_w * max(0.0, min(v, 100.0)) / 100

    out = [f'<svg class="classes" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
           f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">']
    for v in (0, 25, 50, 75, 100):
        out.append(f'<line x1="{xv(v)}" x2="{xv(v)}" y1="{top - 4}" y2="{h - 22}" stroke="#eceff4"/>'
                   f'<text x="{xv(v)}" y="{h - 10}" text-anchor="middle" font-size="9" fill="#7a8494">{v}</text>')
    for i, name in enumerate(names):
        y = top + i * row_h
        v = values[name]
        out.append(f'<text x="{label_w - 6}" y="{y + 10}" text-anchor="end" font-size="10" fill="#3a4353">'
                   f'{esc(_fit(name, 20))}</text>')
        if v is None:
            out.append(f'<text x="{label_w + 4}" y="{y + 10}" font-size="9" fill="#9aa3b2">not scored</text>')
            continue
        out.append(f'<rect x="{label_w}" y="{y + 2}" width="{xv(v) - label_w:.1f}" height="{row_h - 5}" rx="2" '
                   f'fill="#2f6fb5"><title>{esc(name)}: {v:.2f}</title></rect>'
                   f'<text x="{xv(v) + 4:.1f}" y="{y + 10}" font-size="9" fill="#3a4353">{v:.1f}</text>')
    for value, colour, label, dy in ((ours_mean, "#2f6fb5", "kit mean", 0), (paper_mean, "#8a94a6", "paper mean",
                                                                             11)):
        if value is None:
            continue
        out.append(f'<line x1="{xv(value):.1f}" x2="{xv(value):.1f}" y1="{top - 6}" y2="{h - 22}" '
                   f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>'
                   f'<text x="{xv(value) + 3:.1f}" y="{top - 14 + dy}" font-size="9" fill="{colour}">'
                   f'{label} {value:.1f}</text>')
    out.append("</svg>")
    return "\n".join(out)


# ---- the ledger ----------------------------------------------------------------------------------------


def ledger_rows(claims: Iterable[Mapping] | None) -> list[dict]:
    """The claims as rows (id, source, claim, status, code, tests); a claim lacking a field is an error."""
    rows = []
    for i, c in enumerate(claims or []):
        missing = [k for k in LEDGER_FIELDS if k not in c]
        if missing:
            raise ValueError(f"claim {i} ({c.get('id', '?')}) lacks {missing}; every claim needs "
                             f"{', '.join(LEDGER_FIELDS)}")
        rows.append({**{k: c[k] for k in LEDGER_FIELDS}, "note": c.get("note", "")})
    return rows


def _cell(v: object) -> str:
    if isinstance(v, list | tuple):
        return "<br>".join(f"<code>{esc(x)}</code>" for x in v)
    return esc(v)


def _status_class(status: str) -> str:
    s = str(status).lower()
    if s in ("pass", "passed", "verified", "ok", "holds", "checked", "caffe"):
        return "ok"
    if s in ("fail", "failed", "differs", "broken"):
        return "bad"
    return "info"


def ledger_html(claims: Sequence[Mapping] | None) -> str:
    """Counts by status, the claims a reader must know about (deviations, not checkable here) in full, and the
    whole ledger folded in a <details> element (static HTML: it opens without a script)."""
    rows = ledger_rows(claims)
    if not rows:
        return "<p class='empty'>The ledger given holds no claims.</p>"
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    summary = " ".join(f"<span class='badge {_status_class(k)}'>{esc(k)}: {v}</span>" for k, v in counts.items())

    def table(chosen: list[dict]) -> str:
        body = "".join(f"<tr><td><code>{esc(r['id'])}</code></td><td>{_cell(r['source'])}</td>"
                       f"<td>{_cell(r['claim'])}{_note(r)}</td><td><span class='badge {_status_class(r['status'])}'>"
                       f"{esc(r['status'])}</span></td><td>{_cell(r['code'])}</td><td>{_cell(r['tests'])}</td></tr>"
                       for r in chosen)
        return (f"<table class='ledger'><tr><th>id</th><th>source</th><th>claim</th><th>status</th><th>code</th>"
                f"<th>tests</th></tr>{body}</table>")

    deviations = [r for r in rows if r["status"] == "deviation"]
    return (f"<p>{len(rows)} claims. {summary}</p>"
            f"<h3>Deviations: the kit's choice, and why ({len(deviations)})</h3>{table(deviations)}"
            f"<details><summary>All {len(rows)} claims, with the code and the tests that check each"
            f"</summary>{table(rows)}</details>")


def _note(row: Mapping) -> str:
    return f"<br><small>{esc(row['note'])}</small>" if row.get("note") else ""


def ledger_markdown(claims: Sequence[Mapping] | None) -> list[str]:
    rows = ledger_rows(claims)
    if not rows:
        return ["The ledger given holds no claims."]

    def md(v: object) -> str:
        return ", ".join(f"`{x}`" for x in v) if isinstance(v, list | tuple) else str(v).replace("|", "\\|")

    out = ["| id | source | claim | status | code | tests |", "|---|---|---|---|---|---|"]
    out += [f"| {md(r['id'])} | {md(r['source'])} | {md(r['claim'])} | {md(r['status'])} | {md(r['code'])} | "
            f"{md(r['tests'])} |" for r in rows]
    return out


# ---- the page -------------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1d2533; --muted: #5d6778; --line: #e3e7ee; --bg: #f6f8fb; --card: #ffffff; --blue: #2f6fb5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #18324f; color: #fff; padding: 26px 36px 20px; }
header h1 { margin: 0 0 6px; font-size: 24px; font-weight: 650; }
header p { margin: 0; color: #c9d6e6; max-width: 980px; }
main { padding: 22px 36px 60px; max-width: 1500px; }
nav { display: flex; flex-wrap: wrap; gap: 6px; margin: 14px 0 4px; }
nav a { color: #fff; background: rgba(255,255,255,.12); padding: 3px 9px; border-radius: 12px;
        text-decoration: none; font-size: 12px; }
nav a:hover { background: rgba(255,255,255,.25); }
h2 { font-size: 19px; margin: 34px 0 10px; }
h3 { font-size: 17px; margin: 0 0 4px; }
h4 { font-size: 13.5px; margin: 10px 0 4px; font-weight: 600; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px;
        margin: 14px 0; box-shadow: 0 1px 2px rgba(20, 40, 70, .04); }
.meta { color: var(--muted); font-size: 12.5px; margin: 0 0 10px; }
.scroll { overflow-x: auto; padding-bottom: 4px; }
svg text { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
table { border-collapse: collapse; font-size: 12.5px; }
table.ledger { width: 100%; table-layout: fixed; }
table.ledger th:nth-child(1) { width: 13%; } table.ledger th:nth-child(2) { width: 14%; }
table.ledger th:nth-child(3) { width: 37%; } table.ledger th:nth-child(4) { width: 8%; }
table.ledger td { vertical-align: top; overflow-wrap: anywhere; }
table.ledger td:nth-child(5) code, table.ledger td:nth-child(6) code { font-size: 10.5px; }
details > summary { cursor: pointer; color: var(--blue); margin: 10px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 9px; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; background: #fafbfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11.5px; font-weight: 600;
         vertical-align: 1px; }
.badge.ok { background: #e3f4e8; color: #1f7a3f; } .badge.bad { background: #fbe5e3; color: #b3261e; }
.badge.info { background: #eef1f6; color: #4a5568; } .badge.warn { background: #fff4d6; color: #8a5a00; }
.summary td, .summary th { padding: 4px 10px; }
.crop { border-top: 1px dashed var(--line); padding-top: 6px; margin-top: 8px; }
.formula { margin: 2px 0 6px; font-size: 13px; }
.chains { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
td.how { color: var(--muted); font-variant-numeric: tabular-nums; }
table.chain caption { text-align: left; color: var(--muted); font-size: 12px; padding: 2px 0; }
details { margin-top: 10px; } summary { cursor: pointer; color: var(--blue); font-weight: 600; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin: 2px 0 8px; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px; border-radius: 3px;
                       margin-right: 5px; vertical-align: -1px; background: var(--c); border: 1px solid var(--s); }
.banner { background: #fff4d6; border: 1px solid #f0d58c; color: #6b4a00; border-radius: 8px; padding: 6px 12px;
          font-weight: 600; margin: 6px 0 10px; }
.charts { display: flex; gap: 26px; flex-wrap: wrap; align-items: flex-start; }
.empty { color: var(--muted); font-style: italic; }
"""

LEGEND = ("<div class='legend'>"
          "<span style='--c:#c6d8ef;--s:#3d5f94'>trunk stage (darker: coarser stride)</span>"
          "<span style='--c:#fff1e0;--s:#d9822b'>score (1×1 conv)</span>"
          "<span style='--c:#e6f6ec;--s:#2e9d5b'>upsample (deconvolution)</span>"
          "<span style='--c:#f1ebfb;--s:#7b55c7'>crop</span>"
          "<span style='--c:#e9eef7;--s:#3b5b9a'>fuse (Eltwise sum)</span>"
          "<span style='--c:#fdf3f3;--s:#c0504d'>fixed Scale</span>"
          "<span style='--c:#e7f3fb;--s:#1f77b4'>output</span>"
          "<span style='--c:#fff;--s:#8a94a6'>dashed arrow: a crop's size reference</span></div>")


RULE = ("Every blob maps to input coordinates as x<sub>input</sub> = scale · x + shift (data: 1, 0). A "
        "convolution or pooling of kernel k, stride s, pad p gives its top scale′ · s and shift′ + scale′ · ((k − 1)/2 "
        "− p); a deconvolution scale′ / s and shift′ + scale′ · (p − (k − 1)/2) / s. A crop keeps bottom[o : o + "
        "size(reference)] with o = (shift<sub>reference</sub> − shift<sub>bottom</sub>) / scale, the offset that "
        "lines the two blobs up. Rows list the layers that change the map (3×3 pad-1 convolutions do not).")


@dataclass
class NetSummary:
    name: str
    inputs: dict
    outputs: tuple
    crops: list[CropDerivation]
    layers: int

    @property
    def crops_ok(self) -> bool:
        return all(d.table_offset is None or d.table_offset == d.offset for d in self.crops)


# Nets whose crop arithmetic is shown open: between them, every offset of the reference's table (19, 5, 27, 9,
# 31, 18); the others' is one click away.
SHOWN_OPEN = ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn-alexnet")


def offsets_overview(summaries: Sequence[NetSummary]) -> str:
    """One row per distinct crop of the seventeen kit nets: the two maps and the offset they give."""
    groups: dict[tuple, list[str]] = {}
    for s in summaries:
        for d in s.crops:
            b, r = d.bottom_steps[-1], d.reference_steps[-1]
            key = (_unsuffixed(d.crop), d.offset, b.scale, b.shift, r.shift, _unsuffixed(d.bottom),
                   _unsuffixed(d.reference))
            groups.setdefault(key, [])
            if s.name not in groups[key]:
                groups[key].append(s.name)
    rows = []
    order = (19, 5, 27, 9, 31, 18)  # the reference's table, in the order users ask about it
    for (crop, offset, scale, b_shift, r_shift, bottom, ref), names in sorted(
            groups.items(), key=lambda kv: order.index(kv[0][1]) if kv[0][1] in order else len(order)):
        rows.append(f"<tr><td class='num'><b>{offset}</b></td><td><code>{esc(crop)}</code> = crop(<code>"
                    f"{esc(bottom)}</code>, <code>{esc(ref)}</code>)</td><td class='num'>{esc(frac(scale))}</td>"
                    f"<td class='num'>{esc(frac(b_shift))}</td><td class='num'>{esc(frac(r_shift))}</td>"
                    f"<td>({esc(frac(r_shift))} − ({esc(frac(b_shift))})) / {esc(frac(scale))} = {offset}</td>"
                    f"<td>{esc(', '.join(names))}</td></tr>")
    return ("<table class='card overview'><tr><th class='num'>offset</th><th>crop</th><th class='num'>scale</th>"
            "<th class='num'>shift of the cropped blob</th><th class='num'>shift of the reference</th>"
            "<th>(shift<sub>ref</sub> − shift<sub>bottom</sub>) / scale</th><th>nets</th></tr>"
            + "".join(rows) + "</table>")


def net_section(name: str) -> tuple[str, NetSummary]:
    import nets

    from . import geometry as audit

    spec = nets.spec(name)
    derivations = crop_derivations(spec)
    summary = NetSummary(name, dict(spec.inputs), spec.outputs, derivations, len(spec.layers))
    rows = audit.layer_rows(spec, 500)
    table = "".join("<tr>" + "".join(f"<td{' class=num' if i >= 3 else ''}>{esc(c)}</td>" for i, c in enumerate(r))
                    + "</tr>" for r in rows)
    offsets = ", ".join(f"{d.crop} {d.offset}" for d in derivations)
    status = "<span class='badge ok'>crops = reference</span>" if summary.crops_ok else \
        "<span class='badge bad'>crop differs</span>"
    section = (f"<section class='card' id='{esc(name)}'><h3>{esc(name)} {status}</h3>"
               f"<p class='meta'>inputs {esc(', '.join(f'{k} ({v} ch)' for k, v in spec.inputs.items()))} · outputs "
               f"{esc(', '.join(spec.outputs))} · {len(spec.layers)} layers · crop offsets {esc(offsets)}</p>"
               f"<div class='scroll'>{diagram_svg(spec)}</div>"
               "<h4>Crop offsets, derived from the coordinate maps</h4><p class='meta'>The rule is stated above "
               "the drawings; the tables list the layers that move a map.</p>"
               + "".join(derivation_html(d, open_=name in SHOWN_OPEN) for d in derivations)
               + f"<details><summary>Layer table ({len(rows)} layers; sizes for a 500×500 input)</summary>"
               "<table><tr><th>layer</th><th>type</th><th>kernel / stride / pad</th><th class=num>out @500</th>"
               f"<th class=num>stride</th><th class=num>rf</th></tr>{table}</table></details></section>")
    return section, summary


def tables_section(records: Sequence[tuple[Path, dict]], results: Path) -> tuple[str, list[str]]:
    """HTML and Markdown lines for every table record."""
    from ..tables import COLUMNS

    if not records:
        text = ("No table records yet. <code>make reproduce-tableN</code> writes <code>results/tableN.json</code>; "
                "<code>make reproduce-tableN SMOKE=1</code> writes <code>results/smoke/tableN.json</code> in under a "
                "minute (numbers meaningless).")
        return f"<p class='empty'>{text}</p>", ["No table records yet (`make reproduce-tableN`, or `SMOKE=1`)."]
    parts, md = [], []
    for path, rec in records:
        rel = path.relative_to(results.parent) if results.parent in path.parents else path
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(rec.get("finished", 0)))
        head = (f"<section class='card' id='table{rec.get('table')}{'-smoke' if rec.get('smoke') else ''}'>"
                f"<h3>Table {esc(rec.get('table'))}: {esc(rec.get('title', ''))}</h3>"
                f"<p class='meta'>{esc(rel)} · revision {esc(str(rec.get('git_revision', '?'))[:12])} · "
                f"{esc(rec.get('device', '?'))} · precision {esc(rec.get('precision', 'not recorded'))} · "
                f"{esc(when)}</p>")
        if rec.get("precision", "exact") != "exact":  # a fast mode: never shown as a reproduction at exact
            head += (f"<div class='banner'>MEASURED IN {esc(str(rec['precision']).upper())}, not exact precision: "
                     "each verdict below carries its measured agreement with exact.</div>")
        if rec.get("smoke"):
            head += ("<div class='banner'>SMOKE RUN: miniature generated data, random weights. Every number below "
                     "is MEANINGLESS; it shows that the pipeline runs end to end.</div>")
        md.append(f"### Table {rec.get('table')}: {rec.get('title', '')}" + (" (SMOKE RUN: MEANINGLESS)"
                                                                               if rec.get("smoke") else "")
                  + ("" if rec.get("precision", "exact") == "exact" else f" (measured in {rec['precision']})"))
        md.append("")
        md.append("| method | net | paper mean IU | kit mean IU | delta | verdict |")
        md.append("|---|---|---|---|---|---|")
        body = []
        for row in rec.get("rows", []):
            paper, ours = row.get("paper", {}), row.get("ours", {})
            iu_p, iu_o = paper.get("mean_iu"), ours.get("mean_iu")
            delta = f"{iu_o - iu_p:+.2f}" if iu_p is not None and iu_o is not None else "-"
            md.append(f"| {row.get('method')} | {row.get('net') or '-'} | {iu_p if iu_p is not None else '-'} | "
                      f"{f'{iu_o:.2f}' if iu_o is not None else '-'} | {delta} | {row.get('verdict', '')} |")
            cols = [c for c in PERCENT_COLUMNS if paper.get(c) is not None or ours.get(c) is not None]
            if not ours:
                continue
            verdict = str(row.get("verdict", ""))
            cls = "ok" if verdict == "PASS" else "bad" if verdict == "FAIL" else "info"
            charts = [bars_svg([(COLUMNS.get(c, c), paper.get(c), ours.get(c)) for c in cols],
                               f"{row.get('method')}: paper and kit scores")] if cols else []
            for blob, values in per_class_of(row, rec, results).items():
                mean = ours.get("mean_iu") if blob in ("score", "score_sem") else None
                charts.append(f"<div><h4>per-class IU, <code>{esc(blob)}</code></h4>"
                              + class_bars_svg(values, mean, paper.get("mean_iu") if mean is not None else None,
                                               f"{row.get('method')} per-class IU") + "</div>")
            note = ("<p class='meta'>The paper gives no per-class IU for this table; the dashed grey line marks its "
                    "mean IU.</p>" if any("per-class" in c for c in charts) and paper.get("mean_iu") is not None
                    else "")
            body.append(f"<h4>{esc(row.get('method'))} <span class='meta'>[{esc(row.get('net') or '-')}]</span> "
                        f"<span class='badge {cls}'>{esc(verdict)}</span></h4>"
                        f"<div class='charts'>{''.join(charts)}</div>{note}")
        if not body:
            body.append("<p class='empty'>No row of this record was evaluated.</p>")
        parts.append(head + "".join(body) + "</section>")
        md.append("")
    return "".join(parts), md


def build_report(results: Path = RESULTS, claims: Sequence[Mapping] | None = None,
                 names: Sequence[str] | None = None) -> tuple[str, str]:
    """The page and the Markdown summary as text; ``claims`` default to the kit's ledger (reproduce/audit/claims.py)."""
    import nets

    from .ledger import as_rows

    claims = as_rows() if claims is None else claims
    names = list(names or nets.NAMES)
    sections, summaries = [], []
    for name in names:
        section, summary = net_section(name)
        sections.append(section)
        summaries.append(summary)
    records = load_records(results)
    tables_html, tables_md = tables_section(records, results)
    nav = "".join(f"<a href='#{esc(n)}'>{esc(n)}</a>" for n in names)
    verdicts = {True: "<span class='badge ok'>ok</span>", False: "<span class='badge bad'>differs</span>"}
    rows = "".join(f"<tr><td><a href='#{esc(s.name)}'>{esc(s.name)}</a></td>"
                   f"<td>{esc(', '.join(s.inputs))}</td><td>{esc(', '.join(s.outputs))}</td>"
                   f"<td>{esc(', '.join(f'{d.crop} {d.offset}' for d in s.crops))}</td>"
                   f"<td>{verdicts[s.crops_ok]}</td></tr>" for s in summaries)
    ok = all(s.crops_ok for s in summaries)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>FCN kit audit</title><style>{CSS}</style></head>
<body><header><h1>FCN reproduction kit: audit</h1>
<p>The kit's nets as it builds them, drawn from their specs; every crop offset derived from the layers'
coordinate maps and compared with the reference's table; the paper's tables beside the kit's measurements; the
claims ledger. Written {esc(stamp)} by <code>make audit</code>.</p>
<nav>{nav}<a href='#tables'>tables</a> <a href='#ledger'>ledger</a></nav></header>
<main>
<h2>Nets <span class='badge {"ok" if ok else "bad"}'>{"every crop offset equals the reference's" if ok
                                                      else "a crop offset differs"}</span></h2>
<table class="summary card"><tr><th>net</th><th>inputs</th><th>outputs</th><th>crop offsets (derived)</th>
<th>vs reference</th></tr>{rows}</table>
<h2>Why the crop offsets are 19, 5, 27, 9, 31 and 18</h2>
<p class="meta">{RULE} Each net's section below shows both maps layer by layer.</p>
{offsets_overview(summaries)}
<h2>The nets, drawn from their specs</h2>
{LEGEND}
{''.join(sections)}
<h2 id="tables">Paper tables</h2>{tables_html}
<h2 id="ledger">Claims ledger</h2><div class="card">{ledger_html(claims)}</div>
</main></body></html>
"""
    md = ["# FCN kit audit", "", f"Written {stamp} by `make audit` (the page: `results/audit/index.html`).", "",
          "## Nets", "", "| net | inputs | outputs | crop offsets (derived) | vs reference |", "|---|---|---|---|---|"]
    md += [f"| {s.name} | {', '.join(s.inputs)} | {', '.join(s.outputs)} | "
           f"{', '.join(f'{d.crop} {d.offset}' for d in s.crops)} | {'ok' if s.crops_ok else 'DIFFERS'} |"
           for s in summaries]
    md += ["", "## Paper tables", "", *tables_md, "", "## Claims ledger", "", *ledger_markdown(claims)]
    return page, "\n".join(md).rstrip() + "\n"


def write_report(out: Path = RESULTS / "audit", results: Path = RESULTS, claims: Sequence[Mapping] | None = None,
                 names: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Write index.html and summary.md into ``out`` (each atomically); returns their paths."""
    page, md = build_report(results, claims, names)
    return write_text(out / "index.html", page), write_text(out / "summary.md", md)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=".venv/bin/python -m reproduce.audit.report", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=RESULTS / "audit", help="folder for index.html and summary.md")
    p.add_argument("--results", type=Path, default=RESULTS, help="where the table records are (default results/)")
    p.add_argument("--ledger", type=Path, help="a JSON list of claims (id, source, claim, status, code, tests); "
                   "default: the kit's own ledger, reproduce/audit/claims.py")
    args = p.parse_args(argv)
    claims = None
    if args.ledger is not None:
        try:
            claims = json.loads(args.ledger.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"error: cannot read the ledger {args.ledger}: {e}", file=sys.stderr)
            return 2
    page, md = write_report(args.out, args.results, claims)
    print(f"audit report: {_shown(page)} and {_shown(md)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
