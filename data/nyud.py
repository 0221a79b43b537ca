"""NYUD in the reference's layout, rebuilt from NYU's originals as Gupta et al. made it: what ``make data
DATASET=nyud`` does when no source gives the reference's ``nyud.tar.gz`` (ledger: data.nyud-build).

The inputs (data.download's parts, each verified): NYU's ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3, i.e. HDF5,
read image by image with h5py, which sees MATLAB's axes reversed: ``images`` (N, 3, 640, 480) uint8, ``depths``
and ``rawDepths`` (N, 640, 480) single in metres, ``labels`` (N, 640, 480) uint16, 894 classes, 0 unlabeled),
NYU's ``splits.mat`` and Gupta's ``classMapping40.mat``, with the reference's three lists. Image i (1-based) is
the reference's id 5000 + i, and as s-gupta/nyu-hooks ``script_data.m`` and ``cropIt.m`` made its files:

- every map is cropped to MATLAB's ``I(46:470, 41:600, :)``, rows 45:470 and columns 40:600: 425 x 560;
- ``data/images/img_ID.png``: the RGB crop;
- ``data/depth/img_ID.png``: ``uint16(depths * 1000)``, the product in single precision (``depths`` is single)
  and MATLAB's conversion: rounded half away from zero, saturated, NaN to 0 (float64 arithmetic rounds tens
  to hundreds of pixels per image the other way: at 4 m the single-precision product is off the exact one by
  up to 1/8192 mm, which moves the values that lie that close to k + 0.5);
- ``segmentation/img_ID.mat``, ``segmentation`` uint8: ``mapClass`` over NYU's ``labels``, 0 staying 0. Gupta
  mapped his benchmark ground truth, cleaned of double contours, which no longer exists (ledger:
  data.nyud-labels-from-nyu);
- ``data/hha/img_ID.png``: data.hha.hha of the depth PNG's millimetres, missing where ``rawDepths == 0``;
- ``train.txt``, ``val.txt``, ``test.txt``: the reference's lists, checked against splits.mat (test =
  testNdxs + 5000, train + val = trainNdxs + 5000; the result goes into the record);
- ``provenance.json``: how the folder was made, every source with its checksums, the kit's version and
  revision, the date. Readers and table records quote it.

The build goes into ``nyud.partial`` beside the folder, image by image on a pool of processes that each open the
.mat themselves, every file written atomically. An interrupted build keeps its finished images and the next
run resumes them (when its inputs and the code that computes the pixels are the same); the folder gets its name
only when every image is there, so it is whole or absent. A .mat given by path is read in place and never
written.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .classes import CLASSES
from .errors import DiskFull, DownloadError
from .files import TEMP_SUFFIX, NotEnoughSpace, atomic_path, remove_stale_temporaries, require_space, write_text
from .hdf5 import UnsafeHDF5Error, refuse_outside_storage
from .hha import NYUD_CROP
from .layout import KIT_ROOT, git_revision

if TYPE_CHECKING:
    from .download import Fetched

FIRST_ID = 5000  # image i (1-based) is the reference's id 5000 + i (nyu-hooks: sprintf('img_%04d', i + 5000))
NYU_CLASSES = 894  # NYU's labels: 1..894, 0 unlabeled
# The fields the build reads, with MATLAB's class (the MATLAB_class attribute), the numpy dtype h5py gives and
# the shape of one image as h5py sees it (MATLAB's 480 x 640 x 3 x N reversed).
FIELDS = {
    "images": ("uint8", np.uint8, (3, 640, 480)),
    "depths": ("single", np.float32, (640, 480)),
    "rawDepths": ("single", np.float32, (640, 480)),
    "labels": ("uint16", np.uint16, (640, 480)),
}
LABELED, SPLITS, CLASSES40 = "nyud-labeled", "nyud-splits", "nyud-classes40"  # data.download's part keys
LISTS = {"train": "nyud-train", "val": "nyud-val", "test": "nyud-test"}
PROVENANCE = "provenance.json"
STATE = ".build.json"  # in the partial folder: what its finished images were built from
# The files of one image, relative to the folder.
OUTPUTS = ("data/images/img_{id}.png", "data/depth/img_{id}.png", "data/hha/img_{id}.png",
           "segmentation/img_{id}.mat")
SUBFOLDERS = tuple(dict.fromkeys(str(Path(p).parent) for p in OUTPUTS))
# Bytes one image takes at most (its maps uncompressed: RGB, 16-bit depth, HHA, labels), for the space check.
MAX_IMAGE_BYTES = 425 * 560 * (3 + 2 + 3 + 1)
# The code that computes the pixels: a partial build made by other code is started afresh.
PIXEL_CODE = ("data/nyud.py", "data/hha.py")


class BuildError(DownloadError):
    """An input of the build is not what it must be (named in the message); nothing is built from it."""


# -- the arithmetic of script_data.m and getGroundTruth.m -----------------------------------------------------
def crop(a: np.ndarray) -> np.ndarray:
    """cropIt: rows 45:470, columns 40:600 of an H x W (x C) map."""
    top, bottom, left, right = NYUD_CROP
    return a[top:bottom, left:right]


def matlab_uint16(values: np.ndarray) -> np.ndarray:
    """MATLAB's ``uint16(x)`` of floating-point values: rounded half away from zero, saturated to 0..65535, NaN
    to 0. Rounded in float64, where ``x + 0.5`` is exact for every float32 (in float32 it is not)."""
    x = np.asarray(values, dtype=np.float64)
    rounded = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.clip(np.nan_to_num(rounded, nan=0.0), 0, 65535).astype(np.uint16)


def depth_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """``uint16(depths * 1000)`` as MATLAB computes it for a single-precision ``depths``: the product rounded to
    single precision first, then MATLAB's uint16."""
    return matlab_uint16(np.asarray(depth_m, dtype=np.float32) * np.float32(1000))


