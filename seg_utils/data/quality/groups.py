"""Patients and split groups: no patient in two of train, validation and test, and the rows that must share a split.

A manifest may carry a ``patient`` column (CBIS-DDSM: ``P_00001``; both views and both breasts of a patient share
it). Then

- ``patient_leak`` (always excluded): a train or val row whose patient also has a row in the test split (the test
  rows are kept: the test set stays fixed), and a train row whose patient has a row in the dataset's own validation
  split (the validation rows are kept);
- the clean manifest's ``group`` column joins the rows that must land in one split when a run draws its validation
  split from training (:mod:`seg_utils.study.splits`): one patient's rows, the crops of one image, and rows that the
  duplicate checks found to be exact or near copies of each other (linked transitively). A group is named by the
  smallest patient (or, for rows without one, image id) among its rows; a row alone is its own group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["patients_of", "patient_leaks", "split_groups"]


def patients_of(manifest: pd.DataFrame) -> np.ndarray:
    """The ``patient`` of each row (``""`` where unknown or where the manifest has no such column)."""
    if "patient" not in manifest.columns:
        return np.full(len(manifest), "", dtype=object)
    return manifest["patient"].fillna("").astype(str).str.strip().to_numpy(dtype=object)


def patient_leaks(df: pd.DataFrame, patients: np.ndarray, add: Any) -> set[int]:
    """Exclude train/val rows whose patient is in the test split, and train rows whose patient is in the val split.

    Returns:
        The positions excluded (each with a ``patient_leak`` finding that names the patient and a row it shares).
    """
    split, ids = df.split.to_numpy(), df.image_id.to_numpy()
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i, (p, s) in enumerate(zip(patients, split, strict=True)):
        if p:
            rows_of.setdefault((p, s), []).append(i)
    leaked = set()
    for i, (p, s) in enumerate(zip(patients, split, strict=True)):
        if not p or s == "test":
            continue
        for other, name in (("test", "test"), ("val", "dataset's own validation")):
            if other == "val" and s != "train":
                continue
            shared = rows_of.get((p, other), [])
            if shared:
                more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
                add(i, "patient_leak", f"patient {p} also has images in the {name} split ({ids[shared[0]]}{more}); "
                    f"the {s} image is excluded, the {other} images kept", True)
                leaked.add(i)
                break
    return leaked


def split_groups(df: pd.DataFrame, patients: np.ndarray, sources: np.ndarray,
                 links: list[tuple[int, int]]) -> np.ndarray:
    """The split group of every row (see the module docstring): a string per row."""
    n = len(df)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, key in enumerate(patients):
        if key:
            union(i, first.setdefault(f"patient {key}", i))
    for i, key in enumerate(sources):
        union(i, first.setdefault(f"source {key}", i))
    for i, j in links:
        union(int(i), int(j))
    labels = np.where(patients != "", patients, df.image_id.astype(str).to_numpy())
    name: dict[int, str] = {}
    for i in range(n):
        root = find(i)
        name[root] = min(name.get(root, labels[i]), labels[i])
    return np.array([name[find(i)] for i in range(n)], dtype=object)
