"""The audit report: ``.venv/bin/python -m reproduce.audit.report`` (run by ``make audit`` after the geometry audit).

Writes ``results/audit/index.html`` (one static page: inline CSS and SVG, no script, nothing fetched) and
``results/audit/summary.md``. Per net: a drawing of the net made from its spec (the trunk as a strip of blocks
with their strides, the score / upsample / crop / fuse path of every skip, each layer with its geometry), the
coordinate-map arithmetic behind each crop offset (19, 5, 27, 9, 31, 18), and the layer table. Then the
claims ledger (reproduce/audit/claims.py, or the one given), and, for every table record that exists
(results/tableN.json from ``make reproduce-tableN``, results/smoke/tableN.json from a SMOKE run), the
paper's scores beside the kit's and the per-class IU as bar charts.

The page is a template plus data: ``report_data`` builds what the page shows (plain dataclasses and dicts, the
drawings' layout from drawing.py, every coordinate map from nets.geometry) and ``render`` fills the templates in
templates/ (jinja2, autoescaped HTML; the CSS in templates/report.css).

It reads only: the nets' specs, results/ and an optional ledger (``--ledger FILE.json``, a list of claims
with id, source, claim, status, code, tests). It takes a few seconds and no net is built.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import jinja2

from ..records import REPO, write_text
from .drawing import bar_chart, class_chart, frac, net_drawing

RESULTS = REPO / "results"
TEMPLATES = Path(__file__).resolve().parent / "templates"
LEDGER_FIELDS = ("id", "source", "claim", "status", "code", "tests")
PERCENT_COLUMNS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu", "geo_pixel_accuracy")
# Nets whose crop arithmetic is shown open: between them, every offset of the reference's table (19, 5, 27, 9,
# 31, 18); the others' is one click away.
SHOWN_OPEN = ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn-alexnet")
OFFSET_ORDER = (19, 5, 27, 9, 31, 18)  # the reference's table, in the order users ask about it


# ---- crop derivations ----------------------------------------------------------------------------------


@dataclass
class Step:
    """One layer that moves a blob's coordinate map: the map of its top (scale, shift) and, for a layer with a
    map of its own (nets.geometry.layer_map), how the shift follows from the bottom's."""

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

    @property
    def agrees(self) -> bool:
        return self.table_offset is None or self.table_offset == self.offset


def _chain(spec, blob: str, maps) -> list[Step]:
    """The layers that set ``blob``'s coordinate map, from an input forward (in-place layers change nothing;
    a crop takes its reference's map, a sum its first bottom's)."""
    from nets import geometry

    origin = {}
    for layer in spec.layers:
        for t in layer.top:
            if t not in layer.bottom:
                origin[t] = layer
    steps: list[Step] = []
    while blob in origin:
        layer = origin[blob]
        m = maps[layer.top[0]]
        own = geometry.layer_map(layer)
        if own is not None:
            before = maps[layer.bottom[0]]
            if m != before:  # a 3x3 pad-1 stride-1 layer leaves the map as it is: not worth a row
                how = f"{frac(before.shift)} + {frac(before.scale)}·({frac(own.shift)})"
                steps.append(Step(layer.name, f"{layer.type} k{layer.kernel_size} s{layer.stride} p{layer.pad}",
                                  m.scale, m.shift, how))
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
    """Every Crop of a net with both coordinate maps layer by layer and the offset nets.geometry derives."""
    from nets import geometry

    maps = geometry.coord_maps(spec)
    derived = geometry.derive_crop_offsets(spec)
    return [CropDerivation(layer.name, layer.bottom[0], layer.bottom[1], _chain(spec, layer.bottom[0], maps),
                           _chain(spec, layer.bottom[1], maps), derived[layer.name],
                           spec.reference_offsets.get(layer.name))
            for layer in spec.layers if layer.type == "Crop"]


# ---- the nets ------------------------------------------------------------------------------------------


