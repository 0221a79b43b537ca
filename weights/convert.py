"""Convert weights between formats, in both directions: the one command for it.

``.venv/bin/python -m weights.convert SRC DST [--net NAME] [--format h5|torchfcn|caffemodel|onnx] [--force]``

SRC is any format the kit reads, told apart by content (``weights.formats``: a binary caffemodel, current or V1,
the kit's .h5, a torch state_dict as the kit, torchfcn or torchvision write it, a Chainer fcn .npz). DST's
format is ``--format`` or its suffix: ``.h5`` the kit's own file (Caffe's HDF5 snapshot layout), ``.pth``/``.pt``
a state_dict that torchfcn's model class loads strictly, ``.caffemodel`` a caffemodel Caffe loads into the
reference's deploy net, ``.onnx`` the whole net (weights.export). DST appears only when complete; an existing
DST is kept unless ``--force``.

To ``.h5``: a caffemodel's layers are streamed (memory near the file's size), one line per layer (name, type,
blob shapes), with the source's name, SHA-256 and the converter version as root attributes. The file's
parameter layers are checked against ``--net NAME`` (exactly that net's) or, by default, against every kit net:
a strict part of one is refused as a cut file. A format that never stores some blobs (torchfcn's and Chainer
fcn's at-once files hold no Scale factors) gets them from the net's definition, the net named with ``--net`` or
recognised from the file's layers, and the line says so: the .h5 is complete and loads strictly. To the other
formats the file is loaded strictly into the net (``--net``, or the one kit net its layers are) and written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from data.cli import fail, run
from data.files import FORCE_HELP, NotWritable, not_regular, refuse_existing, require_writable, sha256_file

from .caffemodel import CaffeLayer, CaffemodelError, iter_layers, open_buffer
from .errors import NonFiniteWeightsError, WeightsMismatchError
from .formats import DESCRIPTIONS, NOT_STORED, fill_from_definition, read, sniff
from .h5 import write_h5
from .loader import AUTO, UNCHECKED, check_layers, fitting_kit_nets, kit_net_shapes, match_kit_nets


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
    require_writable(dst.parent, "DST's folder")


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
    if not_regular(src):
        raise FileNotFoundError(f"{src} is {not_regular(src)}, not a regular file; name the weights file itself")
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
    if net == AUTO and model.format in NOT_STORED:  # a net the file may fit only once its unstored blobs are filled
        shapes = {layer.name: [b.shape for b in layer.blobs] for layer in layers if layer.blobs}
        exact = match_kit_nets(shapes)[0]
        filled_fits = [n for n in fitting_kit_nets(shapes, model.format, fill=True) if n not in exact]
        named = published_as(src, exact + filled_fits) if exact and filled_fits else None
        if named in filled_fits or (filled_fits and not exact and len(filled_fits) == 1):
            net = named or filled_fits[0]
            if log is not None:
                how = f" (a file published for {net})" if named else ""
                log(f"{src.name}: its layers are {net}'s{how}, less what a {DESCRIPTIONS[model.format]} never "
                    "stores")
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


def published_as(src: Path, candidates: list[str]) -> str | None:
    """The one of ``candidates`` whose release lists a source by ``src``'s name or with its checksum (torchfcn's
    FCN-8s and at-once files hold the same layers; their published names and md5s tell them apart)."""
    from data.files import file_digest
    from nets.registry import RECORDS

    digests: dict[str, str] = {}
    found = []
    for name in candidates:
        release = RECORDS[name].weights
        for source in release.sources if release else ():
            same = source.filename == src.name or any(
                digests.setdefault(a, file_digest(src, a)) == h.lower() for a, h in source.checksums.items())
            if same:
                found.append(name)
                break
    return found[0] if len(found) == 1 else None


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


# DST's suffix -> the format written, where --format does not say.
SUFFIXES = {".h5": "h5", ".pth": "torchfcn", ".pt": "torchfcn", ".caffemodel": "caffemodel", ".onnx": "onnx"}


def target_format(dst: Path, fmt: str | None) -> str:
    """``--format``, else the one DST's suffix names."""
    if fmt:
        return fmt
    if dst.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{dst} ends in {dst.suffix or 'no suffix'}, which names no format; end it in "
                         f"{', '.join(SUFFIXES)} or pass --format {{{','.join(dict.fromkeys(SUFFIXES.values()))}}}")
    return SUFFIXES[dst.suffix.lower()]


def net_of(src: Path, net: str) -> str:
    """The kit net to load ``src`` into for a format that holds a whole net: ``net`` when named, else the one
    kit net the file's layers are (weights.loader.fitting_kit_nets); several or none is an error naming them."""
    if net not in (AUTO, UNCHECKED):
        return net
    model = read(src)
    shapes = {layer.name: [b.shape for b in layer.blobs] for layer in model.layers if layer.blobs}
    fits = fitting_kit_nets(shapes, model.format)
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise ValueError(f"{src.name} fits {len(fits)} kit nets with the same layers ({', '.join(fits)}); pass "
                         "--net NAME to say which it is")
    raise ValueError(f"{src.name} is no kit net's weights (its {len(shapes)} parameter layers match none); pass "
                     "--net NAME, or convert it to .h5, which takes any net")


def main(argv: list[str] | None = None) -> int:
    import nets

    from .export import WRITERS, ExportError, export

    parser = argparse.ArgumentParser(prog=".venv/bin/python -m weights.convert",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="weights: caffemodel, .h5, torch state_dict (.pth, .pt) or Chainer "
                        ".npz, told apart by content")
    parser.add_argument("dst", type=Path, help="file to write: .h5, .pth (torchfcn), .caffemodel or .onnx")
    parser.add_argument("--net", default=AUTO, help="the kit net the weights are: to .h5, the file must hold exactly "
                        "its parameter layers (default: compare with every kit net and refuse a strict part of one, "
                        "a cut file; 'none': no check); to the other formats, the net to write (default: the one "
                        f"kit net the file's layers are). One of: {', '.join(nets.NAMES)}")
    parser.add_argument("--format", choices=list(WRITERS), help="what to write (default: told by DST's suffix)")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    args = parser.parse_args(argv)
    try:
        if args.dst.exists() and args.src.exists() and os.path.samefile(args.src, args.dst):
            other = args.src.with_suffix(".h5")
            other = args.src.with_name(f"{args.src.stem}-converted.h5") if other == args.src else other
            raise ValueError(f"the destination {args.dst} is the source {args.src} itself; converting would overwrite "
                             f"the source, which is kept. Give another path, for example {other}")
        fmt = target_format(args.dst, args.format)
        if fmt == "h5":
            convert(args.src, args.dst, net=args.net, force=args.force)
        else:  # a whole net's file; an existing destination is refused before the source is read
            refuse_existing(args.dst, args.force)
            require_writable(args.dst.parent, "DST's folder")
            export(net_of(args.src, args.net), args.src, args.dst, fmt, force=args.force)
    except (ValueError, FileNotFoundError, NotWritable, ExportError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
