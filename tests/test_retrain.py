"""make retrain-tableN: the rows whose weights are gone, back by the reference's staged recipe; the surviving
weights and their checksums in the records; every row's open road.

The chain runs in this process on narrowed nets (tests/tiny_nets.py: the reference nets' layers, kernels, crops
and recipes at 1/32 of the width) and the miniature datasets, a few iterations per stage; the kills run in a
forked child (tests/interrupted.py). The full-size smoke run through make is in the slow tier."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nets
from nets.registry import CLASSIFIERS, MIRRORS
from reproduce import retrain, runner, tables
from weights import zoo

REPO = Path(__file__).resolve().parent.parent


# ---- what survives, in the records and the docs ---------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a server that is gone."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _by_url(entry: str) -> dict[str, dict[str, str]]:
    return {s.url: dict(s.checksums) for s in zoo.MANIFEST[entry].sources}


def test_the_surviving_sources_and_their_checksums_are_in_the_records():
    """The facts of issue 27, typed here once: each mirror with the checksums its publishers give."""
    vgg16 = {"sha1": "9363e1f6d65f7dba68c4f27a1e62105cdf6c4e24",
             "sha256": "a6196bc498e45ea4cb2637114ae8db9410cf1556fd60a55ae93272371beba197",
             "sha384": "8ed7890af721fa22a9a356c00ec8360984f572b37991d1a5d70993ece85a0d25d675f02ff27c443523be1b61b"
                       "9bb3d15"}
    caffenet = {"sha1": "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46",
                "sha256": "472d4a06035497b180636d8a82667129960371375bd10fcb6df5c6c7631f25e0",
                "sha384": "6677844301d6c7f68f5b6a299cf41c4f0955bab7d1fb8719375fae6d05b6173db9deccf3ac4aaa4225bf6c6e"
                          "99d81a68"}
    fcn8s = {"sha1": "c449ea74dd7d83751d1357d6a8c323fcf4038962", "md5": "c03b2953ebd846c270da1a8e8f200c09"}
    urls = _by_url("vgg16")
    assert urls["https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/vgg16/"
                "VGG_ILSVRC_16_layers.caffemodel"] == vgg16
    assert urls["https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/caffe/models/vgg/"
                "VGG_ILSVRC_16_layers.caffemodel"] == vgg16
    assert CLASSIFIERS["vgg16"].size == 553_432_081 and CLASSIFIERS["caffenet"].size == 243_862_418
    assert _by_url("caffenet")["https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/"
                               "caffenet/bvlc_reference_caffenet.caffemodel"] == caffenet
    assert _by_url("voc-fcn8s")["https://obs-model-ascend.obs.cn-east-2.myhuaweicloud.com/fcn-8s/"
                                "fcn8s-heavy-pascal.caffemodel"] == fcn8s
    assert _by_url("voc-fcn8s")["http://dl.caffe.berkeleyvision.org/fcn8s-heavy-pascal.caffemodel"] == fcn8s
    assert _by_url("voc-fcn32s")["http://dl.caffe.berkeleyvision.org/fcn32s-heavy-pascal.caffemodel"] == \
        {"sha1": "05eb922d7829c39448f57e5ab9d8cd75d6c0be6d"}
    # who publishes each
    ascend = MIRRORS["voc-fcn8s"][0]
    assert "OpenCV" in ascend.checksums_by and "wkentaro/fcn" in ascend.checksums_by
    assert all(w in zoo.MANIFEST["vgg16"].sources[1].checksums_by for w in ("ck-caffe", "MXNet", "OpenCV", "OpenVINO"))
    # torchfcn's at-once copy may be gone; the Chainer copy survives
    at_once = zoo.MANIFEST["voc-fcn8s-atonce"]
    assert "may be gone" in at_once.sources[1].gone and [s.filename for s in at_once.surviving] == \
        ["fcn8s-atonce_from_caffe.npz"]
    # only the four VOC VGG releases survive
    assert {n for n in nets.NAMES if zoo.survives(n)} == {"voc-fcn32s", "voc-fcn16s", "voc-fcn8s", "voc-fcn8s-atonce"}
    assert zoo.RETRAIN_TABLES == (1, 4, 5, 6)


def test_docs_weights_page_shows_the_records_sources_and_checksums():
    """docs/weights.md holds the table weights.zoo makes from the records, between its markers."""
    text = (REPO / "docs" / "weights.md").read_text()
    block = re.search(r"<!-- weights\.zoo list --markdown -->\n(.*?)\n<!-- end of weights\.zoo list -->", text, re.S)
    assert block, "docs/weights.md has no generated sources table"
    assert block.group(1) == zoo.sources_markdown(), \
        "docs/weights.md is out of date: paste `.venv/bin/python -m weights.zoo list --markdown` between its markers"


def test_weights_list_names_each_surviving_source_with_its_checksums_or_the_retrain_command(tmp_path):
    text = zoo.listing(tmp_path)
    block = text.split("\nsiftflow-fcn16s (")[1].split("\nsiftflow-fcn8s (")[0]
    assert "no copy of the released weights is known to survive: retrain (make retrain-table5 ROWS=siftflow-fcn16s)" \
        in block
    vgg = text.split("\nvgg16 (")[1].split("\ncaffenet (")[0]
    assert "553,432,081 bytes" in vgg
    assert "a6196bc498e45ea4cb2637114ae8db9410cf1556fd60a55ae93272371beba197" in vgg
    assert "voc-fcn-googlenet: FCN-GoogLeNet is the paper's" in text and "make retrain-table1 ROWS=voc-fcn-googlenet" \
        in text


def test_a_net_whose_release_is_gone_says_retrain_in_one_message_after_its_server(tmp_path, monkeypatch):
    """make weights NET=siftflow-fcn16s tries the reference's server (here a closed port), then says the one
    road there is."""
    from nets.registry import Source, Weights

    gone = zoo.MANIFEST["siftflow-fcn16s"].sources[0]
    entry = Weights("siftflow-fcn16s", (Source(f"http://127.0.0.1:{closed_port()}/siftflow-fcn16s-heavy.caffemodel",
                                               gone=gone.gone),))
    lines = []
    with pytest.raises(zoo.ZooError) as caught:
        zoo.fetch(entry, tmp_path, log=lines.append)
    message = str(caught.value)
    assert any("downloading" in line for line in lines)  # the server was tried first
    assert message.startswith("could not get siftflow-fcn16s: no copy of the released weights is known to survive")
    assert "retrain (make retrain-table5 ROWS=siftflow-fcn16s)" in message and "\n" not in message


# ---- the rows, their stages and their roads ------------------------------------------------------------------


def test_every_retrainable_row_is_the_references_chain_of_stages():
    """Each row's stages as the reference's solve.py start them (nets.registry solvers): 32s from VGG16, 16s
    from 32s, 8s from 16s; NYUD's two-stream net from its color and HHA nets; FCN-AlexNet from CaffeNet."""
    def shape(number):
        rows = retrain.retrainable_rows(number)
        stages = retrain.stages_for([r.net for r in rows])
        return ([r.net for r in rows], [(s.net, s.after or s.classifiers) for s in stages],
                [[s.net for s in c] for c in retrain.chains(stages)])

    assert shape(1) == (["voc-fcn-alexnet", "voc-fcn-googlenet"],
                        [("voc-fcn-alexnet", ("caffenet",)), ("voc-fcn-googlenet", ("googlenet",))],
                        [["voc-fcn-alexnet"], ["voc-fcn-googlenet"]])
    assert shape(4) == (
        ["nyud-fcn32s-color", "nyud-fcn32s-color-d", "nyud-fcn32s-hha", "nyud-fcn32s-color-hha",
         "nyud-fcn16s-color-hha"],
        [("nyud-fcn32s-color", ("vgg16",)), ("nyud-fcn32s-color-d", ("vgg16",)), ("nyud-fcn32s-hha", ("vgg16",)),
         ("nyud-fcn32s-color-hha", ("nyud-fcn32s-color", "nyud-fcn32s-hha")),
         ("nyud-fcn16s-color-hha", ("nyud-fcn32s-color-hha",))],
        [["nyud-fcn32s-color"], ["nyud-fcn32s-color-d"], ["nyud-fcn32s-hha"],
         ["nyud-fcn32s-color-hha", "nyud-fcn16s-color-hha"]])
    for number, dataset in ((5, "siftflow"), (6, "pascalcontext")):
        names = [f"{dataset}-fcn{k}s" for k in (32, 16, 8)]
        assert shape(number)[1] == [(names[0], ("vgg16",)), (names[1], (names[0],)), (names[2], (names[1],))]
        assert shape(number)[2] == [names]
    # each stage trains with its own reference solver: base_lr 1e-10 / 1e-12 / 1e-12 (SIFT Flow), 400k (Context)
    lrs = [s.solver.base_lr for s in retrain.stages_for(["siftflow-fcn8s"])]
    assert lrs == [1e-10, 1e-12, 1e-12]
    assert {s.iterations for s in retrain.stages_for(["pascalcontext-fcn8s"])} == {400_000}


