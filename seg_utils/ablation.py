"""Ablations: the base protocol, then one option added at a time, each step keeping the ones before it.

A ladder is the ``ablation_steps`` parameter of the dataset notebooks: comma-separated ``field=value`` changes of
:class:`~seg_utils.config.RunSpec` among the data-driven options (:data:`OPTIONS`). The ``cpu-real`` profile's
``intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine`` gives::

    step 0  base                      the notebook's own settings (there: the poster's protocol at CPU scale)
    step 1  + CLAHE                   intensity=clahe
    step 2  + X-ray augmentation      intensity=clahe, augment=xray
    step 3  + BCE + Dice loss         ... loss=bce_dice
    step 4  + cosine LR schedule      ... schedule=cosine

Every configuration of the notebook's grid climbs the ladder with every seed; step 0 is the grid's own runs. The
steps are cumulative, so a step's gain is what its option adds *given the options before it*: two options that do
the same work (e.g. augmentation and a schedule that anneals away overfitting) credit it to whichever comes first.

:func:`ablation_table` has one row per configuration and step: each seed's mean Dice separately (``dice_s<seed>``),
the seed-pooled mean with its 95% BCa interval, the gain over the previous step (the mean paired per-image
difference on the seeds both steps have, its BCa interval, and the Wilcoxon p Holm-adjusted over every step of the
table), the training minutes per run and the poster's value of the configuration. :func:`verdict` says in words
which options carry the gain.

Example (the ablation cells of a dataset notebook)::

    ladder = ablation.run_ladder(params, data)
    steps = ablation.ablation_table(ladder, params.dataset)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import AUGMENTS, INTENSITIES, SCHEDULES, RunSpec
from .errors import ConfigError
from .losses import LOSSES
from .reference import poster_dice
from .stats import holm, paired_comparison, pool_seeds, run_ci
from .study import RUN_COLUMNS, DatasetParams, config_name, execute_specs, grid_specs
from .tables import model_label

__all__ = ["OPTIONS", "OPTION_NAMES", "Step", "parse_ladder", "ladder_specs", "run_ladder", "LADDER_COLUMNS",
           "LADDER_SUMMARY_COLUMNS", "ablation_table", "verdict"]

#: The options a ladder may change, with their choices.
OPTIONS = {"intensity": INTENSITIES, "augment": AUGMENTS, "loss": tuple(LOSSES), "schedule": SCHEDULES}
#: How the report names an option's value.
OPTION_NAMES = {
    ("intensity", "clahe"): "CLAHE", ("intensity", "equalize"): "histogram equalisation",
    ("intensity", "none"): "no intensity normalisation", ("augment", "xray"): "X-ray augmentation",
    ("augment", "flips"): "flip augmentation", ("augment", "none"): "no augmentation",
    ("loss", "bce_dice"): "BCE + Dice loss", ("loss", "bce"): "BCE loss", ("loss", "dice"): "Dice loss",
    ("loss", "logcosh_dice"): "Log-Cosh Dice loss", ("schedule", "cosine"): "cosine LR schedule",
    ("schedule", "constant"): "constant LR",
}
LADDER_COLUMNS = ["step", "step_name", "base", *RUN_COLUMNS]
LADDER_SUMMARY_COLUMNS = ["step", "step_name", "base", "seed", "action", "dice_mean", "epochs_run", "best_epoch",
                          "seconds"]
TABLE_COLUMNS = ["model", "base", "step", "step_name", "dice", "ci_low", "ci_high", "gain", "gain_ci_low",
                 "gain_ci_high", "p_holm", "significant", "n_seeds", "minutes", "poster", "status"]


@dataclass(frozen=True)
class Step:
    """One rung of a ladder.

    Attributes:
        index: 0 for the base, then 1, 2, ...
        option: the change this step adds, ``field=value`` (``""`` for the base).
        name: how the report names it, e.g. ``+ CLAHE``.
        changes: every change up to and including this step, ``{field: value}``.
    """

    index: int
    option: str
    name: str
    changes: dict


def parse_ladder(text: str, base_name: str = "base") -> list[Step]:
    """The steps of a ladder written as ``field=value,field=value,...`` (``""``: no ablation, no steps).

    Args:
        text: the ladder.
        base_name: how the report names step 0.

    Raises:
        ConfigError: an item is not ``field=value``, names an option outside :data:`OPTIONS` or a value outside its
            choices, or changes an option a second time (each option is added once).
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        return []
    steps, changes = [Step(0, "", base_name, {})], {}
    for item in items:
        field, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not field or not value:
            raise ConfigError(f"ablation step {item!r} is not field=value; write e.g. "
                              "'intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine'")
        if field not in OPTIONS:
            raise ConfigError(f"ablation step {item!r}: {field!r} is not an option an ablation changes; choose from "
                              f"{', '.join(OPTIONS)}")
        if value not in OPTIONS[field]:
            raise ConfigError(f"ablation step {item!r}: {value!r} is not a {field}; choose one of "
                              f"{', '.join(OPTIONS[field])}")
        if field in changes:
            raise ConfigError(f"ablation step {item!r} changes {field} a second time (each option is added once, "
                              "and every later step keeps it)")
        changes = {**changes, field: value}
        steps.append(Step(len(steps), f"{field}={value}", f"+ {OPTION_NAMES.get((field, value), item)}", changes))
    return steps


