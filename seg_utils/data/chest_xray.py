"""Chest X-rays: Shenzhen (training) and Montgomery (test), in the Kaggle and the NLM layouts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .io import MASK_PART_SEPARATOR
from .layout import check_root, files, frame, layout_error, pair, walk_dirs

__all__ = ["chest_xray_manifest"]


def chest_xray_manifest(root: str | Path) -> pd.DataFrame:
    """Shenzhen (train) + Montgomery (test) lung masks.

    Two layouts are read:

    - Kaggle "chest-xray-masks-and-labels": ``Lung Segmentation/CXR_png/*.png`` and
      ``Lung Segmentation/masks/`` with ``CHNCXR_*_mask.png`` (Shenzhen) and ``MCUCXR_*.png`` (Montgomery);
    - the original NLM Montgomery set: ``CXR_png/`` with ``ManualMask/leftMask`` + ``ManualMask/rightMask``
      (the two lungs are united), and the NLM Shenzhen set ``CXR_png/`` + ``mask/`` (``*_mask.png``).

    Images without a mask (the Kaggle set has 800 images, 704 masks) stay in the manifest as orphans. The Kaggle copy
    holds its folder twice (``Lung Segmentation/`` and ``data/Lung Segmentation/``): an image or mask is taken once,
    from the copy found first (the shallower one), so the duplicate adds nothing.
    """
    base = check_root(root, "chest_xray")
    images: dict[str, Path] = {}
    masks: dict[str, str] = {}
    read: set[Path] = set()  # folders holding CXR_png/: nothing below them is searched
    for d in walk_dirs(base, prune=read.__contains__):
        cxr = d / "CXR_png"
        if not cxr.is_dir():
            continue
        read.add(d)
        for p in files(cxr, (".png",)):
            if p.stem.startswith(("CHNCXR_", "MCUCXR_")):
                images.setdefault(p.stem, p)
        for mdir in (d / "masks", d / "mask"):
            if mdir.is_dir():
                for p in files(mdir, (".png",)):
                    stem = p.stem[: -len("_mask")] if p.stem.endswith("_mask") else p.stem
                    masks.setdefault(stem, str(p))
        left, right = d / "ManualMask" / "leftMask", d / "ManualMask" / "rightMask"
        if left.is_dir() and right.is_dir():
            right_files = {p.stem: p for p in files(right, (".png",))}
            for p in files(left, (".png",)):
                parts = [str(p)] + ([str(right_files[p.stem])] if p.stem in right_files else [])
                masks.setdefault(p.stem, MASK_PART_SEPARATOR.join(parts))
    if not images:
        raise layout_error("chest X-ray", base, "a CXR_png/ folder of CHNCXR_*.png / MCUCXR_*.png beside masks/ "
                            "(Kaggle 'Lung Segmentation') or ManualMask/ (NLM Montgomery)")
    rows = []
    for prefix, split, source in (("CHNCXR_", "train", "shenzhen"), ("MCUCXR_", "test", "montgomery")):
        imgs = {k: v for k, v in images.items() if k.startswith(prefix)}
        msks = {k: v for k, v in masks.items() if k.startswith(prefix)}
        rows += pair(imgs, msks, split, source)
    return frame(rows)
