"""The poster's tables, recomputed from the run folders, each beside the poster's own numbers.

Every score table has one row per configuration (dataset, architecture, encoder, loss) and the columns of
:data:`SCORE_COLUMNS`: our mean per-image Dice (seeds pooled per image, :func:`seg_utils.stats.pool_seeds`), its
95% BCa bootstrap interval over test images (:func:`seg_utils.stats.run_ci`), the poster's value, the difference
(ours - poster) and whether the poster's value lies inside our interval; then the seeds: their number, the mean and
sd of the per-seed means, and the 95% two-stage interval that resamples seeds, then images
(``seed_ci_low, seed_ci_high``, :func:`seg_utils.stats.hierarchical_ci`; with one seed it is the image bootstrap).
A configuration without a complete run stays in the table as ``missing`` with NaN values, and the notes say so.

The tables (their comparisons over seeds are :mod:`.comparisons`):

- Table 1 (:func:`table_encoders`): ISIC 2018, BCE, U-Net / DeepLabV3+ x VGG19 / ResNet50 / DenseNet121.
- Table 2 (:func:`table_losses`): BCE vs Log-Cosh Dice per ResNet50 model and dataset.
- The CBIS-DDSM literature comparison (:func:`table_literature`); the data-quality counts are in :mod:`.quality`.

Notes and the title travel in ``DataFrame.attrs`` (``title``, ``notes``); :func:`save_table` writes them with the
Dice protocol (:data:`.display.DICE_PROTOCOL`) into the Markdown caption.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.paths import shown_path
from ..stats import hierarchical_ci, pool_seeds, run_ci, seed_summary
from ..study.grid import (
    ARCH_NAMES,
    DATASET_NAMES,
    ENCODER_NAMES,
    GRID_DATASETS,
    LOSS_NAMES,
    POSTER_LOSSES,
    TABLE1_CONFIGS,
    TABLE2_ROWS,
    model_label,
    poster_grid,
)
from ..study.reference import poster_dice, poster_literature
from ..study.spec import RunSpec
from ..study.splits import TEST_SEED
from .deviations import CBIS_TASK_NAMES, dataset_names, release_read
from .display import row_labels
from .results import KEY, minutes, read_metrics, read_per_image, read_spec, read_summary, select_runs

__all__ = ["SCORE_COLUMNS", "score_runs", "dataset_table", "table_encoders", "table_losses", "table_literature",
           "data_notes", "with_data_notes", "per_image_of", "seeds_of", "test_source_note"]

SCORE_COLUMNS = ["dataset", "model", "loss", "dice", "ci_low", "ci_high", "poster", "diff", "poster_in_ci", "n_images",
                 "n_seeds", "seed_mean", "seed_sd", "seed_ci_low", "seed_ci_high", "hd95", "hd95_misses",
                 "hd95_penalised", "minutes", "status", "reason", "arch", "encoder"]
"""Columns of every score table (see the module docstring)."""


def _pooled(runs: pd.DataFrame) -> dict[tuple, tuple[pd.DataFrame, dict[int, pd.DataFrame], list[dict]]]:
    """``{(dataset, arch, encoder, loss): (seed-pooled per-image table, {seed: per-image table}, [per-run facts])}``
    of the complete runs in ``runs``; the facts are each run's metrics.json and its training minutes."""
    out = {}
    complete = runs[runs.status.eq("complete")] if "status" in runs else runs
    for key, group in complete.groupby(KEY, sort=False):
        by_seed = {int(r.seed): read_per_image(r.run_dir) for r in group.itertuples()}
        facts = [{**read_metrics(r.run_dir), "minutes": minutes(r.run_dir)} for r in group.itertuples()]
        out[tuple(key)] = (pool_seeds(by_seed), by_seed, facts)
    return out


def _failures(runs: pd.DataFrame) -> dict[tuple, str]:
    """``{configuration: reason}`` of the failed runs in ``runs`` (a ``status``/``reason`` column)."""
    if "status" not in runs or "reason" not in runs:
        return {}
    failed = runs[runs.status.eq("failed")]
    return {tuple(k): "; ".join(f"s{r.seed}: {r.reason}" for r in g.itertuples())
            for k, g in failed.groupby(KEY, sort=False)}


