"""The model layer: the smp factory and encoder weights, losses, metrics, training, evaluation, prediction on image
folders and export (the statistics of the metrics are :mod:`seg_utils.stats`).

Imports the data layer below it, nothing from the layers above (study, report).
"""

from __future__ import annotations

from .device import DEVICES, check_cuda_arch, resolve_device
from .export import EXPORT_FORMATS, ExportError, ExportResult, export_model
from .losses import LOSSES, build_loss
from .models import ARCHS, POSTER_ENCODERS, build_model, check_encoder
from .predict import DICE_RESOLUTIONS, TTA_MODES, predict_folder
from .train import KEEP_WEIGHTS, MONITORS, SCHEDULES, TrainSettings, fit

__all__ = ["ARCHS", "DEVICES", "DICE_RESOLUTIONS", "EXPORT_FORMATS", "LOSSES", "POSTER_ENCODERS", "SCHEDULES",
           "MONITORS", "KEEP_WEIGHTS",
           "TTA_MODES", "ExportError", "ExportResult", "TrainSettings", "build_loss", "build_model", "check_encoder",
           "export_model", "fit", "predict_folder", "resolve_device", "check_cuda_arch"]
