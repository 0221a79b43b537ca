"""Readers for the paper's five datasets. Each returns, per image, the arrays the reference's Python data
layer put in its tops (voc_layers.py, nyud_layers.py, siftflow_layers.py, pascalcontext_layers.py; ledger:
data.preprocess, data.nyud, data.siftflow, data.pascalcontext): images float32 C x H x W (preprocess.py),
labels uint8 H x W with 255 = ignore. The reference's
leading singleton axis on labels (for the loss layer) is left to the batching code.

Every file is checked as it is read: a missing file names its path and the command that fetches it; an
unreadable file, an image whose size differs from its label, or a label value out of range names the image id.
Nothing is skipped.
"""

from __future__ import annotations

import dataclasses
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from . import nyud, splits
from .classes import CLASSES, CONTEXT_RENAMES, IGNORE_LABEL, PASCALCONTEXT
from .errors import BadSampleError, MissingDataError, UnknownSplitError
from .files import md5_file
from .layout import VOC2010_FOLDER, VOC2012_FOLDER, data_root, default_root, fetch_command, voc_year
from .preprocess import IMAGE_ERRORS, preprocess_depth, preprocess_hha, preprocess_image, read_image

# What scipy.io.loadmat raises on a damaged file (found by feeding it garbage and truncated files).
_MAT_ERRORS = (OSError, ValueError, IndexError, TypeError, KeyError, EOFError, zlib.error,
               scipy.io.matlab.MatReadError)

SIFTFLOW_SUBDIR = "spatial_envelope_256x256_static_8outdoorcategories"


