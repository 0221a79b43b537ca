"""Fetch, verify and unpack the datasets: ``.venv/bin/python -m data.download NAME`` (``make data DATASET=NAME``).

Each *part* (an archive or a list file) has its sources in order, the original first, then every mirror known,
and the checksums its publishers give (``--list`` prints them all, with sizes). A part comes from the first
source that gives a file passing every checksum:

- ``--source PART=URL_OR_PATH[#md5=HEX|#sha1=HEX|#sha256=HEX]`` (repeatable) puts sources of your own first,
  in the order given. A local path (or ``file://`` URL) is read in place and never moved, deleted or changed;
  a folder that already holds the unpacked dataset is linked, not copied. Without ``#...`` a source is checked
  against the part's published checksums; a list file must always match the reference's MD5.
- A URL is downloaded to ``$FCN_DATA/downloads/`` (data.fetch: resumable, renamed only when complete, a web
  page in place of the file refused). A file there that fails its checksum, downloaded now or put there by
  hand, is moved aside to ``<file>.rejected`` and the next source is tried.
- An archive is verified before it is unpacked, and unpacked into a temporary folder beside the destination
  that is renamed into place only when complete, so a dataset folder is whole or absent. The folder found
  inside must be the one the part names (VOC2012 in VOC2012's tar): another year's archive is refused.
- Every member is checked by the kit before anything is written (``_plan``): the published archives hold only
  regular files and folders, so a link, a device, a FIFO, an absolute path or a '..' is refused as unsafe,
  naming the member, and each file is written below the destination with O_EXCL | O_NOFOLLOW. tarfile's own
  filter="data" is not relied on: before Python 3.11.13 / 3.12.11 / 3.13.4 a chain of symlinks gets through it
  (CVE-2025-4517).
- Two runs placing one part take turns (a lock per part); a read-only data root, or a file named as one, is one
  message before any download.
- Free space is checked before a download (the size the server announces) and before unpacking (the sum of
  the members' sizes).

The main job needs seg11valid: ``make data DATASET=voc`` fetches VOC2012 (whose segmentation release holds
VOC2011's images and labels), SBD and the reference's seg11valid list, checked by its MD5; ``data.load("voc",
"seg11valid")`` then reads VOC2011's files when they are there, else VOC2012's
(ledger: data.seg11valid-from-voc2012). When no source answers, the message lists each source tried, why it
failed, and where to put a file by hand.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import importlib
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .cli import fail, interrupted, run, split_words
from .errors import DiskFull, DownloadError
from .fetch import download as fetch
from .files import (
    HASH_LENGTHS,
    NotEnoughSpace,
    NotWritable,
    atomic_path,
    file_digests,
    locked,
    new_file_mode,
    require_space,
    require_writable,
    scratch_dir,
    set_aside,
    write_text,
)
from .layout import DOWNLOADS_FOLDER, FETCHED_RECORD, data_root, describe_layout, kit_command


@dataclass(frozen=True)
class Checksum:
    """A checksum of a part's file, with the project whose code or documentation publishes it."""

    algorithm: str  # md5, sha1 or sha256
    hex: str
    by: str


@dataclass(frozen=True)
class Source:
    """One place a part's file can be had: an http(s) URL, a file:// URL or a local path (a file or, for an
    archive, a folder that already holds it unpacked). ``checksums``: a user source's own, which replace the
    part's published ones (a list file's reference MD5 is checked all the same)."""

    location: str
    by: str  # who serves it
    checksums: tuple[Checksum, ...] = ()

    @property
    def local(self) -> Path | None:
        """The path of a local source, else None."""
        parts = urllib.parse.urlsplit(self.location)
        if parts.scheme == "file":
            return Path(urllib.parse.unquote(parts.path))
        if parts.scheme in ("http", "https"):
            return None
        return Path(self.location).expanduser()


@dataclass(frozen=True)
class Archive:
    """A tar or zip whose folder named ``inner`` and holding ``markers`` becomes ``folder`` under the data root.
    """

    key: str
    filename: str  # its name in the downloads folder
    folder: str
    inner: str  # the name of the archive's folder that holds the markers ("" where not known)
    markers: tuple[str, ...]
    sources: tuple[Source, ...]
    checksums: tuple[Checksum, ...] = ()
    size: int | None = None  # bytes, where known
    size_by: str = ""
    note: str = ""


@dataclass(frozen=True)
class ListFile:
    """A small text file (a split list, a label list) placed at ``dest`` under the data root. Its published
    checksums must always hold: a list with another MD5 is another list."""

    key: str
    filename: str
    dest: str
    sources: tuple[Source, ...]
    checksums: tuple[Checksum, ...] = ()
    note: str = ""
    size: int | None = None
    size_by: str = ""


@dataclass(frozen=True)
class Original:
    """A file the kit reads as it is, never unpacked (NYU's labeled .mat, its split file, a class mapping): verified,
    kept in the downloads folder (a local source is read in place), and handed to the build that needs it
    (BUILDS)."""

    key: str
    filename: str  # its name in the downloads folder
    sources: tuple[Source, ...]
    checksums: tuple[Checksum, ...] = ()
    size: int | None = None
    size_by: str = ""
    note: str = ""


Part = Archive | ListFile | Original

# -- the sources ---------------------------------------------------------------------------------------------
_OXFORD = "http://host.robots.ox.ac.uk/pascal/VOC"
_OXFORD_NOW = "https://thor.robots.ox.ac.uk/pascal/VOC"
_BY_OXFORD = "the PASCAL VOC host at Oxford (the original address)"
_BY_OXFORD_NOW = ("Oxford's current VOC host, where the original address redirects (its administrator, "
                  "torchvision pull request 9216)")
_TV = "torchvision (torchvision/datasets/voc.py)"
_SKDATA = "skdata (skdata/pascal.py)"
_REF = "shelhamer/fcn.berkeleyvision.org"
_BY_REF = "the reference's repository (raw.githubusercontent.com)"
_BY_JSDELIVR = "jsDelivr's copy of the reference's repository (its documented /gh/ endpoint)"
_BY_LEDGER = "the reference's list as published (ledger: data.splits)"
_VOC_MARKERS = ("JPEGImages", "ImageSets")
_VOC_SEG = _VOC_MARKERS + ("SegmentationClass",)


def _md5(hex_: str, by: str) -> Checksum:
    return Checksum("md5", hex_, by)


