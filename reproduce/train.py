"""Train a reference FCN with the reference's solver: ``python -m reproduce.train NET --init FILE.h5``.

What it reproduces: the reference's solve.py for each net (its record's solver, nets.record(NET).solver): Caffe
SGD with fixed learning rate, momentum, weight decay 5e-4 and the per-parameter lr_mult / decay_mult of the net,
iter_size,
SoftmaxWithLoss with ignore 255 (summed, or normalised for FCN-AlexNet), one image per forward pass drawn
uniformly with replacement in the reference's order (random.seed(1337)), dropout on. On a GPU when present.

Snapshots every --snapshot-every iterations, as Caffe writes them: ``NET_iter_N.h5`` (the weights, HDF5 layout
of weights.save) and ``NET_iter_N.solverstate.h5`` (iteration, momentum history, the sampler's and the dropout
RNG's state, the weights file's name). ``--resume NET_iter_N.solverstate.h5`` continues bit for bit where
an uninterrupted run would be (tested on the CPU; on a GPU cuDNN is asked for deterministic kernels).

Cost: voc-fcn32s runs 100k iterations of one ~500x375 image; budget days on one GPU. A CPU manages a few
iterations per minute and is only for trying things.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from data.files import atomic_path
from nets.layers import softmax_with_loss
from nets.registry import Solver
from nets.solver import CaffeSGD

from . import feed
from .records import device_name, pick_device

SNAPSHOT_FORMAT = "fcn-kit solverstate 1"
DISPLAY = 20  # the reference solvers' display and average_loss
REFERENCE_SEED = 1337  # random.seed(1337) in the reference's data layers


class Trainer:
    """One Caffe SGDSolver over one net and one training reader.

    ``reader[i]`` is a dict top -> numpy array (data.load); ``inputs`` maps each net input to the reader top
    feeding it, ``labels`` each score blob to its label top. Images are drawn by data's ReferenceSampler
    (seed 1337: the reference's order), one per forward pass; ``draws`` counts them, so a snapshot resumes
    the sequence where it stopped.
    """

    def __init__(self, net: nn.Module, setting: Solver, reader: Sequence[Mapping[str, np.ndarray]],
                 device: torch.device, inputs: Mapping[str, str], labels: Mapping[str, str],
                 seed: int = REFERENCE_SEED):
        self.net = net.to(device).train()  # train mode: Caffe's Dropout drops at train time
        self.setting = setting
        self.solver = CaffeSGD(self.net, setting.base_lr, setting.momentum, setting.weight_decay,
                               setting.iter_size)
        self.reader, self.device, self.seed = reader, device, seed
        self.inputs, self.labels = dict(inputs), dict(labels)
        self._seek(0)

    def _seek(self, draws: int) -> None:
        from data.loaders import ReferenceSampler

        self.draws = draws
        self._order = iter(ReferenceSampler(len(self.reader), self.seed, start=draws))

    @property
    def iter(self) -> int:
        return self.solver.iter

    def forward_backward(self) -> float:
        """One pass on the next image in the reference's order; gradients accumulate into .grad."""
        item = self.reader[next(self._order)]
        self.draws += 1
        x = feed.inputs_from_item(self.net, item, self.device, self.inputs)
        y = feed.labels_from_item(self.net, item, self.device, self.labels)
        outs = feed.outputs_by_name(self.net, self.net(*x))
        # Every reference loss layer has loss_weight 1: the net's loss is their sum (SIFT Flow: loss +
        # loss_geo).
        loss = sum(softmax_with_loss(outs[score], y[score], self.setting.normalize) for score in self.labels)
        loss.backward()
        return float(loss.detach())

    def step(self) -> float:
        """One Caffe iteration: iter_size passes, then the update. Returns the loss Caffe reports for it
        (the mean over the iter_size passes)."""
        self.net.train()
        self.solver.zero_grad()
        total = sum(self.forward_backward() for _ in range(self.setting.iter_size))
        self.solver.step()
        return total / self.setting.iter_size

    # ---- snapshots ---------------------------------------------------------------------------------------

    def snapshot(self, out_dir: str | Path) -> Path:
        """Write NET_iter_N.h5 and NET_iter_N.solverstate.h5 atomically; returns the solverstate's path."""
        import weights

        out_dir = Path(out_dir)
        stem = f"{self.net.name}_iter_{self.iter}"
        weights_path = weights.save(self.net, out_dir / f"{stem}.h5")
        state_path = out_dir / f"{stem}.solverstate.h5"
        solver = self.solver.state_dict()
        with atomic_path(state_path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = SNAPSHOT_FORMAT
            f.attrs["net"] = self.net.name
            f.attrs["iter"] = solver["iter"]
            f.attrs["learned_net"] = weights_path.name
            f.attrs["solver"] = json.dumps({k: solver[k] for k in ("base_lr", "momentum", "weight_decay",
                                                                     "iter_size")})
            f.attrs["normalize"] = self.setting.normalize
            # The sampler is a seeded sequence: its state is the seed and how many images were drawn.
            f.attrs["sampler_seed"] = self.seed
            f.attrs["sampler_draws"] = self.draws
            f.attrs["sampler_size"] = len(self.reader)
            f.create_dataset("rng/torch", data=torch.get_rng_state().numpy())
            if self.device.type == "cuda":
                f.create_dataset("rng/cuda", data=torch.cuda.get_rng_state(self.device).numpy())
            for name, v in solver["history"].items():
                f.create_dataset(f"history/{name}", data=v.numpy())
        return state_path

    def restore(self, state_path: str | Path) -> None:
        """Load a snapshot: the weights file it names, then iteration, momentum history and RNG states."""
        import weights

        state_path = Path(state_path)
        if not state_path.is_file():
            raise FileNotFoundError(f"no solverstate at {state_path}; snapshots are written as "
                                    "OUT/NET_iter_N.solverstate.h5 by --snapshot-every")
        with h5py.File(state_path, "r") as f:
            if f.attrs.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"{state_path.name} is not a kit solverstate (format attribute "
                                 f"{f.attrs.get('format')!r}, expected {SNAPSHOT_FORMAT!r})")
            if f.attrs["net"] != self.net.name:
                raise ValueError(f"{state_path.name} is a snapshot of {f.attrs['net']}, not {self.net.name}")
            if bool(f.attrs["normalize"]) != self.setting.normalize:
                raise ValueError(f"{state_path.name} was trained with normalize="
                                 f"{bool(f.attrs['normalize'])}, this run has "
                                 f"normalize={self.setting.normalize}")
            state = {**json.loads(f.attrs["solver"]), "iter": int(f.attrs["iter"]),
                     "history": {k: torch.from_numpy(v[()]) for k, v in f["history"].items()}}
            learned = state_path.parent / str(f.attrs["learned_net"])
            if int(f.attrs["sampler_size"]) != len(self.reader):
                raise ValueError(f"{state_path.name} drew from {int(f.attrs['sampler_size'])} images, this "
                                 f"training split has {len(self.reader)}; resume on the same split")
            seed, draws = int(f.attrs["sampler_seed"]), int(f.attrs["sampler_draws"])
            rng = torch.from_numpy(f["rng/torch"][()])
            cuda_rng = torch.from_numpy(f["rng/cuda"][()]) if "rng/cuda" in f else None
        weights.load(self.net, learned)
        self.solver.load_state_dict(state)
        self.seed = seed
        self._seek(draws)
        torch.set_rng_state(rng)
        if cuda_rng is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_rng, self.device)


