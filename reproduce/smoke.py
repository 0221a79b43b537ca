"""Miniature datasets for smoke runs (``make reproduce-tableN SMOKE=1``): data.miniature trees in the $FCN_DATA
layout, with small images so that a VGG16 FCN runs them in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

SIZE = (24, 28)  # (H, W) of every generated image; the nets pad by 100, so the cost barely depends on it


def build_voc(root: Path, test_images: int = 0) -> None:
    """VOC2011 whose val half overlaps SBD train (seg11valid = VOC2011 val minus SBD train = 1 image: a VGG16
    forward pass costs seconds on a busy 2-core CPU), SBD, and optionally VOC2012 with a test split of images
    only (for the PASCAL submission)."""
    from data import miniature as mini

    voc = mini.voc_ids(4)
    mini.build_voc(root / "VOC2011", splits={"train": voc[:2], "val": voc[2:], "trainval": voc}, size=SIZE)
    mini.build_sbd(root / "sbd", splits={"train": voc[:3] + mini.voc_ids(2, 100), "val": mini.voc_ids(1, 104)},
                   size=SIZE)
    if test_images:
        mini.build_voc(root / "VOC2012", splits={"test": mini.voc_ids(test_images, 300)}, size=SIZE, labels=False)


def build_for(dataset: str, root: Path) -> None:
    """The miniature tree a table on ``dataset`` reads."""
    from data import miniature as mini

    root = Path(root)
    if dataset == "voc":
        build_voc(root)
    elif dataset == "nyud":
        ids = [str(5001 + k) for k in range(4)]
        mini.build_nyud(root / "nyud", splits={"train": ids[:1], "val": ids[1:2], "test": ids[2:]}, size=SIZE)
    elif dataset == "siftflow":
        mini.build_siftflow(root / "siftflow", test=mini.siftflow_ids(2), train=mini.siftflow_ids(1, first=2),
                            size=SIZE)
    elif dataset == "pascalcontext":
        mini.build_pascalcontext(root / "pascalcontext", root / "VOC2010",
                                 splits={"train": mini.voc_ids(1, 200), "val": mini.voc_ids(2, 201)}, size=SIZE)
    else:
        raise ValueError(f"no miniature tree for dataset {dataset!r}")
