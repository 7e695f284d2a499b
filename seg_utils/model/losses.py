"""Losses for binary segmentation, all taking logits ``(N, 1, H, W)`` and a target of the same shape.

- ``bce``: binary cross-entropy on logits (``torch.nn.BCEWithLogitsLoss``).
- ``dice``: soft Dice loss ``1 - (2 sum(y p) + s) / (sum(y) + sum(p) + s)`` with ``s = 1``, over the whole
  batch as in Jadon's reference code (``K.flatten`` of the batch tensor). Equal to
  ``smp.losses.DiceLoss("binary", smooth=0.5)`` whenever the batch holds a foreground pixel (smp's
  ``smooth`` enters twice; field-notes section 3.2). Batch-global Dice depends on batch composition
  (smp#712); we keep it because it is what the poster's Keras lineage trains with.
- ``logcosh_dice``: ``log(cosh(dice))`` (S. Jadon, "A survey of loss functions for semantic segmentation",
  IEEE CIBCB 2020, arXiv:2006.14822).
- ``bce_dice``: ``bce + dice`` (equal weights).

Losses are computed in float32 whatever the autocast dtype (AMP NaN guard, pytorch#43556).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["LOSSES", "DICE_SMOOTH", "soft_dice_loss", "log_cosh", "build_loss"]

DICE_SMOOTH = 1.0


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """Batch-global soft Dice loss from logits (Jadon 2020, smoothing ``smooth`` in both terms)."""
    p = torch.sigmoid(logits.float()).reshape(-1)
    y = target.float().reshape(-1)
    return 1.0 - (2.0 * (p * y).sum() + smooth) / (p.sum() + y.sum() + smooth)


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """``log(cosh(x))`` computed stably: ``|x| + log1p(exp(-2|x|)) - log 2``."""
    a = x.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


class _Loss(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str):
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(logits, target)

    def extra_repr(self) -> str:
        return self.name


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": _bce,
    "dice": soft_dice_loss,
    "logcosh_dice": lambda logits, target: log_cosh(soft_dice_loss(logits, target)),
    "bce_dice": lambda logits, target: _bce(logits, target) + soft_dice_loss(logits, target),
}


def build_loss(name: str) -> nn.Module:
    """The loss ``name`` (a key of :data:`LOSSES`) as a module ``loss(logits, target) -> scalar``.

    Raises:
        ConfigError: unknown name.
    """
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    return _Loss(LOSSES[name], name)
