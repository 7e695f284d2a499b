"""Running a notebook's grid: each configuration and seed of the parameters, skipping complete runs, going on
past failed ones, several at once on one device when asked (``parallel_runs``).

Runs are independent processes' work when ``parallel_runs`` > 1: each run is trained in a worker process, and a
run-level lock (:mod:`.locks`) keeps two workers, or two shards on one results folder, from training one run twice.
Before the first run trains, :func:`~.preflight.preflight` checks what every run needs (the device, each run's
splits, the encoder weights) and stops the notebook with one line where something is missing. A run that fails (a
NaN loss, out of memory twice, a damaged checkpoint) is recorded as ``failed`` with its reason and the grid goes on;
a rerun tries it again. A grid whose every run failed stops the notebook with their reasons.

Example (the training cell of a dataset notebook)::

    runs = study.run_grid(params, data)
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from ..errors import DataError, TrainingError
from .grid import config_name
from .locks import RunLocked, run_lock
from .parallel import resolve_parallel_runs
from .params import DatasetParams
from .preflight import check_not_all_failed, preflight
from .prepare import PreparedData
from .progress import epoch_event, run_ended, run_started
from .resume import import_runs
from .run_folder import fingerprinted, read_failure, read_metrics, run_dir_for, run_status
from .runs import execute_run
from .spec import RunSpec

__all__ = ["RUN_COLUMNS", "RUN_SUMMARY_COLUMNS", "grid_specs", "run_grid", "execute_specs"]


def grid_specs(params: DatasetParams) -> list[RunSpec]:
    """The runs of the notebook: each configuration of :attr:`DatasetParams.grid` with each seed (this shard's)."""
    return [params.spec(*c, seed=s) for c in params.grid for s in params.seeds][params.shard_slice]

#: The columns of a :func:`run_grid` table worth reading (the others identify the run for the library).
RUN_SUMMARY_COLUMNS = ["config", "seed", "action", "dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run",
                       "best_epoch", "stopped_early", "precision", "seconds", "reason"]

RUN_COLUMNS = ["dataset", "config", "label", "arch", "encoder", "loss", "seed", "action", "status", "dice_mean",
               "dice_ci_low", "dice_ci_high", "epochs_run", "best_epoch", "stopped_early", "precision", "seconds",
               "reason", "run_dir"]
#: What went wrong in a run that the grid records as failed and goes past (anything else stops the notebook).
_RUN_FAILURES = (TrainingError, DataError, RuntimeError)


def run_grid(params: DatasetParams, data: PreparedData) -> pd.DataFrame:
    """Train and evaluate every run of the grid: complete runs are skipped, interrupted ones resume, failed ones are
    tried again.

    Args:
        params: the notebook's parameters.
        data: :func:`~.prepare.prepare`'s result for the same parameters.

    Returns:
        One row per run, columns :data:`RUN_COLUMNS`: ``action`` is ``trained``, ``resumed``, ``retried``,
        ``skipped`` (complete before), ``failed`` or ``not run`` (``train=False``); ``status`` is the run folder's
        (``complete``, ``failed``, ``partial``, ``new``); ``reason`` says why a run failed; ``seconds`` is the wall
        time in this call.
    """
    return execute_specs(params, [(spec, data) for spec in grid_specs(params)])


def _run_one(spec: RunSpec, data: PreparedData, results: Path, device: str, progress: bool, precision: str,
             memory_format: str, index: int = 1, total: int = 1) -> tuple[str, float]:
    """Train one run unless it is complete; returns ``(action, seconds)``. Failures are recorded, not raised; the
    run's start, epochs and end are reported as it goes (:mod:`.progress`: run ``index`` of ``total``)."""
    run_dir = run_dir_for(spec, results)
    before = run_status(run_dir)
    if before == "complete":
        return "skipped", 0.0
    t0 = time.perf_counter()
    run_started(index, total, spec.name)
    try:
        execute_run(spec, data, results, device, progress, precision, memory_format,
                    on_epoch=epoch_event(index, total, spec.name))
        action = {"partial": "resumed", "failed": "retried"}.get(before, "trained")
    except RunLocked:  # another process (a parallel worker, another shard) trains it: wait for it to finish
        with run_lock(run_dir, wait=True):
            pass
        action = "trained elsewhere" if run_status(run_dir) == "complete" else "failed"
    except _RUN_FAILURES:
        action = "failed"
    seconds, status = time.perf_counter() - t0, run_status(run_dir)
    dice = read_metrics(run_dir).get("dice_mean")
    run_ended(index, total, spec.name, status, dice, seconds, read_failure(run_dir).get("reason", ""))
    return action, seconds


def _worker(args: tuple) -> tuple[str, float]:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return _run_one(*args)


def execute_specs(params: DatasetParams, jobs: Iterable[tuple[RunSpec, PreparedData]]) -> pd.DataFrame:
    """Run each ``(spec, prepared data)`` of ``jobs`` (skip complete runs, resume interrupted ones, retry failed
    ones), ``params.parallel_runs`` at a time.

    With ``params.train`` false nothing is trained: runs that are not complete are listed as ``not run`` (its
    ``attrs["notes"]`` counts them), and the tables built from it show them as missing. With
    ``params.resume_from`` the runs of a previous session's output are brought in first (:mod:`.resume`).

    Returns:
        One row per job with the columns of :data:`RUN_COLUMNS` (see :func:`run_grid`).
    """
    jobs = [(fingerprinted(spec, data), data)
            for spec, data in jobs]
    notes = import_runs(params.resume_from, params.results, [s for s, _ in jobs]) if params.resume_from else []
    actions: dict[str, tuple[str, float]] = {}
    todo = [(s, d) for s, d in jobs if run_status(run_dir_for(s, params.results)) != "complete"]
    if params.train and todo:
        preflight(todo, params.device)  # what is not one run's fault stops here, before any run trains
        args = [(s, d, params.results, params.device, params.progress, params.precision, params.memory_format, i,
                 len(todo)) for i, (s, d) in enumerate(todo, start=1)]
        workers = resolve_parallel_runs(params.parallel_runs, params.device, todo)
        if workers > 1:
            notes.append(f"{len(todo)} run(s) trained {workers} at a time (parallel_runs={params.parallel_runs})")
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                done = list(pool.map(_worker, args))
        else:
            done = [_run_one(*a) for a in args]
        actions = {s.name: a for (s, _), a in zip(todo, done, strict=True)}
    rows, not_run = [], []
    for spec, _data in jobs:
        run_dir = run_dir_for(spec, params.results)
        status = run_status(run_dir)
        action, seconds = actions.get(spec.name, ("skipped" if status == "complete" else "not run", 0.0))
        if action == "not run":
            not_run.append(spec.name)
        metrics = read_metrics(run_dir)
        rows.append({
            "dataset": spec.dataset, "config": config_name(spec.arch, spec.encoder, spec.loss), "label": spec.label,
            "arch": spec.arch, "encoder": spec.encoder, "loss": spec.loss, "seed": spec.seed, "action": action,
            "status": status, **{k: metrics.get(k) for k in ("dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run",
                                                            "best_epoch", "stopped_early", "precision")},
            "seconds": round(seconds, 1), "reason": read_failure(run_dir).get("reason", ""), "run_dir": str(run_dir),
        })
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if not_run:
        notes.append(f"train=False: {len(not_run)} run(s) not complete and not trained: {', '.join(not_run)}")
    failed = df[df.status == "failed"]
    if len(failed):
        notes.append(f"{len(failed)} run(s) failed (rerun to try them again): "
                     + "; ".join(f"{r.config} s{r.seed}: {r.reason}" for r in failed.itertuples()))
    df.attrs["notes"] = notes
    if params.train:
        check_not_all_failed(df)
    return df