class Reader(ABC):
    """A dataset split as the reference's data layer saw it: reader[i] -> {top: array} of reader.ids[i]."""

    dataset: str = ""
    all_tops: tuple[str, ...] = ()
    label_tops: tuple[str, ...] = ()
    # The splits the dataset (or the reference's lists) defines; any other name needs its own {split}.txt.
    split_names: tuple[str, ...] = ()

    def __init__(self, root: Path, split: str, tops: Sequence[str] | None, default_tops: tuple[str, ...]):
        self.root = Path(root).expanduser()
        self.split = split
        self.fetch = fetch_command(self.dataset, self.root)
        tops = tuple(default_tops if tops is None else tops)
        unknown = [t for t in tops if t not in self.all_tops]
        if unknown or not tops or len(set(tops)) != len(tops):
            raise ValueError(f"{self.dataset} tops must be distinct names from {self.all_tops}; got {tops}")
        self.tops = tops
        self.ids: tuple[str, ...] = ()
        self.split_info: splits.SplitInfo | None = None
        if not self.root.is_dir():
            raise MissingDataError(f"{self.dataset} root folder", self.root, self.fetch)

    # -- public -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self.load(self.ids[index])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, {len(self)} images, tops={self.tops}, "
                f"root={str(self.root)!r})")

    @property
    def classes(self) -> dict[str, tuple[str, ...]]:
        """Label top -> class names in output order."""
        return {t: CLASSES[(self.dataset, t)] for t in self.label_tops}

    def load(self, sample_id: str) -> dict[str, np.ndarray]:
        """The tops of one image by id, checked for size agreement and label range."""
        out = {top: self._load_top(top, sample_id) for top in self.tops}
        sizes = {top: a.shape[-2:] for top, a in out.items()}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{t} {h}x{w} ({self.top_file(t, sample_id)})" for t, (h, w) in sizes.items())
            raise BadSampleError(self.dataset, sample_id, f"sizes (H x W) differ between tops: {detail}")
        return out

    @abstractmethod
    def image_path(self, sample_id: str) -> Path:
        """The colour image file of an id (for overlays and reports)."""

    @abstractmethod
    def top_file(self, top: str, sample_id: str) -> Path:
        """The file one top of an id is read from."""

    # -- helpers for subclasses ---------------------------------------------------------------------------
    @abstractmethod
    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        """One top of one image, checked."""

    def _require(self, path: Path, what: str, sample_id: str) -> Path:
        if not path.is_file():
            raise MissingDataError(f"{self.dataset} {what} of image {sample_id!r}", path, self.fetch)
        return path

    def _open_image(self, path: Path, what: str, sample_id: str) -> Image.Image:
        self._require(path, what, sample_id)
        try:
            im = read_image(path)  # decoded now, so that a damaged file fails here and names the id
        except IMAGE_ERRORS as e:
            raise BadSampleError(self.dataset, sample_id, f"cannot read {what} {path}: {e}") from e
        return im

    def _colour(self, path: Path, sample_id: str, mean: str) -> np.ndarray:
        im = self._open_image(path, "image", sample_id)
        try:
            return preprocess_image(im, mean)
        except ValueError as e:
            raise BadSampleError(self.dataset, sample_id, f"image {path}: {e}") from e

    def _load_mat(self, path: Path, key: str, what: str, sample_id: str) -> np.ndarray:
        self._require(path, what, sample_id)
        try:
            mat = scipy.io.loadmat(path)
        except _MAT_ERRORS as e:
            raise BadSampleError(self.dataset, sample_id, f"cannot read {what} {path}: {e}") from e
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise BadSampleError(self.dataset, sample_id,
                                 f"{what} {path} has no variable {key!r}; it has {found}")
        return mat[key]

    def _integral(self, raw: np.ndarray, lo: int, hi: int, what: str, sample_id: str) -> np.ndarray:
        """A 2-D label map from a .mat file as int64, checked to hold integers in lo..hi."""
        raw = np.asarray(raw)
        if raw.ndim != 2:
            raise BadSampleError(self.dataset, sample_id, f"{what} is not a 2-D label map: shape {raw.shape}")
        if raw.dtype.kind == "f":
            if not (np.isfinite(raw).all() and np.array_equal(raw, np.round(raw))):
                raise BadSampleError(self.dataset, sample_id, f"{what} holds non-integer values")
        elif raw.dtype.kind not in "iub":
            raise BadSampleError(self.dataset, sample_id, f"{what} has non-numeric dtype {raw.dtype}")
        values = raw.astype(np.int64)
        bad = (values < lo) | (values > hi)
        if bad.any():
            shown = np.unique(values[bad])[:10].tolist()
            raise BadSampleError(self.dataset, sample_id, f"{what} has raw values {shown} outside {lo}..{hi}")
        return values

    def _check_classes(self, label: np.ndarray, top: str, sample_id: str) -> np.ndarray:
        n = len(CLASSES[(self.dataset, top)])
        bad = (label >= n) & (label != IGNORE_LABEL)
        if bad.any():
            shown = np.unique(label[bad])[:10].tolist()
            raise BadSampleError(self.dataset, sample_id, f"{top} {self.top_file(top, sample_id)} has values "
                                 f"{shown} outside 0..{n - 1} (255 = ignore)")
        return label

    def _set_split(self, ids: list[str], source: str, derived: bool, expect: splits.Expectation,
                   strict: bool = False) -> None:
        if not ids:
            raise ValueError(f"{self.dataset} split {self.split!r} from {source} lists no images")
        self.split_info = splits.check(self.dataset, self.split, ids, source, derived, expect, strict)
        self.ids = tuple(ids)

    def _listed_split(self, candidates: Sequence[Path], expect: splits.Expectation, hint: str = "",
                      strict: bool = False) -> None:
        if self.split not in self.split_names and splits.find_list(candidates) is None:
            raise UnknownSplitError(
                f"{self.dataset} has no split {self.split!r}: its splits are {', '.join(self.split_names)}. A "
                f"split of your own is a list of ids, one per line, in {candidates[0]}.")
        path = splits.require_list(self.dataset, self.split, candidates, self.fetch, hint)
        self._set_split(splits.read_list(path), str(path), False, expect, strict)
        self.split_info = dataclasses.replace(self.split_info, list_md5=md5_file(path))


def _palette_label(reader: Reader, path: Path, sample_id: str, top: str = "label") -> np.ndarray:
    """A VOC-style label PNG: palette indices (mode P) or plain 8-bit indices (mode L)."""
    im = reader._open_image(path, "label", sample_id)
    if im.mode not in ("P", "L"):
        raise BadSampleError(reader.dataset, sample_id,
                             f"label {path} is mode {im.mode}; expected palette indices (mode P) or 8-bit "
                             "indices (mode L), as in SegmentationClass/")
    return reader._check_classes(np.array(im, dtype=np.uint8), top, sample_id)


