"""What differs from the poster, read from the study's own records: the box every report and the index open with.

Nothing here is typed by hand: each fact comes from a run folder (``spec.json``, ``metrics.json``, ``splits.json``,
through :mod:`.results`), from the dataset notebook's quality table (``tables/quality_<dataset>.csv``: which release
its adapter read, e.g. ``isic2017`` for the ISIC 2017 layout) or from its summary (synthetic data or not); the
poster's side is the protocol :class:`~seg_utils.study.spec.RunSpec` defaults to and the poster's counts
(:func:`~seg_utils.study.reference.poster_quality`).

Example (the first cell of a dataset notebook, and its last)::

    report.show_deviations(params.results, params.dataset)
    report.show_deviations(params.results, params.dataset, update=True)
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..study.grid import DATASET_NAMES, GRID_DATASETS
from ..study.reference import poster_quality
from ..study.run_folder import read_splits
from ..study.spec import RunSpec
from .results import read_summary, select_runs

__all__ = ["DEVIATION_COLUMNS", "RELEASE_NAMES", "CBIS_TASK_NAMES", "release_read", "dataset_names", "deviations",
           "deviation_box", "show_deviations"]

#: Columns of :func:`deviations`.
DEVIATION_COLUMNS = ["dataset", "aspect", "ours", "poster", "differs"]
#: How a manifest's ``source`` (the release or collection an adapter read) is named.
RELEASE_NAMES = {"isic2016": "ISIC 2016", "isic2017": "ISIC 2017", "isic2018": "ISIC 2018",
                 "isic": "ISIC (no year in its folder names)", "shenzhen": "Shenzhen", "montgomery": "Montgomery",
                 "cbis_ddsm": "CBIS-DDSM"}
#: How a CBIS-DDSM task variant is named (``cbis_task``; ``detector_crop`` is a literature row's).
CBIS_TASK_NAMES = {"whole": "whole mammogram", "mass_crop": "oracle crop around each mass (mass_crop)",
                   "detector_crop": "crop found by a detector, then segmentation"}
_WEIGHTS = {"imagenet": "ImageNet", "none": "none (from scratch)"}
_SPLITS = ("train", "val", "test")
_DISPLAY_ID = "seg-utils-deviations"


def _quality(results: str | Path, dataset: str) -> pd.DataFrame:
    path = Path(results) / "tables" / f"quality_{dataset}.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["split", "source", "final"])


def _release(sources: pd.DataFrame) -> str:
    """``ISIC 2017`` or ``Shenzhen -> Montgomery``: the named sources of a quality table's splits, in split order."""
    names = [RELEASE_NAMES.get(s, s) for s in dict.fromkeys(sources.dropna(subset=["source"]).source)]
    return " -> ".join(names)


def release_read(results: str | Path, dataset: str) -> str | None:
    """The release the dataset notebook's adapter read, where it is not the poster's (e.g. ``ISIC 2017`` for the
    ISIC 2018 notebook reading the 2017 layout); None where it is the poster's or not known (no quality table)."""
    ours = _quality(results, dataset)
    if ours.empty:
        return None
    poster = poster_quality()
    poster = poster[poster.dataset == dataset]
    same = dict(zip(poster.split, poster.source, strict=True))
    splits = ours[ours.split.isin(same)]
    if splits.empty or all(same[s] == src for s, src in zip(splits.split, splits.source, strict=True)):
        return None
    return _release(ours)


def dataset_names(results: str | Path) -> dict[str, str]:
    """:data:`~seg_utils.study.grid.DATASET_NAMES` with the release read where it is not the poster's, for titles and
    headings (e.g. ``{"isic2018": "ISIC 2017", ...}``)."""
    return {ds: release_read(results, ds) or name for ds, name in DATASET_NAMES.items()}


def _sizes(runs: pd.DataFrame) -> list[tuple[int, int, int]]:
    """The distinct train / val / test sizes the runs record (metrics.json, else splits.json)."""
    sizes = []
    for row in runs.to_dict("records"):
        splits = read_splits(row["run_dir"])
        sizes.append(tuple(int(row[f"n_{s}"]) if pd.notna(row.get(f"n_{s}")) else len(splits.get(s, []))
                           for s in _SPLITS))
    return list(dict.fromkeys(sizes))


def _values(runs: pd.DataFrame, column: str) -> list:
    """The distinct values of ``column`` among the runs (its default where a run's spec predates it)."""
    if column not in runs or runs.empty:
        return [RunSpec.default(column)]
    return list(dict.fromkeys(runs[column].fillna(RunSpec.default(column))))


