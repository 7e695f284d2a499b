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
from dataclasses import dataclass
from typing import Any

from ..data import DATASETS, INTENSITIES
from ..data.cbis_ddsm import CBIS_TASKS
from ..errors import ConfigError, check_choice
from ..model import ARCHS, LOSSES, check_encoder
from ..model.train import KEEP_WEIGHTS, TrainOptions, TrainSettings
from ..options import option
from .grid import model_label

__all__ = ["RunOptions", "RunSpec", "ADDED_FIELDS", "VAL_SOURCES", "TEST_SOURCES", "CBIS_TASKS", "KEEP_WEIGHTS",
           "EVAL_RESOLUTIONS", "DATASET_ONLY", "option_for"]

#: Where the validation split comes from: a seeded share of the training split (grouped by patient), or the
#: dataset's own validation split (ISIC's Validation folders).
VAL_SOURCES = ("train_fraction", "official")
#: Where the test split comes from: the dataset's own test set (``official``), or a seeded, grouped share of the
#: training images held out of training (``train_fraction``: for copies without test masks, e.g. ISIC 2018 on Kaggle).
TEST_SOURCES = ("official", "train_fraction")
#: Where the test masks are scored: at the model's input size, or at each mask's own size (logits resized to it).
EVAL_RESOLUTIONS = ("input", "original")
#: Fields added after the first release: in the run id only when they differ from their default.
ADDED_FIELDS = ("val_source", "cbis_task", "keep_weights", "eval_resolution", "test_source", "test_fraction",
                "monitor")
#: Options that apply to one dataset only: any other dataset's runs keep the default, whatever a profile says.
DATASET_ONLY = {"cbis_task": "cbis_ddsm"}


def option_for(dataset: str, name: str, value: Any) -> Any:
    """The value option ``name`` takes in a run of ``dataset``: ``value``, or the default where the option does not
    apply to that dataset (:data:`DATASET_ONLY`), so one profile can set ``cbis_task`` for every notebook."""
    applies = DATASET_ONLY.get(name, dataset)
    return value if applies == dataset else RunSpec.default(name)


@dataclass(frozen=True, kw_only=True)
class RunOptions(TrainOptions):
    """The options of a run, declared once: the training options (:class:`~seg_utils.model.train.TrainOptions`) and
    those of its data and evaluation. Defaults are the poster's protocol. :class:`RunSpec` and the dataset notebooks'
    parameters (:class:`~seg_utils.study.params.DatasetParams`) inherit them; the command line's flags, the notebooks'
    parameters cells and the reports' parameter tables are derived from them (:mod:`seg_utils.options`)."""

    image_size: int = option(224, "input side in pixels (a multiple of 32)", low=32)
    val_fraction: float = option(0.1, "share of the training split held out for validation (seeded, by patient)",
                                 low=0, high=1, open_low=True, open_high=True)
    weights: str = option("imagenet", "encoder weights: imagenet | none | path to local weights")
    limit: int = option(0, "keep the first N clean images of each split (0: all)", low=0)
    intensity: str = option("none", "intensity normalisation: none | clahe | equalize", choices=INTENSITIES)
    val_source: str = option("train_fraction", "validation split: train_fraction (val_fraction of training, by "
                             "patient) | official", choices=VAL_SOURCES)
    cbis_task: str = option("whole", "CBIS-DDSM only: whole (mammogram, union of its masses) | mass_crop (one crop per "
                            "mass)", choices=CBIS_TASKS)
    eval_resolution: str = option("input", "where test masks are scored: input (model size) | original (each mask's "
                                  "own size)", choices=EVAL_RESOLUTIONS)
    test_source: str = option("official", "test split: official (the dataset's own) | train_fraction (held out of "
                              "training)", choices=TEST_SOURCES)
    test_fraction: float = option(0.2, "test_source train_fraction: share of the training images held out as the test "
                                  "split", low=0, high=1, open_low=True, open_high=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size % 32:
            raise ConfigError(f"image_size={self.image_size} must be a positive multiple of 32 (the encoders "
                              "downsample 5 times), e.g. 224")
        if not self.weights:
            raise ConfigError("weights must be 'imagenet', 'none' or a path to local encoder weights")


@dataclass(frozen=True)
class RunSpec(RunOptions):
    """One training run: what it trains (``dataset``, ``arch``, ``encoder``, ``loss``), its :class:`RunOptions` and the
    fingerprints of its data. Defaults are the poster's protocol.

    Attributes:
        dataset: a key of ``seg_utils.data.DATASETS``.
        arch: ``unet`` or ``deeplabv3plus``.
        encoder: an smp encoder name.
        loss: a key of ``seg_utils.model.LOSSES``.
        data_fingerprint: fingerprint of the clean manifest the run trains and tests on.
        quality_rules: fingerprint of the data-quality rules that made the clean manifest.

    The options, in the words of their help lines (:func:`~seg_utils.options.help_of`): ``val_source`` is a share of
    the training split drawn by patient (a dataset's own validation split is then not used) or the dataset's own
    (ISIC's); ``cbis_task`` ``mass_crop`` is one window around each abnormality, an oracle crop (the window comes from
    the ground truth); ``keep_weights`` ``last`` is Keras' ``restore_best_weights=False``; ``eval_resolution``
    ``original`` resizes the logits to each mask (bilinear); ``test_source`` ``train_fraction`` holds a seeded (seed
    0, the same for every run), grouped share ``test_fraction`` of the training images out of training and
    validation as the test split.
    """

    dataset: str
    arch: str
    encoder: str
    loss: str
    data_fingerprint: str = ""
    quality_rules: str = ""

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("arch", self.arch, ARCHS)
        check_choice("loss", self.loss, LOSSES)
        check_encoder(self.encoder)
        super().__post_init__()
        for name, only in DATASET_ONLY.items():
            if getattr(self, name) != RunSpec.default(name) and self.dataset != only:
                raise ConfigError(f"{name}={getattr(self, name)!r} applies to dataset {only} only (this run is "
                                  f"{self.dataset!r}); leave it at {RunSpec.default(name)!r}")

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
        """What training needs of this spec (its :class:`~seg_utils.model.train.TrainOptions`), plus execution
        settings that leave the numbers' meaning alone (``accumulate``)."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainOptions)}
        return TrainSettings(name=self.name, **options, **execution)