def _base_name(params: DatasetParams) -> str:
    """Step 0's name: the poster's protocol (at the notebook's scale), or the options it changes."""
    defaults = {"intensity": "none", "augment": "none", "schedule": "constant"}
    changed = [f"{f}={getattr(params, f)}" for f, default in defaults.items() if getattr(params, f) != default]
    return f"base ({', '.join(changed)})" if changed else "poster protocol"


def ladder_specs(params: DatasetParams) -> list[tuple[Step, str, RunSpec]]:
    """Every run of the notebook's ladder as ``(step, base configuration name, spec)``, seed by seed.

    The order is seed, then step, then configuration, so the first seed's ladder completes first. With a
    ``shard``, step 0 is this shard's share of the grid (:func:`seg_utils.study.grid_specs`) and the later steps
    are every N-th of theirs, so N kernels share the ladder without training a run twice.

    Raises:
        ConfigError: as :func:`parse_ladder`, or a step that changes nothing for any configuration (its option
            already has that value in the base settings).
    """
    steps = parse_ladder(params.ablation_steps, _base_name(params))
    for step in steps[1:]:
        field, value = step.option.split("=")
        base_values = {loss for _arch, _encoder, loss in params.grid} if field == "loss" else {getattr(params, field)}
        if base_values == {value}:
            raise ConfigError(f"ablation step {step.option!r} changes nothing: the base settings already use "
                              f"{field}={value}; drop it from the ladder or change the base")
    jobs = []
    for seed in params.seeds:
        for step in steps:
            for arch, encoder, loss in params.grid:
                spec = params.spec(arch, encoder, loss, seed).replace(**step.changes)
                jobs.append((step, config_name(arch, encoder, loss), spec))
    grid = {spec.name for spec in grid_specs(params)}  # step 0 is the grid: this shard's share of it
    later = set([i for i, (step, _base, _spec) in enumerate(jobs) if step.index > 0][params.shard_slice])
    return [job for i, job in enumerate(jobs) if (job[2].name in grid if job[0].index == 0 else i in later)]


