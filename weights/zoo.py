"""The released weights and the ILSVRC nets they were trained from; download, verify, convert.

``python -m weights.zoo list``         every entry, its sources, what is verifiable, what is present
``python -m weights.zoo fetch NAME``   try each source in turn, verify, convert to NAME.h5, check it fits NAME
``python -m weights.zoo path NAME``    print where NAME.h5 lies (or would lie)

The entries are the net records' releases and the ILSVRC classifiers (nets.registry): nothing is listed here a
second time. The weights folder is ``$FCN_WEIGHTS``, by default ``~/.cache/fcn-kit/weights``; it holds each
source's file as downloaded (or put there by hand) and ``<NAME>.h5`` as converted.

A file that fails its checksum is never used: one this run downloaded is removed, one that was already there
(put there by hand, or by an earlier run) is moved aside to ``<file>.rejected`` (numbered if taken) and the
message says where, so nothing takes it for good and nothing of the user's is lost. The reference publishes no
sizes or hashes; what is known is recorded with who published it, and every fetch prints the SHA-256 it
computed so that a user can record it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py

import nets
from data.errors import DownloadError
from data.fetch import download
from data.files import atomic_path, file_digest
from nets.registry import CLASSIFIERS, RECORDS, Source, Weights

from .caffemodel import CaffemodelError
from .convert import convert
from .snapshot import WeightsMismatchError, check_fit

ENV_VAR = "FCN_WEIGHTS"
DEFAULT_FOLDER = Path("~/.cache/fcn-kit/weights")

# Every downloadable file: the kit nets' releases, then the ILSVRC classifiers.
MANIFEST: dict[str, Weights] = {**{r.name: r.weights for r in RECORDS.values() if r.weights}, **CLASSIFIERS}


def init_command(net: str, out: str = "INIT.h5") -> str:
    """The commands that build a net's starting weights from the zoo, as its record's solver says (the released
    coarser nets stand in for the user's own: the reference trained each finer net from its own coarser one)."""
    sources = RECORDS[net].solver.init
    fetch = " && ".join(f"make weights NET={s}" for s in sources)
    files = " ".join(f"$FCN_WEIGHTS/{s}.h5" for s in sources)
    return f"{fetch} && .venv/bin/python -m weights.transplant --net {net} --out {out} {files}"


# Kit nets without a release, and what to do instead.
UNRELEASED: dict[str, str] = {
    r.name: f"{r.note}; start it from {r.solver.init_note} with `{init_command(r.name, f'{r.name}-init.h5')}` "
            f"and train it (make train NET={r.name} INIT={r.name}-init.h5)"
    for r in RECORDS.values() if r.weights is None}


class ZooError(RuntimeError):
    """No source gave usable weights; the message lists each source and the manual steps."""


class ChecksumMismatch(ZooError):
    """A file's checksum differs from the one published for it."""


def folder() -> Path:
    """The weights folder: $FCN_WEIGHTS, else ~/.cache/fcn-kit/weights."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_FOLDER).expanduser()


def h5_path(name: str, where: Path | None = None) -> Path:
    return (where or folder()) / f"{name}.h5"


def source_path(source: Source, where: Path | None = None) -> Path:
    """Where a source's file lies in the weights folder once fetched (or where to put it by hand)."""
    return (where or folder()) / source.filename


def entry_for(name: str, manifest: Mapping[str, Weights] = MANIFEST) -> Weights:
    if name in manifest:
        return manifest[name]
    if name in UNRELEASED:
        raise ZooError(UNRELEASED[name])
    raise ZooError(f"no weights named {name!r}; the zoo has: {', '.join(manifest)}")


def verifiable(source: Source) -> str:
    """What can be verified of a source's file, for the listing."""
    return ", ".join(f"{a} ({source.checksums_by})" for a in source.checksums) or "unknown"


def verify(source: Source, path: Path, log: Callable[[str], None] = print) -> str:
    """Check every checksum published for the source and return the file's SHA-256 (printed as well). Raises
    ChecksumMismatch naming each difference; the file is left where it is (the caller decides its fate)."""
    digest = file_digest(path, "sha256")
    problems = []
    for algorithm, expected in source.checksums.items():
        got = digest if algorithm == "sha256" else file_digest(path, algorithm)
        if got != expected.lower():
            problems.append(f"{algorithm} {got}, expected {expected} (published by {source.checksums_by})")
    if problems:
        raise ChecksumMismatch(f"{path.name} failed verification: {'; '.join(problems)}")
    note = f"{', '.join(source.checksums)} verified" if source.checksums else "no published hash to check"
    log(f"sha256 {digest}  {path.name} ({note})")
    return digest


def set_aside(path: Path) -> Path:
    """Move a rejected file to ``<name>.rejected`` (``.rejected-2`` ... if taken), where no fetch looks."""
    target, n = path.with_name(path.name + ".rejected"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.rejected-{n}")
    os.replace(path, target)
    return target


def h5_shapes(path: Path) -> dict[str, list[tuple[int, ...]]]:
    """Layer -> blob shapes of a weights .h5, read without loading the arrays."""
    out: dict[str, list[tuple[int, ...]]] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            layer, _, index = name.rpartition("/")
            out.setdefault(layer, []).append((int(index), tuple(obj.shape)))

    with h5py.File(path, "r") as f:
        f["data"].visititems(visit)
    return {layer: [s for _, s in sorted(blobs)] for layer, blobs in out.items()}


def convert_checked(entry: Weights, path: Path, h5: Path, log: Callable[[str], None] | None = print) -> Path:
    """Convert ``path`` to ``h5`` and, for a kit net's release, check that every layer fits the net (the
    strict load's check) before the .h5 appears: a file made for another net is refused, not installed."""
    with atomic_path(h5) as tmp:
        convert(path, tmp, log=log)
        if entry.name in RECORDS:
            check_fit(nets.spec(entry.name).param_shapes(), h5_shapes(tmp), entry.name, path.name)
    return h5


def _manual_steps(entry: Weights, where: Path, sources: Sequence[Source]) -> str:
    lines = ["To install it by hand, download one of these on a machine with network access:"]
    lines += [f"  {s.url}\n      -> put it at {source_path(s, where)}" for s in sources]
    lines.append(f"then run `make weights NET={entry.name}` again: it verifies and converts a file already at "
                 "that path without network.")
    return "\n".join(lines)


def fetch(entry: Weights, where: Path | None = None, *, progress: bool | None = None, force: bool = False,
          log: Callable[[str], None] = print, timeout: float = 60.0,
          extra_sources: Sequence[Source] = ()) -> Path:
    """Get ``entry``'s weights from the first source that gives a verified, usable file (``extra_sources``
    first, then the entry's own), convert it to ``<name>.h5`` in the weights folder and return that path.
    One line per source says what was tried, where, and why it failed."""
    where = where or folder()
    h5 = h5_path(entry.name, where)
    if h5.exists() and not force:
        log(f"{entry.name}: already converted at {h5}")
        return h5
    sources = [*extra_sources, *entry.sources]
    failures = []
    for source in sources:
        path = source_path(source, where)
        downloaded = not path.exists()
        if downloaded:
            log(f"{entry.name}: downloading {source.url} to {path}")
            try:
                download(source.url, path, progress=progress, timeout=timeout)
            except DownloadError as e:
                failures.append(f"{source.url}: {e}")
                log(f"{entry.name}: {failures[-1]}")
                continue
        else:
            log(f"{entry.name}: using {path}")
        try:
            verify(source, path, log)
            convert_checked(entry, path, h5, log)
        except (ChecksumMismatch, CaffemodelError, WeightsMismatchError, ValueError) as e:
            if downloaded:
                path.unlink()
                fate = "removed (it was downloaded just now)"
            else:
                fate = f"moved aside to {set_aside(path)}"
            failures.append(f"{source.url}: {e}; the file was {fate}")
            log(f"{entry.name}: {failures[-1]}")
            continue
        how = (f"weights.load(nets.build({entry.name!r}), {str(h5)!r})" if entry.name in RECORDS else
               f"python -m weights.transplant --net NET --out DST.h5 {h5}")
        log(f"{entry.name}: weights at {h5} (from {source.url}); use them with {how}")
        return h5
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


def listing(where: Path | None = None, manifest: Mapping[str, Weights] = MANIFEST) -> str:
    where = where or folder()
    rows = [("name", "net", "source", "verifiable", "present")]
    for e in manifest.values():
        first = e.sources[0]
        rows.append((e.name, e.name if e.name in RECORDS else "(ILSVRC)", first.filename, verifiable(first),
                     status(e, where)))
        rows += [("", "", f"or {s.filename}", verifiable(s), "") for s in e.sources[1:]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"weights folder: {where} (set {ENV_VAR} to move it)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{name}: {why}" for name, why in UNRELEASED.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None, manifest: Mapping[str, Weights] = MANIFEST) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the entries, their sources and what is present")
    p_fetch = sub.add_parser("fetch", help="download, verify and convert")
    p_fetch.add_argument("name", help=f"one of: {', '.join(manifest)}")
    p_fetch.add_argument("--force", action="store_true", help="convert again even if the .h5 exists")
    p_path = sub.add_parser("path", help="where NAME.h5 lies")
    p_path.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(listing(manifest=manifest))
        return 0
    try:
        entry = entry_for(args.name, manifest)
        if args.command == "path":
            print(h5_path(entry.name))
            return 0
        fetch(entry, force=args.force)
    except ZooError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
