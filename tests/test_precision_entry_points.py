"""The precision policy at every entry point: --precision on reproduce.evaluate, infer, train and the table
scripts (exact by default), ``nets.build(precision=...)``; an unknown mode or one the device cannot run is one
clear error naming the modes; records say which mode and why; a fast-mode evaluation carries its measured
agreement with exact on the same images, also summed over shards, and a table verdict made in it says so.

Two test-only modes stand in for the fast modes this CPU may not offer: ``TWIN`` does exact's arithmetic but is
not called exact (its agreement must be perfect: 100% argmax, error 0, mean-IU delta 0), and ``EMULATED_BF16``
runs the trunk in bfloat16 through autocast's CPU kernels (slow, but the arithmetic of bf16 on any CPU), which
must disagree measurably: a relative score error above 1e-4 (bfloat16 keeps 8 bits of mantissa: its
rounding alone is ~2e-3 relative) and below bf16's agreement threshold of tests/test_precision.py (3e-2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch

import data
import nets
import weights
from data import miniature
from nets import precision as P
from reproduce import evaluate, infer, options, runner, train
from reproduce.distributed import World
from reproduce.tables import TABLE2
from tiny_nets import TRAIN_SOLVER, scoring_net, training_net

MODES_LINE = "the modes are exact, tf32, bf16, fp16"
BF16_MAX_ERROR = 3e-2  # tests/test_precision.py's THRESHOLDS["bf16"]
BF16_MIN_ERROR = 1e-4


@dataclasses.dataclass(frozen=True)
class _Twin(P.Precision):
    """Exact's arithmetic (no autocast, TF32 off) under another name: a fast mode that must agree perfectly."""

    @property
    def exact(self) -> bool:
        return False


TWIN = _Twin("twin", "test only: exact's arithmetic under another name", None, False, ("cpu",))
EMULATED_BF16 = P.Precision("bf16-emulated", "test only: bf16 emulated on a CPU", torch.bfloat16, False, ("cpu",))


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    """VOC2011 with a 5-image val split (images of different sizes; 5 does not divide between 3 shards)."""
    voc = miniature.voc_ids(7)
    return miniature.build_voc(tmp_path_factory.mktemp("voc") / "VOC2011", splits={"train": voc[:2], "val": voc[2:]},
                               seed=21)


@pytest.fixture(scope="module")
def reader(voc_root):
    return data.load("voc", "val", voc_root, expect_split=None)


def _common(argv: list[str]) -> argparse.Namespace:
    return options.add_common(argparse.ArgumentParser()).parse_args(argv)


# ---- the option ---------------------------------------------------------------------------------------------


def test_every_command_runs_exact_unless_asked():
    parsed = {"evaluate": evaluate.parse_args(["voc-fcn8s"]), "train": train.parse_args(["voc-fcn8s"]),
              "infer": infer.build_parser().parse_args(["voc-fcn8s", "--weights", "w.h5", "a.jpg", "-o", "out"]),
              "tables": runner.parser(TABLE2, "doc").parse_args([])}  # every tableN runs runner.parser
    assert {name: args.precision for name, args in parsed.items()} == dict.fromkeys(parsed, "exact")
    assert nets.build("voc-fcn-alexnet").precision is P.EXACT


# Every command that takes --precision, with the arguments it needs to reach it.
COMMANDS = {
    "evaluate": (evaluate.main, ["voc-fcn8s"]),
    "infer": (infer.main, ["voc-fcn8s", "--weights", "w.h5", "a.jpg", "-o", "out"]),
    "train": (train.main, ["voc-fcn8s"]),
    **{f"table{n}": (__import__(f"reproduce.table{n}", fromlist=["main"]).main, []) for n in range(1, 7)},
}


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_precision_is_one_clear_error_naming_the_modes(command, capsys):
    main, argv = COMMANDS[command]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--precision", "fp8"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --precision: unknown precision 'fp8'; {MODES_LINE}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("mode", ["fp16", "tf32"])
def test_a_cuda_mode_on_the_cpu_stops_the_run_in_one_line_naming_the_modes_it_can(mode, capsys):
    with pytest.raises(SystemExit) as stopped:
        options.start(_common(["--device", "cpu", "--precision", mode]))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: --precision {mode}: precision '{mode}' cannot run on cpu")
    assert err.endswith("Modes this device can run: " + ", ".join(P.available("cpu")))


@pytest.mark.parametrize("native", [False, True], ids=["cpu-without-bf16", "cpu-with-bf16"])
def test_bf16_runs_only_on_a_cpu_with_native_bf16(native, monkeypatch, capsys):
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: native)
    args = _common(["--device", "cpu", "--precision", "bf16"])
    if native:
        _, device = options.start(args)
        net = scoring_net()
        assert options.set_precision(net, args, device) is P.MODES["bf16"] and net.precision.name == "bf16"
        return
    with pytest.raises(SystemExit):
        options.start(args)
    err = capsys.readouterr().err
    assert "no native bf16 instructions" in err and err.strip().endswith("Modes this device can run: exact")


