"""Checks of per-image tables shared by the intervals, the seed pooling and the paired tests (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["NAN_TOLERANT_COLUMNS", "check_table", "check_nan", "set_difference_message"]

NAN_TOLERANT_COLUMNS = ("hd95",)
"""Columns whose NaNs mean "undefined for this image" and are left out (and counted); NaN elsewhere is an error."""


def check_table(df: pd.DataFrame, name: str, column: str, key: str) -> None:
    """Raise if ``df`` lacks ``key`` or ``column`` or repeats an image."""
    for col in (key, column):
        if col not in df.columns:
            raise KeyError(f"per-image table {name} has no column {col!r}; its columns are {list(df.columns)}")
    dup = df[key].duplicated()
    if dup.any():
        raise ValueError(
            f"per-image table {name} lists {int(dup.sum())} image(s) more than once in {key!r} "
            f"(e.g. {df.loc[dup, key].iloc[0]!r}); pool several seeds with pool_seeds() first"
        )


def check_nan(values: np.ndarray, column: str, where: str) -> None:
    """Raise if a column outside :data:`NAN_TOLERANT_COLUMNS` has NaNs."""
    if column not in NAN_TOLERANT_COLUMNS and np.isnan(values).any():
        raise ValueError(
            f"{int(np.isnan(values).sum())} NaN value(s) in column {column!r} of {where}; only "
            f"{list(NAN_TOLERANT_COLUMNS)} may be undefined per image; fix the metric computation upstream"
        )


def set_difference_message(keys_a: set, keys_b: set, name_a: str, name_b: str) -> str:
    """Why two image sets cannot be paired: how many images each has alone, and how many they share."""
    only_a, only_b = sorted(keys_a - keys_b, key=str), sorted(keys_b - keys_a, key=str)
    return (
        f"the image sets differ: {len(only_a)} image(s) only in {name_a} (e.g. {only_a[:3]}), {len(only_b)} only in "
        f"{name_b} (e.g. {only_b[:3]}), {len(keys_a & keys_b)} shared; evaluate both on the same test split"
    )
