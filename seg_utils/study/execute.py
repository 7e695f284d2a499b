"""Running a notebook's grid: each configuration and seed of the parameters, skipping complete runs.

Example (the training cell of a dataset notebook)::

    runs = study.run_grid(params, data)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..data.io import read_json
from ..model import resolve_device
from .grid import config_name
from .params import DatasetParams
from .runs import execute_run, run_dir_for, run_status
from .spec import RunSpec

__all__ = ["RUN_COLUMNS", "RUN_SUMMARY_COLUMNS", "grid_specs", "run_grid", "execute_specs"]


def grid_specs(params: DatasetParams) -> list[RunSpec]:
    """The runs of the notebook: each configuration of :attr:`DatasetParams.grid` with each seed (this shard's)."""
    return [params.spec(*c, seed=s) for c in params.grid for s in params.seeds][params.shard_slice]

#: The columns of a :func:`run_grid` table worth reading (the others identify the run for the library).
RUN_SUMMARY_COLUMNS = ["config", "seed", "action", "dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run",
                       "best_epoch", "stopped_early", "seconds"]

RUN_COLUMNS = ["dataset", "config", "label", "arch", "encoder", "loss", "seed", "action", "dice_mean", "dice_ci_low",
               "dice_ci_high", "epochs_run", "best_epoch", "stopped_early", "seconds", "run_dir"]


def run_grid(params: DatasetParams, data) -> pd.DataFrame:
    """Train and evaluate every run of the grid: complete runs are skipped, interrupted ones resume.

    Args:
        params: the notebook's parameters.
        data: :func:`prepare`'s result for the same parameters.

    Returns:
        One row per run, columns ``dataset, config, label, arch, encoder, loss, seed, action`` (``trained``, ``resumed``
        or ``skipped``), ``dice_mean, dice_ci_low, dice_ci_high, epochs_run, best_epoch, stopped_early, seconds``
        (wall time in this call) and ``run_dir``.
    """
    return execute_specs(params, [(spec, data) for spec in grid_specs(params)])


def execute_specs(params: DatasetParams, jobs: Iterable[tuple[RunSpec, Any]]) -> pd.DataFrame:
    """Run each ``(spec, prepared data)`` of ``jobs`` in order (skip complete runs, resume interrupted ones).

    With ``params.train`` false nothing is trained: runs that are not complete are left out of the table (its
    ``attrs["notes"]`` counts them), and the tables built from it show them as missing.

    Returns:
        One row per job with the columns of :data:`RUN_COLUMNS` (see :func:`run_grid`).
    """
    device = None  # resolved when a run needs training, so train=False renders a cuda profile's report anywhere
    rows, not_run = [], []
    for spec, data in jobs:
        filled = spec.replace(data_fingerprint=data.fingerprint, quality_rules=data.report.rules.fingerprint)
        run_dir = run_dir_for(filled, params.results)
        before = run_status(run_dir)
        if before != "complete" and not params.train:
            not_run.append(filled.name)
            continue
        t0 = time.perf_counter()
        if before != "complete":
            device = device or resolve_device(params.device)
            run_dir = execute_run(spec, data, params.results, device, progress=params.progress)
        metrics = read_json(run_dir / "metrics.json")
        rows.append({
            "dataset": spec.dataset, "config": config_name(spec.arch, spec.encoder, spec.loss),
            "label": spec.label, "arch": spec.arch,
            "encoder": spec.encoder, "loss": spec.loss, "seed": spec.seed,
            "action": {"complete": "skipped", "partial": "resumed"}.get(before, "trained"),
            **{k: metrics.get(k) for k in ("dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run", "best_epoch",
                                           "stopped_early")},
            "seconds": round(time.perf_counter() - t0, 1), "run_dir": str(run_dir),
        })
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    df.attrs["notes"] = ([f"train=False: {len(not_run)} run(s) not complete and not trained: {', '.join(not_run)}"]
                         if not_run else [])
    return df