def test_evaluate_in_a_mode_the_device_cannot_run_writes_nothing(voc_root, tmp_path, monkeypatch, capsys):
    weights_file = weights.save(scoring_net(), tmp_path / "tiny.h5")
    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["voc-fcn32s", "--weights", str(weights_file), "--dataset", "voc", "--split", "val",
                       "--data-root", str(voc_root.parent), "--device", "cpu", "--precision", "fp16",
                       "--json", str(tmp_path / "rec.json")])
    assert stopped.value.code == 2 and not (tmp_path / "rec.json").exists()
    assert "Modes this device can run: exact" in capsys.readouterr().err


def test_nets_build_takes_the_mode_and_a_move_keeps_no_mode_the_device_cannot_run():
    with pytest.raises(P.UnsupportedPrecision, match="'fp16' cannot run on cpu .*Modes this device can run: exact"):
        nets.build("voc-fcn-alexnet", precision="fp16")
    with pytest.raises(P.UnsupportedPrecision, match=f"unknown precision 'half'; {MODES_LINE}"):
        nets.build("voc-fcn-alexnet", precision="half")
    net = scoring_net()
    net.precision = TWIN  # a mode of the CPU only
    with pytest.raises(P.UnsupportedPrecision, match="cannot run on meta.*before moving the net"):
        net.to("meta")


# ---- records ------------------------------------------------------------------------------------------------


def test_an_exact_evaluation_record_says_exact_and_why(voc_root, tmp_path, monkeypatch):
    weights_file = weights.save(scoring_net(), tmp_path / "tiny.h5")
    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    assert evaluate.main(["voc-fcn32s", "--weights", str(weights_file), "--dataset", "voc", "--split", "val",
                          "--data-root", str(voc_root.parent), "--json", str(tmp_path / "rec.json")]) == 0
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["precision"] == "exact" and rec["precision_reason"] == P.EXACT.description
    assert "TF32 off" in rec["precision_reason"] and "agreement" not in rec


def _fast(reader, mode, world=None):
    net = scoring_net("voc-fcn8s")
    net.precision = mode
    return net, evaluate.evaluate_reader(net, reader, torch.device("cpu"), progress=False, world=world)


def test_a_fast_mode_with_exact_arithmetic_agrees_perfectly_with_exact(reader):
    net, ev = _fast(reader, TWIN)
    assert net.precision is TWIN  # the exact runs left the net's mode as it was
    rec = evaluate.counts_record(ev)
    assert rec["precision"] == "twin" and rec["precision_reason"] == TWIN.description
    a = rec["agreement"]
    assert a["images"] == len(reader) and a["pixels"] == sum(reader[i]["label"].size for i in range(len(reader)))
    assert a["argmax_agreement_percent"] == 100.0 and a["max_rel_score_error"] == 0.0 and a["mean_iu_delta"] == 0.0
    assert a["exact_confusion_matrices"]["score"] == rec["scores"]["score"]["confusion_matrix"]


def test_a_fast_mode_evaluation_carries_its_measured_agreement_with_exact(reader):
    net, ev = _fast(reader, EMULATED_BF16)
    a = ev.agreement.record(ev)
    assert a["precision"] == "bf16-emulated" and a["images"] == len(reader)
    assert 0.0 <= a["argmax_agreement_percent"] <= 100.0
    assert BF16_MIN_ERROR < a["max_rel_score_error"] < BF16_MAX_ERROR
    # The same numbers as the library's own measure on the same images (nets.precision.agreement).
    inputs = [torch.from_numpy(reader[i]["data"])[None] for i in range(len(reader))]
    labels = [torch.from_numpy(reader[i]["label"].astype(np.int64)) for i in range(len(reader))]
    ref = P.agreement(net, EMULATED_BF16, inputs, labels, 21)
    assert a["argmax_agreement_percent"] == pytest.approx(ref.argmax_percent, abs=1e-9)
    assert a["max_rel_score_error"] == pytest.approx(ref.max_rel_error, rel=1e-6)
    assert a["mean_iu_delta"] == pytest.approx(ref.mean_iu_delta, abs=1e-9)
    # exact's matrix is the exact evaluation's
    exact = evaluate.evaluate_reader(scoring_net("voc-fcn8s"), reader, torch.device("cpu"), progress=False)
    np.testing.assert_array_equal(ev.agreement.exact_hists["score"], exact.hists["score"])
    assert a["mean_iu_delta"] == pytest.approx(100 * (ev.summary()["mean_iu"] - exact.summary()["mean_iu"]))
    assert "measured in bf16-emulated: argmax agreement" in evaluate.format_scores(ev)


