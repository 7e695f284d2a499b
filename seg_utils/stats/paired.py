"""Paired comparisons of configurations on the same test images, Holm-adjusted per table (scipy.stats).

Two configurations are compared on the same images by the mean of the paired per-image differences
(:func:`paired_difference`), with a bootstrap interval of those differences and a two-sided Wilcoxon signed-rank test
(:func:`paired_comparison`); the p-values of all the comparisons of one table are Holm-adjusted together
(:func:`holm`, :func:`compare_all`).

References: Wilcoxon, "Individual comparisons by ranking methods", Biometrics Bulletin 1(6), 1945; Holm, "A simple
sequentially rejective multiple test procedure", Scand. J. Statist. 6(2), 1979.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_nan, check_table, set_difference_message
from .intervals import bootstrap_ci

__all__ = ["COMPARE_COLUMNS", "paired_difference", "paired_comparison", "signed_rank", "holm", "compare_all"]

COMPARE_COLUMNS = [
    "a", "b", "n", "mean_a", "mean_b", "diff", "diff_ci_low", "diff_ci_high", "p_value", "p_holm", "significant",
]
"""Columns of the table :func:`compare_all` returns."""


def _paired_values(a: pd.DataFrame, b: pd.DataFrame, column: str, key: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values of a, values of b, images aligned)``: aligned on ``key`` (sorted), images undefined in a or b left
    out; raises as :func:`paired_comparison`."""
    check_table(a, "a", column, key)
    check_table(b, "b", column, key)
    keys_a, keys_b = set(a[key]), set(b[key])
    if keys_a != keys_b:
        raise ValueError(set_difference_message(keys_a, keys_b, "a", "b"))
    merged = a[[key, column]].merge(b[[key, column]], on=key, suffixes=("_a", "_b"), validate="one_to_one")
    merged = merged.sort_values(key, kind="stable")
    xa = merged[f"{column}_a"].to_numpy(dtype=np.float64)
    xb = merged[f"{column}_b"].to_numpy(dtype=np.float64)
    check_nan(xa, column, "table a")
    check_nan(xb, column, "table b")
    ok = ~(np.isnan(xa) | np.isnan(xb))
    if not ok.any():
        raise ValueError(f"no image with a defined {column!r} in both tables ({len(merged)} aligned images)")
    return xa[ok], xb[ok], len(merged)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, column: str = "dice", key: str = "image_id") -> float:
    """The mean paired per-image difference ``b - a`` (no interval, no test: the ``diff`` of
    :func:`paired_comparison` without its bootstrap).

    Raises:
        KeyError, ValueError: as :func:`paired_comparison`.
    """
    xa, xb, _ = _paired_values(a, b, column, key)
    return float((xb - xa).mean())


