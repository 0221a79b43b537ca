"""The paper's tables as data, with what the kit can check for each row.

The rows of the kit's nets (their printed numbers, the published scores of the releases) come from the net
records (nets.registry: ``PaperRow``, ``published``); the other methods' rows and each table's layout are here.
Numbers are percent (mean IU etc.) or the unit the column names (ms, millions), exactly as printed in the
CVPR 2015 paper (arXiv 1411.4038 v2 numbering, which the slides use; Table 6 is v2's appendix). ``None`` is a
cell the paper leaves empty.

Two kinds of target:
- The five VOC releases have published scores on seg11valid (the reference README): evaluating the released
  weights must land within ``RELEASE_TOLERANCE`` (0.1 mean IU) of them. This is the kit's pass/fail check.
- The paper's own rows came from a different recipe (CVPR: batch 20, momentum 0.9) or from the PASCAL test
  server, so released weights are only compared informationally. A re-training run with the kit is judged
  against its paper row at ``RETRAIN_TOLERANCE`` (1.0 mean IU).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from nets.registry import RECORDS, SCORES, four_scores, record

RELEASE_TOLERANCE = 0.1  # |ours - reference README| in mean IU points, released weights on seg11valid
RETRAIN_TOLERANCE = 1.0  # |ours - paper row| in mean IU points, a re-training run

# Column keys -> header text. Score keys match reproduce.metrics.scores (which returns fractions; x 100 here).
COLUMNS: dict[str, str] = {
    "pixel_accuracy": "pixel acc.",
    "mean_accuracy": "mean acc.",
    "mean_iu": "mean IU",
    "fw_iu": "f.w. IU",
    "geo_pixel_accuracy": "geom. acc.",
    "pixel_accuracy_33": "pixel acc. (33)",
    "mean_accuracy_33": "mean acc. (33)",
    "mean_iu_33": "mean IU (33)",
    "fw_iu_33": "f.w. IU (33)",
    "mean_iu_voc2011_test": "VOC2011 test mean IU",
    "mean_iu_voc2012_test": "VOC2012 test mean IU",
    "inference_ms": "inference time (ms)",
    "forward_ms": "forward time (ms)",
    "conv_layers": "conv. layers",
    "params_millions": "parameters (M)",
    "rf_size": "rf size",
    "max_stride": "max. stride",
}

Status = Literal["released", "not released", "baseline"]

# {NET} {NET SPLIT} {NET Tn} {NET:VARIANT Tn} {NET Tn COLUMN} {NET Tn scores}: see with_figures.
FIGURE = re.compile(r"\{([a-z0-9-]*fcn[a-z0-9-]*)(?::([a-z]+))?(?: T(\d))?(?: ([a-z0-9_-]+))?\}")


def _printed(value: float | None) -> str:
    """A number as the paper and the reference README print it: scores with one decimal, counts as integers."""
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else f"{value}"


def with_figures(text: str) -> str:
    """``text`` with every figure placeholder replaced by the number the net's record holds (nets.registry), so
    that a docstring, a table note or a ledger line shows a release score or a paper number without typing it:

    - ``{voc-fcn8s}``: the release's published seg11valid mean IU; ``{voc-fcn8s voc2012-test}`` another split's;
    - ``{voc-fcn8s T2}``: the mean IU of the net's Table 2 row; ``{voc-fcn32s:fixed T2}`` of its training
      variant's row; ``{voc-fcn8s T3 inference_ms}`` another column; ``{nyud-fcn32s-color T4 scores}`` the four
      scores (pixel acc. / mean acc. / mean IU / f.w. IU).

    Braces around anything that is not a net name (``{id}``) are left as they are; an unknown net, split, row or
    column raises KeyError (at import, for a module docstring)."""

    def one(m: re.Match) -> str:
        rec = record(m.group(1))
        variant, table, what = m.group(2) or "", m.group(3), m.group(4)
        if table is None:
            if variant:
                raise KeyError(f"{m.group(0)}: a published score has no variant; write {{{rec.name} T<table>}}")
            return _printed(rec.published[what or "seg11valid"])
        row = next((r for r in rec.paper if r.table == int(table) and r.variant == variant), None)
        if row is None:
            raise KeyError(f"{m.group(0)}: {rec.name} has no Table {table} row" + (f" for {variant!r}" * bool(variant)))
        if what == "scores":
            return " / ".join(_printed(row.numbers[k]) for k in SCORES)
        return _printed(row.numbers[what or "mean_iu"])

    return FIGURE.sub(one, text)


@dataclass(frozen=True)
class Release:
    """A caffemodel the reference published, and its score where the reference README gives one: a view of
    the net's record (nets.registry)."""

    net: str  # kit net name = reference directory
    dataset: str  # data.load name
    split: str
    mean_iu: float | None  # reference README, percent; None where nothing is published

    @property
    def checked(self) -> bool:
        """Pass/fail applies: a published score exists."""
        return self.mean_iu is not None


