"""The model layer: the smp factory and encoder weights, losses, metrics and their statistics, training, evaluation.

Imports the data layer below it, nothing from the layers above (study, report).
"""

from __future__ import annotations

from .device import DEVICES, resolve_device
from .losses import LOSSES, build_loss
from .models import ARCHS, POSTER_ENCODERS, build_model, check_encoder
from .train import SCHEDULES, TrainSettings, fit

__all__ = ["ARCHS", "DEVICES", "LOSSES", "POSTER_ENCODERS", "SCHEDULES", "TrainSettings", "build_loss", "build_model",
           "check_encoder", "fit", "resolve_device"]
