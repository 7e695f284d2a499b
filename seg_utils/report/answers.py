"""The poster's questions answered in words, computed from the tables (never typed): which encoder wins, which loss
wins per task, whether DeepLabV3+_RN50 is non-inferior to the best cell of every task, and where our results agree
with the poster's.

The training seed is the unit of evidence (:mod:`seg_utils.stats.hierarchical`): a winner is named only when its
seed-level difference is significant (:data:`~seg_utils.stats.MIN_SEEDS` or more seeds, Holm-adjusted, larger than the
across-seed sd); otherwise it is a tie (``MIN_SEEDS`` or more seeds) or untested (fewer). Agreement with the poster is
counted by significance (:mod:`.comparisons`, ``vs_poster``): ``agree`` or ``disagree`` only for a significant
difference, ``tie`` or ``untested`` for the rest, which never count as agreement. Configurations are ranked on the seeds
they all have, so a cell with more seeds is not set against one with fewer. The per-image test is quoted beside it as
what it is: evidence about the test images of these training runs.

Each function returns Markdown for the end of a table notebook; a configuration without a complete run is named as
such, and nothing is claimed from it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..model.cost import model_cost
from ..stats import MIN_SEEDS, non_inferiority, rank_stability
from ..study.grid import ARCH_NAMES, ENCODER_NAMES, GRID_DATASETS, LOSS_NAMES, POSTER_ARCHS
from .comparisons import compare_encoders, compare_losses
from .deviations import dataset_names
from .results import KEY, select_runs
from .tables import seeds_of, table_encoders, table_losses

__all__ = ["answer_encoders", "answer_losses", "answer_base"]


def _p(p: float, name: str = "p_holm") -> str:
    return f"{name} = {p:.2g}" if pd.notna(p) else "no test"


def _few(n_seeds: float) -> str:
    """``one seed`` or ``2 seeds, fewer than 3``: why a comparison has no seed-level test."""
    return "one seed" if n_seeds <= 1 else f"{int(n_seeds)} seeds, fewer than {MIN_SEEDS}"


def _key(row) -> tuple:
    return (row.dataset, row.arch, row.encoder, row.loss)


def _evidence(t: pd.Series, sign: int = 1) -> str:
    """``+0.030 [+0.010, +0.050] over 3 seeds, p_holm = 0.004, significant; per image p_images_holm = 1e-05``, the
    difference signed by ``sign`` (1: b - a)."""
    lo, hi = sorted((sign * t.diff_ci_low, sign * t.diff_ci_high))
    text = f"{sign * t['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    if t.n_seeds < MIN_SEEDS:
        text += f" on {_few(t.n_seeds)}: no seed-level test"
    else:
        sig = "significant" if t.significant else ("not significant" + (", within the across-seed sd"
                                                                         if "across-seed" in str(t.note) else ""))
        text += f" over {int(t.n_seeds)} seeds, {_p(t.p_holm)}, {sig}"
    return text + f"; per image {_p(t.p_images_holm, 'p_images_holm')}"


def _tally(verdicts: pd.Series) -> str:
    counts = verdicts.dropna().value_counts()
    text = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in ("agree", "disagree", "tie"))
    return text + (f", {int(counts['untested'])} untested (fewer than {MIN_SEEDS} seeds)" if counts.get("untested", 0)
                   else "")


def _ranking(df: pd.DataFrame, column: str, by: str) -> list[str]:
    """Names in ``column`` by ``by`` from best to worst (NaN last)."""
    return df.sort_values(by, ascending=False, na_position="last")[column].tolist()


def answer_encoders(results: str | Path, alpha: float = 0.05) -> str:
    """Table 1 in words: per architecture, the encoder with the highest mean Dice, its seed-level evidence over the
    second (difference, interval, Holm-adjusted p, how often its seeds beat the second's) and agreement with the
    poster's order, pair by pair, by significance."""
    table = table_encoders(results)
    tests = compare_encoders(results, alpha)
    by_seed = seeds_of(results, "isic2018")
    lines = []
    for arch in POSTER_ARCHS:
        rows = table[(table.arch == arch)]
        ok = rows[rows.status == "ok"]
        name = ARCH_NAMES[arch]
        if len(ok) < 2:
            lines.append(f"- **{name}**: {len(ok)} of {len(rows)} encoders have a complete run; no ranking yet.")
            continue
        seeds = {r.model: by_seed[_key(r)] for r in ok.itertuples()}
        common = sorted(set.intersection(*(set(v) for v in seeds.values())))
        ranked_on = ""
        if common and any(len(v) > len(common) for v in seeds.values()):  # rank on equal footing
            seeds = {m: {s: v[s] for s in common} for m, v in seeds.items()}
            ranked_on = f"ranked on the seed(s) every encoder has ({', '.join(map(str, common))}); "
        stab = rank_stability(seeds)
        best, second = (ok.set_index("model").loc[m] for m in (stab["best"], stab["second"]))
        within = tests[tests.comparison == f"encoders within {name}"]
        t = within[within.a.isin([best.name, second.name]) & within.b.isin([best.name, second.name])].iloc[0]
        evidence = _evidence(t, 1 if t.b == best.name else -1)
        head = (f"{ENCODER_NAMES[best.encoder]} wins" if t.significant else
                f"{ENCODER_NAMES[best.encoder]} has the highest mean, "
                + (f"a tie with {ENCODER_NAMES[second.encoder]}" if t.n_seeds >= MIN_SEEDS else
                   f"untested against {ENCODER_NAMES[second.encoder]} ({_few(t.n_seeds)})"))
        stable = (f"; its seeds beat the second's in {stab['wins']:g} of {stab['n_pairs']} seed pairs "
                  f"({stab['fraction']:.0%})" if not stab["note"] else "")
        poster = " > ".join(ENCODER_NAMES[e] for e in _ranking(rows, "encoder", "poster"))
        lines.append(f"- **{name}**: {head} ({ranked_on}Dice {stab['mean_best']:.3f} vs {stab['mean_second']:.3f}; "
                     f"{evidence}{stable}). "
                     f"Against the poster's order {poster}, pair by pair: {_tally(within.vs_poster)}.")
    ok = table[table.status == "ok"]
    if len(ok):
        top = ok.loc[ok.dice.idxmax()]
        interval = (f"[{top.seed_ci_low:.3f}, {top.seed_ci_high:.3f}] over {int(top.n_seeds)} seeds and the test "
                    "images" if top.n_seeds > 1 else
                    f"[{top.ci_low:.3f}, {top.ci_high:.3f}] over test images, one seed")
        lines.append(f"- Best cell: {top.model} {top.dice:.3f} {interval} (the poster's best: U-Net_RN50 0.878).")
    if tests.n_seeds.notna().any() and tests.n_seeds.max() < MIN_SEEDS:
        lines.append(f"- {_few(tests.n_seeds.max()).capitalize()} per configuration: no difference above is tested at "
                     "seed level; the per-image p measures these training runs' test images, not the encoders.")
    missing = table[table.status != "ok"]
    if len(missing):
        lines.append(f"- Not complete: {', '.join(f'{r.model} ({r.status})' for r in missing.itertuples())}.")
    return "\n".join(lines)


def answer_losses(results: str | Path, alpha: float = 0.05) -> str:
    """Table 2 in words: per task and model, which loss wins at seed level (Holm-adjusted; otherwise a tie), beside
    the poster's winner, and the agreement with the poster counted by significance."""
    table = table_losses(results)
    tests = compare_losses(results, alpha)
    lines, verdicts, names = [], [], dataset_names(results)
    for (dataset, model), rows in table.groupby(["dataset", "model"], sort=False):
        where = f"{model} on {names[dataset]}"
        ok = rows[rows.status == "ok"].set_index("loss")
        poster = rows.set_index("loss").poster
        poster_winner = LOSS_NAMES[poster.idxmax()] if poster.notna().all() else "?"
        if len(ok) < 2:
            lines.append(f"- {where}: {len(ok)} of 2 losses have a complete run (the poster: {poster_winner}).")
            continue
        t = tests[tests.comparison == f"losses, {where}"].iloc[0]
        verdicts.append(t.vs_poster)
        winner = (f"{LOSS_NAMES['logcosh_dice' if t['diff'] > 0 else 'bce']} wins" if t.significant
                  else "no winner (a tie)" if t.n_seeds >= MIN_SEEDS else f"no winner tested ({_few(t.n_seeds)})")
        over = f"over the {int(t.n_seeds)} seeds both have" if t.n_seeds > 1 else "one seed"
        lines.append(f"- {where}: {winner} ({t.mean_a:.3f} BCE vs {t.mean_b:.3f} Log-Cosh Dice, {over}; "
                     f"{_evidence(t)}); the poster: {poster_winner} (by significance: {t.vs_poster}).")
    if verdicts:
        lines.append(f"- Against the poster's loss winner: {_tally(pd.Series(verdicts, dtype='string'))} of "
                     f"{len(verdicts)} rows (a difference that is not significant over {MIN_SEEDS} or more seeds is "
                     "a tie, with fewer seeds it is untested; neither is an agreement).")
    return "\n".join(lines)


def _cost(runs: pd.DataFrame, row) -> dict:
    """The model cost (:func:`seg_utils.model.cost.model_cost`) of a score-table row at its runs' image size, and
    its training minutes per run."""
    mine = runs[(runs[KEY] == pd.Series(_key(row), index=KEY)).all(axis=1)]
    return {**model_cost(row.arch, row.encoder, int(mine.image_size.iloc[0])), "minutes": row.minutes}


def _cost_text(c: dict, ref: dict) -> str:
    ratio = c["minutes"] / ref["minutes"] if ref["minutes"] and pd.notna(ref["minutes"]) else float("nan")
    return (f"at {c['gflops'] / ref['gflops']:.0%} of the best cell's GFLOPs per image ({c['gflops']:.2f} vs "
            f"{ref['gflops']:.2f}; {c['params'] / 1e6:.1f}M vs {ref['params'] / 1e6:.1f}M parameters; "
            f"{c['minutes']:.1f} vs {ref['minutes']:.1f} training minutes per run"
            + (f", {ratio:.1f}x" if pd.notna(ratio) else "") + ")")


def answer_base(results: str | Path, margin: float = 0.01) -> str:
    """Is DeepLabV3+_RN50 a strong base on every task, as a non-inferiority test: per task, its best loss against
    the task's best cell (among the poster's cells of that task with a complete run), within ``margin`` Dice, with
    its cost beside it (GFLOPs and parameters per image at the runs' image size, training minutes per run).

    The verdicts are :func:`seg_utils.stats.non_inferiority`'s: ``non-inferior`` when the one-sided 95% lower bound
    of (DeepLabV3+_RN50 - best cell), over seeds and test images, lies above ``-margin``; ``inferior`` when the
    two-sided interval lies wholly below ``-margin``; ``inconclusive`` otherwise.
    """
    cells = pd.concat([table_encoders(results), table_losses(results)], ignore_index=True)
    cells = cells[cells.status == "ok"].drop_duplicates(["dataset", "arch", "encoder", "loss"])
    runs, by_seed = select_runs(results), seeds_of(results)
    lines, verdicts, few = [], {}, MIN_SEEDS
    for dataset in GRID_DATASETS:
        task = cells[cells.dataset == dataset]
        base = task[(task.arch == "deeplabv3plus") & (task.encoder == "resnet50")]
        name = dataset_names(results)[dataset]
        if task.empty or base.empty:
            lines.append(f"- {name}: DeepLabV3+_RN50 has no complete run; no answer yet.")
            continue
        best, mine = task.loc[task.dice.idxmax()], base.loc[base.dice.idxmax()]
        who = f"DeepLabV3+_RN50 ({LOSS_NAMES[mine.loss]}) {mine.dice:.3f}"
        if _key(mine) == _key(best):
            verdicts[name] = "non-inferior"
            lines.append(f"- {name}: {who} is the best cell itself.")
            continue
        ni = non_inferiority(by_seed[_key(mine)], by_seed[_key(best)], margin=margin)
        verdicts[name], few = ni["verdict"], min(few, ni["n_seeds"])
        cost = _cost_text(_cost(runs, mine), _cost(runs, best))
        if ni["verdict"] == "non-inferior":
            said = f"non-inferior within {margin:g} {cost}"
        elif ni["verdict"] == "inferior":
            said = f"inferior by {-ni['diff']:.3f} [{-ni['ci_high']:.3f}, {-ni['ci_low']:.3f}], {cost}"
        else:
            said = f"inconclusive at margin {margin:g} (one-sided lower bound {ni['lower']:+.3f}), {cost}"
        seeds = f"{ni['n_seeds']} seeds" if ni["n_seeds"] > 1 else "one seed"
        lines.append(f"- {name}: {who} vs the best cell, {best.model} {LOSS_NAMES[best.loss]} {best.dice:.3f}: "
                     f"{ni['diff']:+.3f} [{ni['ci_low']:+.3f}, {ni['ci_high']:+.3f}] ({seeds}): {said}.")
    if len(verdicts) == len(GRID_DATASETS):
        good = [n for n, v in verdicts.items() if v == "non-inferior"]
        others = "; ".join(f"{v} on {n}" for n, v in verdicts.items() if v != "non-inferior")
        lines.append(f"- **DeepLabV3+_RN50 is non-inferior within {margin:g} Dice to the best cell on every task**, as "
                     "the poster concludes." if len(good) == len(verdicts) else
                     f"- **DeepLabV3+_RN50 is non-inferior within {margin:g} Dice on {len(good)} of {len(verdicts)} "
                     f"tasks** ({others}): at this scale the poster's conclusion is not shown everywhere.")
    if few < 2:
        lines.append("- One seed per configuration: the intervals cover the test images only, not training "
                     "variability; more seeds make these verdicts about the configurations.")
    elif few < MIN_SEEDS:
        lines.append(f"- {few} seeds per configuration: the seed stage of the intervals can only redraw those {few}; "
                     f"at least {MIN_SEEDS} make these verdicts about the configurations.")
    return "\n".join(lines)