def run_ladder(params: DatasetParams, data) -> pd.DataFrame:
    """Train and evaluate every run of the ladder (complete runs are skipped, interrupted ones resume).

    Args:
        params: the notebook's parameters (``ablation_steps`` holds the ladder).
        data: :func:`seg_utils.study.prepare`'s result; steps with another intensity get their own cache of the
            same clean images (:func:`seg_utils.runs.with_intensity`).

    Returns:
        :data:`LADDER_COLUMNS`: the step (index and name), the base configuration and :func:`~seg_utils.study.
        run_grid`'s columns; empty when ``ablation_steps`` is empty.
    """
    from .runs import with_intensity

    jobs = ladder_specs(params)
    prepared = {data.intensity: data}
    for _step, _base, spec in jobs:
        if spec.intensity not in prepared:
            prepared[spec.intensity] = with_intensity(data, spec.intensity, progress=params.progress)
    names = [spec.replace(data_fingerprint=data.fingerprint, quality_rules=data.report.rules.fingerprint).name
             for _step, _base, spec in jobs]
    unique = {name: spec for name, (_step, _base, spec) in zip(names, jobs, strict=True)}  # a loss step can merge
    runs = execute_specs(params, [(spec, prepared[spec.intensity]) for spec in unique.values()])
    by_name = {Path(r["run_dir"]).name: r for r in runs.to_dict("records")}
    rows = [{**by_name[name], "step": step.index, "step_name": step.name, "base": base}
            for name, (step, base, _spec) in zip(names, jobs, strict=True) if name in by_name]
    out = pd.DataFrame(rows, columns=LADDER_COLUMNS)
    out.attrs["notes"] = runs.attrs.get("notes", [])
    out.attrs["ladder"] = [(s.index, s.name, s.option) for s in parse_ladder(params.ablation_steps, _base_name(params))]
    out.attrs["bases"] = [(config_name(*c), *c) for c in params.grid] if out.attrs["ladder"] else []
    out.attrs["seeds"] = params.seeds
    return out


def _yes(value) -> bool:
    return value is not pd.NA and not pd.isna(value) and bool(value)


def _per_image(run_dir: str) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "per_image.csv", dtype={"image_id": str})


def _minutes(run_dir: str) -> float:
    history = Path(run_dir) / "history.csv"
    return float(pd.read_csv(history).seconds.sum() / 60) if history.is_file() else float("nan")


def ablation_table(ladder: pd.DataFrame, dataset: str, alpha: float = 0.05) -> pd.DataFrame:
    """One row per configuration and step of a :func:`run_ladder` table, beside the poster's value.

    Args:
        ladder: :func:`run_ladder`'s table (its ``attrs`` name every step and configuration of the ladder, so those
            without a complete run are shown as missing; without them, the steps and configurations of its rows).
        dataset: the dataset (for the poster's values).
        alpha: the family-wise level of the Holm-adjusted gains (every step of every configuration is one family).

    Returns:
        :data:`TABLE_COLUMNS` plus ``dice_s<seed>`` per seed: each seed's mean Dice, the seed-pooled mean and its
        interval, the gain over the previous step (``gain_*``; on the seeds both steps have), ``p_holm``,
        ``significant`` (``p_holm < alpha``), ``minutes`` (mean training time per run, from the run histories) and
        ``status`` (``ok``, ``missing`` or ``partial``: fewer seeds than the others). Empty (with a note) when the
        notebook asked for no ablation.
    """
    ladder_steps = ladder.attrs.get("ladder") or [
        (int(r.step), r.step_name, "") for r in ladder[["step", "step_name"]].drop_duplicates().sort_values("step")
        .itertuples()]
    seeds = ladder.attrs.get("seeds") or sorted(int(s) for s in ladder.seed.dropna().unique())
    columns = TABLE_COLUMNS[:4] + [f"dice_s{s}" for s in seeds] + TABLE_COLUMNS[4:]
    if not ladder_steps:
        df = pd.DataFrame(columns=columns)
        df.attrs.update(title="Ablation", notes=["no ablation was asked for (the parameter ablation_steps is empty)"])
        return df
    bases = ladder.attrs.get("bases") or [(b, g.arch.iloc[0], g.encoder.iloc[0], b.rsplit("-", 1)[-1])
                                          for b, g in ladder.groupby("base", sort=False)]
    rows, tests = [], []
    for base, arch, encoder, base_loss in bases:
        group = ladder[ladder.base == base]
        previous: dict[int, pd.DataFrame] = {}
        for index, name, _option in ladder_steps:
            runs = group[group.step == index]
            by_seed = {int(r.seed): _per_image(r.run_dir) for r in runs.itertuples()}
            row = {"model": model_label(arch, encoder), "base": base, "step": index, "step_name": name,
                   "n_seeds": len(by_seed), "poster": poster_dice(dataset, arch, encoder, base_loss),
                   "status": "missing" if not by_seed else ("partial" if len(by_seed) < len(seeds) else "ok")}
            if by_seed:
                ci = run_ci(pool_seeds(by_seed), "dice")
                row.update({"dice": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                            "minutes": float(np.mean([_minutes(r.run_dir) for r in runs.itertuples()]))})
                row.update({f"dice_s{s}": float(t.dice.mean()) for s, t in by_seed.items()})
                common = sorted(set(by_seed) & set(previous))
                if common:
                    cmp = paired_comparison(pool_seeds({s: previous[s] for s in common}),
                                            pool_seeds({s: by_seed[s] for s in common}))
                    row.update({"gain": cmp["diff"], "gain_ci_low": cmp["diff_ci_low"],
                                "gain_ci_high": cmp["diff_ci_high"]})
                    tests.append((len(rows), cmp["p_value"]))
            previous = by_seed
            rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=columns)
    if tests:
        adjusted = holm([p for _, p in tests])
        for (i, _), p in zip(tests, adjusted, strict=True):
            df.loc[i, "p_holm"] = p
    df["significant"] = pd.array([pd.NA if pd.isna(p) else bool(p < alpha) for p in df.p_holm], dtype="boolean")
    notes = [f"steps are cumulative: each keeps the options above it; gain = mean paired per-image Dice "
             f"difference to the step above (on the seeds both have), 95% BCa interval; p_holm: two-sided Wilcoxon "
             f"signed-rank test, Holm-adjusted over the {len(tests)} gains of this table; significant: p_holm < "
             f"{alpha}",
             "dice pools the seeds per image before the interval; dice_s<seed> is each seed's own mean",
             "poster: the poster's value of the base configuration (its protocol with ImageNet weights)"]
    missing = df[df.status != "ok"]
    if len(missing):
        notes.append(f"{len(missing)} step(s) have fewer complete runs than seeds ({', '.join(missing.status)}); "
                     "rerun the notebook with train=True to complete them")
    df.attrs.update(title="Ablation: data-driven options added one at a time", notes=notes + ladder.attrs.get(
        "notes", []), hidden=["base"])
    return df


