"""The training sampler replays the reference's Python 2 draws; the loaders batch one image per step."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import data
from data import miniature
from data.loaders import ReferenceSampler, collate_one


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> data.Reader:
    voc = miniature.build_voc(tmp_path_factory.mktemp("loaders") / "VOC2011", n=6)
    return data.load("voc", "trainval", voc, expect_split=None)


def test_reference_sampler_replays_python2_randint_first_draws_for_8498() -> None:
    draws = list(itertools.islice(iter(ReferenceSampler(8498, seed=1337)), 3))
    assert draws == [5249, 4531, 3108]  # Python 2's random.randint(0, 8497) under seed 1337


def test_sampler_start_resumes_the_sequence_mid_way() -> None:
    whole = list(ReferenceSampler(100, steps=10))
    assert list(ReferenceSampler(100, start=4, steps=6)) == whole[4:]
    assert len(ReferenceSampler(100, steps=10)) == 10
    assert all(0 <= i < 100 for i in whole)
    with pytest.raises(TypeError, match="endless"):
        len(ReferenceSampler(100))


def test_train_loader_yields_the_sampled_images_one_per_step(reader: data.Reader) -> None:
    positions = list(ReferenceSampler(len(reader), steps=5))
    loader = data.train_loader(reader, steps=5, workers=0)
    seen = []
    for (sample_id, tops), position in zip(loader, positions, strict=True):
        seen.append(sample_id)
        assert sample_id == reader.ids[position]
        expected = reader[position]
        assert tops["data"].shape == (1, *expected["data"].shape) and tops["data"].dtype == torch.float32
        assert tops["label"].shape == (1, *expected["label"].shape) and tops["label"].dtype == torch.uint8
        np.testing.assert_array_equal(tops["data"][0].numpy(), expected["data"])
    assert len(seen) == 5


def test_eval_loader_reads_the_split_in_order_in_worker_processes(reader: data.Reader) -> None:
    loader = data.eval_loader(reader, workers=2, pin_memory=False)
    assert loader.num_workers == 2 and loader.batch_size == 1
    got = [(sample_id, tops) for sample_id, tops in loader]
    assert [sample_id for sample_id, _ in got] == list(reader.ids)
    shapes = {tuple(tops["data"].shape) for _, tops in got}
    assert len(shapes) > 1, "miniature images vary in size; batch 1 must carry each as it is"
    for i, (_, tops) in enumerate(got):
        expected = reader[i]
        np.testing.assert_array_equal(tops["data"][0].numpy(), expected["data"])
        np.testing.assert_array_equal(tops["label"][0].numpy(), expected["label"])


def test_batches_hold_one_image() -> None:
    item = ("a", {"data": np.zeros((3, 2, 2), np.float32)})
    with pytest.raises(ValueError, match="one image"):
        collate_one([item, item])


def test_loader_reports_a_bad_image_by_id(tmp_path: Path) -> None:
    voc = miniature.build_voc(tmp_path / "VOC2011", n=2)
    reader = data.load("voc", "train", voc, expect_split=None)
    (voc / "JPEGImages" / f"{reader.ids[0]}.jpg").write_bytes(b"broken")
    with pytest.raises(data.BadSampleError, match=reader.ids[0]):
        list(data.eval_loader(reader, workers=0))
