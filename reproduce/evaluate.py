"""Score a net on a split: ``.venv/bin/python -m reproduce.evaluate NET [--weights FILE.h5] [--dataset D --split S]``.

What it does: runs the net over the split in list order (the reference's score.py), one image at a time at
its own size, accumulates one confusion matrix per output over the whole split and prints pixel accuracy,
mean accuracy, mean IU, frequency-weighted IU and a per-class IU table with class names (ledger: metrics.formulas).
Optionally writes palette PNG predictions (--save-png) and a JSON record (--json: git revision, weights
SHA-256, split hash, device, seconds per image, and each output's confusion matrix, so that any record can be
re-scored and records of disjoint parts of a split merged: ``from_record``, ``merge``).

Scaling out: ``torchrun --nproc_per_node=N -m reproduce.evaluate NET ...`` takes the same arguments. Rank r
scores images r, r + N, r + 2N, ... of the split (every image once), the int64 confusion matrices are summed
with all_reduce, rank 0 prints and writes the record, each rank writes its own PNGs (reproduce.distributed).
The matrix, hence every score, equals the single-process run's.

Precision: exact unless ``--precision`` asks for a fast mode (nets.precision). In a fast mode every image is
also run in exact, outside the timed forward, and the record carries their agreement (``agreement``: argmax
agreement in percent, largest relative score error, mean-IU difference, and exact's confusion matrices over
those images, so that records of shards still merge).

Time: a VGG16 FCN took ~8 s per 500x375 image on a shared 2-core CPU here (FCN-AlexNet ~1.7 s; ~2.4 s
and ~0.4 s per 500x500 image on the idle machine, make bench), so
seg11valid (736 images) takes about 1.6 hours on such a CPU. On a GPU it is minutes (not measured here; the
paper's 2015 K40c took ~175 ms per image).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from data.errors import BadSampleError
from data.files import FORCE_HELP, DestinationExists, refuse_existing, sha256_file

from . import distributed, feed, options
from .metrics import fast_hist, scores
from .records import device_name, environment, write_json


@dataclass
class ExactAgreement:
    """A fast-mode evaluation measured against exact on the same images: the pixels whose argmax agrees over
    every output, the largest max |fast - exact| / max |exact| of one output on one image
    (nets.precision.compare), and exact's confusion matrix per scored output. Counts add up over disjoint
    images (shards, split halves); the error is a maximum."""

    mode: str
    images: int = 0
    same: int = 0
    pixels: int = 0
    max_rel_error: float = 0.0
    exact_hists: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, p: Prediction, labels: Mapping[str, str]) -> None:
        same, pixels, error = p.agreement
        self.images += 1
        self.same, self.pixels, self.max_rel_error = self.same + same, self.pixels + pixels, max(
            self.max_rel_error, error)
        for blob, top in labels.items():
            hist = fast_hist(np.asarray(p.item[top]), p.exact_labels[blob], p.classes[blob])
            self.exact_hists[blob] = self.exact_hists[blob] + hist if blob in self.exact_hists else hist

    @classmethod
    def merged(cls, parts: Sequence[ExactAgreement]) -> ExactAgreement:
        out = cls(parts[0].mode)
        for a in parts:
            out.images, out.same, out.pixels = out.images + a.images, out.same + a.same, out.pixels + a.pixels
            out.max_rel_error = max(out.max_rel_error, a.max_rel_error)
            for blob, h in a.exact_hists.items():
                out.exact_hists[blob] = out.exact_hists.get(blob, 0) + np.asarray(h, np.int64)
        return out

    @property
    def argmax_percent(self) -> float:
        return 100.0 * self.same / self.pixels if self.pixels else float("nan")

    def mean_iu_delta(self, ev: Evaluation) -> dict[str, float]:
        """Per scored output: fast minus exact mean IU in points, both with the evaluation's own averaging."""
        return {blob: 100.0 * (scores(ev.hists[blob], ev.present_only.get(blob, False))["mean_iu"]
                               - scores(h, ev.present_only.get(blob, False))["mean_iu"])
                for blob, h in self.exact_hists.items()}

    def record(self, ev: Evaluation) -> dict:
        deltas = self.mean_iu_delta(ev)
        return {"precision": self.mode, "images": self.images, "argmax_agreement_percent": self.argmax_percent,
                "max_rel_score_error": self.max_rel_error,
                "mean_iu_delta": next(iter(deltas.values()), None), "mean_iu_delta_per_output": deltas,
                "pixels": self.pixels, "same_argmax_pixels": self.same,
                "exact_confusion_matrices": {b: np.asarray(h, np.int64).tolist()
                                             for b, h in self.exact_hists.items()}}

    @classmethod
    def from_record(cls, rec: Mapping) -> ExactAgreement:
        return cls(rec["precision"], int(rec["images"]), int(rec["same_argmax_pixels"]), int(rec["pixels"]),
                   float(rec["max_rel_score_error"]),
                   {b: np.array(h, np.int64) for b, h in rec["exact_confusion_matrices"].items()})

    def line(self, ev: Evaluation) -> str:
        """The agreement in words, for the scores printout and a table's verdict."""
        deltas = ", ".join(f"{d:+.2f}" for d in self.mean_iu_delta(ev).values())
        return (f"measured in {self.mode}: argmax agreement {self.argmax_percent:.3f}% with exact, mean IU "
                f"delta {deltas or '-'} points, max relative score error {self.max_rel_error:.2e} "
                f"({self.images} images run in both)")


