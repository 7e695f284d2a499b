"""Evaluation on a test split: per-image metrics, headline metrics with CIs, saved predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.io import atomic_write
from .metrics import THRESHOLD, per_image_metrics, summarise
from .train import predict

__all__ = ["PER_IMAGE_COLUMNS", "evaluate_arrays", "save_predictions", "load_predictions"]

PER_IMAGE_COLUMNS = ["image_id", "dice", "iou", "precision", "recall", "hd95", "tp", "fp", "fn"]


def evaluate_arrays(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, image_ids: list[str],
                    batch_size: int, device: torch.device) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """Predict ``images`` and score each image against ``masks`` at threshold 0.5.

    Returns:
        ``(per_image, summary, pred)``: per_image has columns :data:`PER_IMAGE_COLUMNS`; summary holds
        dice_mean, dice_median, dice_sd, dice_pooled, iou_mean, ..., n_images; pred is bool ``(N, H, W)``.
    """
    probs, _ = predict(model, images, batch_size, device)
    pred = probs > THRESHOLD
    target = (masks.cpu().numpy() if torch.is_tensor(masks) else np.asarray(masks)).astype(bool)
    per_image = per_image_metrics(pred, target)
    per_image.insert(0, "image_id", list(image_ids))
    per_image = per_image[[c for c in PER_IMAGE_COLUMNS if c in per_image]]
    return per_image, summarise(per_image), pred


def save_predictions(path: str | Path, image_ids: list[str], pred: np.ndarray) -> Path:
    """Binary predictions, bit-packed, with their ids (``.npz``), written atomically."""
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, ids=np.asarray(image_ids), shape=np.asarray(pred.shape),
                            bits=np.packbits(pred.astype(bool).reshape(len(pred), -1), axis=1))
    return Path(path)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """``{image_id: bool (H, W)}`` from :func:`save_predictions`."""
    with np.load(path, allow_pickle=False) as z:
        n, h, w = (int(v) for v in z["shape"])
        pred = np.unpackbits(z["bits"], axis=1, count=h * w).reshape(n, h, w).astype(bool)
        return dict(zip((str(i) for i in z["ids"]), pred, strict=True))
