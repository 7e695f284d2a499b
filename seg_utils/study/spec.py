"""Run specs: flat, typed, validated, frozen, saved beside what they produced.

A :class:`RunSpec` is everything that determines a run's numbers (the data fingerprint included). Its id
is a short hash of its JSON form, and its folder is ``<arch>-<encoder>-<loss>-s<seed>-<id>``. The poster's
protocol is the default of every field (:meth:`RunSpec.default` reads one), typed once, here.

Fields added after the first release (:data:`ADDED_FIELDS`) enter the id only when they differ from their default,
so a run folder made before a field existed keeps its name and is still found, skipped or resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..data import AUGMENTS, DATASETS, INTENSITIES
from ..data.cbis_ddsm import CBIS_TASKS
from ..errors import ConfigError, check_choice
from ..model import ARCHS, LOSSES, SCHEDULES, TrainSettings, check_encoder
from .grid import model_label

__all__ = ["RunSpec", "ADDED_FIELDS", "VAL_SOURCES", "CBIS_TASKS", "KEEP_WEIGHTS", "EVAL_RESOLUTIONS"]

#: Where the validation split comes from: a seeded share of the training split (grouped by patient), or the
#: dataset's own validation split (ISIC's Validation folders).
VAL_SOURCES = ("train_fraction", "official")
#: Which weights early stopping leaves the run with: the best epoch's (restored) or the last epoch's (Keras' default).
KEEP_WEIGHTS = ("best", "last")
#: Where the test masks are scored: at the model's input size, or at each mask's own size (logits resized to it).
EVAL_RESOLUTIONS = ("input", "original")
#: Fields added after the first release: in the run id only when they differ from their default.
ADDED_FIELDS = ("val_source", "cbis_task", "keep_weights", "eval_resolution")


@dataclass(frozen=True)
class RunSpec:
    """One training run. Defaults are the poster's protocol.

    Attributes:
        dataset: a key of ``seg_utils.data.DATASETS``.
        arch: ``unet`` or ``deeplabv3plus``.
        encoder: an smp encoder name.
        loss: a key of ``seg_utils.model.LOSSES``.
        image_size: side of the square input; a multiple of 32.
        epochs: maximum epochs.
        batch_size: training batch size (>= 2: DeepLabV3+'s ASPP pooling needs two images).
        lr: Adam learning rate.
        patience: early stopping: epochs without a ``min_delta`` improvement of the validation loss.
        min_delta: early stopping: the smallest decrease of the validation loss that counts.
        val_fraction: share of the training split held out for validation (seeded), when the dataset has no
            validation split of its own.
        seed: seeds the validation split, initialisation, shuffling and augmentation.
        weights: ``imagenet``, ``none`` or a path to local encoder weights.
        limit: keep the first N images of each split (0: all), for quick runs.
        intensity: ``none``, ``clahe`` or ``equalize`` (applied once, when the cache is built).
        augment: ``none``, ``flips`` (random horizontal/vertical flips) or ``xray`` (albumentations: affine,
            brightness/contrast, gamma, noise).
        schedule: ``constant`` learning rate or ``cosine`` annealing over ``epochs``.
        val_source: one of :data:`VAL_SOURCES`: ``train_fraction`` (``val_fraction`` of the training split, drawn by
            patient; a dataset's own validation split is then not used) or ``official`` (the dataset's own).
        cbis_task: one of :data:`CBIS_TASKS` (CBIS-DDSM only): ``whole`` mammograms with the union of their masses, or
            ``mass_crop``: one window around each abnormality (an oracle crop: the window comes from the ground truth).
        keep_weights: one of :data:`KEEP_WEIGHTS`: after early stopping, evaluate the ``best`` epoch's weights
            (restored) or the ``last`` epoch's (Keras' ``restore_best_weights=False``, its default).
        eval_resolution: one of :data:`EVAL_RESOLUTIONS`: score the test masks at the model's ``input`` size (the
            masks resized to it, nearest) or at their ``original`` size (the logits resized to each mask, bilinear).
        data_fingerprint: fingerprint of the clean manifest the run trains and tests on.
        quality_rules: fingerprint of the data-quality rules that made the clean manifest.
    """

    dataset: str
    arch: str
    encoder: str
    loss: str
    image_size: int = 224
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5
    min_delta: float = 0.001
    val_fraction: float = 0.1
    seed: int = 0
    weights: str = "imagenet"
    limit: int = 0
    intensity: str = "none"
    augment: str = "none"
    schedule: str = "constant"
    val_source: str = "train_fraction"
    cbis_task: str = "whole"
    keep_weights: str = "best"
    eval_resolution: str = "input"
    data_fingerprint: str = ""
    quality_rules: str = ""
    _extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("arch", self.arch, ARCHS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("intensity", self.intensity, INTENSITIES)
        check_choice("augment", self.augment, AUGMENTS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("val_source", self.val_source, VAL_SOURCES)
        check_choice("cbis_task", self.cbis_task, CBIS_TASKS)
        check_choice("keep_weights", self.keep_weights, KEEP_WEIGHTS)
        check_choice("eval_resolution", self.eval_resolution, EVAL_RESOLUTIONS)
        if self.cbis_task != "whole" and self.dataset != "cbis_ddsm":
            raise ConfigError(f"cbis_task={self.cbis_task!r} applies to dataset cbis_ddsm only (this run is "
                              f"{self.dataset!r}); leave it at 'whole'")
        for name in ("image_size", "epochs", "batch_size", "patience", "limit", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        check_encoder(self.encoder)
        if self.image_size < 32 or self.image_size % 32:
            raise ConfigError(f"image_size={self.image_size} must be a positive multiple of 32 (the encoders "
                              "downsample 5 times), e.g. 224")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs} must be at least 1")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size={self.batch_size} must be at least 2 (batch norm and DeepLabV3+'s "
                              "ASPP pooling need two images per batch)")
        if not (isinstance(self.lr, int | float) and self.lr > 0 and self.lr < 10):
            raise ConfigError(f"lr={self.lr!r} must be a positive number below 10, e.g. 1e-3")
        if self.patience < 1:
            raise ConfigError(f"patience={self.patience} must be at least 1")
        if not (isinstance(self.min_delta, int | float) and self.min_delta >= 0):
            raise ConfigError(f"min_delta={self.min_delta!r} must be a number >= 0")
        if not (isinstance(self.val_fraction, int | float) and 0 < self.val_fraction < 1):
            raise ConfigError(f"val_fraction={self.val_fraction!r} must lie strictly between 0 and 1")
        if self.limit < 0:
            raise ConfigError(f"limit={self.limit} must be >= 0 (0 keeps every image)")
        if not isinstance(self.weights, str) or not self.weights:
            raise ConfigError("weights must be 'imagenet', 'none' or a path to local encoder weights")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        names = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown run-spec keys {unknown}; valid: {', '.join(sorted(names))}")
        return cls(**d)

    def replace(self, **changes: Any) -> RunSpec:
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: every field, but those of :data:`ADDED_FIELDS` only when not at their default."""
        return {k: v for k, v in self.to_dict().items() if k not in ADDED_FIELDS or v != RunSpec.default(k)}

    @property
    def run_id(self) -> str:
        """A short hash of the spec's :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def name(self) -> str:
        """``<arch>-<encoder>-<loss>-s<seed>-<run_id>``: the run folder's name."""
        return f"{self.arch}-{self.encoder}-{self.loss}-s{self.seed}-{self.run_id}"

    @property
    def label(self) -> str:
        """The poster's way of naming the model, e.g. ``DeepLabV3+_RN50``."""
        return model_label(self.arch, self.encoder)

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of field ``name``: the poster's protocol (e.g. ``RunSpec.default("image_size")`` is 224)."""
        for f in dataclasses.fields(cls):
            if f.name == name and f.default is not dataclasses.MISSING:
                return f.default
        raise KeyError(f"RunSpec has no field {name!r} with a default")

    def train_settings(self, **execution: Any) -> TrainSettings:
        """What training needs of this spec, plus execution settings that leave the numbers' meaning alone
        (``accumulate``)."""
        return TrainSettings(name=self.name, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             patience=self.patience, min_delta=self.min_delta, seed=self.seed, augment=self.augment,
                             schedule=self.schedule, keep_weights=self.keep_weights, **execution)

