"""reproduce.metrics against confusion matrices worked out by hand (ledger: metrics.formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reproduce.metrics import fast_hist, scores


def test_fast_hist_rows_are_ground_truth_and_255_is_not_counted():
    label = np.array([[0, 0, 1], [255, 2, 1]], np.uint8)
    pred = np.array([[0, 1, 1], [2, 2, 0]], np.int64)
    # Counted (gt, pred) pairs: (0,0) (0,1) (1,1) (2,2) (1,0); the 255 pixel is dropped.
    expected = np.array([[1, 1, 0],
                         [1, 1, 0],
                         [0, 0, 1]])
    hist = fast_hist(label, pred, 3)
    assert hist.dtype == np.int64
    np.testing.assert_array_equal(hist, expected)


def test_fast_hist_drops_labels_outside_0_to_n_including_negative():
    label = np.array([-1, 3, 7, 1])
    pred = np.array([0, 1, 2, 2])
    expected = np.zeros((3, 3), np.int64)
    expected[1, 2] = 1  # only the label-1 pixel lies in [0, 3)
    np.testing.assert_array_equal(fast_hist(label, pred, 3), expected)


def test_fast_hist_summed_over_images_equals_hist_of_all_pixels():
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 5, (4, 6)) for _ in range(3)]
    preds = [rng.integers(0, 4, (4, 6)) for _ in range(3)]
    labels[1][0, :] = 255
    accumulated = sum(fast_hist(lab, p, 4) for lab, p in zip(labels, preds, strict=True))
    whole = fast_hist(np.concatenate([x.ravel() for x in labels]),
                      np.concatenate([x.ravel() for x in preds]), 4)
    np.testing.assert_array_equal(accumulated, whole)
    assert accumulated.sum() == sum(int(((x >= 0) & (x < 4)).sum()) for x in labels)


def test_fast_hist_rejects_shape_mismatch_and_out_of_range_predictions():
    with pytest.raises(ValueError, match="one shape"):
        fast_hist(np.zeros((2, 3)), np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        fast_hist(np.zeros(3), np.array([0, 1, 2]), 2)


def test_scores_of_a_3_class_matrix_match_the_hand_computed_values():
    hist = np.array([[3, 1, 0],
                     [0, 2, 2],
                     [1, 0, 1]], np.int64)
    # t = (4, 4, 2), total 10, diagonal (3, 2, 1), column sums (4, 3, 3).
    # pixel accuracy = 6 / 10
    # accuracies 3/4, 2/4, 1/2 -> mean 7/12
    # unions 4+4-3 = 5, 4+3-2 = 5, 2+3-1 = 4 -> IU 3/5, 2/5, 1/4 -> mean 5/12
    # fw IU = (4 * 3/5 + 4 * 2/5 + 2 * 1/4) / 10 = 0.45
    s = scores(hist)
    assert s["pixel_accuracy"] == pytest.approx(0.6)
    assert s["mean_accuracy"] == pytest.approx(7 / 12)
    assert s["mean_iu"] == pytest.approx(5 / 12)
    assert s["fw_iu"] == pytest.approx(0.45)
    assert s["per_class_iu"] == pytest.approx([0.6, 0.4, 0.25])
    # Every class is present in the ground truth, so the SIFT Flow variant agrees.
    assert scores(hist, present_only=True) == s


def _absent_and_predicted_but_absent() -> np.ndarray:
    # Class 2: neither labelled nor predicted. Class 3: predicted once, never labelled.
    return np.array([[2, 0, 0, 1],
                     [0, 3, 0, 0],
                     [0, 0, 0, 0],
                     [0, 0, 0, 0]], np.int64)


def test_nan_mean_skips_an_absent_class_and_counts_a_predicted_but_absent_class_as_zero():
    s = scores(_absent_and_predicted_but_absent())
    # t = (3, 3, 0, 0), column sums (2, 3, 0, 1), diagonal (2, 3, 0, 0).
    # IU: 2 / (3+2-2) = 2/3; 3 / (3+3-3) = 1; class 2: 0/0 -> skipped; class 3: 0 / (0+1-0) = 0.
    # mean IU = (2/3 + 1 + 0) / 3 = 5/9
    assert s["mean_iu"] == pytest.approx(5 / 9)
    assert s["per_class_iu"][:2] == pytest.approx([2 / 3, 1.0])
    assert math.isnan(s["per_class_iu"][2])
    assert s["per_class_iu"][3] == 0.0
    # accuracies 2/3, 3/3 (classes 2 and 3 have no ground truth: skipped) -> 5/6; pixel accuracy 5/6
    assert s["mean_accuracy"] == pytest.approx(5 / 6)
    assert s["pixel_accuracy"] == pytest.approx(5 / 6)
    # fw IU = (3 * 2/3 + 3 * 1) / 6 = 5/6
    assert s["fw_iu"] == pytest.approx(5 / 6)


def test_present_only_averages_mean_iu_over_ground_truth_classes_only():
    s = scores(_absent_and_predicted_but_absent(), present_only=True)
    # The predicted-but-absent class 3 is now skipped too: (2/3 + 1) / 2 = 5/6.
    assert s["mean_iu"] == pytest.approx(5 / 6)
    assert math.isnan(s["per_class_iu"][3])
    # The other scores do not depend on the variant.
    assert s["pixel_accuracy"] == pytest.approx(5 / 6)
    assert s["mean_accuracy"] == pytest.approx(5 / 6)
    assert s["fw_iu"] == pytest.approx(5 / 6)


def test_scores_reject_an_empty_or_non_square_matrix():
    with pytest.raises(ValueError, match="empty"):
        scores(np.zeros((3, 3), np.int64))
    with pytest.raises(ValueError, match="square"):
        scores(np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="non-negative"):
        scores(np.array([[1.5, 0], [0, 1]]))


def test_scores_accept_the_reference_scorers_float64_histogram():
    """The reference's compute_hist adds each image's fast_hist into np.zeros((n, n)), a float64 matrix."""
    rng = np.random.default_rng(5)
    hist_ref = np.zeros((4, 4))
    hist_int = np.zeros((4, 4), np.int64)
    for _ in range(3):
        label, pred = rng.integers(0, 4, (2, 7, 9))
        label[0, :3] = 255
        hist_ref += fast_hist(label, pred, 4)
        hist_int += fast_hist(label, pred, 4)
    assert hist_ref.dtype == np.float64
    assert scores(hist_ref) == scores(hist_int)
    assert scores(hist_ref.astype(np.float32), present_only=True) == scores(hist_int, present_only=True)


@pytest.mark.parametrize("value, shown", [(2.5, "2.5"), (-1.0, "-1.0"), (float("nan"), "nan"),
                                          (float("inf"), "inf")])
def test_scores_refuse_a_fractional_or_negative_count_naming_the_entry(value, shown):
    hist = np.eye(3) * 10
    hist[1, 2] = value
    with pytest.raises(ValueError, match=rf"entry \[1, 2\] \(ground truth 1, predicted 2\) is {shown}"):
        scores(hist)
    with pytest.raises(ValueError, match=r"entry \[0, 1\] .* is -3"):
        scores(np.array([[1, -3], [0, 1]]))
    with pytest.raises(ValueError, match="found dtype bool"):
        scores(np.eye(2, dtype=bool))
