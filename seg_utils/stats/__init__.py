"""Statistics of per-image test metrics, in one place: intervals, seed pooling, seed-level and paired tests, Holm.

Training seeds are the unit of evidence for a configuration: one seed measures one training run. A configuration's mean
over seeds has a two-stage bootstrap interval that resamples seeds, then test images (:func:`hierarchical_ci`); two
configurations are compared seed by seed, paired by seed number (:func:`seed_comparison`, :func:`compare_seeds`,
Holm-adjusted per table), and a difference smaller than the across-seed sd, or measured on fewer than :data:`MIN_SEEDS`
seeds, is never called significant. :func:`rank_stability` says how often the best configuration's seeds beat the
second's, and :func:`non_inferiority` whether a candidate is within a margin of a reference (:data:`NI_VERDICTS`).

The test image is the unit of the secondary, per-image statistics: the mean of a per-image metric with its BCa
bootstrap interval over images (:func:`bootstrap_ci`, :func:`run_ci`; the pooled Dice's, :func:`pooled_dice_ci`),
several seeds first averaged per image (:func:`pool_seeds`) with their spread reported on its own
(:func:`seed_summary`), and paired image-by-image comparisons (:func:`paired_difference`, :func:`paired_comparison`:
BCa interval of the differences, Wilcoxon signed-rank test, :func:`signed_rank`), Holm-adjusted together
(:func:`holm`, :func:`compare_all`). They describe the test images of given training runs, not the configurations.

Depends on numpy, scipy and pandas only, and sits beside ``errors`` and ``repro`` below the four layers, so that a
run (study: its interval in metrics.json) and the tables, the ablation and the model cards (report) use the same
functions.

Modules: :mod:`.intervals`, :mod:`.seeds`, :mod:`.paired`, :mod:`.hierarchical`, :mod:`.verdicts` (and the shared
checks of per-image tables).
"""

from __future__ import annotations

from ._checks import NAN_TOLERANT_COLUMNS
from .hierarchical import (
    MIN_SEEDS,
    N_RESAMPLES,
    ONE_SEED,
    SEED_COMPARE_COLUMNS,
    compare_seeds,
    few_seeds,
    hierarchical_bootstrap,
    hierarchical_ci,
    seed_comparison,
    seed_means,
)
from .intervals import bootstrap_ci, pooled_dice_ci, run_ci
from .paired import COMPARE_COLUMNS, compare_all, holm, paired_comparison, paired_difference, signed_rank
from .seeds import pool_seeds, seed_summary
from .verdicts import NI_VERDICTS, non_inferiority, rank_stability

__all__ = ["COMPARE_COLUMNS", "MIN_SEEDS", "NAN_TOLERANT_COLUMNS", "NI_VERDICTS", "N_RESAMPLES", "ONE_SEED",
           "SEED_COMPARE_COLUMNS", "bootstrap_ci", "compare_all", "compare_seeds", "few_seeds",
           "hierarchical_bootstrap", "hierarchical_ci", "holm", "non_inferiority", "paired_comparison",
           "paired_difference", "pool_seeds", "pooled_dice_ci", "rank_stability", "run_ci", "seed_comparison",
           "seed_means", "seed_summary", "signed_rank"]
