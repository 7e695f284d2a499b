"""Executing a run: train, evaluate, save; skip complete runs, resume interrupted ones, record failed ones.

The run folder's files are :mod:`.run_folder`'s. ``metrics.json`` is written last and atomically: a run folder with
it is complete and is skipped; a folder without it resumes from ``last.pt``; ``failed.json`` records why a run
failed (a NaN loss, CUDA out of memory twice, a damaged checkpoint), for the tables and for the rerun, which tries
the run again. A folder whose ``spec.json`` differs from the requested spec is never reused. A run holds its
folder's lock (:mod:`.locks`) while it trains.

Example:
    >>> data = prepare_data("chest_xray", "/kaggle/input/chest-xray-masks-and-labels", 224, "results")  # .prepare
    >>> run = execute_run(RunSpec("chest_xray", "unet", "resnet50", "bce"), data, "results")
"""

from __future__ import annotations

import gc
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..data import CachedData
from ..data.cache import read_native_mask
from ..data.io import write_csv, write_json
from ..errors import CheckpointError, ConfigError, DataError, NonFiniteLossError, TrainingError
from ..model import build_loss, build_model, fit, resolve_device
from ..model.evaluate import evaluate_arrays, save_predictions
from ..model.models import count_parameters, model_deviation
from ..model.precision import amp_of, folder_probe_cache, probe_key, resolve_precision, user_probe_cache
from ..model.train import load_checkpoint, probe_step
from ..repro import environment_report, seed_everything
from ..stats import run_ci
from .locks import run_lock
from .prepare import PreparedData, check_writable
from .run_folder import (
    ENVIRONMENT,
    FAILED,
    FINAL,
    LAST,
    METRICS,
    PER_IMAGE,
    PREDICTIONS,
    SPEC,
    SPLITS,
    fingerprinted,
    read_failure,
    read_spec,
    run_dir_for,
    run_status,
)
from .spec import ADDED_FIELDS, RunSpec
from .splits import split_rows

__all__ = ["execute_run", "run_splits"]

_PROBE_BATCH = 8  # the precision probe's batch: the speed ratio hardly depends on it, the probe's time does


def run_splits(spec: RunSpec, data: PreparedData) -> dict[str, np.ndarray]:
    """The run's train / validation / test rows of ``data`` (:func:`~.splits.split_rows` with the spec's sources).

    Raises:
        DataError: a split the run needs is empty (the message says how to fix it).
    """
    return split_rows(data.clean, data.cache.index.split.to_numpy(), spec.dataset, spec.val_source, spec.val_fraction,
                      spec.seed, spec.test_source, spec.test_fraction)


def _tensors(cache: CachedData, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(cache.images[rows]))
    masks = torch.from_numpy(np.ascontiguousarray(cache.masks[rows]))
    return images.to(device), masks.to(device)


def _check_spec(run_dir: Path, spec: RunSpec) -> None:
    saved = read_spec(run_dir)
    if saved:
        known = {k: v for k, v in saved.items() if k in spec.to_dict()}
        if set(saved) - set(known) or RunSpec.from_dict(known).identity() != spec.identity():
            mine = spec.to_dict()
            diff = sorted(k for k in set(saved) | set(mine) if saved.get(k, RunSpec.default(k) if k in mine and
                          k in ADDED_FIELDS else None) != mine.get(k))
            raise TrainingError(f"{run_dir} belongs to another spec (differs in {diff}); it is not reused. Move it "
                                "away or choose another results folder")


