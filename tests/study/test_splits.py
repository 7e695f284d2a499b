"""The validation split: drawn by group (patient, near duplicates), or the dataset's own (val_source)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seg_utils.errors import DataError
from seg_utils.study.splits import split_rows


def _clean(n_train: int, n_val: int = 0, n_test: int = 4, groups: list[str] | None = None) -> pd.DataFrame:
    split = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    df = pd.DataFrame({"image_id": [f"img{i:03d}" for i in range(len(split))], "split": split})
    if groups is not None:
        df["group"] = groups + [""] * (len(split) - len(groups))
    return df


def test_singleton_groups_draw_as_the_images_did():
    clean = _clean(20)
    rows = split_rows(clean, clean.split.to_numpy(), "x", "train_fraction", 0.2, seed=3)
    order = np.random.default_rng(3).permutation(np.arange(20))  # the draw before groups existed
    assert rows["val"].tolist() == sorted(order[:4].tolist())
    assert sorted([*rows["train"], *rows["val"]]) == list(range(20)) and len(rows["test"]) == 4


def test_a_group_never_straddles_train_and_validation():
    groups = [f"P_{i // 3:05d}" for i in range(30)]  # 10 patients, 3 images each
    clean = _clean(30, groups=groups)
    for seed in range(20):
        rows = split_rows(clean, clean.split.to_numpy(), "x", "train_fraction", 0.1, seed)
        train_groups = {groups[i] for i in rows["train"]}
        val_groups = {groups[i] for i in rows["val"]}
        assert not train_groups & val_groups and len(rows["val"]) >= 3


def test_patient_column_is_used_when_there_is_no_group():
    clean = _clean(12).assign(patient=[f"P{i // 4}" for i in range(12)] + [""] * 4)
    rows = split_rows(clean, clean.split.to_numpy(), "x", "train_fraction", 0.1, 0)
    assert len(rows["val"]) == 4 and len({clean.patient[i] for i in rows["val"]}) == 1


def test_val_source_official_or_a_share_of_training():
    clean = _clean(10, n_val=3)
    official = split_rows(clean, clean.split.to_numpy(), "isic2018", "official", 0.1, 0)
    assert official["val"].tolist() == [10, 11, 12] and len(official["train"]) == 10
    share = split_rows(clean, clean.split.to_numpy(), "isic2018", "train_fraction", 0.2, 0)
    assert share["unused"].tolist() == [10, 11, 12] and set(share["val"]) < set(range(10))
    with pytest.raises(DataError, match="val_source='official' but the data has no validation split"):
        split_rows(_clean(10), _clean(10).split.to_numpy(), "chest_xray", "official", 0.1, 0)
    with pytest.raises(DataError, match="too few to hold out"):
        split_rows(_clean(3), _clean(3).split.to_numpy(), "x", "train_fraction", 0.5, 0)
