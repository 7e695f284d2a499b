"""The poster's tables, recomputed from the run folders, each beside the poster's own numbers.

Every score table has one row per configuration (dataset, architecture, encoder, loss) and the columns of
:data:`SCORE_COLUMNS`: our mean per-image Dice (seeds pooled per image, :func:`seg_utils.stats.pool_seeds`), its
95% bootstrap interval (:func:`seg_utils.stats.run_ci`), the mean and sd across seeds, the poster's value, the
difference (ours - poster) and whether the poster's value lies inside our interval. A configuration without a
complete run stays in the table as ``missing`` with NaN values, and the table's notes say so.

The tables and their comparisons (:func:`seg_utils.stats.compare_all`, Holm-adjusted within each table):

- Table 1 (:func:`table_encoders`, :func:`compare_encoders`): ISIC 2018, BCE, U-Net / DeepLabV3+ x VGG19 /
  ResNet50 / DenseNet121; each pair of encoders within an architecture and the two architectures per encoder.
- Table 2 (:func:`table_losses`, :func:`compare_losses`): BCE vs Log-Cosh Dice per ResNet50 model and dataset.
- The CBIS-DDSM literature comparison (:func:`table_literature`) and the data-quality counts
  (:func:`quality_table`, :func:`table_quality`).

Notes and the title travel in ``DataFrame.attrs`` (``title``, ``notes``); :func:`save_table` writes them with the
Dice protocol (:data:`seg_utils.stats.DICE_PROTOCOL`) into the Markdown caption.
"""

from __future__ import annotations

import html
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import atomic_write, read_json, write_csv
from .reference import poster_dice, poster_literature, poster_quality
from .runs import collect_runs
from .stats import COMPARE_COLUMNS, DICE_PROTOCOL, compare_all, pool_seeds, run_ci, seed_summary
from .study import DATASET_NAMES, GRID_DATASETS, LOSS_NAMES, poster_grid

__all__ = ["SCORE_COLUMNS", "ARCH_NAMES", "ENCODER_NAMES", "model_label", "select_runs", "score_runs",
           "dataset_table", "table_encoders", "table_losses", "compare_encoders", "compare_losses",
           "table_literature", "quality_table", "quality_checks", "table_quality", "poster_layout", "to_markdown",
           "save_table", "data_notes", "row_labels", "per_image_of", "QUALITY_COLUMNS", "format_value", "show",
           "dice_protocol"]

ARCH_NAMES = {"unet": "U-Net", "deeplabv3plus": "DeepLabV3+"}
ENCODER_NAMES = {"vgg19": "VGG19", "resnet50": "ResNet50", "densenet121": "DenseNet121"}
_ENCODER_SHORT = {"vgg19": "VGG19", "resnet50": "RN50", "densenet121": "DN121"}
_KEY = ["dataset", "arch", "encoder", "loss"]

SCORE_COLUMNS = ["dataset", "model", "loss", "dice", "ci_low", "ci_high", "poster", "diff", "poster_in_ci", "n_images",
                 "n_seeds", "seed_mean", "seed_sd", "status", "arch", "encoder"]
"""Columns of every score table (see the module docstring)."""

_ARCHS = ("unet", "deeplabv3plus")
_ENCODERS = ("vgg19", "resnet50", "densenet121")
_LOSSES = ("bce", "logcosh_dice")
#: Table 2's rows in the poster's order.
_TABLE2 = [("isic2018", "deeplabv3plus"), ("isic2018", "unet"), ("cbis_ddsm", "unet"), ("cbis_ddsm", "deeplabv3plus"),
           ("chest_xray", "unet"), ("chest_xray", "deeplabv3plus")]


def model_label(arch: str, encoder: str) -> str:
    """The poster's name of a model, e.g. ``DeepLabV3+_RN50``."""
    return f"{ARCH_NAMES.get(arch, arch)}_{_ENCODER_SHORT.get(encoder, encoder)}"


# --------------------------------------------------------------------------------------------- runs

_OPTION_DEFAULTS = {"intensity": "none", "augment": "none", "schedule": "constant"}


