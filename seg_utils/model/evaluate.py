"""Evaluation on a test split: per-image metrics at the model's input size or at each mask's own size, saved
predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data.io import atomic_write
from .metrics import THRESHOLD, per_image_metrics, summarise
from .precision import AmpSettings
from .train import predict

__all__ = ["PER_IMAGE_COLUMNS", "evaluate_arrays", "resize_logits", "save_predictions", "load_predictions"]

PER_IMAGE_COLUMNS = ["image_id", "dice", "iou", "precision", "recall", "hd95", "hd95_penalised", "tp", "fp", "fn"]


def resize_logits(logits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One image's logits ``(h, w)`` resized to ``shape`` (bilinear, as the masks' own grid: align_corners=False)."""
    if tuple(logits.shape) == tuple(shape):
        return logits
    z = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))[None, None]
    return F.interpolate(z, size=tuple(int(v) for v in shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def evaluate_arrays(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, image_ids: list[str],
                    batch_size: int, amp: AmpSettings | None = None,
                    native_masks: Sequence[np.ndarray] | None = None) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """Predict ``images`` and score each image against its mask at threshold 0.5.

    Args:
        model, images, masks: the model and the test arrays at the model's input size (``masks`` 0/1).
        image_ids: one id per image.
        batch_size: inference batch size.
        amp: the run's precision (float32 when None).
        native_masks: each test mask at its own size (boolean 2-D arrays): the logits are resized to each
            (bilinear) and thresholded there, so Dice is comparable with evaluations at the original resolution.
            None: score at the input size against ``masks``.

    Returns:
        ``(per_image, summary, pred)``: per_image has columns :data:`PER_IMAGE_COLUMNS`; summary holds
        dice_mean, dice_median, dice_sd, dice_pooled, iou_mean, ..., hd95_misses, n_images; pred is bool
        ``(N, H, W)`` at the input size (what the qualitative panels show).
    """
    logits, _ = predict(model, images, batch_size, amp, logits=True)
    pred = logits > np.log(THRESHOLD / (1 - THRESHOLD))  # sigmoid(z) > 0.5
    if native_masks is None:
        target = (masks.cpu().numpy() if torch.is_tensor(masks) else np.asarray(masks)).astype(bool)
        per_image = per_image_metrics(pred, target)
    else:
        if len(native_masks) != len(logits):
            raise ValueError(f"{len(native_masks)} native masks for {len(logits)} images")
        native_pred = [resize_logits(z, m.shape) > 0 for z, m in zip(logits, native_masks, strict=True)]
        per_image = per_image_metrics(native_pred, [np.asarray(m, dtype=bool) for m in native_masks])
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
