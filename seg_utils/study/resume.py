"""Bringing a previous session's runs into this one (``resume_from``).

On Kaggle every session starts with an empty /kaggle/working; a previous session's output can be attached as an
input (read-only, e.g. ``/kaggle/input/<notebook-output>/``). :func:`import_runs` copies from it each run folder this
notebook asks for that is more advanced there than here (complete beats failed and interrupted, interrupted beats
nothing), so complete runs are skipped and interrupted ones resume from their ``last.pt``. Nothing is written under
the source, and a run that is already complete here is never replaced.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .locks import LOCK_NAME
from .runs import run_dir_for, run_status
from .spec import RunSpec

__all__ = ["import_runs", "find_runs_folder"]

_RANK = {"new": 0, "failed": 1, "partial": 2, "complete": 3}
_SEARCH_DEPTH = 4


def find_runs_folder(source: Path) -> Path:
    """The ``runs/`` folder of a results folder at or below ``source`` (a Kaggle output nests it a few levels down).

    Raises:
        ConfigError: ``source`` does not exist, or holds no ``runs/<dataset>/`` folder within a few levels.
    """
    if not source.is_dir():
        raise ConfigError(f"resume_from={str(source)!r} is not a folder; attach the previous session's output and "
                          "pass its path (e.g. /kaggle/input/<notebook-output>/results)")
    level = [source]
    for _ in range(_SEARCH_DEPTH + 1):
        for folder in level:
            runs = folder / "runs"
            if runs.is_dir() and any(p.is_dir() for p in runs.iterdir()):
                return runs
        level = [p for f in level for p in sorted(f.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    raise ConfigError(f"resume_from={str(source)!r}: no runs/<dataset>/<run>/ folder within {_SEARCH_DEPTH} levels; "
                      "pass the results folder of the previous session")


def import_runs(source: str | Path, results: str | Path, specs: Sequence[RunSpec]) -> list[str]:
    """Copy the runs of ``specs`` from a previous session's results (``source``) where they are further along.

    Returns:
        Notes for the run table: what was brought in, from where.
    """
    runs = find_runs_folder(Path(source).expanduser())
    brought: dict[str, list[str]] = {}
    for spec in specs:
        theirs = runs / spec.dataset / spec.name
        mine = run_dir_for(spec, results)
        state = run_status(theirs) if theirs.is_dir() else "new"
        if _RANK[state] <= _RANK[run_status(mine)]:
            continue
        if mine.exists():
            shutil.rmtree(mine)
        shutil.copytree(theirs, mine, ignore=shutil.ignore_patterns(LOCK_NAME, ".*.tmp"))
        brought.setdefault(state, []).append(spec.name)
    return [f"brought in from {runs}: {len(names)} {state} run(s) ({', '.join(names)})"
            for state, names in sorted(brought.items())]
