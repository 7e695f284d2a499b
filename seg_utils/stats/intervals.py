"""Confidence intervals over test images: the mean of a per-image metric (BCa bootstrap) and the pooled Dice.

Reference: Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (ch. 14, BCa).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_nan

__all__ = ["bootstrap_ci", "run_ci", "pooled_dice_ci"]


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean, resampling the values (images) with replacement.

    Uses ``scipy.stats.bootstrap(method="BCa")``. BCa rather than the percentile interval because per-image Dice
    is bounded at 1 with a long left tail of failed images, so the bootstrap distribution of its mean is skewed at
    the test-set sizes of this study; BCa corrects for that bias and skew and has second-order accurate coverage,
    where the percentile interval is only first-order accurate (Efron & Tibshirani 1993, ch. 14).

    Degenerate inputs are answered without calling scipy (whose BCa is undefined there): fewer than two values ->
    ``(nan, nan)``; all values equal to ``v`` -> ``(v, v)``.

    Args:
        values: 1-D per-image values (any array-like; flattened).
        confidence: two-sided confidence level, in (0, 1).
        n_resamples: number of bootstrap resamples.
        seed: seed of the ``numpy.random.Generator`` used for resampling; the same inputs and seed give the same
            interval.

    Returns:
        ``(low, high)`` as floats.

    Raises:
        ValueError: if ``values`` contains NaN, or ``confidence`` / ``n_resamples`` are out of range.

    Example:
        >>> low, high = bootstrap_ci(np.array([0.8, 0.9, 0.85, 0.7, 0.95]))
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    _check_settings(confidence, n_resamples)
    if np.isnan(x).any():
        raise ValueError(
            f"{int(np.isnan(x).sum())} of {x.size} values are NaN; drop undefined values before bootstrapping "
            "(run_ci and paired_comparison do this for the columns in NAN_TOLERANT_COLUMNS)"
        )
    if x.size < 2:
        return (float("nan"), float("nan"))
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    res = stats.bootstrap(
        (x,), np.mean, n_resamples=n_resamples, confidence_level=confidence, method="BCa", vectorized=True,
        axis=-1, rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _check_settings(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")


def run_ci(
    per_image: pd.DataFrame, column: str = "dice", confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> dict:
    """Mean of a per-image metric and its bootstrap confidence interval (:func:`bootstrap_ci`).

    Args:
        per_image: one row per test image (for several seeds, the output of :func:`~.seeds.pool_seeds`).
        column: the metric column.
        confidence: two-sided confidence level.
        n_resamples: number of bootstrap resamples.
        seed: resampling seed.

    Returns:
        ``{"mean", "ci_low", "ci_high", "n", "n_undefined"}``: ``n`` images used; ``n_undefined`` images left out
        because the metric is NaN there (only for :data:`NAN_TOLERANT_COLUMNS`, e.g. hd95; 0 otherwise).

    Raises:
        KeyError: if ``column`` is missing.
        ValueError: if the column has NaNs and is not NaN-tolerant.
    """
    if column not in per_image.columns:
        raise KeyError(f"per-image table has no column {column!r}; its columns are {list(per_image.columns)}")
    values = per_image[column].to_numpy(dtype=np.float64)
    check_nan(values, column, "the per-image table")
    defined = values[~np.isnan(values)]
    low, high = bootstrap_ci(defined, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "mean": float(defined.mean()) if defined.size else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "n": int(defined.size),
        "n_undefined": int(values.size - defined.size),
    }


def pooled_dice_ci(
    per_image: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """BCa bootstrap interval of the pooled Dice ``2 sum tp / (2 sum tp + sum fp + sum fn)``, resampling images.

    The pooled Dice sums the pixel counts of all images first (one confusion matrix), so it weighs each image by
    its object size; the images are resampled with their ``tp, fp, fn`` together (a paired bootstrap).

    Args:
        per_image: one row per test image with the pixel counts ``tp``, ``fp`` and ``fn``.
        confidence: two-sided confidence level, in (0, 1).
        n_resamples: number of bootstrap resamples.
        seed: resampling seed.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for fewer than two images or a degenerate sample (every image alike).

    Raises:
        KeyError: if a pixel-count column is missing.
        ValueError: if ``confidence`` / ``n_resamples`` are out of range.
    """
    _check_settings(confidence, n_resamples)
    missing = [c for c in ("tp", "fp", "fn") if c not in per_image.columns]
    if missing:
        raise KeyError(f"per-image table has no column(s) {missing}; its columns are {list(per_image.columns)}")
    tp, fp, fn = (per_image[c].to_numpy(dtype=np.float64) for c in ("tp", "fp", "fn"))
    if len(tp) < 2:
        return float("nan"), float("nan")

    def pooled(a: np.ndarray, b: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        num = 2 * a.sum(axis)
        den = num + b.sum(axis) + c.sum(axis)
        return np.where(den > 0, num / np.maximum(den, 1e-12), 1.0)

    with warnings.catch_warnings():  # a degenerate sample (every image alike) gives NaN, which is the answer
        warnings.simplefilter("ignore")
        res = stats.bootstrap((tp, fp, fn), pooled, paired=True, vectorized=True, n_resamples=n_resamples,
                              confidence_level=confidence, method="BCa", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
