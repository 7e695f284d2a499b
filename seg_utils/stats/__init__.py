"""Statistics of per-image test metrics, in one place: intervals, seed pooling, paired tests and Holm.

The unit of analysis is the test image. A configuration's score is the mean of a per-image metric over the test
images; its 95% confidence interval is a BCa bootstrap over images (:func:`bootstrap_ci`, :func:`run_ci`; the pooled
Dice's, :func:`pooled_dice_ci`). Several training seeds of one configuration are first averaged per image
(:func:`pool_seeds`), so that the interval describes the sampling of test images, and the spread across seeds is
reported on its own (:func:`seed_summary`). Two configurations are compared image by image (:func:`paired_difference`,
:func:`paired_comparison`: BCa interval of the differences, Wilcoxon signed-rank test), and the tests of one table are
Holm-adjusted together (:func:`holm`, :func:`compare_all`).

Depends on numpy, scipy and pandas only, and sits beside ``errors`` and ``repro`` below the four layers, so that a
run (study: its interval in metrics.json) and the tables, the ablation and the model cards (report) use the same
functions.

Modules: :mod:`.intervals`, :mod:`.seeds`, :mod:`.paired` (and the shared checks of per-image tables).
"""

from __future__ import annotations

from ._checks import NAN_TOLERANT_COLUMNS
from .intervals import bootstrap_ci, pooled_dice_ci, run_ci
from .paired import COMPARE_COLUMNS, compare_all, holm, paired_comparison, paired_difference
from .seeds import pool_seeds, seed_summary

__all__ = ["COMPARE_COLUMNS", "NAN_TOLERANT_COLUMNS", "bootstrap_ci", "compare_all", "holm", "paired_comparison",
           "paired_difference", "pool_seeds", "pooled_dice_ci", "run_ci", "seed_summary"]
