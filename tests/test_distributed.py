"""Scaling out on torch.distributed: sharded evaluation and DDP training under torchrun, on this CPU with gloo.

Two torchrun launches of two ranks each (``python -m torch.distributed.run --standalone``: a free port on
localhost) on miniature trees with the tiny nets of tests/tiny_nets.py: one runs evaluate, infer, Table 3's
smoke run and four training runs in one process group; one kills a rank in the middle of a snapshot; a third
(the README's launch form) finds the weights missing. Every result is compared with the same command run here in
one process. Each launch costs about half a minute on a busy 2-core machine (three Python processes import
torch): the tests that launch are in the slow tier (make test-all); the in-process parts run in milliseconds,
in make test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import data
import weights
from data import miniature
from data.files import TEMP_SUFFIX
from reproduce import distributed, evaluate, infer, table3, train
from reproduce.distributed import World
from tiny_nets import scoring_net, training_net, use_emulated_bf16, use_tiny_nets

pytestmark = pytest.mark.distributed

REPO = Path(__file__).resolve().parent.parent
HANG_GUARD_S = 600  # a torchrun launch that runs past this is hung (they take about half a minute)
ITERS = 3


def torchrun(steps: list, folder: Path, nproc: int = 2, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run tests/distributed_entry.py's steps under torchrun with ``nproc`` ranks (gloo, CPU)."""
    folder.mkdir(parents=True, exist_ok=True)
    steps_file = folder / "steps.json"
    steps_file.write_text(json.dumps(steps))
    return _torchrun([str(REPO / "tests" / "distributed_entry.py"), str(steps_file)], folder, nproc, env)


def _torchrun(target: list[str], folder: Path, nproc: int, env: dict | None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "--max-restarts=0", *target]
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True,
                          timeout=HANG_GUARD_S)


def _read(path: Path) -> dict[str, list[np.ndarray]]:
    return {x.name: x.blobs for x in weights.read_weights(path).layers}


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = _read(a), _read(b)
    assert set(wa) == set(wb)
    return max(float(np.abs(x - y).max()) for n in wa for x, y in zip(wa[n], wb[n], strict=True))


def _snapshots(out: Path, it: int) -> Path:
    return out / "voc-fcn32s" / f"voc-fcn32s_iter_{it}.h5"


# ---- the trees, the weights and the commands, shared by the launch and the single-process runs ----------


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """$FCN_DATA-style root: VOC2011 with a 5-image val split (images of different sizes; 5 does not divide
    between 2 ranks), SBD train for training, seg11valid pinned to VOC2011 val; weights; pictures for infer."""
    base = tmp_path_factory.mktemp("dist")
    root = miniature.build_voc_training(base / "data", 7, 2, voc_size=None, seed=21)
    w8 = weights.save(scoring_net("voc-fcn8s"), base / "fcn8s-tiny.h5")
    init = weights.save(training_net(name="voc-fcn32s", classes=21), base / "fcn32s-init.h5")
    pictures = sorted((root / "VOC2011" / "JPEGImages").glob("*.jpg"))[:3]
    return {"base": base, "root": root, "w8": w8, "init": init, "pictures": pictures}


def commands(tree: dict, out: Path) -> dict[str, tuple[str, list[str]]]:
    """Each command's module and arguments, writing under ``out``: the same for torchrun and one process."""
    root, train_common = str(tree["root"]), ["voc-fcn32s", "--data-root", str(tree["root"]), "--snapshot-every",
                                             "1"]
    state = out / "resume" / "voc-fcn32s" / "voc-fcn32s_iter_1.solverstate.h5"
    return {
        "evaluate": ("evaluate", ["voc-fcn8s", "--weights", str(tree["w8"]), "--dataset", "voc", "--split", "val",
                                  "--data-root", root, "--save-png", str(out / "png"),
                                  "--json", str(out / "eval.json")]),
        # A fast mode: every image also runs in exact; the agreement counts are summed over the ranks.
        "evaluate-bf16": ("evaluate", ["voc-fcn8s", "--weights", str(tree["w8"]), "--dataset", "voc", "--split",
                                       "val", "--data-root", root, "--precision", "bf16-emulated",
                                       "--json", str(out / "eval-bf16.json")]),
        "infer": ("infer", ["voc-fcn8s", "--weights", str(tree["w8"]), *map(str, tree["pictures"]),
                            "-o", str(out / "infer")]),
        "table3": ("table3", ["--smoke", "--out", str(out / "tables")]),
        # TRAIN_SOLVER's iter_size 2: 2 ranks x 1 pass, or one process x 2 passes.
        "train": ("train", [*train_common, "--init", str(tree["init"]), "--iters", str(ITERS), "--val-every",
                            str(ITERS), "--out", str(out / "train")]),
        # --batch 4: 2 ranks x 2 passes, or one process x 4 passes (the gradient sums differ in order).
        "train4": ("train", [*train_common, "--init", str(tree["init"]), "--iters", str(ITERS), "--batch", "4",
                             "--out", str(out / "train4")]),
        "first": ("train", [*train_common, "--init", str(tree["init"]), "--iters", "1", "--out",
                            str(out / "resume")]),
        "resume": ("train", [*train_common, "--resume", str(state), "--iters", str(ITERS), "--out",
                             str(out / "resume")]),
    }