def _sha1(hex_: str, by: str) -> Checksum:
    return Checksum("sha1", hex_, by)


def _voc(year: str, filename: str, markers: tuple[str, ...], checksums: tuple[Checksum, ...],
         mirrors: tuple[Source, ...] = (), **extra) -> Archive:
    sources = (Source(f"{_OXFORD}/voc{year}/{filename}", _BY_OXFORD),
               Source(f"{_OXFORD_NOW}/voc{year}/{filename}", _BY_OXFORD_NOW), *mirrors)
    return Archive(f"voc{year}", filename, f"VOC{year}", f"VOC{year}", markers, sources, checksums, **extra)


_NYU = "http://horatio.cs.nyu.edu/mit/silberman"
_NYU_HTTPS = "https://horatio.cs.nyu.edu/mit/silberman"
_BY_NYU = "NYU's dataset host (the address NYU Depth v2's page links)"
_BY_NYU_HTTPS = "NYU's dataset host over HTTPS (as NYUv2 download scripts of other projects fetch it)"


def _nyu_meta_copies(name: str) -> tuple[Source, ...]:
    """Byte-identical GitHub copies of NYU's splits.mat and Gupta's classMapping40.mat (branch master of both)."""
    return (Source(f"https://raw.githubusercontent.com/ankurhanda/nyuv2-meta-data/master/{name}",
                   "ankurhanda/nyuv2-meta-data on GitHub"),
            Source(f"https://raw.githubusercontent.com/VainF/nyuv2-python-toolkit/master/{name}",
                   "VainF/nyuv2-python-toolkit on GitHub"),
            Source(f"https://cdn.jsdelivr.net/gh/ankurhanda/nyuv2-meta-data@master/{name}",
                   "jsDelivr's copy of ankurhanda/nyuv2-meta-data (its documented /gh/ endpoint)"))


def _reference_list(key: str, path: str, dest: str, md5: str) -> ListFile:
    """A list file of the reference's repository: from GitHub, else from jsDelivr's copy of it."""
    sources = (Source(f"https://raw.githubusercontent.com/{_REF}/master/data/{path}", _BY_REF),
               Source(f"https://cdn.jsdelivr.net/gh/{_REF}@master/data/{path}", _BY_JSDELIVR))
    return ListFile(key, dest.replace("/", "-"), dest, sources, (_md5(md5, _BY_LEDGER),))


