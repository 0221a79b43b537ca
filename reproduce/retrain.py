"""Retrain the rows of a paper table whose weights are gone: ``make retrain-tableN`` (= ``.venv/bin/python -m
reproduce.retrain N``), for Table 1's FCN-AlexNet and FCN-GoogLeNet and Tables 4, 5 and 6.

Of the reference's releases only the VOC VGG nets survive (weights.zoo); the NYUD, SIFT Flow, PASCAL-Context and
FCN-AlexNet caffemodels were only ever on the reference's server, and FCN-GoogLeNet, NYUD's RGBD and FCN-16s
RGB-HHA were never released. Their rows come back only by training, from the ILSVRC classifiers, which survive
with checksums. For each row this runs the reference's whole staged recipe, as its solve.py scripts did, each
stage from its net's record (nets.registry):

1. fetch and verify the ILSVRC classifier (weights.zoo: every mirror, every published checksum);
2. transplant it into the first stage's net (weights.transplant: fc6/fc7 reshaped, new score layers zero);
3. train that stage with the reference's solver (reproduce.train: its snapshots and resume);
4. transplant the stage's final weights into the next stage's net (FCN-32s -> 16s -> 8s; NYUD's color and HHA
   nets into the two-stream net) and train it, and so on;
5. evaluate each row and judge it against its paper row at the retrained tolerance, writing the same records
   as ``make reproduce-tableN`` (reproduce.runner via the table's script).

Layout under ``--results`` (``RESULTS=``, default results/retrain; a smoke run uses its smoke/ folder, the CVPR
regime its cvpr/ folder): one folder per stage, named by the stage's net, holding ``init.h5`` (the transplanted
start), ``NET_iter_N.h5`` and ``NET_iter_N.solverstate.h5`` (the snapshots), ``NET.h5`` (the stage's final
weights) and ``stage.json`` (where it started from, with hashes, and what it wrote). A rerun skips a finished
stage (its ``NET.h5`` exists), resumes an unfinished one from its last complete snapshot (at most one snapshot
interval lost), and starts the rest; a finished stage's file that the user replaced is kept and used as it is,
unless ``--force`` (``FORCE=1``), which trains every stage of the run again from its start.

Scale: the reference's heavy recipe updates after every image, which no number of GPUs can split without
changing the recipe (reproduce.train refuses to). ``--gpus N`` (``GPUS=N``) runs up to N independent chains side
by side, one GPU each (a chain is a row's stages in order: NYUD's color, HHA and RGBD nets are three, SIFT
Flow's and Context's 32s -> 16s -> 8s one each), each stage a ``reproduce.train`` process on its GPU. The CVPR
regime (``--regime cvpr``, batch 20) splits each update over ranks: run this command under torchrun (``make
retrain-tableN REGIME=cvpr NPROC=4``, or several nodes through torchrun's rendezvous; docs/retrain.md), every
stage then trains on all ranks.

Before it starts, it prints the plan: the chains and stages, each stage's iterations and state, the step time
measured on this device (a few timed steps of each stage's net on an image of its dataset's size) and the
estimated total; ``--plan`` (``PLAN=1``) stops there and keeps the plan as ``RESULTS/plan-tableN.json``, which
the tables' rows quote as their estimated time.

``--smoke`` (``SMOKE=1``): the whole chain on generated miniature datasets (reproduce.smoke) with a random
stand-in for the ILSVRC classifier and a few iterations per stage, on a CPU in minutes; every number it prints
is MEANINGLESS by design and its records say so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from data.cli import add_words_option, parse_with_words
from data.files import atomic_path, sha256_file
from data.layout import kit_command
from nets.registry import CLASSIFIERS, RECORDS, Solver

from . import distributed, options
from .records import REPO, write_json

DEFAULT_RESULTS = REPO / "results" / "retrain"
RECORDS_DIR = REPO / "results"  # where the table records go, as make reproduce-tableN writes them
SNAPSHOT_EVERY = 4000  # the reference solvers' snapshot interval (reproduce.train's default)
SMOKE_ITERS, SMOKE_SNAPSHOT_EVERY = 3, 2  # a snapshot inside each stage, so that a resume inside one is possible
SMOKE_SEED = 0
TIMING_STEPS = 2  # timed training steps per stage for the plan, after one warm-up step
# A typical training image of each dataset, height x width, for the timed steps: SBD and PASCAL-Context (VOC
# pictures) at most 500 pixels a side, NYUDv2's Kinect frames 640x480, SIFT Flow 256x256.
TYPICAL_SIZE = {"sbd": (375, 500), "pascalcontext": (375, 500), "nyud": (480, 640), "siftflow": (256, 256)}
SMOKE_SIZE = (24, 28)  # reproduce.smoke.SIZE, without importing it here
STAGE_RECORD = "stage.json"
# the step times of every stage measured by benchmarks.retrain_steps on a quiet 2-core CPU and kept in the
# repository, so that a table can give an order of magnitude before this machine has timed anything
KEPT_STEPS = REPO / "benchmarks" / "records" / "bench-retrain-steps.json"
SNAPSHOT = re.compile(r"(?P<net>.+)_iter_(?P<iter>\d+)\.solverstate\.h5")


class RetrainError(RuntimeError):
    """The run cannot go on: bad rows, missing inputs, a stage that failed; the message says what to do."""


# ---- what a table retrains ----------------------------------------------------------------------------------


def retrain_tables() -> tuple[int, ...]:
    """The tables with rows only retraining brings back (weights.zoo.RETRAIN_TABLES: 1, 4, 5, 6)."""
    from weights.zoo import RETRAIN_TABLES

    return RETRAIN_TABLES


def retrainable_rows(number: int) -> list:
    """The rows of Table ``number`` whose weights do not survive (never released, or only ever on the
    reference's server), in the paper's order."""
    from weights.zoo import retrain_table

    from .tables import TABLES

    return [r for r in TABLES[number].rows if r.net and not r.variant and retrain_table(r.net) == number]


@dataclass(frozen=True)
class Stage:
    """One net trained once: from the final weights of the stages ``after`` (kit nets) or from the ILSVRC
    ``classifiers``, with ``solver``."""

    net: str
    after: tuple[str, ...]
    classifiers: tuple[str, ...]
    solver: Solver
    regime: str = "reference"

    @property
    def iterations(self) -> int:
        return self.solver.max_iter


def stages_for(nets: Sequence[str], regime: str = "reference") -> list[Stage]:
    """Every stage the rows ``nets`` need, each once, in an order where a stage follows those it starts from.
    A net's stages come from its record's recipe: its init names the coarser nets (stages too) or the ILSVRC
    classifiers. A regime the net's record lacks raises RetrainError saying why (PASCAL-Context has no CVPR
    regime)."""
    order: list[Stage] = []
    seen: set[str] = set()

    def visit(net: str) -> None:
        if net in seen:
            return
        record = RECORDS[net]
        try:
            solver = record.recipe(regime)
        except KeyError:
            raise RetrainError(f"{net} has no {regime} regime: {record.recipes_note}") from None
        after = tuple(i for i in solver.init if i in RECORDS)
        for previous in after:
            visit(previous)
        seen.add(net)
        order.append(Stage(net, after, tuple(i for i in solver.init if i not in RECORDS), solver, regime))

    for net in nets:
        visit(net)
    return order


def chains(stages: Sequence[Stage]) -> list[list[Stage]]:
    """The stages as chains: runs of stages each of which starts from the one before it alone (32s -> 16s ->
    8s); a stage made from several (NYUD's two-stream net) starts a chain that waits for theirs. Chains are
    independent of each other except for those waits."""
    successors = {s.net: [t for t in stages if s.net in t.after] for s in stages}
    out: list[list[Stage]] = []
    placed: set[str] = set()
    for stage in stages:
        if stage.net in placed:
            continue
        chain = [stage]
        placed.add(stage.net)
        while len(nxt := successors[chain[-1].net]) == 1 and len(nxt[0].after) == 1:
            chain.append(nxt[0])
            placed.add(nxt[0].net)
        out.append(chain)
    return out


def waits_for(chain: Sequence[Stage]) -> tuple[str, ...]:
    """The stages of other chains this chain starts from."""
    return chain[0].after


def init_words(stage: Stage) -> str:
    """Where a stage starts from, in words: the ILSVRC classifier and where it is fetched from, or the
    previous stages."""
    if stage.after:
        return " and ".join(stage.after) + " (the previous stage" + ("s" if len(stage.after) > 1 else "") + ")"
    parts = []
    for name in stage.classifiers:
        entry = CLASSIFIERS[name]
        hosts = ", ".join(dict.fromkeys(_host(s.url) for s in entry.surviving))
        sums = ", ".join(dict.fromkeys(a for s in entry.surviving for a in s.checksums))
        parts.append(f"{stage.solver.init_note} (make weights NET={name}: from {hosts}; {sums} checked)")
    return " and ".join(parts)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


# ---- where everything lies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The tree under --results: one folder per stage (named by its net), the smoke run's and the CVPR
    regime's in folders of their own."""

    root: Path
    smoke: bool = False
    regime: str = "reference"

    @property
    def base(self) -> Path:
        """What reproduce.train's --out gets: it trains NET into base/NET."""
        base = self.root / "smoke" if self.smoke else self.root
        return base if self.regime == "reference" else base / self.regime

    @property
    def data(self) -> Path:
        """The smoke run's miniature datasets."""
        return self.root / "smoke" / "data"

    def folder(self, net: str) -> Path:
        return self.base / net

    def init(self, net: str) -> Path:
        return self.folder(net) / "init.h5"

    def final(self, net: str) -> Path:
        return self.folder(net) / f"{net}.h5"

    def record(self, net: str) -> Path:
        return self.folder(net) / STAGE_RECORD

    def plan(self, number: int) -> Path:
        return self.base / f"plan-table{number}.json"

    def snapshots(self, net: str) -> dict[int, Path]:
        """Iteration -> solverstate of every complete snapshot of the stage (its weights file beside it)."""
        folder = self.folder(net)
        found = {}
        for path in folder.glob(f"{net}_iter_*.solverstate.h5") if folder.is_dir() else ():
            match = SNAPSHOT.fullmatch(path.name)
            if match and match["net"] == net and (folder / f"{net}_iter_{match['iter']}.h5").is_file():
                found[int(match["iter"])] = path
        return found


def stage_state(layout: Layout, stage: Stage, iterations: int) -> str:
    """"finished", "resume from iteration N" or "start", for the plan."""
    if layout.final(stage.net).is_file():
        return "finished"
    done = [i for i in layout.snapshots(stage.net) if i <= iterations]
    return f"resume from iteration {max(done)}" if done else "start"


# ---- the run's settings ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one retraining run does: the table, rows, stages and chains, where, on what, and how long."""

    number: int
    rows: list
    stages: list[Stage]
    layout: Layout
    args: argparse.Namespace
    world: distributed.World = distributed.SINGLE
    log: Callable[[str], None] = print
    argv: list[str] = dataclasses.field(default_factory=list)  # as given, for the plan's record

    @property
    def smoke(self) -> bool:
        return bool(self.args.smoke)

    def iterations(self, stage: Stage) -> int:
        return self.args.iters or (SMOKE_ITERS if self.smoke else stage.iterations)

    @property
    def snapshot_every(self) -> int:
        return self.args.snapshot_every or (SMOKE_SNAPSHOT_EVERY if self.smoke else SNAPSHOT_EVERY)

    @property
    def data_root(self) -> Path | None:
        return self.layout.data if self.smoke else self.args.data_root

    def say(self, line: str) -> None:
        if self.world.main:
            self.log(line)


def parse_rows(number: int, wanted: Sequence[str] | None) -> list:
    """The rows ``--rows`` names (NET, or the row's method as the paper prints it), else every retrainable row
    of the table. An unknown or not retrainable row is a RetrainError naming the ones there are."""
    import nets

    rows = retrainable_rows(number)
    if not rows:
        raise RetrainError(f"Table {number} has no row to retrain: its weights survive (make reproduce-table"
                           f"{number}); the tables with rows to retrain are "
                           f"{', '.join(map(str, retrain_tables()))}")
    if not wanted:
        return rows
    picked = []
    for word in wanted:
        try:
            name = nets.canonical_name(word)
        except KeyError:
            name = word
        row = next((r for r in rows if r.net == name or r.method == word), None)
        if row is None:
            have = ", ".join(f"{r.net} ({r.method})" for r in rows)
            raise RetrainError(f"ROWS={word!r} is no row of Table {number} that retraining brings back; its rows "
                               f"are: {have}")
        if row not in picked:
            picked.append(row)
    return picked


# ---- inputs -------------------------------------------------------------------------------------------------


def check_data(run: Run) -> dict:
    """Every split the run reads (each stage's training split, each row's test split), opened without reading an
    image: one MissingInputs names every absent folder with the ``make data`` that fetches it. Returns the
    test readers by net."""
    from .datasets import MissingInputs, open_split

    missing: list[tuple[str, str]] = []
    readers = {}
    extra = {"expect_split": None} if run.smoke else {}
    wanted = [(s.net, *RECORDS[s.net].train) for s in run.stages]
    wanted += [(r.net, *RECORDS[r.net].test) for r in run.rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the miniature lists are not the reference's
        for net, dataset, split in wanted:
            try:
                reader = open_split(net, dataset, split, run.data_root, **extra)
            except MissingInputs as e:
                missing += [m for m in e.missing if m not in missing]
                continue
            if (dataset, split) == RECORDS[net].test:
                readers[net] = reader
    if missing:
        raise MissingInputs(missing)
    return readers


def classifier_path(run: Run, name: str) -> Path:
    """The ILSVRC classifier's converted weights: fetched and verified by weights.zoo where it is not there yet
    (every mirror in turn, every published checksum; one process only). Missing after that: RetrainError naming
    ``make weights NET=NAME`` and the zoo's manual steps."""
    from weights import zoo

    path = zoo.h5_path(name)
    if path.is_file():
        return path
    if run.world.distributed:
        raise RetrainError(f"the ILSVRC init {name} is not at {path}; fetch it once before the torchrun launch: "
                           f"make weights NET={name}")
    try:
        return zoo.fetch(zoo.MANIFEST[name], log=run.log)
    except zoo.ZooError as e:
        raise RetrainError(f"cannot get the ILSVRC init {name} that the first stage starts from ({e}).\n"
                           f"`make weights NET={name}` fetches and verifies it; then run this again.") from None


def smoke_classifier(stage: Stage) -> dict[str, list]:
    """A random stand-in for the ILSVRC classifier of a smoke run, shaped as the real one: the trunk layers of
    the stage's net with seeded weights, fc6 and fc7 as InnerProduct matrices (the transplant reshapes them),
    RGB-D's conv1_1_bgrd as the RGB conv1_1 the transplant derives it from, and a classifier layer fc8 that the
    transplant drops."""
    import nets
    from nets.seeded import seeded_params

    spec = nets.spec(stage.net)
    trunk = spec.trunk_layers()
    blobs = {name: b for name, b in seeded_params(spec, SMOKE_SEED).items() if name in trunk}
    if "conv1_1_bgrd" in blobs:
        weight, *rest = blobs.pop("conv1_1_bgrd")
        blobs["conv1_1"] = [weight[:, :3].copy(), *rest]
    for name in ("fc6", "fc7"):
        if name in blobs:
            weight, *rest = blobs[name]
            blobs[name] = [weight.reshape(weight.shape[0], -1), *rest]
    import numpy as np

    blobs["fc8"] = [np.zeros((10, 4), np.float32), np.zeros(10, np.float32)]
    return blobs


def make_init(run: Run, stage: Stage) -> Path:
    """The stage's starting weights, ``init.h5``, transplanted from the ILSVRC classifier or the previous stages'
    final weights (weights.transplant), and ``init.json`` saying what they were made from. Kept once made: a
    resumed run starts from the same file."""
    from weights.transplant import transplant_file

    path = run.layout.init(stage.net)
    if path.is_file():
        return path
    if stage.after:
        sources = [run.layout.final(n) for n in stage.after]
        made_from = [{"stage": n, "file": str(p), "sha256": sha256_file(p)} for n, p in zip(stage.after, sources,
                                                                                         strict=True)]
    elif run.smoke:
        run.say(f"{stage.net}: smoke run, a random stand-in for {stage.solver.init_note} (not fetched)")
        sources = [smoke_classifier(stage)]
        made_from = [{"classifier": n, "file": f"random (seed {SMOKE_SEED}, smoke run)"} for n in stage.classifiers]
    else:
        sources = [classifier_path(run, n) for n in stage.classifiers]
        made_from = [{"classifier": n, "file": str(p), "sha256": sha256_file(p)} for n, p in zip(stage.classifiers,
                                                                                                 sources, strict=True)]
    run.say(f"{stage.net}: transplanting {', '.join(m.get('stage') or m['classifier'] for m in made_from)} into "
            f"{path}")
    transplant_file(stage.net, sources, path, log=None)
    write_json(run.layout.folder(stage.net) / "init.json", {"net": stage.net, "from": made_from,
                                                           "init_sha256": sha256_file(path)})
    return path


# ---- one stage --------------------------------------------------------------------------------------------


def train_argv(run: Run, stage: Stage, device: str | None) -> list[str]:
    """reproduce.train's arguments for the stage: resume from its last complete snapshot, else start from its
    init.h5."""
    iterations = run.iterations(stage)
    snapshots = {i: p for i, p in run.layout.snapshots(stage.net).items() if i <= iterations}
    argv = [stage.net, "--iters", str(iterations), "--snapshot-every", str(run.snapshot_every),
            "--out", str(run.layout.base), "--regime", stage.regime]
    argv += ["--resume", str(snapshots[max(snapshots)])] if snapshots else ["--init", str(run.layout.init(stage.net))]
    if run.data_root is not None:
        argv += ["--data-root", str(run.data_root)]
    if run.smoke:
        argv += ["--any-split"]  # the miniature lists are not the reference's
    if device:
        argv += ["--device", device]
    argv += ["--precision", run.args.precision, "--dist-timeout", str(run.args.dist_timeout)]
    return argv


def finish(run: Run, stage: Stage) -> Path:
    """Copy the stage's last snapshot to its final weights ``NET.h5`` (atomically) and write ``stage.json``."""
    iterations = run.iterations(stage)
    last = run.layout.folder(stage.net) / f"{stage.net}_iter_{iterations}.h5"
    if not last.is_file():
        raise RetrainError(f"{stage.net}: training ended without its snapshot {last}; run this command again to "
                           "resume it")
    final = run.layout.final(stage.net)
    with atomic_path(final) as tmp:
        shutil.copyfile(last, tmp)
    init = run.layout.folder(stage.net) / "init.json"
    write_json(run.layout.record(stage.net), {
        "net": stage.net, "regime": stage.regime, "iterations": iterations, "snapshot": last.name,
        "solver": dataclasses.asdict(stage.solver), "smoke": run.smoke, "meaningless": run.smoke,
        "init": json.loads(init.read_text()) if init.is_file() else None,
        "final": final.name, "final_sha256": sha256_file(final), "finished": time.time()})
    run.say(f"{stage.net}: finished, final weights {final}")
    return final


def finished_note(run: Run, stage: Stage) -> str:
    """What a rerun says of a finished stage: skipped, and whether its final file is still the one it wrote."""
    final = run.layout.final(stage.net)
    note = f"{stage.net}: finished ({final}), skipped"
    record = run.layout.record(stage.net)
    if record.is_file():
        wrote = json.loads(record.read_text()).get("final_sha256")
        if wrote and wrote != sha256_file(final):
            note += ("; its file is not the one the stage wrote (replaced since): kept and used as it is "
                     "(--force / FORCE=1 trains the stage again and replaces it)")
    return note


def clear(run: Run, stage: Stage) -> None:
    """--force: remove what the kit wrote for the stage (its snapshots, init, final weights and records), so that
    it trains again from its start."""
    folder = run.layout.folder(stage.net)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if SNAPSHOT.fullmatch(path.name) or re.fullmatch(rf"{re.escape(stage.net)}_iter_\d+\.h5", path.name) or \
                path.name in ("init.h5", "init.json", STAGE_RECORD, f"{stage.net}.h5"):
            path.unlink()


def run_stage(run: Run, stage: Stage, device: str | None = None, spawn: bool = False) -> Path:
    """One stage, resumable: skip it when finished, else make its init (once), train it (resuming from its last
    snapshot) and finish it. ``spawn``: train in a ``reproduce.train`` process of its own (a chain on its GPU)."""
    final = run.layout.final(stage.net)
    if final.is_file():
        run.say(finished_note(run, stage))
        return final
    missing = [n for n in stage.after if not run.layout.final(n).is_file()]
    if missing:
        raise RetrainError(f"{stage.net} starts from {', '.join(missing)}, whose stage has not finished")
    if run.world.main:
        make_init(run, stage)
    distributed.barrier(run.world)
    argv = train_argv(run, stage, device)
    start = f"resuming {argv[argv.index('--resume') + 1]}" if "--resume" in argv else "from init.h5"
    run.say(f"{stage.net}: training, {start}")
    if spawn:
        command = [sys.executable, "-m", "reproduce.train", *argv]
        done = subprocess.run(command, cwd=REPO, check=False)
        code = done.returncode
    else:
        from . import train

        with warnings.catch_warnings():
            if run.smoke:
                warnings.simplefilter("ignore", UserWarning)  # the miniature lists are not the reference's
            code = train.main(argv)
    if code != 0:
        raise RetrainError(f"{stage.net}: training stopped with status {code} (its messages above); what it "
                           f"snapshotted is kept, and running this command again resumes it")
    if run.world.main:
        finish(run, stage)
    distributed.barrier(run.world)
    return final


def run_chains(run: Run, workers: int, devices: Sequence[str | None]) -> None:
    """Every chain's stages in order; with ``workers`` > 1 up to that many chains side by side, chain k's stages
    each a process on ``devices[slot]``, a chain starting once the chains it waits for are done."""
    groups = chains(run.stages)
    if workers <= 1:
        for chain in groups:
            for stage in chain:
                run_stage(run, stage, devices[0] if devices else None)
        return
    import concurrent.futures as futures

    free = list(range(workers))
    done: set[str] = set()
    pending = list(groups)
    failures: list[str] = []
    with futures.ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[futures.Future, tuple[list[Stage], int]] = {}
        while pending or running:
            ready = [c for c in pending if set(waits_for(c)) <= done] if not failures else []
            while ready and free:
                chain, slot = ready.pop(0), free.pop(0)
                pending.remove(chain)
                run.say(f"chain {' -> '.join(s.net for s in chain)}: on {devices[slot] or 'the default device'}")
                running[pool.submit(_chain_on, run, chain, devices[slot])] = (chain, slot)
            if not running:
                break
            finished, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in finished:
                chain, slot = running.pop(future)
                free.append(slot)
                try:
                    future.result()
                    done.update(s.net for s in chain)
                except RetrainError as e:
                    failures.append(str(e))
    if failures or pending:
        stopped = [s.net for c in pending for s in c]
        raise RetrainError("\n".join(failures) + (f"\nnot started: {', '.join(stopped)}" if stopped else ""))


def _chain_on(run: Run, chain: Sequence[Stage], device: str | None) -> None:
    for stage in chain:
        run_stage(run, stage, device, spawn=True)


# ---- the plan ---------------------------------------------------------------------------------------------


def synthetic_item(net, size: tuple[int, int], seed: int = 0) -> dict:
    """One training image and its labels of ``size`` for the net's inputs (random, as the timing needs)."""
    import numpy as np

    from . import feed

    rng = np.random.default_rng(seed)
    item = {}
    for blob, top in feed.input_tops(net).items():
        item[top] = rng.normal(0.0, 50.0, (net.spec.inputs[blob], *size)).astype(np.float32)
    for _, top in feed.label_tops(net).items():
        item[top] = rng.integers(0, 2, size).astype(np.uint8)
    return item


def time_stage(stage: Stage, device, size: tuple[int, int], steps: int = TIMING_STEPS,
               precision: str = "exact") -> dict:
    """Seconds per training image (a forward and backward pass and an update, reproduce.train's Trainer) and
    per evaluated image (a forward) of the stage's net at ``size``, on ``device``: one warm-up step, then the
    median of ``steps`` timed ones. The weights are seeded random ones: the time does not depend on them."""
    import statistics

    import torch

    import nets
    from nets.seeded import seeded_weights

    from . import feed
    from .train import Trainer

    net = seeded_weights(nets.build(stage.net), SMOKE_SEED)
    net.to(device)
    net.precision = precision
    setting = dataclasses.replace(stage.solver, iter_size=1)
    trainer = Trainer(net, setting, [synthetic_item(net, size)], device, feed.input_tops(net), feed.label_tops(net),
                      world=distributed.SINGLE)

    def timed(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    trainer.step()
    train_s = statistics.median(timed(trainer.step) for _ in range(steps))
    net.eval()
    x = feed.inputs_from_item(net, synthetic_item(net, size), device, feed.input_tops(net))
    with torch.inference_mode():
        net(*x)
        forward_s = statistics.median(timed(lambda: net(*x)) for _ in range(steps))
    return {"train_s_per_image": train_s, "forward_s": forward_s, "size": list(size), "steps": steps}


def measure(run: Run, device) -> dict[str, dict]:
    """The plan's timings, per stage net (only rank 0 measures, alone)."""
    import gc

    out = {}
    for stage in run.stages:
        size = SMOKE_SIZE if run.smoke else TYPICAL_SIZE[RECORDS[stage.net].train[0]]
        out[stage.net] = time_stage(stage, device, size, run.args.timing_steps, run.args.precision)
        gc.collect()
    return out


def simulate(groups: Sequence[Sequence[Stage]], workers: int, seconds: Mapping[str, float]) -> float:
    """The wall time of running the chains on ``workers`` devices as run_chains schedules them (a chain starts
    when a device is free and the chains it waits for are done), given each stage's seconds."""
    finished: dict[str, float] = {}
    free = [0.0] * max(1, workers)
    pending = list(groups)
    while pending:
        ready = [c for c in pending if set(waits_for(c)) <= set(finished)]
        chain = min(ready, key=lambda c: max([finished[n] for n in waits_for(c)] or [0.0]))
        pending.remove(chain)
        slot = min(range(len(free)), key=free.__getitem__)
        start = max([free[slot], *(finished[n] for n in waits_for(chain))])
        for stage in chain:
            start += seconds[stage.net]
            finished[stage.net] = start
        free[slot] = start
    return max(finished.values(), default=0.0)


def stage_seconds(stage: Stage, timing: Mapping[str, float], iterations: int, world: int = 1) -> float:
    """Training seconds of ``iterations`` of a stage at a measured step time (``time_stage``'s record), its
    images per update shared by ``world`` ranks."""
    return timing["train_s_per_image"] * stage.solver.iter_size / world * iterations


def row_seconds(net: str, seconds: Mapping[str, float], regime: str = "reference") -> float | None:
    """The training seconds of one table row: the sum over the stages its chain runs, from per-stage seconds;
    None where a stage of it was not timed."""
    needed = [s.net for s in stages_for([net], regime)]
    return sum(seconds[n] for n in needed) if all(n in seconds for n in needed) else None


def duration(seconds: float) -> str:
    """Seconds in the unit a person plans with."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan(run: Run, timings: Mapping[str, dict], device_words: str, workers: int, test_images: Mapping[str, int]) \
        -> tuple[str, dict]:
    """The plan as text and as a record: chains, stages (where each starts from, iterations, images per update,
    state), the measured step times and the estimated total, remaining and all."""
    world = max(1, run.world.size)
    lines = [f"Retraining Table {run.number}: {', '.join(f'{r.method} ({r.net})' for r in run.rows)}; "
             f"{run.args.regime} regime; stages under {run.layout.base}"
             + ("; SMOKE RUN: miniature data, a few iterations, every number MEANINGLESS" if run.smoke else "")]
    total: dict[str, float] = {}
    left: dict[str, float] = {}
    stages_out = {}
    for k, chain in enumerate(chains(run.stages), 1):
        wait = f" (after {', '.join(waits_for(chain))})" if waits_for(chain) else ""
        lines.append(f"chain {k}: {' -> '.join(s.net for s in chain)}{wait}")
        for stage in chain:
            iterations = run.iterations(stage)
            t = timings[stage.net]
            state = stage_state(run.layout, stage, iterations)
            done = iterations if state == "finished" else int(state.rsplit(" ", 1)[1]) if state.startswith("resume") \
                else 0
            total[stage.net] = stage_seconds(stage, t, iterations, world)
            left[stage.net] = stage_seconds(stage, t, iterations - done, world)
            lines.append(f"  {stage.net}: from {init_words(stage)}; {iterations:,} iterations x "
                         f"{stage.solver.iter_size} image(s) per update"
                         + (f" over {world} ranks" if world > 1 else "")
                         + f", {t['train_s_per_image']:.3g} s per image measured at {t['size'][1]}x{t['size'][0]}: "
                           f"{duration(total[stage.net])}; {state}")
            stages_out[stage.net] = {"chain": k, "from": list(stage.after or stage.classifiers),
                                     "iterations": iterations, "iter_size": stage.solver.iter_size, "state": state,
                                     **t, "seconds": total[stage.net], "seconds_left": left[stage.net]}
    groups = chains(run.stages)
    training = simulate(groups, workers, total)
    training_left = simulate(groups, workers, left)
    evaluation = sum(timings[r.net]["forward_s"] * test_images.get(r.net, 0) for r in run.rows
                     if r.net in timings)
    if test_images:
        lines.append(f"evaluation: {', '.join(f'{r.net} on {test_images.get(r.net, 0)} images' for r in run.rows)}: "
                     f"{duration(evaluation)}")
    else:
        lines.append("evaluation: not estimated (no test split here)")
    lines.append(f"estimated total on {device_words}, {workers} chain(s) at a time: {duration(training + evaluation)}"
                 f" ({duration(training_left + evaluation)} left)")
    record = {"table": run.number, "rows": [r.net for r in run.rows], "regime": run.args.regime,
              "device": device_words, "chains_at_a_time": workers, "world_size": world, "smoke": run.smoke,
              "meaningless": run.smoke, "stages": stages_out, "evaluation_seconds": evaluation,
              "training_seconds": training, "total_seconds": training + evaluation,
              "left_seconds": training_left + evaluation, "measured": time.strftime("%Y-%m-%d"),
              "load_average": list(os.getloadavg()),  # other work on a shared machine slows every step
              "command": kit_command("reproduce.retrain", *run.argv)}
    return "\n".join(lines), record


def estimate_line(number: int, net: str, root: Path = DEFAULT_RESULTS) -> str:
    """The estimated time of retraining one row, for the tables: from the plan last measured on this machine
    (``RESULTS/plan-tableN.json``, written by ``make retrain-tableN PLAN=1`` and by every retraining run), else
    how to measure it. No torch is imported."""
    path = Layout(Path(root)).plan(number)
    target = f"make retrain-table{number} ROWS={net}"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not record or record.get("smoke") or not record.get("stages"):
        kept = kept_estimate(number, net)
        return ((f"{kept}; " if kept else "") + f"not measured on this machine yet: `{target} PLAN=1` times a few "
                "training steps of each stage here and prints the total")
    regime = record.get("regime", "reference")
    seconds = row_seconds(net, {n: st["seconds"] for n, st in record["stages"].items()}, regime)
    if seconds is None:
        return f"the last plan did not time all of its stages: `{target} PLAN=1` does"
    count = len(stages_for([net], regime))
    return (f"about {duration(seconds)} on {record['device']} ({count} stage(s) in order, the step times "
            f"measured on {record['measured']} by `make retrain-table{number} PLAN=1`; evaluation not included)")


def kept_estimate(number: int, net: str, path: Path = KEPT_STEPS) -> str | None:
    """The time of retraining one row at the step times of the kit's kept benchmark record (a 2-core CPU's),
    or None where the record is absent or does not time every stage of the row."""
    try:
        record = json.loads(Path(path).read_text())
        seconds = {s["net"]: float(s["seconds"]) for s in record["tables"][str(number)]["stages"]}
        machine = record["machine"]
        where = f"{machine['cores']}-core {machine['cpu']} CPU ({machine['cpu_capability']})"
        measured = machine["date"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    total = row_seconds(net, seconds)
    if total is None:
        return None
    return (f"about {duration(total)} on a {where} at the step times the kit keeps "
            f"(benchmarks/records/{Path(path).name}, {measured}; evaluation not included)")


def road(number: int, net: str) -> list[str]:
    """The retraining road of a table row whose weights are gone or were never released, as the tables print
    it: the command, where it starts from (the ILSVRC net and its mirrors), the stages and iterations, and the
    estimated time. No torch is imported."""
    stages = stages_for([net])
    why = "never released" if RECORDS[net].weights is None else "no copy of the released weights is known to survive"
    return [f"retrain: make retrain-table{number} ROWS={net} ({why})",
            "starts from: " + "; ".join(init_words(s) for s in stages if not s.after)
            + f"; stages {' -> '.join(s.net for s in stages)}, {sum(s.iterations for s in stages):,} iterations",
            f"estimated time: {estimate_line(number, net)}"]


# ---- the command line -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=kit_command("reproduce.retrain"), description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("table", type=int, choices=retrain_tables(), metavar="TABLE",
                        help=f"the paper table: one of {', '.join(map(str, retrain_tables()))}")
    parser.add_argument("--rows", nargs="+", metavar="NET",
                        help="only these rows (their nets, or the paper's row names); default: every row of the "
                             "table whose weights do not survive")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="the tree of stages, snapshots and final weights (default results/retrain)")
    parser.add_argument("--records", type=Path, default=RECORDS_DIR,
                        help="where the table's records go (default results/, as make reproduce-tableN)")
    parser.add_argument("--regime", choices=("reference", "cvpr"), default="reference",
                        help="reference: each net's reference solver (default); cvpr: the CVPR paper's batch 20, "
                             "which splits across torchrun's ranks")
    parser.add_argument("--gpus", type=int, default=1, metavar="N",
                        help="run up to N chains side by side, one GPU each (cuda:0 .. cuda:N-1); with --device "
                             "cpu they share the CPU")
    parser.add_argument("--plan", action="store_true", help="print the plan (with the measured step times) and "
                                                            "keep it as RESULTS/plan-tableN.json; train nothing")
    parser.add_argument("--force", action="store_true",
                        help="train every stage of the run again from its start, replacing its files (the "
                             "snapshots and the final weights, a file the user put there included)")
    parser.add_argument("--smoke", action="store_true",
                        help="the whole chain on generated miniature data with a random stand-in for the ILSVRC "
                             f"net, {SMOKE_ITERS} iterations per stage: numbers MEANINGLESS, for checking the wiring")
    parser.add_argument("--iters", type=int, metavar="N",
                        help="iterations per stage (default: each net's reference solver's; smoke: "
                             f"{SMOKE_ITERS})")
    parser.add_argument("--snapshot-every", type=int, metavar="N",
                        help=f"iterations between snapshots (default {SNAPSHOT_EVERY}, the reference's; smoke: "
                             f"{SMOKE_SNAPSHOT_EVERY}): at most this many are lost to an interruption")
    parser.add_argument("--timing-steps", type=int, default=TIMING_STEPS, metavar="N",
                        help=f"timed training steps per stage for the plan (default {TIMING_STEPS}, after one "
                             "warm-up)")
    parser.add_argument("--data-root", type=Path, help="the datasets' root folder ($FCN_DATA layout; default "
                                                       "$FCN_DATA)")
    options.add_common(parser)
    add_words_option(parser)
    args = parse_with_words(parser, argv)
    for name in ("gpus", "iters", "snapshot_every", "timing_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return args


def devices_for(args: argparse.Namespace, world: distributed.World) -> list[str | None]:
    """The device of each chain slot: cuda:0 .. cuda:N-1 for --gpus N, the CPU for every slot with --device cpu,
    else the default device (one slot)."""
    if args.gpus <= 1:
        return [args.device]
    if world.distributed:
        raise RetrainError("--gpus (GPUS=) runs independent chains, one GPU each; under torchrun every stage "
                           "trains on all ranks instead: drop one of the two")
    if args.device == "cpu":
        return ["cpu"] * args.gpus
    import torch

    count = torch.cuda.device_count()
    if count < args.gpus:
        raise RetrainError(f"GPUS={args.gpus} runs {args.gpus} chains on {args.gpus} GPUs; this machine shows "
                           f"{count}. Pass GPUS={count or 1} (or --device cpu to try the chains on the CPU)")
    return [f"cuda:{k}" for k in range(args.gpus)]


def main(argv: Sequence[str] | None = None) -> int:
    from data.errors import SplitMismatchError

    from .datasets import MissingInputs

    args = parse_args(argv)
    world_env = distributed.environment_world()
    try:
        rows = parse_rows(args.table, args.rows)
        stages = stages_for([r.net for r in rows], args.regime)
    except RetrainError as e:
        return distributed.refuse(f"cannot retrain Table {args.table}: {e}", args.device, args.dist_timeout)
    layout = Layout(args.results.expanduser(), args.smoke, args.regime)
    run = Run(args.table, rows, stages, layout, args, world_env,
              argv=list(sys.argv[1:] if argv is None else argv))
    if args.smoke:
        smoke_data(layout, args.table, world_env, args.dist_timeout)
    try:
        readers = check_data(run)
    except (MissingInputs, SplitMismatchError) as e:
        if not (args.plan and isinstance(e, MissingInputs)):
            return distributed.refuse(f"cannot retrain Table {args.table}.\n{e}", args.device, args.dist_timeout)
        # a plan needs no data: it times synthetic images; only the evaluation's length is unknown
        readers = {}
        run.say("note: the plan leaves the evaluation out, the datasets are not here yet ("
                + "; ".join(dict.fromkeys(c for _, c in e.missing)) + ")")
    world, device = options.start(args)
    run.world = world
    try:
        slots = devices_for(args, world)
        if args.force and not args.plan and world.main:  # a plan changes nothing on disk but its record
            for stage in stages:
                clear(run, stage)
        distributed.barrier(world)
        if not args.plan and not args.smoke:  # the ILSVRC inits first: a missing one stops the run before any work
            for stage in stages:
                if not stage.after and not layout.final(stage.net).is_file() and not layout.init(stage.net).is_file():
                    for name in stage.classifiers:
                        classifier_path(run, name)
        if world.main:
            from .records import device_name

            timings = measure(run, device if slots[0] is None else _torch_device(slots[0]))
            text, record = plan(run, timings, device_name(device if slots[0] is None else _torch_device(slots[0])),
                                len(slots), {n: len(r) for n, r in readers.items()})
            print(text, flush=True)
            write_json(layout.plan(args.table), record)
        distributed.barrier(world)
        if args.plan:
            run.say(f"plan kept as {layout.plan(args.table)}; nothing trained (drop PLAN=1 / --plan to run it)")
            return 0
        run_chains(run, len(slots), slots)
    except RetrainError as e:
        if world.main:
            print(f"retraining Table {args.table} stopped: {e}", file=sys.stderr, flush=True)
        return 1
    return evaluate(run)


def smoke_data(layout: Layout, number: int, world: distributed.World, timeout_s: float) -> None:
    """The smoke run's miniature datasets, made once (atomically) under RESULTS/smoke/data; under torchrun rank 0
    makes them and the other ranks wait for the folder (no process group is joined yet)."""
    if layout.data.is_dir():
        return
    if world.main:
        from .smoke import build_for

        with atomic_path(layout.data, directory=True) as tmp:
            build_for(_dataset_of(number), tmp)
        return
    deadline = time.monotonic() + timeout_s
    while not layout.data.is_dir():
        if time.monotonic() > deadline:
            raise SystemExit(f"rank {world.rank}: rank 0 made no {layout.data} within {timeout_s:g} s")
        time.sleep(0.5)


def _dataset_of(number: int) -> str:
    from .tables import TABLES

    return TABLES[number].dataset


def _torch_device(name: str):
    import torch

    return torch.device(name)


def evaluate(run: Run) -> int:
    """Score every row on its test split and judge it against its paper row at the retrained tolerance, through
    the table's own script: the same records as ``make reproduce-tableN`` (results/tableN.json and .md)."""
    import importlib

    argv = ["--retrained", "--out", str(run.args.records), "--nets", *(r.net for r in run.rows)]
    for row in run.rows:
        argv += ["--weights", f"{row.net}={run.layout.final(row.net)}"]
    if run.smoke:
        argv += ["--smoke", "--data-root", str(run.layout.data)]
    elif run.args.data_root is not None:
        argv += ["--data-root", str(run.args.data_root)]
    if run.args.device:
        argv += ["--device", run.args.device]
    argv += ["--precision", run.args.precision, "--dist-timeout", str(run.args.dist_timeout)]
    run.say(f"evaluating: {kit_command(f'reproduce.table{run.number}', *argv)}")
    table = importlib.import_module(f"reproduce.table{run.number}")
    with warnings.catch_warnings():
        if run.smoke:
            warnings.simplefilter("ignore", UserWarning)
        return table.main(argv)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
