"""What a notebook made: ``<results>/summaries/<name>.json`` (parameters, artefacts, runs), read by the report."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.io import write_json
from ..errors import ConfigError
from .params import DatasetParams, TableParams

__all__ = ["SUMMARIES", "summary_path", "write_summary"]

#: The folder of the summaries, under the results folder.
SUMMARIES = "summaries"


def summary_path(results: str | Path, name: str) -> Path:
    """``<results>/summaries/<name>.json``: where notebook ``name`` (e.g. ``dataset_isic2018``) records what it made."""
    return Path(results) / SUMMARIES / f"{name}.json"


def _flatten(items: Iterable[Any]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        if isinstance(item, str | Path):
            out.append(Path(item))
        else:
            out.extend(_flatten(item))
    return out


def write_summary(params: DatasetParams | TableParams, *artefacts: Any, name: str | None = None,
                  runs: pd.DataFrame | None = None, ablation_runs: pd.DataFrame | None = None) -> Path:
    """Write ``<results>/summaries/<name>.json``: the parameters, the artefacts made, and the runs.

    Args:
        params: the notebook's parameters.
        artefacts: paths, or lists of paths (as ``report.save_table`` and
            ``report.save_figure`` return them).
        name: the notebook's name (default: ``params.name``, e.g. ``dataset_isic2018``).
        runs: the :func:`~.execute.run_grid` table, recorded with each run's action and Dice (the table notebooks
            read the grid's runs from here).
        ablation_runs: the :func:`~.ablation.run_ladder` table, recorded apart from the grid's runs.

    Returns:
        The summary's path.

    Raises:
        ConfigError: an artefact does not exist (a notebook claims a file it did not write).
    """
    name = name or getattr(params, "name", None)
    if not name:
        raise ConfigError("write_summary needs name= for a table notebook (e.g. 'table_encoders')")
    paths = _flatten(artefacts)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"write_summary: these artefacts do not exist: {missing}")
    results = params.results

    def rel(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(results)) if p.is_relative_to(results) else str(p)

    summary = {
        "notebook": name,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": params.to_dict(),
        "artefacts": [rel(p) for p in paths],
    }
    for key, table in (("runs", runs), ("ablation_runs", ablation_runs)):
        if table is not None:
            summary[key] = [{**r, "run_dir": rel(Path(r["run_dir"]))} for r in table.to_dict("records")]
    return write_json(results / "summaries" / f"{name}.json", summary)