def _finite_mean(values: list) -> float:
    """The mean of the finite values (NaN when there is none: e.g. runs made before a metric existed)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(finite)) if finite else float("nan")


def _in_ci(low: float, high: float, value: float | None) -> Any:
    if value is None or not np.isfinite(low) or not np.isfinite(high):
        return pd.NA
    return bool(low <= value <= high)


def score_runs(runs: pd.DataFrame, configs: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Score each configuration of ``configs`` from the runs in ``runs``.

    Args:
        runs: one row per run with columns ``dataset, arch, encoder, loss, seed, run_dir`` and, where runs may have
            failed, ``status`` and ``reason`` (a :func:`select_runs` or ``study.run_grid`` table).
        configs: ``(dataset, arch, encoder, loss)`` in the order the table shows them.

    Returns:
        DataFrame with columns :data:`SCORE_COLUMNS`, one row per configuration; ``status`` is ``ok``, ``failed``
        (every run of it failed; ``reason`` says why) or ``missing`` (no run: NaN values). HD95 columns are the
        means over seeds of each run's mean over defined images, complete misses and penalised mean; ``minutes`` is
        the mean training time per run. ``attrs["notes"]`` lists the missing and failed configurations.
    """
    pooled = _pooled(runs) if len(runs) else {}
    failures = _failures(runs)
    rows, missing, failed = [], [], []
    for dataset, arch, encoder, loss in configs:
        poster = poster_dice(dataset, arch, encoder, loss)
        row = {"dataset": dataset, "model": model_label(arch, encoder), "arch": arch, "encoder": encoder,
               "loss": loss, "status": "missing", "n_seeds": 0, "n_images": 0, "poster": poster, "reason": ""}
        name = f"{DATASET_NAMES.get(dataset, dataset)} {row['model']} {LOSS_NAMES.get(loss, loss)}"
        hit = pooled.get((dataset, arch, encoder, loss))
        if hit is None and (dataset, arch, encoder, loss) in failures:
            row.update(status="failed", reason=failures[(dataset, arch, encoder, loss)])
            failed.append(f"{name} ({row['reason']})")
        elif hit is None:
            missing.append(name)
        else:
            table, by_seed, facts = hit
            ci = run_ci(table, "dice")
            spread = seed_summary(by_seed)
            seeds = hierarchical_ci(by_seed)
            mean = {k: _finite_mean([f.get(k) for f in facts]) for k in
                    ("hd95_mean", "hd95_misses", "hd95_penalised_mean", "minutes")}
            row.update({"status": "ok", "n_seeds": len(by_seed), "n_images": ci["n"], "dice": ci["mean"],
                        "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "seed_mean": spread["mean"],
                        "seed_sd": spread["sd"], "seed_ci_low": seeds["ci_low"], "seed_ci_high": seeds["ci_high"],
                        "hd95": mean["hd95_mean"], "hd95_misses": mean["hd95_misses"],
                        "hd95_penalised": mean["hd95_penalised_mean"], "minutes": mean["minutes"]})
        rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=SCORE_COLUMNS)
    df["diff"] = df.dice - df.poster.astype(float)
    df["poster_in_ci"] = pd.array([_in_ci(lo, hi, p) for lo, hi, p in zip(df.ci_low, df.ci_high, df.poster,
                                                                               strict=True)], dtype="boolean")
    df.attrs["notes"] = ([f"no complete run, shown as missing: {', '.join(missing)}"] if missing else []) + (
        [f"failed (rerun to try again): {'; '.join(failed)}"] if failed else [])
    single = ["seed_mean", "seed_sd", "seed_ci_low", "seed_ci_high"] if df.n_seeds.max() <= 1 else []
    df.attrs["hidden"] = ["arch", "encoder"] + single + (
        [] if failed else ["reason"])
    return df


