"""The released weights and the ILSVRC nets they were trained from; download, verify, convert.

``.venv/bin/python -m weights.zoo list``        every entry, its sources, what is verifiable, what is present
``.venv/bin/python -m weights.zoo fetch NAME``  try each source in turn, verify, convert to NAME.h5, check it fits
``.venv/bin/python -m weights.zoo fetch NAME --source URL[#md5=HEX|#sha1=HEX|#sha256=HEX][&file=NAME]``
                                              a source of your own (a lab mirror), tried first; repeatable
``.venv/bin/python -m weights.zoo path NAME``   print where NAME.h5 lies (or would lie)

The entries are the net records' releases and the ILSVRC classifiers (nets.registry): nothing is listed here a
second time. Each lists its sources in order: the reference's server, then the known mirrors (torchfcn's and
Chainer fcn's copies on Google Drive, data.drive), each with the checksums its own publisher gives. The weights
folder is ``$FCN_WEIGHTS``, by default ``~/.cache/fcn-kit/weights``; it holds each source's file as downloaded
(or put there by hand) and ``<NAME>.h5`` as converted from whichever source gave a good file (its format is
told by content: a caffemodel, a torch state_dict, a Chainer .npz).

A file that fails its checksum is never used: one this run downloaded is removed, one that was already there
(put there by hand, or by an earlier run) is moved aside to ``<file>.rejected`` (numbered if taken) and the
message says where, so nothing takes it for good and nothing of the user's is lost. The reference publishes no
sizes or hashes; what is known is recorded with who published it, and every fetch prints the SHA-256 it
computed so that a user can record it.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, unquote, urlsplit

from data import drive
from data.cli import fail, run, split_words
from data.errors import DownloadError
from data.fetch import download
from data.files import HASH_LENGTHS, set_aside
from data.layout import kit_command
from nets.registry import CLASSIFIERS, RECORDS, Source, Weights

from .caffemodel import CaffemodelError
from .convert import convert
from .errors import WeightsMismatchError
from .formats import DESCRIPTIONS, sniff
from .loader import AUTO

ENV_VAR = "FCN_WEIGHTS"
DEFAULT_FOLDER = Path("~/.cache/fcn-kit/weights")

# Every downloadable file: the kit nets' releases, then the ILSVRC classifiers.
MANIFEST: dict[str, Weights] = {**{r.name: r.weights for r in RECORDS.values() if r.weights}, **CLASSIFIERS}


def folder() -> Path:
    """The weights folder: $FCN_WEIGHTS, else ~/.cache/fcn-kit/weights."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_FOLDER).expanduser()


def h5_path(name: str, where: Path | None = None) -> Path:
    return (where or folder()) / f"{name}.h5"


def source_path(source: Source, where: Path | None = None) -> Path:
    """Where a source's file lies in the weights folder once fetched (or where to put it by hand)."""
    return (where or folder()) / source.filename


def init_command(net: str, out: str = "INIT.h5") -> str:
    """The commands that build a net's starting weights from the zoo, as its record's solver says (the released
    coarser nets stand in for the user's own: the reference trained each finer net from its own coarser one)."""
    sources = RECORDS[net].solver.init
    fetch = " && ".join(f"make weights NET={s}" for s in sources)
    # Where make weights puts them (a literal $FCN_WEIGHTS would be empty in a shell that never set it).
    files = " ".join(str(h5_path(s)) for s in sources)
    return f"{fetch} && {kit_command('weights.transplant', f'--net {net} --out {out}', files)}"


def survives(net: str) -> bool:
    """Whether a copy of the net's released weights is known to survive (a source not marked gone)."""
    release = RECORDS[net].weights
    return release is not None and bool(release.surviving)


def retrain_table(net: str) -> int | None:
    """The paper table whose retraining command brings back a net whose release is gone or never was: the
    table of its paper row (``make retrain-tableN``); None for a net whose weights survive."""
    if survives(net):
        return None
    return next(p.table for p in RECORDS[net].paper if not p.variant)


# The tables with a row that only retraining brings back (Table 1's FCN-AlexNet and FCN-GoogLeNet, Tables 4-6):
# each has its ``make retrain-tableN``.
RETRAIN_TABLES: tuple[int, ...] = tuple(sorted({t for n in RECORDS if (t := retrain_table(n)) is not None}))
NO_SURVIVOR = "no copy of the released weights is known to survive"


