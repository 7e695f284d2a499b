"""Checkpoints of a run folder (last.pt, best.pt, history.csv), the per-epoch seed, and the names train re-exports."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from seg_utils.errors import CheckpointError
from seg_utils.model import checkpoints, early_stopping, train
from seg_utils.model.checkpoints import HISTORY_COLUMNS, load_checkpoint, resume, save_epoch
from seg_utils.model.early_stopping import EarlyStopping


def _state(lr=0.1):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    return model, optimizer, scheduler, torch.amp.GradScaler("cpu", enabled=False), EarlyStopping(3, 0.01)


def _row(epoch, val_loss):
    return dict(zip(HISTORY_COLUMNS, [epoch, 1.0, val_loss, 0.5, 0.1, 2.0, 8.0], strict=True))


def test_save_epoch_then_resume_restores_the_training_state(tmp_path):
    model, optimizer, scheduler, scaler, stopper = _state()
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    history = [_row(1, 0.9), _row(2, 0.95)]
    assert stopper.step(0.9, 1) and not stopper.step(0.95, 2)
    save_epoch(tmp_path, model, optimizer, scheduler, scaler, stopper, 2, history, "fp32", best=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "last.pt"]  # best.pt only on a new best
    assert pd.read_csv(tmp_path / "history.csv").columns.tolist() == HISTORY_COLUMNS
    save_epoch(tmp_path, model, optimizer, scheduler, scaler, stopper, 2, history, "fp32", best=True)
    last = load_checkpoint(tmp_path / "last.pt")
    assert list(last) == ["model", "optimizer", "scheduler", "scaler", "early_stopping", "epoch", "history",
                          "precision"]
    assert torch.equal(load_checkpoint(tmp_path / "best.pt")["weight"], model.weight.detach())

    fresh, opt2, sched2, scaler2, stop2 = _state(lr=0.5)
    with torch.no_grad():
        fresh.weight.zero_()
    epochs, rows, precision = resume(tmp_path / "last.pt", fresh, opt2, sched2, scaler2, stop2)
    assert (epochs, rows, precision) == (2, history, "fp32")
    assert stop2.state_dict() == stopper.state_dict() == {"best": 0.9, "best_epoch": 1, "bad_epochs": 1}
    assert torch.equal(fresh.weight, model.weight) and sched2.state_dict() == scheduler.state_dict()
    assert opt2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_a_damaged_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"half a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt: the checkpoint cannot be read"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_the_epoch_seed_is_one_formula():
    """Every run's numbers hang on it: changing it changes the shuffling, augmentation and dropout of every epoch."""
    assert train.epoch_seed(0, 0) == 0 and train.epoch_seed(3, 2) == 3 * 100_003 + 2
    draws = torch.randperm(50, generator=train._epoch_generator(3, 2))
    assert torch.equal(draws, torch.randperm(50, generator=torch.Generator().manual_seed(train.epoch_seed(3, 2))))


def test_moved_names_stay_importable_from_train():
    assert train.load_checkpoint is checkpoints.load_checkpoint
    assert train.HISTORY_COLUMNS is checkpoints.HISTORY_COLUMNS
    assert train.EarlyStopping is early_stopping.EarlyStopping
    assert set(train.__all__) <= set(vars(train))
