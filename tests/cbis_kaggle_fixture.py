"""A tiny CBIS-DDSM in the Kaggle JPEG layout (``awsaf49/cbis-ddsm-breast-cancer-image-dataset``), written at test time.

It mirrors the Kaggle schema: ``csv/mass_case_description_{train,test}_set.csv`` and
``csv/calc_case_description_train_set.csv`` with the case columns (DICOM-style paths
``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/00000n.dcm``), ``csv/dicom_info.csv`` with one row per JPEG
(``image_path`` = ``CBIS-DDSM/jpeg/<SeriesInstanceUID>/1-n.jpg``, ``SeriesDescription``, ``Rows``, ``Columns``, ...),
and ``jpeg/<SeriesInstanceUID>/1-n.jpg``. Mammograms are 96 x 80 (rows x columns) grey JPEGs; ROI masks are full-size
JPEGs (rectangles on the 8-pixel JPEG grid, so they decode to exact 0/255), crops are small.

What it holds (see :data:`EXPECTED`): a mammogram with two masses whose windows overlap, one patient's three views
(both breasts), a swapped crop/mask pair (the csv's ROI path names the crop's series and the dicom_info descriptions
follow the csv), a crop and mask sharing one series folder, a mask stored at half size, a ROI path with a trailing
newline, a patient in both train and test, a calcification case (skipped), and both splits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

SLUG = "cbis-ddsm-breast-cancer-image-dataset"
ROWS, COLS = 96, 80

MASS_COLUMNS = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
                "image file path", "cropped image file path", "ROI mask file path"]
CALC_COLUMNS = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
                "image file path", "cropped image file path", "ROI mask file path"]
DICOM_INFO_COLUMNS = ["file_path", "image_path", "BodyPartExamined", "Columns", "Laterality", "Modality",
                      "PatientID", "PatientName", "Rows", "SeriesDescription", "SeriesInstanceUID",
                      "StudyInstanceUID"]

# (split, patient, side, view, [(abnormality id, box y0 x0 y1 x1, how the ROI files are stored)])
# how: "separate" (mask and crop in their own series), "shared" (one series: 1-1.jpg crop, 1-2.jpg mask),
# "swapped" (the csv's ROI path names the crop's series and the crop path the mask's), "half" (mask stored at
# half size), "newline" (the csv's ROI path ends in a newline, as in the real csv).
CASES = [
    ("train", "P_00001", "LEFT", "CC", [(1, (16, 8, 32, 24), "shared"), (2, (24, 32, 40, 48), "separate")]),
    ("train", "P_00001", "LEFT", "MLO", [(1, (48, 16, 64, 40), "separate")]),
    ("train", "P_00001", "RIGHT", "CC", [(1, (32, 40, 56, 64), "newline")]),
    ("train", "P_00004", "RIGHT", "CC", [(1, (40, 24, 64, 48), "swapped")]),
    ("train", "P_00007", "LEFT", "MLO", [(1, (16, 16, 32, 32), "half")]),
    ("train", "P_00009", "RIGHT", "MLO", [(1, (56, 24, 72, 40), "separate")]),
    ("train", "P_00010", "LEFT", "CC", [(1, (24, 24, 48, 48), "separate")]),
    ("train", "P_00012", "LEFT", "CC", [(1, (64, 32, 80, 56), "shared")]),
    ("train", "P_00013", "RIGHT", "CC", [(1, (8, 40, 32, 64), "separate")]),
    ("test", "P_00020", "LEFT", "CC", [(1, (32, 16, 48, 40), "separate")]),
    ("test", "P_00020", "LEFT", "MLO", [(1, (48, 40, 64, 56), "shared")]),
    ("test", "P_00021", "RIGHT", "CC", [(1, (8, 8, 24, 24), "separate"), (2, (64, 48, 88, 72), "swapped")]),
    ("test", "P_00010", "RIGHT", "MLO", [(1, (40, 32, 56, 48), "separate")]),
]
CALC = ("train", "P_00030", "LEFT", "CC", [(1, (40, 40, 48, 48), "separate")])

EXPECTED = {
    "mammograms": {"train": 9, "test": 4},
    "abnormalities": {"train": 10, "test": 5},
    "two_masses": "Mass-Training_P_00001_LEFT_CC",
    "swapped": "Mass-Training_P_00004_RIGHT_CC",
    "half_size_mask": "Mass-Training_P_00007_LEFT_MLO",
    "calcification": "Calc-Training_P_00030_LEFT_CC",
    "leaking_patient": "P_00010",  # in train and test: its train image is excluded
}


def _uid(counter: list[int]) -> str:
    counter[0] += 1
    return f"1.3.6.1.4.1.9590.100.1.2.{100000 + counter[0]}"


def _mammogram(seed: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A grey 'breast' of fine random texture (distinct per seed) with brighter masses in ``boxes``."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 200, size=(12, 10)).astype(np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((COLS, ROWS), Image.BICUBIC), dtype=np.float64)
    img += rng.normal(0, 6, size=img.shape)
    for y0, x0, y1, x1 in boxes:
        img[y0:y1, x0:x1] += 45
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, "JPEG", quality=95)


def write_cbis_kaggle(parent: Path) -> Path:
    """Write the fixture into ``parent/<slug>/`` and return that folder (what Kaggle mounts)."""
    root = parent / SLUG
    counter = [0]
    info: list[dict] = []
    tables: dict[str, list[dict]] = {}

    def jpeg(series: str, n: int, arr: np.ndarray, patient_id: str, study: str, desc: str, side: str) -> None:
        _save(arr, root / "jpeg" / series / f"1-{n}.jpg")
        info.append({"file_path": f"CBIS-DDSM/dicom/{series}.{n}.dcm",
                     "image_path": f"CBIS-DDSM/jpeg/{series}/1-{n}.jpg", "BodyPartExamined": "BREAST",
                     "Columns": arr.shape[1], "Laterality": side[0], "Modality": "MG",
                     "PatientID": patient_id, "PatientName": patient_id, "Rows": arr.shape[0],
                     "SeriesDescription": desc, "SeriesInstanceUID": series, "StudyInstanceUID": study})

    for seed, (split, patient, side, view, masses) in enumerate([*CASES, CALC], start=1):
        kind = "Calc" if (split, patient, side, view, masses) == CALC else "Mass"
        prefix = f"{kind}-{'Training' if split == 'train' else 'Test'}"
        pid = f"{prefix}_{patient}_{side}_{view}"
        image = _mammogram(seed, [b for _, b, _ in masses])
        study, series = _uid(counter), _uid(counter)
        jpeg(series, 1, image, pid, study, "full mammogram images", side)
        for abn, (y0, x0, y1, x1), how in masses:
            mask = np.zeros((ROWS, COLS), np.uint8)
            mask[y0:y1, x0:x1] = 255
            crop = image[y0:y1, x0:x1]
            apid, astudy = f"{pid}_{abn}", _uid(counter)
            if how == "half":
                mask = np.asarray(Image.fromarray(mask).resize((COLS // 2, ROWS // 2), Image.NEAREST))
            if how == "shared":
                s_mask = s_crop = _uid(counter)
                jpeg(s_crop, 1, crop, apid, astudy, "cropped images", side)
                jpeg(s_mask, 2, mask, apid, astudy, "ROI mask images", side)
                f_mask, f_crop = "000001.dcm", "000000.dcm"
            else:
                s_mask, s_crop = _uid(counter), _uid(counter)
                if how == "swapped":  # the files sit in each other's series; the descriptions follow the csv
                    jpeg(s_mask, 1, crop, apid, astudy, "ROI mask images", side)
                    jpeg(s_crop, 1, mask, apid, astudy, "cropped images", side)
                else:
                    jpeg(s_mask, 1, mask, apid, astudy, "ROI mask images", side)
                    jpeg(s_crop, 1, crop, apid, astudy, "cropped images", side)
                f_mask = f_crop = "000000.dcm"
            roi_path = f"{apid}/{astudy}/{s_mask}/{f_mask}" + ("\n" if how == "newline" else "")
            row = {"patient_id": patient, "breast_density": 2, "breast density": 2, "left or right breast": side,
                   "image view": view, "abnormality id": abn, "abnormality type": kind.lower().replace("calc",
                                                                                                  "calcification"),
                   "mass shape": "OVAL", "mass margins": "CIRCUMSCRIBED", "calc type": "AMORPHOUS",
                   "calc distribution": "CLUSTERED", "assessment": 4, "pathology": "MALIGNANT", "subtlety": 3,
                   "image file path": f"{pid}/{study}/{series}/000000.dcm",
                   "cropped image file path": f"{apid}/{astudy}/{s_crop}/{f_crop}", "ROI mask file path": roi_path}
            tables.setdefault(f"{kind.lower()}_case_description_{split}_set.csv", []).append(row)
    (root / "csv").mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns = CALC_COLUMNS if name.startswith("calc") else MASS_COLUMNS
        _write_csv(root / "csv" / name, columns, rows)
    _write_csv(root / "csv" / "dicom_info.csv", DICOM_INFO_COLUMNS, info)
    return root


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
