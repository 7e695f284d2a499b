"""Training with the poster's protocol: Adam, early stopping on the validation loss, best weights restored.

Keras-style early stopping (the poster's ``min_delta=0.001, patience=5``): an epoch improves when its
validation loss is below the best so far minus ``min_delta``; training stops after ``patience`` epochs
without improvement, and the best epoch's weights are restored at the end (always, also when the epoch
budget runs out first).

Checkpoints, written atomically at the end of every epoch into the run folder:

- ``last.pt``: model, optimiser, scheduler and scaler state dicts, the early-stopping state and the
  history so far; a rerun resumes from it;
- ``best.pt``: the best epoch's model state dict.

Both are plain dicts of tensors and numbers, loaded with ``torch.load(weights_only=True)``. Every epoch's
random draws (shuffling, augmentation, dropout) come from generators seeded by ``(seed, epoch)``, so on
the CPU a resumed run ends with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.io import atomic_write, write_csv
from ..data.transforms import make_batch, xray_augmentation
from ..errors import TrainingError
from .device import AmpSettings, amp_settings
from .metrics import THRESHOLD, confusion

__all__ = ["HISTORY_COLUMNS", "SCHEDULES", "TrainSettings", "EarlyStopping", "fit", "predict", "batches",
           "load_checkpoint", "train_step"]

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_dice", "lr", "seconds", "images_per_s"]
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainSettings:
    """What :func:`fit` needs to know about a run (the study's run spec builds it: ``RunSpec.train_settings()``).

    Attributes:
        name: the run's name, for messages and the progress bar.
        epochs, batch_size, lr: the epoch budget, the batch size and Adam's learning rate.
        patience, min_delta: early stopping on the validation loss.
        seed: seeds every epoch's shuffling, augmentation and dropout.
        augment: a policy of :data:`seg_utils.data.transforms.AUGMENTS`.
        schedule: one of :data:`SCHEDULES`.
    """

    name: str
    epochs: int
    batch_size: int
    lr: float
    patience: int
    min_delta: float
    seed: int
    augment: str = "none"
    schedule: str = "constant"


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


def batches(n: int, batch_size: int, gen: torch.Generator | None = None) -> list[torch.Tensor]:
    """Row numbers in batches (shuffled when ``gen`` is given); a last batch of one is dropped
    (DeepLabV3+'s ASPP pooling and batch norm fail on it)."""
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    out = list(order.split(batch_size))
    if out and len(out[-1]) == 1 and gen is not None:
        out.pop()
    return out


def train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               amp: AmpSettings, x: torch.Tensor, y: torch.Tensor) -> float:
    """One optimisation step, as :func:`fit` runs it: autocast forward, float32 loss, scaled backward and step.

    Returns:
        The batch's loss.

    Raises:
        FloatingPointError: the loss is NaN or infinite (raised before the weights are touched).
    """
    with torch.autocast(x.device.type, dtype=amp.dtype, enabled=amp.enabled):
        logits = model(x)
    loss = loss_fn(logits.float(), y)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss became {float(loss.detach())}")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 32, device: torch.device | None = None,
            masks: torch.Tensor | None = None, loss_fn: nn.Module | None = None) -> tuple[np.ndarray, float]:
    """Probabilities ``(N, H, W)`` float32 of uint8 images ``(N, H, W, 3)``, and the mean loss if masks are given.

    Images are moved to the model's device batch by batch when they are not there already.
    """
    device = device or next(model.parameters()).device
    amp = amp_settings(device)
    model.eval()
    probs, total, count = [], 0.0, 0
    for idx in batches(len(images), batch_size):
        x, y = make_batch(images, masks if masks is not None else images[..., 0], idx,
                          channels_last=amp.channels_last)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp.dtype, enabled=amp.enabled):
            logits = model(x)
        if loss_fn is not None and masks is not None:
            total += float(loss_fn(logits.float(), y)) * len(idx)
            count += len(idx)
        probs.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
    return np.concatenate(probs), (total / count if count else float("nan"))


