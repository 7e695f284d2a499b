"""Dataset adapters: a root folder in a dataset's real layout -> a manifest.

A manifest is a DataFrame with one row per image and the columns

- ``image_id``: the file stem (``ISIC_0000000``, ``CHNCXR_0001_0``, ``Mass-Test_P_00016_LEFT_CC``);
- ``image_path``: absolute path of the image, or ``""`` for a mask without an image;
- ``mask_path``: absolute path of the mask (several joined by ``|`` are united), or ``""`` when missing;
- ``split``: ``train``, ``val`` or ``test``;
- ``source``: which collection the row comes from (``isic2018``, ``shenzhen``, ``montgomery``, ...).

Orphans (an image without a mask, a mask without an image) are kept in the manifest so that the quality
step reports them; training reads only the clean manifest. Kaggle mirrors put the same folders one or two
levels deeper, so every adapter searches below its root (at most :data:`SEARCH_DEPTH` levels).

Example:
    >>> manifest = build_manifest("chest_xray", "/kaggle/input/chest-xray-masks-and-labels")
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from .errors import ConfigError, DataError
from .io import MASK_PART_SEPARATOR

__all__ = [
    "DATASETS",
    "MANIFEST_COLUMNS",
    "SPLITS",
    "SEARCH_DEPTH",
    "IMAGE_SUFFIXES",
    "build_manifest",
    "manifest_fingerprint",
    "limit_manifest",
]

MANIFEST_COLUMNS = ["image_id", "image_path", "mask_path", "split", "source"]
SPLITS = ("train", "val", "test")
SEARCH_DEPTH = 4
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _walk_dirs(root: Path, depth: int = SEARCH_DEPTH) -> Iterable[Path]:
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


def _files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def _check_root(root: str | Path, dataset: str) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data root {path} does not exist (dataset {dataset!r}); pass --data-root / data_root "
                        "pointing at the folder that holds the dataset")
    if not path.is_dir():
        raise DataError(f"data root {path} is a file, not a folder (dataset {dataset!r})")
    return path.resolve()


def _describe(root: Path) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError as exc:
        return f"(cannot list: {exc})"
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} entries)" if len(names) > 12 else "")
    return shown or "(empty folder)"


def _layout_error(dataset: str, root: Path, looked_for: str) -> DataError:
    return DataError(f"no {dataset} layout under {root}: looked for {looked_for} (searched {SEARCH_DEPTH} levels "
                     f"down); found {_describe(root)}")


def _pair(images: dict[str, Path], masks: dict[str, str], split: str, source: str) -> list[dict]:
    rows = []
    for key in sorted(set(images) | set(masks)):
        img = images.get(key)
        rows.append({"image_id": key, "image_path": str(img) if img else "", "mask_path": masks.get(key, ""),
                     "split": split, "source": source})
    return rows


# --------------------------------------------------------------------------------------------- ISIC

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
    the folder name give the split. ``*_superpixels.png`` files of the 2017 release are ignored.
    """
    base = _check_root(root, "isic2018")
    images: dict[str, dict[str, Path]] = {s: {} for s in SPLITS}
    masks: dict[str, dict[str, str]] = {s: {} for s in SPLITS}
    source = "isic"
    for d in _walk_dirs(base):
        split = _isic_split(d.name)
        if not _ISIC_DIR.match(d.name) or split is None:
            continue
        year = re.search(r"20(1[6-9]|2\d)", d.name)
        if year:
            source = f"isic{year.group(0)}"
        if "groundtruth" in d.name.lower():
            for p in _files(d, (".png",)):
                if p.stem.endswith("_segmentation"):
                    masks[split][p.stem[: -len("_segmentation")]] = str(p)
        else:
            for p in _files(d, (".jpg", ".jpeg", ".png")):
                if p.stem.startswith("ISIC_") and not p.stem.endswith(("_superpixels", "_segmentation")):
                    images[split][p.stem] = p
    rows = [r for s in SPLITS for r in _pair(images[s], masks[s], s, source)]
    if not any(images.values()):
        raise _layout_error("ISIC", base, "folders named ISIC*_Training_*/ISIC*_Test_* holding ISIC_*.jpg and "
                            "*GroundTruth folders holding ISIC_*_segmentation.png")
    return _frame(rows)


