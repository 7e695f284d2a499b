"""Using a complete run: its model as it was evaluated, predictions on a folder of images, exports; and the
parameters of the predict notebook (``notebooks/30_predict.ipynb``).

Everything about the input comes from the run folder (``spec.json``: size, intensity; the weights it was
evaluated with, :func:`~seg_utils.study.run_folder.weights_file`), never from the caller, so a prediction or an
export preprocesses exactly as the run's training and evaluation did.

Example:
    >>> table = predict_run("results/smoke/runs/isic2018/unet-resnet50-bce-s0-0f86f47c58", "my_images/", "out/")
    >>> export_run("results/smoke/runs/isic2018/unet-resnet50-bce-s0-0f86f47c58", "onnx")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.io import MASK_PART_SEPARATOR, write_csv, write_json
from ..data.paths import shown_path, without_paths
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalise
from ..errors import ConfigError, DataError, check_choice
from ..model import DEVICES
from ..model.export import EXPORT_FORMATS, SUFFIXES, ExportResult, export_model
from ..model.metrics import THRESHOLD
from ..model.predict import DICE_RESOLUTIONS, PredictOptions, list_images, predict_folder, preprocess_image
from ..options import check_options, option
from .notebook import from_namespace
from .run_folder import find_run, load_run, read_metrics, read_splits, weights_file
from .spec import RunSpec

__all__ = ["PredictParams", "preprocessing", "predict_run", "export_run", "predict_params", "predict"]

_CHECK_IMAGES = 4  # images in an export's check batch


def preprocessing(spec: RunSpec, threshold: float = THRESHOLD) -> dict[str, Any]:
    """The run's preprocessing and output convention, as recorded in exports and predictions."""
    return {"image_size": spec.image_size, "channels": "3 (RGB; grey images replicated)",
            "resize": "area interpolation to image_size x image_size (aspect ratio not kept); masks: nearest",
            "intensity": spec.intensity, "scale": "1/255", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "threshold": threshold, "output": "logits; foreground where sigmoid(logits) > threshold"}


