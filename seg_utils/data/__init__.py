"""The data layer: dataset layouts -> manifests, quality inspection, the preprocessing cache, batches.

Imports nothing from the layers above (model, study, report).
"""

from __future__ import annotations

from .cache import INTENSITIES, CachedData, build_cache
from .datasets import DATASETS, build_manifest, limit_manifest, manifest_fingerprint
from .layout import MANIFEST_COLUMNS, SPLITS
from .quality import QualityReport, QualityRules, inspect_manifest
from .synthetic import SYNTHETIC_DATASETS, write_synthetic
from .transforms import AUGMENTS

__all__ = ["AUGMENTS", "DATASETS", "INTENSITIES", "MANIFEST_COLUMNS", "SPLITS", "SYNTHETIC_DATASETS", "CachedData",
           "QualityReport", "QualityRules", "build_cache", "build_manifest", "inspect_manifest", "limit_manifest",
           "manifest_fingerprint", "write_synthetic"]
