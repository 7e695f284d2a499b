"""CBIS-DDSM masses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .layout import check_root, files, layout_error, paired_folder, walk_dirs

__all__ = ["cbis_ddsm_manifest"]


def cbis_ddsm_manifest(root: str | Path, task: str = "whole") -> pd.DataFrame:
    """CBIS-DDSM masses in the flat layout: ``images/`` and ``masks/`` with the same file names.

    Names start with ``Mass-Training_`` (train) or ``Mass-Test_`` (test), e.g.
    ``Mass-Test_P_00066_LEFT_CC_1.jpg``; a mask may carry a ``_mask`` suffix. Calcification cases
    (``Calc-*``) are not part of the study and are skipped.
    """
    if task != "whole":
        raise ConfigError(f"cbis_task={task!r} is not implemented yet for this layout; use 'whole'")
    base = check_root(root, "cbis_ddsm")
    for d in walk_dirs(base):
        if (d / "images").is_dir() and (d / "masks").is_dir():
            names = [p for p in files(d / "images") if p.name.startswith("Mass-")]
            if names:
                return paired_folder(d / "images", d / "masks", _cbis_split, "cbis_ddsm")
    raise layout_error("CBIS-DDSM", base, "images/ and masks/ folders holding Mass-Training_*/Mass-Test_* files")


def _cbis_split(stem: str) -> str | None:
    if stem.startswith("Mass-Training"):
        return "train"
    if stem.startswith("Mass-Test"):
        return "test"
    return None
