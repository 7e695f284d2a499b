"""The study on a user's own data sized to the time they have: a ``budget`` of ``quick``, ``standard`` or ``paper``.

A budget sets the input size, epochs, batch, seeds, the configurations of the grid and the ablation ladder, each only
where the notebook's parameter is still at its declared default, so that ``-p budget quick -p epochs 8`` keeps the 8:

=========  ======  ======  =====  =====  ==============================================  ===============================
budget     size    epochs  batch  seeds  grid                                            ladder (on the two RN50 BCE)
=========  ======  ======  =====  =====  ==============================================  ===============================
quick      64      5       8      2      U-Net and DeepLabV3+ RN50, BCE and Log-Cosh     none
standard   128     20      16     3      the same four                                   by modality (``auto``)
paper      224     50      32     3      the poster's eight (three encoders; losses)     by modality (``auto``)
=========  ======  ======  =====  =====  ==============================================  ===============================

``ablation_steps="auto"`` chooses the ladder from the images once they are read (:func:`for_data`): grey images
(every channel equal: X-rays, CT, ultrasound) climb CLAHE, X-ray augmentation (small affine, brightness/contrast),
BCE + Dice and a cosine schedule; colour images (dermoscopy, photographs) flips, BCE + Dice and a cosine schedule.

:func:`estimate` measures a few training steps of each model on the machine at hand before anything trains, and
gives an upper bound of the study's time (every run to its last epoch); the progress lines of ``run_all.sh`` refine
it from each finished epoch.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError
from ..model.device import resolve_device
from ..model.losses import build_loss
from ..model.models import build_model
from ..model.precision import amp_of
from ..model.train import probe_step
from .grid import config_name
from .params import DatasetParams
from .prepare import PreparedData

__all__ = ["BUDGETS", "BUDGET_SETTINGS", "LADDERS", "with_budget", "modality", "for_data", "estimate"]

BUDGETS = ("quick", "standard", "paper")
_RN50 = "unet-resnet50-bce,deeplabv3plus-resnet50-bce"
_RN50_LOSSES = f"{_RN50},unet-resnet50-logcosh_dice,deeplabv3plus-resnet50-logcosh_dice"
#: What each budget sets (where the parameter is at its default).
BUDGET_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"image_size": 64, "epochs": 5, "batch_size": 8, "n_seeds": 2, "configs": _RN50_LOSSES,
              "ablation_steps": ""},
    "standard": {"image_size": 128, "epochs": 20, "batch_size": 16, "n_seeds": 3, "configs": _RN50_LOSSES,
                 "ablation_steps": "auto", "ablation_configs": _RN50},
    "paper": {"image_size": 224, "epochs": 50, "batch_size": 32, "n_seeds": 3, "configs": "all",
              "ablation_steps": "auto", "ablation_configs": _RN50},
}
#: The ladder ``ablation_steps="auto"`` chooses, by the images' modality.
LADDERS = {"grey": "intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine",
           "colour": "augment=flips,loss=bce_dice,schedule=cosine"}


def with_budget(params: DatasetParams) -> DatasetParams:
    """``params`` with its budget's settings (:data:`BUDGET_SETTINGS`) where a parameter is at its default; unchanged
    without a budget."""
    if not params.budget:
        return params
    defaults = {f.name: f.default for f in dataclasses.fields(DatasetParams)}
    changes = {name: value for name, value in BUDGET_SETTINGS[params.budget].items()
               if getattr(params, name) == defaults[name]}
    return dataclasses.replace(params, **changes)


def modality(data: PreparedData, sample: int = 64) -> str:
    """``grey`` when every channel of every sampled cached image is equal, else ``colour``."""
    images = data.cache.images
    rows = np.linspace(0, len(images) - 1, num=min(sample, len(images)), dtype=int)
    x = np.asarray(images[rows])
    return "grey" if np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 1], x[..., 2]) else "colour"


def for_data(params: DatasetParams, data: PreparedData) -> tuple[DatasetParams, list[str]]:
    """``params`` with what depends on the images: ``ablation_steps="auto"`` becomes the ladder of their modality.

    Returns:
        ``(params, notes)``: the notes say what was chosen and why, and name a test or validation split of the
        user's own that the settings leave unused (for the report; nothing is changed silently).
    """
    notes = []
    if params.ablation_steps == "auto":
        kind = modality(data)
        params = dataclasses.replace(params, ablation_steps=LADDERS[kind])
        notes.append(f"The images are {kind} (every channel equal)" if kind == "grey" else
                     f"The images are {kind}")
        notes[-1] += f": the ablation ladder is {LADDERS[kind]}."
    own = data.clean.split.value_counts()
    for split, option, value in (("test", "test_source", "official"), ("val", "val_source", "official")):
        if own.get(split, 0) and getattr(params, option) != value:
            notes.append(f"The data has a {split} split of its own ({own[split]} images); it is not used, because "
                         f"{option}={getattr(params, option)!r}: pass -p {option} {value} to use it.")
    return params, notes


def _seconds_per_image(arch: str, encoder: str, params: DatasetParams, device: torch.device, steps: int = 2) -> float:
    """Seconds per training image of one model at the run's size, from ``steps`` timed steps after a warm-up (fp32
    NCHW on the CPU, as a bound: ``precision='auto'`` picks a faster one where the CPU has it)."""
    batch = min(params.batch_size, 8)
    step = probe_step(lambda: build_model(arch, encoder, "none"), build_loss("bce"), params.image_size, batch,
                      device)
    amp = amp_of("fp32", "nchw") if device.type == "cpu" else amp_of("bf16" if torch.cuda.is_bf16_supported()
                                                                     else "fp16", "channels_last")
    step(amp)  # warm-up: allocations, kernel selection
    t0 = time.perf_counter()
    images = sum(step(amp) for _ in range(steps))
    return (time.perf_counter() - t0) / images


def estimate(params: DatasetParams, data: PreparedData) -> pd.DataFrame:
    """An upper bound of the time the notebook's runs take on this machine, measured before training.

    Returns:
        One row per configuration: ``configuration``, ``runs`` (seeds, and ladder steps), ``train_images``,
        ``seconds_per_epoch`` (measured training steps, and the validation and test images at the same rate),
        ``epochs`` (summed over the runs: a ladder step's own ``epochs=N`` counts for its runs),
        ``minutes_at_most`` (every run to its last epoch); a ``total`` row. ``attrs["device"]`` names the device.

    Raises:
        ConfigError: the ladder is still ``auto`` (call :func:`for_data` first).
    """
    if params.ablation_steps == "auto":
        raise ConfigError("ablation_steps='auto' is chosen from the images: call study.for_data(params, data) first")
    device = resolve_device(params.device)
    split = data.clean.split.value_counts()
    n_train, n_other = int(split.get("train", 0)), int(split.get("val", 0) + split.get("test", 0))
    step_epochs = [step.changes.get("epochs", params.epochs) for step in params.ladder[1:]]
    rows, per_model = [], {}
    for arch, encoder, loss in params.grid:
        if (arch, encoder) not in per_model:
            per_model[(arch, encoder)] = _seconds_per_image(arch, encoder, params, device)
        ladder = step_epochs if (arch, encoder, loss) in params.ablation_grid else []
        runs, epochs = params.n_seeds * (1 + len(ladder)), params.n_seeds * (params.epochs + sum(ladder))
        epoch = per_model[(arch, encoder)] * (n_train + n_other / 3)  # inference costs about a third of a step
        rows.append({"configuration": config_name(arch, encoder, loss), "runs": runs, "epochs": epochs,
                     "train_images": n_train, "seconds_per_epoch": epoch, "minutes_at_most": epochs * epoch / 60})
    table = pd.DataFrame(rows)
    total = {"configuration": "total", "runs": int(table.runs.sum()), "epochs": int(table.epochs.sum()),
             "train_images": n_train, "seconds_per_epoch": float("nan"),
             "minutes_at_most": float(table.minutes_at_most.sum())}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table.attrs["device"] = str(device)
    return table