def paired_comparison(
    a: pd.DataFrame,
    b: pd.DataFrame,
    column: str = "dice",
    key: str = "image_id",
    seed: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
) -> dict:
    """Compare two configurations image by image on the same test images.

    The tables are aligned on ``key`` (sorted, so row order does not matter). ``diff`` is the mean of the paired
    differences ``b - a`` (positive = b scores higher; for hd95, lower is better); its interval is the BCa bootstrap
    of those differences, resampling images. The p-value is the two-sided Wilcoxon signed-rank test of the
    differences with ``zero_method="zsplit"``: images on which both configurations score the same (common for Dice:
    empty/empty images, identical masks) have their ranks split between the two signs instead of being dropped
    (``"wilcox"``) or ranked and then dropped (``"pratt"``), so every image counts, ``n`` is the same for the test and
    the interval, and agreement counts as evidence of no difference; it is the conservative choice, which suits
    Holm-adjusted tables. scipy's ``method="auto"`` is used (exact null distribution for n <= 50 without zeros or
    ties, normal approximation otherwise). If every difference is zero the test is not called: ``p_value = 1.0``
    and ``wilcoxon_stat = n(n+1)/4``, the zsplit statistic (scipy 1.17 happens to give p = 1 for zsplit too, but NaN
    with a RuntimeWarning for "pratt" and "wilcox" at n = 30 or 100, so this is not left to scipy).

    Args:
        a: per-image table of configuration a (one row per image; pool seeds first with
            :func:`~.seeds.pool_seeds`).
        b: per-image table of configuration b on the same images.
        column: the metric column.
        key: the image identifier column.
        seed: resampling seed of the bootstrap.
        confidence: two-sided confidence level of the interval.
        n_resamples: number of bootstrap resamples.

    Returns:
        ``{"mean_a", "mean_b", "diff", "diff_ci_low", "diff_ci_high", "wilcoxon_stat", "p_value", "n",
        "n_undefined"}``; ``n_undefined`` counts images dropped because the metric is NaN in a or b (only for
        :data:`NAN_TOLERANT_COLUMNS`).

    Raises:
        KeyError: if ``column`` or ``key`` is missing from a table.
        ValueError: if the image sets differ (the message says how many differ), an image is repeated, the column
            has NaNs and is not NaN-tolerant, or no image is left.

    Example:
        >>> a = pd.DataFrame({"image_id": [1, 2, 3], "dice": [0.8, 0.7, 0.9]})
        >>> paired_comparison(a, a)["p_value"]
        1.0
    """
    xa, xb, aligned = _paired_values(a, b, column, key)
    n = int(xa.size)
    d = xb - xa
    low, high = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    stat, p = signed_rank(d)
    return {
        "mean_a": float(xa.mean()),
        "mean_b": float(xb.mean()),
        "diff": float(d.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "wilcoxon_stat": float(stat),
        "p_value": p,
        "n": n,
        "n_undefined": int(aligned - n),
    }


def signed_rank(differences: np.ndarray) -> tuple[float, float]:
    """``(statistic, p)`` of the two-sided Wilcoxon signed-rank test of paired differences, as
    :func:`paired_comparison` computes it (``zero_method="zsplit"``; every difference zero: ``(n(n+1)/4, 1.0)``
    without calling scipy; no difference: ``(nan, nan)``)."""
    d = np.asarray(differences, dtype=np.float64).ravel()
    n = d.size
    if n == 0:
        return float("nan"), float("nan")
    if np.all(d == 0):
        return n * (n + 1) / 4.0, 1.0
    res = stats.wilcoxon(d, zero_method="zsplit", alternative="two-sided", method="auto")
    return float(res.statistic), float(res.pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, controls the family-wise error rate).

    With the m non-NaN p-values sorted ascending, ``p_adj_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))``, so the
    adjusted values keep the order of the raw ones and never exceed 1. NaNs stay NaN and do not count in m.

    Args:
        p_values: raw p-values in [0, 1] (one family of tests).

    Returns:
        float64 array of adjusted p-values, in the input order.

    Raises:
        ValueError: if a p-value lies outside [0, 1].

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005])
        array([0.03, 0.06, 0.06, 0.02])
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    if ((q < 0) | (q > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {q[(q < 0) | (q > 1)].tolist()}")
    m = q.size
    order = np.argsort(q, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    result = np.empty(m)
    result[order] = adjusted
    out[ok] = result
    return out


def compare_all(
    per_image: Mapping[str, pd.DataFrame],
    pairs: list[tuple[str, str]],
    column: str = "dice",
    alpha: float = 0.05,
    key: str = "image_id",
    seed: int = 0,
) -> pd.DataFrame:
    """Paired comparisons of several configuration pairs, Holm-adjusted as one family.

    Args:
        per_image: configuration name -> per-image table (seeds pooled with :func:`~.seeds.pool_seeds`).
        pairs: ``(a, b)`` names to compare; ``diff`` is b - a. All pairs of one call form one Holm family.
        column: the metric column.
        alpha: family-wise significance level.
        key: the image identifier column.
        seed: resampling seed of the bootstrap (the same for every pair).

    Returns:
        DataFrame, one row per pair, with columns ``a, b, n, mean_a, mean_b, diff, diff_ci_low, diff_ci_high,
        p_value, p_holm, significant`` (``significant`` is ``p_holm < alpha``; False where p is NaN).

    Raises:
        KeyError: if a pair names a configuration not in ``per_image`` (the message lists the valid names).
        ValueError: as :func:`paired_comparison`, or if ``alpha`` is not in (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    rows = []
    for name_a, name_b in pairs:
        for name in (name_a, name_b):
            if name not in per_image:
                raise KeyError(f"unknown configuration {name!r} in pairs; valid names are {sorted(per_image)}")
        res = paired_comparison(per_image[name_a], per_image[name_b], column=column, key=key, seed=seed)
        rows.append({"a": name_a, "b": name_b, **{k: res[k] for k in COMPARE_COLUMNS[2:9]}})
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS[:9])
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=np.float64))
    table["significant"] = (table["p_holm"] < alpha).astype(bool)
    return table[COMPARE_COLUMNS]