def retrain_command(net: str) -> str:
    """``make retrain-tableN ROWS=NET``: the one command that retrains a net whose weights do not survive."""
    return f"make retrain-table{retrain_table(net)} ROWS={net}"


# Kit nets without a release, and what to do instead.
UNRELEASED: dict[str, str] = {
    r.name: f"{r.note}; retrain it with its whole recipe ({retrain_command(r.name)}), or start it from "
            f"{r.solver.init_note} with `{init_command(r.name, f'{r.name}-init.h5')}` and train it (make train "
            f"NET={r.name} INIT={r.name}-init.h5)"
    for r in RECORDS.values() if r.weights is None}


class ZooError(RuntimeError):
    """No source gave usable weights; the message lists each source and the manual steps."""


class ChecksumMismatch(ZooError):
    """A file's checksum differs from the one published for it."""


class BadSource(ZooError, ValueError):
    """A --source that cannot be used: says what was expected and what was given."""


# A source's expected format -> the container weights.formats.sniff finds for it.
CONTAINERS = {"caffemodel": "caffemodel", "state_dict": "torch", "torchvision-vgg16": "torch",
              "chainer-npz": "npz", "hdf5": "hdf5"}
CONTAINER_NAMES = {"caffemodel": "a caffemodel (or no weights file at all)", "torch": "a torch.save file",
                   "npz": "a NumPy .npz", "hdf5": "an HDF5 file"}
USER = "you (--source)"


def user_source(text: str) -> Source:
    """A source given on the command line: ``URL[#md5=HEX|#sha1=HEX|#sha256=HEX][&file=NAME]``. The fragment
    (never sent to the server) carries the checksums to verify and, where the URL's path does not end in a file
    name (a Drive link), the name to keep the file under; the format is told by the file's content."""
    url, _, fragment = text.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadSource(f"--source {text!r}: expected an http:// or https:// URL, optionally followed by "
                        "#md5=HEX (or sha1=, sha256=) and &file=NAME")
    checksums, file = {}, ""
    for key, value in parse_qsl(fragment, keep_blank_values=True):
        key = key.lower()
        if key in HASH_LENGTHS:
            if not re.fullmatch(rf"[0-9a-fA-F]{{{HASH_LENGTHS[key]}}}", value):
                raise BadSource(f"--source {text!r}: {key}= takes {HASH_LENGTHS[key]} hex digits, got {value!r} "
                                f"({len(value)} characters)")
            checksums[key] = value.lower()
        elif key == "file":
            if not value or value != PurePosixPath(value).name or value.startswith("."):
                raise BadSource(f"--source {text!r}: file= takes a plain file name (no folders, not hidden), got "
                                f"{value!r}")
            file = value
        else:
            raise BadSource(f"--source {text!r}: unknown key {key!r} after '#'; the keys are "
                            f"{', '.join(HASH_LENGTHS)} and file")
    if not file:
        if drive.is_drive(url):
            file = f"drive-{drive.file_id(url) or 'file'}"
        elif parts.path.endswith("/") or not PurePosixPath(unquote(parts.path)).name:
            raise BadSource(f"--source {text!r}: the URL's path names no file; add &file=NAME after the '#' "
                            "(for example #file=fcn8s.caffemodel)")
    return Source(url, "", checksums, USER if checksums else "", file)


def describe(source: Source) -> str:
    """What a source's file is, for the log: its name and expected format."""
    what = DESCRIPTIONS.get(source.format, source.format) if source.format else "format told by its content"
    return f"{source.filename} ({what})"


def entry_for(name: str, manifest: Mapping[str, Weights] = MANIFEST) -> Weights:
    """The zoo's entry ``name`` (PyTorch Hub's spelling, voc_fcn8s, is voc-fcn8s); an unknown name is a ZooError
    naming the closest names."""
    import difflib

    spelled = name.replace("_", "-").lower() if name not in manifest and name not in UNRELEASED else name
    if spelled in manifest:
        return manifest[spelled]
    if spelled in UNRELEASED:
        raise ZooError(UNRELEASED[spelled])
    close = difflib.get_close_matches(spelled, [*manifest, *UNRELEASED], n=3)
    guess = f"; did you mean {' or '.join(close)}?" if close else "."
    raise ZooError(f"no weights named {name!r}{guess} The zoo has: {', '.join(manifest)}")


