"""The prototxt auditor (python -m reproduce.audit --prototxt / --reference-repo) on files in the reference's layout
WRITTEN FROM THE KIT'S OWN SPECS (tests/reference_tree.py), never the reference's own files.

So these tests cannot see a difference between the kit and the reference: an unchanged tree auditing clean is a
round trip (the kit's writer, then the auditor's reader and comparison), not evidence that the reference's
prototxts match. What makes them useful is the mutation cases: a deliberate change to one field of one layer
must be reported by layer, field, both values and line, and Caffe's defaults spelled as the reference spells
them must not be. Auditing a real checkout is ``.venv/bin/python -m reproduce.audit --reference-repo DIR``."""

from __future__ import annotations

import shutil

import pytest
import reference_tree

from nets.registry import REFERENCE_NAMES
from reproduce.audit import geometry as audit
from reproduce.audit import prototxt as prototxt_audit


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The fifteen nets' files in the reference's layout, written from the kit's specs, unchanged."""
    return reference_tree.write_reference_tree(tmp_path_factory.mktemp("reference"))


def _copy(tree, tmp_path, net):
    shutil.copytree(tree / net, tmp_path / net)
    return tmp_path / net


def test_a_tree_written_from_the_kits_own_specs_audits_clean_for_all_fifteen_nets(tree, capsys):
    """A round trip, not a reference check: the files come from the kit's specs."""
    assert audit.main(["--reference-repo", str(tree)]) == 0
    out = capsys.readouterr().out
    for net in REFERENCE_NAMES:
        for file in prototxt_audit.reference_files(net):
            assert any(line.startswith(f"{net}/{file} ") and " ok " in line for line in out.splitlines()), \
                f"no ok line for {net}/{file}"
    assert "voc-fcn8s/solver.prototxt" in out and "skipped" in out
    assert "31 net file(s) checked, 0 with a problem" in out


