"""reproduce.train: one Caffe iteration per step, snapshots, and resuming on the same trajectory."""

from __future__ import annotations

import random

import h5py
import numpy as np
import pytest
import torch

from data.files import TEMP_SUFFIX
from nets.net import CaffeNet
from reproduce.train import Trainer, run
from tiny_nets import TRAIN_SOLVER, training_net

_tiny_net = training_net  # conv + ReLU + Dropout + 1x1 score


def _reader(n: int = 5) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    items = []
    for _ in range(n):
        label = rng.integers(0, 3, (6, 7)).astype(np.uint8)
        label[0, :2] = 255
        items.append({"data": rng.normal(0, 20, (3, 6, 7)).astype(np.float32), "label": label})
    return items


SETTING = TRAIN_SOLVER  # iter_size 2


def _trainer(seed_torch: int = 5) -> Trainer:
    torch.manual_seed(seed_torch)
    return Trainer(_tiny_net(), SETTING, _reader(), torch.device("cpu"), {"data": "data"}, {"score": "label"})


def test_four_straight_steps_equal_two_steps_snapshot_resume_two_steps_bit_for_bit(tmp_path):
    straight = _trainer()
    losses_straight = run(straight, 4, tmp_path / "a", log=lambda s: None)

    first = _trainer()
    losses_first = run(first, 2, tmp_path / "b", snapshot_every=2, log=lambda s: None)
    state = tmp_path / "b" / "tiny_iter_2.solverstate.h5"
    assert state.is_file() and (tmp_path / "b" / "tiny_iter_2.h5").is_file()

    # A fresh process: other weights, another RNG position, a sampler elsewhere; restore must set all three.
    resumed = Trainer(_tiny_net(seed=99), SETTING, _reader(), torch.device("cpu"), {"data": "data"},
                      {"score": "label"})
    next(resumed._order)
    torch.manual_seed(12345)
    resumed.restore(state)
    assert resumed.iter == 2
    losses_resumed = run(resumed, 4, tmp_path / "c", log=lambda s: None)

    assert losses_first + losses_resumed == losses_straight
    a, b = straight.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(straight.solver.history[k], resumed.solver.history[k]) for k in a if k in
               straight.solver.history)
    # The weights moved: the comparison above is not between two untouched nets.
    assert not torch.equal(a["conv1.weight"], _tiny_net().state_dict()["conv1.weight"])


def test_resume_depends_on_the_saved_dropout_seed(tmp_path):
    """Dropout's masks are seeded by (dropout seed, draw): the snapshot must carry the seed, and a resume with
    another seed leaves the trajectory (the global torch RNG plays no part: the first test reseeds it)."""
    straight = _trainer()
    run(straight, 4, tmp_path / "a", log=lambda s: None)
    first = _trainer()
    run(first, 2, tmp_path / "b", snapshot_every=2, log=lambda s: None)
    state = tmp_path / "b" / "tiny_iter_2.solverstate.h5"
    with h5py.File(state, "r") as f:
        assert f.attrs["dropout_seed"] == 0
    resumed = _trainer()
    resumed.restore(state)
    run(resumed, 4, tmp_path / "c", log=lambda s: None)
    assert torch.equal(straight.net.conv1.weight, resumed.net.conv1.weight)
    with h5py.File(state, "r+") as f:
        f.attrs["dropout_seed"] = 7  # what a resume that forgot the seed would run with
    other = _trainer()
    other.restore(state)
    run(other, 4, tmp_path / "d", log=lambda s: None)
    assert not torch.equal(straight.net.conv1.weight, other.net.conv1.weight)


def test_solverstate_holds_iteration_history_and_rng_states(tmp_path):
    t = _trainer()
    run(t, 1, tmp_path, log=lambda s: None)
    path = t.snapshot(tmp_path)
    with h5py.File(path, "r") as f:
        assert f.attrs["iter"] == 1 and f.attrs["learned_net"] == "tiny_iter_1.h5"
        assert set(f["history"]) == {"conv1.weight", "conv1.bias", "score.weight", "score.bias"}
        np.testing.assert_array_equal(f["history/score.weight"][()], t.solver.history["score.weight"].numpy())
        assert f.attrs["world_size"] == 1 and f.attrs["passes_per_rank"] == 2 and f.attrs["backend"] == "none"
        assert f.attrs["sampler_draws"] == 2 and f.attrs["dropout_seed"] == 0
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}")), "an atomic write left its temporary file behind"


def test_one_step_draws_iter_size_images_in_the_reference_order():
    t = _trainer()
    seen = []
    reader = t.reader

    class Spy(list):
        def __getitem__(self, i):
            seen.append(i)
            return reader[i]

    t.reader = Spy(reader)
    t.step()
    t.step()
    # Python 2's random.randint(0, N - 1) after random.seed(1337), which is int(random() * N):
    expected = random.Random(1337)
    assert seen == [int(expected.random() * 5) for _ in range(4)]  # 2 iterations x iter_size 2
    assert t.draws == 4


