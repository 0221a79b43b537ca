"""Convert a weights file (a binary caffemodel, or any format of ``weights.formats``) to Caffe's HDF5 snapshot
layout.

``.venv/bin/python -m weights.convert SRC DST.h5`` reads a caffemodel without Caffe (``weights.caffemodel``),
or a torch state_dict (.pth / .pt: the kit's, torchfcn's, torchvision's VGG16) or a Chainer fcn .npz, told apart
by content; prints one line per layer (name, type, blob shapes) and writes ``/data/<layer>/<i>`` float32
datasets in Caffe's blob shapes, with the source file name, its SHA-256 and the converter version as root
attributes. The .h5 appears only when complete, and only when the file's parameter layers pass the ``--net``
check (by default: a strict part of a kit net is refused as a cut file). With ``--net NAME``, the blobs a format
never stores (the at-once net's Scale factors in torchfcn's and Chainer fcn's files) are filled from NAME's
definition and the line says so, so that the .h5 is complete.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from data.files import FORCE_HELP, refuse_existing, sha256_file

from .caffemodel import CaffeLayer, CaffemodelError, iter_layers, open_buffer
from .errors import NonFiniteWeightsError, WeightsMismatchError
from .formats import DESCRIPTIONS, NOT_STORED, fill_from_definition, read, sniff
from .h5 import write_h5
from .loader import AUTO, UNCHECKED, check_layers, kit_net_shapes


def refuse_destination(src: Path, dst: Path, force: bool = False) -> None:
    """A destination that is the source itself (same path, hard link or symlink) or not a .h5 is refused
    before anything is written: converting ``X.caffemodel X.caffemodel`` would replace the download. An
    existing destination is kept unless ``force`` (data.files.refuse_existing)."""
    suggestion = src.with_suffix(".h5")
    if suggestion in (src, dst):
        suggestion = src.with_name(f"{src.stem}-converted.h5")
    if dst.suffix.lower() != ".h5":
        raise ValueError(f"the destination {dst} does not end in .h5; the converted weights are an HDF5 file "
                         f"(for example {suggestion})")
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise ValueError(f"the destination {dst} is the source {src} itself; converting would overwrite the "
                         f"source, which is kept. Give another path, for example {suggestion}")
    refuse_existing(dst, force)


def convert(src: str | os.PathLike, dst: str | os.PathLike,
            log: Callable[[str], None] | None = print, net: str | dict = AUTO, force: bool = False) -> Path:
    """Convert weights file ``src`` to weights .h5 ``dst`` (atomic). A caffemodel's layers are streamed from a
    memory map of the source, so memory stays near the size of the file; the other formats are read whole.
    ``net``: a kit net whose parameter layers the file must hold exactly, AUTO (a strict part of a kit net is
    refused as a cut file) or "none" (weights.loader.check_layers). Raises CaffemodelError naming the layer on
    bad input (IncompleteNetError for a net cut at a layer boundary; WeightsFormatError for the other formats),
    ValueError for a destination that is the source, not a .h5, or an existing file without ``force``, and
    NonFiniteWeightsError for blobs holding NaN or infinity; ``dst`` is then left as it was."""
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        raise FileNotFoundError(f"{src} is a folder, not a weights file; name the .caffemodel (or .pth, .npz) "
                                "file itself")
    if not src.is_file():
        raise FileNotFoundError(f"no weights file at {src}")
    refuse_destination(src, dst, force)
    if isinstance(net, str) and net not in (AUTO, UNCHECKED):
        kit_net_shapes(net)  # an unknown name fails now, not after the conversion
    verdict: list[str] = []
    digest = sha256_file(src)
    if sniff(src) != "caffemodel":
        return _convert_other_format(src, dst, digest, log, net)
    formats: list[str] = []
    with open_buffer(src) as buf:

        def layers() -> Iterator[CaffeLayer]:
            for layer, fmt in iter_layers(buf, src.name):
                formats.append(fmt)
                yield layer

        try:
            write_h5(dst, layers(), {"source": src.name, "source_sha256": digest}, log=log,
                     check=lambda shapes: verdict.append(check_layers(shapes, net, src.name)))
        except ValueError as e:
            if isinstance(e, CaffemodelError | WeightsMismatchError | NonFiniteWeightsError):
                raise
            raise CaffemodelError(f"{src.name}: {e}") from None
    if log is not None:
        fmt = "V1 'layers'" if formats and formats[-1] == "layers" else "'layer'"
        for line in verdict:  # which parameter layers the file holds, and which kit net they are
            log(line)
        log(f"{src.name} ({fmt} format, sha256 {digest}) -> {dst}")
    return dst


def _convert_other_format(src: Path, dst: Path, digest: str, log: Callable[[str], None] | None,
                          net: str | dict) -> Path:
    """A torch state_dict or Chainer .npz (read whole: they are not streamable) to a weights .h5. A cut file
    fails in its container (zip or pickle), so the AUTO check only says which kit net the layers match. With
    ``net`` named, the layers of the types the format never stores (torchfcn's and Chainer fcn's at-once Scale
    blobs) are filled from the net's definition, said in one line, and the .h5 must then hold exactly the net's
    parameter layers: it loads strictly."""
    model = read(src)
    layers = list(model.layers)
    filled = None
    if isinstance(net, str) and net not in (AUTO, UNCHECKED) and model.format in NOT_STORED:
        layers, filled = _fill_not_stored(layers, model.format, net, src.name)
    verdict: list[str] = []

    def check(shapes: dict[str, list[tuple[int, ...]]]) -> None:
        verdict.append(check_layers(shapes, UNCHECKED if net == AUTO else net, src.name))

    write_h5(dst, layers, {"source": src.name, "source_sha256": digest}, log=log, check=check)
    if log is not None:
        if filled:
            log(filled)
        for line in verdict:
            log(line)
        log(f"{src.name} ({DESCRIPTIONS[model.format]}, sha256 {digest}) -> {dst}")
        if model.format in NOT_STORED and net == AUTO:
            log(f"note: a {DESCRIPTIONS[model.format]} stores no {'/'.join(NOT_STORED[model.format])} blobs "
                "(torchfcn and Chainer fcn scale the at-once net's pool4 and pool3 in code); for a net with such "
                "layers convert with --net NET, which fills them from the net's definition")
    return dst


def _fill_not_stored(layers: list[CaffeLayer], fmt: str, net_name: str, source: str
                     ) -> tuple[list[CaffeLayer], str | None]:
    """``layers`` plus the blobs of the net's layers that format ``fmt`` does not store (weights.formats'
    fill_from_definition, the rule weights.load applies), and the line saying so (None when none were missing)."""
    import nets

    spec = nets.spec(net_name)
    have = {layer.name: layer.blobs for layer in layers if layer.blobs}
    blobs, filled = fill_from_definition(spec.layers, spec.param_shapes(), have, fmt, source, net_name)
    added = [CaffeLayer(name, spec.layer(name).type, tuple(blobs[name])) for name in blobs if name not in have]
    return [*layers, *added], filled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="binary caffemodel, torch state_dict (.pth, .pt) or Chainer .npz")
    parser.add_argument("dst", type=Path, help="weights .h5 to write")
    parser.add_argument("--net", default=AUTO, help="a kit net whose parameter layers the file must hold "
                        "exactly; default: compare with every kit net and refuse a strict part of one (a cut "
                        "file); 'none': no check")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst, net=args.net, force=args.force)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
