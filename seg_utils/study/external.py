"""External validation: apply a trained run to another dataset (e.g. a Shenzhen model to a third hospital)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.io import write_csv, write_json
from ..errors import DataError
from ..model.evaluate import evaluate_arrays
from ..repro import environment_report
from .prepare import prepare_data
from .run_folder import ENVIRONMENT, EXTERNAL, METRICS, PER_IMAGE, load_run

__all__ = ["evaluate_external"]


def evaluate_external(run_dir: str | Path, dataset: str, data_root: str | Path, split: str = "test",
                      out: str | Path | None = None, device: str = "auto", progress: bool = True) -> dict:
    """Score a complete run's best weights on ``split`` (``test`` or ``all``) of another dataset.

    The images go through the run's own preprocessing (size, intensity) and the default quality rules.
    Writes ``per_image.csv``, ``metrics.json`` and ``environment.json`` to ``out`` (default
    ``<run>/external/<dataset>-<split>``) and returns the metrics (``dice_mean``, ``n_images``, ...).

    Raises:
        DataError: the run is not complete, or the split is empty.
    """
    run_dir = Path(run_dir)
    model, spec, _ = load_run(run_dir, device, "fp32")  # the weights it was evaluated with; evaluated in float32
    results = run_dir.parents[2]  # <results>/runs/<dataset>/<run>
    data = prepare_data(dataset, data_root, spec.image_size, results, spec.intensity, progress=progress,
                        unsplit="test")
    rows = np.arange(len(data.cache.index)) if split == "all" else data.cache.split(split)
    if len(rows) == 0:
        raise DataError(f"{dataset} under {data_root}: the {split} split is empty after the quality inspection")
    dev = next(model.parameters()).device
    images = torch.from_numpy(np.ascontiguousarray(data.cache.images[rows]))
    masks = torch.from_numpy(np.ascontiguousarray(data.cache.masks[rows]))
    ids = data.cache.index.image_id.to_numpy()[rows].tolist()
    per_image, summary, _ = evaluate_arrays(model, images, masks, ids, spec.batch_size)  # float32
    out = Path(out) if out else run_dir / EXTERNAL / f"{dataset}-{split}"
    write_csv(out / PER_IMAGE, per_image)
    write_json(out / ENVIRONMENT, environment_report(dev))
    summary.update({"run": spec.name, "dataset": dataset, "data_root": str(data_root), "split": split,
                    "data_fingerprint": data.fingerprint})
    write_json(out / METRICS, summary)  # last: the run's card is outdated from now (report.update_card)
    return summary