@dataclass
class Evaluation:
    """The confusion matrices and timings of one pass over a split."""

    net: str
    ids: list[str]
    hists: dict[str, np.ndarray]  # score blob -> C x C confusion matrix (ground-truth rows)
    label_tops: dict[str, str]  # score blob -> reader top of its labels
    seconds: list[float] = field(default_factory=list)  # forward + argmax time per image
    present_only: dict[str, bool] = field(default_factory=dict)
    world_size: int = 1  # processes whose counts were summed into hists
    backend: str = "none"  # their process group's backend ("none": one process)
    precision: str = "exact"  # the mode of the forwards (nets.precision)
    agreement: ExactAgreement | None = None  # a fast mode's agreement with exact on the same images
    precision_reason: str = ""  # the mode's description (nets.precision): why the numbers are what they are

    def scores(self, blob: str | None = None) -> dict:
        """metrics.scores of one output (default: the first), with its averaging variant."""
        blob = blob or next(iter(self.hists))
        return scores(self.hists[blob], present_only=self.present_only.get(blob, False))

    def summary(self) -> dict[str, float]:
        """Flat scores of every output: ``mean_iu`` etc. for a single output, ``score_sem/mean_iu`` ... for
        two."""
        out = {}
        for blob in self.hists:
            prefix = "" if len(self.hists) == 1 else f"{blob}/"
            out.update({f"{prefix}{k}": v for k, v in self.scores(blob).items() if k != "per_class_iu"})
        return out

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Prediction:
    """One image's pass: its id, the reader item, the argmax label map and class count per output, and the
    forward + argmax time."""

    sample_id: str
    item: Mapping[str, np.ndarray]
    labels: dict[str, np.ndarray]  # output blob -> H x W uint8
    classes: dict[str, int]  # output blob -> number of classes (channels)
    seconds: float
    exact_labels: dict[str, np.ndarray] | None = None  # a fast mode's image run in exact too
    agreement: tuple[int, int, float] | None = None  # (same-argmax pixels, pixels, max relative score error)


def predictions(net: nn.Module, reader: Sequence[Mapping[str, np.ndarray]], device: torch.device, *,
                inputs: Mapping[str, str] | None = None, ids: Sequence[str] | None = None,
                progress: bool = True, limit: int | None = None, desc: str = "",
                positions: Sequence[int] | None = None, against_exact: bool = False) -> Iterator[Prediction]:
    """Run ``net`` in test mode over ``reader`` in list order (the reference's score.py), one image at a time
    at its own size, in the net's precision: the one loop behind evaluation and prediction. ``inputs`` maps
    net inputs to reader tops (default: the net's record); ``positions`` picks the images (default: the first
    ``limit``, or all). ``against_exact`` with a fast mode also runs each image in exact, after the timed
    forward, and compares the two (Prediction.exact_labels, .agreement)."""
    from nets import precision as P

    inputs = dict(inputs) if inputs is not None else feed.input_tops(net)
    ids = list(ids) if ids is not None else list(getattr(reader, "ids", range(len(reader))))
    indices = range(count(reader, limit)) if positions is None else positions
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=desc or getattr(net, "name", "net"), unit="img", dynamic_ncols=True)
    was_training = net.training
    net.to(device).eval()
    policy = getattr(net, "precision", P.EXACT)
    against_exact = against_exact and not policy.exact
    try:
        with torch.inference_mode():
            for i in indices:
                item = reader[i]
                x = feed.inputs_from_item(net, item, device, inputs)
                _sync(device)
                start = time.perf_counter()
                outs = feed.outputs_by_name(net, net(*x))
                labels = {b: o[0].argmax(dim=0) for b, o in outs.items()}
                _sync(device)
                seconds = time.perf_counter() - start
                exact_labels = agreement = None
                if against_exact:
                    exact_labels, agreement = _against_exact(net, x, outs, policy)
                yield Prediction(str(ids[i]), item, {b: p.to(torch.uint8).cpu().numpy() for b, p in labels.items()},
                                 {b: o.shape[1] for b, o in outs.items()}, seconds, exact_labels, agreement)
    finally:
        net.train(was_training)


