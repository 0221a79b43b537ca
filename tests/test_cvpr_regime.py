"""The CVPR 2015 regime as recipes of the net records, and FCN-32s-fixed (CVPR Table 2's first row) as a training
variant of voc-fcn32s: everything but score_fr frozen at lr_mult 0, trained, and judged against its row."""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest
import torch

import nets
from nets import registry
from nets.prototxt import deploy_prototxt
from nets.solver import recipe_multipliers
from reproduce import runner, train
from reproduce.tables import TABLE2
from tiny_nets import narrow_net

VGG16_TRUNK = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2",
               "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7")


# ---- the regime ---------------------------------------------------------------------------------------------


def test_every_voc_nyud_and_siftflow_record_has_the_cvpr_recipe_minibatch_20_momentum_0_9_normalised():
    rates = {"caffenet": 1e-3, "vgg16": 1e-4, "googlenet": 5e-5}
    covered = [r for r in registry.RECORDS.values() if r.test[0] in ("voc", "nyud", "siftflow")]
    assert len(covered) == 14
    for rec in covered:
        cvpr = rec.recipe("cvpr")
        assert (cvpr.iter_size, cvpr.momentum, cvpr.normalize, cvpr.weight_decay, cvpr.double_bias_lr) == (
            20, 0.9, True, 5e-4, True), rec.name
        assert cvpr.base_lr == rates[rec.classifier], rec.name
        # It starts where the reference solver starts, for as long (the paper gives no iteration count).
        assert (cvpr.init, cvpr.max_iter) == (rec.solver.init, rec.solver.max_iter), rec.name
        assert "5e-4 of the paper's two (5e-4, 2e-4)" in cvpr.note
    assert train.cvpr_solver(nets.record("voc-fcn8s")) is nets.record("voc-fcn8s").recipes["cvpr"]


def test_fcn_googlenet_trains_in_the_cvpr_regime_only():
    import dataclasses

    rec = nets.record("voc-fcn-googlenet")
    assert rec.solver.base_lr == 5e-5 and rec.solver == dataclasses.replace(rec.recipe("cvpr"), note=rec.solver.note)


def test_the_cvpr_regime_refuses_pascalcontext_saying_why():
    for name in ("pascalcontext-fcn32s", "pascalcontext-fcn16s", "pascalcontext-fcn8s"):
        with pytest.raises(KeyError, match="PASCAL-Context rows .* do not say how they were trained"):
            nets.record(name).recipe("cvpr")
        with pytest.raises(train.BatchError, match="--regime reference"):
            train.training_solver(nets.record(name), "cvpr")


def test_the_cvpr_regime_doubles_fcn_alexnets_trunk_bias_rate_and_changes_nothing_for_vgg16():
    """The paper doubles the biases' learning rate; the VGG16 nets have lr_mult 2 on biases already, FCN-AlexNet's
    trunk keeps Caffe's default 1 in its reference prototxt (its --regime reference)."""
    alex = nets.build("voc-fcn-alexnet")
    ref = recipe_multipliers(alex, nets.record("voc-fcn-alexnet").solver)
    cvpr = recipe_multipliers(alex, nets.record("voc-fcn-alexnet").recipe("cvpr"))
    for layer in ("conv1", "conv5", "fc7"):
        assert ref[f"{layer}.bias"] == (1.0, 1.0) and cvpr[f"{layer}.bias"] == (2.0, 1.0)
        assert ref[f"{layer}.weight"] == cvpr[f"{layer}.weight"] == (1.0, 1.0)
    assert ref["score_fr.bias"] == cvpr["score_fr.bias"] == (2.0, 0.0)
    vgg = narrow_net("voc-fcn8s")
    assert recipe_multipliers(vgg, nets.record("voc-fcn8s").solver) == recipe_multipliers(
        vgg, nets.record("voc-fcn8s").recipe("cvpr"))
    # A frozen layer stays frozen under the doubling.
    fixed = recipe_multipliers(narrow_net("voc-fcn32s", "fixed"), nets.record("voc-fcn32s").recipe("cvpr"))
    assert fixed["conv1_1.bias"] == (0.0, 0.0) and fixed["score_fr.bias"] == (2.0, 0.0)


