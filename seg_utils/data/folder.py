"""The generic paired layout: ``images/`` + ``masks/`` with the same stems."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .layout import SPLITS, check_root, frame, layout_error, paired_folder, walk_dirs

__all__ = ["folder_manifest"]


def folder_manifest(root: str | Path) -> pd.DataFrame:
    """Generic layout: ``images/`` + ``masks/`` with the same stems (a ``_mask``/``_segmentation`` suffix on
    the mask is allowed), optionally under ``train/``, ``val/`` and ``test/``. Without split folders every
    pair is in the test split (for external validation with ``evaluate``)."""
    base = check_root(root, "folder")
    for d in walk_dirs(base):
        split_dirs = [s for s in SPLITS if (d / s / "images").is_dir()]
        if split_dirs:
            frames = [paired_folder(d / s / "images", d / s / "masks" if (d / s / "masks").is_dir() else d / s,
                                     lambda _stem, s=s: s, "folder") for s in split_dirs]
            return frame(pd.concat(frames).to_dict("records"))
        if (d / "images").is_dir() and (d / "masks").is_dir():
            return paired_folder(d / "images", d / "masks", lambda _stem: "test", "folder")
    raise layout_error("folder", base, "images/ + masks/ (optionally under train/, val/, test/)")