def test_the_cvpr_regime_is_refused_for_pascal_context_naming_why(capsys):
    assert retrain.main(["6", "--regime", "cvpr"]) == 2
    assert "cannot retrain Table 6: pascalcontext-fcn32s has no cvpr regime: the PASCAL-Context rows (arXiv v2 " \
           "appendix, Table 6) do not say how they were trained" in capsys.readouterr().err


def test_rows_picks_rows_and_an_unknown_row_names_the_rows_there_are(capsys):
    assert [r.net for r in retrain.parse_rows(5, ["siftflow-fcn16s"])] == ["siftflow-fcn16s"]
    assert [r.net for r in retrain.parse_rows(4, ["FCN-32s RGBD"])] == ["nyud-fcn32s-color-d"]
    assert retrain.main(["5", "--rows", "voc-fcn8s"]) == 2
    err = capsys.readouterr().err
    assert "ROWS='voc-fcn8s' is no row of Table 5" in err and "siftflow-fcn16s (FCN-16s)" in err
    assert "Traceback" not in err


def test_every_table_prints_for_each_row_the_road_that_is_open():
    """A surviving release: its fetch; a gone one or one never released: its retraining command, where it starts
    from and where that comes from, and the estimated time."""
    def how(number, net):
        row = next(r for r in tables.TABLES[number].rows if r.net == net and not r.variant)
        return runner.how_to_run(tables.TABLES[number], row)

    assert how(3, "voc-fcn8s") == ["released weights: make weights NET=voc-fcn8s"]
    road = how(5, "siftflow-fcn16s")
    assert road[0] == "retrain: make retrain-table5 ROWS=siftflow-fcn16s (no copy of the released weights is known " \
                      "to survive)"
    assert road[1].startswith("starts from: VGG16 ILSVRC (make weights NET=vgg16: from ")
    assert "storage.openvinotoolkit.org" in road[1] and "sha256" in road[1]
    assert road[1].endswith("; stages siftflow-fcn32s -> siftflow-fcn16s, 200,000 iterations")
    assert road[2].startswith("estimated time: ")
    googlenet = how(1, "voc-fcn-googlenet")
    assert googlenet[0] == "retrain: make retrain-table1 ROWS=voc-fcn-googlenet (never released)"
    assert any(h.startswith("judge: ") for h in googlenet)  # the steps by hand stay beside it
    assert how(4, "nyud-fcn16s-color-hha")[1].endswith(
        "stages nyud-fcn32s-color -> nyud-fcn32s-hha -> nyud-fcn32s-color-hha -> nyud-fcn16s-color-hha, "
        "400,000 iterations")


