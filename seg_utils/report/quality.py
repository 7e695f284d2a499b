"""The data-quality inspection as tables: counts per split beside the poster's, and the findings by check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..data.crops import CROP_CONTEXT, CROP_MIN_SIDE
from ..study.grid import DATASET_NAMES, GRID_DATASETS
from ..study.reference import poster_quality
from .deviations import RELEASE_NAMES
from .tables import with_data_notes

__all__ = ["QUALITY_COLUMNS", "CBIS_UNITS", "cbis_task_note", "release_notes", "quality_table", "quality_checks",
           "table_quality"]


QUALITY_COLUMNS = ["dataset", "split", "source", "unit", "starting", "excluded", "final", "used", "poster_starting",
                   "poster_final", "diff_final"]

#: What one row counts, by CBIS-DDSM task (every other dataset counts images).
CBIS_UNITS = {"whole": "mammogram", "mass_crop": "abnormality (oracle crop)"}


def cbis_task_note(task: str) -> str:
    """What the CBIS-DDSM counts mean for ``task``, beside the poster's 1301 / 377 (which count abnormalities)."""
    if task == "mass_crop":
        return ("CBIS-DDSM, task mass_crop: one row per mass abnormality, the unit of the poster's 1301 / 377. Each "
                "image is a square window around the abnormality's ground-truth ROI (its box enlarged by "
                f"{CROP_CONTEXT:.0%} of its side on each side, at least {CROP_MIN_SIDE} px): an ORACLE crop, since "
                "the window comes from the ground truth; at test time a detector would have to find the mass first, "
                "as in the literature rows that detect, then segment.")
    return ("CBIS-DDSM, task whole: one row per mammogram, its masses' ROI masks united (CBIS-DDSM has about 1231 / "
            "361 mass mammograms and 1318 / 378 mass abnormalities); the poster's 1301 / 377 count abnormalities, so "
            "the counts differ by design (cbis_task='mass_crop' counts abnormalities).")


def release_notes(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``df`` (a quality table) with ``diff_final`` blank on the splits whose ``source`` is not the release the
    poster counted (e.g. the ISIC 2017 layout read for the poster's ISIC 2018), and one note per dataset saying so:
    counts of another release are not images lost or gained.

    Returns:
        ``(table, notes)``.
    """
    ref = poster_quality().rename(columns={"source": "_poster_source"})[["dataset", "split", "_poster_source"]]
    out = df.merge(ref, on=["dataset", "split"], how="left")
    other = out.source.notna() & out._poster_source.notna() & out.source.ne(out._poster_source)
    out["diff_final"] = out.diff_final.astype("Int64").mask(other)
    notes = []
    for ds, rows in out[other].groupby("dataset", sort=False):
        ours = ", ".join(dict.fromkeys(RELEASE_NAMES.get(s, s) for s in rows.source))
        poster = ", ".join(dict.fromkeys(RELEASE_NAMES.get(s, s) for s in rows._poster_source))
        counts = " / ".join(f"{r.split} {_count(r.final)} vs {_count(r.poster_final)}" for r in rows.itertuples())
        notes.append(f"{DATASET_NAMES.get(ds, ds)}: the {ours} release was read, not the poster's {poster}: its counts "
                     f"({counts}) are of another release, not images lost or gained, so diff_final is left blank.")
    return out.drop(columns="_poster_source"), notes


def _count(value: Any) -> str:
    return "—" if pd.isna(value) else str(int(value))


def quality_table(data: Any) -> pd.DataFrame:
    """Poster-style data-quality counts of one prepared dataset: starting -> final per split, beside the poster's.

    Args:
        data: :class:`seg_utils.study.PreparedData` (its ``report``, ``manifest`` and ``clean``).

    Returns:
        DataFrame with columns :data:`QUALITY_COLUMNS`: ``starting`` manifest rows (orphans included),
        ``excluded`` by the inspection, ``final`` clean rows, ``used`` rows the runs use (after ``limit``), the
        poster's counts and ``diff_final`` (ours - poster). ``unit`` says what a row counts (``image``; for
        CBIS-DDSM ``mammogram`` or ``abnormality (oracle crop)`` by ``data.cbis_task``, with a note).
    """
    summary = data.report.summary
    sources = data.manifest.groupby("split").source.agg(lambda s: ", ".join(sorted(set(s))))
    used = data.clean.groupby("split").size()
    task = getattr(data, "cbis_task", "whole") if data.dataset == "cbis_ddsm" else None
    unit = CBIS_UNITS.get(task, "image") if task else "image"
    ours = pd.DataFrame({"dataset": data.dataset, "split": summary.split, "source": summary.split.map(sources),
                         "unit": unit, "starting": summary.starting, "excluded": summary.starting - summary.final,
                         "final": summary.final, "used": summary.split.map(used).fillna(0).astype(int)})
    ref = poster_quality()
    ref = ref[ref.dataset == data.dataset].rename(columns={"starting": "poster_starting", "final": "poster_final",
                                                           "source": "poster_source"})
    df = ours.merge(ref[["split", "poster_starting", "poster_final", "poster_source"]], on="split", how="outer")
    df["dataset"] = data.dataset
    df["source"] = df.source.fillna(df.poster_source)
    df["unit"] = df.unit.fillna(unit)
    df["diff_final"] = df.final - df.poster_final
    order = {"train": 0, "val": 1, "test": 2}
    df = df.sort_values("split", key=lambda s: s.map(order)).reset_index(drop=True)[QUALITY_COLUMNS]
    counts = ["starting", "excluded", "final", "used", "poster_starting", "poster_final", "diff_final"]
    df[counts] = df[counts].astype("Int64")  # counts stay integers beside the poster's blanks
    df, releases = release_notes(df)
    name = DATASET_NAMES.get(data.dataset, data.dataset)
    read = ", ".join(dict.fromkeys(RELEASE_NAMES.get(s, s) for s in ours.source.dropna()))
    df.attrs["title"] = f"Data quality inspection, {f'{read} (read for the poster: {name})' if releases else name}"
    df.attrs["notes"] = ["starting: manifest rows (images and masks, orphans included); final: after the "
                         "inspection; used: the rows the runs read from each split (after limit; where a dataset has "
                         "no validation split, the runs hold part of train out for validation: the box above gives "
                         "their train / val / test counts); poster: the poster's counts (blank where it gives "
                         "none)."] + releases + ([cbis_task_note(task)] if task else [])
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
        df.attrs.update(title="Findings of the data-quality inspection: none",
                        notes=["the inspection found nothing to report or exclude."])
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
    df, releases = release_notes(pd.concat(frames, ignore_index=True).reindex(columns=QUALITY_COLUMNS))
    units = set(df[df.dataset == "cbis_ddsm"].unit.dropna())
    notes += releases + [cbis_task_note(t) for t, u in CBIS_UNITS.items() if u in units]
    df.attrs["notes"] = notes
    return with_data_notes(df, "Data quality inspection: counts per split, ours beside the poster's", results,
                           GRID_DATASETS)
