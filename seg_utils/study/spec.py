"""Run specs: flat, typed, validated, frozen, saved beside what they produced.

A :class:`RunSpec` is everything that determines a run's numbers (the data fingerprint included). Its id
is a short hash of its JSON form, and its folder is ``<arch>-<encoder>-<loss>-s<seed>-<id>``. The poster's
protocol is the default of every field (:meth:`RunSpec.default` reads one), typed once, here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..data import AUGMENTS, DATASETS, INTENSITIES
from ..errors import ConfigError, check_choice
from ..model import ARCHS, LOSSES, SCHEDULES, TrainSettings, check_encoder
from .grid import model_label

__all__ = ["RunSpec"]


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

    @property
    def run_id(self) -> str:
        """A short hash of the whole spec."""
        text = json.dumps(self.to_dict(), sort_keys=True)
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

    def train_settings(self) -> TrainSettings:
        """What training needs of this spec."""
        return TrainSettings(name=self.name, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             patience=self.patience, min_delta=self.min_delta, seed=self.seed, augment=self.augment,
                             schedule=self.schedule)