PARTS: dict[str, Part] = {p.key: p for p in (
    _voc("2012", "VOCtrainval_11-May-2012.tar", _VOC_SEG,
         (_md5("6cd6e144f989b92b3379bac3b3de84fd", f"{_TV}; PaddlePaddle (paddle/vision/datasets/voc2012.py)"),
          _sha1("4e443f8a2eca6b1dac8a6c57641b67dd40621a49", f"d2l (its DATA_HUB); {_SKDATA}")),
         (Source("http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar",
                 "d2l (Dive into Deep Learning), its data bucket"),
          Source("https://dataset.bj.bcebos.com/voc/VOCtrainval_11-May-2012.tar",
                 "PaddlePaddle's dataset mirror (paddle.vision.datasets.VOC2012)")),
         size=1_999_639_040, size_by="the Content-Length the Oxford host announces"),
    _voc("2011", "VOCtrainval_25-May-2011.tar", _VOC_SEG,
         (_md5("6c3384ef61512963050cb5d687e5bf1e", _TV),
          _sha1("71ceda5bc8ce4a6486f7996b0924eee265133895", _SKDATA)),
         note="no third-party mirror is known (torchvision's survey of mirrors, January 2026): the VOC nets "
              "read seg11valid from VOC2012 instead (make data DATASET=voc)"),
    _voc("2010", "VOCtrainval_03-May-2010.tar", _VOC_MARKERS,
         (_md5("da459979d0c395079b5c75ee67908abb", _TV),
          _sha1("bf9985e9f2b064752bf6bd654d89f017c76c395a",
                f"{_SKDATA}; GluonCV (scripts/datasets/pascal_context.py); Segmenter "
                "(segm/scripts/prepare_pcontext.py)")),
         (Source("https://www.dropbox.com/s/wtdibo9lb2fur70/VOCtrainval_03-May-2010.tar?dl=1",
                 "Segmenter's copy on Dropbox (rstrudel/segmenter, segm/scripts/prepare_pcontext.py)"),)),
    Archive("sbd", "benchmark.tgz", "sbd", "dataset", ("img", "cls", "train.txt"), (
        Source("http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
               "Berkeley (the original address)"),
        Source("https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
               "benchmark.tgz", "Berkeley's current address (torchvision/datasets/sbd.py)")),
        (_md5("82b4d87ceb2ed10f6038a1cba92111cb", "torchvision (torchvision/datasets/sbd.py)"),)),
    _reference_list("seg11valid", "pascal/seg11valid.txt", "VOC2012/seg11valid.txt",
                    "7984b6ce736bd3666d8b7ee70b5401da"),
    Archive("nyud", "nyud.tar.gz", "nyud", "", ("data/images", "segmentation"),
            (Source("http://dl.caffe.berkeleyvision.org/nyud.tar.gz", "the reference's server"),),
            note="no mirror and no checksum are known; the reference's server, which also hosted its weights, has "
                 "been dead since 2017 (BVLC/caffe issues 5749, 6430): make data DATASET=nyud then builds the "
                 "folder from NYU's originals (nyud-labeled, nyud-splits, nyud-classes40; data.nyud)"),
    # NYU's originals, from which data.nyud rebuilds the reference's folder as Gupta et al. made it.
    Original("nyud-labeled", "nyu_depth_v2_labeled.mat", (
        Source(f"{_NYU}/nyu_depth_v2/nyu_depth_v2_labeled.mat", _BY_NYU),
        Source(f"{_NYU_HTTPS}/nyu_depth_v2/nyu_depth_v2_labeled.mat", _BY_NYU_HTTPS)),
        (_md5("520609c519fba3ba5ac58c8fefcc3530",
              "torch-uncertainty (torch_uncertainty/datasets/nyu.py); a DVC record of the same file with its size "
              "(the kingabzpro/savtadepth Space on Hugging Face, src/data/raw/nyu_depth_v2_labeled.mat.dvc)"),),
        size=2_972_037_809, size_by="that DVC record",
        note="NYU's host has been down for stretches (reports in 2020, 2023, 2025) and no HTTP mirror with a "
             "checksum is known. Copies users have pointed to need a browser or an account (an Academic Torrents "
             "entry and a Kaggle dataset, cleinc/bts issue 145; a Google Drive folder, SJingjia/PlaneRecTR issue "
             "9): fetch one by hand and pass it with --source nyud-labeled=PATH, which checks NYU's MD5"),
    Original("nyud-splits", "splits.mat", (
        Source(f"{_NYU}/indoor_seg_sup/splits.mat", _BY_NYU),
        Source(f"{_NYU_HTTPS}/indoor_seg_sup/splits.mat", _BY_NYU_HTTPS),
        *_nyu_meta_copies("splits.mat")),
        (_md5("08e3c3aea27130ac7c01ffd739a4535f",
              "NYUv2 preparation code that pins NYU's file; the byte-identical copies in ankurhanda/nyuv2-meta-data "
              "and VainF/nyuv2-python-toolkit (git blob 01c8df77c6ac) hash to it"),),
        size=2_626, size_by="NYU's file and its GitHub copies"),
    # Gupta's 894 -> 40 class mapping. No publisher gives a checksum: the MD5 is that of the two GitHub copies,
    # both the git blob 039078648942d2eedbc2a0bb06c5a598a7df2c73 (10,474 bytes), hashed when this part was added.
    Original("nyud-classes40", "classMapping40.mat", _nyu_meta_copies("classMapping40.mat"),
             (_md5("e377c88729dd63af81205ac9a8634a19",
                   "the kit, from the byte-identical copies in ankurhanda/nyuv2-meta-data and "
                   "VainF/nyuv2-python-toolkit (git blob 039078648942); Gupta publishes no checksum"),),
             size=10_474, size_by="the GitHub copies",
             note="Gupta's own data.tgz and eccv14-data.tgz, which held it, answer 404 since 2019-2021 "
                  "(s-gupta/rgbd issues 8 and 11, s-gupta/rcnn-depth issue 46)"),
    _reference_list("nyud-train", "nyud/train.txt", "nyud/train.txt", "cdfe948a71d2f9b45f1d28584919560a"),
    _reference_list("nyud-val", "nyud/val.txt", "nyud/val.txt", "26aba6757016772024862d67d9844ef8"),
    _reference_list("nyud-test", "nyud/test.txt", "nyud/test.txt", "e310e298307628c9bc1ebded4ea39ed5"),
    Archive("siftflow", "SiftFlowDataset.zip", "siftflow", "", ("Images", "SemanticLabels", "GeoLabels"),
            (Source("http://www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip",
                    "Tighe and Lazebnik's page at UNC"),),
            note="no mirror and no checksum are known (the SHA-256 of what arrives is kept in the data root's "
                 "fetched.json and printed by make data-list, so that two users can compare)"),
    # The reference's own lists: same ids as the derived splits, in its order, which training replay needs.
    _reference_list("siftflow-trainval", "sift-flow/trainval.txt", "siftflow/trainval.txt",
                    "c804fd212beeec26629642783275d090"),
    _reference_list("siftflow-test", "sift-flow/test.txt", "siftflow/test.txt", "edbdae48f6fbdb3b2664f2b11191201e"),
    Archive("pascalcontext", "trainval.tar.gz", "pascalcontext", "", ("trainval",),
            (Source("https://cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz",
                    "Mottaghi's page at Stanford (dead since 2023, cvlab-kaist/CAT-Seg issue 9)"),
             Source("https://roozbehm.info/pascal-context/trainval.tar.gz",
                    "Mottaghi's current page (CAT-Seg's datasets README, after CAT-Seg issue 9)"),
             Source("http://www.stat.ucla.edu/~ccvl/datasets/pascal-context/trainval.tar.gz",
                    "UCLA's CCVL datasets page")),
            note="no checksum is published (the SHA-256 of what arrives is kept in the data root's fetched.json "
                 "and printed by make data-list, so that two users can compare); not the Detail API's "
                 "trainval_merged.json, whose masks and splits differ from these .mat files (mmsegmentation pull "
                 "request 474). Its images are VOC2010's (or VOC2012's, when they hold every id: data.load says "
                 "which year fed them)"),
    ListFile("pascalcontext-59", "pascalcontext-59_labels.txt", "pascalcontext/59_labels.txt",
             (Source("https://cs.stanford.edu/~roozbeh/pascal-context/59_labels.txt",
                     "Mottaghi's page at Stanford"),)),
)}

TARGETS: dict[str, tuple[str, ...]] = {
    # What the VOC nets need: seg11valid (VOC2011's images and labels, as VOC2012 holds them, with the
    # reference's list) and SBD train.
    "voc": ("voc2012", "sbd", "seg11valid"),
    "voc2010": ("voc2010",),
    "voc2011": ("voc2011",),
    "voc2012": ("voc2012",),
    "sbd": ("sbd",),
    # The reference's archive when a source gives it, else the folder built from NYU's originals (BUILDS).
    "nyud": ("nyud", "nyud-labeled", "nyud-splits", "nyud-classes40", "nyud-train", "nyud-val", "nyud-test"),
    "siftflow": ("siftflow", "siftflow-trainval", "siftflow-test"),
    "pascalcontext": ("voc2010", "pascalcontext", "pascalcontext-59"),
}
TARGETS["all"] = tuple(dict.fromkeys(p for t in TARGETS.values() for p in t))



@dataclass(frozen=True)
class Build:
    """How the kit makes an archive's folder itself when no source gives the archive: from ``inputs`` (originals,
    verified like any part) and ``lists`` (list parts it puts into the folder), by ``module``'s
    ``build(dest, {key: Fetched}, workers=, progress=, log=) -> dest``; its ``write_provenance(folder, how,
    {key: Fetched}, log=)`` also says in an unpacked archive's folder where that came from."""

    inputs: tuple[str, ...]
    lists: tuple[str, ...]
    module: str


BUILDS: dict[str, Build] = {
    # The reference's nyud.tar.gz is gone: its layout, rebuilt as Gupta et al. made it (data.nyud).
    "nyud": Build(("nyud-labeled", "nyud-splits", "nyud-classes40"), ("nyud-train", "nyud-val", "nyud-test"),
                  "data.nyud"),
}

USER = "you (--source)"


class SourceFailed(DownloadError):
    """One source did not give a usable file; the next is tried."""


