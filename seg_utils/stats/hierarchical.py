"""Training seeds as the unit of evidence: a two-stage (hierarchical) bootstrap over seeds and test images.

A configuration trained with several seeds is a sample of training runs evaluated on one test set. Its mean Dice
varies with both, so its interval resamples both (Davison & Hinkley 1997, sec. 3.8; Saravanan et al., "Application
of the hierarchical bootstrap to multi-level data in neuroscience", 2020): each resample draws the seeds with
replacement, then the test images with replacement, the same image draw for every seed (all seeds share the test
set), and takes the mean over the drawn seeds of each seed's mean over the drawn images. With one seed only the
images are resampled (the image bootstrap), and every result says so (``n_seeds`` = 1 and its ``note``).

Two configurations are compared seed by seed (:func:`seed_comparison`): the same seed number means the same validation
split and data order, so the seeds both have are paired, and the per-seed mean differences are bootstrapped the same
two-stage way (seed pairs, then images jointly). A difference is called significant only when its interval excludes 0
*and* it is larger than the across-seed sd of both configurations, so that a gap smaller than the spread between
training runs is never called a difference; with fewer than :data:`MIN_SEEDS` (3) common seeds it is not tested at seed
level (no p-value, never significant): with two, the seed stage can only redraw those two, so two seeds that agree give
the smallest p there is, and their sd has one degree of freedom. :func:`compare_seeds` Holm-adjusts the seed-level
p-values of a table and keeps the per-image Wilcoxon test beside them as secondary columns.

Intervals are percentile intervals of the bootstrap distribution; the two-sided p-value is twice the smaller tail
of that distribution at 0 (with the +1 correction of Davison & Hinkley 1997, eq. 4.11), so ``p < 1 - confidence``
where the interval excludes 0. With 3 to 5 seeds the seed stage is coarse (it sees only the seeds there are) and
slightly narrow, which is one reason for the across-seed-sd rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import check_nan, check_table, set_difference_message
from .paired import holm, signed_rank
from .seeds import _check_seeds, pool_seeds

__all__ = ["MIN_SEEDS", "N_RESAMPLES", "SEED_COMPARE_COLUMNS", "ONE_SEED", "few_seeds", "hierarchical_bootstrap",
           "hierarchical_ci", "seed_means", "seed_comparison", "compare_seeds"]

N_RESAMPLES = 4000
"""Default number of two-stage bootstrap resamples."""

MIN_SEEDS = 3
"""Fewest seeds two configurations must have in common for a seed-level test (a p-value, ``significant``)."""

ONE_SEED = "one seed: no seed-level evidence"
"""The ``note`` of a comparison with one common seed (see :func:`few_seeds`)."""


def few_seeds(n_seeds: int) -> str:
    """Why a comparison on ``n_seeds`` common seeds has no seed-level test: :data:`ONE_SEED`, ``"2 seeds: fewer
    than 3, no seed-level test"``, or ``""`` from :data:`MIN_SEEDS` seeds on."""
    if n_seeds >= MIN_SEEDS:
        return ""
    return ONE_SEED if n_seeds <= 1 else f"{n_seeds} seeds: fewer than {MIN_SEEDS}, no seed-level test"

SEED_COMPARE_COLUMNS = ["a", "b", "n_seeds", "n", "mean_a", "mean_b", "sd_a", "sd_b", "diff", "diff_sd",
                        "diff_ci_low", "diff_ci_high", "p_value", "p_holm", "significant", "p_images", "p_images_holm",
                        "significant_images", "note"]
"""Columns of the table :func:`compare_seeds` returns."""

_CHUNK = 1000  # resamples per block: bounds the (resamples x images) count matrix


def _by_seed_matrix(by_seed: Mapping[int, pd.DataFrame], column: str, key: str, name: str,
                    seeds: list[int] | None = None) -> tuple[list[int], pd.Index, np.ndarray]:
    """``(seeds, images, values)``: the seeds' tables as a (seeds x images) array, images sorted by ``key``."""
    if not isinstance(by_seed, Mapping):
        raise TypeError(f"{name} must map seed -> per-image table, got {type(by_seed).__name__}")
    try:
        _check_seeds(by_seed, column, key)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    seeds = sorted(by_seed) if seeds is None else seeds
    images = pd.Index(by_seed[seeds[0]][key]).sort_values()
    values = np.vstack([by_seed[s].set_index(key)[column].reindex(images).to_numpy(dtype=np.float64) for s in seeds])
    return seeds, images, values