def select_runs(results: str | Path, dataset: str | None = None) -> pd.DataFrame:
    """The complete runs under ``results/runs`` that stand for each dataset's grid, one per configuration and seed.

    A run counts when its data-driven options (intensity, augmentation, schedule) are the grid's: those of the
    dataset notebook's parameters in ``summaries/dataset_<dataset>.json``, or the poster's (none, none, constant)
    where no summary exists yet. So the runs of an ablation ladder (same configuration, other options) never stand
    in for the grid's, whatever state the folder is in. Of several counting runs of one configuration and seed, one
    the summary lists as a grid run wins, then the one whose ``metrics.json`` is newest (e.g. other epochs).

    Returns:
        :func:`seg_utils.runs.collect_runs`'s columns (``dataset, arch, encoder, loss, seed, ..., run_dir``), one
        row per configuration and seed; empty (with those key columns) when there is no run.
    """
    runs = collect_runs(results, dataset)
    if runs.empty:
        return pd.DataFrame(columns=[*_KEY, "seed", "run_dir"])
    keep, listed = np.zeros(len(runs), bool), set()
    for ds in runs.dataset.unique():
        path = Path(results) / "summaries" / f"dataset_{ds}.json"
        summary = read_json(path) if path.is_file() else {}
        options = {k: summary.get("parameters", {}).get(k, v) for k, v in _OPTION_DEFAULTS.items()}
        same = np.ones(len(runs), bool)
        for field, value in options.items():
            same &= (runs[field] if field in runs else pd.Series(_OPTION_DEFAULTS[field], index=runs.index)) \
                .eq(value).to_numpy()
        keep |= (runs.dataset == ds).to_numpy() & same
        listed |= {Path(r["run_dir"]).name for r in summary.get("runs", [])}
    runs = runs[keep].copy()
    runs["_listed"] = runs.run_dir.map(lambda d: Path(d).name in listed)
    runs["_mtime"] = [(Path(d) / "metrics.json").stat().st_mtime_ns for d in runs.run_dir]
    runs = runs.sort_values(["_listed", "_mtime"], kind="stable").drop_duplicates([*_KEY, "seed"], keep="last")
    return runs.drop(columns=["_listed", "_mtime"]).sort_values([*_KEY, "seed"]).reset_index(drop=True)


def _per_image(run_dir: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "per_image.csv", dtype={"image_id": str})


def _pooled(runs: pd.DataFrame) -> dict[tuple, tuple[pd.DataFrame, dict[int, pd.DataFrame]]]:
    """``{(dataset, arch, encoder, loss): (seed-pooled per-image table, {seed: per-image table})}``."""
    out = {}
    for key, group in runs.groupby(_KEY, sort=False):
        by_seed = {int(r.seed): _per_image(r.run_dir) for r in group.itertuples()}
        out[tuple(key)] = (pool_seeds(by_seed), by_seed)
    return out


def _in_ci(low: float, high: float, value: float | None) -> Any:
    if value is None or not np.isfinite(low) or not np.isfinite(high):
        return pd.NA
    return bool(low <= value <= high)