@dataclass
class NetSummary:
    name: str
    inputs: dict
    outputs: tuple
    crops: list[CropDerivation]
    layers: int

    @property
    def crops_ok(self) -> bool:
        return all(d.agrees for d in self.crops)

    @property
    def offsets(self) -> str:
        return ", ".join(f"{d.crop} {d.offset}" for d in self.crops)


@dataclass
class NetView:
    """What a net's section shows: its summary, its drawing, its layer table (reproduce.audit.geometry's)."""

    summary: NetSummary
    drawing: dict
    layer_rows: list[tuple[str, ...]]
    open: bool


@dataclass
class OverviewRow:
    """One distinct crop of the kit's nets: the two shifts and the scale that give its offset."""

    offset: int
    crop: str
    bottom: str
    reference: str
    scale: Fraction
    bottom_shift: Fraction
    reference_shift: Fraction
    nets: list[str]


def net_view(name: str) -> NetView:
    import nets

    from .geometry import layer_rows

    spec = nets.spec(name)
    summary = NetSummary(name, dict(spec.inputs), spec.outputs, crop_derivations(spec), len(spec.layers))
    return NetView(summary, net_drawing(spec), layer_rows(spec, 500), name in SHOWN_OPEN)


def offsets_overview(summaries: Sequence[NetSummary]) -> list[OverviewRow]:
    """One row per distinct crop of the seventeen kit nets, in the reference table's order."""
    groups: dict[tuple, list[str]] = {}
    for s in summaries:
        for d in s.crops:
            b, r = d.bottom_steps[-1], d.reference_steps[-1]
            key = (d.offset, _unsuffixed(d.crop), _unsuffixed(d.bottom), _unsuffixed(d.reference), b.scale,
                   b.shift, r.shift)
            names = groups.setdefault(key, [])
            if s.name not in names:
                names.append(s.name)
    rows = [OverviewRow(*key, names) for key, names in groups.items()]
    return sorted(rows, key=lambda r: OFFSET_ORDER.index(r.offset) if r.offset in OFFSET_ORDER else len(OFFSET_ORDER))


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


@dataclass
class RowView:
    """A row of a table record: the paper's and the kit's mean IU, the verdict, and (for an evaluated row) the
    score bars and the per-class IU of each output blob."""

    method: str
    net: str | None
    verdict: str
    paper_mean_iu: float | None
    kit_mean_iu: float | None
    evaluated: bool
    scores: dict | None = None  # bar_chart data, or None without a percent column
    per_class: list[tuple[str, dict]] = field(default_factory=list)  # (blob, class_chart data)

    @property
    def delta(self) -> float | None:
        if self.paper_mean_iu is None or self.kit_mean_iu is None:
            return None
        return self.kit_mean_iu - self.paper_mean_iu


@dataclass
class TableView:
    table: object
    title: str
    path: str
    revision: str
    device: str
    precision: str
    finished: str
    smoke: bool
    rows: list[RowView]

    @property
    def fast_mode(self) -> bool:
        """Measured in a fast precision mode: never shown as a reproduction at exact."""
        return self.precision not in ("exact", "not recorded")


def table_views(records: Sequence[tuple[Path, dict]], results: Path) -> list[TableView]:
    from ..tables import COLUMNS

    views = []
    for path, rec in records:
        rel = path.relative_to(results.parent) if results.parent in path.parents else path
        rows = []
        for row in rec.get("rows", []):
            paper, ours = row.get("paper", {}), row.get("ours", {})
            view = RowView(str(row.get("method")), row.get("net"), str(row.get("verdict", "")),
                           paper.get("mean_iu"), ours.get("mean_iu"), bool(ours))
            if ours:
                cols = [c for c in PERCENT_COLUMNS if paper.get(c) is not None or ours.get(c) is not None]
                if cols:
                    view.scores = bar_chart([(COLUMNS.get(c, c), paper.get(c), ours.get(c)) for c in cols],
                                            f"{view.method}: paper and kit scores")
                for blob, values in per_class_of(row, rec, results).items():
                    mean = ours.get("mean_iu") if blob in ("score", "score_sem") else None
                    view.per_class.append((blob, class_chart(
                        values, mean, paper.get("mean_iu") if mean is not None else None,
                        f"{view.method} per-class IU")))
            rows.append(view)
        views.append(TableView(rec.get("table"), rec.get("title", ""), str(rel),
                               str(rec.get("git_revision", "?"))[:12], rec.get("device", "?"),
                               str(rec.get("precision", "not recorded")),
                               time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(rec.get("finished", 0))),
                               bool(rec.get("smoke")), rows))
    return views