def test_restore_refuses_a_snapshot_of_another_net(tmp_path):
    t = _trainer()
    path = t.snapshot(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["net"] = "voc-fcn8s"
    with pytest.raises(ValueError, match="snapshot of voc-fcn8s"):
        _trainer().restore(path)
    with pytest.raises(FileNotFoundError, match="solverstate"):
        _trainer().restore(tmp_path / "missing.solverstate.h5")


# ---- the command line on a miniature dataset ------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    """$FCN_DATA-style root: SBD (training) and VOC2011 (validation), with seg11valid pinned by a list file."""
    from data import miniature

    return miniature.build_voc_training(tmp_path_factory.mktemp("data"), 4, 2)


def _cli(monkeypatch, tmp_path):
    """Patch the CLI's net and solver to the tiny net under a reference name; returns the init weights path."""
    import dataclasses

    import nets
    import weights

    monkeypatch.setattr(nets, "build", lambda name, variant=None: _tiny_net_named(name))
    record = dataclasses.replace(nets.record("voc-fcn32s"), solver=SETTING)
    monkeypatch.setitem(nets.RECORDS, "voc-fcn32s", record)
    return weights.save(_tiny_net_named("voc-fcn32s"), tmp_path / "init.h5")


def _tiny_net_named(name: str) -> CaffeNet:
    return _tiny_net(name=name, classes=21)  # VOC labels


def _read(path):
    import weights

    return {x.name: x.blobs for x in weights.read_weights(path).layers}


def test_train_command_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(mini_root, tmp_path, monkeypatch,
                                                                                  capsys):
    from reproduce import train

    init = _cli(monkeypatch, tmp_path)
    common = ["voc-fcn32s", "--data-root", str(mini_root), "--snapshot-every", "2"]
    with pytest.warns(UserWarning):  # the miniature splits are not the reference's lists
        assert train.main([*common, "--init", str(init), "--iters", "4", "--out", str(tmp_path / "a"),
                           "--val-every", "2"]) == 0
    log = capsys.readouterr().out
    assert "iter 4, loss" in log and "iter/s" in log
    assert "iter 2 validation:" in log and "mean_iu" in log
    with pytest.warns(UserWarning):
        assert train.main([*common, "--init", str(init), "--iters", "2", "--out", str(tmp_path / "b")]) == 0
        state = tmp_path / "b" / "voc-fcn32s" / "voc-fcn32s_iter_2.solverstate.h5"
        assert train.main([*common, "--resume", str(state), "--iters", "4", "--out", str(tmp_path / "b")]) == 0
    straight = _read(tmp_path / "a" / "voc-fcn32s" / "voc-fcn32s_iter_4.h5")
    resumed = _read(tmp_path / "b" / "voc-fcn32s" / "voc-fcn32s_iter_4.h5")
    assert set(straight) == set(resumed)
    for name in straight:
        for a, b in zip(straight[name], resumed[name], strict=True):
            np.testing.assert_array_equal(a, b)
    start = _read(init)
    assert not np.array_equal(straight["conv1"][0], start["conv1"][0]), "training did not move the weights"


def test_train_command_without_inputs_says_how_to_make_them(tmp_path, capsys):
    from reproduce import train

    assert train.main(["voc-fcn16s", "--init", str(tmp_path / "init.h5"), "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "make weights NET=voc-fcn32s" in err and "weights.transplant --net voc-fcn16s" in err
    (tmp_path / "init.h5").write_bytes(b"")
    assert train.main(["voc-fcn16s", "--init", str(tmp_path / "init.h5"), "--data-root", str(tmp_path)]) == 2
    assert "make data DATASET=sbd" in capsys.readouterr().err


def test_resume_refuses_a_solverstate_whose_weights_file_was_replaced(tmp_path):
    """A snapshot is two files written one after the other: a run killed between them, or a later run writing
    the same iteration into the same folder, leaves a state beside weights it was not saved with."""
    first = _trainer()
    first.step()
    state = first.snapshot(tmp_path)
    other = _trainer(seed_torch=9)
    other.net.load_state_dict(_tiny_net(seed=3).state_dict())
    other.step()
    import weights

    weights.save(other.net, tmp_path / "tiny_iter_1.h5")  # the second run got as far as its weights file
    with pytest.raises(ValueError, match=r"tiny_iter_1.solverstate.h5 was saved with tiny_iter_1.h5 of SHA-256 "
                                         r"[0-9a-f]{64}, but that file now has [0-9a-f]{64}: it was replaced"):
        _trainer().restore(state)
