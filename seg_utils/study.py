"""Notebook-facing orchestration: validated notebook parameters, the poster's run grid, running it, summaries.

The notebooks stay thin: their ``parameters`` cell holds flat literals, the next cell turns them into a frozen
:class:`DatasetParams` (dataset notebooks) or :class:`TableParams` (table notebooks), and every later cell is one
call into ``seg_utils``. Layout of a results folder (``results_dir``)::

    runs/<dataset>/<run>/      one folder per training run (seg_utils.runs)
    cache/                     pre-resized arrays (seg_utils.cache), unless cache_dir is given
    synthetic/<dataset>/       the demo data, when data_root is empty
    tables/<name>.csv|.md      tables (seg_utils.tables.save_table)
    figures/<name>.png|.pdf    figures (seg_utils.figures.save_figure); per dataset under figures/<dataset>/
    summaries/<name>.json      what each notebook made (write_summary), read by seg_utils.report

Example (the setup cell of a dataset notebook)::

    params = study.dataset_params(globals())
"""

from __future__ import annotations

import dataclasses
import re
import time
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .config import AUGMENTS, DEVICES, INTENSITIES, SCHEDULES, RunSpec, check_choice, check_params
from .errors import ConfigError
from .io import read_json, write_json

__all__ = ["DATASET_NAMES", "LOSS_NAMES", "GRID_DATASETS", "DatasetParams", "TableParams", "dataset_params",
           "table_params", "poster_grid", "config_name", "resolve_data_root", "prepare", "grid_specs", "RUN_COLUMNS",
           "RUN_SUMMARY_COLUMNS", "run_grid", "execute_specs", "load_histories", "load_per_image", "write_summary",
           "summary_table"]

#: How the poster names each dataset (the test set, for the chest X-rays).
DATASET_NAMES = {"isic2018": "ISIC 2018", "chest_xray": "Montgomery (trained on Shenzhen)",
                 "cbis_ddsm": "CBIS-DDSM masses"}
LOSS_NAMES = {"bce": "BCE", "logcosh_dice": "Log-Cosh Dice"}
GRID_DATASETS = tuple(DATASET_NAMES)

# Names a Jupyter/IPython kernel puts into the user namespace besides the notebook's own variables.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
_LITERALS = (str, int, float, bool, type(None))


# ------------------------------------------------------------------------------------------------ grid

def poster_grid(dataset: str) -> list[tuple[str, str, str]]:
    """The poster's runs of ``dataset`` as ``(arch, encoder, loss)``.

    ISIC 2018: U-Net and DeepLabV3+ with VGG19, ResNet50 and DenseNet121 encoders and BCE (Table 1), plus both
    ResNet50 models with Log-Cosh Dice (Table 2). Chest X-ray and CBIS-DDSM: both ResNet50 models with BCE and
    Log-Cosh Dice (Table 2).

    Raises:
        ConfigError: ``dataset`` is not one of :data:`GRID_DATASETS`.
    """
    check_choice("dataset", dataset, GRID_DATASETS)
    archs = ("unet", "deeplabv3plus")
    if dataset == "isic2018":
        return ([(a, e, "bce") for a in archs for e in ("vgg19", "resnet50", "densenet121")]
                + [(a, "resnet50", "logcosh_dice") for a in archs])
    return [(a, "resnet50", loss) for a in archs for loss in ("bce", "logcosh_dice")]


def config_name(arch: str, encoder: str, loss: str) -> str:
    """``<arch>-<encoder>-<loss>``, the name a configuration has in the ``configs`` parameter."""
    return f"{arch}-{encoder}-{loss}"


# ------------------------------------------------------------------------------------------ parameters

def _check_fields(obj: Any) -> None:
    """Type-check a params dataclass against its annotations (str, int, float, bool; int accepted as float)."""
    kinds = {"str": str, "int": int, "float": float, "bool": bool}
    for f in dataclasses.fields(obj):
        value, kind = getattr(obj, f.name), kinds[f.type]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ConfigError(f"parameter {f.name}={value!r} should be {f.type} (fix it in the notebook's "
                              "parameters cell, the profile YAML or the -p option)")