# ---- FCN-32s-fixed ------------------------------------------------------------------------------------------


def test_fcn32s_fixed_sets_lr_mult_0_on_every_layer_but_score_fr_and_trains_in_the_cvpr_regime():
    variant = nets.record("voc-fcn32s").variant("fixed")
    assert variant.trained == ("score_fr",) and variant.regime == "cvpr"
    spec = nets.spec("voc-fcn32s", "fixed")
    convs = {x.name: x.param for x in spec.layers if x.type == "Convolution"}
    assert convs == {**{name: ((0.0, 1.0), (0.0, 0.0)) for name in VGG16_TRUNK}, "score_fr": ((1.0, 1.0), (2.0, 0.0))}
    # The same layers, blobs and crop as voc-fcn32s: released or trained voc-fcn32s weights load into it.
    plain = nets.spec("voc-fcn32s")
    assert [(x.name, x.type, x.bottom) for x in spec.layers] == [(x.name, x.type, x.bottom) for x in plain.layers]
    assert spec.param_shapes() == plain.param_shapes()
    text = deploy_prototxt(spec, 40, 50)
    # 15 trunk weights and the upscore (frozen in every net), 15 trunk biases; score_fr keeps 1 / 2.
    assert text.count("param { lr_mult: 0 decay_mult: 1 }") == 16
    assert text.count("param { lr_mult: 0 decay_mult: 0 }") == 15
    assert text.count("param { lr_mult: 2 decay_mult: 0 }") == 1
    net = nets.build("voc-fcn32s", "fixed")
    assert [k for k, p in net.named_parameters() if p.requires_grad] == ["score_fr.weight", "score_fr.bias"]
    row = TABLE2.row("FCN-32s-fixed")
    assert (row.net, row.variant, row.key, row.paper["mean_iu"]) == ("voc-fcn32s", "fixed", "voc-fcn32s:fixed", 45.4)


def test_an_unknown_variant_is_an_error_naming_the_variants():
    with pytest.raises(KeyError, match="voc-fcn16s has no training variant 'fixed'; its variants: none"):
        nets.spec("voc-fcn16s", "fixed")
    with pytest.raises(KeyError, match="its variants: fixed"):
        nets.record("voc-fcn32s").variant("frozen")