def class_lookup(map_class: np.ndarray) -> np.ndarray:
    """The table that maps NYU's labels 0..894 to the 40 classes: 0 stays 0 (``out(out > 0) =
    mapClass(out(out > 0))``)."""
    lut = np.zeros(NYU_CLASSES + 1, dtype=np.uint8)
    lut[1:] = map_class
    return lut


# -- reading and checking the inputs --------------------------------------------------------------------------
def check_labeled(path: Path) -> int:
    """The number of images in NYU's labeled .mat, after checking that it is MATLAB v7.3 (HDF5) with every field
    the build reads, each of MATLAB's class and shape. Raises BuildError naming what differs."""
    import h5py

    path = Path(path)
    try:
        if not h5py.is_hdf5(path):
            with path.open("rb") as f:
                head = f.read(116)
            kind = ("a MATLAB .mat of an older format (v5/v7), not v7.3" if head.startswith(b"MATLAB 5.0")
                    else "not an HDF5 file")
            raise BuildError(f"{path} is {kind}: NYU's nyu_depth_v2_labeled.mat is MATLAB v7.3 (HDF5). Give NYU's "
                             "file (make data-list shows its sources and MD5)")
        with h5py.File(path, "r") as f:
            try:  # a file from the internet reads only its own bytes (data.hdf5)
                refuse_outside_storage(f, path, "labeled .mat")
            except UnsafeHDF5Error as e:
                raise BuildError(str(e)) from None
            missing = [name for name in FIELDS if name not in f]
            if missing:
                raise BuildError(f"{path} has no field {', '.join(repr(m) for m in missing)} (its fields: "
                                 f"{', '.join(sorted(f))}); NYU's labeled set has {', '.join(FIELDS)}. Give NYU's "
                                 "nyu_depth_v2_labeled.mat")
            counts = set()
            for name, (matlab_class, dtype, shape) in FIELDS.items():
                d = f[name]
                found_class = d.attrs.get("MATLAB_class", b"")
                found_class = found_class.decode() if isinstance(found_class, bytes) else str(found_class)
                if not isinstance(d, h5py.Dataset) or d.ndim != len(shape) + 1 or d.shape[1:] != shape or \
                        d.dtype != dtype or found_class != matlab_class:
                    what = (f"shape {d.shape}, {d.dtype}, MATLAB class {found_class or 'none'}"
                            if isinstance(d, h5py.Dataset) else "a group")
                    raise BuildError(f"{path}: field {name!r} is {what}; NYU's labeled set has (N, "
                                     f"{', '.join(map(str, shape))}) {np.dtype(dtype)} ({matlab_class}) as h5py reads "
                                     "it. Give NYU's nyu_depth_v2_labeled.mat")
                counts.add(d.shape[0])
            if len(counts) != 1 or 0 in counts:
                raise BuildError(f"{path}: its fields hold different numbers of images ({sorted(counts)}); NYU's "
                                 "labeled set has 1449 in each")
            return counts.pop()
    except OSError as e:
        raise BuildError(f"{path} cannot be read as HDF5 ({e}): is it cut short? Fetch it again") from e