# ---------------------------------------------------------------------------------------- chest X-ray

def chest_xray_manifest(root: str | Path) -> pd.DataFrame:
    """Shenzhen (train) + Montgomery (test) lung masks.

    Two layouts are read:

    - Kaggle "chest-xray-masks-and-labels": ``Lung Segmentation/CXR_png/*.png`` and
      ``Lung Segmentation/masks/`` with ``CHNCXR_*_mask.png`` (Shenzhen) and ``MCUCXR_*.png`` (Montgomery);
    - the original NLM Montgomery set: ``CXR_png/`` with ``ManualMask/leftMask`` + ``ManualMask/rightMask``
      (the two lungs are united), and the NLM Shenzhen set ``CXR_png/`` + ``mask/`` (``*_mask.png``).

    Images without a mask (the Kaggle set has 800 images, 704 masks) stay in the manifest as orphans.
    """
    base = _check_root(root, "chest_xray")
    images: dict[str, Path] = {}
    masks: dict[str, str] = {}
    for d in _walk_dirs(base):
        cxr = d / "CXR_png"
        if not cxr.is_dir():
            continue
        for p in _files(cxr, (".png",)):
            if p.stem.startswith(("CHNCXR_", "MCUCXR_")):
                images.setdefault(p.stem, p)
        for mdir in (d / "masks", d / "mask"):
            if mdir.is_dir():
                for p in _files(mdir, (".png",)):
                    stem = p.stem[: -len("_mask")] if p.stem.endswith("_mask") else p.stem
                    masks.setdefault(stem, str(p))
        left, right = d / "ManualMask" / "leftMask", d / "ManualMask" / "rightMask"
        if left.is_dir() and right.is_dir():
            right_files = {p.stem: p for p in _files(right, (".png",))}
            for p in _files(left, (".png",)):
                parts = [str(p)] + ([str(right_files[p.stem])] if p.stem in right_files else [])
                masks.setdefault(p.stem, MASK_PART_SEPARATOR.join(parts))
    if not images:
        raise _layout_error("chest X-ray", base, "a CXR_png/ folder of CHNCXR_*.png / MCUCXR_*.png beside masks/ "
                            "(Kaggle 'Lung Segmentation') or ManualMask/ (NLM Montgomery)")
    rows = []
    for prefix, split, source in (("CHNCXR_", "train", "shenzhen"), ("MCUCXR_", "test", "montgomery")):
        imgs = {k: v for k, v in images.items() if k.startswith(prefix)}
        msks = {k: v for k, v in masks.items() if k.startswith(prefix)}
        rows += _pair(imgs, msks, split, source)
    return _frame(rows)


# ------------------------------------------------------------------------------------------ CBIS-DDSM

def cbis_ddsm_manifest(root: str | Path) -> pd.DataFrame:
    """CBIS-DDSM masses in the flat layout: ``images/`` and ``masks/`` with the same file names.

    Names start with ``Mass-Training_`` (train) or ``Mass-Test_`` (test), e.g.
    ``Mass-Test_P_00066_LEFT_CC_1.jpg``; a mask may carry a ``_mask`` suffix. Calcification cases
    (``Calc-*``) are not part of the study and are skipped.
    """
    base = _check_root(root, "cbis_ddsm")
    for d in _walk_dirs(base):
        if (d / "images").is_dir() and (d / "masks").is_dir():
            names = [p for p in _files(d / "images") if p.name.startswith("Mass-")]
            if names:
                return _paired_folder(d / "images", d / "masks", _cbis_split, "cbis_ddsm")
    raise _layout_error("CBIS-DDSM", base, "images/ and masks/ folders holding Mass-Training_*/Mass-Test_* files")


def _cbis_split(stem: str) -> str | None:
    if stem.startswith("Mass-Training"):
        return "train"
    if stem.startswith("Mass-Test"):
        return "test"
    return None


# --------------------------------------------------------------------------------------------- folder