def _against_exact(net: nn.Module, x: tuple[torch.Tensor, ...], fast: Mapping[str, torch.Tensor], policy):
    """The image's exact argmax per output, and its agreement with the fast mode's outputs ``fast``."""
    from nets import precision as P

    net.precision = P.EXACT
    try:
        exact = feed.outputs_by_name(net, net(*x))
    finally:
        net.precision = policy
    same = pixels = 0
    worst = 0.0
    for blob, e in exact.items():
        s, n, err = P.compare(e, fast[blob])
        same, pixels, worst = same + s, pixels + n, max(worst, err)
    return {b: e[0].argmax(dim=0).to(torch.uint8).cpu().numpy() for b, e in exact.items()}, (same, pixels, worst)


def count(reader: Sequence, limit: int | None = None) -> int:
    """How many images of ``reader`` a run scores: all, or the first ``limit``."""
    return len(reader) if limit is None else min(limit, len(reader))


def evaluate_reader(net: nn.Module, reader: Sequence[Mapping[str, np.ndarray]], device: torch.device, *,
                    inputs: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
                    ids: Sequence[str] | None = None, present_only: Mapping[str, bool] | None = None,
                    on_prediction: Callable[[str, dict[str, np.ndarray]], None] | None = None,
                    progress: bool = True, limit: int | None = None,
                    world: distributed.World | None = None) -> Evaluation:
    """Run ``net`` over ``reader`` in order and accumulate a confusion matrix per scored output.

    ``labels`` maps score blobs to reader tops (default: the net's loss layers). ``on_prediction(id, {output
    blob: H x W uint8 label map})`` sees every prediction this process makes. ``world`` (default: the one
    torchrun started, else one process) picks this rank's shard; in a process group the per-rank matrices
    are summed (all_reduce) and every rank returns the whole split's evaluation, ids and times in list order.
    A world without a process group (backend "none") scores its shard alone: ``merge`` sums such parts.
    In a fast mode (``net.precision``) every image also runs in exact: ``Evaluation.agreement``.
    """
    from nets import precision as P

    world = world or distributed.current()
    labels = dict(labels) if labels is not None else feed.label_tops(net)
    # Every output starts at zero, so that a rank whose shard is empty still sums matrices of the right shape.
    hists = {blob: np.zeros((n, n), np.int64) for blob, n in output_classes(net, labels).items()}
    positions = world.shard(count(reader, limit))
    policy = getattr(net, "precision", P.EXACT)
    agreement = None if policy.exact else ExactAgreement(policy.name, exact_hists={
        blob: np.zeros_like(h) for blob, h in hists.items()})
    scored, seconds = [], []
    for p in predictions(net, reader, device, inputs=inputs, ids=ids, progress=progress and world.main,
                         positions=positions, against_exact=agreement is not None):
        for blob, top in labels.items():
            hist = fast_hist(np.asarray(p.item[top]), p.labels[blob], p.classes[blob])
            hists[blob] = hists[blob] + hist if blob in hists else hist
        if agreement is not None:
            agreement.add(p, labels)
        if on_prediction is not None:
            on_prediction(p.sample_id, p.labels)
        scored.append(p.sample_id)
        seconds.append(p.seconds)
    if world.distributed:
        if set(hists) != set(labels):
            raise ValueError(f"rank {world.rank} scored no image and cannot tell the number of classes of "
                             f"{sorted(set(labels) - set(hists))}: a sharded evaluation needs a net that declares "
                             "its outputs' channels (CaffeNet.channels)")
        hists = distributed.all_reduce_counts(hists, world)
        if agreement is not None:  # exact's matrices summed as the fast ones are; pixel counts summed, error max
            agreement.exact_hists = distributed.all_reduce_counts(agreement.exact_hists, world)
            shares = distributed.all_gather((agreement.images, agreement.same, agreement.pixels,
                                             agreement.max_rel_error), world)
            agreement.images, agreement.same, agreement.pixels = (sum(s[k] for s in shares) for k in range(3))
            agreement.max_rel_error = max(s[3] for s in shares)
        parts = distributed.all_gather((positions, list(zip(scored, seconds, strict=True))), world)
        merged = distributed.in_list_order(parts)
        scored, seconds = [i for i, _ in merged], [t for _, t in merged]
    if not scored:
        raise ValueError("the split is empty: nothing was scored")
    return Evaluation(getattr(net, "name", type(net).__name__), scored, hists, labels, seconds,
                      dict(present_only or {}), world.size if world.distributed else 1, world.backend, policy.name,
                      agreement, policy.description)


