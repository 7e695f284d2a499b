"""Several training seeds of one configuration: averaged per image, and their spread."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import check_nan, check_table, set_difference_message

__all__ = ["pool_seeds", "seed_summary"]


def _check_seeds(per_image_by_seed: Mapping[int, pd.DataFrame], column: str, key: str) -> None:
    """Raise unless every seed's table is valid and all cover the same images."""
    if not per_image_by_seed:
        raise ValueError("per_image_by_seed is empty; pass {seed: per-image table} for at least one seed")
    seeds = list(per_image_by_seed)
    for s in seeds:
        check_table(per_image_by_seed[s], f"of seed {s}", column, key)
        check_nan(per_image_by_seed[s][column].to_numpy(dtype=np.float64), column, f"seed {s}")
    ref = set(per_image_by_seed[seeds[0]][key])
    for s in seeds[1:]:
        keys = set(per_image_by_seed[s][key])
        if keys != ref:
            raise ValueError(set_difference_message(ref, keys, f"seed {seeds[0]}", f"seed {s}"))


def pool_seeds(
    per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice", key: str = "image_id"
) -> pd.DataFrame:
    """Average several training seeds of one configuration per image.

    The test image is the unit of resampling: the question the interval answers is how much the mean would move on
    another test set drawn from the same population. Averaging the seeds per image first gives one value per image,
    so the bootstrap and the paired tests resample images, and the seed-to-seed (training) variability is not
    mistaken for extra independent images, as it would be if the N x n_seeds rows were resampled as if
    independent (which would shrink the interval by about sqrt(n_seeds)). Training variability is reported
    separately, as the across-seed sd of :func:`seed_summary`.

    Args:
        per_image_by_seed: seed -> per-image table of the same configuration on the same test images.
        column: the metric column.
        key: the image identifier column.

    Returns:
        DataFrame sorted by ``key`` with columns ``<key>, <column>, n_seeds``: one row per image, the mean over
        seeds, and the number of seeds averaged (for :data:`NAN_TOLERANT_COLUMNS` the seeds where the metric is
        defined; NaN if it is undefined in all of them).

    Raises:
        KeyError: if a table lacks ``column`` or ``key``.
        ValueError: if the seeds' image sets differ (the message says how many differ), an image is repeated
            within a seed, or the column has NaNs and is not NaN-tolerant.
    """
    _check_seeds(per_image_by_seed, column, key)
    stacked = pd.concat([df[[key, column]] for df in per_image_by_seed.values()], ignore_index=True)
    pooled = stacked.groupby(key, sort=True)[column].agg(["mean", "count"]).reset_index()
    return pooled.rename(columns={"mean": column, "count": "n_seeds"})[[key, column, "n_seeds"]]


def seed_summary(
    per_image_by_seed: Mapping[int, pd.DataFrame], column: str = "dice", key: str = "image_id"
) -> dict:
    """Spread of a configuration's test-set mean across training seeds.

    Args:
        per_image_by_seed: seed -> per-image table of the same configuration on the same test images.
        column: the metric column (NaNs of :data:`NAN_TOLERANT_COLUMNS` are left out of each seed's mean).
        key: the image identifier column, used to check that all seeds cover the same images.

    Returns:
        ``{"mean", "sd", "n_seeds"}``: mean over seeds of the per-seed means, their sd (ddof=1; NaN for one seed),
        and the number of seeds.

    Raises:
        ValueError: as :func:`pool_seeds`.
    """
    _check_seeds(per_image_by_seed, column, key)
    means = np.array([np.nanmean(df[column].to_numpy(dtype=np.float64)) for df in per_image_by_seed.values()])
    return {
        "mean": float(means.mean()),
        "sd": float(means.std(ddof=1)) if means.size > 1 else float("nan"),
        "n_seeds": int(means.size),
    }