def verdict(table: pd.DataFrame) -> str:
    """Which options carry the gain, in Markdown: per configuration, the total gain and each step's share."""
    if table.empty:
        return "No ablation was asked for (the parameter `ablation_steps` is empty)."
    lines = []
    finals = {}
    for base, group in table.groupby("base", sort=False):
        group = group.sort_values("step")
        done = group[group.dice.notna()]
        if done.empty:
            lines.append(f"- **{group.model.iloc[0]}** ({base}): no complete run yet.")
            continue
        start, end = done.iloc[0], done.iloc[-1]
        finals[base] = end
        total = end.dice - start.dice
        parts = []
        for r in group[group.gain.notna()].itertuples():
            share = f", {r.gain / total:.0%} of the total" if total > 0 else ""
            sig = "significant" if _yes(r.significant) else "not significant"
            parts.append(f"{r.step_name} {r.gain:+.3f} [{r.gain_ci_low:+.3f}, {r.gain_ci_high:+.3f}]{share} "
                         f"({sig}, p_holm = {r.p_holm:.2g})")
        carried = [r.step_name for r in group.itertuples() if _yes(r.significant) and r.gain > 0]
        lines.append(f"- **{start.model}** ({base}): {start.step_name} {start.dice:.3f} -> {end.step_name} "
                     f"{end.dice:.3f} ({total:+.3f}); " + "; ".join(parts) + ". Options that carry a significant "
                     f"gain: {', '.join(carried) if carried else 'none'}.")
        seeds = [c for c in group.columns if c.startswith("dice_s")]
        if seeds and pd.notna(end.poster):
            per_seed = ", ".join(f"seed {c[6:]} {end[c]:.3f}" for c in seeds if pd.notna(end[c]))
            lines.append(f"  Last step per seed: {per_seed}; the poster: {end.poster:.3f} (ImageNet weights).")
    starts = table[table.step == 0].dropna(subset=["dice"])
    if len(starts) > 1 and finals:
        model_gap = starts.dice.max() - starts.dice.min()
        data_gain = np.mean([f.dice - starts[starts.base == b].dice.iloc[0] for b, f in finals.items()
                             if b in set(starts.base)])
        lines.append(f"- Model-driven vs data-driven: at the base settings the configurations differ by "
                     f"{model_gap:.3f} Dice; the ladder's options add {data_gain:+.3f} on average.")
    return "\n".join(lines)