def test_a_table_without_weights_names_the_retraining_road_not_a_fetch_that_cannot_succeed(tmp_path, capsys):
    from reproduce import table5

    code = table5.main(["--data-root", str(tmp_path / "data"), "--weights-dir", str(tmp_path / "weights")])
    err = capsys.readouterr().err
    assert code == 2
    assert "make weights NET=siftflow" not in err
    assert "retrain: make retrain-table5 ROWS=siftflow-fcn16s" in err and "fetch: make data DATASET=siftflow" in err
    assert "The road open for each row without weights:" in err and "estimated time:" in err


# ---- the chain, in this process on narrowed nets ---------------------------------------------------------------


@pytest.fixture
def narrowed(monkeypatch):
    """nets.spec (hence nets.build, weights.transplant, the trainer and the evaluation) gives narrowed nets."""
    from tiny_nets import narrow

    real, cache = nets.spec, {}

    def spec(name, variant=None):
        key = (nets.canonical_name(name), variant)
        if key not in cache:
            cache[key] = narrow(real(name, variant), 16)  # 16 keeps FCN-AlexNet's groups dividing its widths
        return cache[key]

    monkeypatch.setattr(nets, "spec", spec)
    return spec


def test_the_staged_transplant_chain_of_every_retrainable_row(narrowed):
    """For every stage of every retrainable row: the first stage made from its ILSVRC net (fc6/fc7 reshaped,
    RGB-D's depth filter derived, the classifier's fc8 dropped), each later stage from the stages before it
    (every layer they share copied, the new skip scorers zero); each loads strictly (tests/test_weights_transplant.py
    checks the bilinear upsamplers)."""
    from weights.loader import check_fit
    from weights.transplant import transplant

    made: dict[str, dict] = {}
    for number in zoo.RETRAIN_TABLES:
        for stage in retrain.stages_for([r.net for r in retrain.retrainable_rows(number)]):
            sources = [made[n] for n in stage.after] or [retrain.smoke_classifier(stage)]
            out = transplant(stage.net, sources, log=None)
            spec = narrowed(stage.net)
            # what weights.load checks: every parameter and upsampler of the net filled, at its shape, no other
            check_fit(spec.param_shapes(), {n: [b.shape for b in bl] for n, bl in out.items()}, stage.net, "made")
            if not stage.after:
                blobs = sources[0]
                assert "fc8" not in out
                if "fc7" in out:  # VGG16 and CaffeNet: the InnerProduct matrix reshaped, in the same order
                    assert out["fc7"][0].shape[2:] == (1, 1) and blobs["fc7"][0].ndim == 2
                    assert np.array_equal(out["fc7"][0].reshape(blobs["fc7"][0].shape), blobs["fc7"][0])
                if "conv1_1_bgrd" in out:  # RGB-D: the depth filter is the mean of the RGB ones
                    w = out["conv1_1_bgrd"][0]
                    assert np.allclose(w[:, 3], blobs["conv1_1"][0].mean(axis=1), atol=1e-6)
            else:
                # a layer's origin: the same name in the previous stage, or, for a two-stream net made from one
                # net per stream, the stream's net under the name without the stream's suffix
                per_stream = dict(zip(spec.streams, stage.after, strict=True)) \
                    if spec.streams and len(stage.after) > 1 else {}

                def origin(name, per_stream=per_stream, after=stage.after):
                    for suffix, net in per_stream.items():
                        if name.endswith(suffix) and name[:-len(suffix)] in made[net]:
                            return made[net][name[:-len(suffix)]]
                    return next((made[a][name] for a in after if name in made[a]), None)

                convs = [n for n in out if spec.layer(n).type == "Convolution"]
                shared = [n for n in convs if origin(n) is not None]
                assert shared and all(np.array_equal(out[n][0], origin(n)[0]) for n in shared)
                assert all(not out[n][0].any() for n in convs if n not in shared)  # new skip scorers: zero
            # make the weights of this stage its own, as training would, so the next stage's copy shows
            made[stage.net] = {n: [b + 0.5 for b in bl] if spec.layer(n).type == "Convolution" else bl
                               for n, bl in out.items()}
    assert set(made) == {s.net for n in zoo.RETRAIN_TABLES
                         for s in retrain.stages_for([r.net for r in retrain.retrainable_rows(n)])}