def run(trainer: Trainer, iters: int, out_dir: Path, snapshot_every: int = 0, val_every: int = 0,
        validate: Callable[[nn.Module], dict] | None = None,
        log: Callable[[str], None] = print) -> list[float]:
    """Step until ``trainer.iter == iters``: a log line every DISPLAY iterations (loss, its mean over the
    last DISPLAY, iterations per second), a snapshot every ``snapshot_every``, ``validate(net)`` every
    ``val_every`` (its scores logged). Returns the per-iteration losses of this call."""
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


# ---- command line ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import nets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", choices=nets.NAMES, metavar="NET")
    parser.add_argument("--init", type=Path,
                        help="starting weights .h5 (python -m weights.transplant builds it from the net the "
                             "reference started from); not needed with --resume")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the dropout masks (default 0)")
    parser.add_argument("--data-root", type=Path, help="dataset root (default: data's environment variable)")
    parser.add_argument("--iters", type=int,
                        help="train until this iteration (default: the reference's max_iter)")
    parser.add_argument("--snapshot-every", type=int, default=4000, help="iterations between snapshots (4000 "
                        "as in the reference); 0 = only at the end")
    parser.add_argument("--resume", type=Path, help="a NET_iter_N.solverstate.h5 to continue from")
    parser.add_argument("--out", type=Path, default=Path("results") / "train", help="snapshot folder")
    parser.add_argument("--val-every", type=int, default=0,
                        help="score the validation split every N iterations")
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    args = parser.parse_args(argv)
    if not args.init and not args.resume:
        parser.error("give --init FILE.h5 (the starting weights) or --resume NET_iter_N.solverstate.h5")
    return args


