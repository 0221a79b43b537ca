"""reproduce.tables holds the paper's numbers and the release targets (from the net records) as printed."""

from __future__ import annotations

import nets
from reproduce import tables


def test_the_five_voc_releases_are_checked_against_the_reference_readme_at_0_1():
    checked = {r.net: r.mean_iu for r in tables.releases() if r.checked}
    assert checked == {"voc-fcn32s": 63.6, "voc-fcn16s": 65.0, "voc-fcn8s": 65.5, "voc-fcn8s-atonce": 65.4,
                       "voc-fcn-alexnet": 48.0}
    assert all(tables.release(n).split == "seg11valid" for n in checked)
    assert tables.RELEASE_TOLERANCE == 0.1 and tables.RETRAIN_TOLERANCE == 1.0


def test_release_verdict_passes_within_0_1_and_fails_beyond():
    assert tables.check_release("voc-fcn8s", 65.6).passed  # 65.6 - 65.5 is 0.1 up to float noise
    assert tables.check_release("voc-fcn8s", 65.41).passed
    assert not tables.check_release("voc-fcn8s", 65.62).passed
    assert not tables.check_release("voc-fcn32s", 63.48).passed
    assert tables.check_release("voc-fcn32s", 63.48).delta < 0


def test_release_verdict_refuses_a_net_without_a_published_score():
    for net in ("nyud-fcn32s-color", "siftflow-fcn16s", "nyud-fcn32s-color-d"):
        try:
            tables.check_release(net, 50.0)
        except KeyError as e:
            assert "no published score" in str(e)
        else:
            raise AssertionError(f"{net} has no published score but was checked")


def test_cells_match_facts_section_5():
    assert tables.TABLES[1].row("FCN-VGG16").paper["mean_iu"] == 56.0
    assert tables.TABLES[1].row("FCN-AlexNet").paper["rf_size"] == 355
    assert tables.TABLES[2].row("FCN-32s-fixed").paper == {"pixel_accuracy": 83.0, "mean_accuracy": 59.7,
                                                          "mean_iu": 45.4, "fw_iu": 72.0}
    assert tables.TABLES[2].row("FCN-8s").paper["fw_iu"] == 83.2
    assert tables.TABLES[3].row("FCN-8s").paper == {"mean_iu_voc2011_test": 62.7,
                                                   "mean_iu_voc2012_test": 62.2, "inference_ms": 175}
    assert tables.TABLES[4].row("FCN-16s RGB-HHA").paper["mean_iu"] == 34.0
    assert tables.TABLES[4].row("Gupta et al.").paper["mean_accuracy"] is None
    assert tables.TABLES[5].row("FCN-16s").paper["geo_pixel_accuracy"] == 94.3
    assert tables.TABLES[6].row("FCN-8s").paper["mean_iu_33"] == 53.5
    assert tables.TABLES[6].row("CFM").paper == {"mean_iu": 31.5, "mean_iu_33": 46.1}


def test_rows_without_released_weights_are_the_four_the_reference_never_published():
    unreleased = {(t.number, r.method) for t in tables.TABLES.values() for r in t.rows
                  if r.status == "not released"}
    assert unreleased == {(1, "FCN-GoogLeNet"), (2, "FCN-32s-fixed"), (4, "FCN-32s RGBD"),
                          (4, "FCN-16s RGB-HHA")}


def test_every_released_row_names_a_kit_net_with_a_release_and_every_column_has_a_header():
    for t in tables.TABLES.values():
        assert set(t.columns) <= set(tables.COLUMNS), t.number
        for r in t.rows:
            assert set(r.paper) <= set(t.columns), (t.number, r.method)
            if r.net is not None:
                assert r.net in nets.NAMES
            if r.status == "released":
                assert r.release is not None and r.release.dataset == t.dataset, (t.number, r.method)
    assert {r.net for r in tables.releases()} == set(nets.NAMES) - {"nyud-fcn32s-color-d", "voc-fcn-googlenet",
                                                                    "nyud-fcn16s-color-hha"}
    assert nets.record("siftflow-fcn16s").present_only == {"score_sem"} and not nets.record("voc-fcn8s").present_only
