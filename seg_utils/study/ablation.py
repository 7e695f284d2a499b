"""Ablations: the base protocol, then one option added at a time, each step keeping the ones before it.

A ladder is the ``ablation_steps`` parameter of the dataset notebooks: comma-separated ``field=value`` changes of
:class:`~seg_utils.study.spec.RunSpec` among the data-driven options (:data:`OPTIONS`). The ``cpu-real`` profile's
``intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine`` gives::

    step 0  base                      the notebook's own settings (there: the poster's protocol at CPU scale)
    step 1  + CLAHE                   intensity=clahe
    step 2  + X-ray augmentation      intensity=clahe, augment=xray
    step 3  + BCE + Dice loss         ... loss=bce_dice
    step 4  + cosine LR schedule      ... schedule=cosine

Every configuration of the notebook's grid climbs the ladder with every seed; step 0 is the grid's own runs. The
steps are cumulative, so a step's gain is what its option adds *given the options before it*: two options that do
the same work (e.g. augmentation and a schedule that anneals away overfitting) credit it to whichever comes first.

:mod:`seg_utils.report` tabulates a ladder's runs (``report.ablation_table``) and says which options carry the gain
(``report.verdict``).

Example (the ablation cell of a dataset notebook)::

    ladder = study.run_ladder(params, data)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from .execute import RUN_COLUMNS, execute_specs, grid_specs
from .grid import config_name
from .ladder import Step
from .params import DatasetParams
from .prepare import PreparedData, with_intensity
from .run_folder import fingerprinted
from .spec import RunSpec

__all__ = ["LADDER_COLUMNS", "LADDER_SUMMARY_COLUMNS", "ladder_jobs", "ladder_specs", "run_ladder"]

LADDER_COLUMNS = ["step", "step_name", "base", *RUN_COLUMNS]
LADDER_SUMMARY_COLUMNS = ["step", "step_name", "base", "seed", "action", "dice_mean", "epochs_run", "best_epoch",
                          "seconds"]


def ladder_jobs(params: DatasetParams) -> list[tuple[Step, str, RunSpec]]:
    """Every rung of the notebook's ladder (:attr:`DatasetParams.ladder`) as ``(step, base configuration name,
    spec)``: seed, then step, then configuration. Two rungs can share a spec (a loss step can turn two
    configurations into one run)."""
    return [(step, config_name(arch, encoder, loss), params.spec(arch, encoder, loss, seed).replace(**step.changes))
            for seed in params.seeds for step in params.ladder for arch, encoder, loss in params.ablation_grid]


def ladder_specs(params: DatasetParams, jobs: list[tuple[Step, str, RunSpec]] | None = None) -> list[RunSpec]:
    """The distinct runs of the ladder this notebook trains, in :func:`ladder_jobs` order.

    With a ``shard``, the runs that belong to the grid (step 0, or a later step that lands on another grid
    configuration) are those of this shard's share of the grid (:func:`~.execute.grid_specs`), and the
    other runs are split N ways, so N kernels share the ladder without training a run twice.
    """
    unique = {spec.name: spec for _step, _base, spec in (jobs if jobs is not None else ladder_jobs(params))}
    full_grid = {spec.name for spec in grid_specs(dataclasses.replace(params, shard=""))}
    my_grid = {spec.name for spec in grid_specs(params)}
    mine = set([name for name in unique if name not in full_grid][params.shard_slice]) | my_grid
    return [spec for name, spec in unique.items() if name in mine]


def run_ladder(params: DatasetParams, data: PreparedData) -> pd.DataFrame:
    """Train and evaluate every run of the ladder (complete runs are skipped, interrupted ones resume).

    Args:
        params: the notebook's parameters (``ablation_steps`` holds the ladder; with ``train=False`` nothing is
            trained and no cache is built: the complete runs are reported).
        data: :func:`~.prepare.prepare`'s result; steps with another intensity get their own cache of the
            same clean images (:func:`~.prepare.with_intensity`).

    Returns:
        :data:`LADDER_COLUMNS`: the step (index and name), the base configuration and :func:`~.execute.run_grid`'s
        columns, one row per rung with a complete run; empty when ``ablation_steps`` is empty. Its ``attrs`` name
        every step, configuration and seed of the ladder, so that the report shows those without a run as missing.
    """
    jobs = ladder_jobs(params)
    specs = ladder_specs(params, jobs)
    prepared = {data.intensity: data}
    for spec in specs if params.train else []:
        if spec.intensity not in prepared:
            prepared[spec.intensity] = with_intensity(data, spec.intensity, progress=params.progress)
    runs = execute_specs(params, [(spec, prepared.get(spec.intensity, data)) for spec in specs])
    by_name = {Path(r["run_dir"]).name: r for r in runs.to_dict("records") if r["status"] == "complete"}
    rows = [{**by_name[fingerprinted(spec, data).name], "step": step.index, "step_name": step.name, "base": base}
            for step, base, spec in jobs if fingerprinted(spec, data).name in by_name]
    out = pd.DataFrame(rows, columns=LADDER_COLUMNS)
    out.attrs["notes"] = runs.attrs.get("notes", [])
    out.attrs["ladder"] = [(s.index, s.name, s.option) for s in params.ladder]
    out.attrs["bases"] = [(config_name(*c), *c) for c in params.ablation_grid] if out.attrs["ladder"] else []
    out.attrs["seeds"] = params.seeds
    return out
