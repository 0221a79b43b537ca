"""The net records (nets/registry.py): one per net, and everything else reads them."""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pytest

import data
import nets
from nets import registry, vgg
from reproduce import datasets, tables
from weights import zoo

# The reference release's net directories, typed out here rather than read from the registry.
REFERENCE_DIRECTORIES = ("voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn8s-atonce", "voc-fcn-alexnet",
                         "nyud-fcn32s-color", "nyud-fcn32s-hha", "nyud-fcn32s-color-d", "nyud-fcn32s-color-hha",
                         "siftflow-fcn32s", "siftflow-fcn16s", "siftflow-fcn8s", "pascalcontext-fcn32s",
                         "pascalcontext-fcn16s", "pascalcontext-fcn8s")


def test_every_record_is_the_net_of_its_name_the_fifteen_reference_directories_then_the_papers_two():
    assert all(rec.name == name for name, rec in registry.RECORDS.items())
    assert registry.REFERENCE_NAMES == REFERENCE_DIRECTORIES
    # The paper's, never released: FCN-GoogLeNet (Table 1), then the NYUD FCN-16s RGB-HHA (Table 4).
    assert nets.NAMES == (*REFERENCE_DIRECTORIES, "voc-fcn-googlenet", "nyud-fcn16s-color-hha")


def test_inputs_feed_every_net_input_from_a_reader_top_of_the_right_channel_count():
    channels = {"color": 3, "hha": 3, "depth": 1}
    for rec in registry.RECORDS.values():
        spec = nets.spec(rec.name)
        assert [i.blob for i in rec.inputs] == list(spec.inputs), rec.name
        assert all(channels[i.kind] == spec.inputs[i.blob] for i in rec.inputs), rec.name
        reader = data.READERS[rec.test[0]]
        assert all(i.top in reader.all_tops for i in rec.inputs), rec.name


def test_nyud_inputs_route_the_tops_and_means_as_the_reference_did():
    assert nets.record("nyud-fcn32s-color").input_tops == {"data": "color"}
    assert nets.record("nyud-fcn32s-hha").input_tops == {"data": "hha"}
    assert nets.record("nyud-fcn32s-color-d").input_tops == {"color": "color", "depth": "depth"}
    assert nets.record("nyud-fcn32s-color-hha").input_tops == {"color": "color", "hha": "hha"}
    hha = nets.record("nyud-fcn32s-hha").inputs[0]
    assert hha.mean == (132.431, 94.076, 118.477) and hha.kind == "hha"  # stored channel order, no BGR flip
    assert nets.record("nyud-fcn32s-color-d").inputs[1].mean == (7.844,)


def test_each_input_mean_is_the_mean_its_reader_applies():
    """The record names the reader's own constant (data.preprocess defines each mean once): a net fed from a
    reader top gets exactly the mean that reader subtracts."""
    reader_means = {"data": {d: data.MEANS[d] for d in data.MEANS}, "color": {"nyud": data.MEANS["nyud"]},
                    "hha": {"nyud": data.NYUD_HHA_MEAN}, "depth": {"nyud": data.NYUD_LOG_DEPTH_MEAN}}
    for rec in registry.RECORDS.values():
        for i in rec.inputs:
            np.testing.assert_array_equal(np.float32(i.mean), reader_means[i.top][rec.test[0]], err_msg=rec.name)
            np.testing.assert_array_equal(np.float32(i.mean), reader_means[i.top][rec.train[0]], err_msg=rec.name)


def test_the_zoo_listing_the_solver_and_the_tables_are_read_from_the_records():
    rec = dataclasses.replace(nets.record("voc-fcn32s"), published={"seg11valid": 1.0})
    assert zoo.MANIFEST["voc-fcn8s"] is nets.record("voc-fcn8s").weights
    assert set(zoo.UNRELEASED) == {"nyud-fcn32s-color-d", "voc-fcn-googlenet", "nyud-fcn16s-color-hha"}
    assert tables.release("voc-fcn16s").mean_iu == 65.0 and tables.release("voc-fcn16s").split == "seg11valid"
    assert datasets.eval_split("siftflow-fcn16s") == nets.record("siftflow-fcn16s").test
    assert tables.TABLE2.row("FCN-16s").paper == dict(nets.record("voc-fcn16s").paper_row(2).numbers)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.RECORDS, "voc-fcn32s", rec)
        assert tables.check_release("voc-fcn32s", 1.0).passed  # the table check reads the record, not a copy


def test_adding_a_net_is_one_record_plus_its_spec_builder(monkeypatch):
    """The README's recipe: a record with a spec builder makes a net every part of the kit knows."""
    base = nets.record("voc-fcn32s")
    rec = dataclasses.replace(base, name="voc-fcn32s-demo", spec=partial(vgg.fcn, stride=32, classes=5),
                              weights=None, published={}, paper=(), note="a demonstration net")
    monkeypatch.setitem(registry.RECORDS, rec.name, rec)
    spec = nets.spec(rec.name)
    assert spec.name == "voc-fcn32s-demo" and spec.layer("score_fr").num_output == 5
    assert nets.build(rec.name).upscore.weight.shape == (5, 5, 64, 64)
    assert datasets.eval_split(rec.name) == ("voc", "seg11valid")
    assert "make weights NET=vgg16" in zoo.init_command(rec.name)


# Each table's rows as the paper prints them (v2 numbering), the releases it has no row for last; typed here.
PAPER_ORDER = {
    1: ["FCN-AlexNet", "FCN-VGG16", "FCN-GoogLeNet"],
    2: ["FCN-32s-fixed", "FCN-32s", "FCN-16s", "FCN-8s", "FCN-8s at-once (PAMI)"],
    3: ["R-CNN", "SDS", "FCN-8s"],
    4: ["Gupta et al.", "FCN-32s RGB", "FCN-32s RGBD", "FCN-32s HHA", "FCN-32s RGB-HHA", "FCN-16s RGB-HHA"],
    5: ["Liu et al.", "Tighe et al. (geometric)", "Tighe et al. 1", "Tighe et al. 2", "Farabet et al. 1",
        "Farabet et al. 2", "Pinheiro et al.", "FCN-16s", "FCN-32s (reference release)",
        "FCN-8s (reference release)"],
    6: ["O2P", "CFM", "FCN-32s", "FCN-16s", "FCN-8s"],
}


def test_paper_rows_of_every_table_come_out_in_the_papers_order_each_once():
    for number, order in PAPER_ORDER.items():
        assert [r.method for r in tables.TABLES[number].rows] == order, number
    for t in tables.TABLES.values():
        # Each row has one source: a net record's paper row or the table's own (a duplicate would be merged away).
        sources = [r.method for r in t.others] + [p.method for rec in registry.RECORDS.values() for p in rec.paper
                                                  if p.table == t.number]
        assert sorted(sources) == sorted(t.order), t.number
    assert tables.TABLE2.row("FCN-32s-fixed").status == "not released"  # a training variant, never released


def test_a_table_whose_order_misses_a_row_of_the_records_is_an_error():
    short = dataclasses.replace(tables.TABLE2, order=tables.TABLE2.order[:-1])
    with pytest.raises(ValueError, match="Table 2: rows .* do not match its order"):
        _ = short.rows


def test_an_unknown_net_is_an_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="unknown net 'voc-fcn4s'.*voc-fcn32s"):
        nets.record("voc-fcn4s")
