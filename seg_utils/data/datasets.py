"""Dataset adapters: a root folder in a dataset's real layout -> a manifest (see :mod:`.layout` for its columns).

One module per layout family (:mod:`.isic`, :mod:`.chest_xray`, :mod:`.cbis_ddsm`, :mod:`.folder`); this module holds
their registry and what works on any manifest.

Example:
    >>> manifest = build_manifest("chest_xray", "/kaggle/input/chest-xray-masks-and-labels")
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, DataError
from .cbis_ddsm import cbis_ddsm_manifest
from .chest_xray import chest_xray_manifest
from .folder import folder_manifest
from .io import MASK_PART_SEPARATOR
from .isic import isic_manifest
from .layout import MANIFEST_COLUMNS
from .paths import shown_path

__all__ = ["DATASETS", "build_manifest", "manifest_fingerprint", "limit_manifest"]

DATASETS: dict[str, Callable[[str | Path], pd.DataFrame]] = {
    "isic2018": isic_manifest,
    "chest_xray": chest_xray_manifest,
    "cbis_ddsm": cbis_ddsm_manifest,
    "folder": folder_manifest,
}


def build_manifest(dataset: str, root: str | Path, cbis_task: str = "whole", unsplit: str = "test") -> pd.DataFrame:
    """Build the manifest of ``dataset`` found under ``root``.

    Args:
        dataset: a key of :data:`DATASETS`.
        root: the folder holding the dataset (it may sit a few levels deeper, as in Kaggle mirrors).
        cbis_task: CBIS-DDSM's task, ``whole`` or ``mass_crop`` (see :mod:`.cbis_ddsm`); other datasets take only
            ``whole``.
        unsplit: the ``folder`` layout's split of a folder without split folders (``test`` or ``train``; see
            :mod:`.folder`).

    Returns:
        DataFrame with columns :data:`MANIFEST_COLUMNS`, sorted by split then image_id.

    Raises:
        ConfigError: unknown dataset name.
        DataError: missing root, or no recognisable layout below it (the message lists what was found).
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if dataset == "cbis_ddsm":
        df = cbis_ddsm_manifest(root, task=cbis_task)
    elif cbis_task != "whole":
        raise ConfigError(f"cbis_task={cbis_task!r} applies to cbis_ddsm only, not {dataset!r}")
    elif dataset == "folder":
        df = folder_manifest(root, unsplit=unsplit)
    else:
        df = DATASETS[dataset](root)
    paired = df[(df.image_path != "") & (df.mask_path != "")]
    if paired.empty:
        images, masks = df[df.image_path != ""], df[df.mask_path != ""]
        example = (f" (e.g. image {images.image_id.iloc[0]!r}, mask {Path(masks.mask_path.iloc[0]).name!r})"
                   if len(images) and len(masks) else "")
        raise DataError(f"{dataset} under {shown_path(root)}: {len(images)} images and {len(masks)} masks, but no "
                        f"image has a mask of the same name{example}; name each mask like its image (a _mask or "
                        "_segmentation suffix is fine; see seg_utils.data)")
    return df


def limit_manifest(manifest: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """Keep the first ``limit`` rows of each split (sorted by image_id): quick runs on a subset."""
    if not limit:
        return manifest
    return manifest.groupby("split", sort=False, group_keys=False).head(limit).reset_index(drop=True)


def manifest_fingerprint(manifest: pd.DataFrame, with_mtime: bool = False) -> str:
    """A short hash of what a manifest holds: ids, splits, file names and sizes (and mtimes if asked).

    Without mtimes the fingerprint is the same on every machine holding the same files, which is what a
    run spec records; the preprocessing cache adds mtimes so that a touched file rebuilds it. A ``crop`` window
    (mass-centred crops) counts too, where a row has one.
    """
    h = hashlib.sha256()
    crops = manifest["crop"].fillna("").astype(str).tolist() if "crop" in manifest else [""] * len(manifest)
    for row, crop in zip(manifest[MANIFEST_COLUMNS].itertuples(index=False), crops, strict=True):
        if crop.strip():
            h.update(f"crop {crop}\t".encode())
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