class VOCReader(Reader):
    """PASCAL VOC segmentation (voc_layers.VOCSegDataLayer). Tops: data, label.

    root: a VOC year folder (VOC2010, VOC2011, VOC2012); by default VOC2011 where present, else VOC2012. Splits:
    ImageSets/Segmentation/{split}.txt, and seg11valid: {root}/seg11valid.txt where present (the reference's
    list; over VOC2012's files it must be exactly that list), else VOC2011 val minus SBD train (sbd_root=,
    default $FCN_DATA/sbd), checked to be the reference's 736 ids. VOC2012's segmentation release holds
    VOC2011's images and labels; every seg11valid id is checked present, and split_info.images_from names the
    folder that fed them (ledger: data.seg11valid-from-voc2012)."""

    dataset = "voc"
    all_tops = ("data", "label")
    label_tops = ("label",)
    split_names = ("train", "val", "trainval", "test", "seg11valid")

    def __init__(self, split: str, root: Path | str | None = None, *, tops: Sequence[str] | None = None,
                 sbd_root: Path | str | None = None, expect_split: splits.Expectation = splits.REFERENCE):
        root = (Path(root) if root is not None else default_root("voc")).expanduser()
        listed = [root / f"{split}.txt", root / "ImageSets" / "Segmentation" / f"{split}.txt"]
        year = voc_year(root)
        if split == "seg11valid" and not root.is_dir():
            raise MissingDataError("VOC folder for seg11valid", root, fetch_command("voc"),
                                   "seg11valid reads VOC2011's files, or VOC2012's with the reference's list "
                                   f"({root.parent / 'VOC2012' / 'seg11valid.txt'}); `make data DATASET=voc` "
                                   "fetches VOC2012, SBD and that list.")
        derive = split == "seg11valid" and splits.find_list(listed) is None
        if derive and year not in (None, "2011"):
            raise MissingDataError(f"the reference's seg11valid list for VOC{year}", listed[0], fetch_command("voc"),
                                   f"seg11valid is VOC2011 val minus SBD train; over VOC{year}'s files it is the "
                                   "reference's list of 736 ids (MD5 7984b6ce736bd3666d8b7ee70b5401da), which "
                                   "`make data DATASET=voc` fetches and checks.")
        sbd_root = Path(sbd_root).expanduser() if sbd_root is not None else default_root("sbd")
        val_path, sbd_path = root / "ImageSets" / "Segmentation" / "val.txt", sbd_root / "train.txt"
        if derive:
            # seg11valid needs VOC2011 and SBD: name whatever is missing of both at once, with the one target
            # that fetches what the VOC nets need (folders already in place are kept).
            missing = [(w, p) for w, p in (("VOC2011 val list", val_path), ("SBD train list", sbd_path))
                       if not p.is_file()]
            if missing:
                raise MissingDataError(*missing[0], fetch_command("voc"),
                                       "seg11valid is VOC2011 val minus SBD train; pass sbd_root= to SBD's "
                                       "dataset folder.", also=missing[1:])
        super().__init__(root, split, tops, ("data",) if split == "test" else ("data", "label"))
        if derive:
            ids = splits.seg11valid(splits.read_list(val_path), splits.read_list(sbd_path))
            self._set_split(ids, f"derived: {val_path} minus {sbd_path}", True, expect_split)
        else:
            # Over another year's files the list is seg11valid's only definition: it must be the reference's.
            strict = split == "seg11valid" and year not in (None, "2011")
            self._listed_split(listed, expect_split, strict=strict)
        if split == "seg11valid":
            self._require_every_id()
            self.split_info = dataclasses.replace(self.split_info, images_from=self.root.name)

    def _require_every_id(self) -> None:
        """Every seg11valid id has its files here (a VOC2012 copy holds all 736; a partial copy does not)."""
        missing = [path for i in self.ids for path in (self.top_file(t, i) for t in self.tops) if not path.is_file()]
        if missing:
            shown = ", ".join(p.name for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise MissingDataError(f"{len(missing)} file(s) of seg11valid's {len(self.ids)} ids ({shown}); the "
                                   "first", missing[0], fetch_command("voc"),
                                   f"Is {self.root} a complete copy of its release?")

    def image_path(self, sample_id: str) -> Path:
        return self.root / "JPEGImages" / f"{sample_id}.jpg"

    def top_file(self, top: str, sample_id: str) -> Path:
        return self.image_path(sample_id) if top == "data" else self.root / "SegmentationClass" / f"{sample_id}.png"

    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        if top == "data":
            return self._colour(self.image_path(sample_id), sample_id, "voc")
        return _palette_label(self, self.top_file(top, sample_id), sample_id)


class SBDReader(Reader):
    """SBD, Hariharan et al. (voc_layers.SBDDSegDataLayer). Tops: data, label.

    root: SBD's dataset/ folder. Splits: {root}/{train,val}.txt. Labels: cls/{id}.mat GTcls.Segmentation."""

    dataset = "sbd"
    all_tops = ("data", "label")
    label_tops = ("label",)
    split_names = ("train", "val")

    def __init__(self, split: str, root: Path | str | None = None, *, tops: Sequence[str] | None = None,
                 expect_split: splits.Expectation = splits.REFERENCE):
        root = Path(root) if root is not None else default_root("sbd")
        super().__init__(root, split, tops, ("data", "label"))
        self._listed_split([self.root / f"{split}.txt"], expect_split)

    def image_path(self, sample_id: str) -> Path:
        return self.root / "img" / f"{sample_id}.jpg"

    def top_file(self, top: str, sample_id: str) -> Path:
        return self.image_path(sample_id) if top == "data" else self.root / "cls" / f"{sample_id}.mat"

    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        if top == "data":
            return self._colour(self.image_path(sample_id), sample_id, "sbd")
        path = self.top_file(top, sample_id)
        gt = self._load_mat(path, "GTcls", "label", sample_id)
        try:  # MATLAB struct as scipy loads it: 1x1 record array, field Segmentation
            raw = gt[0]["Segmentation"][0]
        except (IndexError, ValueError, KeyError) as e:
            raise BadSampleError(self.dataset, sample_id,
                                 f"label {path}: GTcls has no Segmentation field") from e
        label = self._integral(raw, 0, 255, f"label {path}", sample_id).astype(np.uint8)
        return self._check_classes(label, "label", sample_id)


class NYUDReader(Reader):
    """NYUDv2, Gupta et al.'s 40 classes (nyud_layers.NYUDSegDataLayer). Tops from color, hha, depth, label.

    root: the reference's prepared nyud/ folder. Splits: {root}/{train,val,test}.txt (the reference's lists);
    trainval = train + val when no trainval.txt exists."""

    dataset = "nyud"
    all_tops = ("color", "hha", "depth", "label")
    label_tops = ("label",)
    split_names = ("train", "val", "test", "trainval")

    def __init__(self, split: str, root: Path | str | None = None, *, tops: Sequence[str] | None = None,
                 expect_split: splits.Expectation = splits.REFERENCE):
        root = Path(root) if root is not None else default_root("nyud")
        super().__init__(root, split, tops, ("color", "label"))
        listed = [self.root / f"{split}.txt"]
        hint = ("The split lists are the reference's data/nyud/{train,val,test}.txt; "
                "`make data DATASET=nyud` fetches them.")
        if split != "trainval" or splits.find_list(listed) is not None:
            self._listed_split(listed, expect_split, hint)
        else:
            parts = [splits.require_list("nyud", s, [self.root / f"{s}.txt"], self.fetch, hint)
                     for s in ("train", "val")]
            ids = splits.read_list(parts[0]) + splits.read_list(parts[1])
            self._set_split(ids, f"derived: {parts[0]} + {parts[1]}", True, expect_split)
        # Which way the folder was made (the reference's archive, or built from NYU's originals), for the records.
        record = nyud.read_provenance(self.root)
        self.split_info = dataclasses.replace(self.split_info, images_from=nyud.describe(record),
                                              provenance=nyud.summary(record))

    def image_path(self, sample_id: str) -> Path:
        return self.root / "data" / "images" / f"img_{sample_id}.png"

    def top_file(self, top: str, sample_id: str) -> Path:
        if top == "color":
            return self.image_path(sample_id)
        if top in ("hha", "depth"):
            return self.root / "data" / top / f"img_{sample_id}.png"
        return self.root / "segmentation" / f"img_{sample_id}.mat"

    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        if top == "color":
            return self._colour(self.image_path(sample_id), sample_id, "nyud")
        path = self.top_file(top, sample_id)
        if top in ("hha", "depth"):
            im = self._open_image(path, top, sample_id)
            try:
                return preprocess_hha(im) if top == "hha" else preprocess_depth(im)
            except ValueError as e:
                raise BadSampleError(self.dataset, sample_id, f"{top} {path}: {e}") from e
        raw = self._load_mat(path, "segmentation", "label", sample_id)
        raw = self._integral(raw, 0, 40, f"label {path}", sample_id)
        # The reference's label.astype(uint8) - 1: classes 1..40 -> 0..39, void 0 wraps to 255.
        return ((raw - 1) % 256).astype(np.uint8)


class SIFTFlowReader(Reader):
    """SIFT Flow (siftflow_layers.SIFTFlowSegDataLayer). Tops: data, sem (33 classes), geo (3 classes).

    root: the SiftFlowDataset folder. Splits: test = the ids of the dataset's TestSet1.txt; trainval = every
    other image except the two unannotated ones; both checked against the reference's lists."""

    dataset = "siftflow"
    all_tops = ("data", "sem", "geo")
    label_tops = ("sem", "geo")
    split_names = ("trainval", "test")

    def __init__(self, split: str, root: Path | str | None = None, *, tops: Sequence[str] | None = None,
                 expect_split: splits.Expectation = splits.REFERENCE):
        root = Path(root) if root is not None else default_root("siftflow")
        super().__init__(root, split, tops, ("data", "sem", "geo"))
        listed = [self.root / f"{split}.txt"]
        if splits.find_list(listed) is not None or split not in ("test", "trainval"):
            self._listed_split(listed, expect_split, "SIFT Flow derives only test and trainval.")
            return
        testset = splits.require_list("siftflow", "test", [self.root / "TestSet1.txt"], self.fetch)
        try:
            test = splits.siftflow_test_ids(splits.read_list(testset))
        except ValueError as e:
            raise ValueError(f"{testset}: {e}") from e
        if split == "test":
            self._set_split(test, f"derived: {testset}", True, expect_split)
            return
        images = self.root / "Images" / SIFTFLOW_SUBDIR
        if not images.is_dir():
            raise MissingDataError("SIFT Flow image folder", images, self.fetch)
        all_ids = sorted(p.stem for p in images.glob("*.jpg"))
        ids = splits.siftflow_trainval_ids(all_ids, test)
        left_out = ", ".join(splits.SIFTFLOW_UNANNOTATED)
        self._set_split(ids, f"derived: {images} minus {testset} minus {left_out}", True, expect_split)

    def image_path(self, sample_id: str) -> Path:
        return self.root / "Images" / SIFTFLOW_SUBDIR / f"{sample_id}.jpg"

    def top_file(self, top: str, sample_id: str) -> Path:
        if top == "data":
            return self.image_path(sample_id)
        folder = "SemanticLabels" if top == "sem" else "GeoLabels"
        return self.root / folder / SIFTFLOW_SUBDIR / f"{sample_id}.mat"

    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        if top == "data":
            return self._colour(self.image_path(sample_id), sample_id, "siftflow")
        path = self.top_file(top, sample_id)
        raw = self._load_mat(path, "S", f"{top} label", sample_id)
        if top == "sem":
            raw = self._integral(raw, 0, 33, f"{top} label {path}", sample_id)
        else:
            raw = self._integral(raw, -1, 3, f"{top} label {path}", sample_id)
            raw[raw == -1] = 0  # the reference folds -1 into void before the shift
        # label.astype(uint8) - 1: classes start at 0, void 0 wraps to 255.
        return ((raw - 1) % 256).astype(np.uint8)


def _label_names(path: Path) -> list[str]:
    """Names of a PASCAL-Context label list ("N: name" or "name" lines), spaces removed as the reference did.
    """
    return [(line.split(":", 1)[1] if ":" in line else line).replace(" ", "").strip()
            for line in splits.read_list(path)]


def context_lookup(labels_txt: Path, labels_59_txt: Path) -> np.ndarray:
    """Raw PASCAL-Context value -> 59-class task label, as a lookup table (uint8, length = lines of labels.txt
    + 1).

    Raw value v is line v of labels.txt (1-based). Task class k (1..59) is line k of 59_labels.txt; its name,
    spaces removed and renamed to the full list's spelling (diningtable -> table, bedcloth -> bedclothes,
    clothes -> cloth), is looked up in labels.txt (first match, as list.index did). Every other value -> 0.
    """
    full = _label_names(labels_txt)
    task = _label_names(labels_59_txt)
    if task != list(PASCALCONTEXT[1:]):
        differ = [(k + 1, a, b) for k, (a, b) in enumerate(zip(task, PASCALCONTEXT[1:], strict=False))
                  if a != b]
        raise ValueError(f"{labels_59_txt} should list the 59 task classes in the reference's order "
                         f"({', '.join(PASCALCONTEXT[1:4])}, ...); found {len(task)} names"
                         + (f", first differences (line, found, expected): {differ[:3]}" if differ else ""))
    lut = np.zeros(len(full) + 1, dtype=np.uint8)
    for k, name in enumerate(task):
        main = CONTEXT_RENAMES.get(name, name)
        if main not in full:
            raise ValueError(f"{labels_txt} has no class named {main!r} (task class {k + 1} {name!r}); is it "
                             "the PASCAL-Context labels.txt of 459 'N: name' lines?")
        lut[full.index(main) + 1] = k + 1
    return lut


class PASCALContextReader(Reader):
    """PASCAL-Context, 59-class task (pascalcontext_layers.PASCALContextSegDataLayer). Tops: data, label.

    root: the PASCAL-Context folder (trainval/{id}.mat 'LabelMap', labels.txt, 59_labels.txt); voc_root: the
    VOC2010 folder (default $FCN_DATA/VOC2010) for images and splits ImageSets/Main/{train,val}.txt. Labels:
    0 = background (every class outside the 59), 1..59; no ignore value."""

    dataset = "pascalcontext"
    all_tops = ("data", "label")
    label_tops = ("label",)
    split_names = ("train", "val")

    def __init__(self, split: str, root: Path | str | None = None, *, tops: Sequence[str] | None = None,
                 voc_root: Path | str | None = None, expect_split: splits.Expectation = splits.REFERENCE):
        root = Path(root) if root is not None else default_root("pascalcontext")
        super().__init__(root, split, tops, ("data", "label"))
        if voc_root is not None:
            self.voc_root = Path(voc_root).expanduser()
        else:  # VOC2010 (the release Context annotates), else VOC2012, whose images include VOC2010's
            self.voc_root = data_root() / VOC2010_FOLDER
            if not self.voc_root.is_dir() and (data_root() / VOC2012_FOLDER).is_dir():
                self.voc_root = data_root() / VOC2012_FOLDER
        if not self.voc_root.is_dir():
            raise MissingDataError("VOC2010 folder (PASCAL-Context's images)", self.voc_root,
                                   fetch_command("voc", self.voc_root),
                                   "Pass voc_root= to your VOC2010 folder (a VOC2012 folder works too when its "
                                   "JPEGImages hold every id of the split).")
        if voc_year(self.voc_root) in (None, "2010"):
            lists = [self.root / f"{split}.txt", self.voc_root / "ImageSets" / "Main" / f"{split}.txt"]
            hint = ""
        else:  # another year's ImageSets/Main lists are other splits: only Context's own list will do
            lists = [self.root / f"{split}.txt"]
            hint = (f"With {self.voc_root.name}'s images, the split list must be VOC2010's ImageSets/Main/"
                    f"{split}.txt, copied to {lists[0]}.")
        self._listed_split(lists, expect_split, hint)
        if voc_year(self.voc_root) not in (None, "2010"):
            missing = [i for i in self.ids if not self.image_path(i).is_file()]
            if missing:
                raise MissingDataError(
                    f"{len(missing)} of the split's {len(self.ids)} images in {self.voc_root.name} (first "
                    f"{', '.join(missing[:5])}); the first", self.image_path(missing[0]),
                    fetch_command("voc", data_root() / VOC2010_FOLDER),
                    "PASCAL-Context annotates VOC2010's images: fetch VOC2010, or pass voc_root= to it.")
        self.split_info = dataclasses.replace(self.split_info, images_from=self.voc_root.name)
        self.lookup: np.ndarray | None = None
        if "label" in self.tops:
            names = [self.root / "labels.txt", self.root / "59_labels.txt"]
            for path in names:
                if not path.is_file():
                    raise MissingDataError("PASCAL-Context label list", path, self.fetch)
            self.lookup = context_lookup(*names)

    def image_path(self, sample_id: str) -> Path:
        return self.voc_root / "JPEGImages" / f"{sample_id}.jpg"

    def top_file(self, top: str, sample_id: str) -> Path:
        return self.image_path(sample_id) if top == "data" else self.root / "trainval" / f"{sample_id}.mat"

    def _load_top(self, top: str, sample_id: str) -> np.ndarray:
        if top == "data":
            return self._colour(self.image_path(sample_id), sample_id, "pascalcontext")
        path = self.top_file(top, sample_id)
        raw = self._load_mat(path, "LabelMap", "label", sample_id)
        raw = self._integral(raw, 0, len(self.lookup) - 1, f"label {path}", sample_id)
        return self.lookup[raw]


READERS: dict[str, type[Reader]] = {
    "voc": VOCReader,
    "sbd": SBDReader,
    "nyud": NYUDReader,
    "siftflow": SIFTFlowReader,
    "pascalcontext": PASCALContextReader,
}
