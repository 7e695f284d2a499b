"""CBIS-DDSM masses in the Kaggle JPEG conversion (``awsaf49/cbis-ddsm-breast-cancer-image-dataset``), read in place.

The layout (what Kaggle mounts under ``/kaggle/input/<slug>/``)::

    csv/mass_case_description_train_set.csv   one row per abnormality (train); calc_case_description_* are skipped
    csv/mass_case_description_test_set.csv    one row per abnormality (test)
    csv/dicom_info.csv                        one row per JPEG (optional here: it only breaks ties)
    jpeg/<SeriesInstanceUID>/<n>-<m>.jpg      full mammograms, cropped images and ROI masks

A case csv has ``patient_id`` (``P_00001``), ``left or right breast``, ``image view``, ``abnormality id``,
``abnormality type``, ``pathology``, ... and the DICOM paths ``image file path``, ``cropped image file path`` and
``ROI mask file path`` (``Mass-Training_P_00001_LEFT_CC_1/<StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm``):
the folder above the file name is the series, which is the folder under ``jpeg/``. ``dicom_info.csv`` has per JPEG
``image_path`` (``CBIS-DDSM/jpeg/<SeriesInstanceUID>/1-1.jpg``), ``PatientID``, ``SeriesInstanceUID``,
``SeriesDescription`` (``full mammogram images``, ``cropped images``, ``ROI mask images``), ``Rows``, ``Columns``.

Traps handled here: the ROI mask and the cropped image of an abnormality often share a series folder and are
swapped in some series (file names and SeriesDescription cannot be trusted), so they are told apart **by size**:
the mask has the mammogram's size, the crop is small. A mask stored at another size than its mammogram is still
taken when it is the larger file and has the mammogram's shape (aspect ratio within :data:`MASK_ASPECT_TOLERANCE`,
at least a quarter of its side); the rows say ``resize_mask``, so the readers resize it to the mammogram and the
quality inspection warns (``mask_resized``) instead of excluding it. A mammogram with several masses lists one ROI
mask per abnormality; ``whole`` unites them. Paths in the csvs may carry stray whitespace or newlines.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .crops import crop_window, format_crop, mask_box
from .io import MASK_PART_SEPARATOR, image_size
from .layout import frame

__all__ = ["CASE_FILES", "CASE_COLUMNS", "MASK_ASPECT_TOLERANCE", "NAME_PATTERN", "find_kaggle_root",
           "kaggle_manifest", "patient_of"]

#: The case csvs of the masses, by split (the calcification csvs are not read).
CASE_FILES = {"train": "mass_case_description_train_set.csv", "test": "mass_case_description_test_set.csv"}
#: The case-csv columns the adapter reads.
CASE_COLUMNS = ("patient_id", "left or right breast", "image view", "abnormality id", "abnormality type",
                "image file path", "cropped image file path", "ROI mask file path")
#: A mask of another size than its mammogram must have the mammogram's aspect ratio within this fraction.
MASK_ASPECT_TOLERANCE = 0.1
#: A CBIS-DDSM image name: the mammogram (group 1) and, for a per-abnormality file, the abnormality's number.
NAME_PATTERN = re.compile(r"^(Mass-(?:Training|Test)_P_\d{5}_(?:LEFT|RIGHT)_(?:CC|MLO))(?:_(\d+))?$")

_PREFIX = {"train": "Mass-Training", "test": "Mass-Test"}
_PATIENT = re.compile(r"P_\d{5}")
_MASK, _CROP, _FULL = "ROI mask images", "cropped images", "full mammogram images"


def patient_of(name: str) -> str:
    """The CBIS-DDSM patient (``P_00001``) in a name, or ``""``."""
    m = _PATIENT.search(name)
    return m.group(0) if m else ""


def find_kaggle_root(folder: Path) -> bool:
    """Whether ``folder`` holds the Kaggle layout (``csv/`` with a mass case csv, and ``jpeg/``)."""
    csv = folder / "csv"
    return csv.is_dir() and (folder / "jpeg").is_dir() and any((csv / f).is_file() for f in CASE_FILES.values())


class _Jpegs:
    """The JPEGs of each series folder under ``jpeg/``, their sizes, and dicom_info's description of each."""

    def __init__(self, root: Path) -> None:
        self.jpeg = root / "jpeg"
        self.described: dict[Path, str] = {}
        info = root / "csv" / "dicom_info.csv"
        if info.is_file():
            df = _read_csv(info)
            if {"image_path", "SeriesDescription"} <= set(df.columns):
                for path, desc in zip(df.image_path.astype(str), df.SeriesDescription.fillna("").astype(str),
                                      strict=True):
                    parts = path.strip().replace("\\", "/").split("/")
                    if len(parts) >= 2:
                        self.described[self.jpeg / parts[-2] / parts[-1]] = desc.strip()
        self._files: dict[str, list[Path]] = {}
        self._sizes: dict[Path, tuple[int, int] | None] = {}

    def series(self, dicom_path: object) -> list[Path]:
        """The JPEGs of the series a case-csv DICOM path names (the folder above its file name; any component that
        is a folder under ``jpeg/`` otherwise)."""
        parts = [p for p in str(dicom_path).strip().replace("\\", "/").split("/") if p.strip()]
        for uid in [*parts[-2:-1], *reversed(parts)]:
            uid = uid.strip()
            if uid not in self._files:
                d = self.jpeg / uid
                self._files[uid] = (sorted(d / n for n in os.listdir(d) if n.lower().endswith((".jpg", ".jpeg")))
                                    if uid and d.is_dir() else [])
            if self._files[uid]:
                return self._files[uid]
        return []

    def size(self, path: Path) -> tuple[int, int] | None:
        if path not in self._sizes:
            try:
                self._sizes[path] = image_size(path)
            except DataError:
                self._sizes[path] = None
        return self._sizes[path]

    def mammogram(self, files: list[Path]) -> Path | None:
        """The full mammogram of a series: the one JPEG, else the one described so, else the largest."""
        if len(files) <= 1:
            return files[0] if files else None
        described = [f for f in files if self.described.get(f) == _FULL]
        return described[0] if len(described) == 1 else max(files, key=lambda f: _area(self.size(f)))

    def mask(self, candidates: list[Path], shape: tuple[int, int] | None) -> Path | None:
        """The ROI mask among the JPEGs of an abnormality's mask and crop series, told apart by size (see the module
        docstring); None when none fits."""
        candidates = sorted(set(candidates))
        if not candidates:
            return None
        if shape is None:  # the mammogram is unreadable: trust the description, else the largest file
            described = [c for c in candidates if self.described.get(c) == _MASK]
            return described[0] if described else max(candidates, key=lambda c: _area(self.size(c)))
        same = [c for c in candidates if self.size(c) == shape]
        if same:
            return next((c for c in same if self.described.get(c) == _MASK), same[0])
        readable = [c for c in candidates if self.size(c) is not None]
        if not readable:  # the inspection reports the unreadable file
            return next((c for c in candidates if self.described.get(c) != _CROP), None)
        largest = max(readable, key=lambda c: _area(self.size(c)))
        return largest if _mask_like(self.size(largest), shape) else None


