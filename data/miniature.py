"""Tiny dataset trees in the real on-disk formats, for tests and for smoke runs (``make reproduce-tableN
SMOKE=1``).

Each builder writes the files the readers open, in the formats the datasets ship (see layout.py):
- VOC: JPEGImages/*.jpg, SegmentationClass/*.png as palette PNGs (mode P, VOC palette, 255 void on region
  borders), ImageSets/Segmentation/*.txt; VOC2010 for PASCAL-Context: ImageSets/Main/*.txt.
- SBD: img/*.jpg, cls/*.mat holding the MATLAB struct GTcls with fields Boundaries (cell of sparse matrices),
  Segmentation (uint8) and CategoriesPresent, as scipy.io.savemat writes a struct; train.txt, val.txt.
- NYUD (the reference's prepared archive): data/images/img_*.png (8-bit RGB), data/hha/img_*.png (8-bit, three
  channels), data/depth/img_*.png (16-bit grayscale, millimetres, no zeros), segmentation/img_*.mat with
  'segmentation' (uint8, 0 void, 1..40); train.txt, val.txt, test.txt.
- SIFT Flow: Images/spatial_envelope_256x256_static_8outdoorcategories/*.jpg (256 x 256),
  SemanticLabels/.../*.mat and GeoLabels/.../*.mat with 'S' stored as double (MATLAB's default class; semantic
  0..33, geometric -1..3), TestSet1.txt with backslash lines, and the two unannotated images (all-zero
  labels).
- PASCAL-Context: trainval/*.mat with 'LabelMap' (uint16, values 1..L), labels.txt ("N: name", a toy full list
  that spells the 59 task classes as the real list does, with spaces in some names, plus distractors such as
  "clothes" and "dining table" that only a correct rename step avoids), 59_labels.txt ("N: name").

Everything is a function of the seed. A tree is built in a temporary sibling folder and renamed into place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

from .classes import CONTEXT_RENAMES, PASCALCONTEXT
from .files import atomic_path
from .palette import label_image
from .readers import SIFTFLOW_SUBDIR
from .splits import SIFTFLOW_UNANNOTATED

Size = tuple[int, int]  # (height, width)


@contextlib.contextmanager
def _staged(root: Path) -> Iterator[Path]:
    """Build into a temporary folder beside ``root``, then rename it to ``root`` (no half-built trees)."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty; miniature trees are built into a new folder")
    if root.exists():
        root.rmdir()  # an empty folder: the atomic rename takes its place
    with atomic_path(root, directory=True) as tmp:
        yield tmp


def _sizes(rng: np.random.Generator, n: int, size: Size | None, lo: Size = (24, 28),
           hi: Size = (40, 48)) -> list[Size]:
    """Per-image (H, W): fixed, or varied so that batch-1 evaluation sees different shapes."""
    if size is not None:
        return [tuple(size)] * n
    return [(int(rng.integers(lo[0], hi[0] + 1)), int(rng.integers(lo[1], hi[1] + 1))) for _ in range(n)]


