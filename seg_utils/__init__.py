"""seg_utils: the helper package of the study "Setting up an efficient base deep network architecture for
medical image segmentation" (U-Net / DeepLabV3+ with VGG19, ResNet50 and DenseNet121 encoders).

One module per concern; notebooks call these and display what they return.
"""

from __future__ import annotations

from . import (
    ablation,
    cache,
    config,
    datasets,
    evaluate,
    external,
    figures,
    io,
    losses,
    metrics,
    models,
    quality,
    reference,
    repro,
    runs,
    stats,
    study,
    synthetic,
    tables,
    train,
    transforms,
)
from .config import RunSpec
from .datasets import DATASETS, build_manifest
from .errors import ConfigError, DataError, SegUtilsError, TrainingError, WeightsError
from .losses import LOSSES, build_loss
from .models import ARCHS, build_model
from .runs import collect_runs, execute_run, prepare_data

__version__ = "0.1.0"

__all__ = [
    "ARCHS", "DATASETS", "LOSSES", "ConfigError", "DataError", "RunSpec", "SegUtilsError", "TrainingError",
    "WeightsError", "ablation", "build_loss", "build_manifest", "build_model", "cache", "collect_runs", "config",
    "datasets", "evaluate", "execute_run", "external", "figures", "io", "losses", "metrics", "models", "prepare_data",
    "quality", "reference", "repro", "runs", "stats", "study", "synthetic", "tables", "train", "transforms",
]
