"""Training with the poster's protocol: Adam, early stopping on the validation loss.

Keras-style early stopping (the poster's ``min_delta=0.001, patience=5``): an epoch improves when its
validation loss is below the best so far minus ``min_delta``; training stops after ``patience`` epochs
without improvement. ``keep_weights`` says what the run keeps: ``best`` restores the best epoch's weights at
the end (also when the epoch budget runs out first), ``last`` keeps the last epoch's (Keras' default,
``restore_best_weights=False``).

Checkpoints, written atomically at the end of every epoch into the run folder:

- ``last.pt``: model, optimiser, scheduler and scaler state dicts, the early-stopping state, the history so far
  and the precision it was trained in; a rerun resumes from it, also in another precision (a CPU or bf16
  checkpoint resumes under fp16 + GradScaler on a T4, and the other way round: the weights and Adam's state are
  always float32);
- ``best.pt``: the best epoch's model state dict.

Both are plain dicts of tensors and numbers, loaded with ``torch.load(weights_only=True)``. Every epoch's
random draws (shuffling, augmentation, dropout) come from generators seeded by ``(seed, epoch)``, so on
the CPU a resumed run ends with exactly the numbers of an uninterrupted one.

The training loss is summed on the device and checked for NaN every :data:`CHECK_EVERY` steps on a GPU (every
step on the CPU, where reading it costs nothing) and at the end of each epoch, so a GPU step never waits for the
host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.io import atomic_write, write_csv
from ..data.transforms import make_batch, xray_augmentation
from ..errors import CheckpointError, TrainingError
from .metrics import THRESHOLD, confusion
from .precision import AmpSettings

__all__ = ["HISTORY_COLUMNS", "SCHEDULES", "TrainSettings", "EarlyStopping", "fit", "predict", "batches",
           "load_checkpoint", "train_step", "probe_step", "CHECK_EVERY"]

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_dice", "lr", "seconds", "images_per_s"]
SCHEDULES = ("constant", "cosine")
#: Steps between two reads of the accumulated training loss on a GPU (the NaN check).
CHECK_EVERY = 25


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
        keep_weights: ``best`` (restore the best epoch's weights at the end) or ``last``.
        accumulate: split each batch into this many micro-batches and accumulate their gradients (the same
            effective batch in less memory; set after a CUDA out-of-memory error).
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
    keep_weights: str = "best"
    accumulate: int = 1

    def __post_init__(self) -> None:
        if self.accumulate < 1 or self.accumulate > self.batch_size // 2:
            raise ValueError(f"accumulate={self.accumulate} must be in [1, batch_size // 2] (each micro-batch "
                             "needs two images)")


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
               amp: AmpSettings, x: torch.Tensor, y: torch.Tensor, accumulate: int = 1) -> torch.Tensor:
    """One optimisation step, as :func:`fit` runs it: autocast forward, float32 loss, scaled backward and step.

    With ``accumulate`` > 1 the batch is split into that many micro-batches (fewer for a short last batch, so that
    each holds at least two images for batch norm) whose gradients add up to the whole batch's (each loss weighted by
    its share of the batch), then one step is taken.

    Returns:
        The batch's mean loss as a 0-d tensor on the device (not read here: no host sync).
    """
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=x.device)
    chunks = max(1, min(accumulate, len(x) // 2))
    for xs, ys in zip(x.tensor_split(chunks), y.tensor_split(chunks), strict=True):
        with torch.autocast(x.device.type, dtype=amp.dtype, enabled=amp.enabled):
            logits = model(xs)
        loss = loss_fn(logits.float(), ys) * (len(xs) / len(x))
        scaler.scale(loss).backward()
        total = total + loss.detach()
    scaler.step(optimizer)
    scaler.update()
    return total


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 32, amp: AmpSettings | None = None,
            masks: torch.Tensor | None = None, loss_fn: nn.Module | None = None,
            logits: bool = False) -> tuple[np.ndarray, float]:
    """Probabilities (or logits) ``(N, H, W)`` float32 of uint8 images ``(N, H, W, 3)``, and the mean loss if masks
    are given.

    Images are moved to the model's device batch by batch when they are not there already; ``amp`` (default:
    float32) is the run's precision.
    """
    device = next(model.parameters()).device
    amp = amp or AmpSettings(None, False)
    model.eval()
    out, total, count = [], 0.0, 0
    for idx in batches(len(images), batch_size):
        x, y = make_batch(images, masks if masks is not None else images[..., 0], idx,
                          channels_last=amp.channels_last)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp.dtype, enabled=amp.enabled):
            z = model(x).float()
        if loss_fn is not None and masks is not None:
            total += float(loss_fn(z, y)) * len(idx)
            count += len(idx)
        out.append((z if logits else torch.sigmoid(z))[:, 0].cpu().numpy())
    return np.concatenate(out), (total / count if count else float("nan"))


def _dice_mean(probs: np.ndarray, masks: np.ndarray) -> float:
    """Mean per-image Dice (validation: Dice alone, without the costlier per-image metrics)."""
    tp, fp, fn, _ = confusion(probs > THRESHOLD, masks.astype(bool)).T
    den = 2 * tp + fp + fn
    return float(np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0).mean())


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`fit`.

    Raises:
        CheckpointError: the file cannot be read (truncated, not a checkpoint); the message names it.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises many types on a damaged file (RuntimeError, EOFError, UnpicklingError)
        raise CheckpointError(f"{path}: the checkpoint cannot be read ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


def _save(obj: dict, path: Path) -> None:
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def _resume(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: object,
            scaler: torch.amp.GradScaler, stopper: EarlyStopping) -> tuple[int, list[dict], str]:
    """Load ``last.pt``; returns the epochs done, the history and the precision the checkpoint was trained in.

    The GradScaler's state moves only between two enabled scalers (fp16 to fp16): from a CPU, fp32 or bf16
    checkpoint an fp16 run starts with a fresh scale, and an fp16 checkpoint's scale is dropped by a run
    without a scaler.
    """
    ckpt = load_checkpoint(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler.is_enabled() and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    stopper.load_state_dict(ckpt["early_stopping"])
    history = [dict(zip(HISTORY_COLUMNS, row, strict=True)) for row in ckpt["history"]]
    return int(ckpt["epoch"]), history, str(ckpt.get("precision", "fp32"))


def _check_loss(total: torch.Tensor, name: str, epoch: int, last: Path) -> None:
    if not torch.isfinite(total):
        raise TrainingError(f"{name}: the training loss became {float(total)} in epoch {epoch + 1}; the last good "
                            f"checkpoint is {last if last.exists() else 'none (first epoch)'}. Lower lr or check the "
                            "data (masks all empty, corrupt images)")


def fit(model: nn.Module, loss_fn: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor], settings: TrainSettings, run_dir: str | Path,
        device: torch.device, amp: AmpSettings | None = None, progress: bool = True) -> pd.DataFrame:
    """Train ``model`` and keep the weights ``settings.keep_weights`` asks for; resume from ``run_dir/last.pt``.

    Args:
        model: the network (moved to ``device`` here).
        loss_fn: ``loss(logits, target)``.
        train: uint8 images ``(N, H, W, 3)`` and 0/1 masks ``(N, H, W)``, ideally already on ``device``.
        val: the validation arrays, same form.
        settings: epochs, batch size, lr, early stopping, seed, augmentation and schedule come from here.
        run_dir: where ``last.pt``, ``best.pt`` and ``history.csv`` go.
        device: ``cpu`` or ``cuda``.
        amp: autocast dtype and memory format (:func:`seg_utils.model.precision.resolve_precision`); float32 NCHW
            when None.
        progress: tqdm bar over epochs.

    Returns:
        The history, columns :data:`HISTORY_COLUMNS` (also written to ``history.csv``); ``attrs["resumed_from"]``
        names the precision of the checkpoint it resumed from (absent when it started afresh).

    Raises:
        TrainingError: the training loss became NaN or infinite (``last.pt`` keeps the last good epoch).
        CheckpointError: ``last.pt`` exists but cannot be read.
    """
    run_dir = Path(run_dir)
    amp = amp or AmpSettings(None, False)
    model.to(device)
    if amp.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
                 if settings.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _e: 1.0))
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
    stopper = EarlyStopping(settings.patience, settings.min_delta)
    history: list[dict] = []
    start, resumed_from = 0, None
    last = run_dir / "last.pt"
    if last.is_file():
        start, history, resumed_from = _resume(last, model, optimizer, scheduler, scaler, stopper)
    pipeline = xray_augmentation() if settings.augment == "xray" and not train[0].is_cuda else None  # CUDA: torch
    train_images, train_masks = train
    val_images, val_masks = val
    check_every = 1 if device.type == "cpu" else CHECK_EVERY
    bar = tqdm(range(start, settings.epochs), desc=settings.name, disable=not progress, initial=start,
               total=settings.epochs)
    for epoch in bar:
        if stopper.should_stop:
            break
        gen = _epoch_generator(settings.seed, epoch)
        torch.manual_seed(settings.seed * 100_003 + epoch)  # dropout (DeepLabV3+'s ASPP) draws from the global RNG
        model.train()
        t0 = time.perf_counter()
        total, seen = torch.zeros((), device=device), 0
        for step, idx in enumerate(batches(len(train_images), settings.batch_size, gen), start=1):
            x, y = make_batch(train_images, train_masks, idx, settings.augment, gen, pipeline, amp.channels_last)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            total += train_step(model, loss_fn, optimizer, scaler, amp, x, y, settings.accumulate) * len(idx)
            seen += len(idx)
            if step % check_every == 0:
                _check_loss(total, settings.name, epoch, last)
        _check_loss(total, settings.name, epoch, last)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - t0
        probs, val_loss = predict(model, val_images, settings.batch_size, amp, val_masks, loss_fn)
        val_dice = _dice_mean(probs, val_masks.cpu().numpy() if torch.is_tensor(val_masks) else val_masks)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": float(total) / max(seen, 1), "val_loss": val_loss,
                        "val_dice": val_dice, "lr": lr, "seconds": seconds,
                        "images_per_s": seen / train_seconds if train_seconds > 0 else float("nan")})
        if not math.isfinite(val_loss):
            raise TrainingError(f"{settings.name}: the validation loss is {val_loss} in epoch {epoch + 1}")
        if stopper.step(val_loss, epoch + 1):
            _save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / "best.pt")
        _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "scaler": scaler.state_dict(), "early_stopping": stopper.state_dict(), "epoch": epoch + 1,
               "history": [[h[c] for c in HISTORY_COLUMNS] for h in history], "precision": amp.name}, last)
        write_csv(run_dir / "history.csv", pd.DataFrame(history, columns=HISTORY_COLUMNS))
        bar.set_postfix(train_loss=f"{history[-1]['train_loss']:.4f}", val_loss=f"{val_loss:.4f}",
                        val_dice=f"{val_dice:.3f}")
    bar.close()
    if settings.keep_weights == "best":
        model.load_state_dict(load_checkpoint(run_dir / "best.pt"))
    out = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    if resumed_from is not None:
        out.attrs["resumed_from"] = resumed_from
    return out


def probe_step(build: Callable[[], nn.Module], loss_fn: nn.Module, image_size: int, batch_size: int,
               device: torch.device) -> Callable[[AmpSettings], float]:
    """A training step of a fresh model on random images, for :func:`seg_utils.model.precision.resolve_precision`'s
    probe: ``step(amp)`` trains once in ``amp`` and returns the images it processed."""
    models: dict[bool, nn.Module] = {}
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, image_size, image_size, 3), dtype=torch.uint8, generator=g)
    masks = (torch.rand((batch_size, image_size, image_size), generator=g) > 0.5).to(torch.uint8)
    idx = torch.arange(batch_size)

    def step(amp: AmpSettings) -> float:
        if amp.channels_last not in models:
            m = build().to(device)
            models[amp.channels_last] = m.to(memory_format=torch.channels_last) if amp.channels_last else m
        model = models[amp.channels_last]
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
        scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
        x, y = make_batch(images, masks, idx, channels_last=amp.channels_last)
        loss = train_step(model, loss_fn, optimizer, scaler, amp, x.to(device), y.to(device))
        float(loss)  # waits for the device
        return float(batch_size)

    return step
