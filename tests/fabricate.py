"""Fabricated run folders for the table and figure tests: the files a complete run leaves, without training."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from seg_utils.data.io import write_csv, write_json
from seg_utils.model.evaluate import save_predictions
from seg_utils.study.run_folder import run_dir_for
from seg_utils.study.spec import RunSpec

SIZE = 32


def image_ids(dataset: str, n: int = 12) -> list[str]:
    """Test image ids of a dataset; the first four are the poster's named panel images."""
    from seg_utils.study.reference import poster_panel_images

    named = [Path(s).stem for s in poster_panel_images(dataset)]
    return named + [f"{dataset}_img{i:03d}" for i in range(n - len(named))]


def masks(ids: list[str]) -> np.ndarray:
    """Deterministic ground-truth squares, one per image."""
    out = np.zeros((len(ids), SIZE, SIZE), bool)
    for k in range(len(ids)):
        out[k, 4 + k % 5: 20 + k % 5, 6: 22] = True
    return out


def make_run(results: Path, dataset: str, arch: str, encoder: str, loss: str, dice: np.ndarray | float,
             seed: int = 0, epochs: int = 3, ids: list[str] | None = None, mtime: float | None = None) -> Path:
    """Write a complete run folder whose per-image Dice is ``dice`` (an array over ``ids`` or a constant)."""
    ids = ids or image_ids(dataset)
    dice = np.broadcast_to(np.asarray(dice, dtype=float), (len(ids),)).copy()
    spec = RunSpec(dataset, arch, encoder, loss, image_size=SIZE, epochs=epochs, batch_size=4, weights="none",
                   seed=seed, data_fingerprint="fab", quality_rules="fab")
    run_dir = run_dir_for(spec, results)
    write_json(run_dir / "spec.json", spec.to_dict())
    write_csv(run_dir / "per_image.csv", pd.DataFrame({"image_id": ids, "dice": dice, "iou": dice / (2 - dice)}))
    write_csv(run_dir / "history.csv", pd.DataFrame({
        "epoch": np.arange(1, epochs + 1), "train_loss": np.linspace(0.7, 0.3, epochs),
        "val_loss": np.linspace(0.8, 0.4, epochs), "val_dice": np.linspace(0.5, 0.8, epochs),
        "lr": 1e-3, "seconds": 1.0, "images_per_s": 10.0}))
    pred = masks(ids)
    pred[:, :, :2] = True  # a little different from the ground truth
    save_predictions(run_dir / "predictions.npz", ids, pred)
    write_json(run_dir / "metrics.json", {"dice_mean": float(dice.mean()), "n_images": len(ids),
                                          "epochs_run": epochs, "best_epoch": epochs})
    if mtime is not None:
        os.utime(run_dir / "metrics.json", (mtime, mtime))
    return run_dir


def cache_for(dataset: str, ids: list[str] | None = None) -> SimpleNamespace:
    """An object shaped like seg_utils.data.cache.CachedData for the fabricated test images."""
    ids = ids or image_ids(dataset)
    m = masks(ids)
    images = np.repeat((m[..., None] * 120 + 60).astype(np.uint8), 3, axis=3)
    return SimpleNamespace(images=images, masks=m.astype(np.uint8),
                           index=pd.DataFrame({"image_id": ids, "split": "test", "source": dataset}))


def runs_table(run_dirs: list[Path]) -> pd.DataFrame:
    """A run_grid-like table of fabricated runs."""
    from seg_utils.data.io import read_json

    rows = []
    for d in run_dirs:
        spec = read_json(d / "spec.json")
        rows.append({k: spec[k] for k in ("dataset", "arch", "encoder", "loss", "seed")} | {"run_dir": str(d)})
    return pd.DataFrame(rows)
