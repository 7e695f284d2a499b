"""The three datasets as Kaggle mounts their public copies, tiny, written at test time.

``write_kaggle_input(root)`` lays out under ``root`` (what a notebook passes as ``--data-root /kaggle/input``) the
copies a Kaggle user attaches, with the copies' own folder names and nesting, and returns each dataset's mounted
folder. Kaggle mounts an attached dataset at ``/kaggle/input/<slug>/`` (``mount="slug"``) or, in newer notebooks, at
``/kaggle/input/datasets/<owner>/<slug>/`` (``mount="datasets"``).

What the public copies hold (found in public code that reads them in place; the quoted paths are theirs):

- ISIC 2018 Task 1, ``tschandl/isic2018-challenge-task1-data-segmentation`` (the most used copy): the official
  folders side by side at the top of the mount, not nested: ``ISIC2018_Task1-2_Training_Input/ISIC_*.jpg``,
  ``ISIC2018_Task1_Training_GroundTruth/ISIC_*_segmentation.png``, ``ISIC2018_Task1-2_Validation_Input/``,
  ``ISIC2018_Task1-2_Test_Input/``; ground truth for Training only (2,594 pairs). Notebooks read
  ``/kaggle/input/isic2018-challenge-task1-data-segmentation/ISIC2018_Task1-2_Training_Input/*.jpg`` and
  ``.../ISIC2018_Task1_Training_GroundTruth/*.png``, and newer ones
  ``/kaggle/input/datasets/tschandl/isic2018-challenge-task1-data-segmentation/ISIC2018_Task1-2_Training_Input``
  (public Kaggle notebook exports and training configs on GitHub, found with the exact-string search). The official
  zips put ``ATTRIBUTION.txt`` and ``LICENSE.txt`` in every folder (public loaders drop ``.txt`` files from the image
  listing), so the fixture does too. The Validation / Test *inputs* of this copy were not confirmed by a public
  reader (every one found reads Training only); they are written as the brief describes the copy.
- ISIC 2018 with ground truth for every split: copies that keep each official zip as a folder of the same name
  (``X/X``): ``ISIC2018_Task1-2_Training_Input/ISIC2018_Task1-2_Training_Input/``,
  ``ISIC2018_Task1_Training_GroundTruth/ISIC2018_Task1_Training_GroundTruth/``, and the same for
  ``..._Validation_Input``, ``ISIC2018_Task1_Validation_GroundTruth``, ``..._Test_Input``,
  ``ISIC2018_Task1_Test_GroundTruth`` (a public dataset check asserting exactly these six nested paths; Kaggle
  notebooks reading ``../input/isic2018/ISIC2018_Task1-2_Training_Input/ISIC2018_Task1-2_Training_Input/``). Which
  Kaggle slug holds all six was not established; the fixture writes them into the ISIC mount with
  ``isic_nested=True`` and the mask flags.
- Chest X-ray, ``nikhilpandey360/chest-xray-masks-and-labels``: ``Lung Segmentation/CXR_png/`` (800 PNGs:
  ``CHNCXR_0001_0.png`` Shenzhen, ``MCUCXR_0001_0.png`` Montgomery), ``Lung Segmentation/masks/`` (704: Shenzhen
  ``CHNCXR_0001_0_mask.png``, Montgomery ``MCUCXR_0001_0.png`` without the suffix), ``Lung Segmentation/test/``
  (96 Shenzhen images that have no mask; they are in ``CXR_png/`` too) and ``Lung Segmentation/ClinicalReadings/``
  (``<stem>.txt``). The copy holds the folder twice: notebooks read ``../input/chest-xray-masks-and-labels/Lung
  Segmentation/CXR_png`` and ``../input/chest-xray-masks-and-labels/data/Lung Segmentation/CXR_png`` (one notebook
  reads images from the first and masks from the second). Sources: dataset-ninja/chest-xray ``src/convert.py``
  (``Lung Segmentation`` with ``CXR_png``, ``masks``, ``ClinicalReadings``) and ``SUMMARY.md`` (800 images in
  ``CXR_png``, 96 in ``test``); a public download script that renames the masks without ``mask`` in their name after
  ``kaggle datasets download nikhilpandey360/chest-xray-masks-and-labels`` unzips ``data/Lung Segmentation``.
- CBIS-DDSM, ``awsaf49/cbis-ddsm-breast-cancer-image-dataset``: ``csv/``
  (``mass_case_description_{train,test}_set.csv``, ``calc_case_description_*``, ``dicom_info.csv``, ``meta.csv``)
  and ``jpeg/<SeriesInstanceUID>/1-<n>.jpg`` at the top of the mount (notebooks read
  ``/kaggle/input/cbis-ddsm-breast-cancer-image-dataset/csv/dicom_info.csv`` and ``.../jpeg``; kagglehub keeps the
  same tree under ``datasets/awsaf49/cbis-ddsm-breast-cancer-image-dataset/versions/1``). Written by
  :func:`cbis_kaggle_fixture.write_cbis_kaggle` (its traps: swapped crop/mask, shared series, a half-size mask, ...)
  plus plain cases up to ``n_train`` / ``n_test`` mammograms (``meta.csv`` is not written: no adapter reads it).

Images are small (ISIC 72 x 96, chest 80 x 80, CBIS 96 x 80) and drawn with :mod:`seg_utils.data.synthetic`'s
helpers (a dark lesion on skin, two dark lungs in a bright thorax) or the CBIS fixture's (bright masses on texture),
so a model can learn something from them. :func:`expected_counts` says what the adapters must find.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from cbis_kaggle_fixture import COLS, DICOM_INFO_COLUMNS, EXPECTED, MASS_COLUMNS, ROWS, write_cbis_kaggle
from cbis_kaggle_fixture import SLUG as CBIS_SLUG
from cbis_kaggle_fixture import _mammogram as cbis_mammogram
from cbis_kaggle_fixture import _save as save_jpeg
from seg_utils.data.synthetic import _cxr_pair, _isic_pair
from seg_utils.data.synthetic import _save as save_image

__all__ = ["CHEST_COPIES", "KAGGLE_COPIES", "MOUNTS", "expected_counts", "kaggle_mount", "write_kaggle_input"]

#: How Kaggle mounts an attached dataset: ``<root>/<slug>`` or ``<root>/datasets/<owner>/<slug>``.
MOUNTS = ("slug", "datasets")
#: Each dataset's Kaggle copy: (owner, slug).
KAGGLE_COPIES = {
    "isic2018": ("tschandl", "isic2018-challenge-task1-data-segmentation"),
    "chest_xray": ("nikhilpandey360", "chest-xray-masks-and-labels"),
    "cbis_ddsm": ("awsaf49", CBIS_SLUG),
}
#: Where the chest copy holds its ``Lung Segmentation`` folder (twice, the same files).
CHEST_COPIES = ("Lung Segmentation", "data/Lung Segmentation")

_ISIC_SIZE = (96, 72)  # width, height: the ISIC images' 4:3
_CHEST_SIZE = (80, 80)
_CHEST_ORPHANS = 2  # Shenzhen images without a mask (in CXR_png/ and test/), as the Kaggle copy has 96
_ISIC_NOTICE = {"ATTRIBUTION.txt": "ISIC 2018 Task 1 (fixture)\n", "LICENSE.txt": "CC-BY-NC (fixture)\n"}


def kaggle_mount(root: Path, dataset: str, mount: str = "slug") -> Path:
    """The folder Kaggle mounts ``dataset``'s copy at below ``root`` (``/kaggle/input``).

    Raises:
        ValueError: an unknown dataset or mount.
    """
    if dataset not in KAGGLE_COPIES:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(KAGGLE_COPIES)}")
    if mount not in MOUNTS:
        raise ValueError(f"unknown mount {mount!r}; valid: {', '.join(MOUNTS)}")
    owner, slug = KAGGLE_COPIES[dataset]
    return Path(root) / slug if mount == "slug" else Path(root) / "datasets" / owner / slug


def _n_val(n_test: int) -> int:
    return max(1, n_test // 2)


def _cbis_extra(n_train: int, n_test: int) -> dict[str, int]:
    """Plain CBIS cases added to the CBIS fixture's to reach ``n_train`` / ``n_test`` mammograms."""
    have = EXPECTED["mammograms"]
    return {"train": max(0, n_train - have["train"]), "test": max(0, n_test - have["test"])}


