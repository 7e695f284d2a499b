"""A run folder, in one place: its file names, its status, where its weights are, reading its files, finding one by
name, and the data fingerprint its spec carries. Every other module asks here.

``<results>/runs/<dataset>/<arch>-<encoder>-<loss>-s<seed>-<run_id>/`` holds

- ``spec.json`` (the frozen :class:`~seg_utils.study.spec.RunSpec`), ``environment.json`` (versions, hardware, git
  commit, and how the precision was chosen), ``splits.json`` (train / validation / test ids);
- ``history.csv`` (per epoch), ``last.pt`` and ``best.pt`` (the checkpoints :func:`seg_utils.model.fit` keeps:
  their names are :mod:`seg_utils.model.checkpoints`'), ``final.pt`` (the last epoch's weights of a
  ``keep_weights='last'`` run);
- ``per_image.csv``, ``predictions.npz`` and, last of all, ``metrics.json``: a folder with it is complete;
- ``failed.json`` instead of ``metrics.json`` when the run failed, with the reason;
- ``model_card.md`` (written by the report layer) and ``external/<dataset>-<split>/`` (external evaluations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..data.io import read_json
from ..errors import ConfigError, DataError, check_choice
from ..model import build_model, resolve_device
from ..model.checkpoints import BEST, HISTORY, LAST, load_checkpoint
from ..model.precision import AmpSettings, amp_of
from .spec import RunSpec

__all__ = ["RECOMMENDATION", "SPEC", "ENVIRONMENT", "SPLITS", "HISTORY", "LAST", "BEST", "FINAL", "PER_IMAGE",
           "PREDICTIONS", "METRICS", "FAILED", "CARD", "EXTERNAL", "RUN_STATES", "run_dir_for", "run_status",
           "is_run_folder", "weights_file",
           "read_spec", "read_metrics", "read_failure", "read_environment", "read_splits", "read_per_image",
           "read_history", "run_folders", "find_run", "PRECISION_CHOICES", "load_run", "fingerprinted"]

SPEC, ENVIRONMENT, SPLITS = "spec.json", "environment.json", "splits.json"
FINAL, PER_IMAGE, PREDICTIONS = "final.pt", "per_image.csv", "predictions.npz"
METRICS, FAILED, CARD, EXTERNAL = "metrics.json", "failed.json", "model_card.md", "external"
#: ``<results>/summaries/<RECOMMENDATION>``: the run a study on one's own data recommends (``run="recommended"``).
RECOMMENDATION = "recommendation.json"
RUN_STATES = ("complete", "failed", "partial", "new")


def run_dir_for(spec: RunSpec, results: str | Path) -> Path:
    """``<results>/runs/<dataset>/<spec.name>``."""
    return Path(results) / "runs" / spec.dataset / spec.name


def run_status(run_dir: str | Path) -> str:
    """``complete`` (metrics.json), ``failed`` (failed.json), ``partial`` (a checkpoint) or ``new``."""
    run_dir = Path(run_dir)
    if (run_dir / METRICS).is_file():
        return "complete"
    if (run_dir / FAILED).is_file():
        return "failed"
    if (run_dir / LAST).is_file():
        return "partial"
    return "new"


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder (it has a ``spec.json``)."""
    return (Path(path) / SPEC).is_file()


def weights_file(run_dir: str | Path) -> Path:
    """The weights a complete run was evaluated with: ``final.pt`` (``keep_weights='last'``) or ``best.pt``."""
    run_dir = Path(run_dir)
    final = run_dir / FINAL
    return final if final.is_file() else run_dir / BEST