def release(net: str) -> Release | None:
    """The release of ``net`` with its published score on the split it is scored on, read from its record;
    None for a net the reference never released."""
    rec = RECORDS.get(net)
    if rec is None or rec.weights is None:
        return None
    return Release(rec.name, *rec.test, rec.published.get(rec.test[1]))


def releases() -> list[Release]:
    return [r for r in map(release, RECORDS) if r is not None]


def published_score(net: str, split: str) -> float | None:
    """The mean IU the reference published for ``net``'s release on ``split`` (e.g. "voc2012-test")."""
    return record(net).published.get(split)


@dataclass(frozen=True)
class Row:
    """One row (or, in Table 1, one column) of a paper table."""

    method: str  # as the paper labels it
    paper: dict[str, float | None]  # column key -> the printed number
    status: Status
    # The kit net this row stands for; also set for unreleased FCN rows (what a re-training run would train).
    net: str | None = None
    note: str = ""
    variant: str = ""  # the net's training variant the row is (FCN-32s-fixed: voc-fcn32s's "fixed")

    @property
    def release(self) -> Release | None:
        return release(self.net) if self.status == "released" and self.net else None

    @property
    def key(self) -> str | None:
        """How --weights and --nets name this row's net: NET, or NET:VARIANT for a training variant."""
        if self.net is None:
            return None
        return f"{self.net}:{self.variant}" if self.variant else self.net


@dataclass(frozen=True)
class Table:
    """A paper table: where its numbers were measured, its rows in the paper's order, and notes. The rows of
    the kit's nets come from their records (``PaperRow``); the other methods' rows are typed here."""

    number: int
    title: str
    dataset: str  # data.load name of the split the kit evaluates on
    split: str
    paper_split: str  # what the paper measured on, when it differs from ``split``
    columns: tuple[str, ...]
    order: tuple[str, ...]  # every row's method, in the paper's order (releases without a paper row last)
    others: tuple[Row, ...] = ()  # rows of other methods, and paper rows the kit has no net for
    notes: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> tuple[Row, ...]:
        rows = {r.method: r for r in (*self.others, *_record_rows(self.number))}
        if set(rows) != set(self.order) or len(self.order) != len(set(self.order)):
            raise ValueError(f"Table {self.number}: rows {sorted(rows)} do not match its order {self.order}")
        return tuple(rows[m] for m in self.order)

    def row(self, method: str) -> Row:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(f"Table {self.number} has no row {method!r}; rows: {[r.method for r in self.rows]}")

    @property
    def released_rows(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status == "released")


def _record_rows(table: int) -> list[Row]:
    """The rows the net records give a table: released unless the row is an unreleased training variant."""
    rows = []
    for rec in RECORDS.values():
        for p in rec.paper:
            if p.table == table:
                status = "released" if rec.weights is not None and not p.variant else "not released"
                rows.append(Row(p.method, dict(p.numbers), status, rec.name, p.note, p.variant))
    return rows


TABLE1 = Table(
    1, "From classifier to dense FCN", "voc", "seg11valid", "VOC2011 val",
    ("mean_iu", "forward_ms", "conv_layers", "params_millions", "rf_size", "max_stride"),
    ("FCN-AlexNet", "FCN-VGG16", "FCN-GoogLeNet"),
    notes=("Timings: 500x500 input on an NVIDIA Tesla K40c (2015); compare ratios, not absolute times.",
           "The releases were trained on SBD train, which overlaps VOC2011 val: the kit scores seg11valid."),
)

TABLE2 = Table(
    2, "Skip FCNs", "voc", "seg11valid", "seg11valid", SCORES,
    ("FCN-32s-fixed", "FCN-32s", "FCN-16s", "FCN-8s", "FCN-8s at-once (PAMI)"),
    notes=(with_figures("The paper's rows used batch 20, momentum 0.9 (CVPR); the releases are the heavy batch-1 "
                        "models, which score higher ({voc-fcn32s} / {voc-fcn16s} / {voc-fcn8s} mean IU in the "
                        "reference README)."),
           with_figures("The at-once FCN-8s (PAMI) is released too ({voc-fcn8s-atonce}) and is checked with this "
                        "table.")),
)

TABLE3 = Table(
    3, "Comparison to the state of the art on VOC test", "voc", "seg11valid", "VOC2011 and VOC2012 test",
    ("mean_iu_voc2011_test", "mean_iu_voc2012_test", "inference_ms"),
    ("R-CNN", "SDS", "FCN-8s"),
    (
        Row("R-CNN", {"mean_iu_voc2011_test": 47.9, "mean_iu_voc2012_test": None, "inference_ms": None},
            "baseline"),
        Row("SDS", {"mean_iu_voc2011_test": 52.6, "mean_iu_voc2012_test": 51.6, "inference_ms": 50_000},
            "baseline", note="~50 s"),
    ),
    notes=("Test labels are private: the test scores come only from the PASCAL evaluation server, which "
           "takes a tarball of palette PNGs stored in it as results/VOC2012/Segmentation/comp6_test_cls/{id}.png.",
           with_figures("Local proxy: the released FCN-8s on seg11valid ({voc-fcn8s} mean IU, reference README)."),
           with_figures("The PAMI version reports the heavy FCN-8s at {voc-fcn8s voc2012-test} on VOC2012 test."),
           "Paper claims: 20% relative improvement; inference 114x faster (convnet only), 286x overall."),
)

