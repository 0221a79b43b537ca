"""The released caffemodels and the ILSVRC nets they were trained from; download, verify, convert.

``python -m weights.zoo list``         the manifest and what is already in the weights folder
``python -m weights.zoo fetch NAME``   download (resuming a partial file), verify, convert to NAME.h5
``python -m weights.zoo path NAME``    print where NAME.h5 lies (or would lie)

The weights folder is ``$FCN_WEIGHTS``, by default ``~/.cache/fcn-kit/weights``. It holds
``<file>.caffemodel`` as downloaded and ``<NAME>.h5`` as converted; load one with
``weights.load(nets.build(NAME), path)``.

The reference publishes no sizes or hashes. What is known is recorded (FACTS.md section 8: a third-party SHA-1
of fcn8s-heavy-pascal, and BVLC's own SHA-1 of bvlc_googlenet); everything else is marked unknown, and ``fetch``
prints the SHA-256 it computed so that a user can record it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .caffemodel import CaffemodelError
from .convert import convert

ENV_VAR = "FCN_WEIGHTS"
DEFAULT_FOLDER = Path("~/.cache/fcn-kit/weights")

BASE = "http://dl.caffe.berkeleyvision.org"
VGG_BASE = "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe"  # Simonyan & Zisserman's page

# Mean pixels (B, G, R) subtracted before the net, by dataset (FACTS.md section 3). HHA images are not
# channel-flipped; their mean is in file channel order.
VOC_MEAN = (104.00699, 116.66877, 122.67892)
NYUD_COLOR_MEAN = (116.190, 97.203, 92.318)
NYUD_HHA_MEAN = (132.431, 94.076, 118.477)
SIFTFLOW_MEAN = (114.578, 115.294, 108.353)
CONTEXT_MEAN = (104.007, 116.669, 122.679)


@dataclass(frozen=True)
class ZooEntry:
    """One downloadable caffemodel.

    ``net`` is the kit net it loads into, None for the ILSVRC classifiers (start a kit net from them with
    ``python -m weights.transplant``). ``mean`` maps each input blob of the net to the per-channel mean
    subtracted from it, None where FACTS.md does not record one. ``size`` (bytes), ``sha1`` and ``sha256`` are
    None when unknown; ``hash_source`` says who published a known hash.
    """

    name: str
    url: str
    net: str | None
    mean: Mapping[str, tuple[float, ...]] | None
    size: int | None = None
    sha1: str | None = None
    sha256: str | None = None
    hash_source: str | None = None
    note: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def known(self) -> str:
        """What can be verified, for the listing."""
        parts = [f"sha1 ({self.hash_source})" if self.sha1 else "", "sha256" if self.sha256 else "",
                 "size" if self.size else ""]
        return ", ".join(p for p in parts if p) or "unknown"


def _released(name: str, file: str, mean: Mapping[str, tuple[float, ...]], **kw) -> ZooEntry:
    return ZooEntry(name, f"{BASE}/{file}.caffemodel", name, mean, **kw)


MANIFEST: dict[str, ZooEntry] = {e.name: e for e in (
    _released("voc-fcn32s", "fcn32s-heavy-pascal", {"data": VOC_MEAN}),
    _released("voc-fcn16s", "fcn16s-heavy-pascal", {"data": VOC_MEAN}),
    _released("voc-fcn8s", "fcn8s-heavy-pascal", {"data": VOC_MEAN},
              sha1="c449ea74dd7d83751d1357d6a8c323fcf4038962", hash_source="OpenCV's model downloader",
              note="about 513 MB (third party)"),
    _released("voc-fcn8s-atonce", "fcn8s-atonce-pascal", {"data": VOC_MEAN}),
    _released("voc-fcn-alexnet", "fcn-alexnet-pascal", {"data": VOC_MEAN}),
    _released("nyud-fcn32s-color", "nyud-fcn32s-color-heavy", {"data": NYUD_COLOR_MEAN}),
    _released("nyud-fcn32s-hha", "nyud-fcn32s-hha-heavy", {"data": NYUD_HHA_MEAN}),
    _released("nyud-fcn32s-color-hha", "nyud-fcn32s-color-hha-heavy", {"color": NYUD_COLOR_MEAN,
                                                                        "hha": NYUD_HHA_MEAN}),
    _released("siftflow-fcn32s", "siftflow-fcn32s-heavy", {"data": SIFTFLOW_MEAN}),
    _released("siftflow-fcn16s", "siftflow-fcn16s-heavy", {"data": SIFTFLOW_MEAN}),
    _released("siftflow-fcn8s", "siftflow-fcn8s-heavy", {"data": SIFTFLOW_MEAN}),
    _released("pascalcontext-fcn32s", "pascalcontext-fcn32s-heavy", {"data": CONTEXT_MEAN}),
    _released("pascalcontext-fcn16s", "pascalcontext-fcn16s-heavy", {"data": CONTEXT_MEAN}),
    _released("pascalcontext-fcn8s", "pascalcontext-fcn8s-heavy", {"data": CONTEXT_MEAN}),
    # ILSVRC classifiers the FCNs start from (FACTS.md section 3). Their means are not recorded in FACTS.md;
    # the FCN recipe fine-tunes them with the target dataset's mean.
    ZooEntry("vgg16", f"{VGG_BASE}/VGG_ILSVRC_16_layers.caffemodel", None, None, note="V1 'layers' format"),
    ZooEntry("caffenet", f"{BASE}/bvlc_reference_caffenet.caffemodel", None, None),
    ZooEntry("googlenet", f"{BASE}/bvlc_googlenet.caffemodel", None, None,
             sha1="405fc5acd08a3bb12de8ee5e23a96bec22f08204",
             hash_source="BVLC's model readme (models/bvlc_googlenet/readme.md in BVLC Caffe)",
             note="BVLC GoogLeNet (68.7% top-1); voc-fcn-googlenet starts from it"),
)}

# Kit nets without a released caffemodel, and how to make weights for them instead.
UNRELEASED: dict[str, str] = {
    "nyud-fcn32s-color-d": "the reference released no caffemodel for nyud-fcn32s-color-d; start it from "
                           "VGG16 with `python -m weights.zoo fetch vgg16` then `python -m "
                           "weights.transplant --net nyud-fcn32s-color-d --out color-d-init.h5 "
                           "<folder>/vgg16.h5` and train it",
    "voc-fcn-googlenet": "FCN-GoogLeNet is the paper's (CVPR Table 1) and was never released; start it from BVLC "
                         "GoogLeNet with `python -m weights.zoo fetch googlenet` then `python -m weights.transplant "
                         "--net voc-fcn-googlenet --out fcn-googlenet-init.h5 <folder>/googlenet.h5` and train it",
}


class ZooError(RuntimeError):
    """A download or verification failed; the message says what to do by hand."""


def folder() -> Path:
    """The weights folder: $FCN_WEIGHTS, else ~/.cache/fcn-kit/weights."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_FOLDER).expanduser()


