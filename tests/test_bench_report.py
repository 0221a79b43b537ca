"""The measured tables in the docs are the kept benchmark records rendered (benchmarks.report), not typed: a doc
that differs from its record fails, and a changed record changes the doc."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmarks import loader as loader_bench
from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(p for p in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"] if report.BEGIN.search(p.read_text()))
KEPT = sorted((ROOT / "benchmarks" / "records").glob("*.json"))


def test_the_docs_quote_every_kept_record_and_only_kept_ones():
    named = {m["path"] for doc in DOCS for m in report.BEGIN.finditer(doc.read_text())}
    assert named == {str(p.relative_to(ROOT)) for p in KEPT}
    assert all(n.startswith("benchmarks/records/") for n in named)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_each_doc_equals_its_records_rendered(doc, capsys):
    assert report.main(["--check", str(doc)]) == 0, capsys.readouterr().err


def test_a_changed_record_puts_the_doc_out_of_date_and_update_brings_the_new_figure(tmp_path, capsys):
    doc = ROOT / "docs" / "performance.md"
    name = "benchmarks/records/bench-cpu.json"
    record = json.loads((ROOT / name).read_text())
    row = next(r for f in record["families"] for r in f["rows"] if r["contestant"] == "kit exact")
    row["ms"] = 12345.6
    shutil.copytree(ROOT / "benchmarks" / "records", tmp_path / "benchmarks" / "records")
    (tmp_path / name).write_text(json.dumps(record))
    text = doc.read_text()
    new = report.regenerate(text, root=tmp_path)
    assert new != text and "| kit exact | 12346 |" in new
    assert report.regenerate(new, root=tmp_path) == new  # rendering is stable: update, then check, passes


def test_the_inference_table_shows_the_records_figures_and_ratios():
    record = json.loads((ROOT / "benchmarks/records/bench-cpu.json").read_text())
    table = report.inference(record)
    for family in record["families"]:
        rows = {r["contestant"]: r for r in family["rows"] if r.get("ms")}
        kit = rows["kit exact"]
        line = next(x for x in table.splitlines() if x.startswith(f"| {family['net']} | kit exact |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] == f"{kit['ms']:.0f}" and cells[3] == f"{kit['min_ms']:.0f}"
        caffe = next((r for label, r in rows.items() if label.lower().startswith("caffe")), None)
        if caffe:  # the ratio is the two medians of the same run
            assert cells[4] == f"**{caffe['ms'] / kit['ms']:.2f}**"
    assert record["command"] in table and record["machine"]["cpu"] in table


def test_the_measured_sections_type_no_figures_outside_generated_blocks():
    """Outside the generated blocks the measured sections name commands, not timings."""
    text = (ROOT / "docs" / "performance.md").read_text()
    measured = text[text.index("## Measured here"):]
    typed = re.sub(r"<!-- benchmarks\.report: .*?<!-- end of benchmarks\.report -->", "", measured, flags=re.S)
    figure = re.compile(r"(?<![\w-])\d+(?:\.\d+)?\s*(?:ms|s|x|GMAC/s|GFLOP/s|MiB|GiB)\b")
    assert not figure.findall(typed.split("## On a GPU")[0])


def test_a_loader_run_writes_a_record_that_renders_its_own_figures(tmp_path, monkeypatch):
    out = tmp_path / "loader.json"
    loader_bench.main(["--images", "2", "--workers", "0", "--json", str(out)])
    record = json.loads(out.read_text())
    assert record["benchmark"] == "loader" and record["machine"]["threads"] >= 1
    assert f"| 0 | {record['rows'][0]['images_per_s']:.1f} |" in report.render(out)


def test_bad_input_gets_one_message(tmp_path):
    with pytest.raises(SystemExit, match="no record at .*make bench writes them to results/"):
        report.render(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"net": "voc-fcn8s"}')
    with pytest.raises(SystemExit, match="not a benchmark record: expected a 'benchmark' field"):
        report.render(tmp_path / "other.json")
    (tmp_path / "cut.json").write_text('{"benchmark": "loa')
    with pytest.raises(SystemExit, match="is not a JSON benchmark record"):
        report.render(tmp_path / "cut.json")
    shutil.copy(ROOT / "benchmarks/records/bench-loader.json", tmp_path / "r.json")
    with pytest.raises(SystemExit, match="has no '<!-- end of benchmarks.report -->' line"):
        report.regenerate("<!-- benchmarks.report: r.json -->\ntext\n", root=tmp_path)
    (tmp_path / "plain.md").write_text("# no blocks\n")
    with pytest.raises(SystemExit, match="has no generated block"):
        report.main(["--check", str(tmp_path / "plain.md")])
