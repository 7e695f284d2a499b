"""Tables for reading: formatting, the poster's layout, notebook display, the CSV + Markdown files and the Dice
protocol of their captions."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.io import atomic_write, read_json, write_csv
from ..data.paths import shown_path, without_paths
from ..stats import MIN_SEEDS
from ..study.grid import ARCH_NAMES, DATASET_NAMES, ENCODER_NAMES, LOSS_NAMES

__all__ = ["DICE_PROTOCOL", "P_PREFIX", "format_p", "format_value", "to_markdown", "show", "dice_protocol",
           "save_table", "poster_layout", "row_labels", "summary_table", "parameter_table"]

DICE_PROTOCOL = (
    "Dice is computed per test image from the prediction thresholded at 0.5 (an empty prediction on an empty mask "
    "scores 1, a non-empty prediction on an empty mask 0) and averaged over the test images. Training seeds are the "
    "unit of evidence: a configuration's Dice is the mean over its seeds, with the across-seed sd and a 95% two-stage "
    "bootstrap interval (seeds, then test images); two configurations are compared seed by seed (paired by seed "
    "number), with a bootstrap p-value Holm-adjusted within each table, and a difference is called significant only "
    "when its interval excludes 0 and it exceeds both configurations' across-seed sd (never on fewer than "
    f"{MIN_SEEDS} seeds). The "
    "per-image tests (95% BCa interval over test images, two-sided Wilcoxon signed-rank test with zero differences "
    "split between the signs, Holm-adjusted: columns p_images, p_images_holm) are a secondary column: they measure "
    "the given training runs, not the configurations. This per-image mean is not the pooled Dice of one "
    "confusion matrix over all test pixels, which some papers and smp's reduction='micro' report: pooled Dice weights "
    "each image by its object size, so large objects dominate it, whereas the per-image mean gives every image equal "
    "weight and counts each missed small object (e.g. a CBIS-DDSM mass) in full; the two can differ either way "
    "(each run's model card gives both)."
)
"""One paragraph stating the Dice protocol, for the caption of every results table."""


#: A column whose name starts with this holds p-values (``p_value``, ``p_holm``, ...): two significant digits.
P_PREFIX = "p_"


def format_p(value: float) -> str:
    """A p-value in two significant digits (``2.5e-05``, ``0.095``, ``0.18``), never rounded to ``0.000``."""
    return "—" if value is None or pd.isna(value) else f"{float(value):.2g}"


def format_value(value: Any, column: str) -> str:
    """A table cell as text: p-values (columns starting with :data:`P_PREFIX`) by :func:`format_p`, standard
    deviations to 4 decimals, other floats to 3 decimals (1 from 10 on; counts and whole numbers from 100 on as
    integers), NaN as a dash, booleans as yes/no."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if column.startswith(P_PREFIX):
            return format_p(value)
        if float(value).is_integer() and (abs(value) >= 100 or column in (
                "starting", "final", "excluded", "used", "poster_starting", "poster_final", "diff_final", "n")):
            return str(int(value))
        if column.endswith("sd") or column.startswith("sd_"):  # an across-seed sd of 0.0003 is not 0.000
            return f"{value:.4f}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, cells as :func:`format_value` writes them (p-values to 2 significant
    digits)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(format_value(v, c) for v, c in zip(row, cols, strict=True)) + " |")
    return "\n".join(lines)


