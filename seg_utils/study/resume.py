"""Bringing a previous session's runs into this one (``resume_from``).

On Kaggle every session starts with an empty /kaggle/working; a previous session's output can be attached as an
input (read-only, e.g. ``/kaggle/input/<notebook-output>/``). :func:`import_runs` copies from it each run folder this
notebook asks for that is more advanced there than here (complete beats failed and interrupted, interrupted beats
nothing), so complete runs are skipped and interrupted ones resume from their ``last.pt``. Nothing is written under
the source, and a run that is already complete here is never replaced.

Several sources may be named, separated by commas (``/kaggle/input/shard-1,/kaggle/input/shard-2``): the outputs of
the kernels that each trained one shard of a grid. Each run is taken from the source where it is furthest along (the
first such source on a tie), so the shards' runs merge into one results folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .locks import LOCK_NAME
from .run_folder import run_dir_for, run_status
from .spec import RunSpec

__all__ = ["import_runs", "find_runs_folder", "split_sources"]

_RANK = {"new": 0, "failed": 1, "partial": 2, "complete": 3}
_SEARCH_DEPTH = 4


def split_sources(source: str | Path) -> list[Path]:
    """The folders of a ``resume_from`` value: one folder, or several separated by commas (blanks around them are
    ignored; a folder whose name holds a comma cannot be named).

    Raises:
        ConfigError: the value names no folder (empty, or only commas), or names one folder twice.
    """
    parts = [p.strip() for p in str(source).split(",")]
    folders = [Path(p).expanduser() for p in parts if p]
    if not folders:
        raise ConfigError(f"resume_from={str(source)!r} names no folder; pass a previous session's results folder, or "
                          "several separated by commas")
    if len(set(folders)) < len(folders):
        raise ConfigError(f"resume_from={str(source)!r} names a folder twice; name each source once")
    return folders


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
    """Copy the runs of ``specs`` from previous sessions' results (``source``: one folder, or several separated by
    commas) where they are further along than here.

    Returns:
        Notes for the run table: what was brought in, from where (one note per source and state).

    Raises:
        ConfigError: as :func:`split_sources` and :func:`find_runs_folder`, for any of the sources (all are checked
            before anything is copied).
    """
    sources = [find_runs_folder(folder) for folder in split_sources(source)]
    brought: dict[tuple[int, str], list[str]] = {}
    for spec in specs:
        mine = run_dir_for(spec, results)
        best, best_state = -1, run_status(mine)
        for i, runs in enumerate(sources):
            theirs = runs / spec.dataset / spec.name
            state = run_status(theirs) if theirs.is_dir() else "new"
            if _RANK[state] > _RANK[best_state]:
                best, best_state = i, state
        if best < 0:
            continue
        if mine.exists():
            shutil.rmtree(mine)
        shutil.copytree(sources[best] / spec.dataset / spec.name, mine,
                        ignore=shutil.ignore_patterns(LOCK_NAME, ".*.tmp"))
        brought.setdefault((best, best_state), []).append(spec.name)
    return [f"brought in from {sources[i]}: {len(names)} {state} run(s) ({', '.join(names)})"
            for (i, state), names in sorted(brought.items())]