def open_readers(args: argparse.Namespace):
    """The training reader and, with --val-every, the validation reader; MissingInputs names what is absent."""
    import nets

    from . import datasets

    record = nets.record(args.net)
    train = datasets.open_split(args.net, *record.train, args.data_root)
    val = datasets.open_split(args.net, *record.test, args.data_root) if args.val_every else None
    return train, val


def make_trainer(args: argparse.Namespace, train_reader, device: torch.device) -> Trainer:
    """The net with its starting (or resumed) weights and the reference's solver for it."""
    import nets
    import weights

    if device.type == "cuda":
        # cuDNN may pick non-deterministic kernels; a resumed run is then only statistically the same.
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.manual_seed(args.seed)  # dropout masks; a resumed run restores the RNG state from its snapshot
    net = nets.build(args.net)
    if args.init:
        weights.load(net, args.init)
    trainer = Trainer(net, nets.record(args.net).solver, train_reader, device, feed.input_tops(net),
                      feed.label_tops(net))
    if args.resume:
        trainer.restore(args.resume)
    return trainer


def main(argv: list[str] | None = None) -> int:
    import nets
    from weights import zoo

    from . import datasets

    args = parse_args(argv)
    record = nets.record(args.net)
    if args.init and not args.init.is_file():
        print(f"no starting weights at {args.init}. The reference started {args.net} from "
              f"{record.solver.init_note}; build the file with:\n  {zoo.init_command(args.net, str(args.init))}",
              file=sys.stderr)
        return 2
    try:
        train_reader, val_reader = open_readers(args)
    except datasets.MissingInputs as e:
        print(f"cannot train {args.net}.\n{e}", file=sys.stderr)
        return 2
    device = pick_device(args.device)
    trainer = make_trainer(args, train_reader, device)
    setting = record.solver
    iters = args.iters or setting.max_iter
    out = args.out / args.net
    print(f"training {args.net} on {record.train[0]} {record.train[1]} ({len(train_reader)} images) from "
          f"iteration {trainer.iter} to {iters}: base_lr {setting.base_lr}, momentum {setting.momentum}, "
          f"iter_size {setting.iter_size}, normalize {setting.normalize}, device {device_name(device)}")
    validate = None
    if val_reader is not None:
        from .evaluate import evaluate_reader

        def validate(n: nn.Module) -> dict:
            return evaluate_reader(n, val_reader, device, progress=False).summary()

    run(trainer, iters, out, args.snapshot_every, args.val_every, validate)
    if not args.snapshot_every or trainer.iter % args.snapshot_every:
        print(f"snapshot: {trainer.snapshot(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
