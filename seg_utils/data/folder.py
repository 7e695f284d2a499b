"""The generic paired layout: ``images/`` + ``masks/`` with the same stems, for a user's own data.

Layouts read (the folder may sit a few levels below the root, as in a Kaggle mount)::

    <root>/images/<id>.png|.jpg|.tif ...   <root>/masks/<id>.png (or <id>_mask.png, <id>_segmentation.png)
    <root>/{train,val,test}/images/ ...    <root>/{train,val,test}/masks/ ...   (any of the three split folders)

Masks are binary (0/1 or 0/255); images grey or RGB, any size (the quality inspection checks both). Without split
folders every pair gets the split ``unsplit`` says: ``train`` for a study (the test and validation images are then
held out of it, :mod:`seg_utils.study.splits`), ``test`` for scoring a trained run on the folder (``evaluate``).

An optional ``groups.csv`` beside ``images/`` (columns ``image``, ``group``: a patient or lesion id) becomes the
manifest's ``patient`` column, so that the images of one group land in one split (and a group across the user's own
train/test folders is reported as a leak by the inspection).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError
from .layout import SPLITS, check_root, frame, layout_error, paired_folder, walk_dirs

__all__ = ["folder_manifest", "GROUPS_FILE"]

#: The optional file of image groups (patients, lesions) beside ``images/``.
GROUPS_FILE = "groups.csv"


def _groups(path: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """``manifest`` with a ``patient`` column from ``groups.csv`` (``image``, ``group``).

    Raises:
        DataError: the file lacks a column, names an image twice, or names no image of the folder.
    """
    try:
        groups = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name} in {path.parent.name}/ cannot be read as a csv ({exc}); write two columns, "
                        "image,group") from exc
    missing = [c for c in ("image", "group") if c not in groups.columns]
    if missing:
        raise DataError(f"{path.name} in {path.parent.name}/ has no {' or '.join(missing)} column (it has "
                        f"{', '.join(groups.columns) or 'none'}); write two columns: image (the file name or stem) "
                        "and group (a patient or lesion id)")
    stems = groups.image.map(lambda name: Path(name).stem)
    repeated = stems[stems.duplicated()].unique().tolist()
    if repeated:
        raise DataError(f"{path.name} names {len(repeated)} image(s) twice (e.g. {repeated[0]}); give each image one "
                        "group")
    lookup = dict(zip(stems, groups.group.str.strip(), strict=True))
    patients = manifest.image_id.map(lambda i: lookup.get(i, ""))
    if len(groups) and not (patients != "").any():
        raise DataError(f"{path.name} names {len(groups)} image(s) but none of the folder's (e.g. "
                        f"{stems.iloc[0]!r} vs {manifest.image_id.iloc[0]!r}); the image column holds file names or "
                        "stems of images/")
    return manifest.assign(patient=patients)


def folder_manifest(root: str | Path, unsplit: str = "test") -> pd.DataFrame:
    """Generic layout: ``images/`` + ``masks/`` with the same stems (a ``_mask``/``_segmentation`` suffix on the
    mask is allowed), optionally under ``train/``, ``val/`` and ``test/``, and an optional ``groups.csv``.

    Args:
        root: the folder, or a parent of it.
        unsplit: the split of every pair of a folder without split folders: ``test`` (scoring a trained run) or
            ``train`` (a study holds its validation and test images out of it).

    Raises:
        DataError: no such layout below ``root``, or a bad ``groups.csv``.
    """
    if unsplit not in ("train", "test"):
        raise ValueError(f"unsplit={unsplit!r}; use 'train' or 'test'")
    base = check_root(root, "folder")
    for d in walk_dirs(base):
        split_dirs = [s for s in SPLITS if (d / s / "images").is_dir()]
        if split_dirs:
            frames = [paired_folder(d / s / "images", d / s / "masks" if (d / s / "masks").is_dir() else d / s,
                                     lambda _stem, s=s: s, "folder") for s in split_dirs]
            manifest = frame(pd.concat(frames).to_dict("records"))
        elif (d / "images").is_dir() and (d / "masks").is_dir():
            manifest = paired_folder(d / "images", d / "masks", lambda _stem: unsplit, "folder")
        else:
            continue
        groups = d / GROUPS_FILE
        return _groups(groups, manifest) if groups.is_file() else manifest
    raise layout_error("folder", base, "images/ + masks/ (optionally under train/, val/, test/)")
