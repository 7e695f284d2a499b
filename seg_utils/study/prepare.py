"""Data for runs: manifest -> quality inspection -> clean manifest -> cached arrays, once per dataset and size.

Example:
    >>> data = prepare_data("chest_xray", "/kaggle/input/chest-xray-masks-and-labels", 224, "results")
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import (
    CachedData,
    QualityReport,
    QualityRules,
    build_cache,
    build_manifest,
    inspect_manifest,
    limit_manifest,
    manifest_fingerprint,
    write_synthetic,
)
from ..data.paths import shown_path
from ..errors import ConfigError, DataError
from .params import DatasetParams
from .reference import poster_panel_images
from .spec import option_for

__all__ = ["PreparedData", "prepare_data", "with_intensity", "check_writable", "resolve_data_root", "prepare",
           "check_user_data", "MIN_TRAIN_IMAGES", "MIN_TEST_IMAGES"]


@dataclass
class PreparedData:
    """A dataset ready for runs: its manifest, quality report, clean manifest and cached arrays."""

    dataset: str
    data_root: Path
    manifest: pd.DataFrame
    report: QualityReport
    clean: pd.DataFrame
    cache: CachedData
    image_size: int
    intensity: str
    cbis_task: str = "whole"

    @property
    def fingerprint(self) -> str:
        return manifest_fingerprint(self.clean)


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be written there.

    Raises:
        ConfigError: the folder cannot be created or written (e.g. /kaggle/input is read-only).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a name of its own: two processes checking one folder at once must not remove each other's probe
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"results folder {folder} cannot be written ({exc.strerror or exc}); pass a writable "
                          "--results / results_dir (on Kaggle: /kaggle/working)") from exc
    return folder


def prepare_data(dataset: str, data_root: str | Path, image_size: int, results: str | Path,
                 intensity: str = "none", limit: int = 0, rules: QualityRules | None = None,
                 cache_dir: str | Path | None = None, progress: bool = True, cbis_task: str = "whole",
                 unsplit: str = "train") -> PreparedData:
    """Manifest -> quality inspection -> clean manifest -> cached arrays at ``image_size``.

    Args:
        dataset: a key of ``seg_utils.data.DATASETS``.
        data_root: the folder holding the dataset (read-only is fine).
        image_size: side of the cached arrays.
        results: the results folder; the cache goes to ``<results>/cache`` unless ``cache_dir`` is given.
        intensity: intensity normalisation baked into the cache.
        limit: keep the first N clean images of each split (0: all).
        rules: the inspection's rules (defaults when None).
        cache_dir: another place for the cache (e.g. /kaggle/working/cache).
        progress: tqdm bars.
        cbis_task: CBIS-DDSM's task (``whole`` or ``mass_crop``; see :mod:`seg_utils.data.cbis_ddsm`).
        unsplit: the split of a ``folder`` without split folders: ``train`` to train on it (validation and test are
            held out of it), ``test`` to score a trained run on it (:mod:`seg_utils.data.folder`).

    Raises:
        DataError: no usable data, or a split needed for training / testing is empty after inspection.
    """
    manifest = build_manifest(dataset, data_root, cbis_task=cbis_task, unsplit=unsplit)
    report = inspect_manifest(manifest, rules or QualityRules(), progress=progress)
    if dataset == "folder":
        check_user_data(report, unsplit)
    clean = limit_manifest(report.clean, limit)
    if clean.empty:
        raise DataError(f"{dataset} under {shown_path(data_root)}: no image/mask pair passed the quality inspection; "
                        "see the report (python -m seg_utils inspect) for why")
    cache_root = Path(cache_dir) if cache_dir else check_writable(results) / "cache"
    cache = build_cache(clean, image_size, check_writable(cache_root), intensity, progress=progress)
    if dataset == "folder" and len(cache.masks) and np.asarray(cache.masks).reshape(len(cache.masks), -1).min(1).all():
        raise DataError(f"every one of the {len(cache.masks)} masks covers the whole image (one class only); check "
                        "that the masks mark the foreground with 1 or 255 and the background with 0")
    return PreparedData(dataset, Path(data_root), manifest, report, clean, cache, image_size, intensity, cbis_task)


def with_intensity(data: PreparedData, intensity: str, progress: bool = True) -> PreparedData:
    """The same clean data with another intensity normalisation baked into its cache (built beside the first).

    The manifest, the quality report and the clean split are shared, so the runs of both stay on the same images
    and the same data fingerprint; only the cached pixels differ.
    """
    if intensity == data.intensity:
        return data
    cache = build_cache(data.clean, data.image_size, data.cache.path.parent, intensity, progress=progress)
    return dataclasses.replace(data, cache=cache, intensity=intensity)


#: The fewest clean training images (before validation and test are held out of them) a study of one's own data
#: accepts, and the fewest clean images of a test folder of one's own.
MIN_TRAIN_IMAGES, MIN_TEST_IMAGES = 16, 4


def _example(findings: pd.DataFrame, check: str) -> str:
    rows = findings[findings.check == check]
    return f"{rows.image_id.iloc[0]}: {rows.detail.iloc[0]}" if len(rows) else ""


def check_user_data(report: QualityReport, unsplit: str = "train") -> None:
    """Stop with one line when a folder of one's own cannot be studied, naming what is wrong and how to fix it:
    most images without a mask of the same name, masks that are not binary, images of different channel counts, one
    class only (every mask empty; every mask the whole image is :func:`prepare_data`'s, on the cached masks), too
    few images in a split.

    Raises:
        DataError: the first problem found.
    """
    findings, summary = report.findings, report.summary
    excluded = findings[findings.action == "exclude"]
    starting = int(summary.starting.sum())
    unpaired = int(excluded.check.isin(["missing_mask", "missing_image"]).sum())
    if unpaired and unpaired >= starting / 2:
        raise DataError(f"{unpaired} of {starting} files have no partner of the same name in images/ and masks/ "
                        f"(e.g. {_example(findings, 'missing_mask') or _example(findings, 'missing_image')}); name "
                        "each mask like its image (masks/a.png for images/a.jpg; a _mask suffix is fine)")
    for check, fix in (("non_binary_mask", "save masks as 0/255 or 0/1 PNG (JPEG blurs their edges; a probability "
                        "or label map needs thresholding to one class)"),
                       ("unreadable_image", "replace or remove the files"), ("unreadable_mask", "replace or remove "
                                                                                               "the files")):
        n = int((excluded.check == check).sum())
        if n:
            raise DataError(f"{n} of {starting} pairs fail the {check} check (e.g. {_example(findings, check)}): "
                            f"{fix}")
    channels = findings[findings.check == "channels"]
    if len(channels):
        raise DataError(f"{len(channels)} of {starting} images differ in channels from the rest (e.g. "
                        f"{_example(findings, 'channels')}): convert all images to grey or all to RGB")
    empty = int((excluded.check == "empty_mask").sum())
    paired = starting - unpaired
    if paired and empty == paired:
        raise DataError(f"every one of the {paired} masks is empty (one class only): nothing to segment; check that "
                        "the masks mark the foreground with 1 or 255")
    counts = report.clean.split.value_counts()
    train, test = int(counts.get("train", 0)), int(counts.get("test", 0))
    if train < MIN_TRAIN_IMAGES and (unsplit == "train" or train):
        raise DataError(f"{train} training image(s) passed the quality inspection (of {starting} files); a study "
                        f"needs at least {MIN_TRAIN_IMAGES} to hold validation and test images out of them: add "
                        "images, or see the quality table for what was excluded")
    if "test" in set(summary.split) and test < MIN_TEST_IMAGES:
        raise DataError(f"your test/ folder has {test} usable image(s); at least {MIN_TEST_IMAGES} are needed for a "
                        "Dice with an interval: add images, or drop test/ and use test_source='train_fraction'")


def resolve_data_root(params: DatasetParams) -> Path:
    """The folder to read the dataset from.

    An empty ``data_root`` writes the synthetic demo data of the dataset (seeded, in its real layout) under
    ``<results>/synthetic`` once and returns it; otherwise ``data_root`` itself (relative to the working
    directory), which the dataset adapter searches a few levels down.
    """
    if not params.data_root:
        roots = write_synthetic(params.results / "synthetic", seed=0, n_train=params.synthetic_train,
                                n_test=params.synthetic_test, datasets=(params.dataset,),
                                named={params.dataset: poster_panel_images(params.dataset)})
        return roots[params.dataset]
    return Path(params.data_root).expanduser().resolve()


def prepare(params: DatasetParams) -> PreparedData:
    """Manifest, quality inspection, clean manifest and cached arrays of the notebook's dataset.

    Returns:
        :class:`PreparedData` (``.manifest``, ``.report``, ``.clean``, ``.cache``).
    """
    return prepare_data(params.dataset, resolve_data_root(params), params.image_size, params.results,
                        params.intensity, params.limit, cache_dir=params.cache_dir or None, progress=params.progress,
                        cbis_task=option_for(params.dataset, "cbis_task", params.cbis_task))
