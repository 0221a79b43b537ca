"""reproduce.datasets: where the experiments look for weights and data, and what they say when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from reproduce import datasets


def test_weights_path_follows_the_zoo_folder_rule(tmp_path, monkeypatch):
    """$FCN_WEIGHTS/NET.h5, else ~/.cache/fcn-kit/weights/NET.h5 (where make weights writes), else the folder
    given, ~ expanded."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FCN_WEIGHTS", str(tmp_path / "w"))
    assert datasets.weights_path("voc-fcn8s") == tmp_path / "w" / "voc-fcn8s.h5"
    monkeypatch.delenv("FCN_WEIGHTS")
    assert datasets.weights_path("voc-fcn8s") == tmp_path / "home" / ".cache" / "fcn-kit" / "weights" / "voc-fcn8s.h5"
    assert datasets.weights_path("voc-fcn8s", tmp_path) == tmp_path / "voc-fcn8s.h5"
    assert datasets.weights_path("voc-fcn8s", Path("~/mine")) == tmp_path / "home" / "mine" / "voc-fcn8s.h5"


def test_a_missing_split_names_its_folder_and_the_make_data_target(tmp_path):
    with pytest.raises(datasets.MissingInputs) as e:
        datasets.open_split("voc-fcn8s", "voc", "seg11valid", tmp_path)
    assert "make data DATASET=voc" in str(e.value) and str(tmp_path / "VOC2012") in str(e.value)
    with pytest.raises(datasets.MissingInputs, match="make data DATASET=nyud"):
        datasets.open_split("nyud-fcn32s-hha", "nyud", "test", tmp_path)


def test_seg11valid_and_context_read_their_second_root_under_the_data_root(tmp_path):
    root, options = datasets.reader_options("voc", "seg11valid", Path("D"))
    assert root == Path("D/VOC2012") and options == {"sbd_root": Path("D/sbd")}
    root, options = datasets.reader_options("pascalcontext", "val", Path("D"))
    assert root == Path("D/pascalcontext") and options == {"voc_root": Path("D/VOC2010")}
    assert datasets.reader_options("voc", "val", Path("D")) == (Path("D/VOC2012"), {})
    (tmp_path / "VOC2011").mkdir()  # a VOC2011 folder, where there is one, is read first
    assert datasets.reader_options("voc", "seg11valid", tmp_path)[0] == tmp_path / "VOC2011"
    (tmp_path / "VOC2012").mkdir()  # Context's images from VOC2012 only when VOC2010 is absent
    assert datasets.reader_options("pascalcontext", "val", tmp_path)[1] == {"voc_root": tmp_path / "VOC2012"}
    assert datasets.reader_options("voc", "val", None) == (None, {})


def test_nets_are_scored_on_the_references_test_splits():
    assert datasets.eval_split("voc-fcn8s") == ("voc", "seg11valid")
    assert datasets.eval_split("nyud-fcn32s-color-hha") == ("nyud", "test")
    assert datasets.eval_split("siftflow-fcn16s") == ("siftflow", "test")
    assert datasets.eval_split("pascalcontext-fcn8s") == ("pascalcontext", "val")
    assert datasets.eval_split("voc-fcn8s", "voc", "val") == ("voc", "val")
    assert datasets.present_only("siftflow-fcn16s") == {"score_sem": True}
