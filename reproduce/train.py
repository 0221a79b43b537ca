"""Train a reference FCN with the reference's solver: ``.venv/bin/python -m reproduce.train NET --init FILE.h5``.

What it reproduces: the reference's solve.py for each net (its record's solver, nets.record(NET).solver): Caffe
SGD with fixed learning rate, momentum, weight decay 5e-4 and the per-parameter lr_mult / decay_mult of the net,
iter_size, SoftmaxWithLoss with ignore 255 (summed, or normalised for FCN-AlexNet), one image per forward pass
drawn uniformly with replacement in the reference's order (random.seed(1337)), dropout on. On a GPU when present.
``--regime cvpr`` trains with the CVPR paper's regime instead, the "cvpr" recipe of the net's record (minibatch
20, momentum 0.9, normalised loss, the paper's fixed learning rate per trunk, biases at twice the rate; the VOC,
NYUD and SIFT Flow nets). ``--variant NAME`` trains a variant of the record (``fixed``: voc-fcn32s with every
layer but score_fr at lr_mult 0, CVPR Table 2's FCN-32s-fixed, in the regime the paper trained it with unless
--regime says otherwise); the run prints which layers learn and which are frozen, writes its snapshots under
OUT/NET-VARIANT and marks them with the variant.

Scaling out: ``torchrun --nproc_per_node=N -m reproduce.train NET ...`` (same arguments) runs one rank per GPU
under DistributedDataParallel. The solver's iter_size is the effective batch, the images of one update: with N
ranks each rank runs iter_size / N passes, DDP sums the gradients over the ranks and CaffeSGD divides the sum by
iter_size, so an update is one process's with the same iter_size (up to the order of the float32 sums). The
images: draw j of the reference's single stream goes to rank j mod N, so the N ranks of iteration t consume
exactly draws t x iter_size .. (t + 1) x iter_size - 1, the draws one process consumes. Dropout masks are
seeded by (--seed, draw j): the same masks for an image whichever rank runs it. The reference's heavy recipe
updates after every image (batch 1, momentum 0.99); N > 1 ranks cannot keep it, and the run refuses unless
--batch says how many images an update takes (then it is no longer the reference's recipe).

Snapshots every --snapshot-every iterations, written by rank 0 as Caffe writes them: ``NET_iter_N.h5`` (the
weights, HDF5 layout of weights.save) and then ``NET_iter_N.solverstate.h5`` (iteration, momentum history, the
sampler's seed and draws, the dropout seed, world size and effective batch, the weights file's name), each
atomically (data.files): a snapshot is complete once its solverstate exists. ``--resume
NET_iter_N.solverstate.h5`` continues bit for bit where an uninterrupted run would be (tested on the CPU; on a
GPU cuDNN is asked for deterministic kernels). A resume may change the world size as long as the effective
batch stays: the images and masks continue unchanged, the sums' order differs; another batch is an error.

Precision: exact (float32, Caffe's arithmetic) unless ``--precision`` asks for a fast mode; then the forward runs
under that mode's autocast (the trunk's convolutions in bf16 or fp16, the score layers, fusions and the loss in
float32) and the snapshots record the mode. A resume must ask for its snapshot's mode.

Cost: voc-fcn32s runs 100k iterations of one ~500x375 image; budget days on one GPU. A CPU manages a few
iterations per minute and is only for trying things.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from data.files import atomic_path, sha256_file
from nets.layers import softmax_with_loss
from nets.registry import CVPR_BATCH, NetRecord, Solver
from nets.solver import solver_for

from . import distributed, feed, options
from .records import device_name, run_name

SNAPSHOT_FORMAT = "fcn-kit solverstate 2"  # 2: dropout masks seeded per draw, world size and effective batch
DISPLAY = 20  # the reference solvers' display and average_loss
REFERENCE_SEED = 1337  # random.seed(1337) in the reference's data layers
SAMPLER_RULE = "draw j of the reference stream goes to rank j mod world_size"


# ---- the CVPR regime ----------------------------------------------------------------------------------------
# The CVPR paper's solver (ledger: train.cvpr-regime) is a recipe of the net records ("cvpr" in
# NetRecord.recipes, nets/registry.py).


def cvpr_solver(record: NetRecord) -> Solver:
    """The CVPR 2015 regime for a net, as its record holds it: minibatch 20 (iter_size 20 = ranks x passes per
    rank), momentum 0.9, weight decay 5e-4, normalised loss, the paper's fixed learning rate for the net's trunk
    (1e-3 AlexNet, 1e-4 VGG16, 5e-5 GoogLeNet), every bias at twice its weight's rate. The paper gives no
    iteration count: the reference solver's is kept (pass --iters). KeyError for a net the regime does not
    cover (PASCAL-Context), saying why."""
    return record.recipe("cvpr")


class BatchError(ValueError):
    """The recipe cannot run as asked: the regime does not cover the net, the effective batch cannot be divided
    between the ranks, or it is not the recipe's without being asked."""


