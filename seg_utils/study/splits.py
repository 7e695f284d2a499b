"""A run's train / validation / test rows: the validation split drawn by group (patient, near-duplicate set).

The test split is the dataset's own. The validation split depends on ``val_source``:

- ``train_fraction``: a seeded ``val_fraction`` of the training split, drawn by **group**: every image of one group
  lands on the same side. A group is what the clean manifest's ``group`` column says (the quality inspection joins
  the images of one patient, e.g. both views and both breasts of a CBIS-DDSM patient, and near duplicates of each
  other), else its ``patient`` column, else the image alone. A dataset's own validation split, if it has one, is
  then not used (its images are listed as ``unused`` in splits.json).
- ``official``: the dataset's own validation split (ISIC's Validation folders); an error where there is none.

When every group holds one image the draw is the same as drawing images (the same seeded permutation), so the
splits of datasets without patients did not change when grouping came in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["split_rows", "group_keys"]


def group_keys(clean: pd.DataFrame) -> np.ndarray:
    """The split group of each clean row: ``group``, else ``patient``, else the image id (split-qualified)."""
    for column in ("group", "patient"):
        if column in clean.columns:
            keys = clean[column].fillna("").astype(str).to_numpy()
            return np.where(keys == "", clean.image_id.astype(str).to_numpy(), keys)
    return clean.image_id.astype(str).to_numpy()


def _draw(train: np.ndarray, keys: np.ndarray, n_val: int, seed: int) -> np.ndarray:
    """Rows of whole groups, in a seeded order of the groups, until at least ``n_val`` rows are held out."""
    groups = list(dict.fromkeys(keys[train]))  # in row order, each group once
    members: dict[str, list[int]] = {}
    for row in train:
        members.setdefault(keys[row], []).append(int(row))
    order = np.random.default_rng(seed).permutation(len(groups))
    val: list[int] = []
    for g in order:
        if len(val) >= n_val:
            break
        val.extend(members[groups[g]])
    return np.sort(np.asarray(val, dtype=np.int64))


def split_rows(clean: pd.DataFrame, split: np.ndarray, dataset: str, val_source: str, val_fraction: float,
               seed: int) -> dict[str, np.ndarray]:
    """Row numbers (of the clean manifest and the cache, which share their order) of each split of a run.

    Args:
        clean: the clean manifest (``image_id``; ``group`` / ``patient`` when the dataset knows them).
        split: the manifest split of each row (``train``, ``val``, ``test``).
        dataset: for messages.
        val_source: ``train_fraction`` or ``official``.
        val_fraction: the share of the training split held out (``train_fraction``).
        seed: seeds the draw.

    Returns:
        ``{"train", "val", "test"}`` row numbers, plus ``"unused"`` (a dataset's own validation rows that
        ``train_fraction`` leaves out).

    Raises:
        DataError: an empty training or test split, too few training images to hold some out, or
            ``val_source='official'`` on a dataset without a validation split.
    """
    split = np.asarray(split)
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    unused = np.zeros(0, dtype=np.int64)
    if len(train) == 0:
        raise DataError(f"{dataset}: the training split is empty after the quality inspection")
    if len(test) == 0:
        raise DataError(f"{dataset}: the test split is empty after the quality inspection")
    if val_source == "official":
        if len(val) == 0:
            raise DataError(f"{dataset}: val_source='official' but the data has no validation split of its own "
                            "(only ISIC ships one); use val_source='train_fraction'")
        return {"train": train, "val": val, "test": test, "unused": unused}
    unused, keys = val, group_keys(clean)
    n_val = max(2, round(val_fraction * len(train)))
    if n_val >= len(train) - 1:
        raise DataError(f"{dataset}: {len(train)} training images are too few to hold out {n_val} for validation; "
                        "lower val_fraction or use more data")
    held = _draw(train, keys, n_val, seed)
    rest = np.setdiff1d(train, held)
    if len(rest) < 2:
        raise DataError(f"{dataset}: holding out whole groups leaves {len(rest)} training image(s); lower "
                        "val_fraction or use more data")
    return {"train": rest, "val": held, "test": test, "unused": unused}