def output_classes(net: nn.Module, labels: Mapping[str, str]) -> dict[str, int]:
    """Score blob -> its number of classes (channels), for the nets that declare them (CaffeNet.channels)."""
    channels = getattr(net, "channels", None) or {}
    return {blob: int(channels[blob]) for blob in labels if blob in channels}


def predict_reader(net: nn.Module, reader: Sequence[Mapping[str, np.ndarray]], device: torch.device,
                   on_prediction: Callable[[str, dict[str, np.ndarray]], None], *,
                   inputs: Mapping[str, str] | None = None, progress: bool = True,
                   limit: int | None = None, world: distributed.World | None = None) -> list[tuple[str, float]]:
    """Run ``net`` over an unlabelled split (VOC test) in order, handing every prediction to
    ``on_prediction(id, {output blob: H x W uint8})``. Returns (id, forward + argmax seconds) of every image
    predicted, in list order; under torchrun each rank predicts its shard and every rank gets the whole list."""
    world = world or distributed.current()
    positions = world.shard(count(reader, limit))
    done = []
    for p in predictions(net, reader, device, inputs=inputs, progress=progress and world.main,
                         desc=f"{getattr(net, 'name', 'net')} (predict)", positions=positions):
        on_prediction(p.sample_id, p.labels)
        done.append((p.sample_id, p.seconds))
    if world.distributed:
        done = distributed.in_list_order(distributed.all_gather((positions, done), world))
    return done


# ---- printing -------------------------------------------------------------------------------------------


def format_scores(ev: Evaluation, class_names: Mapping[str, Sequence[str]] | None = None) -> str:
    """The four scores per output (percent) and a per-class IU table with class names; in a fast mode, first
    its agreement with exact."""
    lines = [ev.agreement.line(ev)] if ev.agreement is not None else []
    for blob in ev.hists:
        s = ev.scores(blob)
        variant = " (mean IU over classes present in the ground truth)" if ev.present_only.get(blob) else ""
        lines.append(f"{blob}: pixel acc. {100 * s['pixel_accuracy']:.2f}  mean acc. "
                     f"{100 * s['mean_accuracy']:.2f}  mean IU {100 * s['mean_iu']:.2f}  f.w. IU "
                     f"{100 * s['fw_iu']:.2f}{variant}")
        names = list((class_names or {}).get(blob, ()))
        gt = ev.hists[blob].sum(axis=1)
        lines.append(f"  {'class':<4} {'name':<18} {'IU':>7} {'pixels':>12}")
        for c, iu in enumerate(s["per_class_iu"]):
            name = names[c] if c < len(names) else "?"
            cell = "   -   " if np.isnan(iu) else f"{100 * iu:7.2f}"
            lines.append(f"  {c:<4} {name:<18} {cell} {int(gt[c]):>12}")
    return "\n".join(lines)


