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

import dataclasses
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

__all__ = ["OPTIONS", "OPTION_NAMES", "Step", "parse_ladder", "ladder_jobs", "ladder_specs", "run_ladder",
           "LADDER_COLUMNS", "LADDER_SUMMARY_COLUMNS", "TABLE_COLUMNS", "ablation_table", "verdict"]

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
TABLE_COLUMNS = ["model", "loss", "base", "step", "step_name", "dice", "ci_low", "ci_high", "gain", "gain_ci_low",
                 "gain_ci_high", "p_holm", "significant", "vs_base", "n_seeds", "minutes", "poster", "status"]


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
            raise ConfigError(f"ablation step {item!r}: {field}={value!r} is not valid; choose one of: "
                              f"{', '.join(OPTIONS[field])}")
        if field in changes:
            raise ConfigError(f"ablation step {item!r} changes {field} a second time (each option is added once, "
                              "and every later step keeps it)")
        changes = {**changes, field: value}
        steps.append(Step(len(steps), f"{field}={value}", f"+ {OPTION_NAMES.get((field, value), item)}", changes))
    return steps


def _base_name(params: DatasetParams) -> str:
    """Step 0's name: the poster's protocol (said to be at another scale when it is), or the options it changes."""
    defaults = {"intensity": "none", "augment": "none", "schedule": "constant"}
    changed = [f"{f}={getattr(params, f)}" for f, default in defaults.items() if getattr(params, f) != default]
    if changed:
        return f"base ({', '.join(changed)})"
    poster = RunSpec(params.dataset, "unet", "resnet50", "bce")
    scale = [f for f in ("image_size", "epochs", "batch_size", "weights") if getattr(params, f) != getattr(poster, f)]
    return "poster protocol at this scale" if scale else "poster protocol"