def _json(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def read_spec(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``spec.json`` as written (``{}`` when the folder has none yet)."""
    return _json(Path(run_dir) / SPEC)


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``metrics.json`` (``{}`` when it is not complete)."""
    return _json(Path(run_dir) / METRICS)


def read_failure(run_dir: str | Path) -> dict[str, Any]:
    """What ``failed.json`` says (``{}`` when the run has not failed)."""
    return _json(Path(run_dir) / FAILED)


def read_environment(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``environment.json`` (``{}`` when it has none)."""
    return _json(Path(run_dir) / ENVIRONMENT)


def read_splits(run_dir: str | Path) -> dict[str, list[str]]:
    """A run's ``splits.json``: image ids per split (``{}`` when it has none)."""
    return _json(Path(run_dir) / SPLITS)


def read_per_image(run_dir: str | Path) -> pd.DataFrame:
    """A run's (or an external evaluation's) ``per_image.csv``, ``image_id`` kept as text."""
    return pd.read_csv(Path(run_dir) / PER_IMAGE, dtype={"image_id": str})


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """A run's ``history.csv`` (empty when it has none yet)."""
    path = Path(run_dir) / HISTORY
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def run_folders(results: str | Path, dataset: str | None = None, complete: bool = False) -> list[Path]:
    """The run folders under ``<results>/runs`` (of ``dataset``; only complete ones with ``complete``), sorted."""
    name = METRICS if complete else SPEC
    return sorted(p.parent for p in (Path(results) / "runs").glob(f"{dataset or '*'}/*/{name}"))


def find_run(run: str | Path, results: str | Path) -> Path:
    """A run folder: ``run`` itself (absolute, or relative to ``results`` or ``results/runs``), the newest complete
    run under ``<results>/runs`` whose ``<dataset>/<name>`` starts with ``run``, e.g. ``isic2018/unet-resnet50-bce-s0``,
    or ``recommended``: the run of ``summaries/recommendation.json`` (:mod:`seg_utils.report.recommend`).

    Raises:
        ConfigError: nothing matches; the message lists a few complete runs there.
    """
    path, results = Path(run).expanduser(), Path(results)
    if str(run) == "recommended":
        chosen = results / "summaries" / RECOMMENDATION
        if not chosen.is_file():
            raise ConfigError(f"run='recommended' but {chosen.parent.name}/{chosen.name} is not in the results folder: "
                              "run the study on your data first (./run_all.sh --profile yours --data-root DIR), or "
                              "give a run folder or <dataset>/<name prefix>")
        path = Path(_json(chosen)["run"])
    for candidate in ([path] if path.is_absolute() else [results / path, results / "runs" / path]):
        if is_run_folder(candidate):
            return candidate.resolve()
    base = results / "runs"
    matches = [m.parent for m in base.glob(f"{run}*/{METRICS}")] if not path.is_absolute() else []
    if matches:
        return max(matches, key=lambda d: (d / METRICS).stat().st_mtime_ns).resolve()
    some = [str(d.relative_to(base)) for d in run_folders(results, complete=True)][:6]
    hint = f", e.g. {', '.join(some)}" if some else " (there is no complete run there)"
    raise ConfigError(f"run={str(run)!r}: no complete run folder matches under {base}; give a run folder or "
                      f"<dataset>/<name prefix>{hint}")


#: ``run``: the precision the run was evaluated in, where the device is of the same kind (else fp32).
PRECISION_CHOICES = ("run", "fp32", "bf16", "fp16")


def load_run(run_dir: str | Path, device: str | torch.device = "cpu",
             precision: str = "run") -> tuple[nn.Module, RunSpec, AmpSettings]:
    """The model of a complete run with the weights it was evaluated with, on ``device``, in eval mode.

    Returns:
        ``(model, spec, amp)``: ``amp`` is the run's own precision where ``precision='run'`` and the device is of the
        kind the run was evaluated on (float32 otherwise), or the one named.

    Raises:
        DataError: the folder is not a complete run, or has no weights (a committed study keeps none).
    """
    run_dir = Path(run_dir)
    check_choice("precision", precision, PRECISION_CHOICES)
    if run_status(run_dir) != "complete":
        raise DataError(f"{run_dir} is not a complete run (no metrics.json): train it first, or pass the folder "
                        "that `train` printed")
    if not weights_file(run_dir).is_file():
        raise DataError(f"{run_dir} is complete but has no weights ({weights_file(run_dir).name}): a committed study "
                        "(results/cpu-real) keeps no checkpoints. Train the run again in a results folder of your own "
                        "(./run_all.sh --profile cpu-real --results DIR, or python -m seg_utils train), then pass its "
                        "folder")
    spec = RunSpec.from_dict(read_spec(run_dir))
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model = build_model(spec.arch, spec.encoder, "none")
    model.load_state_dict(load_checkpoint(weights_file(run_dir)))
    model.to(dev).eval()
    if precision != "run":
        return model, spec, amp_of(precision, "nchw")
    chosen = read_environment(run_dir).get("precision", {}).get("chosen", {})
    ran_on = str(read_metrics(run_dir).get("device", "cpu")).split(":")[0]
    if chosen and ran_on == dev.type:
        return model, spec, amp_of(chosen["precision"], chosen["memory_format"])
    return model, spec, amp_of("fp32", "nchw")


def fingerprinted(spec: RunSpec, data: Any) -> RunSpec:
    """``spec`` with the fingerprints of ``data`` (a :class:`~seg_utils.study.prepare.PreparedData`): of its clean
    manifest and of the quality rules that made it, where the spec has none yet."""
    return spec.replace(data_fingerprint=spec.data_fingerprint or data.fingerprint,
                        quality_rules=spec.quality_rules or data.report.rules.fingerprint)