@pytest.fixture(scope="module")
def launched(tree):
    """Every command in one torchrun launch of 2 ranks; returns the output folder and the launch's log."""
    out = tree["base"] / "two-ranks"
    steps = [list(cmd) for cmd in commands(tree, out).values()]
    done = torchrun(steps, out)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    return out, log


@pytest.fixture(scope="module")
def single(tree):
    """The same commands in this process (no torchrun, no process group), with torch on one thread as each
    rank runs (torchrun's default OMP_NUM_THREADS=1)."""
    out = tree["base"] / "one-process"
    mp = pytest.MonkeyPatch()
    threads = torch.get_num_threads()
    logs = {}
    try:
        use_tiny_nets(mp.setattr, mp.setitem)
        use_emulated_bf16(mp.setattr, mp.setitem)
        torch.set_num_threads(1)
        import contextlib
        import io
        import warnings

        for name, (module, argv) in commands(tree, out).items():
            if name == "resume":
                continue  # the one-process resume below continues the 2-rank snapshot instead
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
                warnings.simplefilter("ignore", data.SplitMismatchWarning)
                main = {"evaluate": evaluate.main, "infer": infer.main, "table3": table3.main,
                        "train": train.main}[module]
                assert main(argv) == 0, buffer.getvalue()
            logs[name] = buffer.getvalue()
    finally:
        torch.set_num_threads(threads)
        mp.undo()
    assert not distributed.current().distributed
    return out, logs


# ---- evaluation -----------------------------------------------------------------------------------------


@pytest.mark.slow  # a torchrun launch
def test_two_rank_evaluation_has_the_single_process_confusion_matrix_bit_for_bit(launched, single):
    two = json.loads((launched[0] / "eval.json").read_text())
    one = json.loads((single[0] / "eval.json").read_text())
    assert (two["world_size"], two["backend"]) == (2, "gloo")
    assert (one["world_size"], one["backend"]) == (1, "none")
    matrix_two = np.array(two["scores"]["score"]["confusion_matrix"], np.int64)
    matrix_one = np.array(one["scores"]["score"]["confusion_matrix"], np.int64)
    np.testing.assert_array_equal(matrix_two, matrix_one)
    assert matrix_one.sum() > 0
    assert two["images"] == one["images"] == 5 and two["ids"] == one["ids"]  # every image once, in list order
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu"):
        assert two["scores"]["score"][key] == one["scores"]["score"][key]


@pytest.mark.slow  # a torchrun launch
def test_a_two_rank_fast_mode_evaluation_has_the_single_process_agreement_with_exact(launched, single):
    """Pixel counts and exact's confusion matrices summed over the ranks, the largest error the maximum: the
    record's agreement is the single process's, exactly."""
    two = json.loads((launched[0] / "eval-bf16.json").read_text())
    one = json.loads((single[0] / "eval-bf16.json").read_text())
    assert two["precision"] == one["precision"] == "bf16-emulated" and two["world_size"] == 2
    assert two["agreement"]["images"] == 5 and two["agreement"]["pixels"] > 0
    assert two["agreement"] == one["agreement"]
    assert two["scores"]["score"]["confusion_matrix"] == one["scores"]["score"]["confusion_matrix"]
    exact = json.loads((single[0] / "eval.json").read_text())
    assert two["agreement"]["exact_confusion_matrices"]["score"] == exact["scores"]["score"]["confusion_matrix"]