def _fail(run_dir: Path, spec: RunSpec, exc: BaseException, note: str = "") -> None:
    """Record why the run failed (``failed.json``); the exception goes on to the caller."""
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}" + (f" ({note})" if note else "")
    write_json(run_dir / FAILED, {"run": spec.name, "reason": reason, "error": type(exc).__name__,
                                   "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def _clean_stale(run_dir: Path) -> None:
    """Remove temporary files a killed writer left (``.<name>.<random>.tmp``); nobody else writes here (the lock)."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _precision(spec: RunSpec, data: PreparedData, dev: torch.device, precision: str, memory_format: str):
    batch = min(spec.batch_size, _PROBE_BATCH)
    step = probe_step(lambda: build_model(spec.arch, spec.encoder, "none"), build_loss(spec.loss), spec.image_size,
                      batch, dev)
    key = probe_key(dev, f"{spec.arch}-{spec.encoder}", spec.image_size, batch)
    # once per machine and model: the user's cache, shared by every results folder; this folder's where it is read-only
    return resolve_precision(dev, precision, memory_format, step=step, cache=user_probe_cache(), key=key,
                             fallback=folder_probe_cache(data.cache.path.parent))


def _train(spec: RunSpec, data: PreparedData, rows: dict, run_dir: Path, dev: torch.device, amp,
           progress: bool, on_epoch=None) -> tuple:
    """fit, retried once with half micro-batches and gradient accumulation after CUDA runs out of memory, and once in
    fp32 (from the last good epoch's checkpoint) after a non-finite loss in fp16 (e.g. a T4's fp16 + GradScaler).

    Returns:
        ``(model, history, settings, amp, notes)``: ``amp`` is the precision the run finished in.
    """
    settings, notes = spec.train_settings(), []
    while True:
        seed_everything(spec.seed)
        model = build_model(spec.arch, spec.encoder, spec.weights)
        train, val = _tensors(data.cache, rows["train"], dev), _tensors(data.cache, rows["val"], dev)
        try:
            history = fit(model, build_loss(spec.loss), train, val, settings, run_dir, dev, amp, progress, on_epoch)
            return model, history, settings, amp, notes
        except NonFiniteLossError as exc:
            if amp.name != "fp16":
                raise
            notes.append(f"the loss became non-finite in fp16 ({str(exc).split(': ', 1)[-1].split(';')[0]}): retried "
                         "once in fp32 from the last good epoch's checkpoint")
            amp = amp_of("fp32", amp.memory_format)
        except torch.cuda.OutOfMemoryError as exc:
            del model, train, val
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            if settings.accumulate > 1 or settings.batch_size < 4:
                raise TrainingError(f"{spec.name}: out of memory also with micro-batches of "
                                    f"{settings.batch_size // settings.accumulate} ({exc})") from exc
            settings = spec.train_settings(accumulate=2)


def execute_run(spec: RunSpec, data: PreparedData, results: str | Path, device: str | torch.device = "auto",
                progress: bool = True, precision: str = "auto", memory_format: str = "auto", on_epoch=None) -> Path:
    """Train and evaluate one run, or skip it when complete, or resume it when interrupted.

    ``spec.data_fingerprint`` and ``spec.quality_rules`` are filled from ``data`` when empty. A failed run is
    tried again (its ``failed.json`` is replaced by the outcome of this attempt).

    Args:
        spec, data, results: the run, its prepared data, the results folder.
        device: ``auto``, ``cpu``, ``cuda`` or a torch device.
        progress: tqdm bars.
        precision, memory_format: see :mod:`seg_utils.model.precision` (``auto``: measured on the CPU).
        on_epoch: called with each epoch's history row (:func:`seg_utils.model.fit`; live progress).

    Returns:
        The run folder.

    Raises:
        RunLocked: another live process trains this run.
        TrainingError: the run failed (recorded in ``failed.json`` first): a NaN loss, out of memory twice, a
            damaged checkpoint (moved aside to ``last.pt.corrupt``, so the next attempt starts afresh).
    """
    wanted = (spec.dataset, spec.image_size, spec.intensity, spec.cbis_task)
    if wanted != (data.dataset, data.image_size, data.intensity, data.cbis_task):
        have = (data.dataset, data.image_size, data.intensity, data.cbis_task)
        raise ConfigError(f"spec {wanted} does not match the prepared data {have} (dataset, size, intensity, "
                          "CBIS task)")
    spec = fingerprinted(spec, data)
    run_dir = run_dir_for(spec, results)
    _check_spec(run_dir, spec)
    if run_status(run_dir) == "complete":
        return run_dir
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    check_writable(run_dir)
    with run_lock(run_dir):
        if run_status(run_dir) == "complete":  # finished by another process while this one waited
            return run_dir
        previous = read_failure(run_dir)
        (run_dir / FAILED).unlink(missing_ok=True)
        _clean_stale(run_dir)
        try:
            _execute(spec, data, run_dir, dev, progress, precision, memory_format, previous, on_epoch)
        except CheckpointError as exc:
            (run_dir / LAST).replace(run_dir / f"{LAST}.corrupt")
            _fail(run_dir, spec, exc, "moved aside to last.pt.corrupt: a rerun starts this run from epoch 1")
            raise
        except (TrainingError, DataError, RuntimeError) as exc:  # RuntimeError: CUDA errors, out of memory
            _fail(run_dir, spec, exc)
            raise
    return run_dir


def _execute(spec: RunSpec, data: PreparedData, run_dir: Path, dev: torch.device, progress: bool, precision: str,
             memory_format: str, previous: dict, on_epoch=None) -> None:
    write_json(run_dir / SPEC, spec.to_dict())
    rows = run_splits(spec, data)
    ids = data.cache.index.image_id.to_numpy()
    write_json(run_dir / SPLITS, {k: ids[v].tolist() for k, v in rows.items()})
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp, precision_record = _precision(spec, data, dev, precision, memory_format)
    write_json(run_dir / ENVIRONMENT, {**environment_report(dev), "precision": precision_record})
    t0 = time.perf_counter()
    model, history, settings, amp, retry_notes = _train(spec, data, rows, run_dir, dev, amp, progress, on_epoch)
    train_seconds = time.perf_counter() - t0
    if spec.keep_weights == "last":
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / FINAL)
    test_images, test_masks = _tensors(data.cache, rows["test"], dev)
    native = ([read_native_mask(data.clean.iloc[int(r)]) for r in rows["test"]]
              if spec.eval_resolution == "original" else None)
    t1 = time.perf_counter()
    per_image, summary, pred = evaluate_arrays(model, test_images, test_masks, ids[rows["test"]].tolist(),
                                               spec.batch_size, amp, native)
    eval_seconds = time.perf_counter() - t1
    write_csv(run_dir / PER_IMAGE, per_image)
    save_predictions(run_dir / PREDICTIONS, ids[rows["test"]].tolist(), pred)
    best = load_checkpoint(run_dir / LAST)["early_stopping"]
    notes = ([f"retried after {previous['reason']}"] if previous else []) + retry_notes
    if settings.accumulate > 1:
        notes.append(f"CUDA ran out of memory at batch {spec.batch_size}: retried with micro-batches of "
                     f"{spec.batch_size // settings.accumulate} and gradient accumulation over {settings.accumulate} "
                     "(the same effective batch; batch norm sees the smaller micro-batches)")
    if "resumed_from" in history.attrs and history.attrs["resumed_from"] != amp.name:
        notes.append(f"resumed from a {history.attrs['resumed_from']} checkpoint in {amp.name}")
    summary.update({
        "run": spec.name, "label": spec.label, "best_epoch": best["best_epoch"], "best_val_loss": best["best"],
        "epochs_run": int(len(history)), "stopped_early": bool(len(history) < spec.epochs),
        "weights": f"{spec.keep_weights} epoch", "eval_resolution": spec.eval_resolution,
        "train_seconds_this_session": train_seconds, "train_images_per_s": float(history.images_per_s.median()),
        "test_images_per_s": len(per_image) / eval_seconds if eval_seconds > 0 else None,
        "n_train": int(len(rows["train"])), "n_val": int(len(rows["val"])), "n_test": int(len(rows["test"])),
        "parameters": count_parameters(model), "precision": amp.description, "accumulate": settings.accumulate,
        "model_deviation": model_deviation(spec.arch, spec.encoder), "device": str(dev), "notes": notes,
    })
    ci = run_ci(per_image, "dice")
    summary.update({"dice_ci_low": ci["ci_low"], "dice_ci_high": ci["ci_high"]})
    write_json(run_dir / METRICS, summary)  # last: its presence marks the run complete
    (run_dir / LAST).unlink(missing_ok=True)  # best.pt / final.pt keep the weights; last.pt only served resuming
