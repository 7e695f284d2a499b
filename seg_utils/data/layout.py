"""What every dataset adapter shares: the manifest's columns, searching below a root, pairing images with masks.

A manifest is a DataFrame with one row per image and the columns

- ``image_id``: the file stem (``ISIC_0000000``, ``CHNCXR_0001_0``, ``Mass-Test_P_00016_LEFT_CC``);
- ``image_path``: absolute path of the image, or ``""`` for a mask without an image;
- ``mask_path``: absolute path of the mask (several joined by ``|`` are united), or ``""`` when missing;
- ``split``: ``train``, ``val`` or ``test``;
- ``source``: which collection the row comes from (``isic2018``, ``shenzhen``, ``montgomery``, ...).

Adapters may add columns (e.g. ``patient``); the quality step and the cache carry them along.
Orphans (an image without a mask, a mask without an image) are kept in the manifest so that the quality
step reports them; training reads only the clean manifest.

Kaggle mounts an attached dataset at ``/kaggle/input/<slug>/`` or (newer) ``/kaggle/input/datasets/<owner>/<slug>/``,
and the copies nest their folders once more (``X/X/``, ``data/Lung Segmentation/``), so every adapter searches below
its root (:func:`walk_dirs`: at most :data:`SEARCH_DEPTH` levels), and several datasets attached under one root are
the normal case: each adapter picks its own folders by name. The search stays cheap on real trees (CBIS-DDSM's
``jpeg/`` holds ~6,700 series folders, an ISIC folder thousands of images): a folder of many image files or many
subfolders is a folder of data, not of datasets, and is not entered (:data:`LEAF_IMAGE_FILES`,
:data:`LEAF_SUBFOLDERS`), nor is a folder an adapter has recognised as its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd

from ..errors import DataError

__all__ = ["MANIFEST_COLUMNS", "SPLITS", "SEARCH_DEPTH", "LEAF_IMAGE_FILES", "LEAF_SUBFOLDERS", "IMAGE_SUFFIXES",
           "walk_dirs", "files", "check_root", "layout_error", "pair", "frame", "paired_folder", "strip_mask_suffix"]

MANIFEST_COLUMNS = ["image_id", "image_path", "mask_path", "split", "source"]
SPLITS = ("train", "val", "test")
#: How many levels below the data root the adapters search: ``datasets/<owner>/<slug>/X/X`` (a Kaggle copy nested
#: once more under the newer mount) is 5 levels below ``/kaggle/input``; one level is spare (e.g. a data root of
#: ``/kaggle``).
SEARCH_DEPTH = 6
#: A folder holding at least this many image files is a folder of images: the search does not enter its subfolders.
LEAF_IMAGE_FILES = 256
#: A folder holding at least this many subfolders (CBIS-DDSM's ``jpeg/``: one per DICOM series) is not entered.
LEAF_SUBFOLDERS = 256
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def walk_dirs(root: Path, depth: int = SEARCH_DEPTH, prune: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Directories below ``root`` (root included), breadth first, sorted by name within a folder.

    Every folder reached is yielded; its subfolders are searched unless

    - it is ``depth`` levels below ``root``;
    - it holds :data:`LEAF_IMAGE_FILES` image files or :data:`LEAF_SUBFOLDERS` subfolders (a folder of images, or
      CBIS-DDSM's ``jpeg/`` of series folders: its subfolders hold data, not datasets; listing stops at the limit);
    - ``prune(folder)`` is true. It is asked when the caller asks for the next folder, so an adapter can prune a folder
      it has just recognised as its own (its data is read, nothing below it is searched);
    - it cannot be listed.

    Hidden folders (``.name``) are skipped.

    Args:
        root: the folder to search.
        depth: how many levels below ``root`` to go.
        prune: which yielded folders not to enter.

    Yields:
        The folders, level by level.
    """
    level = [root]
    for k in range(depth + 1):
        nxt: list[Path] = []
        for d in level:
            yield d
            if k < depth and not (prune is not None and prune(d)):
                nxt.extend(_subfolders(d))
        level = nxt


def _subfolders(folder: Path) -> list[Path]:
    """The subfolders :func:`walk_dirs` enters below ``folder``: none for a folder of many images or subfolders."""
    names: list[str] = []
    images = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    names.append(entry.name)
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    images += 1
                if images >= LEAF_IMAGE_FILES or len(names) >= LEAF_SUBFOLDERS:
                    return []
    except OSError:
        return []
    return [folder / name for name in sorted(names)]


def files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The files directly in ``folder`` whose suffix (any case) is one of ``suffixes``, sorted; hidden files skipped.

    Raises:
        OSError: ``folder`` cannot be listed.
    """
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if not e.name.startswith(".")
                      and os.path.splitext(e.name)[1].lower() in suffixes and e.is_file())


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
                     f"down, not entering folders of {LEAF_IMAGE_FILES}+ images or {LEAF_SUBFOLDERS}+ subfolders); "
                     f"found {describe(root)}; pass --data-root / data_root pointing at the folder that holds the "
                     "dataset (or a parent of it)")


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