def _strip_mask_suffix(stem: str) -> str:
    for suffix in ("_segmentation", "_mask", "-mask", "_Mask", "_seg", "_gt"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _paired_folder(images_dir: Path, masks_dir: Path, split_of: Callable[[str], str | None],
                   source: str) -> pd.DataFrame:
    images: dict[str, dict[str, Path]] = {s: {} for s in SPLITS}
    masks: dict[str, dict[str, str]] = {s: {} for s in SPLITS}
    for p in _files(images_dir):
        split = split_of(p.stem)
        if split:
            images[split][p.stem] = p
    for p in _files(masks_dir):
        stem = _strip_mask_suffix(p.stem)
        split = split_of(stem)
        if split:
            masks[split][stem] = str(p)
    return _frame([r for s in SPLITS for r in _pair(images[s], masks[s], s, source)])


def folder_manifest(root: str | Path) -> pd.DataFrame:
    """Generic layout: ``images/`` + ``masks/`` with the same stems (a ``_mask``/``_segmentation`` suffix on
    the mask is allowed), optionally under ``train/``, ``val/`` and ``test/``. Without split folders every
    pair is in the test split (for external validation with ``evaluate``)."""
    base = _check_root(root, "folder")
    for d in _walk_dirs(base):
        split_dirs = [s for s in SPLITS if (d / s / "images").is_dir()]
        if split_dirs:
            frames = [_paired_folder(d / s / "images", d / s / "masks" if (d / s / "masks").is_dir() else d / s,
                                     lambda _stem, s=s: s, "folder") for s in split_dirs]
            return _frame(pd.concat(frames).to_dict("records"))
        if (d / "images").is_dir() and (d / "masks").is_dir():
            return _paired_folder(d / "images", d / "masks", lambda _stem: "test", "folder")
    raise _layout_error("folder", base, "images/ + masks/ (optionally under train/, val/, test/)")


# ------------------------------------------------------------------------------------------- registry

DATASETS: dict[str, Callable[[str | Path], pd.DataFrame]] = {
    "isic2018": isic_manifest,
    "chest_xray": chest_xray_manifest,
    "cbis_ddsm": cbis_ddsm_manifest,
    "folder": folder_manifest,
}


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    order = {s: i for i, s in enumerate(SPLITS)}
    df = df.sort_values(["split", "image_id"], key=lambda c: c.map(order) if c.name == "split" else c)
    return df.reset_index(drop=True)


def build_manifest(dataset: str, root: str | Path) -> pd.DataFrame:
    """Build the manifest of ``dataset`` found under ``root``.

    Args:
        dataset: a key of :data:`DATASETS`.
        root: the folder holding the dataset (it may sit a few levels deeper, as in Kaggle mirrors).

    Returns:
        DataFrame with columns :data:`MANIFEST_COLUMNS`, sorted by split then image_id.

    Raises:
        ConfigError: unknown dataset name.
        DataError: missing root, or no recognisable layout below it (the message lists what was found).
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    df = DATASETS[dataset](root)
    paired = df[(df.image_path != "") & (df.mask_path != "")]
    if paired.empty:
        raise DataError(f"{dataset} under {root}: found {len(df)} files but no image/mask pair; check that masks "
                        "follow the dataset's naming (see seg_utils.datasets)")
    return df


def limit_manifest(manifest: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """Keep the first ``limit`` rows of each split (sorted by image_id): quick runs on a subset."""
    if not limit:
        return manifest
    return manifest.groupby("split", sort=False, group_keys=False).head(limit).reset_index(drop=True)


def manifest_fingerprint(manifest: pd.DataFrame, with_mtime: bool = False) -> str:
    """A short hash of what a manifest holds: ids, splits, file names and sizes (and mtimes if asked).

    Without mtimes the fingerprint is the same on every machine holding the same files, which is what a
    run spec records; the preprocessing cache adds mtimes so that a touched file rebuilds it.
    """
    h = hashlib.sha256()
    for row in manifest[MANIFEST_COLUMNS].itertuples(index=False):
        h.update(f"{row.image_id}\t{row.split}\t".encode())
        for path in (row.image_path, row.mask_path):
            for part in str(path).split(MASK_PART_SEPARATOR) if path else []:
                try:
                    st = os.stat(part)
                    h.update(f"{Path(part).name}:{st.st_size}".encode())
                    if with_mtime:
                        h.update(f":{st.st_mtime_ns}".encode())
                except OSError:
                    h.update(f"{Path(part).name}:missing".encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