@pytest.mark.parametrize(("net", "file", "old", "new", "layer", "field", "values"), [
    ("voc-fcn16s", "train.prototxt", "crop_param { axis: 2 offset: 5 }", "crop_param { axis: 2 offset: 6 }",
     "score_pool4c", "crop_param.offset", "file 6, kit 5"),
    ("voc-fcn32s", "val.prototxt", "num_output: 128 pad: 1", "num_output: 128 pad: 0", "conv2_1",
     "convolution_param.pad", "file 0, kit 1"),
    ("voc-fcn8s", "train.prototxt", 'top: "upscore8"\n  param { lr_mult: 0', 'top: "upscore8"\n  param { lr_mult: 1',
     "upscore8", "param[0].lr_mult", "file 1, kit 0"),
    ("siftflow-fcn8s", "test.prototxt", "ignore_label: 255", "ignore_label: 0", "loss", "loss_param.ignore_label",
     "file 0, kit 255"),
])
def test_a_deliberate_change_is_reported_by_layer_and_field(tree, tmp_path, capsys, net, file, old, new, layer,
                                                            field, values):
    path = _copy(tree, tmp_path, net) / file
    reference_tree.edit(path, old, new)
    found = prototxt_audit.audit_file(path, net).differences
    assert [(d.layer, d.field) for d in found] == [(layer, field)]
    assert str(found[0]).startswith(f"layer {layer!r}: {field}: {values} (line ")
    line = found[0].line
    assert new.split("\n")[-1].strip() in path.read_text().splitlines()[line - 1] or new in path.read_text()
    assert audit.main(["--prototxt", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"--net not given: comparing with {net} (the folder is named {net})" in out
    assert f"{field}: {values}  (line {line})" in out and "1 difference(s)" in out


def test_the_reference_repo_audit_names_each_changed_file(tree, tmp_path, capsys):
    for net in REFERENCE_NAMES:
        _copy(tree, tmp_path, net)
    reference_tree.edit(tmp_path / "voc-fcn16s" / "val.prototxt", "offset: 27", "offset: 28")
    (tmp_path / "nyud-fcn32s-hha" / "test.prototxt").unlink()
    assert audit.main(["--reference-repo", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(x.startswith("voc-fcn16s/val.prototxt ") and "DIFFERS" in x and "'score': crop_param.offset: file 28,"
               " kit 27" in x for x in out)
    assert any(x.startswith("nyud-fcn32s-hha/test.prototxt ") and "MISSING" in x for x in out)
    assert out[-1] == "reference release audit: 31 net file(s) checked, 2 with a problem"


def test_the_reference_spelling_of_caffe_defaults_is_equivalent(tree, tmp_path):
    """The reference writes `param { lr_mult: 0 }` for the upsamplers, no pad in pooling and no stride in
    score_fr; the kit's writer spells every default out. Both read as the same net."""
    path = _copy(tree, tmp_path, "voc-fcn8s-atonce") / "train.prototxt"
    text = path.read_text().replace("param { lr_mult: 0 decay_mult: 1 }", "param { lr_mult: 0 }")
    text = text.replace(" pad: 0 }", " }").replace("num_output: 21 pad: 0 kernel_size: 1 stride: 1",
                                                   "num_output: 21 kernel_size: 1")
    assert text != path.read_text()
    path.write_text(text)
    assert prototxt_audit.audit_file(path, "voc-fcn8s-atonce").equivalent


def test_a_deploy_file_may_leave_dropout_out_but_a_training_file_may_not(tree, tmp_path):
    deploy = prototxt_audit.audit_file(tree / "voc-fcn8s" / "deploy.prototxt", "voc-fcn8s")
    assert deploy.equivalent and deploy.role == "deploy"
    assert "drop6, drop7 absent (Dropout is the identity at test time" in deploy.notes[0]
    path = _copy(tree, tmp_path, "voc-fcn32s") / "train.prototxt"
    text = path.read_text()
    start = text.index('layer {\n  name: "drop6"')
    path.write_text(text[:start] + text[text.index("layer {", start + 1):])
    found = prototxt_audit.audit_file(path, "voc-fcn32s").differences
    assert [(d.layer, d.field, d.file) for d in found] == [("drop6", "layer", "(absent)")]


def test_a_data_layer_feeding_the_wrong_reader_top_is_reported(tree, tmp_path):
    path = _copy(tree, tmp_path, "nyud-fcn32s-hha") / "trainval.prototxt"
    reference_tree.edit(path, r"[\'hha\', \'label\']", r"[\'color\', \'label\']")
    (d,) = prototxt_audit.audit_file(path, "nyud-fcn32s-hha").differences
    assert (d.layer, d.field, d.file, d.line) == ("data", "python_param.param_str tops[0]", "'color'", 9)
    assert d.kit.startswith("'hha'")


def test_a_changed_mean_and_loss_normalisation_are_reported(tree, tmp_path):
    path = _copy(tree, tmp_path, "voc-fcn32s") / "val.prototxt"
    reference_tree.edit(path, "104.00699", "104.0")
    reference_tree.edit(path, "normalize: false", "normalize: true")
    found = {(d.layer, d.field): (d.file, d.kit) for d in prototxt_audit.audit_file(path, "voc-fcn32s").differences}
    assert found[("data", "python_param.param_str mean")][1] == "(104.00699, 116.66877, 122.67892)"
    assert found[("loss", "loss_param.normalize")] == ("true (VALID)", "false (BATCH_SIZE)")


def test_a_renamed_layer_is_a_name_difference_and_an_unknown_type_is_a_difference(tree, tmp_path):
    path = _copy(tree, tmp_path, "voc-fcn32s") / "train.prototxt"
    reference_tree.edit(path, 'name: "score_fr"', 'name: "cls"')
    reference_tree.edit(path, 'type: "ReLU"', 'type: "PReLU"')
    found = [(d.layer, d.field, d.file, d.kit) for d in prototxt_audit.audit_file(path, "voc-fcn32s").differences]
    assert found == [("relu1_1", "type", "PReLU", "ReLU"), ("cls", "name", "cls", "score_fr")]


def test_without_net_the_closest_net_is_guessed_and_printed(tree, tmp_path, capsys):
    path = tmp_path / "mine.prototxt"
    shutil.copy(tree / "pascalcontext-fcn16s" / "val.prototxt", path)
    assert prototxt_audit.guess_net(path)[0] == "pascalcontext-fcn16s"
    assert audit.main(["--prototxt", str(path)]) == 0
    out = capsys.readouterr().out
    assert "--net not given: comparing with pascalcontext-fcn16s (the closest of the kit's nets (0 difference(s)))" \
        in out and "equivalent to the kit's pascalcontext-fcn16s" in out


def test_an_explicit_net_is_compared_even_when_it_is_the_wrong_one(tree, capsys):
    assert audit.main(["--prototxt", str(tree / "voc-fcn32s" / "train.prototxt"), "--net", "voc-fcn16s"]) == 1
    out = capsys.readouterr().out
    assert "--net not given" not in out and "10 difference(s) from the kit's voc-fcn16s" in out
    assert "name: file upscore, kit upscore2" in out  # the one upsampler, paired with the kit's first
    assert "layer: file (absent), kit Crop(score_pool4, upscore2)" in out
    assert "crop_param.offset: file 19, kit 27" in out


def test_syntax_errors_exit_2_with_the_line_and_column(tmp_path, capsys):
    path = tmp_path / "bad.prototxt"
    path.write_text('layer {\n  name: "x"\n  type "ReLU"\n}\n')
    assert audit.main(["--prototxt", str(path), "--net", "voc-fcn32s"]) == 2
    assert f"error: {path}:3:8: expected ':' or '{{' after the field name 'type'" in capsys.readouterr().err


def test_options_that_do_not_go_together_are_refused(tree, capsys):
    with pytest.raises(SystemExit):
        audit.main(["--net", "voc-fcn8s"])
    assert "--net goes with --prototxt FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        audit.main(["voc-fcn8s", "--prototxt", str(tree / "voc-fcn8s" / "val.prototxt")])