_RUN = RunSpec("chest_xray", "unet", "resnet50", "bce")  # only its defaults are read


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
            augment, schedule: as in :class:`~seg_utils.config.RunSpec`.
        seed: the first training seed.
        n_seeds: how many seeds each configuration is trained with (``seed``, ``seed + 1``, ...).
        device: ``auto``, ``cpu`` or ``cuda``.
        configs: ``all`` (the poster's grid) or a comma-separated subset of its names, e.g.
            ``unet-resnet50-bce,deeplabv3plus-resnet50-bce``.
        ablation_steps: ``""`` (none) or a ladder of data-driven options added one at a time to every configuration of
            the grid, as comma-separated ``field=value`` changes, e.g. ``intensity=clahe,augment=xray,loss=bce_dice,
            schedule=cosine`` (see :mod:`seg_utils.ablation`).
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
    image_size: int = _RUN.image_size
    epochs: int = _RUN.epochs
    batch_size: int = _RUN.batch_size
    lr: float = _RUN.lr
    patience: int = _RUN.patience
    min_delta: float = _RUN.min_delta
    val_fraction: float = _RUN.val_fraction
    seed: int = _RUN.seed
    n_seeds: int = 1
    weights: str = _RUN.weights
    device: str = "auto"
    limit: int = _RUN.limit
    intensity: str = _RUN.intensity
    augment: str = _RUN.augment
    schedule: str = _RUN.schedule
    configs: str = "all"
    ablation_steps: str = ""
    shard: str = ""
    train: bool = True
    synthetic_train: int = 64
    synthetic_test: int = 16
    progress: bool = True

    def __post_init__(self) -> None:
        _check_fields(self)
        check_choice("dataset", self.dataset, GRID_DATASETS)
        check_choice("device", self.device, DEVICES)
        check_choice("intensity", self.intensity, INTENSITIES)
        check_choice("augment", self.augment, AUGMENTS)
        check_choice("schedule", self.schedule, SCHEDULES)
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
        _ = self.shard_slice  # validates shard
        self.spec(*grid[0], seed=self.seed)  # RunSpec validates the training settings
        from .ablation import ladder_jobs

        ladder_jobs(self)  # validates ablation_steps

    @property
    def grid(self) -> list[tuple[str, str, str]]:
        """The configurations to run: the poster's grid, or the ``configs`` subset of it (in grid order)."""
        full = poster_grid(self.dataset)
        if self.configs.strip() == "all":
            return full
        names = {config_name(*c): c for c in full}
        wanted = [s.strip() for s in self.configs.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown or not wanted:
            raise ConfigError(f"configs={self.configs!r}: {unknown or 'nothing'} is not in the {self.dataset} grid; "
                              f"use 'all' or a comma-separated subset of: {', '.join(names)}")
        return [c for c in full if config_name(*c) in wanted]

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

    def spec(self, arch: str, encoder: str, loss: str, seed: int) -> RunSpec:
        """The :class:`RunSpec` of one configuration and seed (data fingerprint filled in by the run)."""
        return RunSpec(dataset=self.dataset, arch=arch, encoder=encoder, loss=loss, image_size=self.image_size,
                       epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
                       min_delta=self.min_delta, val_fraction=self.val_fraction, seed=seed, weights=self.weights,
                       limit=self.limit, intensity=self.intensity, augment=self.augment, schedule=self.schedule)

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
        _check_fields(self)
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


def _is_literal(value: Any) -> bool:
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, list | tuple):
        return all(isinstance(v, _LITERALS) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and isinstance(v, _LITERALS) for k, v in value.items())
    return False


def _notebook_values(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate parameters among a notebook's global names.

    Why scan globals here (and only here): papermill injects parameters as plain assignments in a cell after the
    ``parameters`` cell and only *warns* about a name the notebook does not declare, so a misspelt ``-p epoch 3``
    would silently train with the default. The injected names exist nowhere but in the kernel's globals, so the
    setup cell hands ``globals()`` over once; everything else in seg_utils takes explicit arguments.

    Kept: public names bound to flat literals (str, int, float, bool, None, or lists / dicts of them), which is
    what a parameters cell and papermill's injection produce. Left out: private names (``_``, ``_i1``, ...),
    modules, IPython's own names (``In``, ``Out``, ``get_ipython``, ``exit``, ``quit``, ``open``) and any other
    object (DataFrames, figures, params objects), so re-running the setup cell after later cells is fine as long
    as later cells bind no flat literals, which the notebooks never do.
    """
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _KERNEL_NAMES and not isinstance(v, types.ModuleType)
            and _is_literal(v)}


def _from_namespace(cls: type, namespace: Mapping[str, Any]) -> Any:
    values = _notebook_values(namespace)
    declared = {f.name: f.default for f in dataclasses.fields(cls)}
    shadowed = sorted(k for k in declared if isinstance(namespace.get(k), types.ModuleType))
    if shadowed:  # an import after the parameters cell would otherwise drop the parameter's value silently
        modules = ", ".join(f"{k} -> module {namespace[k].__name__}" for k in shadowed)
        raise ConfigError(f"the parameter(s) {shadowed} are bound to a module ({modules}): an import after the "
                          "parameters cell replaced their value; import that module under another name")
    check_params(values, {k: (None if v is dataclasses.MISSING else v) for k, v in declared.items()})
    missing = [k for k, v in declared.items() if v is dataclasses.MISSING and k not in values]
    if missing:
        raise ConfigError(f"the parameters cell does not set {missing}; add them (e.g. dataset: str = 'isic2018')")
    return cls(**values)


def dataset_params(namespace: Mapping[str, Any]) -> DatasetParams:
    """Validate a dataset notebook's parameters: pass ``globals()`` from the setup cell.

    Raises:
        ConfigError: a name that is not a parameter (listing the valid ones), a value of the wrong type, or an
            invalid value (listing the valid choices).
    """
    return _from_namespace(DatasetParams, namespace)


def table_params(namespace: Mapping[str, Any]) -> TableParams:
    """Validate a table notebook's parameters: pass ``globals()`` from the setup cell (see :func:`dataset_params`)."""
    return _from_namespace(TableParams, namespace)


# ------------------------------------------------------------------------------------------------ data

def resolve_data_root(params: DatasetParams) -> Path:
    """The folder to read the dataset from.

    An empty ``data_root`` writes the synthetic demo data of the dataset (seeded, in its real layout) under
    ``<results>/synthetic`` once and returns it; otherwise ``data_root`` itself (relative to the working
    directory), which the dataset adapter searches a few levels down.
    """
    if not params.data_root:
        from .synthetic import write_synthetic

        roots = write_synthetic(params.results / "synthetic", seed=0, n_train=params.synthetic_train,
                                n_test=params.synthetic_test, datasets=(params.dataset,))
        return roots[params.dataset]
    return Path(params.data_root).expanduser().resolve()


def prepare(params: DatasetParams):  # -> seg_utils.runs.PreparedData
    """Manifest, quality inspection, clean manifest and cached arrays of the notebook's dataset.

    Returns:
        :class:`seg_utils.runs.PreparedData` (``.manifest``, ``.report``, ``.clean``, ``.cache``).
    """
    from .runs import prepare_data

    return prepare_data(params.dataset, resolve_data_root(params), params.image_size, params.results,
                        params.intensity, params.limit, cache_dir=params.cache_dir or None, progress=params.progress)


# ------------------------------------------------------------------------------------------------ runs

def grid_specs(params: DatasetParams) -> list[RunSpec]:
    """The runs of the notebook: each configuration of :attr:`DatasetParams.grid` with each seed (this shard's)."""
    return [params.spec(*c, seed=s) for c in params.grid for s in params.seeds][params.shard_slice]


#: The columns of a :func:`run_grid` table worth reading (the others identify the run for the library).
RUN_SUMMARY_COLUMNS = ["config", "seed", "action", "dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run",
                       "best_epoch", "stopped_early", "seconds"]
RUN_COLUMNS = ["dataset", "config", "label", "arch", "encoder", "loss", "seed", "action", "dice_mean", "dice_ci_low",
               "dice_ci_high", "epochs_run", "best_epoch", "stopped_early", "seconds", "run_dir"]


def run_grid(params: DatasetParams, data) -> pd.DataFrame:
    """Train and evaluate every run of the grid: complete runs are skipped, interrupted ones resume.

    Args:
        params: the notebook's parameters.
        data: :func:`prepare`'s result for the same parameters.

    Returns:
        One row per run, columns ``dataset, config, label, arch, encoder, loss, seed, action`` (``trained``, ``resumed``
        or ``skipped``), ``dice_mean, dice_ci_low, dice_ci_high, epochs_run, best_epoch, stopped_early, seconds``
        (wall time in this call) and ``run_dir``.
    """
    return execute_specs(params, [(spec, data) for spec in grid_specs(params)])


def execute_specs(params: DatasetParams, jobs: Iterable[tuple[RunSpec, Any]]) -> pd.DataFrame:
    """Run each ``(spec, prepared data)`` of ``jobs`` in order (skip complete runs, resume interrupted ones).

    With ``params.train`` false nothing is trained: runs that are not complete are left out of the table (its
    ``attrs["notes"]`` counts them), and the tables built from it show them as missing.

    Returns:
        One row per job with the columns of :data:`RUN_COLUMNS` (see :func:`run_grid`).
    """
    from .runs import execute_run, resolve_device, run_dir_for, run_status

    device = None  # resolved when a run needs training, so train=False renders a cuda profile's report anywhere
    rows, not_run = [], []
    for spec, data in jobs:
        filled = spec.replace(data_fingerprint=data.fingerprint, quality_rules=data.report.rules.fingerprint)
        run_dir = run_dir_for(filled, params.results)
        before = run_status(run_dir)
        if before != "complete" and not params.train:
            not_run.append(filled.name)
            continue
        t0 = time.perf_counter()
        if before != "complete":
            device = device or resolve_device(params.device)
            run_dir = execute_run(spec, data, params.results, device, progress=params.progress)
        metrics = read_json(run_dir / "metrics.json")
        rows.append({
            "dataset": spec.dataset, "config": config_name(spec.arch, spec.encoder, spec.loss),
            "label": spec.label, "arch": spec.arch,
            "encoder": spec.encoder, "loss": spec.loss, "seed": spec.seed,
            "action": {"complete": "skipped", "partial": "resumed"}.get(before, "trained"),
            **{k: metrics.get(k) for k in ("dice_mean", "dice_ci_low", "dice_ci_high", "epochs_run", "best_epoch",
                                           "stopped_early")},
            "seconds": round(time.perf_counter() - t0, 1), "run_dir": str(run_dir),
        })
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    df.attrs["notes"] = ([f"train=False: {len(not_run)} run(s) not complete and not trained: {', '.join(not_run)}"]
                         if not_run else [])
    return df


def _run_label(row: Mapping[str, Any], with_seed: bool) -> str:
    from .tables import model_label

    name = f"{row.get('label') or model_label(row['arch'], row['encoder'])} {LOSS_NAMES.get(row['loss'], row['loss'])}"
    return f"{name} s{row['seed']}" if with_seed else name


def load_histories(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{run label: history}`` of the runs in ``runs`` (a :func:`run_grid` table), e.g. ``U-Net_RN50 BCE``."""
    with_seed = runs.seed.nunique() > 1
    out = {}
    for row in runs.to_dict("records"):
        path = Path(row["run_dir"]) / "history.csv"
        out[_run_label(row, with_seed)] = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    return out


def load_per_image(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{run label: per-image metrics}`` of the runs in ``runs`` (a :func:`run_grid` table)."""
    with_seed = runs.seed.nunique() > 1
    return {_run_label(row, with_seed): pd.read_csv(Path(row["run_dir"]) / "per_image.csv", dtype={"image_id": str})
            for row in runs.to_dict("records")}


# ------------------------------------------------------------------------------------------------ summary

def _flatten(items: Iterable[Any]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        if isinstance(item, str | Path):
            out.append(Path(item))
        else:
            out.extend(_flatten(item))
    return out


def summary_table(path: str | Path) -> pd.DataFrame:
    """The artefacts a summary lists (:func:`write_summary`), for display.

    Returns:
        DataFrame with columns ``artefact`` (path relative to the results folder), ``kind`` (table, figure, ...)
        and ``kb`` (size).
    """
    path = Path(path)
    results = path.parent.parent
    arts = read_json(path).get("artefacts", [])
    kinds = {".csv": "table (CSV)", ".md": "table (Markdown)", ".png": "figure (PNG)", ".pdf": "figure (PDF)"}
    rows = [{"artefact": a, "kind": kinds.get(Path(a).suffix, Path(a).suffix.lstrip(".")),
             "kb": -(-(results / a).stat().st_size // 1024) if (results / a).is_file() else None} for a in arts]
    df = pd.DataFrame(rows, columns=["artefact", "kind", "kb"])
    df.attrs["title"] = f"Written to {results} (listed in {path.relative_to(results)})"
    return df


def write_summary(params: DatasetParams | TableParams, *artefacts: Any, name: str | None = None,
                  runs: pd.DataFrame | None = None, ablation_runs: pd.DataFrame | None = None) -> Path:
    """Write ``<results>/summaries/<name>.json``: the parameters, the artefacts made, and the runs.

    Args:
        params: the notebook's parameters.
        artefacts: paths, or lists of paths (as :func:`seg_utils.tables.save_table` and
            :func:`seg_utils.figures.save_figure` return them).
        name: the notebook's name (default: ``params.name``, e.g. ``dataset_isic2018``).
        runs: the :func:`run_grid` table, recorded with each run's action and Dice (the table notebooks read the
            grid's runs from here).
        ablation_runs: the :func:`seg_utils.ablation.run_ladder` table, recorded apart from the grid's runs.

    Returns:
        The summary's path.

    Raises:
        ConfigError: an artefact does not exist (a notebook claims a file it did not write).
    """
    name = name or getattr(params, "name", None)
    if not name:
        raise ConfigError("write_summary needs name= for a table notebook (e.g. 'table_encoders')")
    paths = _flatten(artefacts)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"write_summary: these artefacts do not exist: {missing}")
    results = params.results

    def rel(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(results)) if p.is_relative_to(results) else str(p)

    summary = {
        "notebook": name,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": params.to_dict(),
        "artefacts": [rel(p) for p in paths],
    }
    for key, table in (("runs", runs), ("ablation_runs", ablation_runs)):
        if table is not None:
            summary[key] = [{**r, "run_dir": rel(Path(r["run_dir"]))} for r in table.to_dict("records")]
    return write_json(results / "summaries" / f"{name}.json", summary)