def verifiable(source: Source) -> str:
    """What can be verified of a source's file, for the listing."""
    return f"{', '.join(source.checksums)} ({source.checksums_by})" if source.checksums else "unknown"


def digests(path: Path, algorithms: Sequence[str]) -> dict[str, str]:
    """Hex digests of a file for several algorithms, in one read of it (a VGG16 caffemodel is 553 MB)."""
    import hashlib

    hashes = {a: hashlib.new(a) for a in dict.fromkeys(algorithms)}
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def verify(source: Source, path: Path, log: Callable[[str], None] = print, size: int | None = None) -> str:
    """Check the published size (``size``, bytes) and every checksum published for the source and return the
    file's SHA-256 (printed as well). Raises ChecksumMismatch naming each difference; the file is left where it
    is (the caller decides its fate)."""
    if size is not None and path.stat().st_size != size:
        raise ChecksumMismatch(f"{path.name} failed verification: {path.stat().st_size:,} bytes, expected "
                               f"{size:,} (published with its checksums: {source.checksums_by or 'the zoo'})")
    found = digests(path, ["sha256", *source.checksums])
    digest = found["sha256"]
    problems = []
    for algorithm, expected in source.checksums.items():
        got = found[algorithm]
        if got != expected.lower():
            problems.append(f"{algorithm} {got}, expected {expected} (published by {source.checksums_by})")
    if problems:
        raise ChecksumMismatch(f"{path.name} failed verification: {'; '.join(problems)}")
    note = f"{', '.join(source.checksums)} verified" if source.checksums else "no published hash to check"
    log(f"sha256 {digest}  {path.name} ({note})")
    return digest


def check_container(source: Source, path: Path) -> None:
    """Raise ValueError when the file's container is not the one its source's format names (a caffemodel where
    torchfcn's state_dict was expected: another file than the one published)."""
    want = CONTAINERS.get(source.format)
    found = sniff(path)
    if want is not None and found != want:
        raise ValueError(f"{path.name}: expected {DESCRIPTIONS.get(source.format, source.format)} "
                         f"({CONTAINER_NAMES[want]}), found {CONTAINER_NAMES[found]}")


def convert_checked(entry: Weights, path: Path, h5: Path, log: Callable[[str], None] | None = print) -> Path:
    """Convert ``path`` (any format weights.formats reads) to ``h5``; a kit net's release must hold exactly that
    net's parameter layers (weights.convert's --net check, made before the .h5 appears): a file made for another
    net, or cut at a layer boundary, is refused, not installed. The blobs a format never stores (torchfcn's and
    Chainer fcn's at-once Scale factors) are filled from the net's definition, so the .h5 is complete and loads
    strictly. A classifier is compared with every kit net (convert's default)."""
    return convert(path, h5, log=log, net=entry.name if entry.name in RECORDS else AUTO, force=True)  # the cache


def check_converted(entry: Weights, h5: Path) -> None:
    """A present ``NAME.h5`` as weights.load would take it: it opens whole (not cut), reads only itself, holds
    float blobs, exactly the net's parameter layers in its shapes (a classifier: not a strict part of a kit net)
    and only finite values. Raises the reader's or the check's error."""
    from .errors import count_nonfinite, refuse_nonfinite
    from .formats import read
    from .loader import check_layers

    model = read(h5)
    shapes = {layer.name: [b.shape for b in layer.blobs] for layer in model.layers if layer.blobs}
    check_layers(shapes, entry.name if entry.name in RECORDS else AUTO, h5.name)
    refuse_nonfinite({layer.name: count_nonfinite(layer.blobs) for layer in model.layers}, h5.name)


def fetch_file(source: Source, path: Path, *, progress: bool | None, timeout: float) -> Path:
    """Download a source's file to ``path`` (resumable): through Drive's confirmation for a Drive source, else
    data.fetch; a web page in place of the file is an error either way."""
    if drive.is_drive(source.url):
        return drive.download(source.url, path, progress=progress, timeout=timeout)
    return download(source.url, path, progress=progress, timeout=timeout, refuse_html=True)


