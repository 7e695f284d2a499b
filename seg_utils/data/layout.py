"""What every dataset adapter shares: the manifest's columns, searching below a root, pairing images with masks.

A manifest is a DataFrame with one row per image and the columns

- ``image_id``: the file stem (``ISIC_0000000``, ``CHNCXR_0001_0``, ``Mass-Test_P_00016_LEFT_CC``);
- ``image_path``: absolute path of the image, or ``""`` for a mask without an image;
- ``mask_path``: absolute path of the mask (several joined by ``|`` are united), or ``""`` when missing;
- ``split``: ``train``, ``val`` or ``test``;
- ``source``: which collection the row comes from (``isic2018``, ``shenzhen``, ``montgomery``, ...).

Adapters may add columns (e.g. ``patient``); the quality step and the cache carry them along.
Orphans (an image without a mask, a mask without an image) are kept in the manifest so that the quality
step reports them; training reads only the clean manifest. Kaggle mirrors put the same folders one or two
levels deeper, so every adapter searches below its root (at most :data:`SEARCH_DEPTH` levels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..errors import DataError

__all__ = ["MANIFEST_COLUMNS", "SPLITS", "SEARCH_DEPTH", "IMAGE_SUFFIXES", "walk_dirs", "files", "check_root",
           "layout_error", "pair", "frame", "paired_folder", "strip_mask_suffix"]

MANIFEST_COLUMNS = ["image_id", "image_path", "mask_path", "split", "source"]
SPLITS = ("train", "val", "test")
SEARCH_DEPTH = 4
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def walk_dirs(root: Path, depth: int = SEARCH_DEPTH) -> Iterable[Path]:
    """Directories below ``root`` (root included), breadth first, at most ``depth`` levels down."""
    level = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            yield d
            try:
                nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")))
            except OSError:
                continue
        level = nxt


def files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def check_root(root: str | Path, dataset: str) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data root {path} does not exist (dataset {dataset!r}); pass --data-root / data_root "
                        "pointing at the folder that holds the dataset")
    if not path.is_dir():
        raise DataError(f"data root {path} is a file, not a folder (dataset {dataset!r})")
    return path.resolve()


def describe(root: Path) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError as exc:
        return f"(cannot list: {exc})"
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} entries)" if len(names) > 12 else "")
    return shown or "(empty folder)"


def layout_error(dataset: str, root: Path, looked_for: str) -> DataError:
    return DataError(f"no {dataset} layout under {root}: looked for {looked_for} (searched {SEARCH_DEPTH} levels "
                     f"down); found {describe(root)}")


def pair(images: dict[str, Path], masks: dict[str, str], split: str, source: str) -> list[dict]:
    rows = []
    for key in sorted(set(images) | set(masks)):
        img = images.get(key)
        rows.append({"image_id": key, "image_path": str(img) if img else "", "mask_path": masks.get(key, ""),
                     "split": split, "source": source})
    return rows


def strip_mask_suffix(stem: str) -> str:
    for suffix in ("_segmentation", "_mask", "-mask", "_Mask", "_seg", "_gt"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def paired_folder(images_dir: Path, masks_dir: Path, split_of: Callable[[str], str | None],
                   source: str) -> pd.DataFrame:
    images: dict[str, dict[str, Path]] = {s: {} for s in SPLITS}
    masks: dict[str, dict[str, str]] = {s: {} for s in SPLITS}
    for p in files(images_dir):
        split = split_of(p.stem)
        if split:
            images[split][p.stem] = p
    for p in files(masks_dir):
        stem = strip_mask_suffix(p.stem)
        split = split_of(stem)
        if split:
            masks[split][stem] = str(p)
    return frame([r for s in SPLITS for r in pair(images[s], masks[s], s, source)])


def frame(rows: list[dict], extra: Iterable[str] = ()) -> pd.DataFrame:
    """Manifest rows as a DataFrame (:data:`MANIFEST_COLUMNS` plus the adapter's ``extra`` columns), sorted by split
    then image_id."""
    df = pd.DataFrame(rows, columns=[*MANIFEST_COLUMNS, *extra])
    order = {s: i for i, s in enumerate(SPLITS)}
    df = df.sort_values(["split", "image_id"], key=lambda c: c.map(order) if c.name == "split" else c)
    return df.reset_index(drop=True)