def h5_path(name: str, where: Path | None = None) -> Path:
    return (where or folder()) / f"{name}.h5"


def caffemodel_path(entry: ZooEntry, where: Path | None = None) -> Path:
    return (where or folder()) / entry.filename


def entry_for(name: str, manifest: Mapping[str, ZooEntry] = MANIFEST) -> ZooEntry:
    if name in manifest:
        return manifest[name]
    if name in UNRELEASED:
        raise ZooError(UNRELEASED[name])
    raise ZooError(f"no weights named {name!r}; the zoo has: {', '.join(manifest)}")


def _manual_steps(entry: ZooEntry, where: Path) -> str:
    model, h5 = caffemodel_path(entry, where), h5_path(entry.name, where)
    return (f"To install it by hand: download {entry.url} on a machine with network access, put it at "
            f"{model}, then run `python -m weights.convert {model} {h5}` (or run `python -m weights.zoo "
            f"fetch {entry.name}` again: it verifies and converts a file already at that path).")


def download(url: str, dest: Path, *, progress: bool = True, timeout: float = 60.0,
             chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` through ``dest``.part, resuming a partial file with an HTTP Range request.
    ``dest`` appears only when the transfer is complete (the server's length is reached)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # Range not satisfiable: the partial file already holds the whole resource (or more).
            total = e.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == have:
                os.replace(part, dest)
                return dest
            part.unlink()
            raise ZooError(f"{url}: the partial download {part.name} ({have} bytes) does not match the "
                           f"server's file ({total or 'unknown'} bytes); it was removed, run the command "
                           "again") from None
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206:
            start = int(response.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0])
            if start != have:
                raise ZooError(f"{url}: asked to resume at byte {have}, the server answered from byte "
                               f"{start}")
            mode = "ab"
        else:
            # 200: the server ignored the Range header (or there was nothing to resume): start over.
            have, mode = 0, "wb"
        total = have + int(length) if length is not None else None
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                   disable=not progress)
        reason = "the connection closed"
        with part.open(mode) as f, bar:
            try:
                while block := response.read(chunk):
                    f.write(block)
                    bar.update(len(block))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                # Whatever arrived stays in the .part file for the next attempt to resume from.
                reason = f"the transfer broke off ({type(e).__name__})"
    size = part.stat().st_size
    if total is not None and size != total:
        raise ZooError(f"{url}: {reason} at {size} of {total} bytes; run the command again to resume")
    os.replace(part, dest)
    return dest


def verify(entry: ZooEntry, path: Path, log: Callable[[str], None] = print) -> str:
    """Check the size and hashes the manifest knows and return the file's SHA-256 (printed as well). A file
    that fails is removed: a resumed download cannot repair it."""
    size = path.stat().st_size
    problems = []
    if entry.size is not None and size != entry.size:
        problems.append(f"size {size} bytes, expected {entry.size}")
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            sha256.update(block)
            if entry.sha1:
                sha1.update(block)
    digest = sha256.hexdigest()
    if entry.sha256 and digest != entry.sha256:
        problems.append(f"sha256 {digest}, expected {entry.sha256}")
    if entry.sha1 and sha1.hexdigest() != entry.sha1:
        problems.append(f"sha1 {sha1.hexdigest()}, expected {entry.sha1} (published by {entry.hash_source})")
    if problems:
        path.unlink()
        raise ZooError(f"{path.name} from {entry.url} failed verification: {'; '.join(problems)}. The file "
                       "was removed; run the command again to download it afresh.")
    checked = ", ".join(x for x in ("size" if entry.size else "", "sha256" if entry.sha256 else "",
                                    "sha1" if entry.sha1 else "") if x)
    note = f"{checked} verified" if checked else "no published hash to check"
    log(f"sha256 {digest}  {path.name} ({note})")
    return digest


def fetch(entry: ZooEntry, where: Path | None = None, *, progress: bool = True, force: bool = False,
          log: Callable[[str], None] = print, timeout: float = 60.0) -> Path:
    """Download (or pick up) the caffemodel of ``entry``, verify it, convert it to ``<name>.h5`` in the
    weights folder and return that path."""
    where = where or folder()
    h5 = h5_path(entry.name, where)
    if h5.exists() and not force:
        log(f"{entry.name}: already converted at {h5}")
        return h5
    model = caffemodel_path(entry, where)
    if not model.exists():
        log(f"{entry.name}: downloading {entry.url} to {model}")
        try:
            download(entry.url, model, progress=progress, timeout=timeout)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise ZooError(f"could not download {entry.url}: {reason}. "
                           f"{_manual_steps(entry, where)}") from None
    else:
        log(f"{entry.name}: using {model}")
    verify(entry, model, log)
    try:
        convert(model, h5, log=log)
    except CaffemodelError as e:
        raise ZooError(f"{model} is not a usable caffemodel: {e}. Remove it and fetch again, or "
                       f"{_manual_steps(entry, where)}") from None
    how = f"weights.load(nets.build({entry.net!r}), {str(h5)!r})" if entry.net else (
        f"python -m weights.transplant --net NET --out DST.h5 {h5}")
    log(f"{entry.name}: weights at {h5}; use them with {how}")
    return h5


def status(entry: ZooEntry, where: Path) -> str:
    h5, model = h5_path(entry.name, where), caffemodel_path(entry, where)
    part = model.with_name(model.name + ".part")
    if h5.exists():
        return "converted"
    if model.exists():
        return "downloaded, not converted"
    if part.exists():
        return f"partial ({part.stat().st_size / 2**20:.0f} MiB)"
    return "-"


def listing(where: Path | None = None, manifest: Mapping[str, ZooEntry] = MANIFEST) -> str:
    where = where or folder()
    rows = [("name", "net", "file", "verifiable", "present")]
    for e in manifest.values():
        rows.append((e.name, e.net or "(ILSVRC)", e.filename, e.known, status(e, where)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"weights folder: {where} (set {ENV_VAR} to move it)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{name}: {why}" for name, why in UNRELEASED.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None, manifest: Mapping[str, ZooEntry] = MANIFEST) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the manifest and what is present")
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
