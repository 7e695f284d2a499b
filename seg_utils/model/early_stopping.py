"""Keras-style early stopping on the validation loss (the poster's ``min_delta=0.001, patience=5``), or on the
validation Dice.

An epoch improves when its monitored value beats the best so far by more than ``min_delta`` (below it for a loss,
``mode="min"``; above it for a Dice, ``mode="max"``); training stops after ``patience`` epochs without
improvement. Its state travels in ``last.pt`` (:mod:`seg_utils.model.checkpoints`), so a resumed run stops at the
same epoch as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EarlyStopping", "MODES"]

MODES = ("min", "max")


@dataclass
class EarlyStopping:
    """Keras ``EarlyStopping(monitor="val_loss", min_delta, patience, restore_best_weights=True)``; ``mode="max"``
    for a quantity that should grow (Keras' ``monitor="val_dice", mode="max"``)."""

    patience: int = 5
    min_delta: float = 0.001
    mode: str = "min"
    best: float = math.nan  # set from mode: +inf for "min", -inf for "max"
    best_epoch: int = -1
    bad_epochs: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; use one of {MODES}")
        if math.isnan(self.best):
            self.best = math.inf if self.mode == "min" else -math.inf

    def step(self, value: float, epoch: int) -> bool:
        """Record an epoch's monitored value; return True when it is the new best."""
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = float(d["best"]), int(d["best_epoch"]), int(d["bad_epochs"])
