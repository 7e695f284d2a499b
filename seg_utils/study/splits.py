"""A run's train / validation / test rows: the validation split drawn by group (patient, near-duplicate set).

The test split depends on ``test_source``:

- ``official``: the dataset's own test split (ISIC's Test folders, Montgomery, CBIS-DDSM's test csv); an error where
  the data has none (a Kaggle copy that ships test images without masks).
- ``train_fraction``: a ``test_fraction`` of the training split, drawn by group as validation is, with the fixed seed
  :data:`TEST_SEED` (not the run's seed), so every run of a study is scored on the same images; held out of training
  and validation. The dataset's own test rows are then listed as ``unused``.

The validation split depends on ``val_source``:

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

__all__ = ["split_rows", "group_keys", "TEST_SEED"]

#: The seed of a ``train_fraction`` test split: fixed, so that runs of every seed share their test images.
TEST_SEED = 0


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
               seed: int, test_source: str = "official", test_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """Row numbers (of the clean manifest and the cache, which share their order) of each split of a run.

    Args:
        clean: the clean manifest (``image_id``; ``group`` / ``patient`` when the dataset knows them).
        split: the manifest split of each row (``train``, ``val``, ``test``).
        dataset: for messages.
        val_source: ``train_fraction`` or ``official``.
        val_fraction: the share of the training split held out (``train_fraction``).
        seed: seeds the validation draw.
        test_source: ``official`` or ``train_fraction``.
        test_fraction: the share of the training split held out as the test split (``train_fraction``).

    Returns:
        ``{"train", "val", "test"}`` row numbers, plus ``"unused"`` (a dataset's own validation or test rows that
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
    keys = group_keys(clean)
    if test_source == "train_fraction":
        unused, test = test, _hold_out(train, keys, test_fraction, TEST_SEED, dataset, "test")
        train = np.setdiff1d(train, test)
    elif len(test) == 0:
        raise DataError(f"{dataset}: the test split is empty after the quality inspection; if the data has no test "
                        "masks, set test_source='train_fraction' to hold a share of the training images out as the "
                        "test split")
    if val_source == "official":
        if len(val) == 0:
            raise DataError(f"{dataset}: val_source='official' but the data has no validation split of its own "
                            "(only ISIC ships one); use val_source='train_fraction'")
        return {"train": train, "val": val, "test": test, "unused": unused}
    unused = np.sort(np.concatenate([unused, val]))
    held = _hold_out(train, keys, val_fraction, seed, dataset, "validation")
    return {"train": np.setdiff1d(train, held), "val": held, "test": test, "unused": unused}


def _hold_out(train: np.ndarray, keys: np.ndarray, fraction: float, seed: int, dataset: str, what: str) -> np.ndarray:
    """Rows of whole groups, about ``fraction`` of ``train``, held out for ``what`` (validation or test)."""
    option = "val_fraction" if what == "validation" else "test_fraction"
    n_held = max(2, round(fraction * len(train)))
    if n_held >= len(train) - 1:
        raise DataError(f"{dataset}: {len(train)} training images are too few to hold out {n_held} for {what}; "
                        f"lower {option} or use more data")
    held = _draw(train, keys, n_held, seed)
    if len(train) - len(held) < 2:
        raise DataError(f"{dataset}: holding out whole groups for {what} leaves {len(train) - len(held)} training "
                        f"image(s); lower {option} or use more data")
    return held
