"""Keras-style early stopping on the validation loss (the poster's ``min_delta=0.001, patience=5``).

An epoch improves when its validation loss is below the best so far minus ``min_delta``; training stops after
``patience`` epochs without improvement. Its state travels in ``last.pt`` (:mod:`seg_utils.model.checkpoints`), so a
resumed run stops at the same epoch as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EarlyStopping"]


@dataclass
class EarlyStopping:
    """Keras ``EarlyStopping(monitor="val_loss", min_delta, patience, restore_best_weights=True)``."""

    patience: int = 5
    min_delta: float = 0.001
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def step(self, value: float, epoch: int) -> bool:
        """Record an epoch's validation loss; return True when it is the new best."""
        if value < self.best - self.min_delta:
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
