"""Confidence intervals and paired tests over per-image metrics (scipy.stats).

The unit of analysis is the test image. A configuration's score is the mean of a per-image metric over the test
images; its 95% confidence interval is a BCa bootstrap over images (:func:`bootstrap_ci`). Two configurations are
compared on the same images by the mean of the paired per-image differences, with a bootstrap interval of those
differences and a two-sided Wilcoxon signed-rank test (:func:`paired_comparison`); the p-values of all the
comparisons of one table are Holm-adjusted together (:func:`holm`, :func:`compare_all`). Several training seeds of
one configuration are first averaged per image (:func:`pool_seeds`), so that the interval describes the sampling of
test images, and the spread across seeds is reported on its own (:func:`seed_summary`).

References: Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (ch. 14, BCa); Wilcoxon, "Individual
comparisons by ranking methods", Biometrics Bulletin 1(6), 1945; Holm, "A simple sequentially rejective multiple
test procedure", Scand. J. Statist. 6(2), 1979.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "DICE_PROTOCOL",
    "NAN_TOLERANT_COLUMNS",
    "COMPARE_COLUMNS",
    "bootstrap_ci",
    "run_ci",
    "paired_comparison",
    "holm",
    "compare_all",
    "pool_seeds",
    "seed_summary",
]

DICE_PROTOCOL = (
    "Dice is computed per test image from the prediction thresholded at 0.5 (an empty prediction on an empty mask "
    "scores 1, a non-empty prediction on an empty mask 0) and averaged over the test images; each configuration's "
    "per-image Dice is first averaged over its training seeds, and the across-seed sd is reported separately. "
    "Intervals are 95% BCa bootstrap intervals over test images (10,000 resamples); differences between "
    "configurations are paired per image, tested with a two-sided Wilcoxon signed-rank test (zero differences split "
    "between the signs) and Holm-adjusted within each table. This per-image mean is not the pooled Dice of one "
    "confusion matrix over all test pixels, which some papers and smp's reduction='micro' report: pooled Dice weights "
    "each image by its object size, so it is dominated by the large lesions and lungs and is typically higher than "
    "the per-image mean on ISIC and the lung sets, whereas the per-image mean gives every image equal weight and so "
    "counts each missed small object (e.g. CBIS-DDSM masses) in full, which makes it lower there."
)
"""One paragraph stating the Dice protocol, for the caption of every results table."""

NAN_TOLERANT_COLUMNS = ("hd95",)
"""Columns whose NaNs mean "undefined for this image" and are left out (and counted); NaN elsewhere is an error."""

COMPARE_COLUMNS = [
    "a", "b", "n", "mean_a", "mean_b", "diff", "diff_ci_low", "diff_ci_high", "p_value", "p_holm", "significant",
]
"""Columns of the table :func:`compare_all` returns."""


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
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
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


def _check_table(df: pd.DataFrame, name: str, column: str, key: str) -> None:
    """Raise if ``df`` lacks ``key`` or ``column`` or repeats an image."""
    for col in (key, column):
        if col not in df.columns:
            raise KeyError(f"per-image table {name} has no column {col!r}; its columns are {list(df.columns)}")
    dup = df[key].duplicated()
    if dup.any():
        raise ValueError(
            f"per-image table {name} lists {int(dup.sum())} image(s) more than once in {key!r} "
            f"(e.g. {df.loc[dup, key].iloc[0]!r}); pool several seeds with pool_seeds() first"
        )


def _check_nan(values: np.ndarray, column: str, where: str) -> None:
    """Raise if a column outside :data:`NAN_TOLERANT_COLUMNS` has NaNs."""
    if column not in NAN_TOLERANT_COLUMNS and np.isnan(values).any():
        raise ValueError(
            f"{int(np.isnan(values).sum())} NaN value(s) in column {column!r} of {where}; only "
            f"{list(NAN_TOLERANT_COLUMNS)} may be undefined per image; fix the metric computation upstream"
        )


def _set_difference_message(keys_a: set, keys_b: set, name_a: str, name_b: str) -> str:
    only_a, only_b = sorted(keys_a - keys_b, key=str), sorted(keys_b - keys_a, key=str)
    return (
        f"the image sets differ: {len(only_a)} image(s) only in {name_a} (e.g. {only_a[:3]}), {len(only_b)} only in "
        f"{name_b} (e.g. {only_b[:3]}), {len(keys_a & keys_b)} shared; evaluate both on the same test split"
    )


def run_ci(
    per_image: pd.DataFrame, column: str = "dice", confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> dict:
    """Mean of a per-image metric and its bootstrap confidence interval (:func:`bootstrap_ci`).

    Args:
        per_image: one row per test image (for several seeds, the output of :func:`pool_seeds`).
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
    _check_nan(values, column, "the per-image table")
    defined = values[~np.isnan(values)]
    low, high = bootstrap_ci(defined, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "mean": float(defined.mean()) if defined.size else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "n": int(defined.size),
        "n_undefined": int(values.size - defined.size),
    }


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
        a: per-image table of configuration a (one row per image; pool seeds first with :func:`pool_seeds`).
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
    _check_table(a, "a", column, key)
    _check_table(b, "b", column, key)
    keys_a, keys_b = set(a[key]), set(b[key])
    if keys_a != keys_b:
        raise ValueError(_set_difference_message(keys_a, keys_b, "a", "b"))
    merged = a[[key, column]].merge(b[[key, column]], on=key, suffixes=("_a", "_b"), validate="one_to_one")
    merged = merged.sort_values(key, kind="stable")
    xa = merged[f"{column}_a"].to_numpy(dtype=np.float64)
    xb = merged[f"{column}_b"].to_numpy(dtype=np.float64)
    _check_nan(xa, column, "table a")
    _check_nan(xb, column, "table b")
    ok = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[ok], xb[ok]
    n = int(ok.sum())
    if n == 0:
        raise ValueError(f"no image with a defined {column!r} in both tables ({len(merged)} aligned images)")
    d = xb - xa
    low, high = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if np.all(d == 0):
        stat, p = n * (n + 1) / 4.0, 1.0
    else:
        res = stats.wilcoxon(d, zero_method="zsplit", alternative="two-sided", method="auto")
        stat, p = float(res.statistic), float(res.pvalue)
    return {
        "mean_a": float(xa.mean()),
        "mean_b": float(xb.mean()),
        "diff": float(d.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "wilcoxon_stat": float(stat),
        "p_value": p,
        "n": n,
        "n_undefined": int(len(merged) - n),
    }


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
        per_image: configuration name -> per-image table (seeds pooled with :func:`pool_seeds`).
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


def _check_seeds(per_image_by_seed: Mapping[int, pd.DataFrame], column: str, key: str) -> None:
    """Raise unless every seed's table is valid and all cover the same images."""
    if not per_image_by_seed:
        raise ValueError("per_image_by_seed is empty; pass {seed: per-image table} for at least one seed")
    seeds = list(per_image_by_seed)
    for s in seeds:
        _check_table(per_image_by_seed[s], f"of seed {s}", column, key)
        _check_nan(per_image_by_seed[s][column].to_numpy(dtype=np.float64), column, f"seed {s}")
    ref = set(per_image_by_seed[seeds[0]][key])
    for s in seeds[1:]:
        keys = set(per_image_by_seed[s][key])
        if keys != ref:
            raise ValueError(_set_difference_message(ref, keys, f"seed {seeds[0]}", f"seed {s}"))


def pool_seeds(
    per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice", key: str = "image_id"
) -> pd.DataFrame:
    """Average several training seeds of one configuration per image.

    The test image is the unit of resampling: the question the interval answers is how much the mean would move on
    another test set drawn from the same population. Averaging the seeds per image first gives one value per image,
    so the bootstrap and the paired tests resample images, and the seed-to-seed (training) variability is not
    mistaken for extra independent images, as it would be if the N x n_seeds rows were resampled as if
    independent (which would shrink the interval by about sqrt(n_seeds)). Training variability is reported
    separately, as the across-seed sd of :func:`seed_summary`.

    Args:
        per_image_by_seed: seed -> per-image table of the same configuration on the same test images.
        column: the metric column.
        key: the image identifier column.

    Returns:
        DataFrame sorted by ``key`` with columns ``<key>, <column>, n_seeds``: one row per image, the mean over
        seeds, and the number of seeds averaged (for :data:`NAN_TOLERANT_COLUMNS` the seeds where the metric is
        defined; NaN if it is undefined in all of them).

    Raises:
        KeyError: if a table lacks ``column`` or ``key``.
        ValueError: if the seeds' image sets differ (the message says how many differ), an image is repeated
            within a seed, or the column has NaNs and is not NaN-tolerant.
    """
    _check_seeds(per_image_by_seed, column, key)
    stacked = pd.concat([df[[key, column]] for df in per_image_by_seed.values()], ignore_index=True)
    pooled = stacked.groupby(key, sort=True)[column].agg(["mean", "count"]).reset_index()
    return pooled.rename(columns={"mean": column, "count": "n_seeds"})[[key, column, "n_seeds"]]


def seed_summary(
    per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice", key: str = "image_id"
) -> dict:
    """Spread of a configuration's test-set mean across training seeds.

    Args:
        per_image_by_seed: seed -> per-image table of the same configuration on the same test images.
        column: the metric column (NaNs of :data:`NAN_TOLERANT_COLUMNS` are left out of each seed's mean).
        key: the image identifier column, used to check that all seeds cover the same images.

    Returns:
        ``{"mean", "sd", "n_seeds"}``: mean over seeds of the per-seed means, their sd (ddof=1; NaN for one seed),
        and the number of seeds.

    Raises:
        ValueError: as :func:`pool_seeds`.
    """
    _check_seeds(per_image_by_seed, column, key)
    means = np.array([np.nanmean(df[column].to_numpy(dtype=np.float64)) for df in per_image_by_seed.values()])
    return {
        "mean": float(means.mean()),
        "sd": float(means.std(ddof=1)) if means.size > 1 else float("nan"),
        "n_seeds": int(means.size),
    }