def _voc_reader(n: int = 3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    return [{"data": rng.normal(0, 40, (3, 14, 12)).astype(np.float32),
             "label": rng.integers(0, 21, (14, 12)).astype(np.uint8)} for _ in range(n)]


def test_sgd_steps_of_the_fixed_variant_leave_every_frozen_weight_bit_identical_and_move_score_fr():
    """Caffe's update with lr_mult 0: V = momentum * V + 0 * (grad + decay * W) stays 0, so W - V is W bit for bit,
    weight decay (decay_mult 1) included. No gradient reaches the frozen layers at all, as Caffe skips their
    backward pass. (CVPR recipe at an effective batch of 2 instead of 20, for speed.)"""
    import dataclasses

    net = narrow_net("voc-fcn32s", "fixed", seed=4)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    setting = dataclasses.replace(nets.record("voc-fcn32s").recipe("cvpr"), base_lr=1e-2, iter_size=2)
    trainer = train.Trainer(net, setting, _voc_reader(), torch.device("cpu"), {"data": "data"}, {"score": "label"},
                            variant="fixed")
    for _ in range(3):
        trainer.step()
        assert all(p.grad is None for k, p in net.named_parameters() if not k.startswith("score_fr"))
    after = net.state_dict()
    for key, before in start.items():
        if key.startswith("score_fr"):
            assert not torch.equal(after[key], before), key
        else:
            assert torch.equal(after[key].view(torch.int32), before.view(torch.int32)), key
            if key in trainer.solver.history:
                assert not trainer.solver.history[key].any(), key
    assert trainer.solver.multipliers["conv1_1.weight"] == (0.0, 1.0)  # decay_mult kept: decay had its chance


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    """SBD (training) and VOC2011 (validation) with seg11valid pinned by a list file, pictures 12x14."""
    from data import miniature

    return miniature.build_voc_training(tmp_path_factory.mktemp("data"), 3, 1)


def _blobs(path) -> dict[str, list[np.ndarray]]:
    import weights

    return {x.name: x.blobs for x in weights.read_weights(path).layers}


@pytest.fixture(scope="module")
def fixed_run(voc_root, tmp_path_factory):
    """make train NET=voc-fcn32s VARIANT=fixed on the miniature tree: the CVPR regime as the variant says
    (minibatch 20 as iter_size 20), two iterations, the net narrowed (tests/tiny_nets.py)."""
    import weights

    tmp = tmp_path_factory.mktemp("fixed")
    init = weights.save(narrow_net("voc-fcn32s", seed=2), tmp / "init.h5")
    with pytest.MonkeyPatch.context() as mp, pytest.warns(UserWarning):  # the miniature lists are not the reference's
        mp.setattr(nets, "build", lambda name, variant=None: narrow_net(name, variant))
        printed: list[str] = []
        mp.setattr(train.distributed, "say", lambda *a, **k: printed.append(" ".join(map(str, a))))
        rc = train.main(["voc-fcn32s", "--variant", "fixed", "--init", str(init), "--data-root", str(voc_root),
                         "--iters", "2", "--snapshot-every", "0", "--out", str(tmp / "out")])
    assert rc == 0
    return {"init": init, "out": tmp / "out" / "voc-fcn32s-fixed", "log": "\n".join(printed), "tmp": tmp}


def test_train_command_prints_the_frozen_layers_and_the_trained_one(fixed_run):
    log = fixed_run["log"]
    assert "cvpr regime: base_lr 0.0001, momentum 0.9, iter_size 20 (images per update), normalize True" in log
    assert ("variant fixed: learning: 1 parameter layer(s), score_fr (2,709 parameters); frozen at lr_mult 0: 15 "
            f"layer(s), {', '.join(VGG16_TRUNK)} (") in log
    assert "frozen upsampling/Scale buffers: upscore" in log


def test_train_command_fixed_variant_moves_only_score_fr_and_marks_its_snapshot(fixed_run):
    snapshot = fixed_run["out"] / "voc-fcn32s_iter_2.h5"
    trained, start = _blobs(snapshot), _blobs(fixed_run["init"])
    assert set(trained) == set(start)
    for layer in start:
        same = all(np.array_equal(a.view(np.uint32), b.view(np.uint32))
                   for a, b in zip(trained[layer], start[layer], strict=True))
        assert same == (layer != "score_fr"), layer
    with h5py.File(snapshot, "r") as f:
        assert f.attrs["variant"] == "fixed"
    with h5py.File(snapshot.with_name("voc-fcn32s_iter_2.solverstate.h5"), "r") as f:
        assert f.attrs["variant"] == "fixed"
        assert json.loads(f.attrs["multipliers"])["conv1_1.weight"] == [0.0, 1.0]


def test_resume_refuses_a_snapshot_of_another_variant(fixed_run):
    state = fixed_run["out"] / "voc-fcn32s_iter_2.solverstate.h5"
    plain = train.Trainer(narrow_net("voc-fcn32s"), nets.record("voc-fcn32s").recipe("cvpr"), _voc_reader(),
                          torch.device("cpu"), {"data": "data"}, {"score": "label"})
    with pytest.raises(ValueError, match="trained fixed, this run trains the net itself; resume with the same "
                                         "--variant"):
        plain.restore(state)


def test_table2_judges_fixed_weights_against_the_45_4_row(fixed_run, voc_root, monkeypatch):
    """reproduce.table2 --retrained --weights voc-fcn32s:fixed=FILE evaluates the run's weights and judges them
    against FCN-32s-fixed (45.4 at 1.0); random-ish weights fail it."""
    from reproduce import table2

    monkeypatch.setattr(nets, "build", lambda name, variant=None: narrow_net(name, variant))
    snapshot = fixed_run["out"] / "voc-fcn32s_iter_2.h5"
    out = fixed_run["tmp"] / "records"
    with pytest.warns(UserWarning):
        rc = table2.main(["--retrained", "--weights", f"voc-fcn32s:fixed={snapshot}", "--nets", "voc-fcn32s:fixed",
                          "--data-root", str(voc_root), "--out", str(out), "--no-cache"])
    assert rc == 1  # FAIL: two iterations on three pictures are not the paper's 45.4
    record = json.loads((out / "table2.json").read_text())
    rows = {r["method"]: r for r in record["rows"]}
    fixed = rows["FCN-32s-fixed"]
    assert fixed["verdict"] == "FAIL" and fixed["checks"][0]["target"] == 45.4
    assert fixed["checks"][0]["tolerance"] == 1.0 and 0 <= fixed["ours"]["mean_iu"] <= 100
    assert "mean_iu" not in rows["FCN-32s"]["ours"]  # the plain FCN-32s row was not run
    assert record["provenance"]["voc-fcn32s:fixed"]["weights"] == str(snapshot)


def test_table2_refuses_fixed_weights_given_as_fcn32s_and_the_other_way_round(fixed_run, tmp_path):
    import weights

    fixed = fixed_run["out"] / "voc-fcn32s_iter_2.h5"
    with pytest.raises(SystemExit, match="trained as variant 'fixed' of voc-fcn32s; pass --weights "
                                         "voc-fcn32s:fixed="):
        runner.check_variant("voc-fcn32s", fixed)
    plain = weights.save(narrow_net("voc-fcn32s"), tmp_path / "plain.h5")
    with pytest.raises(SystemExit, match=r"the net itself \(no variant\) of voc-fcn32s; pass --weights voc-fcn32s="):
        runner.check_variant("voc-fcn32s:fixed", plain)
    runner.check_variant("voc-fcn32s:fixed", fixed)  # the right row: no error
    ctx = runner.Context(TABLE2, argparse.Namespace(nets=None, weights=["voc-fcn32s:frozen=x.h5"]))
    with pytest.raises(SystemExit, match=r"--weights \['voc-fcn32s:frozen'\] name no row of Table 2"):
        runner.evaluated_rows(ctx)


def test_table2_lists_fcn32s_fixed_with_the_commands_that_make_train_and_judge_it():
    how = runner.how_to_run(TABLE2, TABLE2.row("FCN-32s-fixed"))
    assert how[0].startswith("starting weights: make weights NET=vgg16 && ")
    assert "weights.transplant --net voc-fcn32s --out voc-fcn32s-fixed-init.h5" in how[0]
    assert how[1] == "train: make train NET=voc-fcn32s VARIANT=fixed INIT=voc-fcn32s-fixed-init.h5"
    assert how[2].endswith("-m reproduce.table2 --retrained --weights "
                           "voc-fcn32s:fixed=results/train/voc-fcn32s-fixed/voc-fcn32s_iter_100000.h5")
    assert runner.how_to_run(TABLE2, TABLE2.row("FCN-16s")) == ["released weights: make weights NET=voc-fcn16s"]


def test_asking_for_an_unreleased_row_without_its_weights_says_how_to_train_it():
    ctx = runner.Context(TABLE2, argparse.Namespace(nets=["voc-fcn32s:fixed"], weights=[], smoke=False))
    with pytest.raises(SystemExit, match=r"voc-fcn32s:fixed: FCN-32s-fixed was never released, so it runs only on "
                                         r"weights the kit trained, given as --weights voc-fcn32s:fixed=FILE \(train: "
                                         r"make train NET=voc-fcn32s VARIANT=fixed"):
        runner.evaluated_rows(ctx)