def _loadmat(path: Path, what: str) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as e:
        raise BuildError(f"{path} is not a readable MATLAB .mat ({e}); {what}") from e


def read_splits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(trainNdxs, testNdxs) of NYU's splits.mat, 1-based image numbers."""
    mat = _loadmat(path, "give NYU's splits.mat")
    out = []
    for name in ("trainNdxs", "testNdxs"):
        if name not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise BuildError(f"{path} has no field {name!r} (its fields: {found}); NYU's splits.mat has trainNdxs "
                             "and testNdxs")
        values = np.asarray(mat[name]).ravel()
        if values.size == 0 or values.dtype.kind not in "iuf" or not np.array_equal(values, np.round(values)) or \
                values.min() < 1:
            raise BuildError(f"{path}: {name} does not hold 1-based image numbers")
        out.append(values.astype(np.int64))
    return out[0], out[1]


def read_class_map(path: Path) -> np.ndarray:
    """Gupta's mapClass (894 values 1..40), checked to come with the reference's 40 class names."""
    mat = _loadmat(path, "give Gupta's classMapping40.mat")
    for name in ("mapClass", "className"):
        if name not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise BuildError(f"{path} has no field {name!r} (its fields: {found}); Gupta's classMapping40.mat has "
                             "mapClass and className")
    map_class = np.asarray(mat["mapClass"]).ravel()
    if map_class.size != NYU_CLASSES or map_class.min() < 1 or map_class.max() > 40:
        raise BuildError(f"{path}: mapClass holds {map_class.size} values in {map_class.min()}..{map_class.max()}; "
                         f"Gupta's maps NYU's {NYU_CLASSES} classes to 1..40")
    names = tuple(str(np.asarray(n).ravel()[0]) if np.asarray(n).size else "" for n in
                  np.asarray(mat["className"]).ravel())
    if names != CLASSES[("nyud", "label")]:
        raise BuildError(f"{path}: className is not the reference's 40 classes (data/nyud/classes.txt): "
                         f"{list(names)[:5]}...; give Gupta's classMapping40.mat")
    return map_class.astype(np.uint8)


def read_lists(paths: Mapping[str, Path]) -> dict[str, list[str]]:
    from .splits import read_list

    return {split: read_list(Path(path)) for split, path in paths.items()}


def compare_lists(lists: Mapping[str, Sequence[str]], train_ndxs: np.ndarray, test_ndxs: np.ndarray) -> dict:
    """The reference's lists against NYU's splits: test = testNdxs + 5000, train + val = trainNdxs + 5000 (as
    sets; the order is reported too)."""
    test = [str(FIRST_ID + int(i)) for i in test_ndxs]
    trainval = {str(FIRST_ID + int(i)) for i in train_ndxs}
    train, val = list(lists["train"]), list(lists["val"])
    result = {
        "test_equals_testNdxs_plus_5000": set(lists["test"]) == set(test) and len(lists["test"]) == len(test),
        "test_in_testNdxs_order": list(lists["test"]) == test,
        "train_plus_val_equals_trainNdxs_plus_5000": set(train) | set(val) == trainval and
        len(train) + len(val) == len(trainval),
        "train_and_val_disjoint": not set(train) & set(val),
        "counts": {"train": len(train), "val": len(val), "test": len(lists["test"]),
                   "trainNdxs": len(train_ndxs), "testNdxs": len(test_ndxs)},
    }
    result["agree"] = all(result[k] for k in ("test_equals_testNdxs_plus_5000",
                                              "train_plus_val_equals_trainNdxs_plus_5000", "train_and_val_disjoint"))
    return result