def show(df: pd.DataFrame, columns: list[str] | None = None, precision: int = 3, max_rows: int | None = None):
    """A table for reading in a notebook: floats to ``precision`` decimals (p-values, the columns starting with
    :data:`P_PREFIX`, to 2 significant digits), NaN as a dash, booleans as yes/no, text left-aligned, no index, and
    the table's title and notes as its caption.

    Args:
        df: any table; the columns named in ``df.attrs["hidden"]`` (e.g. the raw arch / encoder keys beside the
            model name, the seed spread of single-seed tables) are left out of the display.
        columns: show only these columns (default: all but the hidden ones).
        precision: decimals of floats.
        max_rows: show at most this many rows (the first ones), and say how many the table has (default: all; a
            per-image table of hundreds of rows makes a report hard to read and heavy to load).

    Returns:
        A :class:`pandas.io.formats.style.Styler` (the CSV keeps every column at full precision).
    """
    hidden = set(df.attrs.get("hidden", []))
    shown = df[columns] if columns is not None else df[[c for c in df.columns if c not in hidden]]
    if max_rows is not None and int(max_rows) < 1:
        raise ValueError(f"max_rows must be a positive number of rows or None (all), got {max_rows}")
    cut = max_rows is not None and len(shown) > max_rows
    shown = shown.head(max_rows).copy() if cut else shown.copy()
    for col in shown.columns:
        if shown[col].dtype == bool or str(shown[col].dtype) == "boolean":
            shown[col] = shown[col].map(lambda v: "—" if v is pd.NA else ("yes" if v else "no"))
    is_text = pd.api.types.is_object_dtype, pd.api.types.is_string_dtype
    text = [c for c in shown.columns if any(f(shown[c]) for f in is_text)]
    parts = [f"<b>{html.escape(df.attrs['title'])}</b>"] if df.attrs.get("title") else []
    parts += [f"Note: {html.escape(n)}" for n in df.attrs.get("notes", [])]
    if cut:
        parts.append(f"The first {max_rows} of {len(df)} rows; the saved table (CSV) holds all of them.")
    styler = shown.style.format(precision=precision, na_rep="—").hide(axis="index")
    p_columns = [c for c in shown.columns if str(c).startswith(P_PREFIX) and pd.api.types.is_numeric_dtype(shown[c])]
    if p_columns:
        styler = styler.format(format_p, subset=p_columns)
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    styler = styler.set_table_styles([{"selector": "caption", "props": "caption-side: top; text-align: left; "
                                                                        "font-size: 0.9em; color: #444"}])
    return styler.set_caption("<br>".join(parts)) if parts else styler


def dice_protocol():
    """The Dice protocol (:data:`DICE_PROTOCOL`) as Markdown, for display in a notebook."""
    from IPython.display import Markdown

    return Markdown(f"**Dice protocol.** {DICE_PROTOCOL}")


def save_table(df: pd.DataFrame, name: str, results: str | Path, caption: str | None = None) -> list[Path]:
    """Write ``<results>/tables/<name>.csv`` and ``<name>.md`` (the table with its title, notes and the Dice
    protocol, :data:`DICE_PROTOCOL`, as the caption).

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


def poster_layout(df: pd.DataFrame, index: str | list[str], columns: str) -> pd.DataFrame:
    """A score table in the poster's layout, each cell ``ours [ci_low, ci_high] (poster P)``.

    Args:
        df: a score table (:data:`SCORE_COLUMNS`).
        index: row key(s), e.g. ``"arch"`` (Table 1) or ``["dataset", "model"]`` (Table 2).
        columns: column key, e.g. ``"encoder"`` or ``"loss"``.
    """
    def cell(r: pd.Series) -> str:
        ours = str(r.status) if r.status != "ok" else f"{r.dice:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
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


def summary_table(path: str | Path) -> pd.DataFrame:
    """The artefacts a summary lists (``study.write_summary``), for display.

    Returns:
        DataFrame with columns ``artefact`` (path relative to the results folder), ``kind`` (table, figure, ...)
        and ``kb`` (size).
    """
    path = Path(path)
    results = path.parent.parent
    arts = read_json(path).get("artefacts", [])
    kinds = {".csv": "table (CSV)", ".md": "table (Markdown)", ".png": "figure (PNG)", ".pdf": "figure (PDF)"}
    rows = [{"artefact": a, "kind": kinds.get(Path(a).suffix, Path(a).suffix.lstrip(".")),
             "kb": -(-(results / a).stat().st_size // 1024) if (results / a).is_file() else None} for a in arts]
    df = pd.DataFrame(rows, columns=["artefact", "kind", "kb"])
    df.attrs["title"] = f"Written to {shown_path(results)} (listed in {path.relative_to(results)})"
    return df


def parameter_table(params: Any) -> pd.DataFrame:
    """A notebook's parameter table (``params.table()``) for reading: its folders (``results``, ``data_root``,
    ``cache_dir``, ``resume_from`` and any ``*_dir``) shown as :func:`~seg_utils.data.paths.shown_path` shows them,
    never as this machine's absolute paths.

    Returns:
        ``params.table()``'s columns (``parameter``, ``value``).
    """
    fields = params.to_dict()
    folders = [str(getattr(params, "results", ""))] + [part.strip() for key, value in fields.items()
                                                       if isinstance(value, str) and key.endswith(("_dir", "_root",
                                                                                                    "resume_from"))
                                                       for part in value.split(",")]
    table = params.table()
    table["value"] = [without_paths(v, folders) if isinstance(v, str) else v for v in table["value"]]
    return table