def _per_config(complete: pd.DataFrame) -> str:
    """`` (1 to 3 per configuration)`` where the configurations' complete runs have unequal numbers of seeds."""
    if complete.empty or not {"arch", "encoder", "loss", "seed"} <= set(complete.columns):
        return ""
    counts = complete.groupby(["arch", "encoder", "loss"]).seed.nunique()
    return f" ({counts.min()} to {counts.max()} per configuration)" if counts.nunique() > 1 else ""


def _listed(values: list, unit: str = "") -> str:
    return ", ".join(f"{v}{unit}" for v in values)


def _data(results: Path, dataset: str, runs: pd.DataFrame) -> tuple[str, str, str, bool]:
    """The data aspect: ``(aspect, ours, poster, differs)``; it differs where the release, the counts (train and
    validation together: the poster's validation images are part of its training count) or a limit differ."""
    quality = _quality(results, dataset)
    poster = poster_quality()
    poster = poster[poster.dataset == dataset].set_index("split")
    poster_sizes = tuple(int(poster.final[s]) if s in poster.index and pd.notna(poster.final[s]) else None
                         for s in _SPLITS)
    poster_text = f"{_release(poster.reset_index())}, " + " / ".join("—" if n is None else str(n)
                                                                       for n in poster_sizes)
    release = _release(quality) if not quality.empty else "release not recorded (no quality table)"
    synthetic = read_summary(results, f"dataset_{dataset}").get("parameters", {}).get("data_root") == ""
    if synthetic:
        release = f"SYNTHETIC demo data in the {release} layout"
    sizes = _sizes(runs)
    limits = [n for n in _values(runs, "limit") if n]
    ours = f"{release}, " + ("; ".join(" / ".join(map(str, s)) for s in sizes) if sizes else "no complete run yet")
    ours += f" (the first {_listed(limits)} clean images of each split)" if limits else ""
    counts_differ = any(((s[0] + s[1], s[2]) != (poster_sizes[0], poster_sizes[2])) for s in sizes)
    differs = synthetic or bool(limits) or counts_differ or release_read(results, dataset) is not None
    return "data read (train / val / test images)", ours, poster_text, differs


def _epochs(runs: pd.DataFrame) -> str:
    """``3 of at most 3 epochs run; 0 of 8 run(s) stopped early`` (metrics.json's ``epochs_run``, ``stopped_early``)."""
    most = _listed(_values(runs, "epochs"))
    ran = sorted({int(e) for e in runs.get("epochs_run", pd.Series(dtype=float)).dropna()})
    ran_text = "?" if not ran else str(ran[0]) if len(ran) == 1 else f"{ran[0]}-{ran[-1]}"
    early = int(runs.get("stopped_early", pd.Series(dtype=bool)).fillna(False).astype(bool).sum())
    return f"{ran_text} of at most {most} epochs run; {early} of {len(runs)} run(s) stopped early"


def _precision(runs: pd.DataFrame) -> str:
    """The precision the runs recorded (metrics.json), with how many runs each where they differ."""
    if runs.empty or "precision" not in runs:
        return "not recorded"
    counts = runs.precision.fillna("not recorded").value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return "; ".join(f"{p} ({n} run{'s' if n > 1 else ''})" for p, n in counts.items())


def _test_set(source: str, fraction: float) -> str:
    if source == "official":
        return "official test set"
    return f"HELD OUT OF TRAINING: {fraction:.0%} of the training images (test_source={source})"


def _rows(results: Path, dataset: str) -> list[dict]:
    runs = select_runs(results, dataset, failed=True)
    complete = runs[runs.status.eq("complete")] if "status" in runs else runs
    default = RunSpec.default
    rows = [_data(results, dataset, complete)]
    if dataset == "cbis_ddsm":
        tasks = [CBIS_TASK_NAMES.get(t, t) for t in _values(runs, "cbis_task")]
        poster_task = CBIS_TASK_NAMES[default("cbis_task")]
        rows.append(("task variant", ", ".join(tasks), poster_task, tasks != [poster_task]))
    sources = (runs.get("test_source", pd.Series(index=runs.index, dtype=object)).fillna(default("test_source")),
               runs.get("test_fraction", pd.Series(index=runs.index, dtype=float)).fillna(default("test_fraction")))
    pairs = list(dict.fromkeys(zip(*sources, strict=True)))  # a spec written before a field existed has its default
    tests = list(dict.fromkeys(_test_set(s, f) for s, f in pairs)) or [_test_set(default("test_source"),
                                                                             default("test_fraction"))]
    rows.append(("test set", "; ".join(tests), "official test set", tests != ["official test set"]))
    weights = [_WEIGHTS.get(w, "local weights") for w in _values(runs, "weights")]
    poster_weights = _WEIGHTS[default("weights")]
    rows.append(("encoder weights", ", ".join(weights), poster_weights, weights != [poster_weights]))
    sizes = _values(runs, "image_size")
    rows.append(("input size", _listed(sizes, " px"), f"{default('image_size')} px", sizes != [default("image_size")]))
    batches = _values(runs, "batch_size")
    rows.append(("batch size", _listed(batches), str(default("batch_size")), batches != [default("batch_size")]))
    epochs = _epochs(complete) if len(complete) else f"at most {_listed(_values(runs, 'epochs'))}"
    rows.append(("epochs", epochs, f"at most {default('epochs')}, early stopping (patience {default('patience')})",
                 _values(runs, "epochs") + _values(runs, "patience") != [default("epochs"), default("patience")]))
    rows.append(("seeds", (_listed(sorted({int(s) for s in runs.get("seed", [])})) or "—") + _per_config(complete),
                 "not stated", False))
    rows.append(("precision used", _precision(complete), "not stated", False))
    failed = int(runs.status.eq("failed").sum()) if "status" in runs else 0
    rows.append(("runs", f"{len(complete)} complete" + (f", {failed} failed" if failed else ""), "", False))
    return [{"dataset": dataset, "aspect": a, "ours": o, "poster": p, "differs": bool(d)} for a, o, p, d in rows]