def dataset_table(runs: pd.DataFrame, dataset: str, configs: list[tuple[str, str, str]] | None = None,
                  label: str = "") -> pd.DataFrame:
    """Per-configuration Dice with CI of one dataset's grid (:func:`seg_utils.study.grid.poster_grid`), seeds pooled.

    Args:
        runs: the dataset notebook's ``study.run_grid`` table.
        dataset: the dataset.
        configs: the ``(arch, encoder, loss)`` the notebook ran (its ``params.grid``; default: the poster's grid).
        label: how the title names the data (default: the poster's name of the dataset).

    Returns:
        See :func:`score_runs`.
    """
    df = score_runs(runs, [(dataset, *c) for c in (configs if configs is not None else poster_grid(dataset))])
    df.attrs["title"] = f"Dice per configuration, {label or DATASET_NAMES.get(dataset, dataset)}"
    specs = [read_spec(d) for d in runs.get("run_dir", [])]
    df.attrs["notes"] = list(df.attrs.get("notes", [])) + sorted({test_source_note(s.get("test_source", "official"),
                                                                                   s.get("test_fraction", 0.2))
                                                                  for s in specs} - {""})
    return df


def test_source_note(test_source: str, test_fraction: float) -> str:
    """What a table says of a test split held out of training (empty for the dataset's official test set)."""
    if test_source != "train_fraction":
        return ""
    return (f"TEST SPLIT HELD OUT OF TRAINING: {test_fraction:.0%} of the training images (seed {TEST_SEED}, by "
            "group, the same for every run), because test_source='train_fraction'; the poster's values are on the "
            "official test set, so they are not measured on the same images.")


def data_notes(results: str | Path, datasets: tuple[str, ...] = GRID_DATASETS) -> list[str]:
    """One note per dataset on where its runs' data came from (the dataset notebook's summary): the folder, as
    :func:`~seg_utils.data.paths.shown_path` shows it, and the release read where it is not the poster's
    (:func:`~.deviations.release_read`)."""
    notes = []
    for ds in datasets:
        p = read_summary(results, f"dataset_{ds}").get("parameters")
        if p is None:
            continue
        release = release_read(results, ds)
        read = f"the {release} release (not the poster's {DATASET_NAMES[ds]}) read" if release else "data"
        src = ("SYNTHETIC demo data (the numbers only show that the pipeline works; they are not comparable with "
               "the poster)" if not p.get("data_root") else f"{read} under {shown_path(p['data_root'])}")
        notes.append(f"{DATASET_NAMES[ds]}: {src}; {p.get('image_size')} px, up to {p.get('epochs')} epochs, "
                     f"weights {p.get('weights')}, limit {p.get('limit') or 'none'}.")
        held_out = test_source_note(p.get("test_source", "official"), p.get("test_fraction", 0.2))
        if held_out:
            notes.append(f"{DATASET_NAMES[ds]}: {held_out}")
    return notes


def with_data_notes(df: pd.DataFrame, title: str, results: str | Path, datasets: tuple[str, ...]) -> pd.DataFrame:
    """``df`` with its title, naming the release read where it is not the poster's (``ISIC 2017 read for the
    poster's ISIC 2018``, :func:`~.deviations.dataset_names`), and a note per dataset on where its runs' data came
    from (:func:`data_notes`)."""
    names = dataset_names(results)
    for ds in datasets:
        if names[ds] != DATASET_NAMES[ds]:
            title = title.replace(DATASET_NAMES[ds], f"{names[ds]} read for the poster's {DATASET_NAMES[ds]}")
    df.attrs["title"] = title
    df.attrs["notes"] = list(df.attrs.get("notes", [])) + data_notes(results, datasets)
    return df


def table_encoders(results: str | Path) -> pd.DataFrame:
    """Table 1: ISIC 2018, BCE, U-Net and DeepLabV3+ with VGG19, ResNet50 and DenseNet121 (see :func:`score_runs`)."""
    df = score_runs(select_runs(results, "isic2018", failed=True), TABLE1_CONFIGS)
    return with_data_notes(df, "Table 1: encoder comparison (ISIC 2018, binary cross-entropy, Dice)", results,
                           ("isic2018",))


def table_losses(results: str | Path) -> pd.DataFrame:
    """Table 2: BCE vs Log-Cosh Dice per ResNet50 model and dataset, in the poster's row order."""
    configs = [(ds, a, "resnet50", loss) for ds, a in TABLE2_ROWS for loss in POSTER_LOSSES]
    df = score_runs(select_runs(results, failed=True), configs)
    return with_data_notes(df, "Table 2: loss comparison (Dice)", results, GRID_DATASETS)


