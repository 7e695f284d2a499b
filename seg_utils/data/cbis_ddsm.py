"""CBIS-DDSM masses: two layouts, two tasks.

Layouts (the adapter searches a few levels below the root and takes the first it finds):

- the Kaggle JPEG conversion (``csv/`` + ``jpeg/<SeriesInstanceUID>/``): :mod:`.cbis_kaggle`;
- a flat ``images/`` + ``masks/`` folder with the same file names (``Mass-Training_P_00001_LEFT_CC.png``): here.

Tasks (:data:`CBIS_TASKS`):

- ``whole``: one row per mammogram; its mask is the union of all its masses' ROI masks.
- ``mass_crop``: one row per mass abnormality (``Mass-Test_P_00066_LEFT_CC_1``: the abnormality's number last), the
  image a square window around that abnormality (:mod:`.crops`: an *oracle* crop, its window comes from the ground
  truth), the mask the union of every mass of that mammogram inside the window. The CBIS-DDSM mass sets hold about
  1318 / 378 abnormalities (train / test) on 1231 / 361 mammograms; the poster's 1301 / 377 count abnormalities.

Every row carries ``patient`` (``P_00001``): both views and both breasts of a patient share it, and the quality
inspection keeps a patient's rows in one split. Calcification cases (``Calc-*``) are skipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError, check_choice
from .cbis_kaggle import NAME_PATTERN, find_kaggle_root, kaggle_manifest, patient_of
from .crops import crop_window, format_crop, mask_boxes
from .io import MASK_PART_SEPARATOR, image_size, read_mask
from .layout import check_root, files, frame, layout_error, strip_mask_suffix, walk_dirs

__all__ = ["CBIS_TASKS", "cbis_ddsm_manifest", "flat_manifest"]

#: CBIS-DDSM's tasks: whole mammograms, or one mass-centred (oracle) crop per abnormality.
CBIS_TASKS = ("whole", "mass_crop")



def cbis_ddsm_manifest(root: str | Path, task: str = "whole") -> pd.DataFrame:
    """The CBIS-DDSM masses found below ``root``, in either layout, for ``task`` (see the module docstring).

    Args:
        root: the Kaggle slug folder (``/kaggle/input/cbis-ddsm-breast-cancer-image-dataset``), the flat folder, or
            a parent of either.
        task: ``whole`` or ``mass_crop``.

    Returns:
        The manifest (:data:`~seg_utils.data.layout.MANIFEST_COLUMNS`) plus ``patient``; ``mass_crop`` adds ``crop``
        (``"y0 x0 y1 x1"`` in the mammogram's pixels); the Kaggle layout adds ``resize_mask`` (its ROI masks live on
        the mammogram's grid, so one stored at another size is resized with a warning, not excluded).

    Raises:
        ConfigError: an unknown task.
        DataError: no CBIS-DDSM layout below ``root`` (the message lists what was found), or unreadable csv files.
    """
    check_choice("cbis_task", task, CBIS_TASKS)
    base = check_root(root, "cbis_ddsm")
    for d in walk_dirs(base):
        if find_kaggle_root(d):
            return kaggle_manifest(d, task)
        if (d / "images").is_dir() and (d / "masks").is_dir():
            if any(p.name.startswith("Mass-") for p in files(d / "images")):
                return flat_manifest(d, task)
    raise layout_error("CBIS-DDSM", base, "csv/mass_case_description_{train,test}_set.csv with jpeg/ (the Kaggle "
                       "JPEG conversion), or images/ and masks/ folders holding Mass-Training_*/Mass-Test_* files")


def _cbis_split(stem: str) -> str | None:
    if stem.startswith("Mass-Training"):
        return "train"
    if stem.startswith("Mass-Test"):
        return "test"
    return None


def flat_manifest(folder: Path, task: str) -> pd.DataFrame:
    """CBIS-DDSM masses in the flat layout: ``images/`` and ``masks/`` with the same file names.

    Names start with ``Mass-Training_`` (train) or ``Mass-Test_`` (test): ``Mass-Test_P_00066_LEFT_CC`` (one file
    per mammogram, its masses merged into one mask) or ``Mass-Test_P_00066_LEFT_CC_1`` (one file per abnormality);
    a mask may carry a ``_mask`` suffix. Calcification cases (``Calc-*``) are skipped.

    ``whole``: the files of one mammogram become one row, its mask the union of theirs (a mammogram with a single
    file keeps that file's name as its id). ``mass_crop``: a file numbered by abnormality is one abnormality; in a
    merged mask, where the masses are no longer told apart, **an abnormality is a connected component** (8-connected)
    of the mask, numbered ``_1``, ``_2``, ... in raster order. Masses that touch are one component, and a mass cut in
    two by downsampling counts twice. Orphans (an image without a mask, a mask without an image) stay in the manifest
    for the quality report.
    """
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for p in files(folder / "images"):
        if _cbis_split(p.stem):
            images[p.stem] = p
    for p in files(folder / "masks"):
        stem = strip_mask_suffix(p.stem)
        if _cbis_split(stem):
            masks[stem] = p
    by_key: dict[str, list[str]] = {}
    for stem in sorted(set(images) | set(masks)):
        m = NAME_PATTERN.match(stem)
        by_key.setdefault(m.group(1) if m else stem, []).append(stem)
    rows: list[dict] = []
    for key, stems in by_key.items():
        imgs = [images[s] for s in stems if s in images]
        parts = [str(masks[s]) for s in stems if s in masks]
        base = {"image_path": str(imgs[0]) if imgs else "", "mask_path": MASK_PART_SEPARATOR.join(parts),
                "split": _cbis_split(key), "source": "cbis_ddsm", "patient": patient_of(key)}
        single = stems[0] if len(stems) == 1 else key
        if task == "whole" or not imgs or not parts:
            rows.append({**base, "image_id": single, "crop": ""})
            continue
        crops = _flat_crops(key, stems, imgs[0], masks)
        rows.extend({**base, "image_id": i, "crop": c} for i, c in crops or [(single, "")])
    df = frame(rows, ["patient", "crop"])
    return df if task == "mass_crop" else df.drop(columns="crop")


def _flat_crops(key: str, stems: list[str], image: Path, masks: dict[str, Path]) -> list[tuple[str, str]]:
    """(image_id, crop) of each abnormality of one mammogram of the flat layout."""
    try:
        shape = image_size(image)
    except DataError:
        return []  # the quality inspection reports the unreadable image
    out, seen = [], set()
    for stem in stems:
        if stem not in masks:
            continue
        try:
            mask = read_mask(masks[stem], shape)
        except DataError:
            continue  # reported by the inspection (the row keeps the mask's path)
        boxes = mask_boxes(mask)
        if not boxes:
            continue
        m = NAME_PATTERN.match(stem)
        numbered = bool(m and m.group(2))
        if numbered:  # one abnormality per file: its box covers all of the file's pieces
            box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                   max(b[3] for b in boxes))
            named = [(stem, box)]
        else:
            named = [(f"{key}_{k}", b) for k, b in enumerate(boxes, start=1)]
        for image_id, box in named:
            if image_id not in seen:
                seen.add(image_id)
                out.append((image_id, format_crop(crop_window(box))))
    return out