def deviations(results: str | Path, datasets: str | Iterable[str] = GRID_DATASETS) -> pd.DataFrame:
    """What the runs of each dataset did beside the poster's protocol, from their own records.

    The runs are each dataset's grid runs (:func:`~.results.select_runs`, failed ones counted apart).

    Args:
        results: the results folder.
        datasets: a dataset or several (default: the three of the poster); one without a run or a quality table
            is left out.

    Returns:
        DataFrame with columns :data:`DEVIATION_COLUMNS`: per dataset, one row per aspect (the data read with its
        release and train / val / test counts, the CBIS-DDSM task variant, the test set, the encoder weights, the
        input size, the batch size, the epochs run and early stops, the seeds (and how many each configuration
        has, where they differ), the precision used, the runs), ``ours`` and
        ``poster`` in words and ``differs`` where they differ.
    """
    results = Path(results)
    wanted = [datasets] if isinstance(datasets, str) else list(datasets)
    rows = [r for ds in wanted if (results / "runs" / ds).is_dir() or not _quality(results, ds).empty
            for r in _rows(results, ds)]
    return pd.DataFrame(rows, columns=DEVIATION_COLUMNS)


def deviation_box(results: str | Path, datasets: str | Iterable[str] = GRID_DATASETS) -> str:
    """:func:`deviations` as a short HTML box: one line per dataset, what differs from the poster first (marked),
    then what the poster does not state; empty where no dataset has a run or a quality table."""
    table = deviations(results, datasets)
    if table.empty:
        return ""
    names = dataset_names(results)
    lines = []
    for ds, group in table.groupby("dataset", sort=False):
        differ = [f"<b>{html.escape(r.aspect)}</b>: {html.escape(r.ours)} <span style='color:#b35900'>(poster: "
                  f"{html.escape(r.poster)})</span>" for r in group.itertuples() if r.differs]
        same = [f"{html.escape(r.aspect)}: {html.escape(r.ours)}" for r in group.itertuples() if not r.differs]
        name = html.escape(names.get(ds, ds)) + ("" if names.get(ds) == DATASET_NAMES.get(ds) else
                                                 f" (the poster: {html.escape(DATASET_NAMES.get(ds, ds))})")
        lines.append(f"<li><b>{name}</b>: {'; '.join(differ + same)}</li>")
    return ("<div class='deviations' style='background:#fff4e5;border:1px solid #f0b060;padding:.5em 1em;"
            "border-radius:6px'><b>What differs from the poster</b> (read from the runs' own records; the poster: "
            f"{_WEIGHTS[RunSpec.default('weights')]} weights, {RunSpec.default('image_size')} px, up to "
            f"{RunSpec.default('epochs')} epochs)"
            f"<ul style='margin:.3em 0'>{''.join(lines)}</ul></div>")


def show_deviations(results: str | Path, datasets: str | Iterable[str] = GRID_DATASETS, update: bool = False):
    """Display :func:`deviation_box` in a notebook; with ``update``, replace the box an earlier cell displayed (the
    report's first output then describes the runs the notebook made further down)."""
    from IPython.display import HTML, display, update_display

    box = HTML(deviation_box(results, datasets) or "<p><b>What differs from the poster:</b> no run and no quality "
                                                   "table yet.</p>")
    if update:
        update_display(box, display_id=_DISPLAY_ID)
    else:
        display(box, display_id=_DISPLAY_ID)