def seeds_of(results: str | Path, dataset: str | None = None) -> dict[tuple, dict[int, pd.DataFrame]]:
    """``{(dataset, arch, encoder, loss): {seed: per-image table}}`` of the complete grid runs (:func:`select_runs`).
    """
    return {k: v[1] for k, v in _pooled(select_runs(results, dataset)).items()}


def table_literature(results: str | Path) -> pd.DataFrame:
    """The poster's CBIS-DDSM literature comparison with our best CBIS-DDSM configuration added, each row marked
    comparable with ours or not by one rule: the same task variant (whole mammogram, oracle crop around each mass,
    crop found by a detector; :data:`~.deviations.CBIS_TASK_NAMES`) as our runs (their ``cbis_task``).

    Returns:
        DataFrame with columns ``work, model, loss, dice, ci_low, ci_high, poster, diff, task, comparable, setting,
        source``: the literature rows as reported on the poster (``source`` = ``poster``; ``task`` as the poster
        states it, or ``not stated on the poster``), then ``this study``: the configuration with the highest mean
        Dice among our CBIS-DDSM runs, its interval, its task variant, and the poster's value for that same
        configuration (NaN row when there is no CBIS-DDSM run).
    """
    lit = poster_literature()
    lit = lit.assign(ci_low=np.nan, ci_high=np.nan, poster=np.nan, diff=np.nan, source="poster")
    runs = select_runs(results, "cbis_ddsm")
    tasks = list(dict.fromkeys(runs.cbis_task)) if "cbis_task" in runs else []
    task = tasks[0] if len(tasks) == 1 else ""
    scores = score_runs(runs, [("cbis_ddsm", *c) for c in poster_grid("cbis_ddsm")])
    ok = scores[scores.status == "ok"]
    if len(ok):
        best = ok.loc[ok.dice.idxmax()]
        ours = {"work": "this study", "model": f"{ARCH_NAMES[best.arch]} ({ENCODER_NAMES[best.encoder]})",
                "loss": LOSS_NAMES.get(best.loss, best.loss), "dice": best.dice, "ci_low": best.ci_low,
                "ci_high": best.ci_high, "poster": best.poster, "diff": best["diff"], "task": task,
                "setting": f"{CBIS_TASK_NAMES.get(task, task)}; best of our {len(ok)} CBIS-DDSM configurations; "
                           f"{int(best.n_images)} test images, {int(best.n_seeds)} seed(s)", "source": "this study"}
        notes = []
        if task != RunSpec.default("cbis_task"):  # the poster's value is of whole mammograms: no difference to it
            ours.update(poster=np.nan, diff=np.nan)
            notes.append(f"this study: poster and diff blank: the poster's {ours['model']} {ours['loss']} value"
                         + (f" ({best.poster:.3f})" if pd.notna(best.poster) else "") + " is of whole mammograms, "
                         f"ours of {CBIS_TASK_NAMES.get(task, task) or 'several task variants'}.")
    else:
        ours = {"work": "this study", "model": "", "loss": "", "task": task, "setting": "no complete CBIS-DDSM run",
                "source": "this study"}
        notes = ["no complete CBIS-DDSM run: the row 'this study' is missing (NaN)."]
    df = pd.concat([lit, pd.DataFrame([ours])], ignore_index=True)
    df["task"] = df.task.fillna("")
    df["comparable"] = df.task.ne("") & df.task.eq(task)  # the one rule: the same task variant as our runs
    df["task"] = df.task.map(lambda t: CBIS_TASK_NAMES.get(t, t) or "not stated on the poster")
    df = df[["work", "model", "loss", "dice", "ci_low", "ci_high", "poster", "diff", "task", "comparable", "setting",
             "source"]]
    ours_task = CBIS_TASK_NAMES.get(task, task) or "unknown (no CBIS-DDSM run)"
    df.attrs["notes"] = notes + [f"comparable: the row's task variant is ours ({ours_task}); the others measure "
                                 "another task, so their Dice is not comparable with ours.",
                                 "Literature values are as reported on the poster, not recomputed; their test sets "
                                 "and protocols differ (see 'setting')."]
    return with_data_notes(df, "CBIS-DDSM masses: literature comparison (Dice)", results, ("cbis_ddsm",))


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
