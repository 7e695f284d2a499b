"""Training with the poster's protocol: Adam, early stopping on the validation loss.

:func:`fit` runs the epochs: :func:`_setup` builds (or resumes) the optimiser, schedule, scaler and early stopping,
:func:`_train_epoch` and :func:`_validate` run one epoch, and :mod:`seg_utils.model.checkpoints` writes ``last.pt``,
``best.pt`` and ``history.csv`` at its end. Early stopping is Keras' (:mod:`seg_utils.model.early_stopping`).
``keep_weights`` says what the run keeps: ``best`` restores the best epoch's weights at the end (also when the epoch
budget runs out first), ``last`` keeps the last epoch's (Keras' default, ``restore_best_weights=False``).

Every epoch's random draws (shuffling, augmentation, dropout) come from generators seeded by
:func:`epoch_seed` ``(seed, epoch)``, so on the CPU a resumed run ends with exactly the numbers of an uninterrupted
one.

The training loss is summed on the device and checked for NaN every :data:`CHECK_EVERY` steps on a GPU (every
step on the CPU, where reading it costs nothing) and at the end of each epoch, so a GPU step never waits for the
host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.transforms import AUGMENTS, make_batch, xray_augmentation
from ..errors import NonFiniteLossError
from ..options import check_options, option
from .checkpoints import BEST, HISTORY_COLUMNS, LAST, load_checkpoint, resume, save_epoch
from .early_stopping import EarlyStopping
from .metrics import THRESHOLD, confusion
from .precision import AmpSettings

# HISTORY_COLUMNS, load_checkpoint (checkpoints) and EarlyStopping (early_stopping) are re-exported: their users
# outside this module import them from here.
__all__ = ["HISTORY_COLUMNS", "SCHEDULES", "KEEP_WEIGHTS",
           "MONITORS", "TrainOptions", "TrainSettings", "EarlyStopping", "fit",
           "predict", "batches", "load_checkpoint", "train_step", "probe_step", "CHECK_EVERY", "epoch_seed"]

SCHEDULES = ("constant", "cosine")
#: Steps between two reads of the accumulated training loss on a GPU (the NaN check).
CHECK_EVERY = 25


#: What early stopping watches and the best epoch is chosen by: the validation loss (the poster's, Keras' default) or
#: the validation Dice (the metric the study reports); with its direction.
MONITORS = {"val_loss": "min", "val_dice": "max"}

#: Which weights a run keeps after early stopping: the best epoch's (restored) or the last epoch's (Keras' default).
KEEP_WEIGHTS = ("best", "last")


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """The training options of a run, declared once with their defaults (the poster's protocol), allowed values and
    help (:func:`seg_utils.options.option`); the study's run spec and notebook parameters inherit them."""

    epochs: int = option(50, "maximum epochs", low=1)
    batch_size: int = option(32, "training batch size (at least 2: batch norm and DeepLabV3+'s ASPP need two)",
                             low=2)
    lr: float = option(1e-3, "Adam learning rate", low=0, high=10, open_low=True, open_high=True)
    patience: int = option(5, "early stopping: epochs without a min_delta improvement of the monitored value", low=1)
    min_delta: float = option(0.001, "early stopping: the smallest improvement of the monitored value that counts",
                              low=0)
    monitor: str = option("val_loss", "early stopping and the best epoch: val_loss (the poster's) | val_dice",
                          choices=tuple(MONITORS))
    seed: int = option(0, "training seed: the validation split, initialisation, shuffling and augmentation", low=0)
    augment: str = option("none", "augmentation: none | flips | xray", choices=AUGMENTS)
    schedule: str = option("constant", "learning-rate schedule: constant | cosine", choices=SCHEDULES)
    keep_weights: str = option("best", "weights kept after early stopping: best (restored) | last (Keras' default)",
                               choices=KEEP_WEIGHTS)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, kw_only=True)
class TrainSettings(TrainOptions):
    """What :func:`fit` needs to know about a run: the :class:`TrainOptions` (the study's run spec builds them:
    ``RunSpec.train_settings()``), the run's name (for messages and the progress bar) and ``accumulate``: split each
    batch into this many micro-batches and accumulate their gradients (the same effective batch in less memory; set
    after a CUDA out-of-memory error)."""

    name: str
    accumulate: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.accumulate < 1 or self.accumulate > self.batch_size // 2:
            raise ValueError(f"accumulate={self.accumulate} must be in [1, batch_size // 2] (each micro-batch "
                             "needs two images)")


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


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded ``seed``: the epoch's shuffling and augmentation generator
    and the global RNG (dropout) start from it."""
    return seed * 100_003 + epoch


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


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


def _check_loss(total: torch.Tensor, name: str, epoch: int, last: Path) -> None:
    if not torch.isfinite(total):
        raise NonFiniteLossError(f"{name}: the training loss became {float(total)} in epoch {epoch + 1}; the last "
                                 f"good checkpoint is {last if last.exists() else 'none (first epoch)'}. Lower lr or "
                                 "check the data (masks all empty, corrupt images)")


@dataclass
class _Loop:
    """What :func:`fit` carries from epoch to epoch (what ``last.pt`` saves and restores)."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    stopper: EarlyStopping
    history: list[dict] = field(default_factory=list)
    start: int = 0  # the epochs done
    resumed_from: str | None = None  # the precision of the checkpoint it resumed from


def _setup(model: nn.Module, settings: TrainSettings, run_dir: Path, device: torch.device,
           amp: AmpSettings) -> _Loop:
    """Move ``model`` to ``device`` (and ``amp``'s memory format), build Adam, the schedule, the GradScaler and early
    stopping, and resume them and the model from ``run_dir/last.pt`` when there is one.

    Raises:
        CheckpointError: ``last.pt`` exists but cannot be read.
    """
    model.to(device)
    if amp.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
                 if settings.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _e: 1.0))
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
    loop = _Loop(optimizer, scheduler, scaler,
                 EarlyStopping(settings.patience, settings.min_delta, MONITORS[settings.monitor]))
    if (run_dir / LAST).is_file():
        loop.start, loop.history, loop.resumed_from = resume(run_dir / LAST, model, optimizer, scheduler, scaler,
                                                             loop.stopper)
    return loop


def _train_epoch(model: nn.Module, loss_fn: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                 settings: TrainSettings, device: torch.device, amp: AmpSettings, loop: _Loop, epoch: int,
                 pipeline: object | None, last: Path) -> tuple[torch.Tensor, int]:
    """Train one epoch (0-based ``epoch``) on batches shuffled and augmented by the epoch's generator.

    Returns:
        The loss summed over the images (a 0-d tensor on the device, weighted by batch size) and the images seen.

    Raises:
        NonFiniteLossError: the training loss became NaN or infinite (``last`` keeps the last good epoch).
    """
    gen = _epoch_generator(settings.seed, epoch)
    torch.manual_seed(epoch_seed(settings.seed, epoch))  # dropout (DeepLabV3+'s ASPP) draws from the global RNG
    model.train()
    images, masks = train
    check_every = 1 if device.type == "cpu" else CHECK_EVERY
    total, seen = torch.zeros((), device=device), 0
    for step, idx in enumerate(batches(len(images), settings.batch_size, gen), start=1):
        x, y = make_batch(images, masks, idx, settings.augment, gen, pipeline, amp.channels_last)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        total += train_step(model, loss_fn, loop.optimizer, loop.scaler, amp, x, y, settings.accumulate) * len(idx)
        seen += len(idx)
        if step % check_every == 0:
            _check_loss(total, settings.name, epoch, last)
    _check_loss(total, settings.name, epoch, last)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return total, seen


def _validate(model: nn.Module, loss_fn: nn.Module, val: tuple[torch.Tensor, torch.Tensor], batch_size: int,
              amp: AmpSettings) -> tuple[float, float]:
    """The validation loss and mean Dice."""
    images, masks = val
    probs, val_loss = predict(model, images, batch_size, amp, masks, loss_fn)
    return val_loss, _dice_mean(probs, masks.cpu().numpy() if torch.is_tensor(masks) else masks)


def fit(model: nn.Module, loss_fn: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor], settings: TrainSettings, run_dir: str | Path,
        device: torch.device, amp: AmpSettings | None = None, progress: bool = True,
        on_epoch: Callable[[dict], None] | None = None) -> pd.DataFrame:
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
        on_epoch: called with each epoch's history row once it is saved (live progress).

    Returns:
        The history, columns :data:`HISTORY_COLUMNS` (also written to ``history.csv``); ``attrs["resumed_from"]``
        names the precision of the checkpoint it resumed from (absent when it started afresh).

    Raises:
        NonFiniteLossError: the training or validation loss became NaN or infinite (``last.pt`` keeps the last good
            epoch); a :class:`~seg_utils.errors.TrainingError`.
        CheckpointError: ``last.pt`` exists but cannot be read.
    """
    run_dir = Path(run_dir)
    amp = amp or AmpSettings(None, False)
    loop = _setup(model, settings, run_dir, device, amp)
    pipeline = xray_augmentation() if settings.augment == "xray" and not train[0].is_cuda else None  # CUDA: torch
    bar = tqdm(range(loop.start, settings.epochs), desc=settings.name, disable=not progress, initial=loop.start,
               total=settings.epochs)
    for epoch in bar:
        if loop.stopper.should_stop:
            break
        t0 = time.perf_counter()
        total, seen = _train_epoch(model, loss_fn, train, settings, device, amp, loop, epoch, pipeline, run_dir / LAST)
        train_seconds = time.perf_counter() - t0
        val_loss, val_dice = _validate(model, loss_fn, val, settings.batch_size, amp)
        lr = loop.optimizer.param_groups[0]["lr"]
        loop.scheduler.step()
        seconds = time.perf_counter() - t0
        loop.history.append({"epoch": epoch + 1, "train_loss": float(total) / max(seen, 1), "val_loss": val_loss,
                             "val_dice": val_dice, "lr": lr, "seconds": seconds,
                             "images_per_s": seen / train_seconds if train_seconds > 0 else float("nan")})
        if not math.isfinite(val_loss):
            raise NonFiniteLossError(f"{settings.name}: the validation loss is {val_loss} in epoch {epoch + 1}")
        best = loop.stopper.step(val_loss if settings.monitor == "val_loss" else val_dice, epoch + 1)
        save_epoch(run_dir, model, loop.optimizer, loop.scheduler, loop.scaler, loop.stopper, epoch + 1, loop.history,
                   amp.name, best)
        if on_epoch:
            on_epoch({**loop.history[-1], "epochs": settings.epochs})
        bar.set_postfix(train_loss=f"{loop.history[-1]['train_loss']:.4f}", val_loss=f"{val_loss:.4f}",
                        val_dice=f"{val_dice:.3f}")
    bar.close()
    if settings.keep_weights == "best":
        model.load_state_dict(load_checkpoint(run_dir / BEST))
    out = pd.DataFrame(loop.history, columns=HISTORY_COLUMNS)
    if loop.resumed_from is not None:
        out.attrs["resumed_from"] = loop.resumed_from
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
