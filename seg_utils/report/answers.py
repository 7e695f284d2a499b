"""The poster's questions answered in words, computed from the tables (never typed): which encoder wins, which loss
wins per task, whether DeepLabV3+_RN50 is a strong base on every task, and where our ranking agrees with the
poster's.

Each function returns Markdown for the end of a table notebook; a configuration without a complete run is named as
such, and nothing is claimed from it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..study.grid import ARCH_NAMES, DATASET_NAMES, ENCODER_NAMES, GRID_DATASETS, LOSS_NAMES, POSTER_ARCHS
from .tables import compare_encoders, compare_losses, table_encoders, table_losses

__all__ = ["answer_encoders", "answer_losses", "answer_base"]


def _p(p: float) -> str:
    return f"p_holm = {p:.2g}" if pd.notna(p) else "no test"


def _sig(row: pd.Series) -> str:
    return "significant" if bool(row.significant) else "not significant"


def _ranking(df: pd.DataFrame, column: str, by: str) -> list[str]:
    """Names in ``column`` by ``by`` from best to worst (NaN last)."""
    return df.sort_values(by, ascending=False, na_position="last")[column].tolist()


def answer_encoders(results: str | Path) -> str:
    """Table 1 in words: per architecture, which encoder wins, by how much (paired, Holm-adjusted), and whether the
    ranking agrees with the poster's."""
    table = table_encoders(results)
    tests = compare_encoders(results)
    lines = []
    for arch in POSTER_ARCHS:
        rows = table[(table.arch == arch)]
        ok = rows[rows.status == "ok"]
        name = ARCH_NAMES[arch]
        if len(ok) < 2:
            lines.append(f"- **{name}**: {len(ok)} of {len(rows)} encoders have a complete run; no ranking yet.")
            continue
        ours = [ENCODER_NAMES[e] for e in _ranking(ok, "encoder", "dice")]
        poster = [ENCODER_NAMES[e] for e in _ranking(rows, "encoder", "poster")]
        best, second = ok.sort_values("dice", ascending=False).iloc[:2].itertuples()
        pair = tests[(tests.comparison == f"encoders within {name}")
                     & tests.a.isin([best.model, second.model]) & tests.b.isin([best.model, second.model])]
        how = ""
        if len(pair) and pd.notna(pair.iloc[0]["diff"]):
            t = pair.iloc[0]
            sign = 1 if t.b == best.model else -1
            lo, hi = sorted((sign * t.diff_ci_low, sign * t.diff_ci_high))
            how = (f" ({sign * t['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] paired over {second.model.split('_')[1]}, "
                   f"{_p(t.p_holm)}, {_sig(t)})")
        agree = "agrees with" if ours == [p for p in poster if p in ours] else "differs from"
        lines.append(f"- **{name}**: {ENCODER_NAMES[best.encoder]} wins with Dice {best.dice:.3f}{how}. Our order "
                     f"{' > '.join(ours)} {agree} the poster's {' > '.join(poster)}.")
    ok = table[table.status == "ok"]
    if len(ok):
        top = ok.loc[ok.dice.idxmax()]
        lines.append(f"- Best cell: {top.model} {top.dice:.3f} [{top.ci_low:.3f}, {top.ci_high:.3f}] (the poster's "
                     f"best: U-Net_RN50 0.878).")
    missing = table[table.status != "ok"]
    if len(missing):
        lines.append(f"- Not complete: {', '.join(f'{r.model} ({r.status})' for r in missing.itertuples())}.")
    return "\n".join(lines)


def answer_losses(results: str | Path) -> str:
    """Table 2 in words: per task and model, which loss wins (paired, Holm-adjusted), and agreement with the
    poster's winner."""
    table = table_losses(results)
    tests = compare_losses(results)
    lines, agree, total = [], 0, 0
    for (dataset, model), rows in table.groupby(["dataset", "model"], sort=False):
        where = f"{model} on {DATASET_NAMES[dataset]}"
        ok = rows[rows.status == "ok"].set_index("loss")
        poster = rows.set_index("loss").poster
        poster_winner = LOSS_NAMES[poster.idxmax()] if poster.notna().all() else "?"
        if len(ok) < 2:
            lines.append(f"- {where}: {len(ok)} of 2 losses have a complete run (the poster: {poster_winner}).")
            continue
        t = tests[tests.comparison == f"losses, {model} on {DATASET_NAMES[dataset]}"].iloc[0]
        winner = "logcosh_dice" if t["diff"] > 0 else "bce"
        total += 1
        agree += LOSS_NAMES[winner] == poster_winner
        lines.append(f"- {where}: {LOSS_NAMES[winner]} wins ({ok.dice['bce']:.3f} BCE vs {ok.dice['logcosh_dice']:.3f}"
                     f" Log-Cosh Dice; {t['diff']:+.3f} [{t.diff_ci_low:+.3f}, {t.diff_ci_high:+.3f}], {_p(t.p_holm)}, "
                     f"{_sig(t)}); the poster: {poster_winner}.")
    if total:
        lines.append(f"- Our loss winner agrees with the poster's in {agree} of {total} rows (a winner whose "
                     "difference is not significant is a tie at this scale).")
    return "\n".join(lines)


def answer_base(results: str | Path) -> str:
    """Is DeepLabV3+_RN50 a strong base on every task: is its best loss's mean within the 95% interval of the task's
    best cell (among the poster's cells of that task with a complete run)?"""
    cells = pd.concat([table_encoders(results), table_losses(results)], ignore_index=True)
    cells = cells[cells.status == "ok"].drop_duplicates(["dataset", "arch", "encoder", "loss"])
    lines, verdicts = [], []
    for dataset in GRID_DATASETS:
        task = cells[cells.dataset == dataset]
        base = task[(task.arch == "deeplabv3plus") & (task.encoder == "resnet50")]
        name = DATASET_NAMES[dataset]
        if task.empty or base.empty:
            lines.append(f"- {name}: DeepLabV3+_RN50 has no complete run; no answer yet.")
            verdicts.append(None)
            continue
        best = task.loc[task.dice.idxmax()]
        mine = base.loc[base.dice.idxmax()]
        within = bool(mine.dice >= best.ci_low)
        verdicts.append(within)
        lines.append(f"- {name}: DeepLabV3+_RN50 ({LOSS_NAMES[mine.loss]}) {mine.dice:.3f}; best cell {best.model} "
                     f"{LOSS_NAMES[best.loss]} {best.dice:.3f} [{best.ci_low:.3f}, {best.ci_high:.3f}]: "
                     + ("within its interval." if within else f"below it by {best.ci_low - mine.dice:.3f}."))
    done = [v for v in verdicts if v is not None]
    if len(done) == len(GRID_DATASETS):
        lines.append("- **DeepLabV3+_RN50 is within the interval of the best cell on every task**, as the poster "
                     "concludes." if all(done) else "- **DeepLabV3+_RN50 is not within the best cell's interval on "
                     f"every task** ({sum(done)} of {len(done)}): at this scale the poster's conclusion does not hold "
                     "everywhere.")
    return "\n".join(lines)
