"""Table 3 (CVPR 2015): FCN-8s against the state of the art on the VOC test sets, the table the slides cite.

Command: ``make reproduce-table3`` (= ``.venv/bin/python -m reproduce.table3``); ``SMOKE=1`` runs the whole pipeline
on a generated miniature dataset with random weights in under a minute (numbers MEANINGLESS).

Expected: paper FCN-8s {voc-fcn8s T3 mean_iu_voc2011_test} (VOC2011 test) / {voc-fcn8s T3 mean_iu_voc2012_test} (VOC2012
test) mean IU at ~{voc-fcn8s T3 inference_ms} ms per image (2015 Tesla K40c); R-CNN 47.9, SDS 52.6 / 51.6 at ~50 s.
Test labels are private, so the kit
- checks the released voc-fcn8s on seg11valid, the local proxy: {voc-fcn8s} mean IU within 0.1 (PASS/FAIL);
- measures inference time per image (forward + argmax, median over seg11valid, device named); compare the
  ratio to the paper's {voc-fcn8s T3 inference_ms} ms, not the absolute number;
- writes the PASCAL server submission when the VOC2012 test images are present ($FCN_DATA/VOC2012 with
  ImageSets/Segmentation/test.txt, from the server's VOC2012test.tar): palette PNGs in
  results/VOC2012/Segmentation/comp6_test_cls/{id}.png and results/voc2012_test_comp6_fcn8s.tar.gz;
- completes the row with the server's returned scores: ``--server-2012 X`` (checked against the release's
  published {voc-fcn8s voc2012-test} at 0.1; the paper's {voc-fcn8s T3 mean_iu_voc2012_test} was the CVPR model) and
  ``--server-2011 Y`` (informational).

Needs: ``make weights NET=voc-fcn8s``, ``make data DATASET=voc``; optionally the VOC2012 test images.

Hardware and time (measured here on a 2-core CPU: a VGG16 FCN ~8 s and FCN-AlexNet ~1.7 s per 500x375 image while
other jobs shared the machine, ~2.4 s and ~0.4 s per 500x500 image on the idle machine (make bench), so the
hours below shrink to about a third when idle; a GPU was not available to measure; the paper's 2015
K40c took ~175 ms per image): a 2-core CPU takes
about 1.6 hours for seg11valid and 3.3 more for the 1456 VOC2012 test images; a GPU, a few minutes. Smoke run:
about 20 s on the CPU (under a minute).
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

from data.files import atomic_path

from . import distributed
from .runner import Context, Outcome, add_check, load_net, run_table
from .tables import RETRAIN_TOLERANCE, TABLE3, Row, Verdict, published_score, with_figures

__doc__ = with_figures(__doc__)  # the release scores and paper numbers, read from the net records
PAPER_MS = with_figures("{voc-fcn8s T3 inference_ms}")  # the paper's FCN-8s inference time, K40c

SUBMISSION = Path("VOC2012") / "Segmentation" / "comp6_test_cls"  # the server's layout under results/
TARBALL = "voc2012_test_comp6_fcn8s.tar.gz"
SERVER_TOLERANCE = 0.1  # the server reports one decimal


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server-2012", type=float, metavar="MEAN_IU",
                   help="mean IU the PASCAL server returned for the submission on VOC2012 test")
    p.add_argument("--server-2011", type=float, metavar="MEAN_IU",
                   help="mean IU the PASCAL server returned on VOC2011 test (informational)")
    p.add_argument("--voc2012-root", type=Path,
                   help="VOC2012 folder holding the test images (default: $FCN_DATA/VOC2012)")
    p.add_argument("--no-submission", action="store_true", help="skip predicting the VOC2012 test images")


def prepare(ctx: Context) -> None:
    """Find the VOC2012 test images; their absence is a note, not an error (the proxy still runs)."""
    import data

    ctx.record_extra["voc2012_test"] = None
    if ctx.args.no_submission:
        return
    if ctx.smoke:
        root = ctx.smoke_root / "VOC2012"
    elif ctx.args.voc2012_root:
        root = ctx.args.voc2012_root
    else:
        root = (ctx.args.data_root or data.data_root()) / "VOC2012"
    options = {"expect_split": None} if ctx.smoke else {}
    try:
        ctx.test_reader = data.load("voc", "test", root, tops=("data",), **options)
    except data.MissingDataError as e:
        ctx.test_reader = None
        ctx.notes.append(f"No VOC2012 test images ({e.path}): no submission written. They come in "
                         "VOC2012test.tar from the PASCAL evaluation server (registration required); unpack "
                         f"it so that {root}/ImageSets/Segmentation/test.txt and {root}/JPEGImages exist.")
        return
    ctx.record_extra["voc2012_test"] = {"root": str(root), "images": len(ctx.test_reader),
                                        "split_md5": ctx.test_reader.split_info.set_md5}


def measure(ctx: Context, row: Row, outcome: Outcome) -> None:
    if row.net != "voc-fcn8s" or row.net not in ctx.evaluations:
        return
    ev = ctx.evaluations[row.net]
    outcome.ours["inference_ms"] = round(1000 * ev.median_seconds, 1)
    outcome.extra[with_figures("seg11valid mean IU (local proxy; release {voc-fcn8s})")] = outcome.ours["mean_iu"]
    outcome.extra["inference time"] = (f"median over {len(ev.seconds)} images, forward + argmax, on "
                                       f"{_device(ctx)}; paper: ~{PAPER_MS} ms on a K40c")
    for year, value in (("2011", ctx.args.server_2011), ("2012", ctx.args.server_2012)):
        if value is None:
            continue
        outcome.ours[f"mean_iu_voc{year}_test"] = value
        if ctx.smoke:
            continue
        if year == "2012" and not ctx.args.retrained:
            add_check(outcome, "VOC2012 test mean IU (PASCAL server) vs the release's published score",
                      Verdict(published_score(row.net, "voc2012-test"), value, SERVER_TOLERANCE))
        elif ctx.args.retrained:
            add_check(outcome, f"VOC{year} test mean IU (PASCAL server), re-training vs paper row",
                      Verdict(row.paper[f"mean_iu_voc{year}_test"], value, RETRAIN_TOLERANCE))


def _device(ctx: Context) -> str:
    from .records import device_name

    return device_name(ctx.device)


def finish(ctx: Context, outcomes: list[Outcome]) -> None:
    """Predict the VOC2012 test images and pack the server submission."""
    from data import save_label_png

    from .evaluate import predict_reader

    reader = getattr(ctx, "test_reader", None)
    if reader is None or "voc-fcn8s" not in ctx.inputs["weights"]:
        return
    folder = ctx.out_dir / SUBMISSION
    net = load_net(ctx, "voc-fcn8s")
    distributed.say(f"predicting {len(reader)} VOC2012 test images for the PASCAL server -> {folder}", flush=True)

    def save(sample_id: str, preds: dict) -> None:
        save_label_png(folder / f"{sample_id}.png", preds["score"])

    # Under torchrun each rank writes the PNGs of its shard; predict_reader returns once every rank is done.
    done = predict_reader(net, reader, ctx.device, save, progress=not ctx.smoke, limit=ctx.args.limit,
                          world=ctx.world)
    written = [folder / f"{sample_id}.png" for sample_id, _ in done]
    seconds = [t for _, t in done]
    tarball = ctx.out_dir / TARBALL
    if ctx.world.main:
        unseen = [p for p in written if not p.is_file()]
        if unseen:
            raise FileNotFoundError(f"rank 0 cannot see {len(unseen)} PNGs the other ranks wrote (first: "
                                    f"{unseen[0]}); a run on several nodes needs --out on a shared filesystem")
        with atomic_path(tarball) as tmp, tarfile.open(tmp, "w:gz") as tar:
            for path in written:  # the server wants results/VOC2012/Segmentation/comp6_test_cls/{id}.png
                tar.add(path, arcname=str(Path("results") / SUBMISSION / path.name))
    ctx.record_extra["submission"] = {"folder": str(folder), "tarball": str(tarball), "images": len(written),
                                      "median_seconds": sorted(seconds)[len(seconds) // 2] if seconds else None}
    if ctx.smoke:  # random weights on generated pictures: the packing is checked, nothing is worth uploading
        ctx.notes.append(f"Smoke run: {len(written)} palette PNGs of random weights in {folder}, packed as "
                         f"{tarball}, only to check the packing: do not upload it. A run without --smoke packs "
                         f"the submission to upload, in {tarball.parent.parent / TARBALL}.")
        return
    ctx.notes.append(f"PASCAL server submission: {len(written)} palette PNGs in {folder}, packed as {tarball}. "
                     "Upload it on the evaluation server as competition 6 (training data beyond VOC: SBD), "
                     "then complete the row with --server-2012 MEAN_IU.")


def main(argv: list[str] | None = None) -> int:
    return run_table(TABLE3, __doc__, argv, measure=measure, prepare=prepare, finish=finish,
                     add_arguments=add_arguments, keep_nets=("voc-fcn8s",),
                     smoke_data=_smoke_data)


def _smoke_data(root: Path) -> None:
    from .smoke import build_voc

    build_voc(root, test_images=1)


if __name__ == "__main__":
    sys.exit(distributed.entry(main))
