"""The inspection: decode every pair, apply every check, and return the findings and the clean manifest."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ...errors import ConfigError
from .. import io as _io
from ..cache import parse_crop
from ..layout import SPLITS
from .duplicates import leaks, source_keys, within_split
from .groups import patient_leaks, patients_of, split_groups
from .integrity import Decoded, decode_pair, pair_findings, validate
from .masks import mask_findings
from .rules import CHECKS, FINDING_COLUMNS, Action, QualityReport, QualityRules

__all__ = ["inspect_manifest", "write_report", "excluded_examples"]


def inspect_manifest(manifest: pd.DataFrame, rules: QualityRules | None = None, progress: bool = False,
                     workers: int = 2) -> QualityReport:
    """Decode every pair of ``manifest`` once, apply ``rules``, and return the findings and the clean manifest.

    Exact duplicates are identical *decoded pixels* (sha256 of mode, size and pixel bytes, so a re-saved PNG
    with other metadata still matches). A train or val image that is an exact or near copy of a test image is
    always reported as ``train_test_leak`` and excluded, whatever the duplicate rules say: the test copy is kept
    (the test set stays fixed), the train/val copy goes; likewise a train image that copies a kept validation image
    (``train_val_leak``). Near duplicates need both a close perceptual hash and a high detail similarity (module
    docstring). Where the manifest knows patients (column ``patient``), a train/val row whose patient is in the test
    split, and a train row whose patient is in the validation split, are excluded (``patient_leak``). Rows with a
    ``crop`` window are checked as cropped, and crops of one image are never compared with each other. The clean
    manifest gets a ``group`` column (:mod:`.groups`): the run's validation split is drawn by it. Orphan rows are not
    decoded. No file content makes this function raise: unreadable files become ``unreadable_image`` /
    ``unreadable_mask`` findings.

    Args:
        manifest: a manifest (see :mod:`seg_utils.data.datasets`); extra columns are carried into ``clean``. Read
            when present: ``patient``, ``crop`` (a window in the image's pixels) and ``resize_mask`` (the mask lives
            on the image's grid: one stored at another size is resized with a ``mask_resized`` warning).
        rules: the rules; default :class:`QualityRules`.
        progress: show a tqdm progress bar while decoding.
        workers: decoding threads (PIL and numpy release the GIL); 1 decodes in this thread.

    Returns:
        A :class:`QualityReport` (findings, summary, clean manifest with ``group``, rules).

    Raises:
        DataError: the manifest itself is malformed (missing columns, unknown split, repeated ids in a split).
        ConfigError: ``workers`` < 1.

    Example:
        >>> report = inspect_manifest(build_manifest("isic2018", root), QualityRules(exclude_small_masks=True))
        >>> report.findings.query("action == 'exclude'").check.value_counts()
    """
    rules = rules or QualityRules()
    if workers < 1:
        raise ConfigError(f"workers={workers} must be >= 1")
    df = validate(manifest)
    n = len(df)
    findings: list[tuple[int, str, str, Action]] = []

    def add(i: int, check: str, detail: str, exclude: bool) -> None:
        findings.append((i, check, detail, "exclude" if exclude else "warn"))

    has_img, has_mask = (df.image_path != "").to_numpy(), (df.mask_path != "").to_numpy()
    for i in np.flatnonzero(~has_mask & has_img):
        add(int(i), "missing_mask", "image without a mask in the dataset", True)
    for i in np.flatnonzero(~has_img):
        add(int(i), "missing_image", "mask without an image in the dataset" if has_mask[i] else "no files", True)
    todo = np.flatnonzero(has_img & has_mask).tolist()
    dec: list[Decoded] = [Decoded() for _ in range(n)]
    extra = manifest.reset_index(drop=True)
    windows = [parse_crop(c) for c in extra["crop"]] if "crop" in extra else [None] * n
    resizable = extra["resize_mask"].fillna(False).astype(bool).to_numpy() if "resize_mask" in extra else [False] * n
    paths = (df.image_path[todo].tolist(), df.mask_path[todo].tolist(), [windows[i] for i in todo])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = (map if workers == 1 else pool.map)(decode_pair, *paths)
        for i, d in zip(todo, tqdm(decoded, total=len(todo), desc="quality", unit="pair", disable=not progress),
                        strict=True):
            dec[i] = d
    usable = [i for i in todo if dec[i].image_error is None]
    counts = Counter(dec[i].channels for i in usable)
    expected_ch = rules.expected_channels or (max((3, 1), key=lambda c: counts[c]) if counts else 3)
    for i in todo:
        pair_findings(i, dec[i], rules, expected_ch, add, bool(resizable[i]))
        mask_findings(i, dec[i], rules, add)
    patients, sources = patients_of(extra), source_keys(extra)
    patient_leaks(df, patients, add)
    excluded = {i for i, *_, a in findings if a == "exclude"}
    excluded |= leaks(df, dec, usable, rules, add, sources, excluded)
    links = within_split(df, dec, usable, rules, excluded, add, sources)
    return _report(manifest, df, findings, rules, split_groups(df, patients, sources, links))


def _report(manifest: pd.DataFrame, df: pd.DataFrame, findings: list[tuple], rules: QualityRules,
            groups: np.ndarray) -> QualityReport:
    order = {c: k for k, c in enumerate(CHECKS)}
    split_order = {s: k for k, s in enumerate(SPLITS)}
    rows = [(df.image_id[i], df.split[i], c, d, a, i) for i, c, d, a in findings]
    f = pd.DataFrame(rows, columns=[*FINDING_COLUMNS, "_row"])
    f = f.sort_values(["split", "image_id", "check"], key=lambda col: col.map(
        split_order if col.name == "split" else order) if col.name in ("split", "check") else col, kind="stable")
    excl = f[f.action == "exclude"].drop_duplicates("_row")  # first excluding check in CHECKS order
    first = dict(zip(excl._row, excl.check, strict=True))
    summary = []
    for s in [s for s in SPLITS if (df.split == s).any()]:
        in_split = np.flatnonzero(df.split.to_numpy() == s)
        row: dict[str, Any] = {"split": s, "starting": len(in_split)}
        for c in CHECKS:
            row[f"excluded_{c}"] = sum(first.get(i) == c for i in in_split)
        row["final"] = len(in_split) - sum(i in first for i in in_split)
        summary.append(row)
    summary_df = pd.DataFrame(summary, columns=["split", "starting", *[f"excluded_{c}" for c in CHECKS], "final"])
    keep = [i for i in range(len(df)) if i not in first]
    clean = manifest.reset_index(drop=True).assign(group=groups).iloc[keep].reset_index(drop=True)
    return QualityReport(findings=f[FINDING_COLUMNS].reset_index(drop=True), summary=summary_df, clean=clean,
                         rules=rules)


def write_report(report: QualityReport, path: Path) -> Path:
    """Write the findings CSV at ``path`` and the summary beside it as ``<stem>_summary.csv``, atomically.

    Returns:
        ``path``.
    """
    path = Path(path)
    _io.write_csv(path, report.findings)
    _io.write_csv(path.with_name(f"{path.stem}_summary.csv"), report.summary)
    return path


def excluded_examples(report: QualityReport, manifest: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """A few excluded rows for a gallery: one per excluding check first (in :data:`CHECKS` order), then more.

    Each row appears once, with its first excluding check.

    Returns:
        DataFrame with columns ``image_id``, ``split``, ``check``, ``detail``, ``image_path``, ``mask_path``
        (at most ``n`` rows; empty when nothing was excluded).
    """
    cols = ["image_id", "split", "check", "detail", "image_path", "mask_path"]
    ex = report.findings[report.findings.action == "exclude"].drop_duplicates(["split", "image_id"])
    if ex.empty or n <= 0:
        return pd.DataFrame(columns=cols)
    order = {c: k for k, c in enumerate(CHECKS)}
    ex = ex.assign(_rank=ex.groupby("check").cumcount(), _prio=ex.check.map(order))
    ex = ex.sort_values(["_rank", "_prio"], kind="stable").head(n)
    paths = manifest[["image_id", "split", "image_path", "mask_path"]].astype({"image_id": str})
    out = ex.merge(paths, on=["image_id", "split"], how="left")
    return out[cols].fillna("").reset_index(drop=True)