def _dice_mean(probs: np.ndarray, masks: np.ndarray) -> float:
    """Mean per-image Dice (validation: Dice alone, without the costlier per-image metrics)."""
    tp, fp, fn, _ = confusion(probs > THRESHOLD, masks.astype(bool)).T
    den = 2 * tp + fp + fn
    return float(np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0).mean())


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _save(obj: dict, path: Path) -> None:
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def fit(model: nn.Module, loss_fn: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor], settings: TrainSettings, run_dir: str | Path,
        device: torch.device, progress: bool = True) -> pd.DataFrame:
    """Train ``model`` and restore its best weights; resume from ``run_dir/last.pt`` if it exists.

    Args:
        model: the network (moved to ``device`` here).
        loss_fn: ``loss(logits, target)``.
        train: uint8 images ``(N, H, W, 3)`` and 0/1 masks ``(N, H, W)``, ideally already on ``device``.
        val: the validation arrays, same form.
        settings: epochs, batch size, lr, early stopping, seed, augmentation and schedule come from here.
        run_dir: where ``last.pt``, ``best.pt`` and ``history.csv`` go.
        device: ``cpu`` or ``cuda``.
        progress: tqdm bar over epochs.

    Returns:
        The history, columns :data:`HISTORY_COLUMNS` (also written to ``history.csv``).

    Raises:
        TrainingError: the training loss became NaN or infinite (``last.pt`` keeps the last good epoch).
    """
    run_dir = Path(run_dir)
    amp = amp_settings(device)
    model.to(device)
    if amp.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
                 if settings.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _e: 1.0))
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
    stopper = EarlyStopping(settings.patience, settings.min_delta)
    history: list[dict] = []
    start = 0
    last = run_dir / "last.pt"
    if last.is_file():
        ckpt = load_checkpoint(last)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        stopper.load_state_dict(ckpt["early_stopping"])
        history = [dict(zip(HISTORY_COLUMNS, row, strict=True)) for row in ckpt["history"]]
        start = int(ckpt["epoch"])
    pipeline = xray_augmentation() if settings.augment == "xray" else None
    train_images, train_masks = train
    val_images, val_masks = val
    bar = tqdm(range(start, settings.epochs), desc=settings.name, disable=not progress, initial=start,
               total=settings.epochs)
    for epoch in bar:
        if stopper.should_stop:
            break
        gen = _epoch_generator(settings.seed, epoch)
        torch.manual_seed(settings.seed * 100_003 + epoch)  # dropout (DeepLabV3+'s ASPP) draws from the global RNG
        model.train()
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        for idx in batches(len(train_images), settings.batch_size, gen):
            x, y = make_batch(train_images, train_masks, idx, settings.augment, gen, pipeline, amp.channels_last)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            try:
                loss = train_step(model, loss_fn, optimizer, scaler, amp, x, y)
            except FloatingPointError as exc:
                raise TrainingError(f"{settings.name}: {exc} in epoch {epoch + 1}; the last good checkpoint is "
                                    f"{last if last.exists() else 'none (first epoch)'}. Lower lr or check the data "
                                    "(masks all empty, corrupt images)") from exc
            total += loss * len(idx)
            seen += len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - t0
        probs, val_loss = predict(model, val_images, settings.batch_size, device, val_masks, loss_fn)
        val_dice = _dice_mean(probs, val_masks.cpu().numpy() if torch.is_tensor(val_masks) else val_masks)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": total / max(seen, 1), "val_loss": val_loss,
                        "val_dice": val_dice, "lr": lr, "seconds": seconds,
                        "images_per_s": seen / train_seconds if train_seconds > 0 else float("nan")})
        if not math.isfinite(val_loss):
            raise TrainingError(f"{settings.name}: the validation loss is {val_loss} in epoch {epoch + 1}")
        if stopper.step(val_loss, epoch + 1):
            _save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / "best.pt")
        _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "scaler": scaler.state_dict(), "early_stopping": stopper.state_dict(), "epoch": epoch + 1,
               "history": [[h[c] for c in HISTORY_COLUMNS] for h in history]}, last)
        write_csv(run_dir / "history.csv", pd.DataFrame(history, columns=HISTORY_COLUMNS))
        bar.set_postfix(train_loss=f"{history[-1]['train_loss']:.4f}", val_loss=f"{val_loss:.4f}",
                        val_dice=f"{val_dice:.3f}")
    bar.close()
    model.load_state_dict(load_checkpoint(run_dir / "best.pt"))
    return pd.DataFrame(history, columns=HISTORY_COLUMNS)
