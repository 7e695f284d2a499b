"""Verdicts over seeds: how stable the ranking of the two best configurations is, and whether a candidate is
non-inferior to a reference within a margin.

Non-inferiority (Schumi & Wittes, "Through the looking glass: understanding non-inferiority", Trials 12:106, 2011;
the CONSORT extension for non-inferiority trials, Piaggio et al., JAMA 308(24), 2012): the candidate is compared
with the reference by the two-stage bootstrap of :mod:`.hierarchical` (seed pairs, then test images), ``diff`` =
candidate - reference, and with ``confidence`` = 0.95 (:data:`NI_VERDICTS`):

- ``non-inferior``: the one-sided 95% lower bound of ``diff`` (the 5th percentile) lies above ``-margin``: the
  candidate loses at most ``margin``;
- ``inferior``: the upper bound of the two-sided 95% interval (the 97.5th percentile) lies below ``-margin``: it
  loses more than ``margin``;
- ``inconclusive``: neither, i.e. the interval straddles ``-margin``: more seeds or test images are needed.

The first two exclude each other (the one-sided lower bound is below the two-sided upper bound).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .hierarchical import MIN_SEEDS, N_RESAMPLES, _compare, _interval, seed_means

__all__ = ["NI_VERDICTS", "non_inferiority", "rank_stability"]

NI_VERDICTS = ("non-inferior", "inferior", "inconclusive")
"""The verdicts of :func:`non_inferiority`, in that order (see the module docstring)."""


def non_inferiority(candidate: Mapping[int, pd.DataFrame], reference: Mapping[int, pd.DataFrame],
                    margin: float = 0.01, column: str = "dice", key: str = "image_id", confidence: float = 0.95,
                    n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """Is ``candidate`` non-inferior to ``reference`` within ``margin`` (higher ``column`` is better)?

    Args:
        candidate: seed -> per-image table of the candidate configuration.
        reference: seed -> per-image table of the reference (e.g. the best cell), on the same test images.
        margin: the largest loss, in units of ``column``, that still counts as no worse (>= 0).
        column: the metric column (higher is better, e.g. Dice).
        key: the image identifier column.
        confidence: level of the one-sided lower bound and of the two-sided interval.
        n_resamples: number of two-stage resamples.
        seed: resampling seed.

    Returns:
        ``{"verdict", "diff", "lower", "ci_low", "ci_high", "margin", "mean_candidate", "mean_reference",
        "n_seeds", "n", "note"}``: ``verdict`` one of :data:`NI_VERDICTS`; ``diff`` = candidate - reference (mean
        over the common seeds); ``lower`` the one-sided lower bound; ``ci_low, ci_high`` the two-sided interval;
        ``note`` says when one seed leaves training variability out (the image bootstrap of one run each), or when
        fewer than :data:`~.hierarchical.MIN_SEEDS` seeds make the seed stage too coarse for a verdict about the
        configurations.

    Raises:
        ValueError: if ``margin`` is negative or not finite, or as :func:`~.hierarchical.seed_comparison`.

    Example:
        >>> ref = {s: pd.DataFrame({"image_id": [1, 2, 3], "dice": [0.8, 0.9, 0.85]}) for s in (0, 1)}
        >>> non_inferiority(ref, ref)["verdict"]
        'non-inferior'
    """
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0 (a Dice difference, e.g. 0.01), got {margin}")
    res, draws = _compare(reference, candidate, column, key, confidence, n_resamples, seed)
    lower = float(np.nanpercentile(draws, 100 * (1 - confidence)))
    low, high = _interval(draws, confidence)
    verdict = "non-inferior" if lower > -margin else ("inferior" if high < -margin else "inconclusive")
    n = res["n_seeds"]
    note = ("" if n >= MIN_SEEDS else "one seed: the interval covers test images only, not training variability"
            if n < 2 else f"{n} seeds: the seed stage can only redraw those {n}; at least {MIN_SEEDS} for a verdict "
            "about the configurations")
    return {"verdict": verdict, "diff": res["diff"], "lower": lower, "ci_low": low, "ci_high": high,
            "margin": float(margin), "mean_candidate": res["mean_b"], "mean_reference": res["mean_a"],
            "n_seeds": res["n_seeds"], "n": res["n"], "note": note}


def rank_stability(by_config: Mapping[str, Mapping[int, pd.DataFrame]], column: str = "dice",
                   key: str = "image_id", higher_is_better: bool = True) -> dict:
    """How often the best configuration beats the second best, seed against seed.

    The two best configurations are those with the best mean over seeds of their per-seed means. Every pair (i, j)
    of a seed i of the best and a seed j of the second counts: a win when seed i's mean beats seed j's, half a win
    on a tie. The fraction of wins is the probability that one training run of the best beats one of the second
    (a Mann-Whitney statistic over seeds): 1 when every seed of the best beats every seed of the second, about 0.5
    when their seeds interleave.

    Args:
        by_config: configuration name -> {seed: per-image table}; at least two configurations.
        column: the metric column.
        key: the image identifier column.
        higher_is_better: False for metrics such as hd95.

    Returns:
        ``{"best", "second", "mean_best", "mean_second", "n_pairs", "wins", "fraction", "note"}``; ``note`` says
        when each of the two has one seed (a single pair, which the best wins by construction).

    Raises:
        ValueError: fewer than two configurations, or as :func:`~.hierarchical.seed_means`.

    Example:
        >>> t = lambda v: pd.DataFrame({"image_id": [1, 2], "dice": [v, v]})
        >>> rank_stability({"A": {0: t(0.9), 1: t(0.7)}, "B": {0: t(0.8), 1: t(0.6)}})["fraction"]
        0.75
    """
    if len(by_config) < 2:
        raise ValueError(f"rank_stability needs at least two configurations, got {list(by_config)}")
    sign = 1.0 if higher_is_better else -1.0
    means = {name: sign * seed_means(by_seed, column, key).to_numpy() for name, by_seed in by_config.items()}
    best, second = sorted(means, key=lambda n: -means[n].mean())[:2]
    diff = means[best][:, None] - means[second][None, :]
    wins = float(np.sum(diff > 0) + 0.5 * np.sum(diff == 0))
    single = means[best].size == 1 and means[second].size == 1
    return {"best": best, "second": second, "mean_best": float(sign * means[best].mean()),
            "mean_second": float(sign * means[second].mean()), "n_pairs": int(diff.size), "wins": wins,
            "fraction": wins / diff.size, "note": "one seed each: a single pair, no evidence of stability" if single
            else ""}