def _manual_steps(entry: Weights, where: Path, sources: Sequence[Source]) -> str:
    lines = ["To install it by hand, download one of these on a machine with network access:"]
    for s in sources:
        how = " (in a browser: Drive asks to confirm a large file)" if drive.is_drive(s.url) else ""
        check = f"; checked against {verifiable(s)}" if s.checksums else ""
        lines.append(f"  {s.url}{how}\n      -> put it at {source_path(s, where)}{check}")
    lines.append(f"then run `make weights NET={entry.name}` again: it verifies and converts a file already at "
                 "that path without network.")
    return "\n".join(lines)


def fetch(entry: Weights, where: Path | None = None, *, progress: bool | None = None, force: bool = False,
          log: Callable[[str], None] = print, timeout: float = 60.0,
          extra_sources: Sequence[Source] = ()) -> Path:
    """Get ``entry``'s weights from the first source that gives a verified, usable file (``extra_sources``
    first, then the entry's own), convert it to ``<name>.h5`` in the weights folder and return that path.
    One line per source says what was tried, where, and why it failed; the last says which source it came
    from. A file that fails its own source's checksum, holds another format than that source publishes or does
    not fit the net is never converted: removed if this run downloaded it, else moved aside (set_aside)."""
    where = where or folder()
    h5 = h5_path(entry.name, where)
    if h5.exists() and not force:
        try:  # what is there is checked as the loader would read it, not taken on its name
            check_converted(entry, h5)
        except (ValueError, OSError) as e:
            log(f"{entry.name}: {h5} is there but is not {entry.name}'s weights: {e}; it was moved aside to "
                f"{set_aside(h5)}, and the weights are fetched again")
        else:
            log(f"{entry.name}: already converted at {h5} (checked: complete, {entry.name}'s layers, finite)")
            return h5
    sources = [*extra_sources, *entry.sources]
    failures = []
    for n, source in enumerate(sources, 1):
        path = source_path(source, where)
        what = f"{entry.name}: source {n}/{len(sources)}, {describe(source)}"
        downloaded = not path.exists()
        if downloaded:
            log(f"{what}: downloading {source.url} to {path}")
            try:
                fetch_file(source, path, progress=progress, timeout=timeout)
            except DownloadError as e:
                failures.append(f"{describe(source)} from {source.url}: {e}")
                log(f"{what}: failed: {e}")
                continue
        else:
            log(f"{what}: using {path}")
        try:
            verify(source, path, log, entry.size)
            check_container(source, path)
            convert_checked(entry, path, h5, log)
        except (ChecksumMismatch, CaffemodelError, WeightsMismatchError, ValueError) as e:
            if downloaded:
                path.unlink()
                fate = "removed (it was downloaded just now)"
            else:
                fate = f"moved aside to {set_aside(path)}"
            failures.append(f"{describe(source)} from {source.url}: {e}; the file was {fate}")
            log(f"{what}: failed: {e}; the file was {fate}")
            continue
        how = (f"weights.load(nets.build({entry.name!r}), {str(h5)!r})" if entry.name in RECORDS else
               kit_command("weights.transplant", "--net NET --out DST.h5", str(h5)))
        log(f"{entry.name}: weights at {h5} (from source {n}, {source.url}); use them with {how}")
        return h5
    if entry.name in RECORDS and not survives(entry.name) and not extra_sources:
        # Only the reference's (dead) server ever had the file: say which road is open, in one message.
        road = (f"{NO_SURVIVOR} (the reference's server, its only host, failed: {'; '.join(failures)}): "
                f"retrain ({retrain_command(entry.name)}). A copy of your own goes at "
                f"{source_path(entry.sources[0], where)}, or pass it with --source URL")
        raise ZooError(f"could not get {entry.name}: {road}")
    raise ZooError(f"could not get {entry.name} from any of its {len(sources)} source(s):\n"
                   + "\n".join(f"  - {f}" for f in failures) + "\n" + _manual_steps(entry, where, sources))


