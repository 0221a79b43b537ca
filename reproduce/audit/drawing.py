"""The audit report's drawings as data: where every block, arrow and bar goes (reproduce.audit.report renders
them with the templates in templates/, which hold no arithmetic).

The drawing of a net is laid out from its spec as the paper's figure of the skip nets: the trunk as a strip of
stages with their strides, below it one row per stride of each head (score, upsample, crop, fuse), each block
listing its layers' geometry. The charts are the paper's and the kit's scores as grouped bars, and the per-class
IU as horizontal bars.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction


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


def _fit(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def net_drawing(spec) -> dict:
    """The drawing of a net (see diagram) as plain data for the template: the canvas, the head rows' bands, the
    arrows as SVG paths and the blocks with their text lines, colours and sizes."""
    nodes, edges, labels = diagram(spec)
    right = max(_box(n)[0] + _box(n)[2] for n in nodes.values())
    bottom = max(_box(n)[1] + _box(n)[3] for n in nodes.values())
    width, height = int(right + LEFT), int(bottom + 10)
    bands = [{"y": 8 + row * ROW_H - 12, "height": ROW_H - 2, "fill": "#f5f7fb" if i % 2 == 0 else "#fbfcfe",
              "text": text, "text_x": LEFT} for i, (row, text) in enumerate(labels)]
    blocks = []
    for n in nodes.values():
        x, y, w, h = _box(n)
        if n.kind == "stage":
            fill, stroke = _stage_fill(n.stride), "#3d5f94"
            ink = "#10243f" if float(n.stride) < 8 else "#ffffff"
        else:
            (fill, stroke), ink = _KIND_STYLE[n.kind], "#1d2533"
        lines = [{"x": x + w / 2, "y": y + 15 + 12.5 * i, "size": 10.5 if i == 0 else 9.5, "bold": i == 0,
                  "text": _fit(line, 18 if i == 0 else 23)} for i, line in enumerate(n.lines)]
        blocks.append({"kind": n.kind, "title": ", ".join(n.layers) or n.key, "x": x, "y": y, "w": w, "h": h,
                       "fill": fill, "stroke": stroke, "stroke_width": 1.8 if n.kind == "output" else 1.1,
                       "ink": ink, "lines": lines})
    return {"name": spec.name, "width": width, "height": height, "bands": bands,
            "edges": [{"d": _edge_path(nodes, e), "dashed": e.dashed} for e in edges], "blocks": blocks}


# ---- charts --------------------------------------------------------------------------------------------------

PAPER_GREY, KIT_BLUE = "#b7bfcc", "#2f6fb5"


def bar_chart(groups: Sequence[tuple[str, float | None, float | None]], title: str) -> dict:
    """Grouped vertical bars: per column, the paper's value (grey) and the kit's (blue), labelled."""
    n = len(groups)
    w, h, pad_l, pad_b, top = max(270, 90 * n + 60), 196, 34, 34, 22
    plot_h = h - pad_b - top
    grid = [{"y": top + plot_h * (1 - v / 100), "value": v} for v in (0, 25, 50, 75, 100)]
    out = []
    for i, (label, paper, ours) in enumerate(groups):
        x0 = pad_l + 14 + i * 90
        bars = []
        for j, (value, colour, who) in enumerate(((paper, PAPER_GREY, "paper"), (ours, KIT_BLUE, "kit"))):
            bh = None if value is None else plot_h * max(0.0, min(value, 100.0)) / 100
            bars.append({"x": x0 + j * 30, "value": value, "height": bh, "colour": colour, "who": who,
                         "y": None if bh is None else top + plot_h - bh})
        out.append({"label": label, "x": x0 + 28, "bars": bars})
    legend = [{"x": w - 110 + j * 52, "colour": c, "who": who}
              for j, (c, who) in enumerate(((PAPER_GREY, "paper"), (KIT_BLUE, "kit")))]
    return {"title": title, "width": w, "height": h, "left": pad_l, "top": top, "plot_height": plot_h,
            "label_y": h - pad_b + 14, "grid": grid, "groups": out, "legend": legend}


def class_chart(values: Mapping[str, float | None], ours_mean: float | None, paper_mean: float | None,
                title: str) -> dict:
    """Horizontal bars, one per class (IU %), with the kit's and the paper's mean IU as vertical lines."""
    names = list(values)
    row_h, label_w, plot_w, top = 15, 118, 330, 26
    h = top + row_h * len(names) + 26
    w = label_w + plot_w + 60

    def xv(v: float) -> float:
        return label_w + plot_w * max(0.0, min(v, 100.0)) / 100

    grid = [{"x": xv(v), "value": v} for v in (0, 25, 50, 75, 100)]
    rows = [{"name": name, "label": _fit(name, 20), "y": top + i * row_h, "value": values[name],
             "width": None if values[name] is None else xv(values[name]) - label_w,
             "end": None if values[name] is None else xv(values[name])} for i, name in enumerate(names)]
    means = [{"x": xv(value), "colour": colour, "label": label, "value": value, "y": top - 14 + dy}
             for value, colour, label, dy in ((ours_mean, KIT_BLUE, "kit mean", 0),
                                              (paper_mean, "#8a94a6", "paper mean", 11)) if value is not None]
    return {"title": title, "width": w, "height": h, "top": top, "label_width": label_w, "row_height": row_h,
            "grid": grid, "rows": rows, "means": means}
