"""The audit report (python -m reproduce.audit.report, part of make audit): the data it shows (crop derivations,
offsets, drawings, table records, the ledger) and that the page renders that data escaped, static, complete.

The checks read the report's data model (report.report_data and its parts), not its markup: the templates are
free to change."""

from __future__ import annotations

import html.parser
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import nets
from nets import geometry
from reproduce.audit import drawing, report


def _record(tmp_path: Path, smoke: bool, rows: list[dict], table: int = 2, **extra) -> Path:
    folder = tmp_path / ("smoke" if smoke else "")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"table{table}.json"
    path.write_text(json.dumps({"table": table, "title": "Skip FCNs", "smoke": smoke, "git_revision": "abc123",
                                "device": "CPU test", "finished": 0, "rows": rows, "provenance": {}, **extra}))
    return path


class _Page(html.parser.HTMLParser):
    """What a browser shows of a page: its text, the ids it can link to, and the tags it would run or fetch."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.ids += [v for k, v in attrs if k == "id"]

    def handle_data(self, data):
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def test_the_crop_derivations_give_the_reference_offsets_19_5_27_9_31_18():
    got = {(name, d.crop): d.offset for name in ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn-alexnet")
           for d in report.crop_derivations(nets.spec(name))}
    assert got == {("voc-fcn32s", "score"): 19, ("voc-fcn16s", "score_pool4c"): 5, ("voc-fcn16s", "score"): 27,
                   ("voc-fcn8s", "score_pool4c"): 5, ("voc-fcn8s", "score_pool3c"): 9, ("voc-fcn8s", "score"): 31,
                   ("voc-fcn-alexnet", "score"): 18}
    (d,) = report.crop_derivations(nets.spec("voc-fcn32s"))
    # The steps that move the map: conv1_1's 100-pixel pad, five poolings, fc6's 7x7, the 64/32 upsampling.
    assert [(s.layer, drawing.frac(s.scale), drawing.frac(s.shift)) for s in d.bottom_steps] == [
        ("data", "1", "0"), ("conv1_1", "1", "-99"), ("pool1", "2", "-98.5"), ("pool2", "4", "-97.5"),
        ("pool3", "8", "-95.5"), ("pool4", "16", "-91.5"), ("pool5", "32", "-83.5"), ("fc6", "32", "12.5"),
        ("upscore", "1", "-19")]
    assert d.table_offset == 19 and d.agrees


def test_each_step_of_a_crop_derivation_is_nets_geometrys_layer_map_applied_to_the_step_before():
    spec = nets.spec("voc-fcn8s")
    layers = {x.name: x for x in spec.layers}
    for d in report.crop_derivations(spec):
        for before, step in zip(d.bottom_steps, d.bottom_steps[1:], strict=False):
            own = geometry.layer_map(layers[step.layer])
            if own is None:
                continue  # a crop or a sum takes another blob's map
            top = geometry.CoordMap(before.scale, before.shift).then(own)
            assert (step.scale, step.shift) == (top.scale, top.shift), step.layer
            assert step.arithmetic == f"{drawing.frac(before.shift)} + {drawing.frac(before.scale)}·" \
                                      f"({drawing.frac(own.shift)})"
    (conv1_1,) = [s for s in report.crop_derivations(spec)[0].bottom_steps if s.layer == "conv1_1"]
    assert conv1_1.arithmetic == "0 + 1·(-99)"  # (3 - 1) / 2 - 100


def test_a_derivation_that_disagrees_with_the_reference_table_is_marked():
    (d,) = report.crop_derivations(nets.spec("voc-fcn32s"))
    d.table_offset = 34  # the "centred" offset users asked the reference for
    summary = report.NetSummary("voc-fcn32s", {"data": 3}, ("score",), [d], 1)
    assert not d.agrees and not summary.crops_ok and summary.offsets == "score 19"


def test_the_overview_gives_each_offset_its_two_shifts_and_the_nets_that_share_it():
    summaries = [report.net_view(n).summary for n in nets.NAMES]
    rows = report.offsets_overview(summaries)
    first = {}
    for r in rows:
        first.setdefault(r.offset, r)
        assert (r.reference_shift - r.bottom_shift) / r.scale == r.offset  # the arithmetic the page prints
    assert [o for o in dict.fromkeys(r.offset for r in rows)] == [19, 5, 27, 9, 31, 18, 101]
    assert {o: (r.scale, r.bottom_shift, r.reference_shift) for o, r in first.items()} == {
        19: (1, -19, 0), 5: (16, Fraction(-183, 2), Fraction(-23, 2)), 27: (1, -27, 0),
        9: (8, Fraction(-191, 2), Fraction(-47, 2)), 31: (1, -31, 0), 18: (1, -18, 0), 101: (1, -101, 0)}
    assert first[31].nets == ["voc-fcn8s", "voc-fcn8s-atonce", "siftflow-fcn8s", "pascalcontext-fcn8s"]
    # SIFT Flow's _sem / _geo heads are one row with the single-head nets: the reference's table names them so.
    assert "siftflow-fcn16s" in first[5].nets and sum(len(r.nets) for r in rows if r.offset == 5) == 8


@pytest.mark.parametrize("name", nets.NAMES)
def test_every_layer_is_drawn_once_and_no_two_blocks_overlap(name):
    spec = nets.spec(name)
    nodes, edges, _ = drawing.diagram(spec)
    drawn = [layer for n in nodes.values() for layer in n.layers]
    assert sorted(drawn) == sorted(x.name for x in spec.layers)
    boxes = [(k, drawing._box(n)) for k, n in nodes.items()]
    for i, (ka, (ax, ay, aw, ah)) in enumerate(boxes):
        for kb, (bx, by, bw, bh) in boxes[i + 1:]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, f"{ka} overlaps {kb}"
    assert all(e.src in nodes and e.dst in nodes for e in edges)
    # The drawing's data: every block inside the canvas, one arrow per edge, the text lines of every block.
    d = drawing.net_drawing(spec)
    assert all(b["x"] + b["w"] <= d["width"] and b["y"] + b["h"] <= d["height"] for b in d["blocks"])
    assert len(d["edges"]) == len(edges) and len(d["blocks"]) == len(nodes)


def test_the_trunk_is_drawn_as_stages_with_their_strides():
    nodes, _, labels = drawing.diagram(nets.spec("voc-fcn8s"))
    stages = [n for n in nodes.values() if n.kind == "stage"]
    assert [(n.lines[0], drawing.frac(n.stride)) for n in stages] == [
        ("conv1_1–2", "2"), ("conv2_1–2", "4"), ("conv3_1–3", "8"), ("conv4_1–3", "16"), ("conv5_1–3", "32"),
        ("fc6", "32"), ("fc7", "32")]
    assert [text for _, text in labels] == ["stride 32", "stride 16", "stride 8", "stride 1"]
    assert nodes["score_pool4c"].lines[1] == "crop offset 5" and nodes["upscore8"].lines[1] == "deconv k16 s8"
    blocks = {b["title"]: b for b in drawing.net_drawing(nets.spec("voc-fcn8s"))["blocks"]}
    assert [t["text"] for t in blocks["score_pool4c"]["lines"]] == ["score_pool4c", "crop offset 5"]
    assert blocks["conv1_1, relu1_1, conv1_2, relu1_2, pool1"]["ink"] == "#10243f"  # fine stride: dark text


def test_a_net_view_holds_its_summary_its_layer_table_and_whether_its_arithmetic_shows_open():
    view = report.net_view("voc-fcn8s")
    s = view.summary
    assert (s.inputs, s.outputs, s.offsets, s.crops_ok) == ({"data": 3}, ("score",),
                                                             "score_pool4c 5, score_pool3c 9, score 31", True)
    assert view.open and not report.net_view("siftflow-fcn8s").open
    assert view.layer_rows[0][:2] == ("conv1_1", "Convolution") and len(view.layer_rows) == s.layers - sum(
        x.type in ("ReLU", "Dropout") for x in nets.spec("voc-fcn8s").layers)


def test_the_ledger_counts_statuses_and_a_claim_missing_a_field_is_an_error():
    claims = [{"id": "C1", "source": "CVPR 2015, section 4.1", "claim": "final crop offset is 31", "status": "pass",
               "code": ["nets/geometry.py"], "tests": ["tests/test_nets.py::test_fcn8s_crop_offsets_are_5_9_31"]},
              {"id": "C2", "source": "PAMI", "claim": "67.2 on VOC2012 test", "status": "deviation", "code": [],
               "tests": [], "note": "why"}]
    view = report.ledger_view(claims)
    assert view.counts == {"pass": 1, "deviation": 1} and [r["id"] for r in view.deviations] == ["C2"]
    assert view.rows[0]["note"] == "" and view.rows[1]["note"] == "why"
    assert [report.status_class(s) for s in ("checked", "caffe", "FAIL", "deviation")] == ["ok", "ok", "bad", "info"]
    with pytest.raises(ValueError, match=r"claim 0 \(C3\) lacks \['tests'\]"):
        report.ledger_rows([{"id": "C3", "source": "s", "claim": "c", "status": "pass", "code": []}])
    kit = report.report_data(Path("absent"), names=["voc-fcn32s"]).ledger  # the default: the kit's own ledger
    assert "geometry.crop-offsets" in {r["id"] for r in kit.rows} and sum(kit.counts.values()) == len(kit.rows)


def test_table_records_give_paper_beside_kit_and_the_per_class_iu(tmp_path):
    row = {"method": "FCN-8s", "net": "voc-fcn8s", "status": "released", "verdict": "PASS",
           "paper": {"pixel_accuracy": 90.3, "mean_iu": 62.7}, "ours": {"pixel_accuracy": 91.25, "mean_iu": 65.51},
           "per_class_iu": {"score": {"background": 92.5, "aeroplane": 81.0, "bicycle": None}}}
    unevaluated = {"method": "FCN-16s", "net": "voc-fcn16s", "paper": {"mean_iu": 62.4}, "ours": {}}
    _record(tmp_path, smoke=False, rows=[row, unevaluated])
    _record(tmp_path, smoke=True, rows=[row])
    real, smoke = report.report_data(tmp_path, names=["voc-fcn8s"]).tables
    assert (real.smoke, smoke.smoke, real.path, smoke.path) == (False, True, f"{tmp_path.name}/table2.json",
                                                                f"{tmp_path.name}/smoke/table2.json")
    fcn8s, fcn16s = real.rows
    assert fcn8s.delta == pytest.approx(2.81) and fcn8s.evaluated and not fcn16s.evaluated and fcn16s.delta is None
    groups = {g["label"]: [(b["who"], b["value"]) for b in g["bars"]] for g in fcn8s.scores["groups"]}
    assert groups == {"pixel acc.": [("paper", 90.3), ("kit", 91.25)], "mean IU": [("paper", 62.7), ("kit", 65.51)]}
    ((blob, chart),) = fcn8s.per_class
    assert blob == "score" and [(r["name"], r["value"]) for r in chart["rows"]] == [
        ("background", 92.5), ("aeroplane", 81.0), ("bicycle", None)]
    assert [(m["label"], m["value"]) for m in chart["means"]] == [("kit mean", 65.51), ("paper mean", 62.7)]


def test_bars_are_scaled_to_percent_and_clipped_to_the_plot():
    chart = drawing.bar_chart([("mean IU", 50.0, 120.0)], "t")
    paper, kit = chart["groups"][0]["bars"]
    assert paper["height"] == chart["plot_height"] / 2 and kit["height"] == chart["plot_height"]
    assert drawing.bar_chart([("x", None, 10.0)], "t")["groups"][0]["bars"][0]["height"] is None


@pytest.mark.parametrize("mode", ["exact", "bf16", None])
def test_a_table_record_gives_its_precision_and_a_fast_mode_is_marked_not_exact(tmp_path, mode):
    row = {"method": "FCN-8s", "net": "voc-fcn8s", "status": "released", "verdict": "PASS",
           "paper": {"mean_iu": 62.7}, "ours": {"mean_iu": 62.9}}
    _record(tmp_path, smoke=False, rows=[row], **({} if mode is None else {"precision": mode}))
    (view,) = report.report_data(tmp_path, names=["voc-fcn8s"]).tables
    assert view.precision == (mode or "not recorded") and view.fast_mode == (mode == "bf16")


def test_per_class_iu_falls_back_to_the_cached_evaluation(tmp_path):
    hist = np.array([[5, 5], [0, 10]])  # background IU 5/10, aeroplane 10/15
    (tmp_path / "evaluations").mkdir()
    (tmp_path / "evaluations" / "voc-fcn32s_voc_seg11valid.json").write_text(json.dumps(
        {"hists": {"score": hist.tolist()}, "present_only": {}}))
    record = {"provenance": {"voc-fcn32s": {"dataset": "voc", "split": "seg11valid"}}, "smoke": False}
    got = report.per_class_of({"net": "voc-fcn32s", "per_class_iu": {}}, record, tmp_path)
    assert got["score"]["background"] == pytest.approx(50.0) and got["score"]["aeroplane"] == pytest.approx(200 / 3)


def test_a_broken_record_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "table3.json").write_text("{")
    with pytest.raises(ValueError, match=r"table3.json is not a table record"):
        report.load_records(tmp_path)


def test_the_page_shows_the_data_escaped_and_is_static(tmp_path):
    """Text from a ledger or a record is shown as text (autoescaping), and the page runs and fetches nothing."""
    hostile = "<script>alert(1)</script> & <marquee>moving</marquee>"
    claims = [{"id": "C1", "source": "s", "claim": hostile, "status": "deviation", "code": ["a<b"], "tests": [],
               "note": "n"}]
    _record(tmp_path, smoke=True, rows=[{"method": hostile, "net": "voc-fcn8s", "verdict": "PASS",
                                         "paper": {"mean_iu": 1.0}, "ours": {"mean_iu": 2.0}}])
    page, md = report.build_report(tmp_path, claims=claims, names=["voc-fcn8s", "nyud-fcn32s-color-hha"])
    shown = _Page(page)
    assert not [t for t, _ in shown.tags if t in ("script", "marquee", "iframe", "img", "link")]
    assert not [a for _, a in shown.tags for k in ("src", "href") if "//" in a.get(k, "")]
    assert hostile in shown.words and "a<b" in shown.words
    assert {"voc-fcn8s", "nyud-fcn32s-color-hha", "tables", "ledger", "table2-smoke"} <= set(shown.ids)
    assert "| C1 | s | " + hostile + " | deviation | `a<b` |" in md  # Markdown is not HTML-escaped


def test_the_command_writes_both_files_showing_every_net_and_the_whole_ledger(tmp_path, capsys):
    assert report.main(["--out", str(tmp_path / "audit"), "--results", str(tmp_path)]) == 0
    shown = _Page((tmp_path / "audit" / "index.html").read_text())
    claims = report.report_data(tmp_path, names=["voc-fcn32s"]).ledger.rows
    assert set(nets.NAMES) <= set(shown.ids) and f"{len(claims)} claims." in shown.words
    assert all(c["id"] in shown.words for c in claims)
    summary = (tmp_path / "audit" / "summary.md").read_text()
    assert all(f"| {name} |" in summary for name in nets.NAMES)
    assert "audit report:" in capsys.readouterr().out


def test_the_command_refuses_an_unreadable_ledger(tmp_path, capsys):
    (tmp_path / "ledger.json").write_text("[")
    assert report.main(["--out", str(tmp_path / "audit"), "--ledger", str(tmp_path / "ledger.json")]) == 2
    assert "cannot read the ledger" in capsys.readouterr().err and not (tmp_path / "audit").exists()