@pytest.mark.slow  # a torchrun launch
def test_two_rank_evaluation_writes_the_single_process_pngs_byte_for_byte(launched, single):
    two = sorted((launched[0] / "png").glob("*.png"))
    one = sorted((single[0] / "png").glob("*.png"))
    assert [p.name for p in two] == [p.name for p in one] and len(one) == 5
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(two, one, strict=True))
    assert not list((launched[0] / "png").glob(f"*{TEMP_SUFFIX}"))


@pytest.mark.slow  # a torchrun launch
def test_two_rank_infer_writes_the_same_files_and_prints_them_in_list_order(launched, single, tree):
    two, one = launched[0] / "infer", single[0] / "infer"
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir()) and len(names) == 2 * len(tree["pictures"])
    assert all((two / n).read_bytes() == (one / n).read_bytes() for n in names)
    lines = [line for line in launched[1].splitlines() if line.endswith(")") and "_overlay.png" in line]
    assert lines == [line for line in single[1]["infer"].splitlines() if "_overlay.png" in line]


@pytest.mark.slow  # a torchrun launch
def test_two_rank_table3_smoke_run_equals_the_single_process_run_with_an_empty_shard(launched, single):
    """The smoke tree has 1 seg11valid image and 1 VOC2012 test image: rank 1 scores and predicts nothing,
    and still sums matrices of the right shape."""
    two = json.loads((launched[0] / "tables" / "smoke" / "table3.json").read_text())
    one = json.loads((single[0] / "tables" / "smoke" / "table3.json").read_text())
    assert (two["world_size"], two["backend"], one["world_size"], one["backend"]) == (2, "gloo", 1, "none")
    ev_two, ev_one = two["evaluations"]["voc-fcn8s"], one["evaluations"]["voc-fcn8s"]
    assert ev_two["scores"]["score"]["confusion_matrix"] == ev_one["scores"]["score"]["confusion_matrix"]
    assert ev_two["ids"] == ev_one["ids"] and len(ev_one["ids"]) == 1
    folder = Path("tables") / "smoke" / table3.SUBMISSION
    pngs = sorted(p.name for p in (single[0] / folder).glob("*.png"))
    assert pngs and pngs == sorted(p.name for p in (launched[0] / folder).glob("*.png"))
    assert all((launched[0] / folder / n).read_bytes() == (single[0] / folder / n).read_bytes() for n in pngs)
    with tarfile.open(launched[0] / "tables" / "smoke" / table3.TARBALL) as tar:
        assert sorted(Path(m).name for m in tar.getnames()) == pngs


@pytest.mark.slow  # a torchrun launch
def test_rank_0_alone_prints_the_scores(launched):
    log = launched[1]
    # evaluate, in exact and in a fast mode (whose agreement with exact is printed once too)
    assert log.count("evaluating voc-fcn8s (") == 2 and log.count("score: pixel acc.") == 2
    assert log.count("measured in bf16-emulated: argmax agreement") == 1
    assert log.count("Table 3: Comparison") == 1 and log.count("records: ") == 1  # table3
    assert log.count(f"iter {ITERS}, loss = ") == 3  # train, train4 and the resumed run end there


# ---- training -------------------------------------------------------------------------------------------


@pytest.mark.slow  # a torchrun launch
def test_three_steps_on_2_ranks_x_1_pass_equal_one_process_with_iter_size_2(launched, single):
    """The same images (draw j -> rank j mod 2) and the same dropout masks (seeded per draw); DDP sums the two
    ranks' gradients, CaffeSGD divides by 2 as one process divides its two passes' sum. For two terms the
    sums agree exactly (a + b is b + a; halving is exact), so the weights agree bit for bit."""
    for it in range(1, ITERS + 1):
        assert _max_difference(_snapshots(launched[0] / "train", it), _snapshots(single[0] / "train", it)) == 0.0
    start = _read(Path(single[0]).parent / "fcn32s-init.h5")
    moved = _read(_snapshots(single[0] / "train", ITERS))
    assert float(np.abs(moved["conv1"][0] - start["conv1"][0]).max()) > 1e-4, "training did not move the weights"
    # The validation after the last step is sharded too, and scores as one process.
    val = [line for line in launched[1].splitlines() if line.startswith(f"iter {ITERS} validation:")]
    assert val and val[0] in single[1]["train"]