TABLE4 = Table(
    4, "NYUDv2", "nyud", "test", "NYUDv2 test (654 images)", SCORES,
    ("Gupta et al.", "FCN-32s RGB", "FCN-32s RGBD", "FCN-32s HHA", "FCN-32s RGB-HHA", "FCN-16s RGB-HHA"),
    (
        Row("Gupta et al.", four_scores(60.3, None, 28.6, 47.0), "baseline"),
    ),
    notes=("No scores are published for the NYUD releases: their rows are informational.",),
)

TABLE5 = Table(
    5, "SIFT Flow", "siftflow", "test", "SIFT Flow test (200 images)", (*SCORES, "geo_pixel_accuracy"),
    ("Liu et al.", "Tighe et al. (geometric)", "Tighe et al. 1", "Tighe et al. 2", "Farabet et al. 1",
     "Farabet et al. 2", "Pinheiro et al.", "FCN-16s", "FCN-32s (reference release)",
     "FCN-8s (reference release)"),
    (
        Row("Liu et al.", {"pixel_accuracy": 76.7}, "baseline"),
        Row("Tighe et al. (geometric)", {"geo_pixel_accuracy": 90.8}, "baseline"),
        Row("Tighe et al. 1", {"pixel_accuracy": 75.6, "mean_accuracy": 41.1}, "baseline"),
        Row("Tighe et al. 2", {"pixel_accuracy": 78.6, "mean_accuracy": 39.2}, "baseline"),
        Row("Farabet et al. 1", {"pixel_accuracy": 72.3, "mean_accuracy": 50.8}, "baseline"),
        Row("Farabet et al. 2", {"pixel_accuracy": 78.5, "mean_accuracy": 29.6}, "baseline"),
        Row("Pinheiro et al.", {"pixel_accuracy": 77.7, "mean_accuracy": 29.8}, "baseline"),
    ),
    notes=("The paper averages semantic mean IU over the classes present in the test set (cow, desert and "
           "moon never occur); the reference's scorer would also count classes that are predicted but "
           "absent. Both are printed.",
           "The 32s and 8s releases have no paper row; they are scored for information.",
           "No scores are published for the SIFT Flow releases: their rows are informational."),
)

TABLE6 = Table(
    6, "PASCAL-Context", "pascalcontext", "val", "PASCAL-Context val (5105 images)",
    (*SCORES, "pixel_accuracy_33", "mean_accuracy_33", "mean_iu_33", "fw_iu_33"),
    ("O2P", "CFM", "FCN-32s", "FCN-16s", "FCN-8s"),
    (
        Row("O2P", {"mean_iu": 18.1, "mean_iu_33": 29.2}, "baseline"),
        Row("CFM", {"mean_iu": 31.5, "mean_iu_33": 46.1}, "baseline"),
    ),
    notes=("The paper says 59 classes; the reference's nets have 60 outputs (0 = background/other). Whether "
           "the paper's mean IU averages 59 or 60 classes is not known: both are printed.",
           "The 33-class columns need the 33-class task's label mapping, which the kit does not have: they "
           "are not checkable.",
           "No scores are published for the Context releases: their rows are informational."),
)

TABLES: dict[int, Table] = {t.number: t for t in (TABLE1, TABLE2, TABLE3, TABLE4, TABLE5, TABLE6)}


@dataclass(frozen=True)
class Verdict:
    """How a measured mean IU compares with a target."""

    target: float
    ours: float
    tolerance: float

    @property
    def delta(self) -> float:
        return self.ours - self.target

    @property
    def passed(self) -> bool:
        # Round away float noise in the difference of two one-decimal numbers (65.6 - 65.5 = 0.0999...).
        return round(abs(self.delta), 9) <= self.tolerance


def check_release(net: str, mean_iu_percent: float) -> Verdict:
    """Released weights against the reference README's score (tolerance 0.1 mean IU)."""
    found = release(net)
    if found is None or not found.checked:
        have = [r.net for r in releases() if r.checked]
        raise KeyError(f"no published score for {net!r}; pass/fail applies to {have}")
    return Verdict(found.mean_iu, mean_iu_percent, RELEASE_TOLERANCE)


def check_retrained(row: Row, mean_iu_percent: float) -> Verdict:
    """A re-training run against its paper row (tolerance 1.0 mean IU)."""
    target = row.paper.get("mean_iu")
    if target is None:
        raise KeyError(f"paper row {row.method!r} has no mean IU to compare a re-training run with")
    return Verdict(target, mean_iu_percent, RETRAIN_TOLERANCE)