# -- one image, in a worker process ---------------------------------------------------------------------------
_WORKER: dict = {}


def _start_worker(labeled: str, lut: np.ndarray, folder: str, in_pool: bool = False) -> None:
    """Open the .mat in this process (an HDF5 handle is not shared across processes), read-only. A pool worker
    leaves Ctrl-C to the main process, which stops the pool (one message, not one traceback per worker)."""
    import h5py

    if in_pool:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    # A chunk cache of a few MB per field: chunks that span neighbouring images are not decompressed twice.
    _WORKER.update(file=h5py.File(labeled, "r", rdcc_nbytes=8 << 20), lut=lut, folder=Path(folder))


def image_maps(f, index: int, lut: np.ndarray) -> dict[str, np.ndarray]:
    """The four maps of image ``index`` (0-based) of an open labeled .mat, cropped and converted."""
    from .hha import hha

    rgb = crop(np.asarray(f["images"][index]).transpose(2, 1, 0))  # (3, W, H) -> H x W x 3
    depth = crop(np.asarray(f["depths"][index]).T)
    raw = crop(np.asarray(f["rawDepths"][index]).T)
    labels = crop(np.asarray(f["labels"][index]).T)
    if labels.max(initial=0) > NYU_CLASSES:
        raise BuildError(f"image {index + 1} of the labeled set has label values up to {labels.max()}; NYU's are "
                         f"0..{NYU_CLASSES}: the file is damaged, fetch it again")
    millimetres = depth_millimetres(depth)
    return {"images": np.ascontiguousarray(rgb), "depth": millimetres, "hha": hha(millimetres, raw == 0),
            "segmentation": lut[labels]}


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp, tmp.open("wb") as f:
        Image.fromarray(pixels).save(f, format="PNG")


def _write_segmentation(path: Path, segmentation: np.ndarray) -> None:
    import scipy.io

    with atomic_path(path) as tmp, tmp.open("wb") as f:
        scipy.io.savemat(f, {"segmentation": segmentation}, do_compression=True)


def image_files(folder: Path, sample_id: str) -> list[Path]:
    return [folder / p.format(id=sample_id) for p in OUTPUTS]


def _build_one(index: int) -> int:
    """Write the four files of image ``index`` (0-based) into the partial folder; returns the index."""
    folder, sample_id = _WORKER["folder"], str(FIRST_ID + index + 1)
    maps = image_maps(_WORKER["file"], index, _WORKER["lut"])
    images, depth, hha_png, segmentation = image_files(folder, sample_id)
    _write_png(images, maps["images"])
    _write_png(depth, maps["depth"])
    _write_png(hha_png, maps["hha"])
    _write_segmentation(segmentation, maps["segmentation"])
    return index


# -- the build ------------------------------------------------------------------------------------------------
def _code_digest() -> str:
    h = hashlib.sha256()
    for name in PIXEL_CODE:
        h.update((KIT_ROOT / name).read_bytes())
    return h.hexdigest()


def _identity(inputs: Mapping[str, Fetched]) -> dict:
    """What a partial build's images depend on: the inputs' SHA-256 and the code that computes the pixels."""
    return {"inputs": {key: f.digests.get("sha256") for key, f in sorted(inputs.items())}, "code": _code_digest()}


def _finished(folder: Path, count: int) -> list[int]:
    return [i for i in range(count) if all(p.is_file() for p in image_files(folder, str(FIRST_ID + i + 1)))]


_TEMPORARY = re.compile(rf"\.(?P<name>.+)\.\d+\.[0-9a-f]+{re.escape(TEMP_SUFFIX)}")


