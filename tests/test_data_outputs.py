"""Palette PNGs, overlays, the net feeding table and the miniature builders."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import data
from data import miniature


def test_voc_palette_has_the_pascal_colours() -> None:
    p = data.voc_palette()
    assert p.shape == (256, 3) and p.dtype == np.uint8
    known = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
             15: (192, 128, 128), 20: (0, 64, 128), 255: (224, 224, 192)}
    for index, rgb in known.items():
        assert tuple(p[index]) == rgb, index
    assert len({tuple(c) for c in p}) == 256  # bit interleaving is a bijection


def test_prediction_png_round_trips_as_palette_indices(tmp_path: Path) -> None:
    label = np.random.default_rng(0).integers(0, 21, size=(7, 9)).astype(np.int64)
    label[0, :] = 255
    path = data.save_label_png(tmp_path / "out" / "2008_000001.png", label)
    with Image.open(path) as im:
        assert im.mode == "P" and im.format == "PNG"
        np.testing.assert_array_equal(np.array(im), label)
        palette = np.array(im.getpalette()[: 256 * 3], dtype=np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(palette, data.VOC_PALETTE)
    assert sorted(p.name for p in path.parent.iterdir()) == ["2008_000001.png"]  # no temporary left behind


def test_label_png_refuses_values_a_palette_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0..255"):
        data.save_label_png(tmp_path / "x.png", np.array([[0, 300]]))
    with pytest.raises(ValueError, match="H x W integer"):
        data.save_label_png(tmp_path / "x.png", np.zeros((2, 2), np.float32))
    assert not list(tmp_path.iterdir())


def test_overlay_blends_image_and_label_colours(tmp_path: Path) -> None:
    rgb = np.full((4, 5, 3), 100, dtype=np.uint8)
    label = np.zeros((4, 5), dtype=np.uint8)
    label[1:3, 1:4] = 15
    np.testing.assert_array_equal(np.array(data.overlay(rgb, label, alpha=0.0)), rgb)
    np.testing.assert_array_equal(np.array(data.overlay(rgb, label, alpha=1.0)), data.colorize(label))
    half = np.array(data.overlay(rgb, label, alpha=0.5))
    np.testing.assert_array_equal(half[2, 2], [146, 114, 114])  # (100 + (192, 128, 128)) / 2
    path = data.save_overlay(tmp_path / "o.png", Image.fromarray(rgb), label)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (5, 4)
    with pytest.raises(ValueError, match="must match"):
        data.overlay(rgb, label[:3])


def test_overlay_of_a_reader_sample_restores_the_image(tmp_path: Path) -> None:
    voc = miniature.build_voc(tmp_path / "VOC2011", n=2)
    reader = data.load("voc", "train", voc, expect_split=None)
    item = reader[0]
    rgb = data.deprocess_image(item["data"], "voc")
    np.testing.assert_array_equal(rgb, np.array(Image.open(reader.image_path(reader.ids[0]))))
    assert data.overlay(rgb, item["label"]).size == rgb.shape[1::-1]


def test_miniature_trees_are_deterministic_from_the_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        miniature.build_nyud(tmp_path / name / "nyud", n=3, seed=7)
        miniature.build_voc(tmp_path / name / "VOC2011", n=2, seed=7)
    compared = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    files = [p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()]
    assert len(files) > 10
    for rel in files:
        assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False), rel
    assert not compared.left_only and not compared.right_only
    miniature.build_voc(tmp_path / "c" / "VOC2011", n=2, seed=8)
    assert (tmp_path / "c/VOC2011/JPEGImages").is_dir()
    first = next((tmp_path / "a/VOC2011/JPEGImages").iterdir()).name
    other_seed = tmp_path / "c/VOC2011/JPEGImages" / first
    assert not filecmp.cmp(tmp_path / "a/VOC2011/JPEGImages" / first, other_seed, shallow=False)


def test_miniature_refuses_to_build_into_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "VOC2011").mkdir()
    (tmp_path / "VOC2011" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        miniature.build_voc(tmp_path / "VOC2011")
    assert [p.name for p in tmp_path.iterdir()] == ["VOC2011"]  # no staging folder left behind


def test_miniature_sbd_label_is_a_matlab_struct_like_sbd(tmp_path: Path) -> None:
    import scipy.io

    sbd = miniature.build_sbd(tmp_path / "sbd", n=2)
    sample_id = (sbd / "train.txt").read_text().split()[0]
    gt = scipy.io.loadmat(sbd / "cls" / f"{sample_id}.mat")["GTcls"]
    assert gt.shape == (1, 1) and set(gt.dtype.names) == {"Boundaries", "Segmentation", "CategoriesPresent"}
    assert gt[0]["Segmentation"][0].dtype == np.uint8 and gt[0]["Boundaries"][0].shape == (20, 1)
