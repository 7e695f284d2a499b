"""Notebook parameters: a notebook's ``parameters`` cell -> a frozen, validated :class:`DatasetParams` or
:class:`TableParams`.

The notebooks stay thin: their ``parameters`` cell holds flat literals, the next cell turns them into one of these
classes, and every later cell is one call into ``seg_utils``. Layout of a results folder (``results_dir``)::

    runs/<dataset>/<run>/      one folder per training run (seg_utils.study.run_folder)
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

from ..errors import ConfigError
from ..model.precision import ExecOptions
from ..options import check_options, option, options_table
from .grid import STUDY_DATASETS, config_name, poster_grid
from .ladder import Step, parse_ladder
from .spec import RunOptions, RunSpec, option_for

__all__ = ["DatasetParams", "TableParams", "FOLDER_KEY_PREFIX"]

#: How a user's own data (dataset ``folder``) is keyed in file names: ``folder-<name>`` (see ``data_key``).
FOLDER_KEY_PREFIX = "folder-"


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
class _Where:
    """Which dataset a notebook reads, from where, and where its results go (the first parameters of its cell)."""

    dataset: str = option(dataclasses.MISSING, "isic2018 | chest_xray | cbis_ddsm | folder (your images/ + masks/)",
                          choices=STUDY_DATASETS)
    data_root: str = option("/kaggle/input", "folder holding the dataset, or a parent of it; empty: synthetic demo "
                            "data")
    results_dir: str = option("results", "results folder (relative to the working directory)")
    cache_dir: str = option("", "where the pre-resized arrays go; empty: <results_dir>/cache")


@dataclass(frozen=True, kw_only=True)
class _Verdicts:
    """How the answers are decided: the significance level of the comparisons and the non-inferiority margin (the
    table notebooks' answers, and the recommendation of a study on one's own data)."""

    alpha: float = option(0.05, "family-wise significance level of the Holm-adjusted comparisons over seeds", low=0,
                          high=1, open_low=True, open_high=True)
    margin: float = option(0.01, "non-inferiority margin in Dice: within it of the best cell counts as no worse",
                           low=0, high=1)


@dataclass(frozen=True, kw_only=True)
class DatasetParams(ExecOptions, RunOptions, _Where, _Verdicts):
    """The parameters of a dataset notebook; the defaults are the poster's protocol.

    Each option is declared once with its type, default, allowed values and help (:func:`seg_utils.options.option`):
    where the notebook's data and results are (here), the run options (:class:`~seg_utils.study.spec.RunOptions`,
    which every run of the grid gets; ``cbis_task`` only in the CBIS-DDSM notebook, so one profile can set it for
    all three), the execution options (:class:`~seg_utils.model.precision.ExecOptions`: they do not change a run's
    identity), and the notebook's own below. The notebooks' parameters cells are written from them
    (:func:`seg_utils.options.parameter_lines`; a test compares). Further notes:

    - ``data_root`` ``""`` writes the synthetic demo data under ``<results_dir>/synthetic`` and uses it;
    - ``parallel_runs`` trains that many runs at once in worker processes (``auto``: from the GPU's free memory, 1
      on the CPU; :mod:`seg_utils.study.parallel`); a whole number from papermill is taken as its text;
    - ``resume_from`` brings a previous session's complete and interrupted runs in first (:mod:`.resume`);
    - ``ablation_steps`` is a ladder of comma-separated ``field=value`` changes added one at a time
      (:mod:`seg_utils.study.ladder`);
    - ``shard`` ``K/N`` keeps the K-th of N interleaved slices of the runs, so that N kernels or GPUs share a grid.
    """

    n_seeds: int = option(1, "training seeds per configuration: seed, seed + 1, ...", low=1)
    parallel_runs: str = option("1", 'runs trained at once on the device: "1", "2", ... or "auto" (from free GPU '
                                "memory)")
    resume_from: str = option("", "a previous session's results folder (read-only) whose runs are brought in first")
    configs: str = option("all", "runs of the poster's grid: all, or comma-separated names like unet-resnet50-bce")
    ablation_steps: str = option("", "ablation: options added one at a time (cpu-real); auto: by the images' "
                                 "modality; empty: none")
    ablation_configs: str = option("", "configurations that climb the ladder (comma-separated); empty: all")
    shard: str = option("", '"K/N": only every N-th run from the K-th, to split a grid over kernels or GPUs')
    train: bool = option(True, "False: train nothing, report the complete runs (the rest shows as missing)")
    synthetic_train: int = option(64, "synthetic data only (empty data_root): training pairs", low=8)
    synthetic_test: int = option(16, "synthetic data only: test pairs (the poster's four named images among them)",
                                 low=4)
    progress: bool = option(True, "progress bars")
    budget: str = option("", "quick | standard | paper: size, epochs, seeds, grid, ladder (where at default); empty: "
                         "none",
                         choices=("", "quick", "standard", "paper"))
    name: str = option("", "folder only: your data's name in the report and the index; empty: the folder's name")

    def __post_init__(self) -> None:
        RunOptions.__post_init__(self)  # every option of the notebook: type, choices, range
        if self.parallel_runs != "auto" and not (self.parallel_runs.isdigit() and int(self.parallel_runs) >= 1):
            raise ConfigError(f"parallel_runs={self.parallel_runs!r} must be a positive integer or 'auto'")
        if not self.results_dir:
            raise ConfigError("results_dir is empty; give the folder the results go to (e.g. ../results/paper)")
        grid = self.grid  # validates configs
        _ = self.ablation_grid  # validates ablation_configs
        _ = self.shard_slice  # validates shard
        self.spec(*grid[0], seed=self.seed)  # RunSpec validates the training settings
        if self.ablation_steps != "auto":
            _ = self.ladder  # validates ablation_steps
        if self.name and self.dataset != "folder":
            raise ConfigError(f"name={self.name!r} names a folder of your own (dataset='folder'); the "
                              f"{self.dataset} notebook is named after its dataset: leave name empty")

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
        return self.results / "figures" / self.data_key

    @property
    def data_label(self) -> str:
        """How the reports name the data: the dataset's, or for a ``folder`` the ``name`` parameter (else the
        folder's own name)."""
        if self.dataset != "folder":
            return self.dataset
        return self.name or (Path(self.data_root).name if self.data_root else "synthetic folder")

    @property
    def data_key(self) -> str:
        """:attr:`data_label` as a file-name part: ``isic2018``, or ``folder-<name>`` (letters, digits, ``-``)."""
        if self.dataset != "folder":
            return self.dataset
        return FOLDER_KEY_PREFIX + (re.sub(r"[^A-Za-z0-9]+", "-", self.data_label).strip("-").lower() or "data")

    @property
    def notebook_name(self) -> str:
        """The notebook's name in summaries and the index: ``dataset_<data_key>``."""
        return f"dataset_{self.data_key}"

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
        """The :class:`RunSpec` of one configuration and seed (data fingerprint filled in by the run): every
        :class:`~seg_utils.study.spec.RunOptions` of the notebook, the default for one its dataset ignores."""
        shared = {f.name: option_for(self.dataset, f.name, getattr(self, f.name))
                  for f in dataclasses.fields(RunOptions) if f.name != "seed"}
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
        return options_table(self, {"(data)": self.data_note})


@dataclass(frozen=True, kw_only=True)
class TableParams(_Verdicts):
    """The parameters of a table notebook (which only reads ``results_dir``)."""

    results_dir: str = option("results", "results folder the dataset notebooks wrote")

    def __post_init__(self) -> None:
        check_options(self)
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
        return options_table(self)