# -- your own sources ----------------------------------------------------------------------------------------
def parse_source(text: str) -> tuple[str, Source]:
    """``PART=URL_OR_PATH[#md5=HEX|#sha1=HEX|#sha256=HEX]`` -> (part key, Source)."""
    usage = ("expected PART=URL_OR_PATH[#md5=HEX|#sha1=HEX|#sha256=HEX] with PART one of "
             f"{', '.join(PARTS)}, for example voc2012=~/Downloads/VOCtrainval_11-May-2012.tar")
    key, sep, location = text.partition("=")
    if not sep or not location:
        raise DownloadError(f"--source {text!r}: {usage}")
    if key not in PARTS:
        raise DownloadError(f"--source {text!r}: no part named {key!r}; {usage}")
    checksums = []
    head, hash_sep, fragment = location.rpartition("#")
    match = re.fullmatch(r"([A-Za-z0-9]+)=(.*)", fragment) if hash_sep else None
    if match:
        algorithm, value = match.group(1).lower(), match.group(2)
        if algorithm not in HASH_LENGTHS:
            raise DownloadError(f"--source {text!r}: unknown checksum {algorithm!r} after '#'; use md5=, sha1= or "
                                "sha256=")
        if not re.fullmatch(rf"[0-9a-fA-F]{{{HASH_LENGTHS[algorithm]}}}", value):
            raise DownloadError(f"--source {text!r}: {algorithm}= takes {HASH_LENGTHS[algorithm]} hex digits, got "
                                f"{value!r} ({len(value)} characters)")
        checksums.append(Checksum(algorithm, value.lower(), USER))
        location = head
    scheme = urllib.parse.urlsplit(location).scheme
    if scheme not in ("", "file", "http", "https") and not re.fullmatch(r"[A-Za-z]", scheme):
        raise DownloadError(f"--source {text!r}: {scheme}:// is not supported; give an http(s):// or file:// URL "
                            "or a path")
    source = Source(location, USER, tuple(checksums))
    if source.local is not None and checksums and source.local.is_dir():
        raise DownloadError(f"--source {text!r}: {source.local} is a folder, which has no checksum; drop the "
                            "'#...' to use the folder as it is, or give the archive file")
    return key, source


def group_sources(texts: Iterable[str]) -> dict[str, list[Source]]:
    """--source values by part, each part's in the order given."""
    grouped: dict[str, list[Source]] = {}
    for text in texts:
        key, source = parse_source(text)
        grouped.setdefault(key, []).append(source)
    return grouped


# -- verifying -----------------------------------------------------------------------------------------------
def expected_checksums(part: Part, source: Source) -> tuple[Checksum, ...]:
    """What a source's file must match: the user's own checksums where given (plus a list's reference MD5),
    else the part's published ones."""
    if isinstance(part, ListFile):
        return (*part.checksums, *source.checksums)
    return source.checksums or part.checksums


def verify(path: Path, checksums: Sequence[Checksum], log: Callable[[str], None]) -> dict[str, str]:
    """Raise SourceFailed naming every checksum that differs; log the SHA-256 either way, so that a file with no
    published checksum can be recorded. Returns the digests computed (sha256 and those checked), from one read."""
    digests = file_digests(path, ["sha256", *(c.algorithm for c in checksums)])
    problems = [f"{c.algorithm} {digests[c.algorithm]}, expected {c.hex} (published by {c.by})"
                for c in checksums if digests[c.algorithm] != c.hex]
    if problems:
        raise SourceFailed(f"{path} failed verification: {'; '.join(problems)}")
    note = ", ".join(f"{c.algorithm} verified" for c in checksums) or "no published checksum to verify"
    log(f"sha256 {digests['sha256']}  {path.name} ({note})")
    return digests


# -- unpacking -----------------------------------------------------------------------------------------------
def _find_folder(top: Path, markers: Sequence[str], name: str = "") -> Path | None:
    """The shallowest folder under ``top`` (itself included) that holds every marker path (and is called
    ``name``, where one is given), else None."""
    level = [top]
    while level:
        for folder in sorted(level):
            if (not name or folder.name == name) and all((folder / m).exists() for m in markers):
                return folder
        level = [p for folder in level for p in sorted(folder.iterdir()) if p.is_dir() and not p.is_symlink()]
    return None


class UnsafeArchive(DownloadError):
    """An archive holding a member that the published archives never hold (a link, a device, a FIFO, a path that
    leaves the destination): refused before anything of it is written."""


# What a refused member type is (tar's type codes, zip's Unix mode bits); anything that is not a regular file or
# a folder is refused.
_TAR_TYPES = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character "
              "device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO (named pipe)"}
_ZIP_TYPES = {stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
              stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}


def _member_parts(name: str) -> tuple[str, ...] | str:
    """A member's path as its parts below the destination, or why it cannot be one (absolute, ``..``, empty).
    ``./`` and empty parts are dropped, as tar and unzip read them."""
    if not name or "\x00" in name:
        return "an empty name or one holding a NUL byte"
    if name.startswith("/") or re.match(r"[A-Za-z]:[/\\]", name):
        return "an absolute path"
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        return "a path with '..', which leads out of the destination"
    return parts or "the destination folder itself"


@dataclass(frozen=True)
class _Member:
    name: str  # as the archive spells it
    parts: tuple[str, ...]
    is_dir: bool
    size: int


def _refuse(archive: Path, name: str, problem: str) -> UnsafeArchive:
    """The error for a member that the published archives never hold, naming it and what it is."""
    return UnsafeArchive(f"{archive} was refused as unsafe: its member {name!r} is {problem}. The datasets' "
                         "published archives hold only regular files and folders (links and paths like this are "
                         "how an archive writes outside where it is unpacked: CVE-2007-4559, CVE-2025-4517), so "
                         "this is not the published file; nothing of it was unpacked. Fetch the archive from "
                         "another source")


