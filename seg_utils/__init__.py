"""seg_utils: the helper package of the study "Setting up an efficient base deep network architecture for medical
image segmentation" (U-Net / DeepLabV3+ with VGG19, ResNet50 and DenseNet121 encoders).

Four layers; a module imports only its own layer and the layers below it (a test reads every import and fails on
an upward import or a cycle):

1. ``data``   — dataset layouts -> manifests, quality inspection, the preprocessing cache, transforms, synthetic data,
   file io. Knows nothing of models or runs. A new dataset layout is a module here.
2. ``model``  — the smp factory and weights, losses, metrics, devices and precision, training, evaluation,
   prediction and export. Takes arrays and settings, never a run spec or a notebook.
3. ``study``  — run specs, the poster's grid and reference numbers, notebook parameters, preparing data, run
   folders and their execution (skip, resume, failed runs), the ablation ladder, external validation, summaries.
4. ``report`` — the one reader of run folders, comparisons, the poster's tables, formatting, figures, the runs'
   model cards, HTML reports.

Beneath them: ``errors``, ``repro`` and ``stats`` (every interval, seed pooling, paired test and Holm adjustment of
per-image metrics; numpy, scipy and pandas only), imported by any layer. At the top: ``cli`` (imports any layer).
Notebooks call ``study`` and ``report``; nothing below ``study`` knows that notebooks exist.
"""

from __future__ import annotations

from . import data, model, report, stats, study
from .errors import ConfigError, DataError, SegUtilsError, TrainingError, WeightsError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "SegUtilsError", "TrainingError", "WeightsError", "data", "model", "report",
           "stats", "study"]