@pytest.mark.slow  # a torchrun launch
def test_three_steps_on_2_ranks_x_2_passes_equal_one_process_with_iter_size_4_to_float32_rounding(launched,
                                                                                                  single):
    """Four gradients are summed as (g0 + g2) + (g1 + g3) over the ranks against ((g0 + g1) + g2) + g3 in one
    process: float32 rounding of the sum, a few units in the last place of the gradient, scaled by the
    learning rate and carried by momentum. Tolerance: 1e-6 of the largest weight."""
    for it in range(1, ITERS + 1):
        two, one = _snapshots(launched[0] / "train4", it), _snapshots(single[0] / "train4", it)
        scale = max(float(np.abs(b).max()) for blobs in _read(one).values() for b in blobs)
        assert _max_difference(two, one) <= 1e-6 * scale
    with h5py.File(launched[0] / "train4" / "voc-fcn32s" / f"voc-fcn32s_iter_{ITERS}.solverstate.h5") as f:
        assert (f.attrs["world_size"], f.attrs["passes_per_rank"], f.attrs["backend"]) == (2, 2, "gloo")
        assert f.attrs["sampler_draws"] == 4 * ITERS and json.loads(f.attrs["solver"])["iter_size"] == 4
    assert "not the reference's recipe" in launched[1]


@pytest.mark.slow  # a torchrun launch
def test_a_resumed_two_rank_run_continues_the_trajectory_bit_for_bit(launched):
    straight, resumed = launched[0] / "train", launched[0] / "resume"
    for it in range(1, ITERS + 1):
        assert _max_difference(_snapshots(resumed, it), _snapshots(straight, it)) == 0.0


@pytest.mark.slow  # a torchrun launch
def test_a_two_rank_snapshot_resumes_in_one_process_on_the_same_trajectory(launched, single, tree, monkeypatch,
                                                                          tmp_path, capsys):
    """Another world size with the same effective batch: the same images and masks follow; with 2 passes the
    sum is the same too, so one process lands on the 2-rank run's weights exactly."""
    use_tiny_nets(monkeypatch.setattr, monkeypatch.setitem)
    state = launched[0] / "train" / "voc-fcn32s" / "voc-fcn32s_iter_1.solverstate.h5"
    with pytest.warns(data.SplitMismatchWarning):
        assert train.main(["voc-fcn32s", "--data-root", str(tree["root"]), "--resume", str(state), "--iters",
                           str(ITERS), "--snapshot-every", "1", "--out", str(tmp_path)]) == 0
    assert "written by 2 rank(s), this run has 1" in capsys.readouterr().out
    assert _max_difference(_snapshots(tmp_path, ITERS), _snapshots(launched[0] / "train", ITERS)) == 0.0


@pytest.mark.slow  # a torchrun launch
def test_a_resume_with_another_effective_batch_is_refused(launched, tree, monkeypatch, tmp_path):
    use_tiny_nets(monkeypatch.setattr, monkeypatch.setitem)
    state = launched[0] / "train4" / "voc-fcn32s" / "voc-fcn32s_iter_1.solverstate.h5"
    with pytest.warns(data.SplitMismatchWarning), pytest.raises(ValueError, match=r"updated after 4 images \(2 "
                                                                r"ranks x 2 passes\); this run takes 2"):
        train.main(["voc-fcn32s", "--data-root", str(tree["root"]), "--resume", str(state), "--out", str(tmp_path)])


# ---- a rank that dies -----------------------------------------------------------------------------------