def _plan(archive: Path) -> tuple[str, list[_Member]]:
    """Every member of the archive, checked before anything is written: only regular files and folders, each
    path relative, without '..', inside the destination, no file given twice or also used as a folder. Raises
    UnsafeArchive naming the first member that is not so (DownloadError where the archive is neither tar nor
    zip)."""
    members: list[_Member] = []
    if zipfile.is_zipfile(archive):
        kind = "zip"
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                mode = info.external_attr >> 16
                is_dir = info.is_dir()
                problem = None
                if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    problem = _ZIP_TYPES.get(stat.S_IFMT(mode), "not a regular file or folder")
                members.append(_new_member(archive, info.filename, is_dir, info.file_size, problem))
    elif tarfile.is_tarfile(archive):
        kind = "tar"
        with tarfile.open(archive) as t:
            for m in t:
                problem = None if m.isreg() or m.isdir() else _TAR_TYPES.get(m.type, "not a regular file or "
                                                                                      "folder")
                members.append(_new_member(archive, m.name, m.isdir(), m.size if m.isreg() else 0, problem))
    else:
        raise DownloadError(f"{archive} is neither a tar nor a zip archive: is it the right file? (a web page "
                            "saved under the archive's name, or a download cut short, look like this)")
    files: dict[tuple[str, ...], str] = {}
    folders: set[tuple[str, ...]] = set()
    for m in members:
        for n in range(1, len(m.parts) + (1 if m.is_dir else 0)):
            folders.add(m.parts[:n])
        if not m.is_dir:
            if m.parts in files:
                raise _refuse(archive, m.name, "a file given twice (the second would replace the first)")
            files[m.parts] = m.name
    for parts, name in files.items():
        if parts in folders:
            raise _refuse(archive, name, "a file that other members use as a folder")
    return kind, members


def _new_member(archive: Path, name: str, is_dir: bool, size: int, problem: str | None) -> _Member:
    parts = _member_parts(name)
    problem = problem or (parts if isinstance(parts, str) else None)
    if problem is not None:
        raise _refuse(archive, name, problem)
    return _Member(name, parts, is_dir, size)


def _target(archive: Path, top: Path, member: _Member) -> Path:
    """Where a checked member goes: below ``top``, its folders created (none of them a link: the archive holds
    none and ``top`` is new); its folder, resolved, is checked to lie inside ``top`` all the same."""
    path = top.joinpath(*member.parts)
    folder = path if member.is_dir else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(top.resolve()):
        raise _refuse(archive, member.name, "a path that resolves outside the destination")
    return path


def _write_member(path: Path, source, mtime: float | None) -> None:
    """Copy one regular file's bytes to a path that must not exist yet (O_EXCL) and is never followed if it is a
    link (O_NOFOLLOW): the member's data cannot land anywhere else."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, new_file_mode())
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    if mtime is not None:
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def _extract(archive: Path, kind: str, members: Sequence[_Member], top: Path, bar) -> None:
    """Write the checked members below ``top``, in archive order, reading the archive once from the start (a
    compressed tar cannot seek back cheaply)."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as z:
            for info, member in zip(z.infolist(), members, strict=True):
                path = _target(archive, top, member)
                if not member.is_dir:
                    with z.open(info) as source:
                        _write_member(path, source, None)
                bar.update()
        return
    with tarfile.open(archive) as t:
        for m, member in zip(t, members, strict=True):
            if m.name != member.name or m.type != (tarfile.DIRTYPE if member.is_dir else m.type) or \
                    not (m.isdir() or m.isreg()):
                raise _refuse(archive, m.name, "not the member checked before (the file changed while it was "
                                               "unpacked)")
            path = _target(archive, top, member)
            if not member.is_dir:
                with t.extractfile(m) as source:
                    _write_member(path, source, m.mtime)
            bar.update()


def unpack(archive: Path, dest: Path, markers: Sequence[str], inner: str = "", *,
           progress: bool | None = None) -> Path:
    """Extract ``archive`` beside ``dest`` and rename its folder named ``inner`` holding ``markers`` to ``dest``
    (atomic: a failed or interrupted unpack leaves no ``dest``). ``inner`` empty: any folder with the markers."""
    dest = Path(dest)
    if dest.exists():
        raise DownloadError(f"{dest} already exists; move it away to unpack {archive} again")
    try:
        kind, members = _plan(archive)  # every member checked before anything is written
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DownloadError(f"{archive} is damaged ({e}): fetch it again") from e
    count, needed = len(members), sum(m.size for m in members)
    try:
        require_space(dest.parent, needed, f"unpacking {archive.name}")
    except NotEnoughSpace as e:
        raise DiskFull(str(e)) from e
    with scratch_dir(dest) as tmp:
        bar = tqdm(total=count, unit=" files", desc=f"unpacking {archive.name}",
                   disable=None if progress is None else not progress)
        try:
            with bar:
                # The kit's own checks, not tarfile's filter="data": interpreters before 3.11.13 / 3.12.11 /
                # 3.13.4 let a chain of symlinks through that filter (CVE-2025-4517).
                _extract(archive, kind, members, tmp, bar)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
            raise DownloadError(f"{archive} is damaged ({e}): fetch it again") from e
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFull(f"the disk holding {dest.parent} filled up while unpacking {archive} ({needed:,} "
                               "bytes unpacked): free some space and run the command again") from e
            raise DownloadError(f"unpacking {archive} into {dest.parent} failed: {e}") from e
        found = _find_folder(tmp, markers, inner)
        if found is None:
            other = _find_folder(tmp, markers) if inner else None
            what = (f"its folder {other.relative_to(tmp)} holds {list(markers)} but is not named {inner!r}: it is "
                    "another release's archive" if other is not None else f"it has no folder holding {list(markers)}")
            raise DownloadError(f"{archive} is not the expected archive ({what}); expected a folder {inner or '?'} "
                                f"holding {list(markers)}. Check that you gave the right file")
        # The extracted folder, or the scratch folder itself: a new folder's permissions, not mkdir's 0700.
        os.chmod(found, new_file_mode(directory=True))
        os.rename(found, dest)
    return dest


# -- getting one part ----------------------------------------------------------------------------------------
def _describe(source: Source) -> str:
    return f"{source.location} [{source.by}]"


def _obtain(part: Part, source: Source, root: Path, progress: bool | None, log) -> tuple[Path, bool]:
    """The file a source gives, and whether this run downloaded it (local sources are read in place)."""
    local = source.local
    if local is not None:
        if not local.exists():
            raise SourceFailed(f"{local}: no such file")
        return local, False
    staged = root / DOWNLOADS_FOLDER / part.filename
    log(f"{part.key}: downloading {source.location} to {staged}")
    # Your own checksum names your own file: the part's published size is not asked of it either.
    size = None if source.checksums else part.size
    try:
        return fetch(source.location, staged, size=size, progress=progress, refuse_html=True,
                     check_space=True), True
    except DownloadError as e:
        raise SourceFailed(str(e)) from e


