"""Which base to use on a user's data: the cheapest configuration that is non-inferior to the best, computed.

Among the configurations of the grid with complete runs, the best is the one with the highest mean Dice over seeds.
Every configuration is tested against it for non-inferiority within ``margin`` (:func:`seg_utils.stats.non_inferiority`:
two-stage bootstrap over seed pairs, then test images); the best is non-inferior to itself. The recommendation is the
cheapest non-inferior configuration, by GFLOPs per image, then parameters, then training minutes per epoch
(:func:`seg_utils.model.cost.model_cost`, the runs' history). With fewer than :data:`~seg_utils.stats.MIN_SEEDS` seeds
per configuration the test hardly covers training variability, and the recommendation says so. The ablation ladder's
verdict (:func:`.ablation.verdict`) names the data-driven options that helped.

:func:`recommend` returns the table (one row per configuration) and the Markdown answer; :func:`save_recommendation`
writes both, and ``summaries/recommendation.json``, whose ``run`` the predict notebook takes by default
(``run="recommended"``, :func:`seg_utils.study.run_folder.find_run`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.io import write_json
from ..model.cost import model_cost
from ..stats import MIN_SEEDS, hierarchical_ci, non_inferiority
from ..study.grid import LOSS_NAMES, config_name, model_label
from ..study.run_folder import RECOMMENDATION, read_history, read_metrics, read_spec
from .ablation import verdict
from .display import save_table
from .results import read_per_image

__all__ = ["RECOMMEND_COLUMNS", "recommend", "save_recommendation"]

RECOMMEND_COLUMNS = ["configuration", "model", "loss", "n_seeds", "dice", "ci_low", "ci_high", "seed_sd",
                     "vs_best", "vs_best_low", "vs_best_high", "verdict", "gflops", "params_m", "minutes_per_epoch",
                     "recommended", "run_dir"]


def _minutes_per_epoch(run_dirs: list[Path]) -> float:
    """Mean training minutes per epoch over the runs' history."""
    per = [read_history(d).seconds.mean() / 60 for d in run_dirs]
    return float(sum(per) / len(per)) if per else float("nan")


def _chosen_run(run_dirs: list[Path]) -> Path:
    """The seed a user would deploy: the highest validation Dice at its kept epoch (chosen on validation, never on
    the test images)."""
    def val_dice(d: Path) -> float:
        history, kept = read_history(d), read_metrics(d).get("best_epoch")
        row = history[history.epoch == kept] if kept in set(history.epoch) else history.tail(1)
        return float(row.val_dice.iloc[0])
    return max(run_dirs, key=val_dice)


def recommend(runs: pd.DataFrame, margin: float = 0.01, ladder: pd.DataFrame | None = None,
              image_size: int | None = None) -> tuple[pd.DataFrame, str]:
    """The cheapest configuration non-inferior to the best within ``margin``, with the evidence.

    Args:
        runs: :func:`seg_utils.study.run_grid`'s table (``arch``, ``encoder``, ``loss``, ``seed``, ``run_dir``, and
            ``status``: the complete runs count).
        margin: the Dice a cheaper configuration may lose and still count as no worse.
        ladder: :func:`.ablation.ablation_table`'s table, for the data-driven options that helped (optional).
        image_size: the input side the costs are counted at (default: the runs' own, from their spec).

    Returns:
        ``(table, markdown)``: :data:`RECOMMEND_COLUMNS`, sorted by Dice, ``recommended`` True on one row; and
        the answer in words. With no complete run the table is empty and the answer says so.
    """
    done = runs[runs.status.eq("complete")] if "status" in runs else runs
    done = done.assign(config=[config_name(a, e, lo) for a, e, lo in zip(done.arch, done.encoder, done.loss,
                                                                         strict=True)])
    if done.empty:
        return pd.DataFrame(columns=RECOMMEND_COLUMNS), "No configuration has a complete run yet: nothing to recommend."
    by_config = {name: {int(r.seed): read_per_image(r.run_dir) for r in group.itertuples()}
                 for name, group in done.groupby("config", sort=False)}
    dirs = {name: [Path(d) for d in group.run_dir] for name, group in done.groupby("config", sort=False)}
    first = done.drop_duplicates("config").set_index("config")
    size = image_size or int(read_spec(dirs[next(iter(dirs))][0])["image_size"])
    rows = []
    for name, by_seed in by_config.items():
        ci = hierarchical_ci(by_seed)
        arch, encoder, loss = first.loc[name, ["arch", "encoder", "loss"]]
        cost = model_cost(arch, encoder, size)
        rows.append({"configuration": name, "model": model_label(arch, encoder), "loss": LOSS_NAMES.get(loss, loss),
                     "n_seeds": ci["n_seeds"], "dice": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                     "seed_sd": ci["sd"], "gflops": cost["gflops"], "params_m": cost["params"] / 1e6,
                     "minutes_per_epoch": _minutes_per_epoch(dirs[name])})
    table = pd.DataFrame(rows).sort_values("dice", ascending=False, kind="stable").reset_index(drop=True)
    best = table.configuration.iloc[0]
    tests = {name: non_inferiority(by_config[name], by_config[best], margin=margin) for name in table.configuration}
    table["vs_best"] = [tests[n]["diff"] for n in table.configuration]
    table["vs_best_low"] = [tests[n]["ci_low"] for n in table.configuration]
    table["vs_best_high"] = [tests[n]["ci_high"] for n in table.configuration]
    table["verdict"] = ["best" if n == best else tests[n]["verdict"] for n in table.configuration]
    candidates = table[table.verdict.isin(["best", "non-inferior"])]
    chosen = candidates.sort_values(["gflops", "params_m", "minutes_per_epoch"], kind="stable").iloc[0]
    table["recommended"] = table.configuration.eq(chosen.configuration)
    table["run_dir"] = [str(_chosen_run(dirs[n])) for n in table.configuration]
    table = table[RECOMMEND_COLUMNS]
    table.attrs["title"] = "Recommendation: the cheapest configuration non-inferior to the best"
    table.attrs["notes"] = [f"non-inferior: the one-sided 95% lower bound of (configuration - best) is above "
                            f"-{margin:g} Dice (two-stage bootstrap: seeds, then test images); inferior: the 95% "
                            f"interval lies below -{margin:g}; inconclusive: neither. Costs at {size} px."]
    return table, _answer(table, tests, margin, ladder)