@pytest.mark.slow  # a torchrun launch
def test_a_killed_rank_fails_the_run_naming_it_and_leaves_no_half_written_snapshot(tree):
    """Rank 1 is SIGKILLed in iteration 2 while rank 0 is inside the atomic write of iteration 1's solverstate
    (file complete, not yet renamed). torchrun's agent stops rank 0 (SIGTERM: the temporary is removed) and
    names rank 1 as the root cause; what is left is iteration 1's weights file alone, complete, and no
    solverstate: no snapshot to resume from that could be half-written."""
    out = tree["base"] / "killed"
    marker = out / "rank0-is-writing"
    argv = ["voc-fcn32s", "--data-root", str(tree["root"]), "--init", str(tree["init"]), "--iters", "5",
            "--snapshot-every", "1", "--out", str(out / "train")]
    # TRAIN_SOLVER's iter_size 2 on 2 ranks: rank 1 takes draws 1, 3, 5 ...; draw 3 is in iteration 2.
    done = torchrun([["train", argv]], out, env={"FCN_TEST_DIE_RANK": "1", "FCN_TEST_DIE_AT_DRAW": "3",
                                                "FCN_TEST_SLOW_SNAPSHOT": "1", "FCN_TEST_WAIT_FOR": str(marker)})
    log = done.stdout + done.stderr
    assert done.returncode != 0, log
    assert "rank 0: solverstate written to" in log and "rank 1: killing myself at draw 3" in log, log
    root_cause = log[log.index("Root Cause"):]
    assert "rank      : 1 (local_rank: 1)" in root_cause and "SIGKILL" in root_cause, log
    folder = out / "train" / "voc-fcn32s"
    assert sorted(p.name for p in folder.iterdir()) == ["voc-fcn32s_iter_1.h5"], log
    assert set(_read(folder / "voc-fcn32s_iter_1.h5")) == {"conv1", "score"}


def test_a_failed_collective_names_this_rank_and_lets_other_errors_pass():
    world = World(1, 2, 1, "gloo")
    with pytest.raises(distributed.RankFailure, match=r"rank 1 of 2: summing the counts failed \(DistBackendError: "
                                                      r"Connection closed by peer"):
        with distributed.collective("summing the counts", world):
            raise torch.distributed.DistBackendError("Connection closed by peer [127.0.0.1]:1234")
    with pytest.raises(torch.OutOfMemoryError):  # not a collective's error: unchanged
        with distributed.collective("summing the counts", world):
            raise torch.OutOfMemoryError("out of memory")


@pytest.mark.slow  # a torchrun launch
def test_missing_inputs_under_torchrun_are_said_once_by_rank_0_before_any_rank_exits(tmp_path):
    """The README's launch form (torchrun -m reproduce.evaluate). Every rank finds the weights missing; the
    ranks meet at a barrier before exiting, so torchrun's agent cannot stop rank 0 before it has printed."""
    done = _torchrun(["-m", "reproduce.evaluate", "voc-fcn8s", "--weights", str(tmp_path / "absent.h5"),
                      "--data-root", str(tmp_path)], tmp_path, 2, None)
    log = done.stdout + done.stderr
    assert done.returncode != 0 and log.count("cannot evaluate voc-fcn8s.") == 1, log
    assert "make weights NET=voc-fcn8s" in log and "exitcode  : 2" in log, log


# ---- in one process: shards, records, merging, the regimes ------------------------------------------------


def test_shards_cover_every_position_exactly_once_whatever_the_world_size():
    for n in range(8):
        for size in range(1, 5):
            positions = [p for r in range(size) for p in World(r, size).shard(n)]
            assert sorted(positions) == list(range(n))
            assert all(list(World(r, size).shard(n)) == list(range(r, n, size)) for r in range(size))


@pytest.fixture(scope="module")
def voc_val(tree):
    return data.load("voc", "val", tree["root"] / "VOC2011", expect_split=None)


def test_three_shard_evaluations_merge_into_the_one_process_evaluation(voc_val):
    """5 images on 3 shards (2, 2, 1): the int64 sum of the shards' matrices is the whole split's."""
    net, cpu = scoring_net("voc-fcn8s"), torch.device("cpu")
    whole = evaluate.evaluate_reader(net, voc_val, cpu, progress=False)
    parts = [evaluate.evaluate_reader(net, voc_val, cpu, progress=False, world=World(r, 3)) for r in range(3)]
    assert [p.ids for p in parts] == [list(voc_val.ids[r::3]) for r in range(3)]
    merged = evaluate.merge(parts)
    np.testing.assert_array_equal(merged.hists["score"], whole.hists["score"])
    assert sorted(merged.ids) == sorted(whole.ids) and merged.world_size == 3
    assert merged.summary() == whole.summary()


def test_merge_refuses_an_image_counted_twice(voc_val):
    """torch's DistributedSampler pads the last shard with repeated images; merging them would count those
    twice, so merge refuses."""
    net, cpu = scoring_net("voc-fcn8s"), torch.device("cpu")
    a = evaluate.evaluate_reader(net, voc_val, cpu, progress=False, limit=3)
    b = evaluate.evaluate_reader(net, voc_val, cpu, progress=False, world=World(1, 2))
    with pytest.raises(ValueError, match=f"image {voc_val.ids[1]} is counted in part 0 and part 1"):
        evaluate.merge([a, b])


