"""Duplicates and leaks: exact copies (same decoded pixels) and near copies (perceptual hash, then detail similarity),
within a split and across splits (see the package docstring for how near copies are confirmed).

Rows that crop one image (mass-centred crops of one mammogram: same ``image_path``, each with its ``crop``) are never
compared with each other: their windows may overlap or even coincide, and they are one source, kept together in one
split by their group. Every other pair is compared by what is trained (the window of a crop row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ..layout import SPLITS
from .integrity import Decoded
from .rules import QualityRules

__all__ = ["hamming", "near_pairs", "mask_note", "leaks", "within_split", "source_keys"]


def source_keys(manifest: pd.DataFrame) -> np.ndarray:
    """One key per row: the image path for a row with a ``crop`` window, else a key of the row alone."""
    n = len(manifest)
    crops = manifest["crop"].fillna("").astype(str).str.strip().to_numpy() if "crop" in manifest else [""] * n
    paths = manifest.image_path.fillna("").astype(str).to_numpy()
    return np.array([p if c and p else f"\0row{i}" for i, (p, c) in enumerate(zip(paths, crops, strict=True))],
                    dtype=object)


def hamming(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Bit distances between the rows of ``a`` (n, words) and ``b`` (m, words) of uint64: (n, m) int32."""
    out = np.zeros((len(a), len(b)), dtype=np.int32)
    for s in range(0, len(a), chunk):
        for w in range(a.shape[1]):
            out[s:s + chunk] += np.bitwise_count(a[s:s + chunk, w, None] ^ b[None, :, w])
    return out


def mask_note(dec: list[Decoded], i: int, j: int) -> str:
    ok = dec[i].mask_error is None and dec[j].mask_error is None
    return "same mask" if ok and dec[i].mask_sha == dec[j].mask_sha else "different mask"


def near_pairs(dec: list[Decoded], rows: list[int], cols: list[int], rules: QualityRules) -> tuple[np.ndarray, ...]:
    """Hash distances (rows x cols), detail similarities (0 where not a candidate) and the near-duplicate mask."""
    dist = hamming(np.stack([dec[i].phash for i in rows]), np.stack([dec[i].phash for i in cols]))
    sim = np.zeros(dist.shape, dtype=np.float32)
    r, c = np.nonzero(dist <= rules.near_duplicate_distance)
    if len(r):
        a, b = np.stack([dec[i].detail for i in rows]), np.stack([dec[i].detail for i in cols])
        sim[r, c] = np.einsum("ij,ij->i", a[r], b[c])
    return dist, sim, (dist <= rules.near_duplicate_distance) & (sim >= rules.near_duplicate_similarity)


def _hownear(dist: np.ndarray, sim: np.ndarray, r: int, c: int) -> str:
    return f"perceptual hash {dist[r, c]}/64 bits and detail similarity {sim[r, c]:.3f}"


def _copies(df: pd.DataFrame, dec: list[Decoded], rows: list[int], kept: list[int], sources: np.ndarray,
            rules: QualityRules, add: Any, check: str, kept_split: str) -> set[int]:
    """Rows of ``rows`` that are exact or near copies of a row of ``kept`` (another source): each is excluded under
    ``check``, the ``kept`` copy stays. Returns their positions."""
    if not rows or not kept:
        return set()
    split, ids = df.split.to_numpy(), df.image_id.to_numpy()
    dist, sim, near = near_pairs(dec, rows, kept, rules)
    near &= sources[rows][:, None] != sources[kept][None, :]
    by_sha: dict[str, list[int]] = {}
    for k, j in enumerate(kept):
        by_sha.setdefault(dec[j].pixel_sha, []).append(k)
    copies = set()
    for r, i in enumerate(rows):
        exact = [k for k in by_sha.get(dec[i].pixel_sha, []) if sources[kept[k]] != sources[i]]
        hits = sorted(set(np.flatnonzero(near[r]).tolist()) | set(exact))
        if not hits:
            continue
        k = exact[0] if exact else max(hits, key=lambda h: sim[r, h])
        how = "same pixels as" if exact else _hownear(dist, sim, r, k) + " to"
        more = f" (and {len(hits) - 1} more {kept_split} images)" if len(hits) > 1 else ""
        add(i, check, f"{how} {kept_split} image {ids[kept[k]]}{more}, {mask_note(dec, i, kept[k])}; "
            f"the {split[i]} copy is excluded, the {kept_split} copy kept", True)
        copies.add(i)
    return copies


