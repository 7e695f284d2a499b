"""Data-quality inspection: which manifest rows are fit to train and test on, and why the others are not.

:func:`inspect_manifest` decodes every image and mask once (in a thread pool) through the readers of
:mod:`seg_utils.data.io`, so that a broken file becomes a finding, never a crash, and applies :class:`QualityRules`:

- files: ``unreadable_image`` / ``unreadable_mask`` (empty, truncated, not an image, missing; any exception while
  decoding), ``missing_mask`` / ``missing_image`` (orphans of the manifest);
- geometry: ``size_mismatch`` (image and mask differ), ``mask_resized`` (warn: a mask part stored at another size
  than its image, resized to it with nearest neighbour: the parts of a united mask, or a mask the adapter declares
  resizable with the manifest column ``resize_mask``, as CBIS-DDSM's ROI masks), ``aspect_ratio`` (too elongated to
  resize to a square);
- masks: ``non_binary_mask`` (grey values other than 0 and 255), ``empty_mask``, ``small_mask``;
- patients (manifest column ``patient``): ``patient_leak`` (a train or val image whose patient is in the test split,
  or a train image whose patient is in the dataset's own validation split; the test / validation images are kept);
- duplicates: ``train_test_leak`` (a train or val image that is an exact or near copy of a test image),
  ``train_val_leak`` (a train image that is an exact or near copy of a kept validation image), ``exact_duplicate``
  (same decoded pixels within a split), ``near_duplicate`` (perceptual hash within a split);
- format: ``channels`` (grey among colour images or the reverse), ``bit_depth`` (16-bit, 1-bit, float images).

Each finding is ``exclude`` (the row leaves the clean manifest) or ``warn`` (reported, kept). The clean manifest gets a
``group`` column (:mod:`.groups`): one patient's rows, the crops of one image and near duplicates share a group, and a
run draws its validation split by it (:mod:`seg_utils.study.splits`). A row with a ``crop`` window (CBIS-DDSM
``mass_crop``) is checked as cropped; crops of one image are never compared with each other.

Near duplicates are found in two steps. The 64-bit DCT perceptual hash of ``imagehash`` (``phash``,
https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html) proposes candidates: pairs whose
hashes differ in at most ``near_duplicate_distance`` bits (popcount of the xor, vectorised). The hash alone is not
enough on one modality: chest X-rays of *different* patients are 2-4 bits apart, mammograms even 0, because the
coarse layout is the same. A candidate is confirmed when the *detail similarity* reaches
``near_duplicate_similarity``: the cosine between the low-frequency DCT coefficients (16 x 16, without DC) of the
64 x 64 grey thumbnails, each coefficient weighted by its frequency so that detail counts as much as layout.
Measured on the shared samples: a brightened, contrast-stretched or JPEG re-encoded copy scores >= 0.988,
different patients <= 0.937 (chest X-ray) and <= 0.946 (CBIS-DDSM), re-photographed ISIC lesions 0.976-0.999.

Example:
    >>> manifest = build_manifest("chest_xray", root)
    >>> report = inspect_manifest(manifest, progress=True)
    >>> report.summary          # one row per split: starting, excluded_<check>, final
    >>> write_report(report, run_dir / "quality.csv")
"""

from __future__ import annotations

from .inspect import excluded_examples, inspect_manifest, write_report
from .rules import CHECKS, FINDING_COLUMNS, QualityReport, QualityRules

__all__ = ["CHECKS", "FINDING_COLUMNS", "QualityRules", "QualityReport", "inspect_manifest", "write_report",
           "excluded_examples"]
