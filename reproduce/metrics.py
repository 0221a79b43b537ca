"""Segmentation scores from one confusion matrix accumulated over a whole split (ledger: metrics.formulas).

>>> hist = np.zeros((21, 21), np.int64)
>>> for label, pred in pairs:
...     hist += fast_hist(label, pred, 21)
>>> scores(hist)["mean_iu"]

Scores are fractions in [0, 1], as the reference's scorer prints them; the paper's tables (reproduce.tables)
are in percent.
"""

from __future__ import annotations

import numpy as np

SCORE_KEYS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu")


def fast_hist(label: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """The n x n confusion matrix of one image: rows are the ground truth, columns the prediction, int64.

    Pixels whose label lies outside [0, n) (255 = ignore) are not counted. A prediction outside [0, n) on a
    counted pixel is an error, not something to drop: an argmax over n scores cannot produce one.
    """
    label = np.asarray(label)
    pred = np.asarray(pred)
    if label.shape != pred.shape:
        raise ValueError(f"label and prediction must have one shape, found {label.shape} and {pred.shape}; "
                         "crop or upsample the prediction to the label's size before scoring")
    if n < 1:
        raise ValueError(f"the number of classes must be positive, found {n}")
    label = label.astype(np.int64, copy=False).ravel()
    pred = pred.astype(np.int64, copy=False).ravel()
    counted = (label >= 0) & (label < n)
    label, pred = label[counted], pred[counted]
    if pred.size and (pred.min() < 0 or pred.max() >= n):
        raise ValueError(f"predictions must be class indices in [0, {n}), found values from {pred.min()} to "
                         f"{pred.max()}")
    return np.bincount(n * label + pred, minlength=n * n).reshape(n, n).astype(np.int64, copy=False)


def _check_counts(hist: np.ndarray) -> None:
    """Pixel counts: integers, or floats holding whole numbers (the reference's compute_hist accumulates its
    int64 per-image matrices into a float64 np.zeros, exact up to 2**53 pixels). Names the first bad entry."""
    if np.issubdtype(hist.dtype, np.integer):
        bad = hist < 0
    elif np.issubdtype(hist.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(hist) | (hist < 0) | (hist != np.floor(hist))
    else:
        raise ValueError(f"a confusion matrix holds pixel counts (integers, or floats of whole numbers), found "
                         f"dtype {hist.dtype}")
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"a confusion matrix holds non-negative whole pixel counts; entry [{i}, {j}] (ground "
                         f"truth {i}, predicted {j}) is {hist[i, j].item()!r} ({int(bad.sum())} bad in all)")


def scores(hist: np.ndarray, present_only: bool = False) -> dict[str, float | list[float]]:
    """pixel_accuracy, mean_accuracy, mean_iu, fw_iu (floats) and per_class_iu (a list, NaN for a skipped
    class) from a confusion matrix with ground-truth rows (integer counts, or a float matrix of whole numbers
    such as the reference scorer's).

    Default: the reference scorer's nan-mean. A class with neither ground truth nor predictions has IU 0/0 and
    is skipped; a class that is predicted but absent from the ground truth counts with IU 0. Mean accuracy
    skips classes without ground truth (their accuracy is 0/0).

    ``present_only=True``: the paper's SIFT Flow variant, averaging mean IU over the classes present in the
    ground truth only, so a predicted-but-absent class is skipped too.
    """
    hist = np.asarray(hist)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError(f"a confusion matrix is square, found shape {hist.shape}")
    _check_counts(hist)
    total = int(hist.sum())
    if total == 0:
        raise ValueError("the confusion matrix is empty: no pixel had a label in [0, n); check the labels "
                         "and the number of classes")
    hist = hist.astype(np.float64)
    diag = np.diag(hist)
    gt = hist.sum(axis=1)  # t_i
    predicted = hist.sum(axis=0)  # sum_j n_ji
    union = gt + predicted - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = diag / gt  # NaN where t_i = 0
        iu = diag / union  # NaN where the class is neither labelled nor predicted
    if present_only:
        iu = np.where(gt > 0, iu, np.nan)
    freq = gt / total
    return {
        "pixel_accuracy": float(diag.sum() / total),
        "mean_accuracy": float(np.nanmean(acc)),
        "mean_iu": float(np.nanmean(iu)),
        # Classes without ground truth have weight 0; leaving them out keeps a NaN IU from poisoning the sum.
        "fw_iu": float((freq[gt > 0] * iu[gt > 0]).sum()),
        "per_class_iu": [float(x) for x in iu],
    }