def test_the_agreement_of_shards_merges_into_the_whole_splits(reader, tmp_path):
    """3 shards (2, 2, 1 images): pixel counts and exact's matrices add up, the error is the maximum; a
    record read back merges the same, and shards of different modes do not merge."""
    _, whole = _fast(reader, EMULATED_BF16)
    parts = [_fast(reader, EMULATED_BF16, World(r, 3))[1] for r in range(3)]
    back = [evaluate.from_record(json.loads(json.dumps(evaluate.counts_record(p)))) for p in parts]
    for merged in (evaluate.merge(parts), evaluate.merge(back)):
        assert merged.precision == "bf16-emulated"
        m, w = merged.agreement, whole.agreement
        assert (m.images, m.same, m.pixels, m.max_rel_error) == (w.images, w.same, w.pixels, w.max_rel_error)
        np.testing.assert_array_equal(m.exact_hists["score"], w.exact_hists["score"])
        assert m.record(merged)["mean_iu_delta"] == w.record(whole)["mean_iu_delta"]
    exact_part = evaluate.evaluate_reader(scoring_net("voc-fcn8s"), reader, torch.device("cpu"), progress=False,
                                          world=World(0, 3))
    with pytest.raises(ValueError, match="in precision bf16-emulated and exact"):
        evaluate.merge([parts[1], exact_part])


def test_a_table_verdict_in_a_fast_mode_says_so_with_its_agreement(reader):
    _, ev = _fast(reader, EMULATED_BF16)
    args = argparse.Namespace(smoke=False, limit=None, retrained=False, weights=[], nets=None, precision="bf16")
    ctx = runner.Context(TABLE2, args)
    row = TABLE2.row("FCN-8s")
    ctx.evaluations[row.key] = ev
    o = runner.Outcome(row.method, row.status, row.net, dict(row.paper), {"mean_iu": 65.5})
    runner.judge(ctx, row, o)
    assert o.verdict.startswith("PASS (measured in bf16-emulated: argmax agreement ")
    assert "mean IU delta" in o.verdict and o.verdict.endswith("not a reproduction at exact precision)")
    assert "FAST MODE" in runner.precision_line(ctx)
    exact_ctx = runner.Context(TABLE2, argparse.Namespace(**{**vars(args), "precision": "exact"}))
    o2 = runner.Outcome(row.method, row.status, row.net, dict(row.paper), {"mean_iu": 65.5})
    runner.judge(exact_ctx, row, o2)
    assert o2.verdict == "PASS"


def test_the_evaluations_cache_keeps_exact_and_fast_modes_apart():
    key = runner._cache_key("voc-fcn8s", "voc", "seg11valid", "sha", "md5", None, torch.device("cpu"), 1)
    fast = runner._cache_key("voc-fcn8s", "voc", "seg11valid", "sha", "md5", None, torch.device("cpu"), 1, "bf16")
    assert key["precision"] == "exact" and fast != key


# ---- training -----------------------------------------------------------------------------------------------


def _trainer(reader, mode) -> train.Trainer:
    net = training_net(name="voc-fcn32s", classes=21)
    net.precision = mode
    return train.Trainer(net, TRAIN_SOLVER, reader, torch.device("cpu"), {"data": "data"}, {"score": "label"})


def test_training_in_a_fast_mode_autocasts_the_trunk_keeps_the_loss_float32_and_snapshots_say_it(reader, tmp_path):
    exact, fast = _trainer(reader, P.EXACT), _trainer(reader, EMULATED_BF16)
    seen = []
    fast.net.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    loss_exact, loss_fast = exact.step(), fast.step()
    assert seen and all(d == torch.bfloat16 for d in seen)  # the trunk's convolution ran in bf16
    assert np.isfinite(loss_fast) and loss_fast != loss_exact
    assert abs(loss_fast - loss_exact) / abs(loss_exact) < BF16_MAX_ERROR
    assert all(p.dtype == torch.float32 for p in fast.net.parameters())  # float32 master weights
    state = fast.snapshot(tmp_path)
    with h5py.File(state) as f:
        assert f.attrs["precision"] == "bf16-emulated"
    with h5py.File(tmp_path / state.name.replace(".solverstate", "")) as f:
        assert f.attrs["precision"] == "bf16-emulated"
    with h5py.File(exact.snapshot(tmp_path / "exact")) as f:
        assert f.attrs["precision"] == "exact"
    other = _trainer(reader, P.EXACT)
    with pytest.raises(ValueError, match="trained in precision bf16-emulated.*resume with --precision bf16-emulated"):
        other.restore(state)


@pytest.mark.parametrize("options", [{"smoke": True}, {"limit": 2}])
def test_a_fast_mode_row_that_is_not_judged_still_gives_its_agreement_with_exact(reader, options):
    """The header of a fast mode's table promises each scored row's agreement: smoke and --limit rows too."""
    _, ev = _fast(reader, EMULATED_BF16)
    args = argparse.Namespace(**{"smoke": False, "limit": None, "retrained": False, "weights": [], "nets": None,
                                 "precision": "bf16", **options})
    ctx = runner.Context(TABLE2, args)
    row = TABLE2.row("FCN-8s")
    ctx.evaluations[row.key] = ev
    o = runner.Outcome(row.method, row.status, row.net, dict(row.paper), {"mean_iu": 12.0})
    runner.judge(ctx, row, o)
    assert "not judged (measured in bf16-emulated: argmax agreement " in o.verdict
    assert "each row scored gives its agreement with exact" in runner.precision_line(ctx)
    del ctx.evaluations[row.key]  # a row whose agreement was not measured says that, not nothing
    runner.judge(ctx, row, o)
    assert "(measured in bf16, its agreement with exact not measured; not a reproduction" in o.verdict