def ladder_jobs(params: DatasetParams) -> list[tuple[Step, str, RunSpec]]:
    """Every rung of the notebook's ladder as ``(step, base configuration name, spec)``: seed, then step, then
    configuration. Two rungs can share a spec (a loss step can turn two configurations into one run).

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
    return [(step, config_name(arch, encoder, loss), params.spec(arch, encoder, loss, seed).replace(**step.changes))
            for seed in params.seeds for step in steps for arch, encoder, loss in params.grid]


def ladder_specs(params: DatasetParams) -> list[RunSpec]:
    """The distinct runs of the ladder this notebook trains, in :func:`ladder_jobs` order.

    With a ``shard``, the runs that belong to the grid (step 0, or a later step that lands on another grid
    configuration) are those of this shard's share of the grid (:func:`seg_utils.study.grid_specs`), and the
    other runs are split N ways, so N kernels share the ladder without training a run twice.
    """
    unique = {spec.name: spec for _step, _base, spec in ladder_jobs(params)}
    full_grid = {spec.name for spec in grid_specs(dataclasses.replace(params, shard=""))}
    my_grid = {spec.name for spec in grid_specs(params)}
    mine = set([name for name in unique if name not in full_grid][params.shard_slice]) | my_grid
    return [spec for name, spec in unique.items() if name in mine]


def run_ladder(params: DatasetParams, data) -> pd.DataFrame:
    """Train and evaluate every run of the ladder (complete runs are skipped, interrupted ones resume).

    Args:
        params: the notebook's parameters (``ablation_steps`` holds the ladder; with ``train=False`` nothing is
            trained and no cache is built: the complete runs are reported).
        data: :func:`seg_utils.study.prepare`'s result; steps with another intensity get their own cache of the
            same clean images (:func:`seg_utils.runs.with_intensity`).

    Returns:
        :data:`LADDER_COLUMNS`: the step (index and name), the base configuration and :func:`~seg_utils.study.
        run_grid`'s columns, one row per rung with a complete run; empty when ``ablation_steps`` is empty.
    """
    from .runs import with_intensity

    specs = ladder_specs(params)
    prepared = {data.intensity: data}
    for spec in specs if params.train else []:
        if spec.intensity not in prepared:
            prepared[spec.intensity] = with_intensity(data, spec.intensity, progress=params.progress)
    runs = execute_specs(params, [(spec, prepared.get(spec.intensity, data)) for spec in specs])
    by_name = {Path(r["run_dir"]).name: r for r in runs.to_dict("records")}
    fill = {"data_fingerprint": data.fingerprint, "quality_rules": data.report.rules.fingerprint}
    rows = [{**by_name[spec.replace(**fill).name], "step": step.index, "step_name": step.name, "base": base}
            for step, base, spec in ladder_jobs(params) if spec.replace(**fill).name in by_name]
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


def _paired_mean(a: pd.DataFrame, b: pd.DataFrame) -> float:
    merged = a[["image_id", "dice"]].merge(b[["image_id", "dice"]], on="image_id", suffixes=("_a", "_b"))
    return float((merged.dice_b - merged.dice_a).mean())


def ablation_table(ladder: pd.DataFrame, dataset: str, alpha: float = 0.05) -> pd.DataFrame:
    """One row per configuration and step of a :func:`run_ladder` table, beside the poster's value.

    Args:
        ladder: :func:`run_ladder`'s table (its ``attrs`` name every step, configuration and seed of the ladder, so
            those without a complete run are shown as missing; without them, those of its rows).
        dataset: the dataset (for the poster's values).
        alpha: the family-wise level of the Holm-adjusted gains.

    Returns:
        :data:`TABLE_COLUMNS` plus ``dice_s<seed>`` per seed: each seed's mean Dice, the seed-pooled mean and its
        interval; ``gain`` over the step above (mean paired per-image difference on the seeds both steps have, BCa
        interval, ``p_holm``: Wilcoxon, Holm-adjusted over the distinct comparisons of the table, so a comparison
        two configurations share after a loss step counts once; none where a step trains the same runs as the step
        above); ``significant`` (``p_holm < alpha``); ``vs_base`` (mean paired difference to step 0, on the seeds
        both have); ``minutes`` (mean training time per run, from the run histories); ``status`` (``ok``,
        ``partial``: fewer seeds than asked for, ``missing``). Empty (with a note) when no ablation was asked for.
    """
    from .study import LOSS_NAMES

    ladder_steps = ladder.attrs.get("ladder") or [
        (int(r.step), r.step_name, "") for r in ladder[["step", "step_name"]].drop_duplicates().sort_values("step")
        .itertuples()]
    seeds = ladder.attrs.get("seeds") or sorted(int(s) for s in ladder.seed.dropna().unique())
    columns = TABLE_COLUMNS[:5] + [f"dice_s{s}" for s in seeds] + TABLE_COLUMNS[5:]
    if not ladder_steps:
        df = pd.DataFrame(columns=columns)
        df.attrs.update(title="Ablation", notes=["no ablation was asked for (the parameter ablation_steps is empty)"])
        return df
    bases = ladder.attrs.get("bases") or [(b, g.arch.iloc[0], g.encoder.iloc[0], b.rsplit("-", 1)[-1])
                                          for b, g in ladder.groupby("base", sort=False)]
    rows, tests, same, comparisons = [], [], [], {}
    for base, arch, encoder, base_loss in bases:
        group = ladder[ladder.base == base]
        first: dict[int, pd.DataFrame] = {}
        previous: dict[int, tuple[str, pd.DataFrame]] = {}
        for index, name, _option in ladder_steps:
            runs = group[group.step == index]
            current = {int(r.seed): (r.run_dir, _per_image(r.run_dir)) for r in runs.itertuples()}
            row = {"model": model_label(arch, encoder), "loss": LOSS_NAMES.get(base_loss, base_loss), "base": base,
                   "step": index, "step_name": name, "n_seeds": len(current),
                   "poster": poster_dice(dataset, arch, encoder, base_loss),
                   "status": "missing" if not current else ("partial" if len(current) < len(seeds) else "ok")}
            if current:
                ci = run_ci(pool_seeds({s: t for s, (_d, t) in current.items()}), "dice")
                row.update({"dice": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                            "minutes": float(np.mean([_minutes(d) for d, _t in current.values()]))})
                row.update({f"dice_s{s}": float(t.dice.mean()) for s, (_d, t) in current.items()})
                if index == 0:
                    first = {s: t for s, (_d, t) in current.items()}
                on_first = sorted(set(first) & set(current))
                if on_first:
                    row["vs_base"] = _paired_mean(pool_seeds({s: first[s] for s in on_first}),
                                                  pool_seeds({s: current[s][1] for s in on_first}))
                common = sorted(set(current) & set(previous))
                key = (tuple(previous[s][0] for s in common), tuple(current[s][0] for s in common))
                if common and key[0] == key[1]:
                    same.append(f"{row['model']} {row['loss']}: {name}")
                elif common:
                    if key not in comparisons:
                        comparisons[key] = paired_comparison(pool_seeds({s: previous[s][1] for s in common}),
                                                             pool_seeds({s: current[s][1] for s in common}))
                    cmp = comparisons[key]
                    row.update({"gain": cmp["diff"], "gain_ci_low": cmp["diff_ci_low"],
                                "gain_ci_high": cmp["diff_ci_high"]})
                    tests.append((len(rows), key))
            previous = current
            rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=columns)
    keys = list(comparisons)
    adjusted = dict(zip(keys, holm([comparisons[k]["p_value"] for k in keys]), strict=True)) if keys else {}
    for i, key in tests:
        df.loc[i, "p_holm"] = adjusted[key]
    df["significant"] = pd.array([pd.NA if pd.isna(p) else bool(p < alpha) for p in df.p_holm], dtype="boolean")
    notes = [f"steps are cumulative: each keeps the options above it; gain = mean paired per-image Dice "
             f"difference to the step above (on the seeds both have), 95% BCa interval; p_holm: two-sided Wilcoxon "
             f"signed-rank test, Holm-adjusted over the {len(keys)} distinct comparisons of this table; "
             f"significant: p_holm < {alpha}; vs_base: mean paired difference to step 0",
             "dice pools the seeds per image before the interval; dice_s<seed> is each seed's own mean",
             "poster: the poster's value of the base configuration (its protocol, ImageNet weights, 224 px)"]
    if same:
        notes.append(f"no gain where a step trains the same runs as the step above: {'; '.join(same)}")
    short = df[df.status != "ok"]
    if len(short):
        notes.append("not complete: " + "; ".join(f"{r.model} {r.loss} {r.step_name} ({r.status}, {r.n_seeds} of "
                                                   f"{len(seeds)} seeds)" for r in short.itertuples())
                     + ". Rerun with train=True to complete them (shards: merge their run folders, then rerun with "
                       "shard='' and train=False)")
    df.attrs.update(title="Ablation: data-driven options added one at a time", notes=notes + ladder.attrs.get(
        "notes", []), hidden=["base"])
    return df


def verdict(table: pd.DataFrame) -> str:
    """Which options carry the gain, in Markdown: per configuration, what each step adds and what is not complete."""
    if table.empty:
        return "No ablation was asked for (the parameter `ablation_steps` is empty)."
    lines, finals = [], {}
    for base, group in table.groupby("base", sort=False):
        group = group.sort_values("step")
        who = f"**{group.model.iloc[0]} {group.loss.iloc[0]}**"
        done = group[group.dice.notna()]
        if done.empty:
            lines.append(f"- {who}: no complete run yet.")
            continue
        start, end = group.iloc[0], done.iloc[-1]
        parts = []
        for r in group[group.gain.notna()].itertuples():
            sig = "significant" if _yes(r.significant) else "not significant"
            parts.append(f"{r.step_name} {r.gain:+.3f} [{r.gain_ci_low:+.3f}, {r.gain_ci_high:+.3f}] ({sig}, "
                         f"p_holm = {r.p_holm:.2g})")
        text = f"- {who}: " + (f"{start.step_name} {start.dice:.3f} -> {end.step_name} {end.dice:.3f} "
                               f"({end.vs_base:+.3f} paired over the base)" if pd.notna(end.vs_base) and end.step
                               else f"{end.step_name} {end.dice:.3f}")
        if pd.notna(end.vs_base) and end.step:
            finals[base] = end
        text += ("; step by step: " + "; ".join(parts) + "." if parts else "; no step has a comparison yet.")
        up = [r.step_name for r in group.itertuples() if _yes(r.significant) and r.gain > 0]
        down = [r.step_name for r in group.itertuples() if _yes(r.significant) and r.gain < 0]
        best = done.loc[done.dice.idxmax()]
        text += f" Highest Dice: {best.step_name} ({best.dice:.3f})."
        text += f" Significant gains: {', '.join(up) if up else 'none'}."
        text += f" Significant losses: {', '.join(down)}." if down else ""
        short = group[group.status != "ok"]
        if len(short):
            text += " Not complete yet: " + ", ".join(f"{r.step_name} ({r.status})" for r in short.itertuples()) + "."
        lines.append(text)
        per_seed = ", ".join(f"seed {c[6:]} {end[c]:.3f}" for c in group.columns if c.startswith("dice_s")
                             and pd.notna(end[c]))
        poster = f"; the poster: {end.poster:.3f} (ImageNet weights, 224 px)" if pd.notna(end.poster) else ""
        lines.append(f"  {end.step_name}, per seed: {per_seed}{poster}.")
    starts = table[(table.step == 0) & table.dice.notna()]
    if len(starts) > 1 and finals:
        gains = ", ".join(f"{f.vs_base:+.3f} ({f.model} {f.loss}, up to {f.step_name})" for f in finals.values())
        lines.append(f"- Model-driven vs data-driven: at step 0 the configurations differ by "
                     f"{starts.dice.max() - starts.dice.min():.3f} Dice; the data-driven options add {gains}.")
    return "\n".join(lines)
