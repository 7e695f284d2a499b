"""The ablation ladder as a table (one row per configuration and step) and a verdict in words.

:func:`ablation_table` has one row per configuration and step: each seed's mean Dice separately (``dice_s<seed>``),
the seed-pooled mean with its 95% BCa interval and the across-seed sd, the gain over the previous step compared seed
by seed (:func:`seg_utils.stats.compare_seeds`: the mean over the seeds both steps have of each seed's mean per-image
difference, its two-stage bootstrap interval over seed pairs and test images, the bootstrap p Holm-adjusted over the
steps of the table, and the per-image Wilcoxon p as a secondary column), the training minutes per run and the
poster's value of the configuration. A step is a significant gain only with :data:`~seg_utils.stats.MIN_SEEDS` or
more seeds, ``p_holm < alpha``
and a gain larger than the across-seed sd of both steps. :func:`verdict` says in words which options carry the
gain.

Example (the ablation cells of a dataset notebook)::

    ladder = study.run_ladder(params, data)
    steps = report.ablation_table(ladder, params.dataset)
    report.verdict(steps)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import MIN_SEEDS, compare_seeds, paired_difference, pool_seeds, run_ci
from ..study.grid import LOSS_NAMES, model_label
from ..study.reference import poster_dice
from .results import minutes, read_per_image

__all__ = ["TABLE_COLUMNS", "ablation_table", "verdict"]

TABLE_COLUMNS = ["model", "base_loss", "base", "step", "step_name", "dice", "ci_low", "ci_high", "seed_sd", "gain",
                 "gain_ci_low", "gain_ci_high", "p_holm", "significant", "p_images_holm", "note", "vs_base", "n_seeds",
                 "minutes", "poster", "status"]
"""Columns of :func:`ablation_table` (``dice_s<seed>`` per seed follow ``base_loss, base, step, step_name``)."""


def _yes(value) -> bool:
    return value is not pd.NA and not pd.isna(value) and bool(value)


def ablation_table(ladder: pd.DataFrame, dataset: str, alpha: float = 0.05) -> pd.DataFrame:
    """One row per configuration and step of a :func:`run_ladder` table, beside the poster's value.

    Args:
        ladder: :func:`run_ladder`'s table (its ``attrs`` name every step, configuration and seed of the ladder, so
            those without a complete run are shown as missing; without them, those of its rows).
        dataset: the dataset (for the poster's values).
        alpha: the family-wise level of the Holm-adjusted gains.

    Returns:
        :data:`TABLE_COLUMNS` plus ``dice_s<seed>`` per seed: ``model`` and ``base_loss`` name the configuration
        the ladder starts from (a loss step changes the loss of the runs below it, not this column), each seed's mean
        Dice, the seed-pooled mean and its
        BCa interval over images, ``seed_sd`` (across-seed sd of the seeds' means); ``gain`` over the step above,
        seed by seed on the seeds both steps have (:func:`seg_utils.stats.compare_seeds`: mean per-seed difference,
        two-stage interval ``gain_ci_*`` at ``1 - alpha``, ``p_holm``: bootstrap p, Holm-adjusted over the distinct
        comparisons of the table with ``MIN_SEEDS`` or more seeds, so a comparison two configurations share after a loss
        step counts once; none where a step trains the same runs as the step above); ``significant`` (``MIN_SEEDS`` or
        more seeds, ``p_holm < alpha`` and the gain larger than the across-seed sd of both steps; False with fewer
        seeds, NA without a comparison); ``p_images_holm`` (secondary: the per-image Wilcoxon p of the seed-pooled
        images, Holm-adjusted likewise); ``note`` (e.g. fewer than ``MIN_SEEDS`` seeds); ``vs_base`` (mean paired
        difference to step 0, on the
        seeds both have); ``minutes`` (mean training time per run, from the run histories); ``status`` (``ok``,
        ``partial``: fewer seeds than asked for, ``missing``). Empty (with a note) when no ablation was asked for.
    """
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
    rows, tests, same, comparisons = [], [], [], {}  # comparisons: {run key: ({seed: table} above, {seed: table})}
    for base, arch, encoder, base_loss in bases:
        group = ladder[ladder.base == base]
        first: dict[int, pd.DataFrame] = {}
        previous: dict[int, tuple[str, pd.DataFrame]] = {}
        for index, name, _option in ladder_steps:
            runs = group[group.step == index]
            current = {int(r.seed): (r.run_dir, read_per_image(r.run_dir)) for r in runs.itertuples()}
            row = {"model": model_label(arch, encoder), "base_loss": LOSS_NAMES.get(base_loss, base_loss), "base": base,
                   "step": index, "step_name": name, "n_seeds": len(current),
                   "poster": poster_dice(dataset, arch, encoder, base_loss),
                   "status": "missing" if not current else ("partial" if len(current) < len(seeds) else "ok")}
            if current:
                ci = run_ci(pool_seeds({s: t for s, (_d, t) in current.items()}), "dice")
                means = [float(t.dice.mean()) for _d, t in current.values()]
                row.update({"dice": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                            "seed_sd": float(np.std(means, ddof=1)) if len(means) > 1 else np.nan,
                            "minutes": float(np.mean([minutes(d) for d, _t in current.values()]))})
                row.update({f"dice_s{s}": m for s, m in zip(current, means, strict=True)})
                if index == 0:
                    first = {s: t for s, (_d, t) in current.items()}
                on_first = sorted(set(first) & set(current))
                if on_first:
                    row["vs_base"] = paired_difference(pool_seeds({s: first[s] for s in on_first}),
                                                       pool_seeds({s: current[s][1] for s in on_first}))
                common = sorted(set(current) & set(previous))
                key = (tuple(previous[s][0] for s in common), tuple(current[s][0] for s in common))
                if common and key[0] == key[1]:
                    same.append(f"{row['model']} {row['base_loss']}: {name}")
                elif common:
                    comparisons.setdefault(key, ({s: previous[s][1] for s in common},
                                                 {s: current[s][1] for s in common}))
                    tests.append((len(rows), key))
            previous = current
            rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=columns)
    keys = list(comparisons)
    by_seed = {f"{side}{i}": comparisons[key][j] for i, key in enumerate(keys) for j, side in enumerate("ab")}
    table = compare_seeds(by_seed, [(f"a{i}", f"b{i}") for i in range(len(keys))], alpha=alpha) if keys else None
    df["significant"], df["note"] = pd.array([pd.NA] * len(df), dtype="boolean"), df["note"].astype(object)
    for i, key in tests:
        t = table.iloc[keys.index(key)]
        df.loc[i, ["gain", "gain_ci_low", "gain_ci_high", "p_holm", "p_images_holm", "note"]] = [
            t["diff"], t.diff_ci_low, t.diff_ci_high, t.p_holm, t.p_images_holm, t.note]
        df.loc[i, "significant"] = bool(t.significant)
    tested = int(table.p_value.notna().sum()) if keys else 0
    notes = [f"steps are cumulative: each keeps the options above it; gain = mean over the seeds both steps have of "
             f"each seed's mean per-image Dice difference to the step above, {1 - alpha:.0%} two-stage bootstrap "
             f"interval (seed pairs, then test images); p_holm: bootstrap p, Holm-adjusted over the "
             + (f"{tested} distinct comparisons of this table with {MIN_SEEDS} or more seeds" if tested else
                f"comparisons with {MIN_SEEDS} or more seeds (none yet)")
             + f"; significant: p_holm < {alpha} and a gain larger than the across-seed sd of both steps (never with "
             f"fewer than {MIN_SEEDS} seeds); p_images_holm (secondary): "
             f"Wilcoxon signed-rank test of the seed-pooled per-image differences, Holm-adjusted over the {len(keys)} "
             "distinct comparisons; vs_base: mean paired difference to step 0",
             "dice pools the seeds per image before the interval; dice_s<seed> is each seed's own mean, seed_sd their "
             "sd",
             "poster: the poster's value of the base configuration (its protocol, ImageNet weights, 224 px)"]
    if same:
        notes.append(f"no gain where a step trains the same runs as the step above: {'; '.join(same)}")
    short = df[df.status != "ok"]
    if len(short):
        notes.append("not complete: " + "; ".join(f"{r.model} {r.base_loss} {r.step_name} ({r.status}, {r.n_seeds} of "
                                                   f"{len(seeds)} seeds)" for r in short.itertuples())
                     + ". Rerun with train=True to complete them (shards: merge their run folders, then rerun with "
                       "shard='' and train=False)")
    df.attrs.update(title="Ablation: options added one at a time", notes=notes + ladder.attrs.get(
        "notes", []), hidden=["base"])
    return df


def _highest(done: pd.DataFrame) -> str:
    """The step with the highest Dice, ranked on the seeds every complete step has when some steps have more (a mean
    over three seeds is not set against one seed's)."""
    columns = [c for c in done.columns if c.startswith("dice_s")]
    have = {c for c in columns if done[c].notna().all()}
    if not columns or have == {c for c in columns if done[c].notna().any()} or not have:
        best = done.loc[done.dice.idxmax()]
        return f"Highest Dice: {best.step_name} ({best.dice:.3f})."
    shared = sorted(have, key=lambda c: int(c.removeprefix("dice_s")))
    on = done[shared].mean(axis=1)
    best = done.loc[on.idxmax()]
    seeds = ", ".join(c.removeprefix("dice_s") for c in shared)
    return (f"Highest Dice on the seed(s) every step has ({seeds}): {best.step_name} ({on.max():.3f}; over its "
            f"{int(best.n_seeds)} seed(s) {best.dice:.3f}).")


def verdict(table: pd.DataFrame) -> str:
    """Which options carry the gain, in Markdown: per configuration, what each step adds and what is not complete."""
    if table.empty:
        return "No ablation was asked for (the parameter `ablation_steps` is empty)."
    lines, finals = [], {}
    for base, group in table.groupby("base", sort=False):
        group = group.sort_values("step")
        who = f"**{group.model.iloc[0]} {group.base_loss.iloc[0]}**"
        done = group[group.dice.notna()]
        if done.empty:
            lines.append(f"- {who}: no complete run yet.")
            continue
        start, end = group.iloc[0], done.iloc[-1]
        parts = []
        for r in group[group.gain.notna()].itertuples():
            why = f": {r.note}" if isinstance(r.note, str) and r.note else ""
            if pd.notna(r.p_holm):
                sig = f"{'significant' if _yes(r.significant) else 'not significant' + why}, p_holm = {r.p_holm:.2g}"
            else:
                sig = f"{r.note}; per image p_images_holm = {r.p_images_holm:.2g}"
            parts.append(f"{r.step_name} {r.gain:+.3f} [{r.gain_ci_low:+.3f}, {r.gain_ci_high:+.3f}] ({sig})")
        text = f"- {who}: " + (f"{start.step_name} {start.dice:.3f} -> {end.step_name} {end.dice:.3f} "
                               f"({end.vs_base:+.3f} paired over the base on the seeds both have)"
                               if pd.notna(end.vs_base) and end.step else f"{end.step_name} {end.dice:.3f}")
        if pd.notna(end.vs_base) and end.step:
            finals[base] = end
        text += ("; step by step: " + "; ".join(parts) + "." if parts else "; no step has a comparison yet.")
        up = [r.step_name for r in group.itertuples() if _yes(r.significant) and r.gain > 0]
        down = [r.step_name for r in group.itertuples() if _yes(r.significant) and r.gain < 0]
        text += " " + _highest(done)
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
        gains = ", ".join(f"{f.vs_base:+.3f} ({f.model} {f.base_loss}, up to {f.step_name})" for f in finals.values())
        lines.append(f"- Configuration vs the ladder's options: at step 0 the configurations differ by "
                     f"{starts.dice.max() - starts.dice.min():.3f} Dice; the options add {gains}.")
    return "\n".join(lines)
