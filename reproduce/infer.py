"""Segment your own pictures: ``python -m reproduce.infer NET --weights FILE.h5 IMAGE... -o DIR``.

Writes, per image, DIR/{stem}.png (the label map as a VOC palette PNG, class indices of the net's dataset) and
DIR/{stem}_overlay.png (the picture blended with the label colours). Two-headed SIFT Flow nets write one pair
per head ({stem}_sem.png, {stem}_geo.png ...). Nets with two inputs (nyud-fcn32s-color-hha,
nyud-fcn32s-color-d) take their second picture with --second (one per IMAGE, the HHA or depth image).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .predict import predict
from .records import device_name, pick_device


def main(argv: list[str] | None = None) -> int:
    import nets
    import weights
    from data.palette import save_label_png, save_overlay

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", choices=nets.NAMES, metavar="NET")
    parser.add_argument("--weights", required=True, type=Path, help="weights .h5 (or .caffemodel)")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--second", nargs="*", type=Path, default=[],
                        help="the second input per IMAGE for two-input NYUD nets (HHA or depth picture)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    args = parser.parse_args(argv)

    missing = [p for p in [args.weights, *args.images, *args.second] if not p.is_file()]
    if missing:
        parser.error(f"no such file(s): {', '.join(map(str, missing))}")
    tops = list(nets.record(args.net).input_tops.values())
    if len(tops) == 2 and len(args.second) != len(args.images):
        parser.error(f"{args.net} takes two pictures per image ({tops[0]}, {tops[1]}): give --second with "
                     f"one {tops[1]} picture per IMAGE ({len(args.images)} images, {len(args.second)} given)")
    if len(tops) == 1 and args.second:
        parser.error(f"{args.net} takes one picture per image; drop --second")

    device = pick_device(args.device)
    net = weights.load(nets.build(args.net), args.weights).to(device)
    print(f"{args.net} on {device_name(device)}: {len(args.images)} image(s) -> {args.out}")
    for i, path in enumerate(args.images):
        picture = {tops[0]: path, tops[1]: args.second[i]} if len(tops) == 2 else path
        result = predict(net, picture, device)
        heads = result if isinstance(result, dict) else {net.outputs[0]: result}
        label_tops = {score: label for _, score, label in net.spec.losses}
        for blob, label in heads.items():
            suffix = "" if len(heads) == 1 else f"_{label_tops[blob]}"  # SIFT Flow: _sem, _geo
            png = save_label_png(args.out / f"{path.stem}{suffix}.png", label)
            over = save_overlay(args.out / f"{path.stem}{suffix}_overlay.png", _rgb(path), label)
            classes = ", ".join(str(c) for c in sorted(set(label.ravel().tolist())))
            print(f"{path.name}: {png.name}, {over.name} (classes {classes})")
    return 0


def _rgb(path: Path):
    from data.preprocess import to_rgb

    return to_rgb(path)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