def _run(tmp_path, *extra, results="results"):
    return retrain.main(["5", "--smoke", "--results", str(tmp_path / results), "--records", str(tmp_path / "records"),
                         "--timing-steps", "1", "--device", "cpu", *extra])


def _finals(root: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(root.glob("smoke/siftflow-fcn*/siftflow-fcn*s.h5"))}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted smoke retraining of Table 5 on narrowed nets: its output and final weights."""
    tmp = tmp_path_factory.mktemp("straight")
    mp = pytest.MonkeyPatch()
    from tiny_nets import narrow

    real, cache = nets.spec, {}

    def spec(name, variant=None):
        if (name, variant) not in cache:
            cache[name, variant] = narrow(real(name, variant), 16)
        return cache[name, variant]

    mp.setattr(nets, "spec", spec)
    import contextlib
    import io

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = _run(tmp)
    finally:
        mp.undo()
    return {"code": code, "out": out.getvalue(), "root": tmp / "results", "records": tmp / "records",
            "finals": _finals(tmp / "results")}


@pytest.mark.slow  # a whole chain of three nets trained, evaluated: 20 to 80 s on 2 shared cores
def test_retrain_table5_smoke_runs_every_stage_then_writes_the_tables_records(straight):
    assert straight["code"] == 0, straight["out"][-3000:]
    out, root = straight["out"], straight["root"] / "smoke"
    # the plan: the chain, each stage, the measured step time, the estimate
    assert "chain 1: siftflow-fcn32s -> siftflow-fcn16s -> siftflow-fcn8s" in out
    assert re.search(r"siftflow-fcn16s: from siftflow-fcn32s \(the previous stage\); 3 iterations x 1 image\(s\) per "
                     r"update, [0-9.e-]+ s per image measured at 28x24: .*; start", out)
    assert "estimated total on CPU" in out
    assert set(straight["finals"]) == {"siftflow-fcn32s", "siftflow-fcn16s", "siftflow-fcn8s"}
    # each stage started from the one before it: its init names the previous stage's final weights
    init = json.loads((root / "siftflow-fcn16s" / "init.json").read_text())
    assert init["from"][0]["stage"] == "siftflow-fcn32s"
    first = json.loads((root / "siftflow-fcn32s" / "stage.json").read_text())
    assert init["from"][0]["sha256"] == first["final_sha256"]
    stage = json.loads((root / "siftflow-fcn8s" / "stage.json").read_text())
    assert stage["iterations"] == 3 and stage["meaningless"] and stage["solver"]["base_lr"] == 1e-12
    assert (root / "siftflow-fcn8s" / "siftflow-fcn8s_iter_2.solverstate.h5").is_file()  # a snapshot inside
    # the table's records, as make reproduce-table5 SMOKE=1 writes them, judged as a retraining and stamped
    record = json.loads((straight["records"] / "smoke" / "table5.json").read_text())
    assert record["meaningless"] and "--retrained" in record["command"]
    rows = {r["net"]: r for r in record["rows"] if r["net"]}
    assert set(rows) == {"siftflow-fcn16s", "siftflow-fcn32s", "siftflow-fcn8s"}
    assert all(r["verdict"].startswith("smoke run: MEANINGLESS") and "mean_iu" in r["ours"] for r in rows.values())
    assert record["provenance"]["siftflow-fcn16s"]["weights"] == str(root / "siftflow-fcn16s" / "siftflow-fcn16s.h5")
    assert json.loads((root / "plan-table5.json").read_text())["smoke"] is True


@pytest.mark.slow  # a whole chain of three nets trained, evaluated: 20 to 80 s on 2 shared cores
def test_a_rerun_skips_every_finished_stage_and_keeps_a_file_the_user_replaced_unless_force(straight, narrowed,
                                                                                            tmp_path, capsys):
    import shutil

    shutil.copytree(straight["root"], tmp_path / "results")
    first = tmp_path / "results" / "smoke" / "siftflow-fcn32s" / "siftflow-fcn32s.h5"
    mine = (tmp_path / "results" / "smoke" / "siftflow-fcn32s" / "init.h5").read_bytes()
    first.write_bytes(mine)  # the user's own file in place of the finished stage's
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "siftflow-fcn32s: finished" in out and "replaced since" in out and "kept and used as it is" in out
    assert "siftflow-fcn16s: finished" in out and "training" not in out.split("evaluating")[0].split("estimated")[1]
    assert first.read_bytes() == mine
    assert _run(tmp_path, "--force") == 0  # trains every stage again: the same weights as the first run
    assert _finals(tmp_path / "results") == straight["finals"]


CHILD = """
import sys, contextlib
sys.argv = ["retrain"]
import nets
from tiny_nets import narrow
from interrupted import stall
from reproduce import retrain, train
real, cache = nets.spec, {{}}
def spec(name, variant=None):
    if (name, variant) not in cache:
        cache[name, variant] = narrow(real(name, variant), 16)
    return cache[name, variant]
