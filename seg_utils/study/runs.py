"""Run folders and their execution: train, evaluate, save; skip complete runs, resume interrupted ones.

A run folder ``<results>/runs/<dataset>/<arch>-<encoder>-<loss>-s<seed>-<run_id>/`` holds

- ``spec.json`` (the frozen :class:`~seg_utils.study.spec.RunSpec`), ``environment.json`` (versions, hardware,
  git commit), ``splits.json`` (train / validation / test ids);
- ``history.csv`` (per epoch), ``last.pt`` and ``best.pt`` (checkpoints);
- ``per_image.csv``, ``predictions.npz`` and, last of all, ``metrics.json``.

``metrics.json`` is written last and atomically: a run folder with it is complete and is skipped; a folder
without it resumes from ``last.pt``. A folder whose ``spec.json`` differs from the requested spec is
never reused.

Example:
    >>> data = prepare_data("chest_xray", "/kaggle/input/chest-xray-masks-and-labels", 224, "results")  # .prepare
    >>> run = execute_run(RunSpec("chest_xray", "unet", "resnet50", "bce"), data, "results")
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data import CachedData
from ..data.io import read_json, write_csv, write_json
from ..errors import ConfigError, DataError, TrainingError
from ..model import build_loss, build_model, fit, resolve_device
from ..model.device import amp_settings
from ..model.evaluate import evaluate_arrays, save_predictions
from ..model.models import count_parameters, model_deviation
from ..model.stats import run_ci
from ..model.train import load_checkpoint
from ..repro import environment_report, seed_everything
from .prepare import PreparedData, check_writable
from .spec import RunSpec

__all__ = ["run_dir_for", "run_status", "execute_run"]


def run_dir_for(spec: RunSpec, results: str | Path) -> Path:
    return Path(results) / "runs" / spec.dataset / spec.name


def run_status(run_dir: str | Path) -> str:
    """``complete`` (metrics.json), ``partial`` (a checkpoint, no metrics) or ``new``."""
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").is_file():
        return "complete"
    if (run_dir / "last.pt").is_file():
        return "partial"
    return "new"


def _split_rows(data: PreparedData, spec: RunSpec) -> dict[str, np.ndarray]:
    cache = data.cache
    train, val, test = cache.split("train"), cache.split("val"), cache.split("test")
    if len(train) == 0:
        raise DataError(f"{spec.dataset}: the training split is empty after the quality inspection")
    if len(test) == 0:
        raise DataError(f"{spec.dataset}: the test split is empty after the quality inspection")
    if len(val) == 0:  # no validation split of its own: carve a seeded one from the training split
        rng = np.random.default_rng(spec.seed)
        order = rng.permutation(train)
        n_val = max(2, round(spec.val_fraction * len(train)))
        if n_val >= len(train) - 1:
            raise DataError(f"{spec.dataset}: {len(train)} training images are too few to hold out "
                            f"{n_val} for validation; lower val_fraction or use more data")
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return {"train": train, "val": val, "test": test}


def _tensors(cache: CachedData, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(cache.images[rows]))
    masks = torch.from_numpy(np.ascontiguousarray(cache.masks[rows]))
    return images.to(device), masks.to(device)


def _check_spec(run_dir: Path, spec: RunSpec) -> None:
    path = run_dir / "spec.json"
    if path.is_file():
        saved = read_json(path)
        if saved != spec.to_dict():
            diff = sorted(k for k in set(saved) | set(spec.to_dict()) if saved.get(k) != spec.to_dict().get(k))
            raise TrainingError(f"{run_dir} belongs to another spec (differs in {diff}); it is not reused. Move it "
                                "away or choose another results folder")


def execute_run(spec: RunSpec, data: PreparedData, results: str | Path, device: str | torch.device = "auto",
                progress: bool = True) -> Path:
    """Train and evaluate one run, or skip it when complete, or resume it when interrupted.

    ``spec.data_fingerprint`` and ``spec.quality_rules`` are filled from ``data`` when empty.

    Returns:
        The run folder.
    """
    if spec.dataset != data.dataset or spec.image_size != data.image_size or spec.intensity != data.intensity:
        raise ConfigError(f"spec ({spec.dataset}, {spec.image_size}px, {spec.intensity}) does not match the prepared "
                          f"data ({data.dataset}, {data.image_size}px, {data.intensity})")
    rules_fp = data.report.rules.fingerprint
    if not spec.data_fingerprint or not spec.quality_rules:
        spec = spec.replace(data_fingerprint=spec.data_fingerprint or data.fingerprint,
                            quality_rules=spec.quality_rules or rules_fp)
    run_dir = run_dir_for(spec, results)
    _check_spec(run_dir, spec)
    if run_status(run_dir) == "complete":
        return run_dir
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    check_writable(run_dir)
    write_json(run_dir / "spec.json", spec.to_dict())
    write_json(run_dir / "environment.json", environment_report(dev))
    rows = _split_rows(data, spec)
    ids = data.cache.index.image_id.to_numpy()
    write_json(run_dir / "splits.json", {k: ids[v].tolist() for k, v in rows.items()})
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    seed_everything(spec.seed)
    model = build_model(spec.arch, spec.encoder, spec.weights)
    loss_fn = build_loss(spec.loss)
    train, val = _tensors(data.cache, rows["train"], dev), _tensors(data.cache, rows["val"], dev)
    t0 = time.perf_counter()
    history = fit(model, loss_fn, train, val, spec.train_settings(), run_dir, dev, progress)
    train_seconds = time.perf_counter() - t0
    del train, val
    test_images, test_masks = _tensors(data.cache, rows["test"], dev)
    t1 = time.perf_counter()
    per_image, summary, pred = evaluate_arrays(model, test_images, test_masks, ids[rows["test"]].tolist(),
                                               spec.batch_size, dev)
    eval_seconds = time.perf_counter() - t1
    write_csv(run_dir / "per_image.csv", per_image)
    save_predictions(run_dir / "predictions.npz", ids[rows["test"]].tolist(), pred)
    best = load_checkpoint(run_dir / "last.pt")["early_stopping"]
    summary.update({
        "run": spec.name, "label": spec.label, "best_epoch": best["best_epoch"], "best_val_loss": best["best"],
        "epochs_run": int(len(history)), "stopped_early": bool(len(history) < spec.epochs),
        "train_seconds_this_session": train_seconds, "train_images_per_s": float(history.images_per_s.median()),
        "test_images_per_s": len(per_image) / eval_seconds if eval_seconds > 0 else None,
        "n_train": int(len(rows["train"])), "n_val": int(len(rows["val"])), "n_test": int(len(rows["test"])),
        "parameters": count_parameters(model), "precision": amp_settings(dev).description,
        "model_deviation": model_deviation(spec.arch, spec.encoder), "device": str(dev),
    })
    summary.update(_confidence(per_image))
    write_json(run_dir / "metrics.json", summary)  # last: its presence marks the run complete
    (run_dir / "last.pt").unlink(missing_ok=True)  # best.pt keeps the weights; last.pt only served resuming
    return run_dir


def _confidence(per_image: pd.DataFrame) -> dict:
    ci = run_ci(per_image, "dice")
    return {"dice_ci_low": ci["ci_low"], "dice_ci_high": ci["ci_high"]}