def score_runs(runs: pd.DataFrame, configs: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Score each configuration of ``configs`` from the runs in ``runs``.

    Args:
        runs: one row per run with columns ``dataset, arch, encoder, loss, seed, run_dir`` (a
            :func:`select_runs` or :func:`seg_utils.study.run_grid` table).
        configs: ``(dataset, arch, encoder, loss)`` in the order the table shows them.

    Returns:
        DataFrame with columns :data:`SCORE_COLUMNS`, one row per configuration; ``status`` is ``ok`` or
        ``missing`` (no complete run: NaN values). ``attrs["notes"]`` lists the missing configurations.
    """
    pooled = _pooled(runs) if len(runs) else {}
    rows, missing = [], []
    for dataset, arch, encoder, loss in configs:
        poster = poster_dice(dataset, arch, encoder, loss)
        row = {"dataset": dataset, "model": model_label(arch, encoder), "arch": arch, "encoder": encoder,
               "loss": loss, "status": "missing", "n_seeds": 0, "n_images": 0, "poster": poster}
        hit = pooled.get((dataset, arch, encoder, loss))
        if hit is None:
            missing.append(f"{DATASET_NAMES.get(dataset, dataset)} {row['model']} {LOSS_NAMES.get(loss, loss)}")
        else:
            table, by_seed = hit
            ci = run_ci(table, "dice")
            spread = seed_summary(by_seed)
            row.update({"status": "ok", "n_seeds": len(by_seed), "n_images": ci["n"], "dice": ci["mean"],
                        "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "seed_mean": spread["mean"],
                        "seed_sd": spread["sd"]})
        rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=SCORE_COLUMNS)
    df["diff"] = df.dice - df.poster.astype(float)
    df["poster_in_ci"] = pd.array([_in_ci(lo, hi, p) for lo, hi, p in zip(df.ci_low, df.ci_high, df.poster,
                                                                               strict=True)], dtype="boolean")
    df.attrs["notes"] = ([f"no complete run, shown as missing: {', '.join(missing)}"] if missing else [])
    df.attrs["hidden"] = ["arch", "encoder"] + (["seed_mean", "seed_sd"] if df.n_seeds.max() <= 1 else [])
    return df


def dataset_table(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per-configuration Dice with CI of one dataset's grid (:func:`seg_utils.study.poster_grid`), seeds pooled.

    Args:
        runs: the dataset notebook's :func:`seg_utils.study.run_grid` table.
        dataset: the dataset.

    Returns:
        See :func:`score_runs`.
    """
    df = score_runs(runs, [(dataset, *c) for c in poster_grid(dataset)])
    df.attrs["title"] = f"Dice per configuration, {DATASET_NAMES[dataset]}"
    return df


# ------------------------------------------------------------------------------------------- tables

def data_notes(results: str | Path, datasets: tuple[str, ...] = GRID_DATASETS) -> list[str]:
    """One note per dataset on where its runs' data came from (read from the dataset notebook's summary)."""
    notes = []
    for ds in datasets:
        path = Path(results) / "summaries" / f"dataset_{ds}.json"
        if not path.is_file():
            continue
        p = read_json(path).get("parameters", {})
        src = ("SYNTHETIC demo data (the numbers only show that the pipeline works; they are not comparable with "
               "the poster)" if not p.get("data_root") else f"data under {p['data_root']}")
        notes.append(f"{DATASET_NAMES[ds]}: {src}; {p.get('image_size')} px, up to {p.get('epochs')} epochs, "
                     f"weights {p.get('weights')}, limit {p.get('limit') or 'none'}.")
    return notes


def _finish(df: pd.DataFrame, title: str, results: str | Path, datasets: tuple[str, ...]) -> pd.DataFrame:
    df.attrs["title"] = title
    df.attrs["notes"] = list(df.attrs.get("notes", [])) + data_notes(results, datasets)
    return df


def table_encoders(results: str | Path) -> pd.DataFrame:
    """Table 1: ISIC 2018, BCE, U-Net and DeepLabV3+ with VGG19, ResNet50 and DenseNet121 (see :func:`score_runs`)."""
    configs = [("isic2018", a, e, "bce") for a in _ARCHS for e in _ENCODERS]
    df = score_runs(select_runs(results, "isic2018"), configs)
    return _finish(df, "Table 1: encoder comparison (ISIC 2018, binary cross-entropy, Dice)", results, ("isic2018",))


def table_losses(results: str | Path) -> pd.DataFrame:
    """Table 2: BCE vs Log-Cosh Dice per ResNet50 model and dataset, in the poster's row order."""
    configs = [(ds, a, "resnet50", loss) for ds, a in _TABLE2 for loss in _LOSSES]
    df = score_runs(select_runs(results), configs)
    return _finish(df, "Table 2: loss comparison (Dice)", results, GRID_DATASETS)


def _compare(results: str | Path, dataset: str | None, pairs: list[tuple[tuple, tuple, str]],
             alpha: float, with_loss: bool) -> pd.DataFrame:
    pooled = {k: v[0] for k, v in _pooled(select_runs(results, dataset)).items()}

    def name(c: tuple) -> str:
        return f"{DATASET_NAMES.get(c[0], c[0])} {model_label(c[1], c[2])} {LOSS_NAMES.get(c[3], c[3])}"

    def short(c: tuple) -> str:  # the comparison column names the rest
        return f"{model_label(c[1], c[2])} {LOSS_NAMES.get(c[3], c[3])}" if with_loss else model_label(c[1], c[2])

    present = [(a, b, what) for a, b, what in pairs if a in pooled and b in pooled]
    absent = [(a, b, what) for a, b, what in pairs if not (a in pooled and b in pooled)]
    if present:
        table = compare_all({name(k): v for k, v in pooled.items()}, [(name(a), name(b)) for a, b, _ in present],
                            alpha=alpha)
    else:
        table = pd.DataFrame(columns=COMPARE_COLUMNS)
    table.insert(0, "comparison", [what for _, _, what in present])
    table["a"], table["b"] = [short(a) for a, _, _ in present], [short(b) for _, b, _ in present]
    gaps = pd.DataFrame({"comparison": [w for _, _, w in absent], "a": [short(a) for a, _, _ in absent],
                         "b": [short(b) for _, b, _ in absent], "significant": False})
    out = pd.concat([table, gaps], ignore_index=True) if len(gaps) else table
    out["significant"] = out["significant"].astype(bool)
    notes = [f"diff = b - a (mean of per-image differences); p: two-sided Wilcoxon signed-rank, Holm-adjusted over "
             f"the {len(present)} comparisons of this table; significant = p_holm < {alpha}."]
    if absent:
        notes.append(f"not compared (a configuration has no complete run): {len(absent)} pair(s), shown with NaN.")
    out.attrs["notes"] = notes
    return out.reindex(columns=["comparison", *COMPARE_COLUMNS])


def compare_encoders(results: str | Path, alpha: float = 0.05) -> pd.DataFrame:
    """Table 1's paired comparisons: every pair of encoders within each architecture, and U-Net vs DeepLabV3+ per
    encoder, on the same ISIC 2018 test images; Holm-adjusted as one family.

    Returns:
        DataFrame with columns ``comparison`` and :data:`seg_utils.stats.COMPARE_COLUMNS`.
    """
    pairs = [(("isic2018", a, e1, "bce"), ("isic2018", a, e2, "bce"), f"encoders within {ARCH_NAMES[a]}")
             for a in _ARCHS for e1, e2 in combinations(_ENCODERS, 2)]
    pairs += [(("isic2018", "unet", e, "bce"), ("isic2018", "deeplabv3plus", e, "bce"),
               f"architectures with {ENCODER_NAMES[e]}") for e in _ENCODERS]
    df = _compare(results, "isic2018", pairs, alpha, with_loss=False)
    return _finish(df, "Table 1: paired comparisons (ISIC 2018, BCE)", results, ("isic2018",))


def compare_losses(results: str | Path, alpha: float = 0.05) -> pd.DataFrame:
    """Table 2's paired comparisons: BCE (a) vs Log-Cosh Dice (b) per model and dataset; Holm-adjusted together.

    Returns:
        DataFrame with columns ``comparison`` and :data:`seg_utils.stats.COMPARE_COLUMNS`.
    """
    pairs = [((ds, a, "resnet50", "bce"), (ds, a, "resnet50", "logcosh_dice"),
              f"losses, {model_label(a, 'resnet50')} on {DATASET_NAMES[ds]}") for ds, a in _TABLE2]
    df = _compare(results, None, pairs, alpha, with_loss=True)
    return _finish(df, "Table 2: paired comparisons, BCE vs Log-Cosh Dice", results, GRID_DATASETS)


def table_literature(results: str | Path) -> pd.DataFrame:
    """The poster's CBIS-DDSM literature comparison with our best CBIS-DDSM configuration added.

    Returns:
        DataFrame with columns ``work, model, loss, dice, ci_low, ci_high, poster, diff, setting, source``:
        the literature rows as reported on the poster (``source`` = ``poster``), then ``this study``: the
        configuration with the highest mean Dice among our CBIS-DDSM runs, its interval, and the poster's value
        for that same configuration (NaN row when there is no CBIS-DDSM run).
    """
    lit = poster_literature()
    lit = lit.assign(ci_low=np.nan, ci_high=np.nan, poster=np.nan, diff=np.nan, source="poster")
    scores = score_runs(select_runs(results, "cbis_ddsm"), [("cbis_ddsm", *c) for c in poster_grid("cbis_ddsm")])
    ok = scores[scores.status == "ok"]
    if len(ok):
        best = ok.loc[ok.dice.idxmax()]
        ours = {"work": "this study", "model": f"{ARCH_NAMES[best.arch]} ({ENCODER_NAMES[best.encoder]})",
                "loss": LOSS_NAMES.get(best.loss, best.loss), "dice": best.dice, "ci_low": best.ci_low,
                "ci_high": best.ci_high, "poster": best.poster, "diff": best["diff"],
                "setting": f"best of our {len(ok)} CBIS-DDSM configurations; {int(best.n_images)} test images, "
                           f"{int(best.n_seeds)} seed(s)", "source": "this study"}
        notes = []
    else:
        ours = {"work": "this study", "model": "", "loss": "", "setting": "no complete CBIS-DDSM run",
                "source": "this study"}
        notes = ["no complete CBIS-DDSM run: the row 'this study' is missing (NaN)."]
    df = pd.concat([lit, pd.DataFrame([ours])], ignore_index=True)
    df = df[["work", "model", "loss", "dice", "ci_low", "ci_high", "poster", "diff", "setting", "source"]]
    df.attrs["notes"] = notes + ["Literature values are as reported on the poster, not recomputed; their test sets "
                                 "and protocols differ (see 'setting')."]
    return _finish(df, "CBIS-DDSM masses: literature comparison (Dice)", results, ("cbis_ddsm",))


# ------------------------------------------------------------------------------------------ quality

QUALITY_COLUMNS = ["dataset", "split", "source", "starting", "excluded", "final", "used", "poster_starting",
                   "poster_final", "diff_final"]


def quality_table(data: Any) -> pd.DataFrame:
    """Poster-style data-quality counts of one prepared dataset: starting -> final per split, beside the poster's.

    Args:
        data: :class:`seg_utils.runs.PreparedData` (its ``report``, ``manifest`` and ``clean``).

    Returns:
        DataFrame with columns :data:`QUALITY_COLUMNS`: ``starting`` manifest rows (orphans included),
        ``excluded`` by the inspection, ``final`` clean rows, ``used`` rows the runs use (after ``limit``), the
        poster's counts and ``diff_final`` (ours - poster).
    """
    summary = data.report.summary
    sources = data.manifest.groupby("split").source.agg(lambda s: ", ".join(sorted(set(s))))
    used = data.clean.groupby("split").size()
    ours = pd.DataFrame({"dataset": data.dataset, "split": summary.split, "source": summary.split.map(sources),
                         "starting": summary.starting, "excluded": summary.starting - summary.final,
                         "final": summary.final, "used": summary.split.map(used).fillna(0).astype(int)})
    ref = poster_quality()
    ref = ref[ref.dataset == data.dataset].rename(columns={"starting": "poster_starting", "final": "poster_final",
                                                           "source": "poster_source"})
    df = ours.merge(ref[["split", "poster_starting", "poster_final", "poster_source"]], on="split", how="outer")
    df["dataset"] = data.dataset
    df["source"] = df.source.fillna(df.poster_source)
    df["diff_final"] = df.final - df.poster_final
    order = {"train": 0, "val": 1, "test": 2}
    df = df.sort_values("split", key=lambda s: s.map(order)).reset_index(drop=True)[QUALITY_COLUMNS]
    counts = ["starting", "excluded", "final", "used", "poster_starting", "poster_final", "diff_final"]
    df[counts] = df[counts].astype("Int64")  # counts stay integers beside the poster's blanks
    df.attrs["title"] = f"Data quality inspection, {DATASET_NAMES.get(data.dataset, data.dataset)}"
    df.attrs["notes"] = ["starting: manifest rows (images and masks, orphans included); final: after the "
                         "inspection; used: what the runs train and test on (after limit); poster: the poster's "
                         "counts (blank where it gives none)."]
    return df


def quality_checks(report: Any) -> pd.DataFrame:
    """Findings of the inspection counted by check and action, one column per split.

    Returns:
        DataFrame with columns ``check, action`` and one count column per split (``train``, ``val``, ``test``
        as present), plus ``total``; one row ``(none)`` with total 0 when nothing was found.
    """
    f = report.findings
    if f.empty:
        df = pd.DataFrame({"check": ["(none)"], "action": ["-"], "total": [0]})
        df.attrs["notes"] = ["the inspection found nothing to report or exclude."]
        return df
    df = f.groupby(["check", "action", "split"]).size().unstack("split", fill_value=0)
    df = df[[s for s in ("train", "val", "test") if s in df.columns]]
    df["total"] = df.sum(axis=1)
    df = df.reset_index()
    df.columns.name = None
    df.attrs["title"] = "Findings of the data-quality inspection by check"
    return df


def table_quality(results: str | Path) -> pd.DataFrame:
    """The data-quality table of all three datasets, from the dataset notebooks' ``tables/quality_<dataset>.csv``.

    A dataset whose notebook has not run shows only the poster's counts.

    Returns:
        DataFrame with columns :data:`QUALITY_COLUMNS`.
    """
    frames, notes = [], []
    ref = poster_quality()
    for ds in GRID_DATASETS:
        path = Path(results) / "tables" / f"quality_{ds}.csv"
        if path.is_file():
            frames.append(pd.read_csv(path))
        else:
            notes.append(f"{DATASET_NAMES[ds]}: no quality table (run its dataset notebook); poster counts only.")
            r = ref[ref.dataset == ds]
            frames.append(pd.DataFrame({"dataset": ds, "split": r.split, "source": r.source,
                                        "poster_starting": r.starting, "poster_final": r.final}))
    df = pd.concat(frames, ignore_index=True).reindex(columns=QUALITY_COLUMNS)
    df.attrs["notes"] = notes
    return _finish(df, "Data quality inspection: counts per split, ours beside the poster's", results, GRID_DATASETS)


# ------------------------------------------------------------------------------------------ display

def poster_layout(df: pd.DataFrame, index: str | list[str], columns: str) -> pd.DataFrame:
    """A score table in the poster's layout, each cell ``ours [ci_low, ci_high] (poster P)``.

    Args:
        df: a score table (:data:`SCORE_COLUMNS`).
        index: row key(s), e.g. ``"arch"`` (Table 1) or ``["dataset", "model"]`` (Table 2).
        columns: column key, e.g. ``"encoder"`` or ``"loss"``.
    """
    def cell(r: pd.Series) -> str:
        ours = "missing" if r.status != "ok" else f"{r.dice:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
        if r.status == "ok" and r.n_seeds > 1:
            ours += f" ± {r.seed_sd:.3f} sd over {r.n_seeds} seeds"
        return ours + ("" if pd.isna(r.poster) else f" (poster {r.poster:.3f})")

    names = {"arch": ARCH_NAMES, "encoder": ENCODER_NAMES, "loss": LOSS_NAMES, "dataset": DATASET_NAMES}
    shown = df.assign(cell=df.apply(cell, axis=1))
    for col, mapping in names.items():
        shown[col] = shown[col].map(lambda v, m=mapping: m.get(v, v))
    keys = [index] if isinstance(index, str) else list(index)
    out = shown.pivot_table(index=keys, columns=columns, values="cell", aggfunc="first", sort=False)
    out.columns.name = None
    out = out.reset_index()
    out.attrs = {"title": df.attrs.get("title", ""), "notes": list(df.attrs.get("notes", []))}
    return out


def row_labels(df: pd.DataFrame) -> list[str]:
    """Short row labels of a table: the parts of dataset / model / loss that vary between its rows (e.g.
    ``U-Net_RN50 · BCE``); ``work: model`` for the literature table."""
    if "label" in df.columns:
        return df["label"].astype(str).tolist()
    if "work" in df.columns:
        return [f"{w}: {m}" if m else str(w) for w, m in zip(df["work"], df["model"].fillna(""), strict=True)]
    parts = [c for c in ("dataset", "model", "loss") if c in df.columns and df[c].nunique() > 1] or ["model"]
    names = {"dataset": DATASET_NAMES, "loss": LOSS_NAMES}
    return [" · ".join(str(names.get(c, {}).get(r[c], r[c])) for c in parts) for _, r in df.iterrows()]


def per_image_of(results: str | Path, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{row label: seed-pooled per-image table}`` of the configurations of a score table that have runs.

    Args:
        results: the results folder.
        df: a score table (:data:`SCORE_COLUMNS`).

    Returns:
        Per-image tables with columns ``image_id, dice, n_seeds`` (:func:`seg_utils.stats.pool_seeds`), keyed by
        :func:`row_labels`, in the table's order.
    """
    pooled = _pooled(select_runs(results))
    out = {}
    for label, row in zip(row_labels(df), df.itertuples(), strict=True):
        hit = pooled.get((row.dataset, row.arch, row.encoder, row.loss))
        if hit is not None:
            out[label] = hit[0]
    return out


def format_value(value: Any, column: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if column.startswith("p_"):
            return f"{value:.3g}"
        if float(value).is_integer() and column in ("starting", "final", "excluded", "used", "poster_starting",
                                                    "poster_final", "diff_final", "n"):
            return str(int(value))
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table: floats to 3 decimals (p-values to 3 significant digits), NaN as a dash,
    booleans as yes/no."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(format_value(v, c) for v, c in zip(row, cols, strict=True)) + " |")
    return "\n".join(lines)


def show(df: pd.DataFrame, columns: list[str] | None = None, precision: int = 3):
    """A table for reading in a notebook: floats to ``precision`` decimals, NaN as a dash, booleans as yes/no, text
    left-aligned, no index, and the table's title and notes as its caption.

    Args:
        df: any table; the columns named in ``df.attrs["hidden"]`` (e.g. the raw arch / encoder keys beside the
            model name, the seed spread of single-seed tables) are left out of the display.
        columns: show only these columns (default: all but the hidden ones).
        precision: decimals of floats.

    Returns:
        A :class:`pandas.io.formats.style.Styler` (the CSV keeps every column at full precision).
    """
    hidden = set(df.attrs.get("hidden", []))
    shown = df[columns] if columns is not None else df[[c for c in df.columns if c not in hidden]]
    shown = shown.copy()
    for col in shown.columns:
        if shown[col].dtype == bool or str(shown[col].dtype) == "boolean":
            shown[col] = shown[col].map(lambda v: "—" if v is pd.NA else ("yes" if v else "no"))
    is_text = pd.api.types.is_object_dtype, pd.api.types.is_string_dtype
    text = [c for c in shown.columns if any(f(shown[c]) for f in is_text)]
    parts = [f"<b>{html.escape(df.attrs['title'])}</b>"] if df.attrs.get("title") else []
    parts += [f"Note: {html.escape(n)}" for n in df.attrs.get("notes", [])]
    styler = shown.style.format(precision=precision, na_rep="—").hide(axis="index")
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    styler = styler.set_table_styles([{"selector": "caption", "props": "caption-side: top; text-align: left; "
                                                                        "font-size: 0.9em; color: #444"}])
    return styler.set_caption("<br>".join(parts)) if parts else styler


def dice_protocol():
    """The Dice protocol (:data:`seg_utils.stats.DICE_PROTOCOL`) as Markdown, for display in a notebook."""
    from IPython.display import Markdown

    return Markdown(f"**Dice protocol.** {DICE_PROTOCOL}")


def save_table(df: pd.DataFrame, name: str, results: str | Path, caption: str | None = None) -> list[Path]:
    """Write ``<results>/tables/<name>.csv`` and ``<name>.md`` (the table with its title, notes and the Dice
    protocol, :data:`seg_utils.stats.DICE_PROTOCOL`, as the caption).

    Returns:
        ``[csv_path, md_path]``.
    """
    folder = Path(results) / "tables"
    csv = write_csv(folder / f"{name}.csv", df)
    title = df.attrs.get("title") or name
    parts = [f"# {title}", ""]
    if caption:
        parts += [caption, ""]
    parts += [to_markdown(df), ""]
    notes = list(df.attrs.get("notes", []))
    if notes:
        parts += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    parts += [f"Dice protocol: {DICE_PROTOCOL}", ""]
    md = folder / f"{name}.md"
    with atomic_write(md) as fh:
        fh.write("\n".join(parts))
    return [csv, md]