def _area(size: tuple[int, int] | None) -> int:
    return size[0] * size[1] if size else -1


def _mask_like(size: tuple[int, int] | None, shape: tuple[int, int]) -> bool:
    """Whether a file of ``size`` can be the mammogram's mask stored at another size."""
    if not size:
        return False
    aspect, want = size[0] / size[1], shape[0] / shape[1]
    return abs(aspect / want - 1) <= MASK_ASPECT_TOLERANCE and 4 * max(size) >= max(shape)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types on a damaged csv
        raise DataError(f"{path}: cannot be read as csv ({type(exc).__name__}: {exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _cases(root: Path) -> pd.DataFrame:
    """The mass abnormalities of both case csvs, one row each, with ``split``, ``mammogram`` and ``abnormality``."""
    frames = []
    for split, name in CASE_FILES.items():
        path = root / "csv" / name
        if not path.is_file():
            continue
        df = _read_csv(path)
        missing = [c for c in CASE_COLUMNS if c not in df.columns]
        if missing:
            raise DataError(f"{path}: lacks the columns {missing} (found {list(df.columns)}); is it the Kaggle "
                            "CBIS-DDSM case description csv?")
        df = df[df["abnormality type"].str.strip().str.lower() == "mass"].copy()
        df["split"] = split
        df["mammogram"] = [f"{_PREFIX[split]}_{p.strip()}_{s.strip().upper()}_{v.strip().upper()}" for p, s, v in
                           zip(df.patient_id, df["left or right breast"], df["image view"], strict=True)]
        df["abnormality"] = df["abnormality id"].str.strip()
        frames.append(df)
    if not frames:
        raise DataError(f"{root / 'csv'}: neither {' nor '.join(CASE_FILES.values())} is there")
    cases = pd.concat(frames, ignore_index=True)
    return cases.drop_duplicates(["split", "mammogram", "abnormality"]).reset_index(drop=True)


def kaggle_manifest(root: Path, task: str, workers: int | None = None) -> pd.DataFrame:
    """The manifest of the Kaggle CBIS-DDSM layout at ``root`` (the folder holding ``csv/`` and ``jpeg/``).

    Args:
        root: the slug folder.
        task: ``whole`` (one row per mammogram, the union of its masses) or ``mass_crop`` (one row per abnormality,
            ``<mammogram>_<abnormality id>``, with its ``crop`` window; the mask is still the union of the
            mammogram's masses, so a neighbouring mass inside the window is labelled too).
        workers: threads reading the masks' bounding boxes for ``mass_crop`` (default: up to 8).

    Returns:
        The manifest plus ``patient``, ``resize_mask`` (True) and, for ``mass_crop``, ``crop``. A mammogram or mask
        that cannot be found leaves its path empty, so that the quality inspection reports it.
    """
    jpegs = _Jpegs(root)
    cases = _cases(root)
    rows: list[dict] = []
    wanted: list[tuple[int, str, tuple[int, int], str]] = []  # (row, its mask, mammogram shape, the union)
    for (split, mammogram), group in cases.groupby(["split", "mammogram"], sort=True):
        image = jpegs.mammogram(jpegs.series(group["image file path"].iloc[0]))
        shape = jpegs.size(image) if image else None
        group = group.assign(_n=pd.to_numeric(group.abnormality, errors="coerce")).sort_values(["_n", "abnormality"])
        masks: list[tuple[str, str]] = []
        for abnormality, roi, cropped in zip(group.abnormality, group["ROI mask file path"],
                                             group["cropped image file path"], strict=True):
            found = jpegs.mask(jpegs.series(roi) + jpegs.series(cropped), shape)
            masks.append((abnormality, str(found) if found else ""))
        union = MASK_PART_SEPARATOR.join(dict.fromkeys(m for _, m in masks if m))
        base = {"image_path": str(image) if image else "", "split": split, "source": "cbis_ddsm",
                "patient": patient_of(mammogram), "resize_mask": True}
        if task == "whole":
            rows.append({**base, "image_id": mammogram, "mask_path": union})
            continue
        for abnormality, mask in masks:
            rows.append({**base, "image_id": f"{mammogram}_{abnormality}", "mask_path": mask, "crop": ""})
            if mask and shape:
                wanted.append((len(rows) - 1, mask, shape, union))
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for (k, _, _, union), box in zip(wanted, pool.map(_box, wanted), strict=True):
            if box is not None:  # else the row keeps its own mask alone: the inspection reports it empty/unreadable
                rows[k]["crop"] = format_crop(crop_window(box))
                rows[k]["mask_path"] = union
    extra = ["patient", "resize_mask"] + (["crop"] if task == "mass_crop" else [])
    return frame(rows, extra)


def _box(item: tuple[int, str, tuple[int, int], str]) -> tuple[int, int, int, int] | None:
    try:
        return mask_box(item[1], item[2])
    except DataError:
        return None