def status(entry: Weights, where: Path) -> str:
    if h5_path(entry.name, where).exists():
        return "converted"
    for source in entry.sources:
        path = source_path(source, where)
        if path.exists():
            return "downloaded, not converted"
        part = path.with_name(path.name + ".part")
        if part.exists():
            return f"partial ({part.stat().st_size / 2**20:.0f} MiB)"
    return "-"


def checksum_text(source: Source) -> str:
    """Every checksum of a source with its value, and who publishes them."""
    if not source.checksums:
        return "no published checksum (the fetch prints the SHA-256 it computes)"
    return ", ".join(f"{a} {h}" for a, h in source.checksums.items()) + f" ({source.checksums_by})"


def listing(where: Path | None = None, manifest: Mapping[str, Weights] = MANIFEST) -> str:
    """Per entry (each net's release, then the ILSVRC classifiers): what is present, then the sources known to
    survive with their checksums, or the retraining command where none survives, then the sources that are gone;
    then the nets never released."""
    where = where or folder()
    lines = [f"weights folder: {where} (set {ENV_VAR} to move it)"]
    for e in manifest.values():
        kind = "release of the kit net" if e.name in RECORDS else "ILSVRC classifier"
        size = f", {e.size:,} bytes" if e.size else ""
        lines.append(f"{e.name} ({kind}{size}; present: {status(e, where)})")
        if not e.surviving:
            road = f": retrain ({retrain_command(e.name)})" if e.name in RECORDS else ""
            lines.append(f"  {NO_SURVIVOR}{road}")
        for s in e.surviving:
            lines.append(f"  {s.filename} from {s.url}\n      {checksum_text(s)}")
        for s in e.sources:
            if not s.survives:
                lines.append(f"  not known to survive: {s.filename} from {s.url} ({s.gone}; tried all the same)")
    lines += [f"{name}: {why}" for name, why in UNRELEASED.items()]
    return "\n".join(lines)


def sources_markdown(manifest: Mapping[str, Weights] = MANIFEST) -> str:
    """The sources of every entry as a Markdown table, as docs/weights.md shows it (a test holds the page to
    it): ``.venv/bin/python -m weights.zoo list --markdown`` prints it."""
    rows = ["| entry | file | where | checksums (who publishes them) |", "|---|---|---|---|"]
    for e in manifest.values():
        if not e.surviving:
            rows.append(f"| {e.name} | {e.sources[0].filename} | {NO_SURVIVOR}: retrain with "
                        f"`{retrain_command(e.name)}` | - |")
            continue
        for s in e.sources:
            where = urlsplit(s.url).netloc + (f" ({s.gone})" if s.gone else "")
            sums = ", ".join(f"{a} `{h}`" for a, h in s.checksums.items()) + f" ({s.checksums_by})" \
                if s.checksums else "-"
            rows.append(f"| {e.name} | {s.filename} | {where} | {sums} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None, manifest: Mapping[str, Weights] = MANIFEST) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="the entries, their sources and what is present")
    p_list.add_argument("--markdown", action="store_true", help="the sources as docs/weights.md's table")
    p_fetch = sub.add_parser("fetch", help="download, verify and convert")
    p_fetch.add_argument("name", help=f"one of: {', '.join(manifest)}")
    p_fetch.add_argument("--force", action="store_true", help="convert again even if the .h5 exists")
    p_fetch.add_argument("--source", action="append", default=[], metavar="URL[#md5=HEX][&file=NAME]",
                         help="a source of your own, tried before the entry's (repeatable, in order); after '#': "
                              "md5=, sha1= or sha256= to verify, file= to name the file where the URL does not")
    p_fetch.add_argument("--sources", default="", metavar="TEXT",
                         help="several --source values in one argument, split into words as a shell would split "
                              "them (shlex), nothing run: how make passes its SOURCE= value")
    p_path = sub.add_parser("path", help="where NAME.h5 lies")
    p_path.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(sources_markdown(manifest) if args.markdown else listing(manifest=manifest))
        return 0
    try:
        entry = entry_for(args.name, manifest)
        if args.command == "path":
            print(h5_path(entry.name))
            return 0
        try:
            texts = [*args.source, *split_words(args.sources, "SOURCE")]
        except ValueError as e:
            raise BadSource(str(e)) from None
        fetch(entry, force=args.force, extra_sources=[user_source(text) for text in texts])
    except ZooError as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
