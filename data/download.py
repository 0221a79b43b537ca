"""Fetch and unpack the datasets: ``.venv/bin/python -m data.download NAME`` (``make data DATASET=NAME``).

Archives go to $FCN_DATA/downloads/ (data.fetch: resumable, a partial file is kept as NAME.part and continued
with an HTTP Range request), are checked against the size the server announces (and a known size where there is
one), then unpacked into a temporary folder beside the destination and renamed into place, so a dataset folder
is either complete or absent. The reference's split lists for NYUD and SIFT Flow are fetched beside them and
checked against their published MD5s (ledger: data.seg11valid, data.splits). Without network access the error
names every URL and the manual steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DownloadError
from .fetch import Unreachable
from .fetch import download as fetch
from .files import atomic_path, md5_file, new_file_mode, scratch_dir
from .layout import DOWNLOADS_FOLDER, data_root, describe_layout, kit_command


@dataclass(frozen=True)
class Archive:
    """A tar or zip whose folder holding ``markers`` becomes ``folder`` under the data root."""

    key: str
    url: str
    folder: str
    markers: tuple[str, ...]
    size: int | None = None  # bytes, where a publisher states it (none does today)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ListFile:
    """A small text file (a split list, a label list) copied to ``dest`` under the data root."""

    url: str
    dest: str
    md5: str | None = None  # MD5 of the file as published, where known


Part = Archive | ListFile

_VOC = "http://host.robots.ox.ac.uk/pascal/VOC"
_REF_DATA = "https://raw.githubusercontent.com/shelhamer/fcn.berkeleyvision.org/master/data"
_VOC_MARKERS = ("JPEGImages", "ImageSets")

PARTS: dict[str, Part] = {
    "voc2010": Archive("voc2010", f"{_VOC}/voc2010/VOCtrainval_03-May-2010.tar", "VOC2010", _VOC_MARKERS),
    "voc2011": Archive("voc2011", f"{_VOC}/voc2011/VOCtrainval_25-May-2011.tar", "VOC2011",
                       _VOC_MARKERS + ("SegmentationClass",)),
    "voc2012": Archive("voc2012", f"{_VOC}/voc2012/VOCtrainval_11-May-2012.tar", "VOC2012",
                       _VOC_MARKERS + ("SegmentationClass",)),
    "sbd": Archive("sbd", "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
                   "benchmark.tgz", "sbd", ("img", "cls", "train.txt")),
    "nyud": Archive("nyud", "http://dl.caffe.berkeleyvision.org/nyud.tar.gz", "nyud",
                    ("data/images", "segmentation")),
    "nyud-train": ListFile(f"{_REF_DATA}/nyud/train.txt", "nyud/train.txt",
                           "cdfe948a71d2f9b45f1d28584919560a"),
    "nyud-val": ListFile(f"{_REF_DATA}/nyud/val.txt", "nyud/val.txt", "26aba6757016772024862d67d9844ef8"),
    "nyud-test": ListFile(f"{_REF_DATA}/nyud/test.txt", "nyud/test.txt",
                          "e310e298307628c9bc1ebded4ea39ed5"),
    "siftflow": Archive("siftflow", "http://www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip",
                        "siftflow", ("Images", "SemanticLabels", "GeoLabels")),
    # The reference's own lists: same ids as the derived splits, in its order, which training replay needs.
    "siftflow-trainval": ListFile(f"{_REF_DATA}/sift-flow/trainval.txt", "siftflow/trainval.txt",
                                  "c804fd212beeec26629642783275d090"),
    "siftflow-test": ListFile(f"{_REF_DATA}/sift-flow/test.txt", "siftflow/test.txt",
                              "edbdae48f6fbdb3b2664f2b11191201e"),
    "pascalcontext": Archive("pascalcontext", "https://cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz",
                             "pascalcontext", ("trainval",)),
    "pascalcontext-59": ListFile("https://cs.stanford.edu/~roozbeh/pascal-context/59_labels.txt",
                                 "pascalcontext/59_labels.txt"),
}

TARGETS: dict[str, tuple[str, ...]] = {
    "voc": ("voc2011", "sbd"),  # what the VOC nets need: seg11valid (VOC2011 val minus SBD train), SBD train
    "voc2010": ("voc2010",),
    "voc2011": ("voc2011",),
    "voc2012": ("voc2012",),
    "sbd": ("sbd",),
    "nyud": ("nyud", "nyud-train", "nyud-val", "nyud-test"),
    "siftflow": ("siftflow", "siftflow-trainval", "siftflow-test"),
    "pascalcontext": ("voc2010", "pascalcontext", "pascalcontext-59"),
}
TARGETS["all"] = tuple(dict.fromkeys(p for t in TARGETS.values() for p in t))


def _find_folder(top: Path, markers: Sequence[str]) -> Path | None:
    """The shallowest folder under ``top`` (itself included) that holds every marker path."""
    level = [top]
    while level:
        for folder in sorted(level):
            if all((folder / m).exists() for m in markers):
                return folder
        level = [p for folder in level for p in sorted(folder.iterdir()) if p.is_dir() and not p.is_symlink()]
    return None


def unpack(archive: Path, dest: Path, markers: Sequence[str]) -> Path:
    """Extract ``archive`` beside ``dest`` and rename the folder holding ``markers`` to ``dest`` (atomic: a
    failed or interrupted unpack leaves no ``dest``)."""
    dest = Path(dest)
    if dest.exists():
        raise DownloadError(f"{dest} already exists; move it away to unpack {archive} again")
    with scratch_dir(dest) as tmp:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    z.extractall(tmp)  # zipfile drops absolute paths and ".." components
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as t:
                    t.extractall(tmp, filter="data")  # refuses paths outside tmp, links out, devices
            else:
                raise DownloadError(f"{archive} is neither a tar nor a zip archive; delete it and rerun")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise DownloadError(f"{archive} is damaged ({e}); delete it and rerun to fetch it again") from e
        found = _find_folder(tmp, markers)
        if found is None:
            raise DownloadError(f"{archive} has no folder holding {list(markers)}; is it the right archive?")
        # The extracted folder, or the scratch folder itself: a new folder's permissions, not mkdir's 0700.
        os.chmod(found, new_file_mode(directory=True))
        os.rename(found, dest)
    return dest


def _staged_name(part: ListFile) -> str:
    """The name a list file has in the downloads folder (where a manual copy may also put it)."""
    return part.dest.replace("/", "-")


def _fetch_list(part: ListFile, root: Path) -> Path:
    dest = root / part.dest
    if dest.is_file() and (part.md5 is None or md5_file(dest) == part.md5):
        return dest
    if not dest.parent.is_dir():
        raise DownloadError(f"{dest.parent} does not exist; fetch its dataset first")
    staged = fetch(part.url, root / DOWNLOADS_FOLDER / _staged_name(part))
    got = md5_file(staged)
    if part.md5 is not None and got != part.md5:
        staged.unlink()
        raise DownloadError(f"{part.url} has MD5 {got}, expected {part.md5} (the reference's published "
                            "list); removed it, rerun to fetch it again")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(staged.read_bytes())
    return dest


def _manual_steps(target: str, parts: Sequence[Part], root: Path, reason: str) -> str:
    downloads = root / DOWNLOADS_FOLDER
    lines = [f"could not download {target!r}: {reason}", "No network? Fetch these on a machine that has it:"]
    for p in parts:
        place = downloads / (p.filename if isinstance(p, Archive) else _staged_name(p))
        lines.append(f"  {p.url}\n      -> copy to {place}")
    lines.append(f"then rerun `make data DATASET={target}`: files already in {downloads} are used without "
                 "network.")
    return "\n".join(lines)


def download(target: str, root: Path | None = None, parts: Sequence[Part] | None = None,
             log=print) -> list[Path]:
    """Fetch and unpack everything a target needs (TARGETS) under ``root`` (default $FCN_DATA). Folders
    already in place are kept. Returns the dataset folders and files, and logs where they went."""
    root = Path(root).expanduser() if root is not None else data_root()
    if parts is None:
        if target not in TARGETS:
            raise DownloadError(f"unknown dataset {target!r}; choose from {', '.join(TARGETS)}")
        parts = [PARTS[key] for key in TARGETS[target]]
    placed = []
    for part in parts:
        try:
            if isinstance(part, ListFile):
                placed.append(_fetch_list(part, root))
                log(f"{part.dest}: {placed[-1]}")
                continue
            dest = root / part.folder
            if dest.exists():
                missing = [m for m in part.markers if not (dest / m).exists()]
                if missing:
                    raise DownloadError(f"{dest} exists but lacks {missing}; move it away and rerun")
                log(f"{part.key}: already in {dest}")
            else:
                archive = fetch(part.url, root / DOWNLOADS_FOLDER / part.filename, size=part.size)
                unpack(archive, dest, part.markers)
                log(f"{part.key}: unpacked into {dest} (the archive {archive} may be deleted)")
            placed.append(dest)
        except Unreachable as e:
            raise DownloadError(_manual_steps(target, parts, root, str(e))) from e
    return placed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=kit_command("data.download"), description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"datasets: {', '.join(TARGETS)}")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $FCN_DATA or "
                        "~/.cache/fcn-kit/data)")
    parser.add_argument("--list", action="store_true", help="print the layout and the targets, fetch nothing")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        print(describe_layout(args.root))
        print("targets: " + "; ".join(f"{t} = {' + '.join(k)}" for t, k in TARGETS.items()))
        if not args.names and not args.list:
            print(f"name a dataset: make data DATASET=voc (or {kit_command('data.download', 'voc')})",
                  file=sys.stderr)
            return 2
        return 0
    try:
        for name in args.names:
            download(name, args.root)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