def _sweep(folder: Path) -> None:
    """Remove the temporaries a killed worker left in the partial folder (none of a running process)."""
    for sub in SUBFOLDERS:
        for leftover in (folder / sub).iterdir():
            match = _TEMPORARY.fullmatch(leftover.name)
            if match:
                remove_stale_temporaries(folder / sub / match["name"])


def build(dest: Path, inputs: Mapping[str, Fetched], *, workers: int | None = None, progress: bool | None = None,
          log: Callable[[str], None] = print) -> Path:
    """Build ``dest`` (the nyud folder) from the verified inputs (data.download.Fetched by part key: nyud-labeled,
    nyud-splits, nyud-classes40, nyud-train, nyud-val, nyud-test) on ``workers`` processes (default 2)."""
    from tqdm import tqdm

    from .download import partial_folder

    dest = Path(dest)
    if dest.exists():
        raise BuildError(f"{dest} exists already; move it away to build it again")
    started = time.perf_counter()
    labeled = inputs[LABELED].file
    count = check_labeled(labeled)
    train_ndxs, test_ndxs = read_splits(inputs[SPLITS].file)
    lut = class_lookup(read_class_map(inputs[CLASSES40].file))
    lists = read_lists({split: inputs[key].file for split, key in LISTS.items()})
    highest = max([int(i) - FIRST_ID for ids in lists.values() for i in ids] + [int(train_ndxs.max()),
                                                                               int(test_ndxs.max())])
    if highest > count:
        raise BuildError(f"{labeled} holds {count} images, but the lists and splits.mat name image {highest} (id "
                         f"{FIRST_ID + highest}); NYU's labeled set has 1449. Give NYU's nyu_depth_v2_labeled.mat")
    agreement = compare_lists(lists, train_ndxs, test_ndxs)
    verdict = ("they agree (test = testNdxs + 5000, train + val = trainNdxs + 5000)" if agreement["agree"] else
               f"they DIFFER ({json.dumps(agreement)}); the build goes on with the reference's lists, and its "
               "record says so")
    log(f"nyud: the reference's lists against splits.mat: {verdict}")

    partial = partial_folder(dest)
    identity = _identity(inputs)
    state = partial / STATE
    if partial.exists():
        try:
            same = json.loads(state.read_text()) == identity
        except (OSError, ValueError):
            same = False
        if not same:
            log(f"nyud: {partial} was built from other inputs or by other code: starting afresh")
            shutil.rmtree(partial)  # the kit's own scratch folder
    done = set(_finished(partial, count)) if partial.exists() else set()
    pending = [i for i in range(count) if i not in done]
    try:  # before anything is written: at most the maps uncompressed
        require_space(dest.parent, len(pending) * MAX_IMAGE_BYTES,
                      f"the nyud build ({len(pending)} images to write, at most {MAX_IMAGE_BYTES:,} bytes each)")
    except NotEnoughSpace as e:
        raise DiskFull(str(e)) from e
    if not partial.exists():
        for sub in SUBFOLDERS:
            (partial / sub).mkdir(parents=True, exist_ok=True)
        write_text(state, json.dumps(identity, indent=1) + "\n")
    _sweep(partial)
    workers = max(1, workers or 2)
    log(f"nyud: building {count} images into {partial} ({len(done)} already there) on {workers} process(es); "
        "an interrupted build resumes from there")
    bar = tqdm(total=count, initial=len(done), unit=" images", desc="building nyud",
               disable=None if progress is None else not progress)
    try:
        with bar:
            if pending:
                _run(pending, str(labeled), lut, partial, workers, bar)
    except OSError as e:  # raised in a worker and passed on by the pool; the finished images stay
        if e.errno == errno.ENOSPC:
            raise DiskFull(f"the disk holding {partial} filled up during the nyud build; its finished images stay "
                           "there: free some space and run the command again to resume") from e
        raise BuildError(f"the nyud build failed while reading {labeled} or writing {partial}: {e}; its finished "
                         "images stay there: run the command again to resume") from e
    missing = [i for i in range(count) if i not in set(_finished(partial, count))]
    if missing:  # a worker that died without an error
        raise BuildError(f"{len(missing)} images of {partial} were not written (first: id {FIRST_ID + missing[0] + 1});"
                         " run the command again to resume")
    for split, key in LISTS.items():
        with atomic_path(partial / f"{split}.txt") as tmp:
            tmp.write_bytes(Path(inputs[key].file).read_bytes())
    write_provenance(partial, "built by the kit from NYU's originals", inputs, log=None, build={
        "images": count, "ids": f"{FIRST_ID + 1}..{FIRST_ID + count}", "crop": list(NYUD_CROP),
        "images_png": "the RGB crop of images",
        "depth_png": "uint16(depths * 1000): the product in single precision, MATLAB's rounding and saturation",
        "segmentation": "mapClass of classMapping40.mat over NYU's labels, 0 staying 0 (not Gupta's cleaned "
                        "benchmark ground truth, which no longer exists; ledger: data.nyud-labels-from-nyu)",
        "hha": "data.hha.hha of the depth PNG's millimetres, missing where rawDepths == 0",
        "lists_against_splits": agreement, "workers": workers, "code_sha256": identity["code"],
        "seconds": round(time.perf_counter() - started, 1)})
    os.rename(partial, dest)  # whole: the folder gets its name only now
    (dest / STATE).unlink()
    log(f"nyud: built {dest} ({count} images); the originals in the downloads folder may be deleted")
    return dest


