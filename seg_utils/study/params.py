"""Notebook parameters: a notebook's ``parameters`` cell -> a frozen, validated :class:`DatasetParams` or
:class:`TableParams`.

The notebooks stay thin: their ``parameters`` cell holds flat literals, the next cell turns them into one of these
classes, and every later cell is one call into ``seg_utils``. Layout of a results folder (``results_dir``)::

    runs/<dataset>/<run>/      one folder per training run (seg_utils.study.runs)
    cache/                     pre-resized arrays (seg_utils.data.cache), unless cache_dir is given
    synthetic/<dataset>/       the demo data, when data_root is empty
    tables/<name>.csv|.md      tables (seg_utils.report.save_table)
    figures/<name>.png|.pdf    figures (seg_utils.report.save_figure); per dataset under figures/<dataset>/
    summaries/<name>.json      what each notebook made (seg_utils.study.write_summary), read by seg_utils.report

Example (the setup cell of a dataset notebook)::

    params = study.dataset_params(globals())
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import AUGMENTS, INTENSITIES
from ..errors import ConfigError, check_choice
from ..model import DEVICES, SCHEDULES
from ..model.precision import MEMORY_FORMATS, PRECISIONS
from .grid import GRID_DATASETS, config_name, poster_grid
from .ladder import Step, parse_ladder
from .spec import RunSpec

__all__ = ["DatasetParams", "TableParams", "type_ok", "check_fields"]


def type_ok(value: Any, kind: type) -> bool:
    """``value`` is a ``kind`` (an int is a float; a bool is not an int)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def check_fields(obj: Any) -> None:
    """Type-check a params dataclass against its annotations (str, int, float, bool; an int is a float)."""
    kinds = {"str": (str,), "int": (int,), "float": (float,), "bool": (bool,)}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not any(type_ok(value, kind) for kind in kinds[f.type]):
            raise ConfigError(f"parameter {f.name}={value!r} should be {f.type} (fix it in the notebook's "
                              "parameters cell, the profile YAML or the -p option)")


#: The RunSpec fields a dataset notebook sets for every run (the others come from the grid, the seed and the data).
_SPEC_FIELDS = ("image_size", "epochs", "batch_size", "lr", "patience", "min_delta", "val_fraction", "weights",
                "limit", "intensity", "augment", "schedule", "val_source", "cbis_task", "keep_weights",
                "eval_resolution")


def _subset(name: str, text: str, full: list[tuple[str, str, str]], where: str) -> list[tuple[str, str, str]]:
    """The configurations a ``configs``-like parameter names (``all``: every one), in ``full``'s order."""
    if text.strip() == "all":
        return full
    names = {config_name(*c): c for c in full}
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown or not wanted:
        raise ConfigError(f"{name}={text!r}: {unknown or 'nothing'} is not in {where}; use 'all' or a "
                          f"comma-separated subset of: {', '.join(names)}")
    return [c for c in full if config_name(*c) in wanted]


