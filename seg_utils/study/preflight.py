"""What every run of a grid needs, checked before the first one trains: a fault that is not one run's stops the
notebook with one line, instead of failing each run in turn.

- the device: a GPU that the installed torch cannot run (a Kaggle P100) or ``cuda`` without one;
- the data: every split each run needs is non-empty (a copy without test masks and ``test_source='official'`` names
  the folder of images without masks and the way out);
- the weights: ImageNet weights reachable (downloaded once into the Hugging Face cache) or a local path that holds
  them.

A run's own failure (a NaN loss, out of memory, a damaged checkpoint) is not checked here: the grid records it and
goes on (:mod:`.execute`). A grid whose every run failed is :func:`check_not_all_failed`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import DataError, TrainingError
from ..model import build_model, resolve_device
from ..model.models import find_local_weights
from .prepare import PreparedData
from .runs import run_splits
from .spec import RunSpec

__all__ = ["preflight", "check_environment", "check_splits", "check_not_all_failed", "missing_test_masks"]

#: Split-relevant fields: runs that agree on them split the data the same way.
_SPLIT_FIELDS = ("val_source", "val_fraction", "test_source", "test_fraction", "seed")


def missing_test_masks(manifest: pd.DataFrame) -> list[str]:
    """The folders of test images that have no mask (a Kaggle copy that ships test images without ground truth)."""
    rows = manifest[(manifest.split == "test") & (manifest.image_path != "") & (manifest.mask_path == "")]
    return sorted({str(Path(p).parent) for p in rows.image_path})


def _check_splits(spec: RunSpec, data: PreparedData) -> None:
    try:
        run_splits(spec, data)
    except DataError as exc:
        folders = missing_test_masks(data.manifest) if spec.test_source == "official" else []
        if not folders or "test split is empty" not in str(exc):
            raise
        shown = ", ".join("/".join(Path(f).parts[-2:]) for f in folders)  # no absolute path of this machine
        raise DataError(f"{spec.dataset}: the test images in {shown} have no masks, so test_source='official' has no "
                        "test set: attach a copy that includes them (some Kaggle copies of ISIC 2018 include "
                        "ISIC2018_Task1_Test_GroundTruth), or set test_source='train_fraction' to hold a seeded share "
                        f"(test_fraction={spec.test_fraction}) of the training images out as the test set "
                        "(run_all.sh: --param-for 01 test_source train_fraction)") from None


def _check_weights(encoder: str, weights: str) -> None:
    if weights == "none":
        return
    if weights == "imagenet":
        build_model("unet", encoder, "imagenet")  # downloads once into the cache the runs read; WeightsError
    else:
        find_local_weights(weights, encoder)


def check_environment(specs: Sequence[RunSpec], device: str) -> None:
    """What the runs need besides their data, checked before the data is prepared: the device and each encoder's
    weights (once per encoder and weights).

    Raises:
        ConfigError: the device cannot run the study (one line: the GPU, why, what to pick instead).
        WeightsError: encoder weights that cannot be had (both ways out in the message).
    """
    if not specs:
        return
    resolve_device(device)
    for encoder, weights in dict.fromkeys((s.encoder, s.weights) for s in specs):
        _check_weights(encoder, weights)


def check_splits(specs: Sequence[tuple[RunSpec, PreparedData]]) -> None:
    """Every split each run needs is non-empty (once per prepared data and split settings).

    Raises:
        DataError: a split a run needs is empty (one line: which, and how to fix it).
    """
    seen = set()
    for spec, data in specs:
        key = (id(data), *(getattr(spec, f) for f in _SPLIT_FIELDS))
        if key not in seen:
            seen.add(key)
            _check_splits(spec, data)


def preflight(specs: Sequence[tuple[RunSpec, PreparedData]], device: str) -> None:
    """:func:`check_environment` and :func:`check_splits` of the runs to train, before any trains."""
    check_environment([spec for spec, _ in specs], device)
    check_splits(specs)


def check_not_all_failed(table: pd.DataFrame) -> None:
    """Stop a notebook whose every run failed in this call (nothing to report; each run's reason is listed).

    Raises:
        TrainingError: one line with the number of runs and their distinct reasons.
    """
    tried = table[~table.action.isin(["skipped", "not run"])]
    if len(tried) and tried.status.eq("failed").all() and not table.status.eq("complete").any():
        reasons = sorted({str(r) for r in tried.reason if str(r)})
        raise TrainingError(f"every run of the grid failed ({len(tried)} runs): "
                            f"{' | '.join(reasons) or 'see failed.json'}; fix the cause and rerun (complete runs are "
                            "skipped, failed ones are tried again)")