def training_solver(record: NetRecord, regime: str = "reference", batch: int | None = None,
                    world_size: int = 1) -> tuple[Solver, list[str]]:
    """The solver a run uses, with ``iter_size`` = the effective batch (images per update, over all ranks),
    and the warnings to print. ``regime``: "reference" (the record's solver) or a recipe of the record ("cvpr");
    ``batch`` overrides the recipe's batch (a multiple of the world size)."""
    try:
        base = record.recipe(regime)
    except KeyError as e:
        raise BatchError(e.args[0]) from None
    recipe = "the reference's recipe" if regime == "reference" else "the CVPR regime"
    warnings = []
    if batch is None:
        if base.iter_size % world_size:
            heavy = " (the heavy recipe: batch 1, momentum 0.99)" if base.iter_size == 1 else ""
            raise BatchError(
                f"{record.name}: {recipe} updates after {base.iter_size} image(s){heavy}; {world_size} ranks "
                f"draw at least {world_size} images per update and {base.iter_size} does not divide between "
                f"them. Either pass --batch B (B a multiple of {world_size}: {recipe}'s other settings at an "
                f"effective batch of B, which is no longer {recipe}), or --regime cvpr (batch {CVPR_BATCH} = "
                "ranks x passes per rank, momentum 0.9)")
        return base, warnings
    if batch < 1 or batch % world_size:
        raise BatchError(f"--batch {batch} must be a positive multiple of the {world_size} ranks (each rank runs "
                         f"batch / {world_size} passes per update)")
    if batch != base.iter_size:
        warnings.append(f"--batch {batch}: {record.name} trains with {recipe}'s settings at an effective batch "
                        f"of {batch} images per update instead of {base.iter_size}; this is not {recipe}")
    return dataclasses.replace(base, iter_size=batch), warnings


def mask_seed(seed: int, draw: int) -> int:
    """The seed of dropout's masks for the run's ``draw``-th image: a function of (seed, draw) only."""
    return int(np.random.SeedSequence([seed, draw]).generate_state(1, np.uint64)[0])


