"""The report's reader of run folders and notebook summaries: every table, figure and notebook reads results here.

A run folder's files and their names are :mod:`seg_utils.study.run_folder`'s (this module re-exports its readers);
a notebook's summary (:mod:`seg_utils.study.summary`) names its parameters and runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.io import read_json
from ..model.evaluate import load_predictions
from ..study.grid import LOSS_NAMES, model_label
from ..study.run_folder import (
    FAILED,
    METRICS,
    PREDICTIONS,
    read_failure,
    read_history,
    read_metrics,
    read_per_image,
    read_spec,
    run_folders,
    run_status,
)
from ..study.spec import RunSpec, option_for
from ..study.summary import summary_path

__all__ = ["KEY", "GRID_OPTIONS", "read_spec", "read_per_image", "read_history", "read_predictions", "has_predictions",
           "read_summary", "read_summaries", "read_metrics", "minutes", "collect_runs", "select_runs", "run_label",
           "load_histories", "load_per_image"]

#: What identifies a configuration across seeds.
KEY = ["dataset", "arch", "encoder", "loss"]
#: The options that tell a grid run from an ablation run (or a run of another protocol) of the same configuration.
GRID_OPTIONS = ("intensity", "augment", "schedule", "val_source", "cbis_task", "keep_weights", "eval_resolution",
                "test_source", "test_fraction")


def read_predictions(run_dir: str | Path) -> dict[str, np.ndarray]:
    """``{image_id: bool (H, W)}`` of a run's test predictions."""
    return load_predictions(Path(run_dir) / PREDICTIONS)


def has_predictions(run_dir: str | Path) -> bool:
    """Whether a run kept its test predictions (a committed study keeps none)."""
    return (Path(run_dir) / PREDICTIONS).is_file()


def read_summary(results: str | Path, name: str) -> dict[str, Any]:
    """The summary notebook ``name`` wrote (``{}`` when it has not run)."""
    path = summary_path(results, name)
    return read_json(path) if path.is_file() else {}


def read_summaries(results: str | Path) -> list[dict[str, Any]]:
    """Every notebook summary under ``results`` (unreadable ones left out), by file name."""
    out = []
    for path in sorted(summary_path(results, "*").parent.glob("*.json")):
        try:
            out.append(read_json(path))
        except (OSError, ValueError):
            continue
    return out


def minutes(run_dir: str | Path) -> float:
    """Training minutes of a run, summed over its epochs (NaN without a history)."""
    history = read_history(run_dir)
    return float(history.seconds.sum() / 60) if "seconds" in history else float("nan")


def collect_runs(results: str | Path, dataset: str | None = None, failed: bool = False) -> pd.DataFrame:
    """One row per complete run under ``results/runs``: the spec's fields, the metrics, ``status`` and ``run_dir``.

    With ``failed``, runs that failed (``failed.json``, no metrics) are listed too, with ``status`` ``failed`` and
    their ``reason``.
    """
    rows = []
    for run_dir in run_folders(results, dataset):
        status = run_status(run_dir)
        if status != "complete" and not (failed and status == "failed"):
            continue
        row = read_spec(run_dir)
        if status == "complete":
            row.update({f"m_{k}" if k in row else k: v for k, v in read_metrics(run_dir).items()})
        else:
            row["reason"] = read_failure(run_dir).get("reason", "")
        row.update(status=status, run_dir=str(run_dir))
        rows.append(row)
    return pd.DataFrame(rows)


def select_runs(results: str | Path, dataset: str | None = None, failed: bool = False) -> pd.DataFrame:
    """The complete runs under ``results/runs`` that stand for each dataset's grid, one per configuration and seed.

    A run counts when its data-driven options (intensity, augmentation, schedule) are the grid's: those of the
    dataset notebook's parameters in ``summaries/dataset_<dataset>.json``, or the poster's (none, none, constant)
    where no summary exists yet. So the runs of an ablation ladder (same configuration, other options) never stand
    in for the grid's, whatever state the folder is in (likewise the validation source, CBIS task, kept weights and
    evaluation resolution). Of several counting runs of one configuration and seed, a complete one wins over a
    failed one, then one the summary lists as a grid run, then the newest (e.g. other epochs). With ``failed``, a
    configuration and seed whose only run failed is kept, with ``status`` ``failed``.

    Returns:
        :func:`collect_runs`'s columns (``dataset, arch, encoder, loss, seed, ..., run_dir``), one
        row per configuration and seed; empty (with those key columns) when there is no run.
    """
    runs = collect_runs(results, dataset, failed)
    if runs.empty:
        return pd.DataFrame(columns=[*KEY, "seed", "run_dir"])
    keep, listed = np.zeros(len(runs), bool), set()
    for ds in runs.dataset.unique():
        summary = read_summary(results, f"dataset_{ds}")
        # the value each option takes in this dataset's runs (one it ignores, e.g. cbis_task for ISIC: the default)
        given = summary.get("parameters", {})
        options = {k: option_for(ds, k, given.get(k, RunSpec.default(k))) for k in GRID_OPTIONS}
        same = np.ones(len(runs), bool)
        for field, value in options.items():
            column = runs[field] if field in runs else pd.Series(RunSpec.default(field), index=runs.index)
            same &= column.fillna(RunSpec.default(field)).eq(value).to_numpy()
        keep |= (runs.dataset == ds).to_numpy() & same
        listed |= {Path(r["run_dir"]).name for r in summary.get("runs", [])}
    runs = runs[keep].copy()
    runs["_listed"] = runs.run_dir.map(lambda d: Path(d).name in listed)
    runs["_complete"] = runs.status.eq("complete")
    runs["_mtime"] = [max((p.stat().st_mtime_ns for p in (Path(d) / METRICS, Path(d) / FAILED)
                           if p.is_file()), default=0) for d in runs.run_dir]
    runs = runs.sort_values(["_complete", "_listed", "_mtime"], kind="stable").drop_duplicates([*KEY, "seed"],
                                                                                              keep="last")
    return runs.drop(columns=["_complete", "_listed", "_mtime"]).sort_values([*KEY, "seed"]).reset_index(drop=True)


def run_label(row: Mapping[str, Any], with_seed: bool) -> str:
    """``U-Net_RN50 BCE`` (and `` s1`` with the seed): how the figures name a run."""
    name = f"{model_label(row['arch'], row['encoder'])} {LOSS_NAMES.get(row['loss'], row['loss'])}"
    return f"{name} s{row['seed']}" if with_seed else name


def load_histories(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{run label: history}`` of the runs in ``runs`` (a ``study.run_grid`` table) that have one, e.g.
    ``U-Net_RN50 BCE`` (a failed run's history shows how it got there)."""
    with_seed = runs.seed.nunique() > 1
    return {run_label(row, with_seed): read_history(row["run_dir"]) for row in runs.to_dict("records")
            if not read_history(row["run_dir"]).empty}


def load_per_image(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{run label: per-image metrics}`` of the complete runs in ``runs`` (a ``study.run_grid`` table)."""
    with_seed = runs.seed.nunique() > 1
    return {run_label(row, with_seed): read_per_image(row["run_dir"]) for row in runs.to_dict("records")
            if row.get("status", "complete") == "complete"}
