"""Per-image metrics of binary masks at threshold 0.5.

Dice, IoU, precision and recall follow smp.metrics' ``zero_division=1`` convention: a ratio whose
denominator is zero scores 1 (an empty prediction on an empty mask has Dice 1; an empty prediction has
precision 1). The study's headline number is the mean of per-image Dice ("micro-imagewise" in smp's
terms), not a Dice pooled over all pixels of the test set; both are reported (field-notes section 3.3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["THRESHOLD", "METRIC_COLUMNS", "confusion", "per_image_metrics", "summarise"]

THRESHOLD = 0.5
METRIC_COLUMNS = ["dice", "iou", "precision", "recall"]


def confusion(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image ``[tp, fp, fn, tn]`` counts, shape ``(N, 4)``, of boolean ``(N, H, W)`` arrays."""
    pred = pred.reshape(len(pred), -1).astype(bool)
    target = target.reshape(len(target), -1).astype(bool)
    tp = (pred & target).sum(1)
    fp = (pred & ~target).sum(1)
    fn = (~pred & target).sum(1)
    tn = (~pred & ~target).sum(1)
    return np.stack([tp, fp, fn, tn], axis=1).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.ones(num.shape, dtype=np.float64)
    nz = den > 0
    out[nz] = num[nz] / den[nz]
    return out


def per_image_metrics(pred: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    """Dice, IoU, precision and recall per image.

    Args:
        pred: boolean predictions ``(N, H, W)`` (probabilities already thresholded at :data:`THRESHOLD`).
        target: boolean ground truth of the same shape.

    Returns:
        DataFrame with columns ``dice, iou, precision, recall, tp, fp, fn``, one row per image.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    c = confusion(pred, target)
    tp, fp, fn = c[:, 0], c[:, 1], c[:, 2]
    return pd.DataFrame({
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "tp": tp, "fp": fp, "fn": fn,
    })


def summarise(per_image: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of a per-image table: means, medians, sd, pooled Dice, n_images."""
    out: dict[str, float] = {"n_images": int(len(per_image))}
    for col in METRIC_COLUMNS + [c for c in ("hd95",) if c in per_image]:
        values = per_image[col].astype(float)
        out[f"{col}_mean"] = float(values.mean())
        out[f"{col}_median"] = float(values.median())
        out[f"{col}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    tp, fp, fn = (float(per_image[k].sum()) for k in ("tp", "fp", "fn"))
    out["dice_pooled"] = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 1.0
    return out
