"""Data for runs: manifest -> quality inspection -> clean manifest -> cached arrays, once per dataset and size.

Example:
    >>> data = prepare_data("chest_xray", "/kaggle/input/chest-xray-masks-and-labels", 224, "results")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

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
from ..errors import ConfigError, DataError
from .params import DatasetParams
from .reference import poster_panel_images
from .spec import option_for

__all__ = ["PreparedData", "prepare_data", "with_intensity", "check_writable", "resolve_data_root", "prepare"]


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
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"results folder {folder} cannot be written ({exc.strerror or exc}); pass a writable "
                          "--results / results_dir (on Kaggle: /kaggle/working)") from exc
    return folder


def prepare_data(dataset: str, data_root: str | Path, image_size: int, results: str | Path,
                 intensity: str = "none", limit: int = 0, rules: QualityRules | None = None,
                 cache_dir: str | Path | None = None, progress: bool = True, cbis_task: str = "whole") -> PreparedData:
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

    Raises:
        DataError: no usable data, or a split needed for training / testing is empty after inspection.
    """
    manifest = build_manifest(dataset, data_root, cbis_task=cbis_task)
    report = inspect_manifest(manifest, rules or QualityRules(), progress=progress)
    clean = limit_manifest(report.clean, limit)
    if clean.empty:
        raise DataError(f"{dataset} under {data_root}: no image/mask pair passed the quality inspection; see the "
                        "report (python -m seg_utils inspect) for why")
    cache_root = Path(cache_dir) if cache_dir else check_writable(results) / "cache"
    cache = build_cache(clean, image_size, check_writable(cache_root), intensity, progress=progress)
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