nets.spec = spec
{patch}
retrain.main({argv!r})
"""
# Stall right after a stage finished (between stages), or right after the snapshot of iteration 2 of a stage
# (inside it): the kill then lands there every time.
BETWEEN = """
finish = retrain.finish
def stalling(run, stage):
    out = finish(run, stage)
    if stage.net == "siftflow-fcn32s":
        stall()
    return out
retrain.finish = stalling
"""
INSIDE = """
snapshot = train.Trainer.snapshot
def stalling(self, out_dir):
    out = snapshot(self, out_dir)
    if self.net.name == "siftflow-fcn16s" and self.iter == 2:
        stall()
    return out
train.Trainer.snapshot = stalling
"""


@pytest.mark.slow  # a whole chain of three nets trained, evaluated: 20 to 80 s on 2 shared cores
def test_a_run_killed_inside_a_stage_and_between_stages_resumes_to_the_weights_of_an_uninterrupted_run(
        straight, narrowed, tmp_path, capsys):
    from interrupted import Child

    argv = ["5", "--smoke", "--results", str(tmp_path / "results"), "--records", str(tmp_path / "records"),
            "--timing-steps", "1", "--device", "cpu"]
    root = tmp_path / "results" / "smoke"
    for patch in (BETWEEN, INSIDE):
        child = Child(CHILD.format(patch=patch, argv=argv))
        child.wait_for(timeout=240)
        assert child.kill(signal.SIGKILL) == -signal.SIGKILL
    # killed after the 32s stage finished, then inside the 16s stage after its snapshot of iteration 2
    assert (root / "siftflow-fcn32s" / "siftflow-fcn32s.h5").is_file()
    assert (root / "siftflow-fcn16s" / "siftflow-fcn16s_iter_2.solverstate.h5").is_file()
    assert not (root / "siftflow-fcn16s" / "siftflow-fcn16s.h5").exists()
    assert not (root / "siftflow-fcn16s" / "siftflow-fcn16s_iter_3.h5").exists()
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "siftflow-fcn32s: finished" in out
    assert f"siftflow-fcn16s: training, resuming {root / 'siftflow-fcn16s' / 'siftflow-fcn16s_iter_2.solverstate.h5'}" \
        in out
    assert re.search(r"\n  siftflow-fcn16s: from .*; resume from iteration 2\n", out)  # the plan says so first
    # at most one snapshot interval lost, and not a bit different from the run never interrupted
    assert _finals(tmp_path / "results") == straight["finals"]


def test_plan_prints_the_chains_and_the_estimate_keeps_it_and_the_tables_quote_it(narrowed, tmp_path, capsys,
                                                                                  monkeypatch):
    argv = ["5", "--rows", "siftflow-fcn32s", "--plan", "--results", str(tmp_path / "results"), "--timing-steps", "1",
            "--device", "cpu", "--iters", "1000"]
    # SIFT Flow's test split as if it were there (the plan reads only its length), and a small image to time
    monkeypatch.setattr(retrain, "check_data", lambda run: {"siftflow-fcn32s": [None] * 200})
    monkeypatch.setitem(retrain.TYPICAL_SIZE, "siftflow", (40, 48))
    assert retrain.main(argv) == 0
    out = capsys.readouterr().out
    assert "chain 1: siftflow-fcn32s\n" in out and "siftflow-fcn16s" not in out
    assert "nothing trained" in out and not (tmp_path / "results" / "siftflow-fcn32s" / "init.h5").exists()
    assert "evaluation: siftflow-fcn32s on 200 images" in out
    plan = json.loads((tmp_path / "results" / "plan-table5.json").read_text())
    stage = plan["stages"]["siftflow-fcn32s"]
    assert stage["iterations"] == 1000 and stage["size"] == [40, 48] and stage["train_s_per_image"] > 0
    assert plan["total_seconds"] == pytest.approx(sum(s["seconds"] for s in plan["stages"].values())
                                                  + plan["evaluation_seconds"])
    line = retrain.estimate_line(5, "siftflow-fcn32s", tmp_path / "results")
    assert line.startswith(f"about {retrain.duration(plan['training_seconds'])} on CPU")
    assert "the last plan did not time all of its stages" in retrain.estimate_line(5, "siftflow-fcn16s",
                                                                                   tmp_path / "results")


def test_before_any_plan_here_a_row_quotes_the_kept_records_step_times_summed_over_its_stages(tmp_path):
    record = {"machine": {"cores": 2, "cpu": "Some CPU", "cpu_capability": "AVX2", "date": "2026-01-02"},
              "tables": {"5": {"stages": [{"net": "siftflow-fcn32s", "seconds": 86400.0},
                                          {"net": "siftflow-fcn16s", "seconds": 2 * 86400.0}]}}}
    kept = tmp_path / "bench-retrain-steps.json"
    kept.write_text(json.dumps(record))
    # FCN-16s is the 32s stage then the 16s one: three days; FCN-32s alone is one; FCN-8s has a stage not timed
    assert retrain.kept_estimate(5, "siftflow-fcn16s", kept).startswith(
        f"about {retrain.duration(3 * 86400)} on a 2-core Some CPU CPU (AVX2)")
    assert retrain.kept_estimate(5, "siftflow-fcn32s", kept).startswith(f"about {retrain.duration(86400)} on")
    assert retrain.kept_estimate(5, "siftflow-fcn8s", kept) is None
    assert retrain.kept_estimate(4, "nyud-fcn32s-hha", kept) is None
    assert retrain.kept_estimate(5, "siftflow-fcn16s", tmp_path / "absent.json") is None
    # the record the repository keeps times every retrainable row, and the tables quote it before a plan here
    for number in retrain.retrain_tables():
        for row in retrain.retrainable_rows(number):
            line = retrain.estimate_line(number, row.net, tmp_path / "results")
            assert line.startswith("about ") and "not measured on this machine yet" in line, (row.net, line)


def test_a_missing_dataset_or_init_names_the_command_that_gets_it(narrowed, tmp_path, capsys, monkeypatch):
    empty = ["5", "--results", str(tmp_path / "results"), "--device", "cpu", "--timing-steps", "1"]
    assert retrain.main([*empty, "--data-root", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "cannot retrain Table 5." in err and "fetch: make data DATASET=siftflow" in err and "Traceback" not in err
    # data present, the ILSVRC net absent and its sources unreachable
    from nets.registry import Source, Weights

    monkeypatch.setattr(retrain, "check_data", lambda run: {})  # the data as if it were there
    monkeypatch.setitem(retrain.TYPICAL_SIZE, "siftflow", (8, 8))
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "weights"))
    monkeypatch.setitem(zoo.MANIFEST, "vgg16", Weights("vgg16", (Source(f"http://127.0.0.1:{closed_port()}/v.caffemodel"),)))
    assert retrain.main([*empty, "--rows", "siftflow-fcn32s", "--iters", "1"]) == 1
    out, err = capsys.readouterr()
    assert "cannot get the ILSVRC init vgg16" in err and "`make weights NET=vgg16` fetches and verifies it" in err
    assert "estimated total" not in out  # before any work: no step was timed


def test_chains_run_side_by_side_each_on_its_device_a_joined_chain_after_its_sources(monkeypatch, tmp_path):
    """GPUS=2 on NYUD: the color, RGBD and HHA chains two at a time, the two-stream chain once color and HHA are
    done; the estimate follows the same schedule."""
    import threading
    import time

    events, lock = [], threading.Lock()

    def chain_on(run, chain, device):
        with lock:
            events.append(("start", chain[0].net, device))
        time.sleep(0.05)
        with lock:
            events.append(("end", chain[-1].net, device))

    monkeypatch.setattr(retrain, "_chain_on", chain_on)
    rows = retrain.retrainable_rows(4)
    run = retrain.Run(4, rows, retrain.stages_for([r.net for r in rows]), retrain.Layout(tmp_path),
                      retrain.parse_args(["4"]), log=lambda line: None)
    retrain.run_chains(run, 2, ["cuda:0", "cuda:1"])
    starts = [e for e in events if e[0] == "start"]
    assert [s[1] for s in starts[:2]] == ["nyud-fcn32s-color", "nyud-fcn32s-color-d"]
    assert {s[2] for s in starts[:2]} == {"cuda:0", "cuda:1"}
    joined = events.index(next(e for e in events if e[1] == "nyud-fcn32s-color-hha"))
    assert joined > events.index(("end", "nyud-fcn32s-hha", next(e[2] for e in events if e[1] == "nyud-fcn32s-hha")))
    seconds = {s.net: 1.0 for s in run.stages}
    assert retrain.simulate(retrain.chains(run.stages), 2, seconds) == 4.0  # color|RGBD, HHA, then the 2 joined
    assert retrain.simulate(retrain.chains(run.stages), 1, seconds) == 5.0


def test_gpus_beyond_the_devices_here_is_refused_naming_what_there_is(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    args = retrain.parse_args(["5", "--gpus", "2"])
    with pytest.raises(retrain.RetrainError, match="GPUS=2 runs 2 chains on 2 GPUs; this machine shows 0"):
        retrain.devices_for(args, retrain.distributed.SINGLE)
    assert retrain.devices_for(retrain.parse_args(["5", "--gpus", "2", "--device", "cpu"]),
                               retrain.distributed.SINGLE) == ["cpu", "cpu"]


def test_the_makefile_has_one_retrain_target_per_table_with_rows_to_retrain():
    text = (REPO / "Makefile").read_text()
    targets = re.search(r"^RETRAINS := (.*)$", text, re.M).group(1).split()
    assert targets == [f"retrain-table{n}" for n in zoo.RETRAIN_TABLES]


# ---- the slow tier: make retrain-table5 SMOKE=1 at full size, killed inside a stage and resumed ----------------


@pytest.mark.slow  # three full-size VGG16 FCNs trained 3 steps each and evaluated: minutes on 2 cores
def test_make_retrain_table5_smoke_end_to_end_killed_inside_a_stage_and_resumed(tmp_path):
    results, records = tmp_path / "results", tmp_path / "records"
    command = ["make", "--no-print-directory", "retrain-table5", "SMOKE=1", f"RESULTS={results}",
               f"ARGS=--records {records} --timing-steps 1", f"STAMP={tmp_path / 'stamp'}", f"PY={sys.executable}"]
    (tmp_path / "stamp").touch()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    marker = f"snapshot: {results / 'smoke' / 'siftflow-fcn16s' / 'siftflow-fcn16s_iter_2.solverstate.h5'}"
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.strip() == marker:
            os.killpg(proc.pid, signal.SIGKILL)  # inside the 16s stage: its iteration 3 takes seconds
            break
    proc.wait(timeout=60)
    assert any(line.strip() == marker for line in seen), "".join(seen[-40:])
    folder = results / "smoke" / "siftflow-fcn16s"
    assert not (folder / "siftflow-fcn16s.h5").exists(), "the kill landed after the stage ended"
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=3600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "siftflow-fcn32s: finished" in done.stdout
    assert f"siftflow-fcn16s: training, resuming {folder / 'siftflow-fcn16s_iter_2.solverstate.h5'}" in done.stdout
    record = json.loads((records / "smoke" / "table5.json").read_text())
    assert record["meaningless"] and {r["net"] for r in record["rows"] if "mean_iu" in r["ours"]} == \
        {"siftflow-fcn16s", "siftflow-fcn32s", "siftflow-fcn8s"}
    assert all((results / "smoke" / n / f"{n}.h5").is_file() for n in ("siftflow-fcn32s", "siftflow-fcn16s",
                                                                       "siftflow-fcn8s"))


def test_the_docs_chains_are_the_stages_the_command_runs():
    text = (REPO / "docs" / "retrain.md").read_text()
    for number in zoo.RETRAIN_TABLES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {number} | "))
        stages = retrain.stages_for([r.net for r in retrain.retrainable_rows(number)])
        for chain in retrain.chains(stages):
            assert " -> ".join(s.net for s in chain) in row, (number, chain)
        assert len(re.findall(r"[a-z]+-fcn[\w-]+", row)) == len(stages)


def test_the_readme_names_the_commands_that_take_device_and_precision_and_those_that_do_not():
    from test_kit_commands import _help

    text = " ".join((REPO / "README.md").read_text().split())
    take = re.search(r"take `--device` and `--precision [^`]*` \(([^)]*)\)", text).group(1)
    neither = re.search(r"take neither \(([^)]*)\)", text).group(1)
    modules = {m: re.findall(r"`([a-z.]+(?:N)?)`", part) for m, part in (("take", take), ("neither", neither))}
    assert modules["take"] and modules["neither"]
    for kind, names in modules.items():
        for name in names:
            helps = _help(name.replace("tableN", "table1"), [])
            assert helps, name
            has = "--device" in helps and "--precision" in helps
            assert has == (kind == "take"), (name, kind)


def test_the_ledger_says_what_checks_each_table_claim_and_the_audit_lists_the_records_here(tmp_path):
    from reproduce.audit import ledger
    from reproduce.audit.claims import CLAIMS

    notes = {c.id: c.note for c in CLAIMS}
    assert not any("can be downloaded on this machine" in n for n in notes.values())
    assert notes["table5.fcn-16s"] == ("needs the weights and datasets (no copy of its weights survives): make "
                                       "retrain-table5 ROWS=siftflow-fcn16s retrains it from the ILSVRC net and "
                                       "judges it")
    assert notes["table3.fcn-8s"].endswith("make reproduce-table3 with them checks it (make weights NET=voc-fcn8s)")
    assert ledger.records_lines(ledger.table_records(tmp_path))[0].startswith("table records on this machine: none")
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "table5.json").write_text(json.dumps({
        "table": 5, "smoke": True, "device": "CPU X", "finished": 0,
        "rows": [{"method": "FCN-16s", "net": "siftflow-fcn16s", "verdict": "smoke run: MEANINGLESS, not judged"},
                 {"method": "Liu et al.", "net": None, "verdict": "baseline (another method; nothing to run)"}]}))
    (tmp_path / "table2.json").write_text(json.dumps({
        "table": 2, "smoke": False, "device": "GPU Y", "finished": 0,
        "rows": [{"method": "FCN-8s", "net": "voc-fcn8s", "verdict": "PASS"}]}))
    lines = ledger.records_lines(ledger.table_records(tmp_path))
    assert lines[0] == "table records on this machine: 2"
    assert lines[1].endswith("table2.json (Table 2, 1970-01-01, GPU Y)") and lines[2] == "    FCN-8s [voc-fcn8s]: PASS"
    assert "SMOKE RUN: numbers MEANINGLESS" in lines[3]
    assert lines[4] == "    FCN-16s [siftflow-fcn16s]: smoke run: MEANINGLESS, not judged" and len(lines) == 5


@pytest.mark.slow  # FCN-AlexNet and FCN-GoogLeNet at full size, 3 updates of 20 images each, two processes: minutes
def test_make_retrain_table1_smoke_trains_its_two_chains_side_by_side_each_in_its_own_process(tmp_path):
    """GPUS=2 with the CPU standing in for the GPUs: each chain's stage a reproduce.train process of its own."""
    results, records = tmp_path / "results", tmp_path / "records"
    (tmp_path / "stamp").touch()
    done = subprocess.run(["make", "--no-print-directory", "retrain-table1", "SMOKE=1", "GPUS=2", f"RESULTS={results}",
                           f"ARGS=--records {records} --timing-steps 1 --device cpu", f"STAMP={tmp_path / 'stamp'}",
                           f"PY={sys.executable}"], cwd=REPO, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "chain voc-fcn-alexnet: on cpu" in done.stdout and "chain voc-fcn-googlenet: on cpu" in done.stdout
    assert "estimated total on CPU" in done.stdout and "2 chain(s) at a time" in done.stdout
    record = json.loads((records / "smoke" / "table1.json").read_text())
    rows = {r["net"]: r for r in record["rows"] if r["net"] in ("voc-fcn-alexnet", "voc-fcn-googlenet")}
    assert all("mean_iu" in r["ours"] and r["verdict"].startswith("smoke run: MEANINGLESS") for r in rows.values())
    assert record["provenance"]["voc-fcn-googlenet"]["weights"] == \
        str(results / "smoke" / "voc-fcn-googlenet" / "voc-fcn-googlenet.h5")


@pytest.mark.slow  # three nets built, trained two steps and run twice: 5 to 13 s on 2 shared cores
def test_the_plan_times_a_training_step_of_every_kind_of_stage(narrowed):
    """The two-stream nets (two inputs), RGB-D's depth input and FCN-GoogLeNet each train a timed step on a
    synthetic image of their inputs' shapes (narrowed nets, a tiny image)."""
    import torch

    for net in ("nyud-fcn16s-color-hha", "nyud-fcn32s-color-d", "voc-fcn-googlenet"):
        stage = retrain.stages_for([net])[-1]
        timing = retrain.time_stage(stage, torch.device("cpu"), (6, 7), steps=1)
        assert timing["train_s_per_image"] > 0 and timing["forward_s"] > 0 and timing["size"] == [6, 7]


WORKER = """
import sys
import nets
from tiny_nets import narrow
from reproduce import distributed, retrain
real, cache = nets.spec, {}
def spec(name, variant=None):
    if (name, variant) not in cache:
        cache[name, variant] = narrow(real(name, variant), 16)
    return cache[name, variant]
nets.spec = spec
sys.exit(distributed.entry(lambda: retrain.main(sys.argv[1:])))
"""


@pytest.mark.slow  # a torchrun launch of two ranks (gloo on the CPU) beside one process: about a minute
@pytest.mark.distributed
def test_the_cvpr_regime_under_torchrun_splits_each_stages_batch_over_the_ranks(narrowed, tmp_path, capsys):
    """REGIME=cvpr NPROC=2: every stage trains on both ranks (10 of the 20 images each), rank 0 writes; the final
    weights are one process's up to the order of the float32 sums."""
    import weights

    argv = ["5", "--smoke", "--regime", "cvpr", "--rows", "siftflow-fcn32s", "--iters", "2", "--snapshot-every", "1",
            "--timing-steps", "1", "--device", "cpu"]
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "--max-restarts=0", str(tmp_path / "worker.py"), *argv, "--results",
                           str(tmp_path / "two"), "--records", str(tmp_path / "records-two")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 ranks (gloo) x 10 passes" in done.stdout and "over 2 ranks" in done.stdout
    assert retrain.main([*argv, "--results", str(tmp_path / "one"), "--records", str(tmp_path / "records-one")]) == 0
    capsys.readouterr()
    two = {x.name: x.blobs for x in weights.read_weights(
        tmp_path / "two" / "smoke" / "cvpr" / "siftflow-fcn32s" / "siftflow-fcn32s.h5").layers}
    one = {x.name: x.blobs for x in weights.read_weights(
        tmp_path / "one" / "smoke" / "cvpr" / "siftflow-fcn32s" / "siftflow-fcn32s.h5").layers}
    start = {x.name: x.blobs for x in weights.read_weights(
        tmp_path / "one" / "smoke" / "cvpr" / "siftflow-fcn32s" / "init.h5").layers}
    assert set(one) == set(two)
    for name in one:
        for a, b in zip(one[name], two[name], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6 * float(np.abs(a).max() or 1))
    assert any(not np.array_equal(one[n][0], start[n][0]) for n in one)  # the weights moved
    record = json.loads((tmp_path / "records-two" / "smoke" / "table5.json").read_text())
    assert record["world_size"] == 2 and record["meaningless"]
