"""What a notebook made: ``<results>/summaries/<name>.json`` (parameters, artefacts, runs), read by the report."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.io import write_json
from ..data.paths import shown_path
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


def _shown(name: str, value: Any) -> Any:
    """A parameter as a summary records it: a folder (``*_dir``, ``*_root``, ``resume_from``; several separated by
    commas) as :func:`~seg_utils.data.paths.shown_path` shows it, never as this machine's absolute path."""
    if not isinstance(value, str) or not value or not name.endswith(("_dir", "_root", "resume_from")):
        return value
    return ",".join(shown_path(part.strip()) for part in value.split(","))


def write_summary(params: DatasetParams | TableParams, *artefacts: Any, name: str | None = None,
                  runs: pd.DataFrame | None = None, ablation_runs: pd.DataFrame | None = None) -> Path:
    """Write ``<results>/summaries/<name>.json``: the parameters (folders relative to the repository, or by their
    last names: :func:`~seg_utils.data.paths.shown_path`), the artefacts made, and the runs.

    Args:
        params: the notebook's parameters.
        artefacts: paths, or lists of paths (as ``report.save_table`` and
            ``report.save_figure`` return them).
        name: the notebook's name (default: ``params.notebook_name``, e.g. ``dataset_isic2018``).
        runs: the :func:`~.execute.run_grid` table, recorded with each run's action and Dice (the table notebooks
            read the grid's runs from here).
        ablation_runs: the :func:`~.ablation.run_ladder` table, recorded apart from the grid's runs.

    Returns:
        The summary's path.

    Raises:
        ConfigError: an artefact does not exist (a notebook claims a file it did not write).
    """
    name = name or getattr(params, "notebook_name", None)
    if not name:
        raise ConfigError("write_summary needs name= for a table notebook (e.g. 'table_encoders')")
    paths = _flatten(artefacts)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"write_summary: these artefacts do not exist: {missing}")
    results = params.results

    def rel(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(results)) if p.is_relative_to(results) else shown_path(p)

    summary = {
        "notebook": name,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {k: _shown(k, v) for k, v in params.to_dict().items()},
        "artefacts": [rel(p) for p in paths],
    }
    for key, table in (("runs", runs), ("ablation_runs", ablation_runs)):
        if table is not None:
            summary[key] = [{**r, "run_dir": rel(Path(r["run_dir"]))} for r in table.to_dict("records")]
    return write_json(results / "summaries" / f"{name}.json", summary)