def test_a_record_rescored_from_its_confusion_matrix_gives_its_scores_exactly(voc_val, tmp_path):
    from reproduce.records import write_json

    ev = evaluate.evaluate_reader(scoring_net("voc-fcn8s"), voc_val, torch.device("cpu"), progress=False)
    rec = evaluate.record(ev, dataset="voc", split="val", split_md5="x", weights_path=None,
                          device=torch.device("cpu"))
    back = evaluate.from_record(json.loads(write_json(tmp_path / "r.json", rec).read_text()))
    np.testing.assert_array_equal(back.hists["score"], ev.hists["score"])
    assert back.summary() == ev.summary() and back.ids == ev.ids
    assert (back.world_size, back.backend) == (1, "none")
    del rec["scores"]["score"]["confusion_matrix"]
    with pytest.raises(ValueError, match="no confusion matrices"):
        evaluate.from_record(rec)


def test_the_evaluations_cache_carries_the_confusion_matrix_and_is_reused_from_it(voc_val, tree, tmp_path,
                                                                                 monkeypatch, capsys):
    import argparse

    from reproduce import records, runner
    from reproduce.tables import TABLE2

    use_tiny_nets(monkeypatch.setattr, monkeypatch.setitem)
    monkeypatch.setattr(records, "git_revision", lambda: "0" * 40)  # a clean checkout: the cache applies
    args = argparse.Namespace(smoke=False, limit=None, no_cache=False, out=tmp_path)

    def context() -> runner.Context:
        ctx = runner.Context(TABLE2, args, device=torch.device("cpu"))
        ctx.inputs = {"weights": {"voc-fcn8s": tree["w8"]}}
        return ctx

    ev = runner.evaluate_net(context(), "voc-fcn8s", tree["w8"], voc_val, "voc", "val")
    cache = json.loads((tmp_path / "evaluations" / "voc-fcn8s_voc_val.json").read_text())
    assert (cache["world_size"], cache["backend"], cache["key"]["world_size"]) == (1, "none", 1)
    assert np.array_equal(cache["scores"]["score"]["confusion_matrix"], ev.hists["score"])
    monkeypatch.setattr(runner, "load_net", lambda *a: pytest.fail("the cached evaluation was not reused"))
    again = runner.evaluate_net(context(), "voc-fcn8s", tree["w8"], voc_val, "voc", "val")
    assert "reusing" in capsys.readouterr().out
    np.testing.assert_array_equal(again.hists["score"], ev.hists["score"])
    assert again.summary() == ev.summary() and again.ids == ev.ids


def test_the_heavy_recipe_on_two_ranks_needs_an_explicit_batch():
    import nets

    record = nets.record("voc-fcn32s")
    with pytest.raises(train.BatchError, match=r"--batch B .*--regime cvpr"):
        train.training_solver(record, "reference", None, world_size=2)
    setting, warnings = train.training_solver(record, "reference", 2, world_size=2)
    assert setting.iter_size == 2 and setting.momentum == 0.99 and "not the reference's recipe" in warnings[0]
    assert train.training_solver(record, "reference", None, world_size=1) == (record.solver, [])
    with pytest.raises(train.BatchError, match="multiple of the 2 ranks"):
        train.training_solver(record, "reference", 3, world_size=2)


def test_the_cvpr_regime_is_minibatch_20_momentum_0_9_normalised_with_the_papers_learning_rates():
    import nets

    vgg, _ = train.training_solver(nets.record("voc-fcn8s"), "cvpr", None, world_size=4)
    assert (vgg.iter_size, vgg.momentum, vgg.normalize, vgg.base_lr, vgg.weight_decay) == (20, 0.9, True, 1e-4,
                                                                                           5e-4)
    assert train.cvpr_solver(nets.record("voc-fcn-alexnet")).base_lr == 1e-3
    with pytest.raises(train.BatchError, match="3 ranks"):
        train.training_solver(nets.record("voc-fcn8s"), "cvpr", None, world_size=3)


def test_dropout_masks_depend_on_the_seed_and_the_draw_only():
    assert train.mask_seed(0, 5) == train.mask_seed(0, 5)
    assert len({train.mask_seed(s, d) for s in range(3) for d in range(50)}) == 150