class Trainer:
    """One Caffe SGDSolver over one net and one training reader, in one process or on each rank of a run.

    ``reader[i]`` is a dict top -> numpy array (data.load); ``inputs`` maps each net input to the reader top
    feeding it, ``labels`` each score blob to its label top. ``setting.iter_size`` is the effective batch:
    each of the world's N ranks runs iter_size / N passes per iteration. Images are drawn by data's
    ReferenceSampler (seed 1337: the reference's order), draw j going to rank j mod N; ``draws`` counts the
    run's draws, so a snapshot resumes the sequence where it stopped. Dropout's masks are seeded by
    (``dropout_seed``, draw). The lr_mult / decay_mult are the net's as ``setting`` applies them
    (nets.solver.recipe_multipliers); ``variant`` names the record's training variant the net was built as,
    which the snapshots record and a resume must match.
    """

    def __init__(self, net: nn.Module, setting: Solver, reader: Sequence[Mapping[str, np.ndarray]],
                 device: torch.device, inputs: Mapping[str, str], labels: Mapping[str, str],
                 seed: int = REFERENCE_SEED, *, dropout_seed: int = 0, world: distributed.World | None = None,
                 variant: str = ""):
        self.world = world or distributed.current()
        self.variant = variant  # the record's training variant the net was built as ("" for the net itself)
        if setting.iter_size % self.world.size:
            raise BatchError(f"iter_size {setting.iter_size} (the effective batch) does not divide between "
                             f"{self.world.size} ranks")
        self.passes = setting.iter_size // self.world.size  # per rank and iteration
        self.net = net.to(device).train()  # train mode: Caffe's Dropout drops at train time
        self.setting = setting
        # Caffe's Normalize divides the summed gradient by iter_size: here by the effective batch, since DDP
        # sums (not averages) over the ranks.
        self.solver = solver_for(self.net, setting)
        self.model = distributed.data_parallel(self.net, device, self.world)
        self.reader, self.device, self.seed, self.dropout_seed = reader, device, seed, dropout_seed
        self.inputs, self.labels = dict(inputs), dict(labels)
        self._seek(0)

    def _seek(self, draws: int) -> None:
        from data.loaders import ReferenceSampler

        self.draws = draws
        self._order = iter(ReferenceSampler(len(self.reader), self.seed, start=draws))

    @property
    def iter(self) -> int:
        return self.solver.iter

    @contextmanager
    def _masks(self, draw: int) -> Iterator[None]:
        """Dropout's generator seeded for this draw; the caller's RNG state is restored afterwards."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(mask_seed(self.dropout_seed, draw))
            yield

    def forward_backward(self, position: int, draw: int) -> float:
        """One pass on image ``position`` of the reader, the run's ``draw``-th; gradients accumulate into
        .grad (summed over the ranks by DDP on the iteration's last pass)."""
        item = self.reader[position]
        x = feed.inputs_from_item(self.net, item, self.device, self.inputs)
        y = feed.labels_from_item(self.net, item, self.device, self.labels)
        with self._masks(draw):
            outs = feed.outputs_by_name(self.net, self.model(*x))
        # Every reference loss layer has loss_weight 1: the net's loss is their sum (SIFT Flow: loss +
        # loss_geo). In float32 whatever the precision mode (the score layers are float32 in every mode).
        loss = sum(softmax_with_loss(outs[score].float(), y[score], self.setting.normalize)
                   for score in self.labels)
        loss.backward()
        return float(loss.detach())

    def step(self) -> float:
        """One Caffe iteration: the iteration's iter_size draws (this rank's share of them), then the update.
        Returns the loss Caffe reports for it (the mean over the iter_size passes of all ranks)."""
        self.model.train()
        self.solver.zero_grad()
        block = [(self.draws + j, next(self._order)) for j in range(self.setting.iter_size)]
        mine = block[self.world.rank::self.world.size]
        total = 0.0
        for i, (draw, position) in enumerate(mine):
            # DDP sums the gradients once per iteration: on the last pass, over what every rank accumulated.
            accumulate = self.world.distributed and i < len(mine) - 1
            with self.model.no_sync() if accumulate else nullcontext():
                total += self.forward_backward(position, draw)
        self.draws += len(block)
        self.solver.step()
        return distributed.all_reduce_sum(total, self.world) / self.setting.iter_size

    # ---- snapshots ---------------------------------------------------------------------------------------

    def snapshot(self, out_dir: str | Path) -> Path | None:
        """Write NET_iter_N.h5, then NET_iter_N.solverstate.h5, each atomically; returns the solverstate's path.
        Rank 0 writes (every rank holds the same weights and history); the others return None."""
        import weights

        if not self.world.main:
            return None
        out_dir = Path(out_dir)
        stem = f"{self.net.name}_iter_{self.iter}"
        # The weights file says which variant it is, so that a table run can refuse to judge it as another row.
        attrs = {"variant": self.variant} if self.variant else {}
        if not self.net.precision.exact:  # weights trained in a fast mode say so (exact's files stay as they were)
            attrs["precision"] = self.net.precision.name
        weights_path = weights.save(self.net, out_dir / f"{stem}.h5", attrs or None)
        state_path = out_dir / f"{stem}.solverstate.h5"
        solver = self.solver.state_dict()
        with atomic_path(state_path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = SNAPSHOT_FORMAT
            f.attrs["net"] = self.net.name
            f.attrs["iter"] = solver["iter"]
            f.attrs["learned_net"] = weights_path.name
            # The pair is written as two files, so a run killed between them (or a later run writing the same
            # iteration) could leave this state beside other weights; restore checks the hash.
            f.attrs["learned_net_sha256"] = sha256_file(weights_path)
            f.attrs["solver"] = json.dumps({k: solver[k] for k in ("base_lr", "momentum", "weight_decay",
                                                                     "iter_size")})
            f.attrs["normalize"] = self.setting.normalize
            f.attrs["variant"] = self.variant
            f.attrs["precision"] = self.net.precision.name
            # lr_mult / decay_mult per parameter: the variant's frozen layers and the regime's bias rule.
            f.attrs["multipliers"] = json.dumps(self.solver.multipliers, sort_keys=True)
            # The sampler is a seeded sequence: its state is the seed and how many images were drawn.
            f.attrs["sampler_seed"] = self.seed
            f.attrs["sampler_draws"] = self.draws
            f.attrs["sampler_size"] = len(self.reader)
            f.attrs["sampler_rule"] = SAMPLER_RULE
            f.attrs["dropout_seed"] = self.dropout_seed
            f.attrs["world_size"] = self.world.size
            f.attrs["passes_per_rank"] = self.passes
            f.attrs["backend"] = self.world.backend
            for name, v in solver["history"].items():
                f.create_dataset(f"history/{name}", data=v.numpy())
        return state_path

    def restore(self, state_path: str | Path) -> None:
        """Load a snapshot: the weights file it names, then iteration, momentum history, the sampler's draws
        and the dropout seed. Every rank reads it."""
        import weights

        state_path = Path(state_path)
        if not state_path.is_file():
            raise FileNotFoundError(f"no solverstate at {state_path}; snapshots are written as "
                                    "OUT/NET_iter_N.solverstate.h5 by --snapshot-every")
        with weights.h5.open_h5(state_path, "solverstate") as f:
            if f.attrs.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"{state_path.name} is not a kit solverstate of this version (format attribute "
                                 f"{f.attrs.get('format')!r}, expected {SNAPSHOT_FORMAT!r}); a version 1 snapshot "
                                 "drew dropout masks from one running generator and cannot be continued on the "
                                 "same trajectory: restart from its weights file with --init")
            if f.attrs["net"] != self.net.name:
                raise ValueError(f"{state_path.name} is a snapshot of {f.attrs['net']}, not {self.net.name}")
            if str(f.attrs.get("variant", "")) != self.variant:
                saved = str(f.attrs.get("variant", "")) or "the net itself"
                raise ValueError(f"{state_path.name} trained {saved}, this run trains "
                                 f"{self.variant or 'the net itself'}; resume with the same --variant")
            saved_mults = f.attrs.get("multipliers")
            if saved_mults is not None and json.loads(saved_mults) != json.loads(
                    json.dumps(self.solver.multipliers, sort_keys=True)):
                raise ValueError(f"{state_path.name} was trained with other lr_mult / decay_mult than this run's "
                                 "(another --regime or --variant); resume with the same ones")
            saved_precision = str(f.attrs.get("precision", "exact"))  # before the modes: exact, the only one
            if saved_precision != self.net.precision.name:
                raise ValueError(f"{state_path.name} was trained in precision {saved_precision}, this run asks "
                                 f"for {self.net.precision.name}; resume with --precision {saved_precision}")
            if bool(f.attrs["normalize"]) != self.setting.normalize:
                raise ValueError(f"{state_path.name} was trained with normalize="
                                 f"{bool(f.attrs['normalize'])}, this run has "
                                 f"normalize={self.setting.normalize}")
            state = {**json.loads(f.attrs["solver"]), "iter": int(f.attrs["iter"]),
                     "history": {k: torch.from_numpy(v[()]) for k, v in f["history"].items()}}
            if state["iter_size"] != self.setting.iter_size:
                raise ValueError(f"{state_path.name} updated after {state['iter_size']} images ("
                                 f"{int(f.attrs['world_size'])} ranks x {int(f.attrs['passes_per_rank'])} passes); "
                                 f"this run takes {self.setting.iter_size} ({self.world.size} x {self.passes}). "
                                 "Resume with the same effective batch (ranks x passes per rank); the number "
                                 "of ranks may change")
            learned = state_path.parent / str(f.attrs["learned_net"])
            learned_sha256 = f.attrs.get("learned_net_sha256")
            if int(f.attrs["sampler_size"]) != len(self.reader):
                raise ValueError(f"{state_path.name} drew from {int(f.attrs['sampler_size'])} images, this "
                                 f"training split has {len(self.reader)}; resume on the same split")
            seed, draws = int(f.attrs["sampler_seed"]), int(f.attrs["sampler_draws"])
            self.dropout_seed = int(f.attrs["dropout_seed"])
            self.saved_world_size = int(f.attrs["world_size"])
        found = sha256_file(learned) if learned_sha256 is not None and learned.is_file() else learned_sha256
        if found != learned_sha256:
            raise ValueError(f"{state_path.name} was saved with {learned.name} of SHA-256 {learned_sha256}, but "
                             f"that file now has {found}: it was replaced after the snapshot (a run killed "
                             "between writing the two files, or a later run writing the same iteration). Resume "
                             "from a snapshot whose two files belong together.")
        weights.load(self.net, learned)
        self.solver.load_state_dict(state)
        self.seed = seed
        self._seek(draws)


def run(trainer: Trainer, iters: int, out_dir: Path, snapshot_every: int = 0, val_every: int = 0,
        validate: Callable[[nn.Module], dict] | None = None,
        log: Callable[[str], None] = print) -> list[float]:
    """Step until ``trainer.iter == iters``: a log line every DISPLAY iterations (loss, its mean over the
    last DISPLAY, iterations per second), a snapshot every ``snapshot_every``, ``validate(net)`` every
    ``val_every`` (its scores logged). Returns the per-iteration losses of this call. Under torchrun every
    rank runs this loop (validation is sharded too); rank 0 logs and writes the snapshots."""
    log = log if trainer.world.main else _silent
    losses: list[float] = []
    window: deque[float] = deque(maxlen=DISPLAY)
    start, start_iter = time.perf_counter(), trainer.iter
    while trainer.iter < iters:
        loss = trainer.step()
        losses.append(loss)
        window.append(loss)
        it = trainer.iter
        if it % DISPLAY == 0 or it == iters:
            rate = (it - start_iter) / max(time.perf_counter() - start, 1e-9)
            log(f"iter {it}, loss = {loss:.6g} (mean of last {len(window)}: {np.mean(window):.6g}), "
                f"{rate:.3g} iter/s")
        if snapshot_every and it % snapshot_every == 0:
            log(f"snapshot: {trainer.snapshot(out_dir)}")
        if val_every and validate is not None and it % val_every == 0:
            trainer.net.eval()
            result = validate(trainer.net)
            trainer.net.train()
            log(f"iter {it} validation: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return losses


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


# ---- command line ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import nets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", type=nets.net_name, metavar="NET", help=f"one of: {', '.join(nets.NAMES)}")
    parser.add_argument("--init", type=Path,
                        help="starting weights .h5 (weights.transplant builds it from the net the reference "
                             "started from); not needed with --resume")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the dropout masks (default 0); draw j's masks are seeded by (seed, j)")
    parser.add_argument("--data-root", type=Path, help="dataset root (default: data's environment variable)")
    parser.add_argument("--iters", type=int,
                        help="train until this iteration (default: the reference's max_iter)")
    parser.add_argument("--regime", choices=("reference", "cvpr"),
                        help="reference: the net's reference solver (default; with --variant, the variant's "
                             "regime); cvpr: the CVPR paper's minibatch 20, momentum 0.9, normalised loss, fixed lr "
                             "1e-4 (VGG16) / 1e-3 (AlexNet) / 5e-5 (GoogLeNet), biases at twice the rate")
    parser.add_argument("--variant", metavar="NAME",
                        help="a training variant of the net's record: fixed (voc-fcn32s: only score_fr learns, "
                             "CVPR Table 2's FCN-32s-fixed); the frozen layers get lr_mult 0 and are printed")
    parser.add_argument("--batch", type=int, metavar="B",
                        help="images per update over all ranks (Caffe's iter_size of one process; default: the "
                             "regime's); a multiple of the number of ranks. Another value than the regime's is "
                             "not its recipe")
    parser.add_argument("--snapshot-every", type=int, default=4000, help="iterations between snapshots (4000 "
                        "as in the reference); 0 = only at the end")
    parser.add_argument("--resume", type=Path, help="a NET_iter_N.solverstate.h5 to continue from")
    parser.add_argument("--out", type=Path, default=Path("results") / "train", help="snapshot folder")
    parser.add_argument("--val-every", type=int, default=0,
                        help="score the validation split every N iterations")
    parser.add_argument("--any-split", action="store_true",
                        help="train on the split lists the data root holds even where they are not the reference's "
                             "(the generated miniature data of a smoke run)")
    options.add_common(parser)
    return parser.parse_args(argv)


def open_readers(args: argparse.Namespace):
    """The training reader and, with --val-every, the validation reader; MissingInputs names what is absent."""
    import nets

    from . import datasets

    record = nets.record(args.net)
    check = {"expect_split": None} if args.any_split else {}
    train = datasets.open_split(args.net, *record.train, args.data_root, **check)
    val = datasets.open_split(args.net, *record.test, args.data_root, **check) if args.val_every else None
    return train, val


def learning_line(net: nn.Module, multipliers: Mapping[str, tuple[float, float]], variant: str | None = None) -> str:
    """Which parameter layers learn in this run and which are frozen (lr_mult 0 on every blob), with their
    parameter counts; the upsampling (and Scale) layers are buffers, frozen in every run."""
    counts: dict[str, int] = {}
    learns: dict[str, bool] = {}
    for name, p in net.named_parameters():
        layer = name.rsplit(".", 1)[0]
        counts[layer] = counts.get(layer, 0) + p.numel()
        learns[layer] = learns.get(layer, False) or multipliers[name][0] != 0
    trained = [x for x in counts if learns[x]]
    frozen = [x for x in counts if not learns[x]]
    buffers = [name.rsplit(".", 1)[0] for name, _ in net.named_buffers()]

    def total(layers: list[str]) -> str:
        return f"{sum(counts[x] for x in layers):,} parameters"

    what = f"variant {variant}: " if variant else ""
    if not frozen:
        line = f"{what}learning: all {len(trained)} parameter layers ({total(trained)})"
    else:
        line = (f"{what}learning: {len(trained)} parameter layer(s), {', '.join(trained)} ({total(trained)}); "
                f"frozen at lr_mult 0: {len(frozen)} layer(s), {', '.join(frozen)} ({total(frozen)})")
    return line + (f"; frozen upsampling/Scale buffers: {', '.join(buffers)}" if buffers else "")


def make_trainer(args: argparse.Namespace, train_reader, device: torch.device, setting: Solver | None = None,
                 world: distributed.World | None = None) -> Trainer:
    """The net with its starting (or resumed) weights and its solver (default: the reference's)."""
    import nets
    import weights

    if device.type == "cuda":
        # cuDNN may pick non-deterministic kernels; a resumed run is then only statistically the same.
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    variant = getattr(args, "variant", None)
    net = nets.build(args.net, variant)
    if args.init:
        weights.load(net, args.init)
    options.set_precision(net, args, device)
    trainer = Trainer(net, setting or nets.record(args.net).solver, train_reader, device, feed.input_tops(net),
                      feed.label_tops(net), dropout_seed=args.seed, world=world, variant=variant or "")
    if args.resume:
        trainer.restore(args.resume)
    return trainer


def main(argv: list[str] | None = None) -> int:
    import nets
    from weights import zoo

    from . import datasets

    args = parse_args(argv)
    record = nets.record(args.net)
    try:
        variant = record.variant(args.variant) if args.variant else None
    except KeyError as e:
        return distributed.refuse(f"cannot train {args.net}: {e.args[0]}", args.device, args.dist_timeout)
    # A variant trains in the regime the paper trained it with unless --regime says otherwise.
    args.regime = args.regime or (variant.regime if variant else "reference")
    try:
        setting, warnings = training_solver(record, args.regime, args.batch, distributed.environment_world().size)
    except BatchError as e:
        return distributed.refuse(f"cannot train {args.net}: {e}", args.device, args.dist_timeout)
    if not args.init and not args.resume:
        return distributed.refuse(
            f"cannot train {args.net}: no starting weights. Pass them with INIT=FILE.h5 to make train (--init "
            "FILE.h5 here), or continue a snapshot with RESUME=NET_iter_N.solverstate.h5 (--resume). The "
            f"{args.regime} recipe starts {args.net} from {setting.init_note}; build the file with:\n"
            f"  {zoo.init_command(args.net, 'INIT.h5')}", args.device, args.dist_timeout)
    if args.init and not args.init.is_file():
        return distributed.refuse(f"no starting weights at {args.init}. The {args.regime} recipe starts {args.net} "
                                  f"from {setting.init_note}; build the file with:\n  "
                                  f"{zoo.init_command(args.net, str(args.init))}", args.device, args.dist_timeout)
    try:
        train_reader, val_reader = open_readers(args)
    except datasets.MissingInputs as e:
        return distributed.refuse(f"cannot train {args.net}.\n{e}", args.device, args.dist_timeout)
    world, device = options.start(args)
    for w in warnings:
        distributed.say(f"warning: {w}", file=sys.stderr)
    trainer = make_trainer(args, train_reader, device, setting, world)
    if args.resume and trainer.saved_world_size != world.size:
        distributed.say(f"note: {args.resume.name} was written by {trainer.saved_world_size} rank(s), this run has "
                        f"{world.size}: the same images and masks follow, summed in another order")
    iters = args.iters or setting.max_iter
    out = args.out / run_name(args.net, args.variant)
    where = device_name(device) + ("" if not world.distributed else
                                   f", {world.size} ranks ({world.backend}) x {trainer.passes} passes")
    distributed.say(
        f"training {args.net} on {record.train[0]} {record.train[1]} ({len(train_reader)} images) from "
        f"iteration {trainer.iter} to {iters}, {args.regime} regime: base_lr {setting.base_lr}, momentum "
        f"{setting.momentum}, iter_size {setting.iter_size} (images per update), normalize {setting.normalize}, "
        f"device {where}, precision {trainer.net.precision.name}")
    distributed.say(learning_line(trainer.net, trainer.solver.multipliers, args.variant))
    validate = None
    if val_reader is not None:
        from .evaluate import evaluate_reader

        def validate(n: nn.Module) -> dict:
            return evaluate_reader(n, val_reader, device, progress=False, world=world).summary()

    run(trainer, iters, out, args.snapshot_every, args.val_every, validate)
    if not args.snapshot_every or trainer.iter % args.snapshot_every:
        path = trainer.snapshot(out)
        distributed.say(f"snapshot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
