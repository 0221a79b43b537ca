"""Convert a weights file (a binary caffemodel, or any format of ``weights.formats``) to Caffe's HDF5 snapshot
layout.

``python -m weights.convert SRC DST.h5`` reads a caffemodel without Caffe (``weights.caffemodel``), or a torch
state_dict (.pth / .pt: the kit's, torchfcn's, torchvision's VGG16) or a Chainer fcn .npz, told apart by
content; prints one line per layer (name, type, blob shapes) and writes ``/data/<layer>/<i>`` float32 datasets
in Caffe's blob shapes, with the source file name, its SHA-256 and the converter version as root attributes.
The .h5 appears only when complete.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from data.files import sha256_file

from .caffemodel import CaffeLayer, CaffemodelError, iter_layers, open_buffer
from .formats import DESCRIPTIONS, NOT_STORED, WeightsFormatError, read, sniff
from .snapshot import write_h5


def convert(src: str | os.PathLike, dst: str | os.PathLike,
            log: Callable[[str], None] | None = print) -> Path:
    """Convert weights file ``src`` to weights .h5 ``dst`` (atomic). A caffemodel's layers are streamed from a
    memory map of the source, so memory stays near the size of the file; the other formats are read whole.
    Raises CaffemodelError naming the layer (WeightsFormatError for the other formats) on bad input; ``dst`` is
    then left as it was."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"no weights file at {src}")
    digest = sha256_file(src)
    if sniff(src) != "caffemodel":
        return _convert_other_format(src, dst, digest, log)
    formats: list[str] = []
    with open_buffer(src) as buf:

        def layers() -> Iterator[CaffeLayer]:
            for layer, fmt in iter_layers(buf, src.name):
                formats.append(fmt)
                yield layer

        try:
            write_h5(dst, layers(), {"source": src.name, "source_sha256": digest}, log=log)
        except ValueError as e:
            if isinstance(e, CaffemodelError):
                raise
            raise CaffemodelError(f"{src.name}: {e}") from None
    if log is not None:
        fmt = "V1 'layers'" if formats and formats[-1] == "layers" else "'layer'"
        log(f"{src.name} ({fmt} format, sha256 {digest}) -> {dst}")
    return dst


def _convert_other_format(src: Path, dst: Path, digest: str, log: Callable[[str], None] | None) -> Path:
    """A torch state_dict or Chainer .npz (read whole: they are not streamable) to a weights .h5."""
    model = read(src)
    write_h5(dst, model.layers, {"source": src.name, "source_sha256": digest}, log=log)
    if log is not None:
        log(f"{src.name} ({DESCRIPTIONS[model.format]}, sha256 {digest}) -> {dst}")
        if model.format in NOT_STORED:
            log(f"note: a {DESCRIPTIONS[model.format]} stores no {'/'.join(NOT_STORED[model.format])} blobs "
                "(torchfcn and Chainer fcn scale the at-once net's pool4 and pool3 in code); for a net with such "
                "layers make its complete .h5 with python -m weights.export NET SRC DST.h5 --format h5")
    return dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="binary caffemodel, torch state_dict (.pth, .pt) or Chainer .npz")
    parser.add_argument("dst", type=Path, help="weights .h5 to write")
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst)
    except (CaffemodelError, WeightsFormatError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