def outputs_record(ev: Evaluation, class_names: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Per output: the four scores, per-class IU by class name, the label top and the confusion matrix itself
    (ground-truth rows), from which ``from_record`` re-scores."""
    per_output = {}
    for blob in ev.hists:
        s = ev.scores(blob)
        names = list((class_names or {}).get(blob, ()))
        per_output[blob] = {
            **{k: v for k, v in s.items() if k != "per_class_iu"},
            "present_only": ev.present_only.get(blob, False),
            "per_class_iu": {(names[c] if c < len(names) else str(c)): v
                             for c, v in enumerate(s["per_class_iu"])},
            "label_top": ev.label_tops[blob],
            "confusion_matrix": np.asarray(ev.hists[blob], np.int64).tolist(),
        }
    return per_output


def counts_record(ev: Evaluation, class_names: Mapping[str, Sequence[str]] | None = None) -> dict:
    """What makes an evaluation re-scorable and mergeable: the images, who counted them, the per-output scores
    with their confusion matrices, and the time per image. Every record and cache entry carries it."""
    return {"net": ev.net, "images": len(ev.ids), "ids": list(ev.ids), "world_size": ev.world_size,
            "backend": ev.backend, **precision_record(ev), "seconds": list(ev.seconds),
            "scores": outputs_record(ev, class_names)}


def precision_record(ev: Evaluation) -> dict:
    """``precision``, why it is what it is (nets.precision's description) and, in a fast mode, ``agreement``."""
    from nets import precision as P

    reason = ev.precision_reason or P.get(ev.precision).description
    out = {"precision": ev.precision, "precision_reason": reason}
    if ev.agreement is not None:
        out["agreement"] = ev.agreement.record(ev)
    return out


def from_record(rec: Mapping) -> Evaluation:
    """The Evaluation a record holds (an evaluation record, a table record's entry or a cache entry): its
    confusion matrices, hence every score, exactly as measured."""
    outputs = rec.get("scores") or {}
    if not outputs or any("confusion_matrix" not in o for o in outputs.values()):
        raise ValueError(f"the record of {rec.get('net', '?')} holds no confusion matrices (written before the "
                         "kit recorded them); evaluate again to get a re-scorable record")
    hists = {blob: np.array(o["confusion_matrix"], dtype=np.int64) for blob, o in outputs.items()}
    # A record written before the kit had precision modes was exact: the only mode there was.
    agreement = ExactAgreement.from_record(rec["agreement"]) if rec.get("agreement") else None
    return Evaluation(rec["net"], list(rec["ids"]), hists, {b: o["label_top"] for b, o in outputs.items()},
                      list(rec.get("seconds") or []), {b: bool(o["present_only"]) for b, o in outputs.items()},
                      int(rec.get("world_size", 1)), str(rec.get("backend", "none")),
                      str(rec.get("precision", "exact")), agreement, str(rec.get("precision_reason", "")))


def merge(parts: Sequence[Evaluation]) -> Evaluation:
    """One evaluation from evaluations of disjoint images of the same net (records of shards, of split halves
    run apart): confusion matrices summed in int64, ids and times concatenated. Images counted twice, or
    outputs that differ, are an error: a sum of matrices is the split's matrix only over disjoint images."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for p in parts[1:]:
        if p.net != first.net:
            raise ValueError(f"cannot merge evaluations of {first.net} and {p.net}")
        if p.precision != first.precision:
            raise ValueError(f"cannot merge evaluations of {first.net} in precision {first.precision} and "
                             f"{p.precision}: their matrices count different arithmetic")
        shapes = {b: h.shape for b, h in p.hists.items()}
        if shapes != {b: h.shape for b, h in first.hists.items()} or p.label_tops != first.label_tops \
                or p.present_only != first.present_only:
            raise ValueError(f"cannot merge evaluations of {first.net} with different outputs: {first.label_tops} "
                             f"{ {b: h.shape for b, h in first.hists.items()} } vs {p.label_tops} {shapes}")
    seen: dict[str, int] = {}
    for k, p in enumerate(parts):
        for i in p.ids:
            if i in seen:
                raise ValueError(f"image {i} is counted in part {seen[i]} and part {k}: merged matrices would "
                                 "count it twice (each image must be scored exactly once)")
            seen[i] = k
    hists = {b: np.sum([np.asarray(p.hists[b], np.int64) for p in parts], axis=0, dtype=np.int64)
             for b in first.hists}
    backends = sorted({p.backend for p in parts})
    agreements = [p.agreement for p in parts if p.agreement is not None]
    if agreements and len(agreements) != len(parts):
        raise ValueError(f"cannot merge {first.precision} evaluations of {first.net} of which only some carry "
                         "their agreement with exact")
    return Evaluation(first.net, [i for p in parts for i in p.ids], hists, dict(first.label_tops),
                      [t for p in parts for t in p.seconds], dict(first.present_only),
                      sum(p.world_size for p in parts), "+".join(backends), first.precision,
                      ExactAgreement.merged(agreements) if agreements else None, first.precision_reason)


def record(ev: Evaluation, *, dataset: str, split: str, split_md5: str, weights_path: Path | None,
           device: torch.device, class_names: Mapping[str, Sequence[str]] | None = None,
           extra: Mapping | None = None) -> dict:
    """A JSON-able record of one evaluation (``from_record`` reads it back)."""
    return {
        "net": ev.net,
        "dataset": dataset,
        "split": split,
        "images": len(ev.ids),
        "split_md5": split_md5,
        "weights": str(weights_path) if weights_path else None,
        "weights_sha256": sha256_file(weights_path) if weights_path else None,
        **environment(device),
        "seconds_per_image_median": ev.median_seconds,
        "seconds_per_image_mean": statistics.fmean(ev.seconds) if ev.seconds else None,
        **counts_record(ev, class_names),  # world_size, backend, ids, seconds, scores with confusion matrices
        **dict(extra or {}),
    }


# ---- command line ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import nets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", type=nets.net_name, metavar="NET", help=f"one of: {', '.join(nets.NAMES)}")
    parser.add_argument("--weights", type=Path,
                        help="weights .h5 or .caffemodel (default: the release, $FCN_WEIGHTS/NET.h5)")
    parser.add_argument("--dataset", help="data.load name (default: the net's evaluation dataset)")
    parser.add_argument("--split", help="split (default: the net's evaluation split)")
    parser.add_argument("--data-root", type=Path, help="dataset root (default: under $FCN_DATA)")
    parser.add_argument("--save-png", type=Path, metavar="DIR", help="write palette PNG predictions here")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the record here (an existing file is kept "
                                                                 "unless --force)")
    parser.add_argument("--force", action="store_true", help="with --json: " + FORCE_HELP)
    parser.add_argument("--limit", type=int,
                        help="score only the first N images (a quick look, not a result)")
    options.add_common(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import nets

    from . import datasets

    args = parse_args(argv)
    if args.json is not None:
        try:  # before any image is scored: an hour of evaluation must not end refusing to write
            refuse_existing(args.json, args.force)
        except DestinationExists as e:
            return distributed.refuse(f"error: --json: {e}", args.device, args.dist_timeout)
    dataset, split = datasets.eval_split(args.net, args.dataset, args.split)
    args.weights = args.weights or datasets.weights_path(args.net)
    missing = [] if args.weights.is_file() else [datasets.weights_missing(args.net, args.weights)]
    try:
        reader = datasets.open_split(args.net, dataset, split, args.data_root)
    except datasets.MissingInputs as e:
        missing += e.missing
    if missing:
        return distributed.refuse(f"cannot evaluate {args.net}.\n{datasets.MissingInputs(missing)}", args.device,
                                  args.dist_timeout)
    world, device = options.start(args)
    from .infer import load_weights

    try:
        net = load_weights(nets.build(args.net), args.weights)
    except (ValueError, OSError) as e:  # weights that do not fit, hold NaN, or a cut or damaged file
        return distributed.refuse(f"error: cannot evaluate {args.net} with {args.weights}: {e}", args.device,
                                  args.dist_timeout)
    policy = options.set_precision(net, args, device)
    say = distributed.say
    where = device_name(device) + ("" if not world.distributed else f", {world.size} ranks ({world.backend})")
    say(f"evaluating {args.net} ({args.weights}) on {dataset} {split}, {len(reader)} images, device {where}, "
        f"precision {policy.name}" + ("" if policy.exact else " (each image also run in exact, to measure the "
                                                               "agreement)"))
    save = datasets.png_writer(args.save_png, args.net) if args.save_png else None
    try:
        ev = evaluate_reader(net, reader, device, present_only=datasets.present_only(args.net),
                             on_prediction=save, limit=args.limit, world=world)
    except BadSampleError as e:  # a cut JPEG, a label of another size: the message names the image
        return distributed.refuse(f"error: cannot evaluate {args.net} on {dataset} {split}: {e}. Nothing was "
                                  "scored (a split is scored whole): replace that file, or fetch the dataset again",
                                  args.device, args.dist_timeout, code=1)
    names = datasets.class_names(net, dataset)
    info = getattr(reader, "split_info", None)
    if info is not None and info.images_from:
        md5 = info.list_md5 or info.set_md5
        say(f"{dataset} {split}: {len(reader)} images from {info.images_from}, list MD5 {md5}")
    say(format_scores(ev, names))
    say(f"median {1000 * ev.median_seconds:.1f} ms per image (forward + argmax) on {device_name(device)}")
    if args.json and world.main:
        rec = record(ev, dataset=dataset, split=split, split_md5=datasets.split_md5(reader),
                     weights_path=args.weights, device=device, class_names=names,
                     extra={"split_info": datasets.split_record(reader),  # which folder fed it, the list's MD5
                            **({"limit": args.limit} if args.limit else {})})
        print(f"record: {write_json(args.json, rec)}")
    return 0


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