def predict_run(run_dir: str | Path, images: str | Path, out: str | Path, masks: str | Path | None = None,
                tta: str = "none", threshold: float = THRESHOLD, dice_at: str = "run", device: str = "auto",
                precision: str = "run", progress: bool = True) -> pd.DataFrame:
    """Predict a folder of images with a complete run (:func:`seg_utils.model.predict.predict_folder`).

    Args:
        run_dir: a complete run folder.
        images, out, masks, tta, threshold: as in :func:`~seg_utils.model.predict.predict_folder`.
        dice_at: ``run`` (the run's own ``eval_resolution``, so the Dice is the one its per_image.csv holds for its
            test images), ``input`` or ``original``.
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: one of :data:`PRECISION_CHOICES`.
        progress: a progress bar.

    Returns:
        The table written to ``<out>/predictions.csv``, with ``truth_file`` relative to ``masks`` and the folders in
        ``error`` shown as :func:`~seg_utils.data.paths.shown_path` shows them (a report shows the table, so it holds
        no absolute path of this machine); ``<out>/predict.json`` records the run, the images, the preprocessing and
        the options (the folders shown likewise).
    """
    check_choice("dice_at", dice_at, ("run", *DICE_RESOLUTIONS))
    model, spec, amp = load_run(run_dir, device, precision)
    at = spec.eval_resolution if dice_at == "run" else dice_at
    table = predict_folder(model, images, out, spec.image_size, spec.intensity, masks, tta, threshold, at,
                           spec.batch_size, amp, progress)
    folders = [Path(p).resolve() for p in (images, masks, out) if p]
    table["truth_file"] = [_relative_to(t, masks) for t in table.truth_file.fillna("")]
    table["error"] = [without_paths(e, folders) for e in table.error.fillna("")]
    write_csv(Path(out) / "predictions.csv", table)
    scored = table.dice.notna()
    write_json(Path(out) / "predict.json", {
        "run": shown_path(Path(run_dir).resolve()), "weights": weights_file(run_dir).name, "label": spec.label,
        "images": shown_path(Path(images).resolve()), "masks": shown_path(Path(masks).resolve()) if masks else None,
        "preprocessing": preprocessing(spec, threshold), "tta": tta, "dice_at": at, "precision": amp.description,
        "device": str(next(model.parameters()).device), "n_images": int(len(table)),
        "n_errors": int((table.error.fillna("") != "").sum()), "n_scored": int(scored.sum()),
        "dice_mean": float(table.dice[scored].mean()) if scored.any() else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return table


def _relative_to(path: str, folder: str | Path | None) -> str:
    """``path`` (a matched mask; several parts joined by ``|``) relative to ``folder`` where it lies below it, else
    as :func:`~seg_utils.data.paths.shown_path` shows it."""
    if not path or folder is None:
        return path
    base = Path(folder).resolve()
    parts = [Path(p).resolve() for p in path.split(MASK_PART_SEPARATOR)]
    return MASK_PART_SEPARATOR.join(p.relative_to(base).as_posix() if p.is_relative_to(base) else shown_path(p)
                                    for p in parts)


def _cached_test_images(run_dir: Path, spec: RunSpec, n: int) -> np.ndarray | None:
    """The first ``n`` test images of the run as its cache holds them (uint8 ``(n, S, S, 3)``), or None."""
    splits = read_splits(run_dir)
    ids = list(splits.get("test", []))[:n]
    if not ids:
        return None
    run_dir = run_dir.resolve()
    if len(run_dir.parents) < 3:  # not <results>/runs/<dataset>/<run>
        return None
    for index in sorted((run_dir.parents[2] / "cache").glob(f"{spec.image_size}px-{spec.intensity}-*/index.csv")):
        rows = {image_id: k for k, image_id in enumerate(pd.read_csv(index, dtype=str).image_id)}
        if all(i in rows for i in ids):
            arrays = np.load(index.parent / "images.npy", mmap_mode="r")
            return np.stack([arrays[rows[i]] for i in ids])
    return None


def _folder_images(folder: str | Path, spec: RunSpec, n: int) -> np.ndarray:
    out = []
    for path in list_images(folder):
        try:
            out.append(preprocess_image(path, spec.image_size, spec.intensity))
        except DataError:
            continue
        if len(out) == n:
            break
    if not out:
        raise DataError(f"no readable image in {folder} for the export's check")
    return np.stack(out)


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None,
               images: str | Path | None = None) -> ExportResult:
    """Export a complete run's evaluated weights (:func:`seg_utils.model.export.export_model`).

    The check batch is real: the run's first test images from its preprocessing cache (``<results>/cache``), or the
    first images of ``images`` preprocessed as the run's; two images at least (one is repeated if need be), so that
    the dynamic batch axis is exercised.

    Args:
        run_dir: a complete run folder.
        fmt: ``onnx`` or ``torchscript``.
        out: the file (default ``<run>/model.onnx`` or ``<run>/model.torchscript.pt``).
        images: a folder of images for the check batch (default: the run's cached test images).

    Raises:
        DataError: no complete run, or no images for the check (the cache is gone: pass ``images``).
        ExportError: the export's logits differ from PyTorch's by more than 1e-3.
    """
    check_choice("format", fmt, EXPORT_FORMATS)
    run_dir = Path(run_dir)
    model, spec, _ = load_run(run_dir, "cpu", "fp32")
    raw = _folder_images(images, spec, _CHECK_IMAGES) if images else _cached_test_images(run_dir, spec, _CHECK_IMAGES)
    if raw is None:
        raise DataError(f"no cached test images of {run_dir.name} (looked in <results>/cache beside runs/) for the "
                        "export's check; pass --images DIR (a few images of the run's kind)")
    if len(raw) < 2:
        raw = np.concatenate([raw, raw])
    batch = normalise(torch.from_numpy(np.ascontiguousarray(raw)))
    metrics = read_metrics(run_dir)
    meta = {"run": run_dir.name, "label": spec.label, "dataset": spec.dataset, "arch": spec.arch,
            "encoder": spec.encoder, "weights": weights_file(run_dir).name, "data_fingerprint": spec.data_fingerprint,
            "test_dice_mean": str(metrics.get("dice_mean")),
            "intended_use": "research only; not a medical device", **preprocessing(spec)}
    return export_model(model, batch, Path(out) if out else run_dir / SUFFIXES[fmt], fmt, meta)


@dataclass(frozen=True, kw_only=True)
class _PredictWhere:
    """Which run predicts which images, and where the results folder is (the first parameters of the cell)."""

    results_dir: str = option("results", "results folder (run_all.sh passes its own); the paths below may start here")
    run: str = option("isic2018/unet-resnet50-bce-s0", "run folder, or <dataset>/<name prefix> under results_dir/runs "
                      "(the newest)")
    images_dir: str = option("synthetic/isic2018/ISIC2018_Task1-2_Test_Input", "image folder (absolute, or in "
                             "results_dir)")
    masks_dir: str = option("synthetic/isic2018/ISIC2018_Task1_Test_GroundTruth", "masks for Dice, same stems; "
                            "empty: none")


@dataclass(frozen=True, kw_only=True)
class PredictParams(PredictOptions, _PredictWhere):
    """The parameters of the predict notebook (``study.predict_params(globals())``): where, how
    (:class:`~seg_utils.model.predict.PredictOptions`) and the notebook's own, each declared once with its help."""

    device: str = option("auto", "auto | cpu | cuda", choices=DEVICES)
    n_gallery: int = option(8, "predictions shown in the gallery", low=1)
    progress: bool = option(True, "progress bars")

    def __post_init__(self) -> None:
        check_options(self)
        for name in ("images_dir", "masks_dir"):
            if getattr(self, name) and not self._folder(getattr(self, name)).is_dir():
                raise ConfigError(f"{name}={getattr(self, name)!r}: {self._folder(getattr(self, name))} is not a "
                                  "folder (give it absolute, or relative to results_dir)")
        _ = self.run_dir  # validates run

    def _folder(self, text: str) -> Path:
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.results / path

    @property
    def results(self) -> Path:
        return Path(self.results_dir).expanduser().resolve()

    @property
    def run_dir(self) -> Path:
        return find_run(self.run, self.results)

    @property
    def images(self) -> Path:
        return self._folder(self.images_dir)

    @property
    def masks(self) -> Path | None:
        return self._folder(self.masks_dir) if self.masks_dir else None

    @property
    def out(self) -> Path:
        """``<results>/predictions/<run name>``."""
        return self.results / "predictions" / self.run_dir.name

    @property
    def figures_dir(self) -> Path:
        return self.results / "figures" / "predict"

    @property
    def notebook_name(self) -> str:
        """The notebook's name in summaries and the index."""
        return "predict"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def table(self) -> pd.DataFrame:
        d = {"(run folder)": shown_path(self.run_dir), "(output)": shown_path(self.out),
             **{k: shown_path(v) if k.endswith("_dir") else v for k, v in self.to_dict().items()}}
        return pd.DataFrame({"parameter": list(d), "value": [v if k.startswith("(") else repr(v)
                                                              for k, v in d.items()]})


def predict_params(namespace: Mapping[str, Any]) -> PredictParams:
    """Validate the predict notebook's parameters: pass ``globals()`` from the setup cell (as
    :func:`~seg_utils.study.notebook.dataset_params`).

    Raises:
        ConfigError: an unknown name, a wrong type, an invalid value, or a run or folder that does not exist.
    """
    return from_namespace(PredictParams, namespace)


def predict(params: PredictParams) -> pd.DataFrame:
    """The predict notebook's predictions: :func:`predict_run` with its parameters, into ``params.out``."""
    return predict_run(params.run_dir, params.images, params.out, params.masks, params.tta, params.threshold,
                       params.dice_at, params.device, progress=params.progress)
