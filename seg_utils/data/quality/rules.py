"""What the inspection checks and excludes (:class:`QualityRules`) and what it returns (:class:`QualityReport`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from ...errors import ConfigError

__all__ = ["CHECKS", "FINDING_COLUMNS", "Action", "QualityRules", "QualityReport"]

#: Every check, in priority order: an excluded row is counted in the summary under its first excluding check.
#: ``mask_resized`` (warn): a mask part stored at another size than its image was resized to it (nearest);
#: ``patient_leak`` (exclude): a train/val row whose patient is in the test split, or a train row whose patient is
#: in the dataset's own validation split; ``train_val_leak`` (exclude): a train image that is an exact or near copy
#: of a kept validation image (the package docstring lists the others).
CHECKS: tuple[str, ...] = (
    "unreadable_image", "unreadable_mask", "missing_mask", "missing_image", "size_mismatch", "mask_resized",
    "aspect_ratio", "non_binary_mask", "empty_mask", "small_mask", "patient_leak", "train_test_leak",
    "train_val_leak", "exact_duplicate", "near_duplicate", "channels", "bit_depth",
)

FINDING_COLUMNS = ["image_id", "split", "check", "detail", "action"]

Action = Literal["exclude", "warn"]


@dataclass(frozen=True)
class QualityRules:
    """What :func:`inspect_manifest` excludes and what it only reports.

    Args:
        min_mask_fraction: a mask whose foreground (grey > 127) covers a smaller fraction of the image than this
            is reported as ``small_mask``.
        exclude_empty_masks: exclude masks without foreground (``empty_mask``); else warn.
        exclude_small_masks: exclude ``small_mask`` rows; by default they are only reported (tiny lesions exist).
        max_off_fraction: a mask with grey values other than 0 and 255 (``non_binary_mask``) is excluded when more
            than this fraction of its pixels are such values (a JPEG-compressed mask), else reported; the
            loader binarises at > 127 either way.
        exclude_size_mismatch: exclude pairs whose image and (single) mask sizes differ; else warn. A mask the
            adapter declares resizable (manifest column ``resize_mask``) and the parts of a united mask are resized to
            the image instead, reported as ``mask_resized`` (warn).
        exclude_exact_duplicates: within a split, keep the first of identical images (by image_id, preferring one
            that nothing else excludes) and exclude the others; else warn.
        exclude_near_duplicates: the same for near duplicates; by default they are only reported.
        near_duplicate_distance: images whose 64-bit perceptual hashes differ in at most this many bits are
            near-duplicate candidates (re-encoded or brightened copies differ in up to 6).
        near_duplicate_similarity: a candidate pair is a near duplicate when its detail similarity (see the
            module docstring) is at least this.
        max_aspect_ratio: exclude images whose long side is more than this many times the short side.
        expected_channels: 1 (grey) or 3 (colour) for the dataset; ``None``: the most common among its images.
            Images of the other kind are reported (``channels``, warn); an RGB file whose channels are equal
            counts as grey.
        expected_bit_depth: images of another bit depth are reported (``bit_depth``, warn).
    """

    min_mask_fraction: float = 0.0005
    exclude_empty_masks: bool = True
    exclude_small_masks: bool = False
    max_off_fraction: float = 0.01
    exclude_size_mismatch: bool = True
    exclude_exact_duplicates: bool = True
    exclude_near_duplicates: bool = False
    near_duplicate_distance: int = 8
    near_duplicate_similarity: float = 0.97
    max_aspect_ratio: float = 4.0
    expected_channels: int | None = None
    expected_bit_depth: int = 8

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.min_mask_fraction < 1.0:
            problems.append(f"min_mask_fraction={self.min_mask_fraction} must be in [0, 1)")
        if not 0.0 <= self.max_off_fraction <= 1.0:
            problems.append(f"max_off_fraction={self.max_off_fraction} must be in [0, 1]")
        if not 0 <= self.near_duplicate_distance <= 64:
            problems.append(f"near_duplicate_distance={self.near_duplicate_distance} must be in [0, 64] (bits)")
        if not -1.0 <= self.near_duplicate_similarity <= 1.0:
            problems.append(f"near_duplicate_similarity={self.near_duplicate_similarity} must be in [-1, 1]")
        if not self.max_aspect_ratio >= 1.0:
            problems.append(f"max_aspect_ratio={self.max_aspect_ratio} must be >= 1")
        if self.expected_channels not in (None, 1, 3):
            problems.append(f"expected_channels={self.expected_channels!r} must be 1, 3 or None (most common)")
        if self.expected_bit_depth not in (1, 8, 16, 32):
            problems.append(f"expected_bit_depth={self.expected_bit_depth} must be 1, 8, 16 or 32")
        if problems:
            raise ConfigError("invalid QualityRules: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The rules as a flat dict (for metadata JSON)."""
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """A short sha256 of :meth:`to_dict`: the same rules give the same fingerprint everywhere."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class QualityReport:
    """The result of :func:`inspect_manifest`.

    Attributes:
        findings: one row per finding (a pair may have several), columns ``image_id``, ``split``, ``check``,
            ``detail``, ``action`` (``exclude`` or ``warn``), sorted by split, image_id and check priority.
        summary: one row per split present (train, val, test order), columns ``split``, ``starting`` (manifest
            rows, orphans included), ``excluded_<check>`` for every check in :data:`CHECKS` (each excluded row
            counted once, under its first excluding check) and ``final`` (rows of ``clean``).
        clean: the manifest rows kept, the manifest's columns plus ``group`` (rows that must stay in one split:
            one patient's rows, crops of one image and near duplicates of each other share it; the run's validation
            split is drawn by it), index reset.
        rules: the rules applied.
    """

    findings: pd.DataFrame
    summary: pd.DataFrame
    clean: pd.DataFrame
    rules: QualityRules

    def to_dict(self) -> dict[str, Any]:
        """Counts for metadata JSON: totals, findings per check and action, the summary per split, the rules."""
        f = self.findings
        by_check = {c: {a: int(((f.check == c) & (f.action == a)).sum()) for a in ("exclude", "warn")}
                    for c in CHECKS if (f.check == c).any()}
        splits = {r["split"]: {k: int(v) for k, v in r.items() if k != "split"}
                  for r in self.summary.to_dict("records")}
        return {"starting": int(self.summary.starting.sum()), "final": int(self.summary.final.sum()),
                "excluded": int(self.summary.starting.sum() - self.summary.final.sum()),
                "findings": by_check, "splits": splits, "rules": self.rules.to_dict(),
                "rules_fingerprint": self.rules.fingerprint}