def leaks(df: pd.DataFrame, dec: list[Decoded], usable: list[int], rules: QualityRules, add: Any,
          sources: np.ndarray | None = None, excluded: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """Rows that copy a row of a later split (always excluded); returns their positions.

    ``train_test_leak``: a train or val image that is an exact or near copy of a test image (the test copy kept).
    ``train_val_leak``: a train image that is an exact or near copy of a validation image that nothing excludes
    (the validation copy kept).
    """
    split = df.split.to_numpy()
    sources = sources if sources is not None else source_keys(df)
    test = [i for i in usable if split[i] == "test"]
    other = [i for i in usable if split[i] != "test"]
    leaked = _copies(df, dec, other, test, sources, rules, add, "train_test_leak", "test")
    val = [i for i in usable if split[i] == "val" and i not in excluded and i not in leaked]
    train = [i for i in usable if split[i] == "train" and i not in leaked]
    return leaked | _copies(df, dec, train, val, sources, rules, add, "train_val_leak", "validation")


def within_split(df: pd.DataFrame, dec: list[Decoded], usable: list[int], rules: QualityRules,
                 excluded: set[int], add: Any, sources: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Exact, then near duplicates inside each split: the first by image_id that nothing excludes is kept.

    Returns:
        The pairs of rows found to be copies of each other (warned or excluded): the quality step puts each pair in
        one split group.
    """
    split, ids = df.split.to_numpy(), df.image_id.to_numpy()
    sources = sources if sources is not None else source_keys(df)
    links: list[tuple[int, int]] = []
    for s in SPLITS:
        groups: dict[str, list[int]] = {}
        for i in sorted((i for i in usable if split[i] == s), key=lambda i: ids[i]):
            groups.setdefault(dec[i].pixel_sha, []).append(i)
        reps = []
        for group in groups.values():
            rep = next((i for i in group if i not in excluded), group[0])
            reps.append(rep)
            for i in group:
                if i != rep and sources[i] != sources[rep]:  # crops of one image are not duplicates of each other
                    links.append((i, rep))
                    add(i, "exact_duplicate", f"same pixels as {ids[rep]}, {mask_note(dec, i, rep)}; the first "
                        "by image_id is kept", rules.exclude_exact_duplicates)
        if len(reps) < 2:
            continue
        reps.sort(key=lambda i: ids[i])
        dist, sim, near = near_pairs(dec, reps, reps, rules)
        near &= sources[reps][:, None] != sources[reps][None, :]
        _, label = connected_components(csr_matrix(np.triu(near, k=1)), directed=False)
        for c in np.flatnonzero(np.bincount(label) > 1):
            ks = np.flatnonzero(label == c)  # ascending, so in image_id order
            keep = next((k for k in ks if reps[k] not in excluded), ks[0])
            for k in ks[ks != keep]:
                j = ks[np.argmax(np.where(near[k, ks] & (ks != k), sim[k, ks], -2.0))]  # its closest neighbour
                links.append((reps[k], reps[keep]))  # the whole component in one group
                add(reps[k], "near_duplicate", f"{_hownear(dist, sim, k, j)} to {ids[reps[j]]}, "
                    f"{mask_note(dec, reps[k], reps[j])}; of its group, {ids[reps[keep]]} is kept",
                    rules.exclude_near_duplicates)
    return links