def expected_counts(n_train: int = 24, n_test: int = 8, isic_test_masks: bool = False,
                    isic_val_masks: bool = False) -> dict[str, dict[str, dict[str, int]]]:
    """What the adapters find in :func:`write_kaggle_input`'s tree with the same arguments.

    Returns:
        ``{name: {"images": {split: n}, "masks": {split: n}}}`` for ``isic2018``, ``chest_xray``, ``cbis_ddsm``
        (task ``whole``: mammograms) and ``cbis_ddsm_mass_crop`` (abnormalities); a split without rows is left out.
    """
    n_val = _n_val(n_test)
    isic_masks = {"train": n_train, "val": n_val if isic_val_masks else 0, "test": n_test if isic_test_masks else 0}
    extra = _cbis_extra(n_train, n_test)
    whole = {s: EXPECTED["mammograms"][s] + extra[s] for s in ("train", "test")}
    crops = {s: EXPECTED["abnormalities"][s] + extra[s] for s in ("train", "test")}
    return {
        "isic2018": {"images": {"train": n_train, "val": n_val, "test": n_test},
                     "masks": {s: n for s, n in isic_masks.items() if n}},
        "chest_xray": {"images": {"train": n_train + _CHEST_ORPHANS, "test": n_test},
                       "masks": {"train": n_train, "test": n_test}},
        "cbis_ddsm": {"images": whole, "masks": dict(whole)},
        "cbis_ddsm_mass_crop": {"images": crops, "masks": dict(crops)},
    }