@dataclass(frozen=True)
class DatasetParams:
    """The parameters of a dataset notebook; the defaults are the poster's protocol.

    Attributes:
        dataset: ``isic2018``, ``chest_xray`` or ``cbis_ddsm``.
        data_root: folder holding the dataset, or a parent of it (the adapters search a few levels down);
            ``""`` writes the synthetic demo data under ``<results_dir>/synthetic`` and uses it.
        results_dir: the results folder (relative paths are taken from the working directory).
        cache_dir: where the pre-resized arrays go (``""``: ``<results_dir>/cache``).
        image_size, epochs, batch_size, lr, patience, min_delta, val_fraction, weights, limit, intensity,
            augment, schedule, val_source, keep_weights, eval_resolution: as in :class:`~seg_utils.study.spec.RunSpec`.
        cbis_task: as in :class:`~seg_utils.study.spec.RunSpec`, for the CBIS-DDSM notebook; the other datasets
            ignore it (so one profile can set it for all three).
        seed: the first training seed.
        n_seeds: how many seeds each configuration is trained with (``seed``, ``seed + 1``, ...).
        device: ``auto``, ``cpu`` or ``cuda``.
        precision, memory_format: ``auto`` (measured on the CPU, by capability on a GPU) or a fixed choice; see
            :mod:`seg_utils.model.precision`. They do not change the run's identity.
        parallel_runs: how many runs train at once on the device (worker processes): ``"1"``, ``"2"``, ... or
            ``"auto"`` (from the GPU's free memory; 1 on the CPU); see :mod:`seg_utils.study.parallel`. A whole number
            from papermill (``-p parallel_runs 2``) is taken as its text.
        resume_from: ``""`` or a previous session's results folder (e.g. an attached Kaggle output, read-only): its
            complete and interrupted runs are brought in first (:mod:`seg_utils.study.resume`).
        configs: ``all`` (the poster's grid) or a comma-separated subset of its names, e.g.
            ``unet-resnet50-bce,deeplabv3plus-resnet50-bce``.
        ablation_steps: ``""`` (none) or a ladder of data-driven options added one at a time to every configuration of
            the grid, as comma-separated ``field=value`` changes, e.g. ``intensity=clahe,augment=xray,loss=bce_dice,
            schedule=cosine`` (see :mod:`seg_utils.study.ladder`).
        ablation_configs: ``""`` (every configuration of the grid) or the comma-separated configurations that climb
            the ladder.
        shard: ``""`` (every run) or ``K/N``: only the K-th of N interleaved slices of the runs, so that N kernels
            (or N GPUs, each with its own ``CUDA_VISIBLE_DEVICES``) share a grid; their run folders merge by copying
            them into one results folder, since each run's folder name is unique.
        train: train the runs that are not complete (``False``: only report the complete ones, e.g. to render a
            partly finished study; the tables show the others as missing).
        synthetic_train, synthetic_test: image pairs per split of the synthetic data (only when data_root is
            empty).
        progress: progress bars.
    """

    dataset: str
    data_root: str = "/kaggle/input"
    results_dir: str = "results"
    cache_dir: str = ""
    # The training settings default to RunSpec's (the poster's protocol), typed once there.
    image_size: int = RunSpec.default("image_size")
    epochs: int = RunSpec.default("epochs")
    batch_size: int = RunSpec.default("batch_size")
    lr: float = RunSpec.default("lr")
    patience: int = RunSpec.default("patience")
    min_delta: float = RunSpec.default("min_delta")
    val_fraction: float = RunSpec.default("val_fraction")
    seed: int = RunSpec.default("seed")
    n_seeds: int = 1
    weights: str = RunSpec.default("weights")
    device: str = "auto"
    limit: int = RunSpec.default("limit")
    intensity: str = RunSpec.default("intensity")
    augment: str = RunSpec.default("augment")
    schedule: str = RunSpec.default("schedule")
    val_source: str = RunSpec.default("val_source")
    cbis_task: str = RunSpec.default("cbis_task")
    keep_weights: str = RunSpec.default("keep_weights")
    eval_resolution: str = RunSpec.default("eval_resolution")
    precision: str = "auto"
    memory_format: str = "auto"
    parallel_runs: str = "1"
    resume_from: str = ""
    configs: str = "all"
    ablation_steps: str = ""
    ablation_configs: str = ""
    shard: str = ""
    train: bool = True
    synthetic_train: int = 64
    synthetic_test: int = 16
    progress: bool = True

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("dataset", self.dataset, GRID_DATASETS)
        check_choice("device", self.device, DEVICES)
        check_choice("intensity", self.intensity, INTENSITIES)
        check_choice("augment", self.augment, AUGMENTS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("memory_format", self.memory_format, MEMORY_FORMATS)
        if self.parallel_runs != "auto" and not (self.parallel_runs.isdigit() and int(self.parallel_runs) >= 1):
            raise ConfigError(f"parallel_runs={self.parallel_runs!r} must be a positive integer or 'auto'")
        if self.n_seeds < 1:
            raise ConfigError(f"n_seeds={self.n_seeds} must be at least 1")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed} must be >= 0")
        if not self.results_dir:
            raise ConfigError("results_dir is empty; give the folder the results go to (e.g. ../results/paper)")
        if self.synthetic_train < 8 or self.synthetic_test < 4:
            raise ConfigError(f"synthetic_train={self.synthetic_train} / synthetic_test={self.synthetic_test} must be "
                              "at least 8 / 4 (the test split holds the poster's four named images)")
        grid = self.grid  # validates configs
        _ = self.ablation_grid  # validates ablation_configs
        _ = self.shard_slice  # validates shard
        self.spec(*grid[0], seed=self.seed)  # RunSpec validates the training settings
        _ = self.ladder  # validates ablation_steps

    @property
    def grid(self) -> list[tuple[str, str, str]]:
        """The configurations to run: the poster's grid, or the ``configs`` subset of it (in grid order)."""
        return _subset("configs", self.configs, poster_grid(self.dataset), f"the {self.dataset} grid")

    @property
    def ablation_grid(self) -> list[tuple[str, str, str]]:
        """The configurations that climb the ablation ladder: ``ablation_configs`` of :attr:`grid`, or all of it."""
        return _subset("ablation_configs", self.ablation_configs or "all", self.grid, "the notebook's configs")

    @property
    def shard_slice(self) -> slice:
        """The runs of this shard: ``K/N`` -> every N-th run starting at the K-th (1-based)."""
        if not self.shard.strip():
            return slice(None)
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", self.shard)
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise ConfigError(f"shard={self.shard!r} must be K/N with 1 <= K <= N (e.g. 1/2 and 2/2 for two kernels), "
                              "or empty for every run")
        k, n = int(match.group(1)), int(match.group(2))
        return slice(k - 1, None, n)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_seeds))

    @property
    def results(self) -> Path:
        """``results_dir`` as an absolute path."""
        return Path(self.results_dir).expanduser().resolve()

    @property
    def figures_dir(self) -> Path:
        return self.results / "figures" / self.dataset

    @property
    def name(self) -> str:
        """The notebook's name in summaries and the index: ``dataset_<dataset>``."""
        return f"dataset_{self.dataset}"

    @property
    def ladder(self) -> list[Step]:
        """The steps of ``ablation_steps`` (empty: no ablation), step 0 named after the base settings.

        Raises:
            ConfigError: as :func:`~seg_utils.study.ladder.parse_ladder`, or a step that changes nothing for any
                configuration (its option already has that value in the base settings).
        """
        steps = parse_ladder(self.ablation_steps, self._base_name())
        for step in steps[1:]:
            field, value = step.option.split("=")
            base_values = ({loss for _a, _e, loss in self.ablation_grid} if field == "loss"
                           else {getattr(self, field)})
            if base_values == {value}:
                raise ConfigError(f"ablation step {step.option!r} changes nothing: the base settings already use "
                                  f"{field}={value}; drop it from the ladder or change the base")
        return steps

    def _base_name(self) -> str:
        """Step 0's name: the poster's protocol (said to be at another scale when it is), or the options it
        changes."""
        changed = [f"{f}={getattr(self, f)}" for f in ("intensity", "augment", "schedule")
                   if getattr(self, f) != RunSpec.default(f)]
        if changed:
            return f"base ({', '.join(changed)})"
        scale = [f for f in ("image_size", "epochs", "batch_size", "weights") if getattr(self, f) != RunSpec.default(f)]
        return "poster protocol at this scale" if scale else "poster protocol"

    def spec(self, arch: str, encoder: str, loss: str, seed: int) -> RunSpec:
        """The :class:`RunSpec` of one configuration and seed (data fingerprint filled in by the run)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunSpec)
                  if f.name in _SPEC_FIELDS}
        if self.dataset != "cbis_ddsm":
            shared["cbis_task"] = RunSpec.default("cbis_task")
        return RunSpec(dataset=self.dataset, arch=arch, encoder=encoder, loss=loss, seed=seed, **shared)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def data_note(self) -> str:
        """Where the data comes from, in words (synthetic data is said loudly: its numbers are not the poster's)."""
        if not self.data_root:
            return (f"SYNTHETIC demo data under {self.results / 'synthetic' / self.dataset}: the numbers show that the "
                    "pipeline works, they are not comparable with the poster")
        return f"the real dataset, found under {self.data_root}"

    def table(self) -> pd.DataFrame:
        """The parameters as a two-column table (``parameter``, ``value``) for display, the data source first."""
        d = self.to_dict()
        return pd.DataFrame({"parameter": ["(data)", *d], "value": [self.data_note, *(repr(v) for v in d.values())]})


@dataclass(frozen=True)
class TableParams:
    """The parameters of a table notebook (which only reads ``results_dir``).

    Attributes:
        results_dir: the results folder the dataset notebooks wrote.
        alpha: family-wise significance level of the Holm-adjusted paired comparisons.
    """

    results_dir: str = "results"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha} must lie strictly between 0 and 1, e.g. 0.05")
        if not self.results_dir:
            raise ConfigError("results_dir is empty; give the folder the dataset notebooks wrote to")

    @property
    def results(self) -> Path:
        return Path(self.results_dir).expanduser().resolve()

    @property
    def figures_dir(self) -> Path:
        return self.results / "figures"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"parameter": list(self.to_dict()), "value": [repr(v) for v in self.to_dict().values()]})