def _answer(table: pd.DataFrame, tests: dict[str, dict], margin: float, ladder: pd.DataFrame | None) -> str:
    best = table.iloc[0]
    chosen = table[table.recommended].iloc[0]
    seeds = int(table.n_seeds.min())
    lines = [f"**Recommended: {chosen.model} with {chosen.loss}** (`{chosen.configuration}`), Dice {chosen.dice:.3f} "
             f"[{chosen.ci_low:.3f}, {chosen.ci_high:.3f}] over {int(chosen.n_seeds)} seed(s), "
             f"{chosen.gflops:.1f} GFLOPs per image, {chosen.params_m:.1f} M parameters, "
             f"{chosen.minutes_per_epoch:.2f} min per epoch here."]
    if chosen.configuration == best.configuration:
        cheapest = chosen.gflops <= table.gflops.min()
        lines.append("It is the best configuration and the cheapest." if cheapest else
                     f"It is the best configuration, and no cheaper one is non-inferior to it within {margin:g} Dice.")
    else:
        t = tests[chosen.configuration]
        lines.append(f"The best is {best.model} with {best.loss} ({best.dice:.3f}); the recommended one is "
                     f"non-inferior within {margin:g} ({t['diff']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]) at "
                     f"{100 * chosen.gflops / best.gflops:.0f}% of its GFLOPs per image.")
    others = table[~table.recommended & table.verdict.ne("best")]
    for r in others.itertuples():
        how = {"inferior": f"inferior by {-r.vs_best:.3f} [{-r.vs_best_high:.3f}, {-r.vs_best_low:.3f}]",
               "non-inferior": f"non-inferior ({r.vs_best:+.3f}), at {r.gflops:.1f} GFLOPs",
               "inconclusive": f"inconclusive ({r.vs_best:+.3f} [{r.vs_best_low:+.3f}, {r.vs_best_high:+.3f}]): "
                               "more seeds or test images would decide"}[r.verdict]
        lines.append(f"- {r.model} {r.loss}: {how}.")
    notes = []
    if seeds < MIN_SEEDS:
        notes.append(f"{'One seed' if seeds < 2 else f'{seeds} seeds'} per configuration: the intervals do not cover "
                     "another training run well; another seed can change the answer (use budget standard or n_seeds "
                     f">= {MIN_SEEDS}).")
    run = f"<results>/runs/{Path(chosen.run_dir).parent.name}/{Path(chosen.run_dir).name}"
    notes.append(f"Apply it to new images: `python -m seg_utils predict --run {run} --images <folder> --out "
                 f"<folder>` (add `--masks <folder>` for Dice); export it: `python -m seg_utils export --run {run} "
                 "--format onnx`; or the predict notebook with `run: recommended` (`<results>`: this results folder; "
                 "the run is the seed with the best validation Dice).")
    if ladder is not None and not ladder.empty:
        notes.append("Data-driven options (the ablation ladder):\n\n" + verdict(ladder))
    return "\n\n".join([*lines[:2], *(["\n".join(lines[2:])] if lines[2:] else []), *notes])


def save_recommendation(table: pd.DataFrame, answer: str, results: str | Path, name: str) -> list[Path]:
    """Write the table (``tables/recommendation_<name>.csv|.md``) and ``summaries/recommendation.json`` (the data's
    name, the recommended configuration and run relative to ``results``, and the answer)."""
    results = Path(results).resolve()
    files = save_table(table.drop(columns="run_dir"), f"recommendation_{name}", results)
    if len(table):
        chosen = table[table.recommended].iloc[0]
        run = Path(chosen.run_dir).resolve()
        files.append(write_json(results / "summaries" / RECOMMENDATION, {
            "data": name, "configuration": chosen.configuration, "dice": float(chosen.dice),
            "run": str(run.relative_to(results / "runs")) if run.is_relative_to(results / "runs") else run.name,
            "answer": answer}))
    return files
