"""Where the datasets live: one root from the FCN_DATA environment variable (default ~/.cache/fcn-kit/data,
outside the code), one folder per dataset under it. LAYOUT below lists each folder, the files the readers open
and the archive size; ``.venv/bin/python -m data.download --list`` prints it with every source and checksum. The VOC
nets need seg11valid (VOC2011's images and labels, which VOC2012 holds too) and sbd (training): ``make data
DATASET=voc`` fetches VOC2012, SBD and the reference's seg11valid list. A VOC2011 folder, where there is one, is
read first (voc_root).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The kit's checkout: data/ sits at its top (layout.py is the bottom of the package graph, so every package
# asks this module how to run a kit command).
KIT_ROOT = Path(__file__).resolve().parent.parent

ENV_VAR = "FCN_DATA"
DEFAULT_ROOT = Path("~/.cache/fcn-kit/data")

# Reader name -> its default folder under the data root (and extra roots some readers need).
FOLDERS = {
    "voc": "VOC2011",
    "sbd": "sbd",
    "nyud": "nyud",
    "siftflow": "siftflow",
    "pascalcontext": "pascalcontext",
}
VOC2010_FOLDER = "VOC2010"
VOC2012_FOLDER = "VOC2012"
DOWNLOADS_FOLDER = "downloads"
# The data root's record of every file as fetched (part -> location, SHA-256 and the digests checked, size,
# date): where no checksum is published, two users compare theirs with it (make data-list prints it).
FETCHED_RECORD = "fetched.json"


@dataclass(frozen=True)
class Folder:
    """One folder under the data root."""

    what: str
    files: tuple[str, ...]  # what the readers open, relative to the folder
    size: str  # the archive's size as fetched; the publishers give no byte counts or hashes


LAYOUT: dict[str, Folder] = {
    "VOC2012": Folder("PASCAL VOC 2012 (target voc2012; voc = VOC2012 + sbd + the seg11valid list)", (
        "JPEGImages/{id}.jpg", "SegmentationClass/{id}.png (palette indices, 255 void)",
        "ImageSets/Segmentation/{train,val,trainval}.txt",
        "seg11valid.txt (the reference's list of 736 ids, MD5-checked; target voc)"), "1,999,639,040 bytes"),
    "VOC2011": Folder("PASCAL VOC 2011 (target voc2011; read first for seg11valid when present)",
                      ("as VOC2012; seg11valid = VOC2011 val minus SBD train",), "not published"),
    "VOC2010": Folder("PASCAL VOC 2010, PASCAL-Context's images (target voc2010)", (
        "JPEGImages/{id}.jpg", "ImageSets/Main/{train,val}.txt"), "about 1.3 GB"),
    "sbd": Folder("SBD, the dataset/ folder of benchmark.tgz (target sbd)", (
        "img/{id}.jpg", "cls/{id}.mat (struct GTcls, field Segmentation)",
        "train.txt (8498 ids), val.txt (2857)"),
        "about 1.4 GB"),
    "nyud": Folder("NYUDv2 in the reference's layout (target nyud): its nyud.tar.gz where a source gives it, else "
                   "built by the kit from NYU's labeled set (data.nyud; ids 5001..6449, 425 x 560 crops)", (
        "data/images/img_{id}.png (RGB)", "data/hha/img_{id}.png (HHA, 3 x 8 bit)",
        "data/depth/img_{id}.png (16-bit, millimetres)", "segmentation/img_{id}.mat ('segmentation', 0 void)",
        "{train,val,test}.txt (the reference's lists, MD5-checked)",
        "provenance.json (how the kit got the folder: the archive or a build, every source with its checksum)"),
        "not published; a build writes at most 2.1 MB an image (the maps uncompressed), PNG makes it less"),
    "siftflow": Folder("SIFT Flow, SiftFlowDataset.zip (target siftflow)", (
        "Images/spatial_envelope_256x256_static_8outdoorcategories/{id}.jpg",
        "SemanticLabels/spatial_envelope_256x256_static_8outdoorcategories/{id}.mat ('S')",
        "GeoLabels/spatial_envelope_256x256_static_8outdoorcategories/{id}.mat ('S')", "TestSet1.txt",
        "{trainval,test}.txt (the reference's lists, for its exact training order)"), "not published"),
    "pascalcontext": Folder("PASCAL-Context labels (target pascalcontext, which also fetches VOC2010)", (
        "trainval/{id}.mat ('LabelMap')", "labels.txt (459 'N: name' lines)", "59_labels.txt"),
        "not published"),
    DOWNLOADS_FOLDER: Folder("the archives as fetched (resumable; delete once unpacked)", (), ""),
}


def describe_layout(root: Path | None = None) -> str:
    """LAYOUT as text, with the actual root."""
    root = data_root() if root is None else root
    lines = [f"data root: {root} (set ${ENV_VAR} to move it; {FETCHED_RECORD}: the SHA-256 of every file fetched)"]
    for folder, entry in LAYOUT.items():
        size = f", {entry.size}" if entry.size else ""
        lines.append(f"  {folder}/  {entry.what}{size}")
        lines += [f"      {f}" for f in entry.files]
    return "\n".join(lines)


def data_root() -> Path:
    """$FCN_DATA, or ~/.cache/fcn-kit/data when it is unset (outside the code, so a checkout stays small)."""
    value = os.environ.get(ENV_VAR)
    return Path(value).expanduser() if value else DEFAULT_ROOT.expanduser()


def voc_root(root: Path | None = None) -> Path:
    """The VOC folder the VOC reader uses by default: VOC2011 where it is present (the paper's release), else
    VOC2012 (what ``make data DATASET=voc`` fetches; its segmentation release holds VOC2011's files)."""
    root = data_root() if root is None else Path(root)
    voc2011 = root / FOLDERS["voc"]
    return voc2011 if voc2011.is_dir() else root / VOC2012_FOLDER


def voc_year(folder: Path) -> str | None:
    """The VOC release a folder holds, from its name (VOC2011 -> "2011"), else None."""
    match = re.fullmatch(r"voc(20\d\d)", Path(folder).name.lower())
    return match.group(1) if match else None


def default_root(dataset: str) -> Path:
    """The folder a reader uses when no root= is given."""
    return voc_root() if dataset == "voc" else data_root() / FOLDERS[dataset]


def fetch_command(dataset: str, root: Path | None = None) -> str:
    """The command that fetches a dataset's files, for error messages. A VOC root named VOC2010/2011/2012
    names that year's archive."""
    target = dataset
    if dataset == "voc" and root is not None:
        target = f"voc{voc_year(root) or '2012'}"
    return f"make data DATASET={target}"


def kit_command(module: str, *args: str) -> str:
    """The shell command that runs a kit module, for messages: the Python of the kit's environment (``make
    setup`` makes ``.venv`` and installs the kit into it), named ``.venv/bin/python`` from the kit's root and
    by its full path from anywhere else; the running interpreter when the kit has no ``.venv``. A bare
    ``python -m`` fails outside that environment. ``args`` are joined as given (placeholders such as NAME
    and shell words such as $FCN_WEIGHTS stay as they are)."""
    venv_python = KIT_ROOT / ".venv" / "bin" / "python"
    if venv_python.exists():
        try:
            here = Path.cwd().resolve()
        except OSError:  # the working folder was removed
            here = None
        python = ".venv/bin/python" if here == KIT_ROOT else str(venv_python)
    else:
        python = sys.executable or "python3"
    # Arguments go in as written: callers pass placeholders and $FCN_WEIGHTS-style words meant for the shell.
    return " ".join([shlex.quote(python), "-m", module, *args])


def git_revision() -> str:
    """The kit's commit, with "+dirty" when tracked files differ from it; "unknown" outside a git checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=KIT_ROOT, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=KIT_ROOT,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev
