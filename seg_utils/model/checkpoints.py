"""The files :func:`seg_utils.model.train.fit` keeps in a run folder, written atomically at the end of every epoch.

- ``last.pt``: model, optimiser, scheduler and scaler state dicts, the early-stopping state, the history so far
  and the precision it was trained in; a rerun resumes from it, also in another precision (a CPU or bf16
  checkpoint resumes under fp16 + GradScaler on a T4, and the other way round: the weights and Adam's state are
  always float32);
- ``best.pt``: the best epoch's model state dict;
- ``history.csv``: one row per epoch, columns :data:`HISTORY_COLUMNS`.

Both checkpoints are plain dicts of tensors and numbers, loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..data.io import atomic_write, write_csv
from ..errors import CheckpointError
from .early_stopping import EarlyStopping

__all__ = ["BEST", "HISTORY", "HISTORY_COLUMNS", "LAST", "load_checkpoint", "resume", "save_epoch"]

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_dice", "lr", "seconds", "images_per_s"]
#: File names in the run folder.
LAST, BEST, HISTORY = "last.pt", "best.pt", "history.csv"


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`seg_utils.model.train.fit`.

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


def save_epoch(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: object,
               scaler: torch.amp.GradScaler, stopper: EarlyStopping, epoch: int, history: list[dict], precision: str,
               best: bool) -> None:
    """Write the files of ``epoch`` (1-based, the epochs done): ``best.pt`` when ``best`` (the epoch is the new best),
    then ``last.pt`` and ``history.csv``."""
    if best:
        _save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / BEST)
    _save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
           "scaler": scaler.state_dict(), "early_stopping": stopper.state_dict(), "epoch": epoch,
           "history": [[h[c] for c in HISTORY_COLUMNS] for h in history], "precision": precision}, run_dir / LAST)
    write_csv(run_dir / HISTORY, pd.DataFrame(history, columns=HISTORY_COLUMNS))


def resume(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: object,
           scaler: torch.amp.GradScaler, stopper: EarlyStopping) -> tuple[int, list[dict], str]:
    """Load ``last.pt`` into the training state; returns the epochs done, the history and the precision the
    checkpoint was trained in.

    The GradScaler's state moves only between two enabled scalers (fp16 to fp16): from a CPU, fp32 or bf16
    checkpoint an fp16 run starts with a fresh scale, and an fp16 checkpoint's scale is dropped by a run
    without a scaler.

    Raises:
        CheckpointError: the file cannot be read.
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
