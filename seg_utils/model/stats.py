"""Confidence intervals of one run's per-image metrics, and seeds pooled per image (scipy.stats).

The unit of analysis is the test image. A configuration's score is the mean of a per-image metric over the test
images; its 95% confidence interval is a BCa bootstrap over images (:func:`bootstrap_ci`). Several training seeds of
one configuration are first averaged per image (:func:`pool_seeds`), so that the interval describes the sampling of
test images, and the spread across seeds is reported on its own (:func:`seed_summary`). Comparisons between
configurations are in :mod:`seg_utils.report.compare`.

Reference: Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (ch. 14, BCa).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["NAN_TOLERANT_COLUMNS", "bootstrap_ci", "run_ci", "pool_seeds", "seed_summary", "check_table", "check_nan",
           "set_difference_message"]

NAN_TOLERANT_COLUMNS = ("hd95",)
"""Columns whose NaNs mean "undefined for this image" and are left out (and counted); NaN elsewhere is an error."""


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


def check_table(df: pd.DataFrame, name: str, column: str, key: str) -> None:
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


def check_nan(values: np.ndarray, column: str, where: str) -> None:
    """Raise if a column outside :data:`NAN_TOLERANT_COLUMNS` has NaNs."""
    if column not in NAN_TOLERANT_COLUMNS and np.isnan(values).any():
        raise ValueError(
            f"{int(np.isnan(values).sum())} NaN value(s) in column {column!r} of {where}; only "
            f"{list(NAN_TOLERANT_COLUMNS)} may be undefined per image; fix the metric computation upstream"
        )


def set_difference_message(keys_a: set, keys_b: set, name_a: str, name_b: str) -> str:
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


def _check_seeds(per_image_by_seed: Mapping[int, pd.DataFrame], column: str, key: str) -> None:
    """Raise unless every seed's table is valid and all cover the same images."""
    if not per_image_by_seed:
        raise ValueError("per_image_by_seed is empty; pass {seed: per-image table} for at least one seed")
    seeds = list(per_image_by_seed)
    for s in seeds:
        check_table(per_image_by_seed[s], f"of seed {s}", column, key)
        check_nan(per_image_by_seed[s][column].to_numpy(dtype=np.float64), column, f"seed {s}")
    ref = set(per_image_by_seed[seeds[0]][key])
    for s in seeds[1:]:
        keys = set(per_image_by_seed[s][key])
        if keys != ref:
            raise ValueError(set_difference_message(ref, keys, f"seed {seeds[0]}", f"seed {s}"))


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
