"""ISIC Task 1 layouts (2018, and the 2017 / 2016 releases that share its naming)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .layout import SPLITS, check_root, files, frame, layout_error, pair, walk_dirs

__all__ = ["isic_manifest"]

_ISIC_SPLIT = (("train", re.compile(r"train", re.I)), ("val", re.compile(r"valid", re.I)),
               ("test", re.compile(r"test", re.I)))
_ISIC_DIR = re.compile(r"^(ISIC|ISBI)", re.I)


def _isic_split(name: str) -> str | None:
    for split, pattern in _ISIC_SPLIT:
        if pattern.search(name):
            return split
    return None


def isic_manifest(root: str | Path) -> pd.DataFrame:
    """ISIC 2018 Task 1 (and the 2017 / 2016 Task 1 layouts, which share the naming).

    Images are ``ISIC_*.jpg`` in folders named like ``ISIC2018_Task1-2_Training_Input``,
    ``ISIC-2017_Training_Data`` or ``ISBI2016_ISIC_Part1_Training_Data``; masks are
    ``ISIC_*_segmentation.png`` in the matching ``*GroundTruth`` folder. Training / Validation / Test in
    the folder name give the split: the official Validation folder's rows are split ``val`` (a run's ``val_source``
    decides whether it validates on them or on a share of training). ``*_superpixels.png`` files of the 2017 release
    are ignored. Kaggle copies put the folders anywhere below the root, often nested in a folder of the same name
    (``ISIC2018_Task1-2_Training_Input/ISIC2018_Task1-2_Training_Input/``); a folder without ground truth (the most
    used Kaggle copy has masks for Training only) leaves its rows' ``mask_path`` empty. Folders of other datasets
    attached beside it are ignored: only folders named ``ISIC*``/``ISBI*`` with a split in their name are read.

    Raises:
        DataError: no ISIC layout below ``root``, or folders of several years (2016, 2017, 2018): the releases share
            images, so they are never merged; the message lists the years and folders found and how to pick one.
    """
    base = check_root(root, "isic2018")
    images: dict[str, dict[str, Path]] = {s: {} for s in SPLITS}
    masks: dict[str, dict[str, str]] = {s: {} for s in SPLITS}
    source = "isic"
    years: dict[str, list[Path]] = {}
    read: set[Path] = set()  # folders that held ISIC files: nothing below them is searched
    for d in walk_dirs(base, prune=read.__contains__):
        split = _isic_split(d.name)
        if not _ISIC_DIR.match(d.name) or split is None:
            continue
        year = re.search(r"20(1[6-9]|2\d)", d.name)
        if year:
            source = f"isic{year.group(0)}"
            years.setdefault(year.group(0), []).append(d)
        if "groundtruth" in d.name.lower():
            for p in files(d, (".png",)):
                if p.stem.endswith("_segmentation"):
                    masks[split][p.stem[: -len("_segmentation")]] = str(p)
                    read.add(d)
        else:
            for p in files(d, (".jpg", ".jpeg", ".png")):
                if p.stem.startswith("ISIC_") and not p.stem.endswith(("_superpixels", "_segmentation")):
                    images[split][p.stem] = p
                    read.add(d)
    if len(years) > 1:
        raise _several_years(base, years)
    rows = [r for s in SPLITS for r in pair(images[s], masks[s], s, source)]
    if not any(images.values()):
        raise layout_error("ISIC", base, "folders named ISIC*_Training_*/ISIC*_Test_* holding ISIC_*.jpg and "
                            "*GroundTruth folders holding ISIC_*_segmentation.png")
    return frame(rows)


def _several_years(base: Path, years: dict[str, list[Path]]) -> DataError:
    """The error for a root holding several ISIC years: each year with its folders, and how to pick one."""
    found, roots = [], []
    for year in sorted(years):
        folders = sorted(years[year])
        parent = Path(os.path.commonpath(folders)) if len(folders) > 1 else folders[0].parent
        names = ", ".join(str(f.relative_to(base)) for f in folders)
        found.append(f"{year}: {names}")
        others = [f for y, fs in years.items() if y != year for f in fs]
        if parent != base and not any(parent == f or parent in f.parents for f in others):
            roots.append(str(parent))
    how = (f"pass the folder of the year you want as the data root (--data-root / data_root): {' or '.join(roots)}"
           if roots else "put each year's folders in a folder of their own and pass that folder as the data root "
           "(--data-root / data_root)")
    return DataError(f"{base} holds ISIC Task 1 data of several years ({'; '.join(found)}); the releases share "
                     f"images and are not merged: {how}")