def write_kaggle_input(root: Path, mount: str = "slug", isic_test_masks: bool = False, isic_val_masks: bool = False,
                       n_train: int = 24, n_test: int = 8, seed: int = 0, isic_nested: bool = False,
                       chest_copies: tuple[str, ...] = CHEST_COPIES) -> dict[str, Path]:
    """Write the three Kaggle copies under ``root`` as Kaggle mounts them (see the module docstring).

    Args:
        root: the folder standing for ``/kaggle/input`` (created if missing).
        mount: ``slug`` (``root/<slug>/``) or ``datasets`` (``root/datasets/<owner>/<slug>/``).
        isic_test_masks: write ``ISIC2018_Task1_Test_GroundTruth`` (the tschandl copy has none).
        isic_val_masks: write ``ISIC2018_Task1_Validation_GroundTruth``.
        n_train: training pairs: ISIC Training, Shenzhen (plus two Shenzhen images without a mask), CBIS train
            mammograms (at least the CBIS fixture's 9).
        n_test: test pairs: ISIC Test images (and masks if asked), Montgomery, CBIS test mammograms (at least 4).
            ISIC's Validation folder gets ``max(1, n_test // 2)`` images.
        seed: random seed; the same arguments write the same files.
        isic_nested: nest each ISIC folder in a folder of the same name (``X/X/``), as the copies with ground truth
            for every split do.
        chest_copies: where the chest copy holds ``Lung Segmentation`` (default: both places the Kaggle copy has).

    Returns:
        ``{"isic2018": ..., "chest_xray": ..., "cbis_ddsm": ...}``: each dataset's mounted folder.

    Raises:
        ValueError: an unknown mount, fewer than 2 training or 1 test pair, or no chest copy.
    """
    if mount not in MOUNTS:
        raise ValueError(f"unknown mount {mount!r}; valid: {', '.join(MOUNTS)}")
    if n_train < 2 or n_test < 1:
        raise ValueError(f"n_train must be >= 2 and n_test >= 1, got {n_train} and {n_test}")
    if not chest_copies:
        raise ValueError("chest_copies is empty: name at least one folder for 'Lung Segmentation'")
    root = Path(root)
    mounts = {name: kaggle_mount(root, name, mount) for name in KAGGLE_COPIES}
    rng = np.random.default_rng([seed, 2018])
    _write_isic(mounts["isic2018"], rng, n_train, n_test, isic_test_masks, isic_val_masks, isic_nested)
    _write_chest(mounts["chest_xray"], np.random.default_rng([seed, 360]), n_train, n_test, chest_copies)
    mounts["cbis_ddsm"].parent.mkdir(parents=True, exist_ok=True)
    written = write_cbis_kaggle(mounts["cbis_ddsm"].parent)
    assert written == mounts["cbis_ddsm"], (written, mounts["cbis_ddsm"])
    _add_cbis_cases(written, _cbis_extra(n_train, n_test), seed)
    return mounts


