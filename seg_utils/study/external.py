"""External validation: apply a trained run to another dataset (e.g. a Shenzhen model to a third hospital)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.io import read_json, write_csv, write_json
from ..errors import DataError
from ..model import build_model, resolve_device
from ..model.evaluate import evaluate_arrays
from ..model.train import load_checkpoint
from ..repro import environment_report
from .model_card import write_model_card
from .prepare import prepare_data
from .runs import run_status, weights_file
from .spec import RunSpec

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
    if run_status(run_dir) != "complete":
        raise DataError(f"{run_dir} is not a complete run (no metrics.json); train it first")
    spec = RunSpec.from_dict(read_json(run_dir / "spec.json"))
    results = run_dir.parents[2]  # <results>/runs/<dataset>/<run>
    data = prepare_data(dataset, data_root, spec.image_size, results, spec.intensity, progress=progress)
    rows = np.arange(len(data.cache.index)) if split == "all" else data.cache.split(split)
    if len(rows) == 0:
        raise DataError(f"{dataset} under {data_root}: the {split} split is empty after the quality inspection")
    dev = resolve_device(device)
    model = build_model(spec.arch, spec.encoder, "none")
    model.load_state_dict(load_checkpoint(weights_file(run_dir)))  # final.pt of a keep_weights='last' run
    model.to(dev)
    images = torch.from_numpy(np.ascontiguousarray(data.cache.images[rows]))
    masks = torch.from_numpy(np.ascontiguousarray(data.cache.masks[rows]))
    ids = data.cache.index.image_id.to_numpy()[rows].tolist()
    per_image, summary, _ = evaluate_arrays(model, images, masks, ids, spec.batch_size)  # float32
    out = Path(out) if out else run_dir / "external" / f"{dataset}-{split}"
    write_csv(out / "per_image.csv", per_image)
    write_json(out / "environment.json", environment_report(dev))
    summary.update({"run": spec.name, "dataset": dataset, "data_root": str(data_root), "split": split,
                    "data_fingerprint": data.fingerprint})
    write_json(out / "metrics.json", summary)
    write_model_card(run_dir)  # the card lists the external results
    return summary