def _check_settings(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")


def hierarchical_bootstrap(values: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Two-stage bootstrap distribution of the mean of a (seeds x images) array: seeds, then images.

    Each resample draws ``n_seeds`` rows with replacement and ``n_images`` columns with replacement (one column draw
    for all rows), and returns the mean over the drawn rows of each row's mean over the drawn columns. NaN marks an
    undefined value (e.g. hd95 of an empty prediction): each row's mean is then over its defined drawn columns.

    Args:
        values: ``(n_seeds, n_images)`` per-image values (or per-image differences) of each seed.
        n_resamples: number of resamples.
        seed: seed of the ``numpy.random.Generator``; the same inputs and seed give the same distribution.

    Returns:
        ``(n_resamples,)`` float64 array of resampled means.
    """
    x = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n_seeds, n_images = x.shape
    if n_seeds == 0 or n_images == 0:
        raise ValueError(f"nothing to resample: {n_seeds} seed(s) x {n_images} image(s)")
    rng = np.random.default_rng(seed)
    defined = ~np.isnan(x)
    filled = np.where(defined, x, 0.0)
    out = np.empty(int(n_resamples))
    for start in range(0, out.size, _CHUNK):
        size = min(_CHUNK, out.size - start)
        images = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=size).astype(np.float64)
        seeds = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_seed = (images @ filled.T) / (images @ defined.T)  # (size, n_seeds): each seed's resampled mean
        out[start:start + size] = np.where(seeds > 0, seeds * per_seed, 0.0).sum(axis=1) / n_seeds
    return out


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def _p_two_sided(draws: np.ndarray) -> float:
    """Twice the smaller bootstrap tail at 0, with the +1 correction; 1.0 when every draw is 0."""
    d = draws[~np.isnan(draws)]
    tail = min(np.sum(d <= 0), np.sum(d >= 0))
    return float(min(1.0, 2 * (tail + 1) / (d.size + 1)))


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


def seed_means(per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice",
               key: str = "image_id") -> pd.Series:
    """Each seed's mean of ``column`` over the test images (NaNs of NaN-tolerant columns left out), by seed.

    Raises:
        KeyError, ValueError: as :func:`~.seeds.pool_seeds`.
    """
    seeds, _images, x = _by_seed_matrix(per_image_by_seed, column, key, "per_image_by_seed")
    return pd.Series(np.nanmean(x, axis=1), index=pd.Index(seeds, name="seed"), name=column)


def hierarchical_ci(per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice", key: str = "image_id",
                    confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """A configuration's mean over seeds with its two-stage bootstrap interval (seeds, then test images).

    Args:
        per_image_by_seed: seed -> per-image table of one configuration, all on the same test images.
        column: the metric column.
        key: the image identifier column.
        confidence: two-sided confidence level of the percentile interval.
        n_resamples: number of resamples.
        seed: resampling seed.

    Returns:
        ``{"mean", "ci_low", "ci_high", "sd", "n_seeds", "n_images", "note"}``: the mean over seeds of the per-seed
        means, its interval, the across-seed sd (ddof=1; NaN for one seed), and ``note`` = ``"one seed: the
        interval covers test images only"`` when there is one seed (the image bootstrap), else empty.

    Raises:
        KeyError: if a table lacks ``column`` or ``key``.
        ValueError: if the seeds' image sets differ, an image is repeated, the column has NaNs and is not
            NaN-tolerant, or ``confidence`` / ``n_resamples`` are out of range.

    Example:
        >>> by_seed = {s: pd.DataFrame({"image_id": [1, 2, 3], "dice": [0.7 + s / 10, 0.8, 0.9]}) for s in (0, 1)}
        >>> hierarchical_ci(by_seed)["n_seeds"]
        2
    """
    _check_settings(confidence, n_resamples)
    _seeds, images, x = _by_seed_matrix(per_image_by_seed, column, key, "per_image_by_seed")
    means = np.nanmean(x, axis=1)
    low, high = _interval(hierarchical_bootstrap(x, n_resamples, seed), confidence)
    return {"mean": float(means.mean()), "ci_low": low, "ci_high": high, "sd": _sd(means), "n_seeds": int(means.size),
            "n_images": len(images), "note": "one seed: the interval covers test images only" if means.size < 2
            else ""}


def _paired_matrices(a: Mapping[int, pd.DataFrame], b: Mapping[int, pd.DataFrame], column: str,
                     key: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``(common seeds, values of a, values of b)`` on the seeds both have, images aligned on ``key``."""
    for name, by_seed in (("a", a), ("b", b)):
        if not isinstance(by_seed, Mapping) or not by_seed:
            raise ValueError(f"{name} must map seed -> per-image table for at least one seed, got {by_seed!r:.80}")
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError(f"no seed in common: a has seeds {sorted(a)}, b has {sorted(b)}; seeds are paired by number "
                         "(same seed = same validation split and data order), so train the same seeds for both")
    for s in common:
        check_table(a[s], f"a of seed {s}", column, key)
        check_table(b[s], f"b of seed {s}", column, key)
        keys_a, keys_b = set(a[s][key]), set(b[s][key])
        if keys_a != keys_b:
            raise ValueError(f"seed {s}: " + set_difference_message(keys_a, keys_b, "a", "b"))
    _, images, xa = _by_seed_matrix({s: a[s] for s in common}, column, key, "a", common)
    xb = np.vstack([b[s].set_index(key)[column].reindex(images).to_numpy(dtype=np.float64) for s in common])
    check_nan(xb, column, "b")
    undefined = np.isnan(xa) | np.isnan(xb)
    if undefined.all(axis=1).any():
        raise ValueError(f"a seed has no image with a defined {column!r} in both a and b ({len(images)} images)")
    return common, np.where(undefined, np.nan, xa), np.where(undefined, np.nan, xb)


def _compare(a: Mapping[int, pd.DataFrame], b: Mapping[int, pd.DataFrame], column: str, key: str, confidence: float,
             n_resamples: int, seed: int) -> tuple[dict, np.ndarray]:
    """:func:`seed_comparison`'s result and the bootstrap distribution of ``diff`` it comes from."""
    _check_settings(confidence, n_resamples)
    common, xa, xb = _paired_matrices(a, b, column, key)
    d = xb - xa
    mean_a, mean_b, per_seed = np.nanmean(xa, axis=1), np.nanmean(xb, axis=1), np.nanmean(d, axis=1)
    draws = hierarchical_bootstrap(d, n_resamples, seed)
    low, high = _interval(draws, confidence)
    diff, sd_a, sd_b = float(per_seed.mean()), _sd(mean_a), _sd(mean_b)
    tested = len(common) >= MIN_SEEDS
    beyond = bool(len(common) >= 2 and abs(diff) > max(sd_a, sd_b))
    excludes_zero = bool(low > 0 or high < 0)
    note = few_seeds(len(common)) or ("" if beyond else "difference within the across-seed sd")
    return {"seeds": tuple(common), "n_seeds": len(common), "n": int(d.shape[1]), "mean_a": float(mean_a.mean()),
            "mean_b": float(mean_b.mean()), "sd_a": sd_a, "sd_b": sd_b, "diff": diff, "diff_sd": _sd(per_seed),
            "diff_ci_low": low, "diff_ci_high": high, "p_value": _p_two_sided(draws) if tested else float("nan"),
            "beyond_seed_sd": beyond, "significant": bool(tested and excludes_zero and beyond), "note": note}, draws


def seed_comparison(a: Mapping[int, pd.DataFrame], b: Mapping[int, pd.DataFrame], column: str = "dice",
                    key: str = "image_id", confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                    seed: int = 0) -> dict:
    """Compare two configurations seed by seed on the same test images (``b - a``; positive = b scores higher).

    The seeds both configurations have are paired by number. ``diff`` is the mean over those seeds of each seed's
    mean per-image difference; its interval resamples seed pairs, then images jointly (:func:`hierarchical_bootstrap`
    of the per-image differences). ``significant`` needs :data:`MIN_SEEDS` common seeds, an interval that excludes 0,
    and ``|diff|`` above the across-seed sd of both configurations (``beyond_seed_sd``).

    Args:
        a: seed -> per-image table of configuration a.
        b: seed -> per-image table of configuration b (same test images).
        column: the metric column (for hd95 lower is better; NaNs of an image in a or b leave it out of that seed).
        key: the image identifier column.
        confidence: two-sided confidence level of the interval.
        n_resamples: number of resamples.
        seed: resampling seed.

    Returns:
        ``{"seeds", "n_seeds", "n", "mean_a", "mean_b", "sd_a", "sd_b", "diff", "diff_sd", "diff_ci_low",
        "diff_ci_high", "p_value", "beyond_seed_sd", "significant", "note"}``: ``seeds`` the common seeds, ``n`` the
        test images, ``sd_*`` the across-seed sds of the per-seed means and ``diff_sd`` of the per-seed differences
        (NaN for one seed), ``p_value`` the two-sided bootstrap p (NaN with fewer than :data:`MIN_SEEDS` seeds: no
        seed-level test), ``note`` :func:`few_seeds`'s reason, ``"difference within the across-seed sd"`` or empty.
        With one seed the interval
        is the image bootstrap of that run.

    Raises:
        KeyError: if a table lacks ``column`` or ``key``.
        ValueError: if no seed is common, the image sets differ (within a configuration or between a and b), an
            image is repeated, the column has NaNs and is not NaN-tolerant, or a setting is out of range.

    Example:
        >>> a = {s: pd.DataFrame({"image_id": [1, 2], "dice": [0.7, 0.8]}) for s in (0, 1)}
        >>> seed_comparison(a, a)["p_value"]
        1.0
    """
    return _compare(a, b, column, key, confidence, n_resamples, seed)[0]


def compare_seeds(by_seed: Mapping[str, Mapping[int, pd.DataFrame]], pairs: list[tuple[str, str]],
                  column: str = "dice", alpha: float = 0.05, key: str = "image_id", seed: int = 0,
                  n_resamples: int = N_RESAMPLES) -> pd.DataFrame:
    """Seed-level comparisons of several configuration pairs, Holm-adjusted as one family, with the per-image test
    beside them.

    Args:
        by_seed: configuration name -> {seed: per-image table}.
        pairs: ``(a, b)`` names to compare; ``diff`` is b - a. All pairs of one call form one Holm family.
        column: the metric column.
        alpha: family-wise level; the intervals are at ``1 - alpha``.
        key: the image identifier column.
        seed: resampling seed (the same for every pair).
        n_resamples: number of resamples per pair.

    Returns:
        DataFrame, one row per pair, with :data:`SEED_COMPARE_COLUMNS`: the fields of :func:`seed_comparison`;
        ``p_holm`` (Holm over the pairs with a seed-level p); ``significant`` = :data:`MIN_SEEDS` common seeds,
        ``p_holm < alpha`` and ``|diff|`` above both across-seed sds; secondary, the per-image test on the seeds both
        have, pooled per image (:func:`~.paired.paired_comparison`'s Wilcoxon signed-rank): ``p_images``,
        ``p_images_holm`` (Holm over the pairs) and ``significant_images`` (``p_images_holm < alpha``), which
        measures the test images of these training runs, not the configurations. A pair without a common seed has
        NaN values and says so in ``note``.

    Raises:
        KeyError: if a pair names a configuration not in ``by_seed`` (the message lists the valid names).
        ValueError: as :func:`seed_comparison`, or if ``alpha`` is not in (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    rows = []
    for name_a, name_b in pairs:
        for name in (name_a, name_b):
            if name not in by_seed:
                raise KeyError(f"unknown configuration {name!r} in pairs; valid names are {sorted(by_seed)}")
        a, b = by_seed[name_a], by_seed[name_b]
        common = sorted(set(a) & set(b))
        if not common:
            rows.append({"a": name_a, "b": name_b, "n_seeds": 0, "note": f"no seed in common ({sorted(a)} vs "
                         f"{sorted(b)})"})
            continue
        res = seed_comparison(a, b, column, key, 1 - alpha, n_resamples, seed)
        pooled_a, pooled_b = (pool_seeds({s: t[s] for s in common}, column, key) for t in (a, b))
        d = pooled_b[column].to_numpy(dtype=np.float64) - pooled_a[column].to_numpy(dtype=np.float64)
        rows.append({"a": name_a, "b": name_b, **{k: v for k, v in res.items() if k in SEED_COMPARE_COLUMNS},
                     "beyond_seed_sd": res["beyond_seed_sd"], "p_images": signed_rank(d[~np.isnan(d)])[1]})
    table = pd.DataFrame(rows).reindex(columns=[*SEED_COMPARE_COLUMNS, "beyond_seed_sd"])
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=np.float64))
    table["p_images_holm"] = holm(table["p_images"].to_numpy(dtype=np.float64))
    table["significant"] = ((table.n_seeds >= MIN_SEEDS) & (table.p_holm < alpha)
                            & table.beyond_seed_sd.eq(True)).astype(bool)
    table["significant_images"] = (table.p_images_holm < alpha).astype(bool)
    table["n_seeds"] = table.n_seeds.astype(int)
    return table[SEED_COMPARE_COLUMNS]
