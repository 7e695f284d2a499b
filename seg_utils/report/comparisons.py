"""The poster's tables' comparisons, with the training seed as the unit of evidence.

The comparisons (:data:`COMPARE_TABLE_COLUMNS`) take the training seed as the unit of evidence
(:func:`seg_utils.stats.compare_seeds`): ``comparison``; ``a, b``; ``n_seeds`` (seeds both have, paired by
number), ``n`` (test images); ``mean_a, mean_b, sd_a, sd_b`` (mean and sd of the per-seed means); ``diff`` (b - a,
mean of the per-seed differences), ``diff_sd``, ``diff_ci_low, diff_ci_high`` (two-stage bootstrap, seed pairs then
images); ``p_value``, ``p_holm`` (bootstrap p, Holm-adjusted within the table; NaN with fewer than
:data:`~seg_utils.stats.MIN_SEEDS` seeds); ``significant`` (``MIN_SEEDS`` or more seeds, ``p_holm < alpha`` and
``|diff|`` above both across-seed sds); secondary, the
per-image Wilcoxon test of the seed-pooled images (``p_images``, ``p_images_holm``, ``significant_images``), which
measures these training runs' test images, not the configurations; ``note``; ``poster_diff`` (the poster's b - a)
and ``vs_poster`` (``agree`` / ``disagree`` when our difference is significant and has / has not the poster's sign,
``tie`` when ``MIN_SEEDS`` or more seeds find it not significant, ``untested`` with fewer; neither is agreement).

- Table 1 (:func:`compare_encoders`): each pair of encoders within an architecture and the two architectures per
  encoder, ISIC 2018, BCE.
- Table 2 (:func:`compare_losses`): BCE vs Log-Cosh Dice per ResNet50 model and dataset.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..stats import MIN_SEEDS, N_RESAMPLES, SEED_COMPARE_COLUMNS, compare_seeds
from ..study.grid import (
    ARCH_NAMES,
    ENCODER_NAMES,
    GRID_DATASETS,
    LOSS_NAMES,
    POSTER_ARCHS,
    POSTER_ENCODERS,
    TABLE2_ROWS,
    model_label,
)
from ..study.reference import poster_dice
from .deviations import dataset_names
from .tables import seeds_of, with_data_notes

__all__ = ["COMPARE_TABLE_COLUMNS", "compare_encoders", "compare_losses"]

COMPARE_TABLE_COLUMNS = ["comparison", *SEED_COMPARE_COLUMNS, "poster_diff", "vs_poster"]
"""Columns of :func:`compare_encoders` and :func:`compare_losses` (see the module docstring)."""


def _vs_poster(significant: bool, diff: float, poster_diff: float, n_seeds: float) -> Any:
    """``agree`` / ``disagree`` / ``tie`` (not significant over :data:`MIN_SEEDS` or more seeds) / ``untested``
    (fewer seeds: no seed-level test) / NA (nothing to compare)."""
    if pd.isna(diff) or pd.isna(poster_diff):
        return pd.NA
    if n_seeds < MIN_SEEDS:
        return "untested"
    if not significant:
        return "tie"
    return "agree" if np.sign(diff) == np.sign(poster_diff) else "disagree"


def _compare(results: str | Path, dataset: str | None, pairs: list[tuple[tuple, tuple, str]],
             alpha: float, with_loss: bool) -> pd.DataFrame:
    by_seed = seeds_of(results, dataset)

    def short(c: tuple) -> str:  # the comparison column names the rest
        return f"{model_label(c[1], c[2])} {LOSS_NAMES.get(c[3], c[3])}" if with_loss else model_label(c[1], c[2])

    present = [(a, b, what) for a, b, what in pairs if a in by_seed and b in by_seed]
    absent = [(a, b, what) for a, b, what in pairs if not (a in by_seed and b in by_seed)]
    names = {k: " ".join(map(str, k)) for k in by_seed}
    if present:
        table = compare_seeds({names[k]: v for k, v in by_seed.items()},
                              [(names[a], names[b]) for a, b, _ in present], alpha=alpha)
    else:
        table = pd.DataFrame(columns=SEED_COMPARE_COLUMNS)
    table.insert(0, "comparison", [what for _, _, what in present])
    table["a"], table["b"] = [short(a) for a, _, _ in present], [short(b) for _, b, _ in present]
    gaps = pd.DataFrame({"comparison": [w for _, _, w in absent], "a": [short(a) for a, _, _ in absent],
                         "b": [short(b) for _, b, _ in absent], "n_seeds": 0, "significant": False,
                         "significant_images": False,
                         "note": "not compared: a configuration has no complete run"})
    out = pd.concat([table, gaps], ignore_index=True) if len(gaps) else table
    for col in ("significant", "significant_images"):
        out[col] = out[col].astype(bool)
    out["poster_diff"] = [_poster_diff(b) - _poster_diff(a) for a, b, _ in present + absent]
    out["vs_poster"] = pd.array([_vs_poster(s, d, p, n) for s, d, p, n in zip(
        out.significant, out["diff"], out.poster_diff, out.n_seeds.fillna(0), strict=True)], dtype="string")
    n_seeds = [int(n) for n in out.n_seeds.dropna() if n > 0]
    notes = [f"mean_a, mean_b: over the seeds both have (a score table's cell is over all of its seeds, so the two "
             f"can differ); diff = b - a: the mean over those seeds (paired by seed number) of each seed's mean "
             f"per-image difference; {1 - alpha:.0%} interval: two-stage bootstrap (seed pairs, then test images); "
             f"p: bootstrap, Holm-adjusted over the comparisons of this table with {MIN_SEEDS} or more seeds; "
             f"significant = p_holm < {alpha} and |diff| larger than the across-seed sd of both configurations; with "
             f"fewer than {MIN_SEEDS} seeds there is no p and nothing is significant (with two, the seed stage can "
             "only redraw those two, and one training run is not a configuration).",
             "Secondary: p_images is the two-sided Wilcoxon signed-rank test of the seed-pooled per-image "
             "differences, p_images_holm its Holm adjustment over this table; it measures the test images of these "
             "runs, not the training seeds.",
             f"A bootstrap p of {2 / (N_RESAMPLES + 1):.1g} is the smallest that {N_RESAMPLES} resamples can give: "
             "read it as p at most that.",
             "vs_poster: agree / disagree when our difference is significant and has / has not the poster's sign; "
             f"tie when {MIN_SEEDS} or more seeds find it not significant; untested with fewer (neither is "
             "agreement)."]
    if n_seeds and max(n_seeds) < 2:
        notes.append("ONE SEED per configuration: no comparison has seed-level evidence; the intervals are over test "
                     "images only.")
    elif n_seeds and max(n_seeds) < MIN_SEEDS:
        notes.append(f"FEWER THAN {MIN_SEEDS} SEEDS per configuration: no comparison is tested at seed level; train "
                     f"n_seeds={MIN_SEEDS} for a test.")
    if absent:
        notes.append(f"not compared (a configuration has no complete run): {len(absent)} pair(s), shown with NaN.")
    out.attrs["notes"] = notes
    return out.reindex(columns=COMPARE_TABLE_COLUMNS)


def _poster_diff(config: tuple) -> float:
    value = poster_dice(*config)
    return float("nan") if value is None else float(value)


def compare_encoders(results: str | Path, alpha: float = 0.05) -> pd.DataFrame:
    """Table 1's comparisons, seed by seed: every pair of encoders within each architecture, and U-Net vs DeepLabV3+
    per encoder, on the same ISIC 2018 test images; Holm-adjusted as one family.

    Returns:
        DataFrame with :data:`COMPARE_TABLE_COLUMNS` (see the module docstring).
    """
    pairs = [(("isic2018", a, e1, "bce"), ("isic2018", a, e2, "bce"), f"encoders within {ARCH_NAMES[a]}")
             for a in POSTER_ARCHS for e1, e2 in combinations(POSTER_ENCODERS, 2)]
    pairs += [(("isic2018", "unet", e, "bce"), ("isic2018", "deeplabv3plus", e, "bce"),
               f"architectures with {ENCODER_NAMES[e]}") for e in POSTER_ENCODERS]
    df = _compare(results, "isic2018", pairs, alpha, with_loss=False)
    return with_data_notes(df, "Table 1: comparisons over seeds (ISIC 2018, BCE)", results, ("isic2018",))


def compare_losses(results: str | Path, alpha: float = 0.05) -> pd.DataFrame:
    """Table 2's comparisons, seed by seed: BCE (a) vs Log-Cosh Dice (b) per model and dataset; Holm-adjusted
    together.

    Returns:
        DataFrame with :data:`COMPARE_TABLE_COLUMNS` (see the module docstring).
    """
    names = dataset_names(results)  # the release read (ISIC 2017), where it is not the poster's
    pairs = [((ds, a, "resnet50", "bce"), (ds, a, "resnet50", "logcosh_dice"),
              f"losses, {model_label(a, 'resnet50')} on {names[ds]}") for ds, a in TABLE2_ROWS]
    df = _compare(results, None, pairs, alpha, with_loss=True)
    return with_data_notes(df, "Table 2: comparisons over seeds, BCE vs Log-Cosh Dice", results, GRID_DATASETS)