def _shrink(img: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic pair at ``size`` (width, height): the image bilinear, the mask nearest (0/255)."""
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize(size, Image.BILINEAR)
    small_mask = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.NEAREST)
    return np.asarray(small), np.asarray(small_mask)


def _write_isic(base: Path, rng: np.random.Generator, n_train: int, n_test: int, test_masks: bool,
                val_masks: bool, nested: bool) -> None:
    # (split folder word, first id, how many, with ground truth)
    splits = (("Training", 0, n_train, True), ("Validation", 12255, _n_val(n_test), val_masks),
              ("Test", 36000, n_test, test_masks))
    for word, start, n, with_masks in splits:
        folders = [f"ISIC2018_Task1-2_{word}_Input"] + ([f"ISIC2018_Task1_{word}_GroundTruth"] if with_masks else [])
        dirs = [base / f / f if nested else base / f for f in folders]
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
            for name, text in _ISIC_NOTICE.items():
                (d / name).write_text(text)
        for k in range(n):
            image_id = f"ISIC_{start + k:07d}"
            img, mask = _shrink(*_isic_pair(rng), _ISIC_SIZE)
            save_image(img, dirs[0] / f"{image_id}.jpg")
            if with_masks:
                save_image(mask, dirs[1] / f"{image_id}_segmentation.png")


def _write_chest(base: Path, rng: np.random.Generator, n_train: int, n_test: int,
                 copies: tuple[str, ...]) -> None:
    first = base / copies[0]
    for d in ("CXR_png", "masks", "test", "ClinicalReadings"):
        (first / d).mkdir(parents=True, exist_ok=True)
    shenzhen = [f"CHNCXR_{i:04d}_{i % 2}" for i in range(1, n_train + _CHEST_ORPHANS + 1)]
    montgomery = [f"MCUCXR_{i:04d}_{i % 2}" for i in range(1, n_test + 1)]
    for k, stem in enumerate(shenzhen + montgomery):
        img, mask = _shrink(*_cxr_pair(rng), _CHEST_SIZE)
        save_image(img, first / "CXR_png" / f"{stem}.png")
        (first / "ClinicalReadings" / f"{stem}.txt").write_text(f"{'male' if k % 2 else 'female'} 40yrs\n"
                                                                f"{'TB' if stem.endswith('_1') else 'normal'}\n")
        if stem.startswith("CHNCXR_") and k >= n_train:  # Shenzhen's last images: no mask, also in test/
            save_image(img, first / "test" / f"{stem}.png")
        elif stem.startswith("CHNCXR_"):
            save_image(mask, first / "masks" / f"{stem}_mask.png")
        else:  # Montgomery masks carry no suffix in the Kaggle copy
            save_image(mask, first / "masks" / f"{stem}.png")
    for other in copies[1:]:
        shutil.copytree(first, base / other, dirs_exist_ok=True)


def _add_cbis_cases(root: Path, extra: dict[str, int], seed: int) -> None:
    """Append plain mass cases (one mass, mask and crop in their own series) to the CBIS fixture at ``root``."""
    rng = np.random.default_rng([seed, 1318])
    views = [("LEFT", "CC"), ("RIGHT", "MLO"), ("LEFT", "MLO"), ("RIGHT", "CC")]
    uid = [300000]
    info: list[dict] = []

    def new_uid() -> str:
        uid[0] += 1
        return f"1.3.6.1.4.1.9590.100.1.2.{uid[0]}"

    def jpeg(series: str, arr: np.ndarray, pid: str, study: str, desc: str, side: str) -> None:
        save_jpeg(arr, root / "jpeg" / series / "1-1.jpg")
        info.append({"file_path": f"CBIS-DDSM/dicom/{series}.1.dcm", "image_path": f"CBIS-DDSM/jpeg/{series}/1-1.jpg",
                     "BodyPartExamined": "BREAST", "Columns": arr.shape[1], "Laterality": side[0], "Modality": "MG",
                     "PatientID": pid, "PatientName": pid, "Rows": arr.shape[0], "SeriesDescription": desc,
                     "SeriesInstanceUID": series, "StudyInstanceUID": study})

    for split, first_patient in (("train", 1000), ("test", 2000)):
        rows = []
        for k in range(extra[split]):
            side, view = views[k % len(views)]
            patient = f"P_{first_patient + k:05d}"
            pid = f"Mass-{'Training' if split == 'train' else 'Test'}_{patient}_{side}_{view}"
            h, w = 8 * int(rng.integers(2, 4)), 8 * int(rng.integers(2, 4))  # on the 8-pixel JPEG grid
            y0, x0 = 8 * int(rng.integers(1, (ROWS - h) // 8)), 8 * int(rng.integers(1, (COLS - w) // 8))
            box = (y0, x0, y0 + h, x0 + w)
            image = cbis_mammogram(int(rng.integers(1000, 10**6)), [box])
            mask = np.zeros((ROWS, COLS), np.uint8)
            mask[box[0]:box[2], box[1]:box[3]] = 255
            study, series = new_uid(), new_uid()
            jpeg(series, image, pid, study, "full mammogram images", side)
            astudy, s_mask, s_crop = new_uid(), new_uid(), new_uid()
            jpeg(s_mask, mask, f"{pid}_1", astudy, "ROI mask images", side)
            jpeg(s_crop, image[box[0]:box[2], box[1]:box[3]], f"{pid}_1", astudy, "cropped images", side)
            rows.append({"patient_id": patient, "breast_density": 2, "left or right breast": side, "image view": view,
                         "abnormality id": 1, "abnormality type": "mass", "mass shape": "OVAL",
                         "mass margins": "CIRCUMSCRIBED", "assessment": 4,
                         "pathology": "MALIGNANT" if k % 2 else "BENIGN", "subtlety": 3,
                         "image file path": f"{pid}/{study}/{series}/000000.dcm",
                         "cropped image file path": f"{pid}_1/{astudy}/{s_crop}/000000.dcm",
                         "ROI mask file path": f"{pid}_1/{astudy}/{s_mask}/000000.dcm"})
        _append_csv(root / "csv" / f"mass_case_description_{split}_set.csv", MASS_COLUMNS, rows)
    _append_csv(root / "csv" / "dicom_info.csv", DICOM_INFO_COLUMNS, info)


def _append_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Append ``rows`` to a csv written with ``columns`` as its header."""
    if not rows:
        return
    with open(path, "a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore").writerows(rows)