# ---- the ledger ----------------------------------------------------------------------------------------


def ledger_rows(claims: Iterable[Mapping] | None) -> list[dict]:
    """The claims as rows (id, source, claim, status, code, tests, note); a claim lacking a field is an error."""
    rows = []
    for i, c in enumerate(claims or []):
        missing = [k for k in LEDGER_FIELDS if k not in c]
        if missing:
            raise ValueError(f"claim {i} ({c.get('id', '?')}) lacks {missing}; every claim needs "
                             f"{', '.join(LEDGER_FIELDS)}")
        rows.append({**{k: c[k] for k in LEDGER_FIELDS}, "note": c.get("note", "")})
    return rows


def status_class(status: str) -> str:
    """How a status is shown: ok (checked, passed), bad (failed, differs) or info (anything else)."""
    s = str(status).lower()
    if s in ("pass", "passed", "verified", "ok", "holds", "checked", "caffe"):
        return "ok"
    if s in ("fail", "failed", "differs", "broken"):
        return "bad"
    return "info"


@dataclass
class LedgerView:
    rows: list[dict]
    counts: dict[str, int]  # status -> claims, in the ledger's order of first appearance

    @property
    def deviations(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "deviation"]


def ledger_view(claims: Iterable[Mapping] | None) -> LedgerView:
    rows = ledger_rows(claims)
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    return LedgerView(rows, counts)


# ---- the page -------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything the page and the summary show."""

    written: str
    nets: list[NetView]
    overview: list[OverviewRow]
    tables: list[TableView]
    ledger: LedgerView

    @property
    def crops_ok(self) -> bool:
        return all(n.summary.crops_ok for n in self.nets)


def report_data(results: Path = RESULTS, claims: Sequence[Mapping] | None = None,
                names: Sequence[str] | None = None) -> Report:
    """The report's data; ``claims`` default to the kit's ledger (reproduce/audit/claims.py)."""
    import nets

    from .ledger import as_rows

    views = [net_view(name) for name in (names or nets.NAMES)]
    return Report(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), views,
                  offsets_overview([v.summary for v in views]), table_views(load_records(results), results),
                  ledger_view(as_rows() if claims is None else claims))


def _markdown_cell(v: object) -> str:
    return ", ".join(f"`{x}`" for x in v) if isinstance(v, list | tuple) else str(v).replace("|", "\\|")


def _environment() -> jinja2.Environment:
    """The templates' environment: HTML autoescaped, Markdown as it is; a missing value is an error."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(frac=frac, md=_markdown_cell, status_class=status_class)
    return env


def render(report: Report) -> tuple[str, str]:
    """The page and the Markdown summary of a report's data."""
    env = _environment()
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("index.html").render(r=report, css=css), env.get_template("summary.md").render(r=report)


def build_report(results: Path = RESULTS, claims: Sequence[Mapping] | None = None,
                 names: Sequence[str] | None = None) -> tuple[str, str]:
    """The page and the Markdown summary as text; ``claims`` default to the kit's ledger."""
    return render(report_data(results, claims, names))


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
    p = argparse.ArgumentParser(prog=".venv/bin/python -m reproduce.audit.report",
                                description=__doc__.splitlines()[0])
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
    from data.cli import run

    raise SystemExit(run(main))
