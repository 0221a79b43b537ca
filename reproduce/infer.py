"""Segment your own pictures: ``.venv/bin/python -m reproduce.infer NET --weights FILE.h5 IMAGE... -o DIR``.

Without a release at hand, ``--random-weights SEED`` runs the same command on the net with seeded random weights
(nets.seeded): the whole path works, and every output is stamped MEANINGLESS (its line, and a Comment chunk in
each PNG). The released weights of a VGG net are about 540 MB as .h5 (its parameters, 4 bytes each: voc-fcn8s's
134 million), AlexNet's 235 MB.

Writes, per image, DIR/{stem}.png (the label map as a VOC palette PNG, class indices of the net's dataset) and
DIR/{stem}_overlay.png (the picture blended with the label colours). Two-headed SIFT Flow nets write one pair
per head ({stem}_sem.png, {stem}_geo.png ...). Nets with two inputs (nyud-fcn32s-color-hha,
nyud-fcn32s-color-d) take their second picture with --second (one per IMAGE, the HHA or depth image).

Outputs never overwrite inputs or each other (``output_stems``, ``check_outputs``): images that share a stem
(d1/x.jpg, d2/x.jpg, d1/x.png) are named by their path from the folder they have in common, parts joined by
``_`` (d1_x_jpg, d2_x_jpg, d1_x_png); an output that would be one of the inputs (``-o pics`` with pics/a.png)
stops the run before anything is written, with or without --force; so does an output file that exists already,
which is kept unless --force. -o names a folder; a file there is refused.

Bad input: weights that do not fit the net stop the run with one error before any image (exit 2); a picture
that cannot be read or preprocessed (not an image, truncated, a depth map with holes) gets one line on stderr
and the others are still segmented; the exit status is then 1 and the last line lists the failures.

A picture whose forward would take more memory than ``--max-memory`` (default 4GiB on a CPU, the free memory
on a GPU; e.g. ``--max-memory 2GiB``) is segmented in tiles, with a progress bar: the label maps are those of one
forward (nets.tiling says why tiles on the net's 32-pixel grid with a margin of its reach are exact). A budget
below the net's weights and smallest tile is refused before any picture, naming that minimum. A picture of more pixels
than ``--max-pixels`` (default PIL's decompression-bomb limit, 178,956,970) is skipped with one line naming the
limit; of a multi-frame picture (an animated GIF, a multi-page TIFF) the first frame is segmented, and its line
says so. A FIFO or a device given as a picture or weights is refused as not a regular file, and ``-o`` is
checked to be a folder that can be written before any forward.

``--precision`` picks the mode of the forwards (exact unless asked; a fast mode's label maps may differ from
exact's at some pixels: measure its agreement with reproduce.evaluate --precision on a labelled split).

Under ``torchrun --nproc_per_node=N -m reproduce.infer ...`` (same arguments) rank r segments images r, r + N,
... of the list and writes their files; rank 0 prints every image's line, and the failures, in list order.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from . import distributed, options
from .predict import predict
from .records import device_name


def load_weights(net, path: Path):
    """``weights.load`` with its refusal as one message, naming the kit net the file fits where there is one."""
    import weights
    from data.layout import kit_command
    from weights.loader import match_kit_nets

    try:
        return weights.load(net, path)
    except weights.WeightsMismatchError as e:
        model = weights.read_weights(path)
        fits, _ = match_kit_nets({layer.name: layer.shapes for layer in model.layers if layer.blobs})
        if fits:
            raise weights.WeightsMismatchError(
                f"{path} holds the weights of {' or '.join(fits)}, not of {net.name}: segment with "
                f"`{kit_command('reproduce.infer', fits[0], '--weights', str(path), '...')}`, or give the weights "
                f"of {net.name}") from e
        raise


def build_parser() -> argparse.ArgumentParser:
    import nets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", type=nets.net_name, metavar="NET", help=f"one of: {', '.join(nets.NAMES)}")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--weights", type=Path, help="weights .h5 (or .caffemodel)")
    given.add_argument("--random-weights", type=int, metavar="SEED",
                       help="no weights file: the net with seeded random weights (nets.seeded), to try the command "
                            "without a release; every output is MEANINGLESS, and says so in its line and its PNG")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--second", nargs="*", type=Path, default=[],
                        help="the second input per IMAGE for two-input NYUD nets (HHA or depth picture)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="replace output files that exist already (default: refuse and keep them); an output "
                             "that is one of the inputs is refused even so")
    parser.add_argument("--max-memory", type=_memory_size, metavar="SIZE",
                        help="memory the weights, a picture and its forward may take, e.g. 2GiB or 1500MB (default "
                             "4GiB on a CPU, the free memory on a GPU); a larger picture is segmented in tiles, with "
                             "the same result")
    parser.add_argument("--max-pixels", type=_pixel_count, metavar="N",
                        help="the most pixels a picture may have (default 178956970, PIL's guard against "
                             "decompression bombs: about 13,377 x 13,377); a larger one is skipped with one line")
    return options.add_common(parser)


def output_stems(images: list[Path]) -> list[str]:
    """The stem of each image's output files: its file stem, or, for images sharing a stem, its path from the
    deepest folder they have in common with the suffix kept, parts joined by ``_`` (d1/x.jpg -> d1_x_jpg).
    Raises ValueError naming an image given twice, or stems that still collide (x_jpg.png beside x.jpg)."""
    resolved = [p.resolve() for p in images]
    twice = sorted({str(p) for p, r in zip(images, resolved, strict=True) if resolved.count(r) > 1})
    if twice:
        raise ValueError(f"image(s) given more than once: {', '.join(twice)}; give each picture once")
    stems = [p.stem for p in images]
    for stem in {s for s in stems if stems.count(s) > 1}:
        group = [i for i, s in enumerate(stems) if s == stem]
        common = Path(os.path.commonpath([resolved[i].parent for i in group]))
        for i in group:
            relative = resolved[i].relative_to(common)
            stems[i] = "_".join([*relative.parent.parts, relative.stem, relative.suffix.lstrip(".")]).rstrip("_")
    clash = sorted({str(p) for p, s in zip(images, stems, strict=True) if stems.count(s) > 1})
    if clash:
        raise ValueError(f"images {', '.join(clash)} would write files of the same name in the output folder; "
                         "rename one, or segment them in separate runs with separate -o folders")
    return stems


def output_files(out: Path, stems: list[str], heads: list[str]) -> list[list[Path]]:
    """Per image, the files it writes: ``{stem}{head}.png`` and ``{stem}{head}_overlay.png`` per head suffix."""
    return [[out / f"{stem}{head}{kind}.png" for head in heads for kind in ("", "_overlay")] for stem in stems]


def check_outputs(files: list[Path], inputs: list[Path], force: bool) -> None:
    """Refuse (ValueError, one message) an output that is one of ``inputs`` (always), or that exists already
    (unless ``force``): checked for every image before the first is segmented, so nothing is lost."""
    inputs = [p for p in inputs if p.exists()]
    twice = sorted({str(f) for f in files if files.count(f) > 1})
    if twice:
        raise ValueError(f"two images would both write {', '.join(twice)}; rename one, or segment them in "
                         "separate runs with separate -o folders")
    hit = sorted({str(f) for f in files if f.exists() and any(os.path.samefile(f, p) for p in inputs)})
    if hit:
        raise ValueError(f"the output file(s) {', '.join(hit)} would be written over inputs of this run, which are "
                         "kept; name an -o folder that holds none of the inputs (for example -o masks)")
    existing = [str(f) for f in files if f.exists() or f.is_symlink()]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise ValueError(f"{len(existing)} output file(s) exist already and are kept: {shown}; pass --force to "
                         "replace them, or name another -o folder")


def _pixel_count(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of pixels, got {text!r}")
    return value


def least_memory(net) -> int:
    """The least --max-memory a tile of ``net`` (a built net) takes: its weights, and the forward of its smallest
    tile (one grid step kept, the net's reach of margin each side)."""
    import math

    from nets import tiling

    side = tiling.stride(net.spec) + 2 * tiling.halo(net.spec)
    return tiling.weights_bytes(net) + math.ceil(tiling.peak_bytes(net.spec, side, side) * tiling.HEADROOM)


def _memory_size(text: str) -> int:
    from nets.tiling import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    import nets
    import weights
    from data.files import NotWritable, not_regular, require_writable
    from data.palette import save_label_png, save_overlay
    from data.preprocess import DEFAULT_MAX_PIXELS, IMAGE_ERRORS, PictureTooLarge, read_image
    from nets.tiling import MemoryBudgetError, format_bytes

    parser = build_parser()
    args = parser.parse_args(argv)

    inputs = [*([args.weights] if args.weights else []), *args.images, *args.second]
    folders = [p for p in inputs if p.is_dir()]
    if folders:
        parser.error(f"{', '.join(map(str, folders))}: a folder, not a file; give the pictures (and --weights) as "
                     f"files, for example {folders[0] / '*.jpg'}")
    odd = [f"{p} is {not_regular(p)}" for p in inputs if not_regular(p)]
    if odd:  # reading a FIFO waits for a writer, /dev/zero never ends
        parser.error(f"{'; '.join(odd)}, not a regular file; give the pictures (and --weights) as files")
    missing = [p for p in inputs if not p.is_file()]
    if missing:
        parser.error(f"no such file(s): {', '.join(map(str, missing))}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"-o {args.out} is a file; -o names the folder the masks go to (the file is kept)")
    try:  # a file above -o, a read-only folder: said now, not after the first forward
        require_writable(args.out, "-o")
    except NotWritable as e:
        parser.error(str(e))
    tops = list(nets.record(args.net).input_tops.values())
    if len(tops) == 2 and len(args.second) != len(args.images):
        parser.error(f"{args.net} takes two pictures per image ({tops[0]}, {tops[1]}): give --second with "
                     f"one {tops[1]} picture per IMAGE ({len(args.images)} images, {len(args.second)} given)")
    if len(tops) == 1 and args.second:
        parser.error(f"{args.net} takes one picture per image; drop --second")

    spec = nets.spec(args.net)
    suffixes = [""] if len(spec.outputs) == 1 else [f"_{label}" for _, _, label in spec.losses]  # SIFT Flow
    try:
        stems = output_stems(args.images)
        check_outputs([f for files in output_files(args.out, stems, suffixes) for f in files], inputs, args.force)
    except ValueError as e:
        parser.error(str(e))
    world, device = options.start(args)
    # Every rank has checked the outputs before any rank writes one: otherwise a slow rank could find a fast
    # rank's new files and refuse them as the user's (the process group may already exist, as when one launch
    # runs several commands, so joining it is no such wait).
    distributed.barrier(world)
    stamp = None
    if args.random_weights is not None:  # a try without a release: the outputs say they mean nothing
        from nets.seeded import seeded_weights

        stamp = f"MEANINGLESS: {args.net} with random weights (seed {args.random_weights}), not a segmentation"
        distributed.say(f"{stamp}; segment with released weights: make weights NET={args.net}")
    try:
        net = (seeded_weights(nets.build(args.net), args.random_weights) if stamp else
               load_weights(nets.build(args.net), args.weights))
    except (weights.WeightsMismatchError, weights.NonFiniteWeightsError, weights.CaffemodelError, ValueError,
            OSError) as e:
        return distributed.refuse(f"error: cannot segment with {args.weights}: {e}", args.device,
                                  args.dist_timeout)
    least = least_memory(net) if args.max_memory is not None else 0
    if args.max_memory is not None and args.max_memory < least:  # once, before any picture, not once per picture
        return distributed.refuse(f"error: --max-memory {format_bytes(args.max_memory)} is below what one tile of "
                                  f"{args.net} takes: its weights and its smallest tile need {format_bytes(least)}; "
                                  f"give --max-memory {-(-least // 2**20)}MiB or more", args.device, args.dist_timeout)
    policy = options.set_precision(net, args, device)
    where = device_name(device) + ("" if not world.distributed else f", {world.size} ranks ({world.backend})")
    distributed.say(f"{args.net} on {where}, precision {policy.name}: {len(args.images)} image(s) -> {args.out}")
    positions = world.shard(len(args.images))
    lines, failed = [], []
    for i in positions:
        path = args.images[i]
        files = {tops[0]: path, tops[1]: args.second[i]} if len(tops) == 2 else {tops[0]: path}
        # A bad picture costs only itself: one line, and the others are still segmented.
        pictures, problem = {}, None
        frames = []
        for top, file in files.items():
            try:
                pictures[top] = read_image(file, args.max_pixels or DEFAULT_MAX_PIXELS)
            except PictureTooLarge as e:
                problem = f"too large: {e}"
                break
            except IMAGE_ERRORS as e:
                problem = f"cannot read {file} as a picture ({e}); expected a complete JPEG or PNG file"
                break
            if getattr(pictures[top], "n_frames", 1) > 1:
                frames.append(f"{file.name}: the first of its {pictures[top].n_frames} frames was used")
        if problem is None:
            try:
                result = predict(net, pictures if len(tops) == 2 else pictures[tops[0]], device,
                                 max_memory=args.max_memory)
            except MemoryBudgetError as e:  # the budget fits no tile of this picture
                problem = str(e)
            except ValueError as e:  # preprocessing refused it (depth with holes, sizes that differ, ...)
                problem = f"cannot feed it to {args.net}: {e}"
        if problem is not None:
            lines.append(f"{path}: skipped: {problem}")
            failed.append(str(path))
            if not world.distributed:
                print(lines[-1], file=sys.stderr)
            continue
        heads = result if isinstance(result, dict) else {net.outputs[0]: result}
        label_tops = {score: label for _, score, label in net.spec.losses}
        said = []
        for blob, label in heads.items():
            suffix = "" if len(heads) == 1 else f"_{label_tops[blob]}"  # SIFT Flow: _sem, _geo
            png = save_label_png(args.out / f"{stems[i]}{suffix}.png", label, stamp)  # output_stems: no clashes
            over = save_overlay(args.out / f"{stems[i]}{suffix}_overlay.png", _rgb(pictures[tops[0]]), label,
                                comment=stamp)
            classes = ", ".join(str(c) for c in sorted(set(label.ravel().tolist())))
            said.append(f"{path.name}: {png.name}, {over.name} (classes {classes})" + (" MEANINGLESS" if stamp else ""))
        lines.append("\n".join([*said, *frames]))
        if not world.distributed:
            print(lines[-1])
    if world.distributed:  # rank 0 prints every rank's lines, in list order
        for line in distributed.in_list_order(distributed.all_gather((positions, lines), world)):
            distributed.say(line)
        failed = [f for part in distributed.all_gather(failed, world) for f in part]
    if failed:
        distributed.say(f"{len(failed)} of {len(args.images)} image(s) failed: {', '.join(failed)}",
                        file=sys.stderr)
        return 1
    return 0


def _rgb(picture):
    from data.preprocess import to_rgb

    return to_rgb(picture)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(distributed.entry(main))
