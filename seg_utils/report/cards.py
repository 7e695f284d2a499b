"""What a run offers its users, in the reports: links to each run's model card, the card itself, and a gallery of
a run's predictions on new images (``python -m seg_utils predict`` / ``study.predict``)."""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from ..study.model_card import CARD_NAME, model_card, write_model_card
from .figures import StudyFigure, message, style

__all__ = ["card_path", "link_cards", "show_card", "plot_predictions"]


def card_path(run_dir: str | Path) -> Path:
    """``<run_dir>/model_card.md``, written first where it is missing."""
    path = Path(run_dir) / CARD_NAME
    return path if path.is_file() else write_model_card(run_dir)


def link_cards(runs: pd.DataFrame, results: str | Path, column: str = "card") -> pd.DataFrame:
    """``runs`` with a column of HTML links to each run's model card, relative to ``<results>/notebooks`` (where the
    executed notebooks and their HTML reports live). This only links: a run writes its card when it completes, and
    ``python -m seg_utils card --run DIR`` writes one that is missing (a run from before cards existed).

    Args:
        runs: a table with a ``run_dir`` column (``study.run_grid``, ``study.run_ladder``, ``report.collect_runs``).
        results: the results folder.
        column: the new column's name.

    Returns:
        A copy of ``runs`` with ``column`` (empty where a row has no run folder); show it with
        ``report.show(table, columns=[..., "card"])``.
    """
    base = Path(results).resolve() / "notebooks"
    out = runs.copy()

    def link(run_dir: object) -> str:
        if not isinstance(run_dir, str | Path) or not (Path(run_dir) / "spec.json").is_file():
            return ""
        rel = os.path.relpath(card_path(run_dir).resolve(), base).replace(os.sep, "/")
        return f'<a href="{html.escape(rel)}">model card</a>'

    out[column] = [link(d) for d in (runs["run_dir"] if "run_dir" in runs else [None] * len(runs))]
    return out


def show_card(run_dir: str | Path):
    """A run's model card as Markdown, for display in a notebook (written first where it is missing)."""
    from IPython.display import Markdown

    card_path(run_dir)
    return Markdown(model_card(run_dir))


def plot_predictions(predictions: pd.DataFrame, out: str | Path, n: int = 8, columns: int = 4) -> Figure:
    """A gallery of predictions: the overlays of the first ``n`` predicted images (orange: prediction; green
    outline: the ground truth, where a mask was given), each titled with its size, predicted area and Dice.

    Args:
        predictions: the table ``study.predict`` / ``predict_run`` returns (``predictions.csv``).
        out: the prediction folder (the overlays' paths are relative to it).
        n: images shown.
        columns: images per row.
    """
    out = Path(out)
    ok = predictions[predictions.overlay_file.notna()].head(n)  # an unreadable image has no overlay
    errors = int((predictions.error.fillna("") != "").sum())
    title = f"Predictions: {len(predictions)} images" + (f", {errors} with an error (see the table)" if errors else "")
    with style(font_scale=0.75):
        if ok.empty:
            return message(StudyFigure(figsize=(8, 1.2)), f"{title}: no prediction to show.")
        cols = min(columns, len(ok))
        rows = -(-len(ok) // cols)
        fig = StudyFigure(figsize=(3.2 * cols, 3.2 * rows + 0.5), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, row in zip(axes.flat, ok.itertuples(), strict=False):
            ax.imshow(np.asarray(Image.open(out / row.overlay_file).convert("RGB")))
            dice = "" if pd.isna(row.dice) else f"\nDice {row.dice:.3f} ({row.dice_at})"
            ax.set_title(f"{row.image_id}\n{int(row.width)} x {int(row.height)}, foreground "
                         f"{100 * row.foreground_fraction:.1f}%{dice}", fontsize="small")
        fig.suptitle(title, x=0.01, ha="left")
    return fig
