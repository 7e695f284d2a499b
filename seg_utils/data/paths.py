"""How a folder is named in what the study writes (reports, tables, notes, summaries, run records): never by the
absolute path of the machine that ran it.

A path under the repository, or beside it (``../shared/data``), is shown relative to the repository; any other
absolute path by its last two names (``.../pytest-3/results0``). A relative path is shown as given.

Example:
    >>> shown_path(REPOSITORY / "results" / "cpu-real")
    'results/cpu-real'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["REPOSITORY", "shown_path", "without_paths"]

#: The repository (the checkout holding ``seg_utils/``).
REPOSITORY = Path(__file__).resolve().parents[2]
_ELIDED = "..."


def _under(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` (``"."`` for ``base`` itself), or None where it is not below it."""
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else None


def shown_path(path: str | Path) -> str:
    """``path`` as a report shows it: relative to the repository where it lies under the repository or beside it
    (under the repository's parent folder, unless that is the file-system root), else ``.../<parent>/<name>``.

    Args:
        path: any path; a relative one is returned as given (``as_posix``), an empty one as ``""``.
    """
    if not str(path):
        return ""
    given = Path(path).expanduser()
    if not given.is_absolute():
        return given.as_posix()
    for candidate in dict.fromkeys((Path(os.path.abspath(given)), given.resolve())):
        inside = _under(candidate, REPOSITORY)
        if inside is not None:
            return inside
        parent = REPOSITORY.parent
        beside = _under(candidate, parent) if parent != Path(parent.anchor) else None
        if beside is not None:
            return "../" + beside if beside != "." else ".."
    parts = Path(os.path.abspath(given)).parts[1:]
    return "/".join([_ELIDED, *parts[-2:]]) if parts else _ELIDED


def without_paths(text: str, paths: Iterable[str | Path]) -> str:
    """``text`` with each absolute path of ``paths`` (and anything below it) written as :func:`shown_path` shows it;
    the longest first, so a folder inside another keeps its own name."""
    found = {str(Path(os.path.abspath(Path(p).expanduser()))) for p in paths if str(p) and Path(p).is_absolute()}
    found |= {str(Path(p).resolve()) for p in found}
    for path in sorted(found, key=len, reverse=True):
        if path == os.sep:
            continue
        pattern = re.escape(path) + r"((?:/[^\s'\",;:)\]]*)?)(?![\w-])"  # the folder, not /a/bc for /a/b
        text = re.sub(pattern, lambda m, p=path: shown_path(p + m.group(1)), text)
    return text