def _link_folder(part: Archive, folder: Path, dest: Path, log) -> Path:
    """Use an unpacked copy the user already has, in place: ``dest`` becomes a link to it."""
    # Your folder itself may have any name; inside it, the archive's folder name marks the right release.
    found = (folder if all((folder / m).exists() for m in part.markers) else None) or \
        _find_folder(folder, part.markers, part.inner)
    if found is None:
        raise SourceFailed(f"{folder} is a folder without {list(part.markers)} in a folder named {part.inner!r}; "
                           f"give {part.filename} or the unpacked {part.inner} folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(found.resolve(), dest, target_is_directory=True)
    log(f"{part.key}: using your folder {found} in place ({dest} links to it; nothing was copied)")
    return dest


def _place_list(part: ListFile, path: Path, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(path.read_bytes())
    return dest


def _in_place(part: Part, root: Path, log) -> Path | None:
    """What is already placed: a complete dataset folder, or a list file that passes its checksums. An original
    is read where it lies (the downloads folder or your path) and verified each time a build needs it."""
    if isinstance(part, Original):
        return None
    if isinstance(part, ListFile):
        dest = root / part.dest
        if dest.is_file():
            try:
                verify(dest, part.checksums, lambda _: None)
            except SourceFailed as e:
                raise DownloadError(f"{e}. It is not the list the kit expects: move it away and run the command "
                                    "again") from e
            return dest
        return None
    dest = root / part.folder
    if not dest.exists():
        return None
    missing = [m for m in part.markers if not (dest / m).exists()]
    if missing:
        raise DownloadError(f"{dest} exists but lacks {missing}; move it away and run the command again")
    return dest


@dataclass(frozen=True)
class Fetched:
    """One part as this run got it: where it is now, the verified file, where that came from and its digests."""

    key: str
    path: Path  # the placed folder or list, or the verified file itself (an original, or a list kept unplaced)
    file: Path | None  # the verified file (None for a folder of yours linked in place)
    location: str
    by: str
    digests: dict[str, str]
    size: int | None


def get_part(part: Part, root: Path, extra: Sequence[Source] = (), *, progress: bool | None = None,
             log: Callable[[str], None] = print, target: str = "") -> Path:
    """Place one part under ``root`` from the first source that gives a verified file (``extra`` first), and
    return where it went (an original: the verified file, read where it lies). Raises DownloadError listing
    every source tried and why it failed."""
    return fetch_part(part, root, extra, progress=progress, log=log, target=target).path


def fetch_part(part: Part, root: Path, extra: Sequence[Source] = (), *, place: bool = True,
               progress: bool | None = None, log: Callable[[str], None] = print, target: str = "") -> Fetched:
    """get_part, saying where the file came from and its digests (kept in the data root's fetched.json).
    ``place=False``: verify a list without putting it at its destination (a build puts it in its folder).
    Two runs fetching one part take turns (a lock per part, in the data root): the second waits, saying so,
    then finds the part in place. A data root that is a file or read-only is one message before any download."""
    placed = _in_place(part, root, log) if place else None
    if placed is not None:
        log(f"{part.key}: already in {placed}")
        return Fetched(part.key, placed, None, "already in place", "", {}, None)
    try:
        require_writable(root, "the data root ($FCN_DATA, or --root)")
    except NotWritable as e:
        raise DownloadError(str(e)) from None
    with locked(root / f".{part.key}.lock", part.key, log):
        placed = _in_place(part, root, log) if place else None  # placed by another run while this one waited
        if placed is not None:
            log(f"{part.key}: already in {placed}")
            return Fetched(part.key, placed, None, "already in place", "", {}, None)
        return _fetch_part(part, root, extra, place=place, progress=progress, log=log, target=target)


def _fetch_part(part: Part, root: Path, extra: Sequence[Source], *, place: bool, progress: bool | None,
                log: Callable[[str], None], target: str) -> Fetched:
    """fetch_part's work, under the part's lock."""
    dest = root / part.dest if isinstance(part, ListFile) else root / part.folder if isinstance(part, Archive) \
        else None
    failures: list[str] = []
    staged = root / DOWNLOADS_FOLDER / part.filename
    candidates = list(extra)
    if staged.is_file():  # a file put there by hand, or by an earlier run: checked like any other
        candidates.insert(len(extra), Source(str(staged), f"the file in {staged.parent}"))
    candidates += part.sources
    for n, source in enumerate(candidates, 1):
        local = source.local
        try:
            if local is not None and local.is_dir():
                if not isinstance(part, Archive):
                    raise SourceFailed(f"{local} is a folder; give the file {part.filename}")
                return Fetched(part.key, _link_folder(part, local, dest, log), None, str(local), source.by, {},
                               None)
            path, downloaded = _obtain(part, source, root, progress, log)
            ours = downloaded or path == staged  # files in the downloads folder are the kit's to set aside
            try:
                digests = verify(path, expected_checksums(part, source), log)
                if isinstance(part, Archive):
                    unpack(path, dest, part.markers, part.inner, progress=progress)
                elif isinstance(part, ListFile) and place:
                    _place_list(part, path, dest)
            except SourceFailed as e:
                fate = f"moved aside to {set_aside(path)}" if ours else "left as it is (yours)"
                raise SourceFailed(f"{e}; the file was {fate}") from e
            except DiskFull:
                raise  # another source would not fit either
            except DownloadError as e:  # a damaged or foreign archive
                if not ours:
                    raise SourceFailed(str(e)) from e
                raise SourceFailed(f"{e}; the file was moved aside to {set_aside(path)}") from e
        except SourceFailed as e:
            failures.append(f"{_describe(source)}: {e}")
            log(f"{part.key}: source {n}/{len(candidates)} failed: {e}")
            continue
        # The staged file stands for the source it was downloaded from in an earlier run: record that one.
        origin = _remembered(root, part.key, path, digests["sha256"]) if path == staged and not downloaded else None
        fetched = Fetched(part.key, path if dest is None or not place else dest, path,
                          origin["location"] if origin else source.location, origin["by"] if origin else source.by,
                          digests, path.stat().st_size)
        _remember(root, part, fetched)
        if isinstance(part, Original) or (isinstance(part, ListFile) and not place):
            log(f"{part.key}: verified {path} from {_describe(source)}")
        elif isinstance(part, ListFile):
            log(f"{part.key}: placed at {dest} from {_describe(source)}")
        else:
            spare = f" (the archive {path} may be deleted)" if ours else ""
            log(f"{part.key}: unpacked into {dest} from {_describe(source)}{spare}")
        return fetched
    raise DownloadError(_no_source(part, root, failures, target))


# -- the record of what was fetched --------------------------------------------------------------------------
def _record_path(root: Path) -> Path:
    return root / FETCHED_RECORD


def fetched_record(root: Path) -> dict[str, dict]:
    """The data root's record of every part's file as fetched (part -> file, location, digests, size, date);
    empty when there is none or it cannot be read."""
    try:
        record = json.loads(_record_path(root).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _remembered(root: Path, key: str, path: Path, sha256: str) -> dict | None:
    """What the record says of a file in the downloads folder, where it still is the same file."""
    entry = fetched_record(root).get(key)
    if isinstance(entry, dict) and entry.get("file") == path.name and entry.get("sha256") == sha256:
        return entry
    return None


def _remember(root: Path, part: Part, fetched: Fetched) -> None:
    """Keep the SHA-256 (and the other digests) of a verified file in the data root's fetched.json: where no
    checksum is published, two users compare theirs with it (make data-list prints it)."""
    record = fetched_record(root)
    record[part.key] = {"file": fetched.file.name, "location": fetched.location, "by": fetched.by,
                        **fetched.digests, "bytes": fetched.size, "published_checksum": bool(part.checksums),
                        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        write_text(_record_path(root), json.dumps(record, indent=1, sort_keys=True) + "\n")
    except OSError as e:  # the data is in place all the same; the record is a convenience
        print(f"warning: could not write {_record_path(root)}: {e}", file=sys.stderr)


def partial_folder(dest: Path) -> Path:
    """Where a build of the folder ``dest`` goes until it is complete (kept when interrupted; the next run
    resumes it). Renamed to ``dest`` only at the end, so that ``dest`` is whole or absent."""
    return dest.with_name(f"{dest.name}.partial")


def _archive_or_build(part: Archive, build: Build, by_key: Mapping[str, Part], root: Path,
                      sources: Mapping[str, Sequence[Source]], *, progress: bool | None, log, target: str,
                      workers: int | None = None, can_build: bool = True) -> Path:
    """The archive's folder: unpacked from the first source that gives the archive, else built from the
    originals (where ``can_build``: the target holds the build's parts). A build goes first when one is under
    way (it resumes) or when you gave a source for an original and none for the archive."""
    placed = _in_place(part, root, log)
    if placed is not None:
        log(f"{part.key}: already in {placed}")
        return placed
    partial = partial_folder(root / part.folder)
    yours = [k for k in build.inputs if sources.get(k)]
    failure = ""
    if can_build and not sources.get(part.key) and partial.exists():
        why = f"an interrupted build is in {partial}: resuming it"
    elif can_build and not sources.get(part.key) and yours:
        why = f"you gave a source for {', '.join(yours)}: building the folder from the originals"
    else:
        try:
            fetched = fetch_part(part, root, sources.get(part.key, ()), progress=progress, log=log, target=target)
        except DownloadError as e:
            if isinstance(e, DiskFull) or not can_build:
                raise
            failure = str(e)
            why = "no source gave the reference's archive: building its folder from the originals instead"
        else:
            _note_archive(part, build, fetched, log)
            return fetched.path
    log(f"{part.key}: {why} ({', '.join(build.inputs)}, with the lists {', '.join(build.lists)})")
    inputs, problems = {}, []
    for key in (*build.inputs, *build.lists):
        try:
            inputs[key] = fetch_part(by_key[key], root, sources.get(key, ()), place=False,
                                     progress=progress, log=log, target=target)
        except DiskFull:
            raise
        except DownloadError as e:
            problems.append(str(e))
    if problems:
        head = [failure, f"Building {root / part.folder} from the originals instead needs every one of "
                         f"{', '.join((*build.inputs, *build.lists))}; missing:"] if failure else []
        raise DownloadError("\n".join([*head, *problems]))
    return importlib.import_module(build.module).build(root / part.folder, inputs, workers=workers,
                                                       progress=progress, log=log)


def _note_archive(part: Archive, build: Build, fetched: Fetched, log) -> None:
    """Say in the unpacked folder how it came (the reference's archive, its SHA-256), as a build says how it
    built its folder; a folder of yours linked in place is left untouched."""
    if fetched.file is None or fetched.path.is_symlink():
        return
    importlib.import_module(build.module).write_provenance(fetched.path, "the reference's archive",
                                                           {part.key: fetched}, log=log)


def _no_source(part: Part, root: Path, failures: Sequence[str], target: str = "") -> str:
    staged = root / DOWNLOADS_FOLDER / part.filename
    lines = [f"could not get {part.key} from any of its {len(failures)} source(s):"]
    lines += [f"  - {f}" for f in failures]
    if getattr(part, "note", ""):
        lines.append(f"  ({part.note})")
    check = "; ".join(f"{c.algorithm} {c.hex}" for c in part.checksums) or "no published checksum"
    lines += ["To install it by hand: download it on a machine that has network access from any source above,",
              f"  then put it at {staged} ({check}) and run the command again,",
              f"  or pass it where it is: make data DATASET={target or part.key} SOURCE=\"{part.key}=PATH\""]
    return "\n".join(lines)


def download(target: str, root: Path | None = None, parts: Sequence[Part] | None = None,
             sources: Mapping[str, Sequence[Source]] | None = None, *, progress: bool | None = None,
             log: Callable[[str], None] = print, workers: int | None = None) -> list[Path]:
    """Place everything a target needs (TARGETS) under ``root`` (default $FCN_DATA); ``sources``: your own, by
    part key, tried first. Folders and lists already in place are kept. A folder no source gives is built from
    its originals where the kit knows how (BUILDS; ``workers`` processes, default 2). Returns what was
    placed."""
    root = Path(root).expanduser() if root is not None else data_root()
    if parts is None:
        if target not in TARGETS:
            raise DownloadError(f"unknown dataset {target!r}; choose from {', '.join(TARGETS)}")
        parts = [PARTS[key] for key in TARGETS[target]]
    sources = dict(sources or {})
    unused = sorted(set(sources) - {p.key for p in parts})
    if unused:
        raise DownloadError(f"--source names {', '.join(unused)}, which {target!r} does not fetch; its parts are "
                            f"{', '.join(p.key for p in parts)}")
    by_key = {p.key: p for p in parts}
    # A folder is built where the target holds its build's parts (a list of parts without them: the archive only).
    builds = {key: b for key, b in BUILDS.items()
              if key in by_key and all(k in by_key for k in (*b.inputs, *b.lists))}
    built_from = {k for b in builds.values() for k in b.inputs}  # fetched by the build only
    placed, problems, unbuilt = [], [], set()
    for part in parts:
        if part.key in built_from:
            continue
        if isinstance(part, ListFile) and (root / part.dest).parent in unbuilt:
            continue  # the build that failed was to place it: its error says everything
        try:
            if part.key in BUILDS:
                try:
                    placed.append(_archive_or_build(part, BUILDS[part.key], by_key, root, sources,
                                                    progress=progress, log=log, target=target, workers=workers,
                                                    can_build=part.key in builds))
                except DownloadError:
                    if part.key in builds:
                        unbuilt.add(root / part.folder)
                    raise
                continue
            if isinstance(part, ListFile) and not (root / part.dest).parent.is_dir():
                where = "\n".join(f"    {_describe(s)}" for s in part.sources)
                raise DownloadError(f"{part.key} goes into {(root / part.dest).parent}, which is not there yet; "
                                    f"it comes once that dataset is in place. Its sources:\n{where}")
            placed.append(get_part(part, root, sources.get(part.key, ()), progress=progress, log=log,
                                   target=target))
        except DiskFull:
            raise  # nothing else fits either
        except DownloadError as e:  # the other parts are still tried: one message names everything missing
            problems.append(str(e))
    if problems:
        raise DownloadError("\n".join(problems) + f"\nWhat is in place stays; run `make data DATASET={target}` "
                            "again to fetch the rest.")
    return placed


# -- listing -------------------------------------------------------------------------------------------------
def _size(n: int | None) -> str:
    if not n:
        return "size not published"
    return f"{n:,} bytes ({n / 2**30:.2f} GiB)" if n >= 2**30 else f"{n:,} bytes"


def listing(root: Path | None = None) -> str:
    """Every part: what it is, its sources in order, its checksums with who publishes them, its size."""
    lines = [describe_layout(root), "", "targets: " + "; ".join(f"{t} = {' + '.join(k)}" for t, k in TARGETS.items()),
             "", "parts, each with its sources in the order they are tried (--source PART=... goes first):"]
    root = data_root() if root is None else Path(root).expanduser()
    used_by = {k: key for key, b in BUILDS.items() for k in b.inputs}
    fetched = fetched_record(root)
    for part in PARTS.values():
        where = (part.folder if isinstance(part, Archive) else part.dest if isinstance(part, ListFile)
                 else f"{DOWNLOADS_FOLDER}/{part.filename}, read as it is by the {used_by.get(part.key, '?')} build")
        lines.append(f"{part.key}: {part.filename} -> {where}; {_size(part.size)}"
                     + (f" ({part.size_by})" if part.size_by else ""))
        lines += [f"    {n}. {s.location}\n       {s.by}" for n, s in enumerate(part.sources, 1)]
        lines += [f"    {c.algorithm} {c.hex}  published by {c.by}" for c in part.checksums] or [
            "    no published checksum: the SHA-256 of what arrives is kept in the data root's "
            f"{FETCHED_RECORD} and printed here, to compare with another user's"]
        if part.key in BUILDS:
            b = BUILDS[part.key]
            lines.append(f"    when no source gives it: built from {', '.join(b.inputs)} ({b.module}), into "
                         f"{partial_folder(root / part.folder).name} until complete")
        if part.note:
            lines.append(f"    note: {part.note}")
        entry = fetched.get(part.key)
        if isinstance(entry, dict) and entry.get("sha256"):
            lines.append(f"    fetched here {entry.get('date', '?')}: sha256 {entry['sha256']} ({entry.get('bytes')} "
                         f"bytes) from {entry.get('location', '?')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=kit_command("data.download"), description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"datasets: {', '.join(TARGETS)}")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $FCN_DATA or "
                        "~/.cache/fcn-kit/data)")
    parser.add_argument("--source", action="append", default=[], metavar="PART=URL_OR_PATH[#md5=HEX]",
                        help="a source of your own for one part (a URL, a file:// URL or a local path, read in place), "
                             "tried first; repeatable, in order. After '#': md5=, sha1= or sha256= to verify instead "
                             "of the published checksums. Parts: " + ", ".join(PARTS))
    parser.add_argument("--sources", default="", metavar="TEXT",
                        help="several --source values in one argument, split into words as a shell would split them "
                             "(shlex: quote a path that holds spaces), nothing run: how make passes its SOURCE= value")
    parser.add_argument("--list", action="store_true", help="print the layout, the targets and every part's sources "
                        "with checksums and sizes, and the SHA-256 of each file fetched here; fetch nothing")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes for a build from the originals (nyud; default 2)")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        print(listing(args.root))
        if not args.names and not args.list:
            print(f"name a dataset: make data DATASET=voc (or {kit_command('data.download', 'voc')})",
                  file=sys.stderr)
            return 2
        return 0
    try:
        try:
            sources = group_sources([*args.source, *split_words(args.sources, "SOURCE")])
        except ValueError as e:
            raise DownloadError(str(e)) from None
        unknown = [n for n in args.names if n not in TARGETS]
        if unknown:
            raise DownloadError(f"unknown dataset {unknown[0]!r}; choose from {', '.join(TARGETS)}")
        wanted = {key for n in args.names for key in TARGETS[n]}
        stray = sorted(set(sources) - wanted)
        if stray:
            raise DownloadError(f"--source names {', '.join(stray)}, which {' + '.join(args.names)} does not fetch; "
                                f"its parts are {', '.join(sorted(wanted))}")
        if args.workers is not None and args.workers < 1:
            raise DownloadError(f"--workers {args.workers}: give 1 or more processes")
        for name in args.names:
            download(name, args.root, sources={k: v for k, v in sources.items() if k in TARGETS[name]},
                     workers=args.workers)
    except DownloadError as e:
        return fail(e)
    except KeyboardInterrupt:
        return interrupted("a download resumes from its .part file, a build from its .partial folder: run the same "
                           "command again")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
