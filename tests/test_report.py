"""The audit report (python -m reproduce.audit.report, part of make audit): what it draws, derives and shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import nets
from reproduce.audit import report


def _record(tmp_path: Path, smoke: bool, rows: list[dict], table: int = 2) -> Path:
    folder = tmp_path / ("smoke" if smoke else "")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"table{table}.json"
    path.write_text(json.dumps({"table": table, "title": "Skip FCNs", "smoke": smoke, "git_revision": "abc123",
                                "device": "CPU test", "finished": 0, "rows": rows, "provenance": {}}))
    return path


def test_the_crop_derivations_give_the_reference_offsets_19_5_27_9_31_18():
    got = {(name, d.crop): d.offset for name in ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn-alexnet")
           for d in report.crop_derivations(nets.spec(name))}
    assert got == {("voc-fcn32s", "score"): 19, ("voc-fcn16s", "score_pool4c"): 5, ("voc-fcn16s", "score"): 27,
                   ("voc-fcn8s", "score_pool4c"): 5, ("voc-fcn8s", "score_pool3c"): 9, ("voc-fcn8s", "score"): 31,
                   ("voc-fcn-alexnet", "score"): 18}
    (d,) = report.crop_derivations(nets.spec("voc-fcn32s"))
    # The steps that move the map: conv1_1's 100-pixel pad, five poolings, fc6's 7x7, the 64/32 upsampling.
    assert [(s.layer, report.frac(s.scale), report.frac(s.shift)) for s in d.bottom_steps] == [
        ("data", "1", "0"), ("conv1_1", "1", "-99"), ("pool1", "2", "-98.5"), ("pool2", "4", "-97.5"),
        ("pool3", "8", "-95.5"), ("pool4", "16", "-91.5"), ("pool5", "32", "-83.5"), ("fc6", "32", "12.5"),
        ("upscore", "1", "-19")]
    assert d.table_offset == 19


@pytest.mark.parametrize("name", nets.NAMES)
def test_every_layer_is_drawn_once_and_no_two_blocks_overlap(name):
    spec = nets.spec(name)
    nodes, edges, _ = report.diagram(spec)
    drawn = [layer for n in nodes.values() for layer in n.layers]
    assert sorted(drawn) == sorted(x.name for x in spec.layers)
    boxes = [(k, report._box(n)) for k, n in nodes.items()]
    for i, (ka, (ax, ay, aw, ah)) in enumerate(boxes):
        for kb, (bx, by, bw, bh) in boxes[i + 1:]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, f"{ka} overlaps {kb}"
    assert all(e.src in nodes and e.dst in nodes for e in edges)


def test_the_trunk_is_drawn_as_stages_with_their_strides():
    nodes, _, labels = report.diagram(nets.spec("voc-fcn8s"))
    stages = [n for n in nodes.values() if n.kind == "stage"]
    assert [(n.lines[0], report.frac(n.stride)) for n in stages] == [
        ("conv1_1–2", "2"), ("conv2_1–2", "4"), ("conv3_1–3", "8"), ("conv4_1–3", "16"), ("conv5_1–3", "32"),
        ("fc6", "32"), ("fc7", "32")]
    assert [text for _, text in labels] == ["stride 32", "stride 16", "stride 8", "stride 1"]
    assert nodes["score_pool4c"].lines[1] == "crop offset 5" and nodes["upscore8"].lines[1] == "deconv k16 s8"


def test_the_page_is_one_static_file_without_script_or_network(tmp_path):
    page, md = report.build_report(tmp_path, names=["voc-fcn8s", "nyud-fcn32s-color-hha"])
    assert "<script" not in page.lower() and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg class=\"net\"") == 2 and "<code>geometry.crop-offsets</code>" in page  # the ledger
    assert "No table records yet" in page and "| voc-fcn8s | data | score | score_pool4c 5, score_pool3c 9, score 31 " \
                                              "| ok |" in md


def test_the_overview_explains_each_offset_with_both_shifts(tmp_path):
    page, _ = report.build_report(tmp_path)
    table = page[page.index("<table class='card overview'>"):]
    table = table[:table.index("</table>")]
    for offset, arithmetic in ((19, "(0 − (-19)) / 1 = 19"), (5, "(-11.5 − (-91.5)) / 16 = 5"),
                               (27, "(0 − (-27)) / 1 = 27"), (9, "(-23.5 − (-95.5)) / 8 = 9"),
                               (31, "(0 − (-31)) / 1 = 31"), (18, "(0 − (-18)) / 1 = 18")):
        assert arithmetic in table, offset


def test_a_ledger_is_shown_with_its_statuses_and_a_claim_missing_a_field_is_an_error(tmp_path):
    claims = [{"id": "C1", "source": "CVPR 2015, section 4.1", "claim": "final crop offset is 31", "status": "pass",
               "code": ["nets/geometry.py"], "tests": ["tests/test_nets.py::test_fcn8s_crop_offsets_are_5_9_31"]},
              {"id": "C2", "source": "PAMI", "claim": "67.2 on VOC2012 test", "status": "open", "code": [],
               "tests": []}]
    page, md = report.build_report(tmp_path, claims=claims, names=["voc-fcn32s"])
    assert "<span class='badge ok'>pass: 1</span>" in page and "<span class='badge info'>open: 1</span>" in page
    assert "<code>tests/test_nets.py::test_fcn8s_crop_offsets_are_5_9_31</code>" in page
    assert "| C1 | CVPR 2015, section 4.1 | final crop offset is 31 | pass | `nets/geometry.py` |" in md
    with pytest.raises(ValueError, match=r"claim 0 \(C3\) lacks \['tests'\]"):
        report.ledger_rows([{"id": "C3", "source": "s", "claim": "c", "status": "pass", "code": []}])


def test_table_records_show_paper_beside_kit_and_the_per_class_iu(tmp_path):
    row = {"method": "FCN-8s", "net": "voc-fcn8s", "status": "released", "verdict": "PASS",
           "paper": {"pixel_accuracy": 90.3, "mean_iu": 62.7}, "ours": {"pixel_accuracy": 91.25, "mean_iu": 65.51},
           "per_class_iu": {"score": {"background": 92.5, "aeroplane": 81.0, "bicycle": None}}}
    _record(tmp_path, smoke=False, rows=[row])
    _record(tmp_path, smoke=True, rows=[row])
    page, md = report.build_report(tmp_path, names=["voc-fcn8s"])
    assert page.count("<h3>Table 2: Skip FCNs</h3>") == 2 and page.count("SMOKE RUN: miniature generated data") == 1
    assert "paper pixel acc.: 90.30" in page and "kit pixel acc.: 91.25" in page
    assert "aeroplane: 81.00" in page and "not scored" in page and "paper mean 62.7" in page
    assert "kit mean 65.5" in page and "| FCN-8s | voc-fcn8s | 62.7 | 65.51 | +2.81 | PASS |" in md
    assert "### Table 2: Skip FCNs (SMOKE RUN: MEANINGLESS)" in md


@pytest.mark.parametrize("mode", ["exact", "bf16"])
def test_a_table_record_shows_its_precision_and_a_fast_mode_says_it_is_not_exact(tmp_path, mode):
    row = {"method": "FCN-8s", "net": "voc-fcn8s", "status": "released", "verdict": "PASS",
           "paper": {"mean_iu": 62.7}, "ours": {"mean_iu": 62.9}}
    path = _record(tmp_path, smoke=False, rows=[row])
    path.write_text(json.dumps({**json.loads(path.read_text()), "precision": mode}))
    page, md = report.build_report(tmp_path, names=["voc-fcn8s"])
    assert f"precision {mode}" in page
    assert ("MEASURED IN BF16, not exact precision" in page) == (mode == "bf16")
    assert ("### Table 2: Skip FCNs (measured in bf16)" in md) == (mode == "bf16")


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


def test_the_command_writes_both_files(tmp_path, capsys):
    ledger = tmp_path / "ledger.json"
    ledger.write_text("[]")
    assert report.main(["--out", str(tmp_path / "audit"), "--results", str(tmp_path), "--ledger", str(ledger)]) == 0
    assert (tmp_path / "audit" / "index.html").stat().st_size > 100_000
    assert (tmp_path / "audit" / "summary.md").read_text().startswith("# FCN kit audit")
    assert "audit report:" in capsys.readouterr().out