def _photo(rng: np.random.Generator, size: Size) -> np.ndarray:
    """H x W x 3 uint8: a colour gradient plus noise (smooth enough for JPEG, varied enough to test values).
    """
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(30, 220, size=3)
    slope = rng.uniform(-60, 60, size=(2, 3))
    img = base + yy[..., None] / max(h, 1) * slope[0] + xx[..., None] / max(w, 1) * slope[1]
    img += rng.normal(0, 12, size=(h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _regions(rng: np.random.Generator, size: Size, values: Sequence[int], block: int = 8) -> np.ndarray:
    """H x W int64 label map of rectangular blocks drawn from ``values``."""
    h, w = size
    grid = rng.choice(np.asarray(values), size=(h // block + 1, w // block + 1))
    return np.kron(grid, np.ones((block, block), dtype=np.int64))[:h, :w].astype(np.int64)


def _write_list(path: Path, ids: Sequence[str], final_newline: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + ("\n" if final_newline and ids else ""))


def _jpeg(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def _png(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def _mat(path: Path, variables: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, variables)


def _default_splits(ids: list[str], names: Sequence[str]) -> dict[str, list[str]]:
    parts = np.array_split(np.arange(len(ids)), len(names))
    return {name: [ids[i] for i in part] for name, part in zip(names, parts, strict=True)}


def _union(split_lists: dict[str, list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for ids in split_lists.values():
        seen.update(dict.fromkeys(ids))
    return list(seen)


def voc_ids(n: int, first: int = 0) -> list[str]:
    """VOC-style ids (year_number)."""
    return [f"{2007 + k // 200}_{k:06d}" for k in range(first, first + n)]  # sorted, as VOC lists are


def build_voc(root: Path | str, *, splits: dict[str, list[str]] | None = None, n: int = 6, seed: int = 0,
              size: Size | None = None, image_sets: str = "Segmentation", labels: bool = True) -> Path:
    """A VOC year folder. ``splits``: name -> ids (default: train / val halves of n ids, and trainval).
    ``image_sets``: "Segmentation" (VOC segmentation) or "Main" (VOC2010 for PASCAL-Context)."""
    rng = np.random.default_rng(seed)
    if splits is None:
        splits = _default_splits(voc_ids(n), ("train", "val"))
        splits["trainval"] = splits["train"] + splits["val"]
    ids = _union(splits)
    with _staged(Path(root)) as tmp:
        for sample_id, hw in zip(ids, _sizes(rng, len(ids), size), strict=True):
            _jpeg(tmp / "JPEGImages" / f"{sample_id}.jpg", _photo(rng, hw))
            if labels:
                label = _regions(rng, hw, range(21))
                border = np.zeros_like(label, dtype=bool)
                border[:, 1:] = label[:, 1:] != label[:, :-1]  # VOC marks object borders as void
                label[border] = 255
                _png(tmp / "SegmentationClass" / f"{sample_id}.png", label_image(label))
        for name, split_ids in splits.items():
            _write_list(tmp / "ImageSets" / image_sets / f"{name}.txt", split_ids)
    return Path(root)


def build_sbd(root: Path | str, *, splits: dict[str, list[str]] | None = None, n: int = 6, seed: int = 1,
              size: Size | None = None) -> Path:
    """SBD's dataset/ folder: img/*.jpg, cls/*.mat (GTcls struct), train.txt and val.txt."""
    rng = np.random.default_rng(seed)
    splits = splits if splits is not None else _default_splits(voc_ids(n, first=100), ("train", "val"))
    ids = _union(splits)
    with _staged(Path(root)) as tmp:
        for sample_id, hw in zip(ids, _sizes(rng, len(ids), size), strict=True):
            _jpeg(tmp / "img" / f"{sample_id}.jpg", _photo(rng, hw))
            seg = _regions(rng, hw, range(21)).astype(np.uint8)
            boundaries = np.empty((20, 1), dtype=object)  # MATLAB cell: one sparse boundary map per class
            for c in range(20):
                edge = np.zeros(hw, dtype=bool)
                edge[:, 1:] = (seg[:, 1:] != seg[:, :-1]) & ((seg[:, 1:] == c + 1) | (seg[:, :-1] == c + 1))
                boundaries[c, 0] = scipy.sparse.csc_matrix(edge)
            present = np.array([[c] for c in np.unique(seg) if c > 0], dtype=np.uint8).reshape(-1, 1)
            _mat(tmp / "cls" / f"{sample_id}.mat",
                 {"GTcls": {"Boundaries": boundaries, "Segmentation": seg, "CategoriesPresent": present}})
        for name, split_ids in splits.items():
            _write_list(tmp / f"{name}.txt", split_ids)
    return Path(root)


def build_nyud(root: Path | str, *, splits: dict[str, list[str]] | None = None, n: int = 6, seed: int = 2,
               size: Size | None = None) -> Path:
    """The reference's prepared NYUD folder (ids 5001...): colour, HHA, 16-bit depth (mm) and 'segmentation'.
    """
    rng = np.random.default_rng(seed)
    splits = splits if splits is not None else _default_splits([str(5001 + k) for k in range(n)],
                                                               ("train", "val", "test"))
    ids = _union(splits)
    with _staged(Path(root)) as tmp:
        for sample_id, hw in zip(ids, _sizes(rng, len(ids), size), strict=True):
            _png(tmp / "data" / "images" / f"img_{sample_id}.png", Image.fromarray(_photo(rng, hw)))
            _png(tmp / "data" / "hha" / f"img_{sample_id}.png", Image.fromarray(_photo(rng, hw)))
            depth = rng.integers(500, 9000, size=hw).astype(np.uint16)  # millimetres, filled (no zeros)
            _png(tmp / "data" / "depth" / f"img_{sample_id}.png", Image.fromarray(depth))
            seg = _regions(rng, hw, range(41)).astype(np.uint8)  # 0 = void, 1..40 classes
            _mat(tmp / "segmentation" / f"img_{sample_id}.mat", {"segmentation": seg})
        for name, split_ids in splits.items():
            _write_list(tmp / f"{name}.txt", split_ids)
    return Path(root)


# -- NYU's originals, from which data.nyud builds the NYUD folder ----------------------------------------------
NYU_MAT_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Oct  3 09:42:17 2012 HDF5 schema 1.00 ."


def nyu_half_depths(count: int) -> np.ndarray:
    """float32 depths in metres whose single-precision product with 1000 is exactly k + 0.5 while the exact
    product (in float64) is below it: MATLAB's uint16(depths * 1000) rounds them up, float64 arithmetic down."""
    found = []
    for k in range(1000, 60000):
        x = np.float32((k + 0.5) / 1000)
        if x * np.float32(1000) == np.float32(k + 0.5) and float(x) * 1000 < k + 0.5:
            found.append(x)
            if len(found) == count:
                break
    return np.array(found, dtype=np.float32)


def _room_depth(rng: np.random.Generator, height: int = 480, width: int = 640) -> np.ndarray:
    """H x W float32 metres: a floor and a back wall seen by a camera tilted down, as a Kinect sees a room."""
    v, u = np.mgrid[1:height + 1, 1:width + 1].astype(np.float64)
    tilt = np.deg2rad(rng.uniform(5, 20))
    ray_y = (v - 253.7) / 519.5 * np.cos(tilt) + np.sin(tilt)  # the ray's downward component per unit of depth
    ray_z = np.cos(tilt) - (v - 253.7) / 519.5 * np.sin(tilt)
    camera_height, wall = rng.uniform(1.0, 1.6), rng.uniform(3.0, 5.0) + (u - 325.6) / 519 * rng.uniform(-0.5, 0.5)
    floor = np.where(ray_y > 1e-3, camera_height / np.maximum(ray_y, 1e-3) * ray_z, np.inf)
    return np.minimum(floor, wall / np.maximum(ray_z, 1e-3)).astype(np.float32)


def build_nyu_originals(folder: Path | str, *, n: int = 3, test: Sequence[int] = (2,), val: Sequence[int] = (),
                        seed: int = 5, holes: bool = True) -> dict[str, Path]:
    """NYU's originals for ``n`` images, as published: ``nyu_depth_v2_labeled.mat`` in NYU's MATLAB v7.3 layout
    (HDF5 behind a 512-byte MATLAB header, MATLAB_class attributes, axes reversed: images (n, 3, 640, 480) uint8,
    depths and rawDepths (n, 640, 480) single, labels (n, 640, 480) uint16 in 0..894, instances uint8),
    ``splits.mat`` (trainNdxs, testNdxs as uint16 columns) and ``classMapping40.mat`` (mapClass 1 x 894 uint8,
    className the 40 names), both MATLAB v5 as published; and the three lists (ids 5000 + i). ``test`` and
    ``val`` are 1-based image numbers; every other image is train. Depth holds ``nyu_half_depths`` values in
    its first cropped row; rawDepths has holes (zeros) where ``holes``. Returns the paths by part key."""
    import h5py

    from .classes import CLASSES

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = np.stack([_photo(rng, (480, 640)).transpose(2, 1, 0) for _ in range(n)])
    depths = np.stack([_room_depth(rng) for _ in range(n)])  # H x W per image
    half = nyu_half_depths(16)
    depths[:, 45, 40:40 + len(half)] = half  # the first row of the crop
    raw = depths.copy()
    if holes:
        raw[:, 200:240, 300:360] = 0  # a patch the sensor missed
        raw[:, 45:60, 500:600] = 0
    labels = np.stack([_regions(rng, (480, 640), range(NYU_CLASSES_ALL + 1), block=40) for _ in range(n)])
    labels[:, 100:140, 100:200] = 0  # unlabeled
    fields = {"images": (images, "uint8"), "depths": (depths.transpose(0, 2, 1), "single"),
              "rawDepths": (raw.transpose(0, 2, 1), "single"),
              "labels": (labels.transpose(0, 2, 1).astype(np.uint16), "uint16"),
              "instances": ((labels.transpose(0, 2, 1) % 7).astype(np.uint8), "uint8")}
    labeled = folder / "nyu_depth_v2_labeled.mat"
    with atomic_path(labeled) as tmp:
        with h5py.File(tmp, "w", userblock_size=512) as f:
            for name, (array, matlab_class) in fields.items():
                d = f.create_dataset(name, data=array, chunks=(1, *array.shape[1:]), compression="gzip",
                                     compression_opts=3)
                d.attrs["MATLAB_class"] = np.bytes_(matlab_class)
        with tmp.open("r+b") as f:  # MATLAB's 128-byte header at the start of the userblock
            f.write(NYU_MAT_HEADER.ljust(116) + b"\0" * 8 + b"\x00\x02" + b"IM")
    numbers = list(range(1, n + 1))
    train = [i for i in numbers if i not in set(test) | set(val)]
    splits = folder / "splits.mat"
    scipy.io.savemat(splits, {"trainNdxs": np.array(sorted(train + list(val)), np.uint16)[:, None],
                              "testNdxs": np.array(list(test), np.uint16)[:, None]})
    classes40 = folder / "classMapping40.mat"
    names = np.empty((1, 40), dtype=object)
    names[0, :] = list(CLASSES[("nyud", "label")])
    scipy.io.savemat(classes40, {"mapClass": rng.integers(1, 41, size=(1, NYU_CLASSES_ALL)).astype(np.uint8),
                                 "className": names})
    out = {"nyud-labeled": labeled, "nyud-splits": splits, "nyud-classes40": classes40}
    for split, chosen in (("train", train), ("val", list(val)), ("test", list(test))):
        out[f"nyud-{split}"] = folder / f"{split}.txt"
        _write_list(out[f"nyud-{split}"], [str(5000 + i) for i in chosen], final_newline=split == "val")
    return out


NYU_CLASSES_ALL = 894  # NYU's label values: 1..894, 0 unlabeled


_SIFTFLOW_CATEGORIES = ("coast", "forest", "highway", "insidecity", "mountain", "opencountry", "street",
                        "tallbuilding")


def siftflow_ids(n: int, first: int = 0) -> list[str]:
    """SIFT Flow-style ids (category_name + number)."""
    return [f"{_SIFTFLOW_CATEGORIES[k % 8]}_mini{k}" for k in range(first, first + n)]


def build_siftflow(root: Path | str, *, test: Sequence[str] | None = None, train: Sequence[str] | None = None,
                   seed: int = 3, size: Size = (256, 256), unannotated: bool = True) -> Path:
    """A SiftFlowDataset folder. ``test`` ids go to TestSet1.txt; ``train`` ids are the other annotated
    images; ``unannotated`` adds highway_bost181 and street_urb506 with all-zero labels, as in the real
    dataset."""
    rng = np.random.default_rng(seed)
    test = list(test) if test is not None else siftflow_ids(2)
    train = list(train) if train is not None else siftflow_ids(4, first=2)
    extra = list(SIFTFLOW_UNANNOTATED) if unannotated else []
    with _staged(Path(root)) as tmp:
        for sample_id in test + train + extra:
            _jpeg(tmp / "Images" / SIFTFLOW_SUBDIR / f"{sample_id}.jpg", _photo(rng, size))
            if sample_id in extra:
                sem = np.zeros(size, dtype=np.float64)
                geo = np.zeros(size, dtype=np.float64)
            else:
                sem = _regions(rng, size, range(34), block=32).astype(np.float64)  # 0 void, 1..33
                geo = _regions(rng, size, range(-1, 4), block=32).astype(np.float64)  # -1/0 void, 1..3
            _mat(tmp / "SemanticLabels" / SIFTFLOW_SUBDIR / f"{sample_id}.mat", {"S": sem})
            _mat(tmp / "GeoLabels" / SIFTFLOW_SUBDIR / f"{sample_id}.mat", {"S": geo})
        lines = [f"{SIFTFLOW_SUBDIR}\\{i}.jpg" for i in test]
        _write_list(tmp / "TestSet1.txt", lines)
    return Path(root)


_CONTEXT_DISTRACTORS = ("accordion", "air conditioner", "clothes", "dining table", "bed cloth", "antenna",
                        "ashtray", "badge", "balloon", "barrel", "basket", "bell", "blackboard", "bowl",
                        "brick", "bucket", "candle", "chain", "clock", "crane", "fan", "flag", "glass", "hat")


def context_label_lists(seed: int = 4) -> tuple[list[str], list[str]]:
    """A toy labels.txt (full list, "N: name" lines) and the 59_labels.txt lines."""
    rng = np.random.default_rng(seed)
    full = []
    for name in PASCALCONTEXT[1:]:
        main = CONTEXT_RENAMES.get(name, name)
        # Some real names have spaces; the reference removes them before matching.
        full.append({"pottedplant": "potted plant", "tvmonitor": "tv monitor", "bedclothes": "bed clothes"}
                    .get(main, main))
    full += list(_CONTEXT_DISTRACTORS)
    full = [full[i] for i in rng.permutation(len(full))]
    return ([f"{k + 1}: {name}" for k, name in enumerate(full)],
            [f"{k}: {name}" for k, name in enumerate(PASCALCONTEXT[1:], start=1)])


def build_pascalcontext(root: Path | str, voc_root: Path | str, *, splits: dict[str, list[str]] | None = None,
                        n: int = 6, seed: int = 4, size: Size | None = None) -> Path:
    """A PASCAL-Context folder (trainval/*.mat, labels.txt, 59_labels.txt) and its VOC2010 folder (JPEGImages,
    ImageSets/Main/{train,val}.txt)."""
    rng = np.random.default_rng(seed)
    splits = splits if splits is not None else _default_splits(voc_ids(n, first=200), ("train", "val"))
    ids = _union(splits)
    build_voc(voc_root, splits=splits, seed=seed + 1000, size=size, image_sets="Main", labels=False)
    full, task = context_label_lists(seed)
    with _staged(Path(root)) as tmp:
        _write_list(tmp / "labels.txt", full)
        _write_list(tmp / "59_labels.txt", task)
        for sample_id in ids:
            with Image.open(Path(voc_root) / "JPEGImages" / f"{sample_id}.jpg") as im:
                hw = (im.height, im.width)
            label_map = _regions(rng, hw, range(1, len(full) + 1)).astype(np.uint16)
            _mat(tmp / "trainval" / f"{sample_id}.mat", {"LabelMap": label_map})
    return Path(root)


def build_voc_training(root: Path | str, n: int, train: int, *, voc_size: Size | None = (12, 14),
                       seed: int = 0) -> Path:
    """A $FCN_DATA-style root for training a VOC net: VOC2011 with n ids (the first ``train`` in train, the rest
    in val, seg11valid pinned to val by a list file) and SBD (train: those ``train`` ids plus three of its own;
    val: the first VOC val id), SBD's pictures 12x14."""
    root = Path(root)
    voc = voc_ids(n)
    build_voc(root / "VOC2011", splits={"train": voc[:train], "val": voc[train:], "trainval": voc}, seed=seed,
              size=voc_size)
    build_sbd(root / "sbd", splits={"train": voc[:train] + voc_ids(3, 100), "val": voc[train:train + 1]},
              size=(12, 14), seed=seed + 1)
    (root / "VOC2011" / "seg11valid.txt").write_text("\n".join(voc[train:]) + "\n")
    return root


def build_all(root: Path | str, seed: int = 0) -> Path:
    """Every dataset under one root in the $FCN_DATA layout (layout.py): VOC2011 whose val half overlaps SBD
    train (so seg11valid is a proper difference), sbd, nyud, siftflow, VOC2010 and pascalcontext. Splits
    are toy lists, so load them with expect_split=None."""
    root = Path(root)
    voc = voc_ids(8)
    build_voc(root / "VOC2011", splits={"train": voc[:4], "val": voc[4:], "trainval": voc}, seed=seed)
    build_sbd(root / "sbd", splits={"train": voc[:2] + voc[4:6] + voc_ids(4, 100), "val": voc_ids(2, 104)},
              seed=seed + 1)
    build_nyud(root / "nyud", seed=seed + 2)
    build_siftflow(root / "siftflow", seed=seed + 3)
    build_pascalcontext(root / "pascalcontext", root / "VOC2010", seed=seed + 4)
    return root