def _run(pending: Sequence[int], labeled: str, lut: np.ndarray, partial: Path, workers: int, bar) -> None:
    """Build the pending images on ``workers`` processes (spawned: each opens the .mat itself)."""
    if workers == 1:
        _start_worker(labeled, lut, str(partial))
        try:
            for index in pending:
                _build_one(index)
                bar.update()
        finally:
            _WORKER.pop("file").close()
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(labeled, lut, str(partial), True)) as pool:
        for _ in pool.imap_unordered(_build_one, pending, chunksize=2):
            bar.update()


# -- the record -----------------------------------------------------------------------------------------------
def write_provenance(folder: Path, how: str, sources: Mapping[str, Fetched], *,
                     log: Callable[[str], None] | None = print, build: dict | None = None) -> Path:
    """Write ``folder/provenance.json``: how the folder was made, every source with its checksums, the kit's
    version and revision, the date."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        kit_version = version("fcn-kit")
    except PackageNotFoundError:
        kit_version = "unknown"
    record = {
        "dataset": "nyud", "how": how,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kit": {"version": kit_version, "git_revision": git_revision()},
        "sources": {key: {"file": f.file.name if f.file else None, "location": f.location, "by": f.by,
                          **f.digests, "bytes": f.size} for key, f in sorted(sources.items())},
        **({"build": build} if build else {}),
    }
    path = write_text(Path(folder) / PROVENANCE, json.dumps(record, indent=1) + "\n")
    if log:
        log(f"nyud: {path} says how the folder was made")
    return path


def read_provenance(folder: Path) -> dict | None:
    """The folder's provenance record, or None where there is none (a folder of yours, an older kit's)."""
    try:
        record = json.loads((Path(folder) / PROVENANCE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def describe(record: dict | None) -> str:
    """One line for evaluation output and table records: which way the folder was made."""
    if record is None:
        return f"nyud (no {PROVENANCE}: your own copy, or unpacked by an older kit)"
    kit = record.get("kit", {})
    return (f"nyud ({record.get('how', '?')}, {str(record.get('date', '?'))[:10]}, kit "
            f"{str(kit.get('git_revision', '?'))[:12]}; {PROVENANCE})")


def summary(record: dict | None) -> dict | None:
    """The part of the record a table record carries: how, when, by which revision, each source's SHA-256."""
    if record is None:
        return None
    return {"how": record.get("how"), "date": record.get("date"), "kit": record.get("kit"),
            "sources": {k: v.get("sha256") for k, v in (record.get("sources") or {}).items() if isinstance(v, dict)},
            "lists_agree_with_splits": ((record.get("build") or {}).get("lists_against_splits") or {}).get("agree")}
