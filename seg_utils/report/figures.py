"""Figures of the study: each ``plot_*`` returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it.

Figures are made with :class:`matplotlib.figure.Figure` directly (not pyplot), so nothing is drawn twice in a
notebook and no global figure state builds up; the style (seaborn ``whitegrid``, the notebook context) is applied
inside each function with context managers only, so importing this module changes no ``rcParams``. A notebook
shows a figure by ending a cell with it (:class:`StudyFigure` renders itself as a PNG).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..data.io import atomic_write
from .display import row_labels

__all__ = ["StudyFigure", "plot_table", "plot_ablation", "plot_dice_distributions", "plot_history", "save_figure",
           "style", "message"]

_OURS, _POSTER, _OTHER = "#1f77b4", "#d62728", "#7f7f7f"


IMAGE_DPI = 100
"""Resolution of a saved gallery of images (:attr:`StudyFigure.save_dpi`)."""


class StudyFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself in Jupyter as a PNG (``_repr_png_``), without pyplot
    or a registered backend, so a cell ending with it displays it once.

    ``save_dpi`` is the resolution :func:`save_figure` writes it at: 150 for plots, whose lines and labels need it;
    :data:`IMAGE_DPI` for a gallery of images, whose thumbnails are no sharper at 150 (a 3.2-inch panel of a 256 px
    image is already upsampled at 100) and cost 2.3x the bytes."""

    save_dpi: int = 150

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


@contextmanager
def style(context: str = "notebook", font_scale: float = 0.9) -> Iterator[None]:
    """The study's style, for the duration of one figure (no global rcParams change)."""
    with sns.axes_style("whitegrid"), sns.plotting_context(context, font_scale=font_scale), \
            mpl.rc_context({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titlesize": "medium"}):
        yield


def message(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def plot_table(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Our Dice (point, 95% CI as error bar) beside the poster's (red diamond), one row per configuration.

    Args:
        df: a score table of :mod:`seg_utils.report.tables` (``dice, ci_low, ci_high, poster``; ``status`` marks
            missing rows) or the literature table (``work, model, dice``; literature rows without an interval are
            grey points).
        title: default: the table's ``attrs["title"]``.
    """
    labels = row_labels(df)
    n = len(df)
    with style():
        fig = StudyFigure(figsize=(8, 1.2 + 0.42 * n), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(n)
        dice = df["dice"].astype(float).to_numpy()
        low = df["ci_low"].astype(float).to_numpy() if "ci_low" in df else np.full(n, np.nan)
        high = df["ci_high"].astype(float).to_numpy() if "ci_high" in df else np.full(n, np.nan)
        poster = df["poster"].astype(float).to_numpy() if "poster" in df else np.full(n, np.nan)
        own = (df["work"] == "the poster").to_numpy() if "work" in df else np.zeros(n, bool)
        if own.any():  # the literature table: the poster's own row is the poster's number
            poster = np.where(own & np.isfinite(dice), dice, poster)
            dice = np.where(own, np.nan, dice)
        ours = np.isfinite(low) & np.isfinite(high)
        if "source" in df:
            ours = ours | (df["source"] == "this study").to_numpy()
        xerr = np.vstack([dice - low, high - dice])
        ax.errorbar(dice[ours], y[ours], xerr=np.nan_to_num(xerr[:, ours]), fmt="o", color=_OURS, capsize=3,
                    label="ours (95% CI)")
        other = ~ours & np.isfinite(dice)
        if other.any():
            ax.plot(dice[other], y[other], "o", color=_OTHER, label="literature (as on the poster)")
        has_poster = np.isfinite(poster)
        if has_poster.any():
            ax.plot(poster[has_poster], y[has_poster], "D", color=_POSTER, label="poster", markersize=6, alpha=0.85)
        status = df["status"].to_numpy() if "status" in df else np.full(len(df), "missing")
        for i in np.flatnonzero(~np.isfinite(dice) & ~own):
            text = "failed: see the table's reason" if status[i] == "failed" else "missing: no complete run"
            ax.text(0.02, y[i], text, va="center", ha="left", color=_OTHER, fontsize="small",
                    transform=ax.get_yaxis_transform())
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        finite = np.concatenate([v[np.isfinite(v)] for v in (dice, low, poster)] or [np.array([0.0])])
        ax.set_xlim(max(0.0, min(finite.min(initial=1.0), 1.0) - 0.05), 1.0)
        ax.set_xlabel("mean per-image Dice")
        ax.set_title(title or df.attrs.get("title", ""), loc="left")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02 if not (title or df.attrs.get("title")) else 1.08),
                  ncols=3, frameon=False, fontsize="small")
    return fig


def plot_ablation(table: pd.DataFrame, title: str | None = None) -> Figure:
    """An ablation ladder: Dice per step (pooled mean with 95% CI; each seed a small dot), one line per model, and
    the poster's value of each model as a dashed line.

    Args:
        table: :func:`seg_utils.report.ablation.ablation_table`'s table.
        title: default: the table's ``attrs["title"]``.
    """
    title = title or table.attrs.get("title", "")
    with style():
        if table.empty:
            return message(StudyFigure(figsize=(8, 2)),
                            "No ablation was asked for (the parameter ablation_steps is empty)")
        steps = table[["step", "step_name"]].drop_duplicates().sort_values("step")
        fig = StudyFigure(figsize=(max(7.0, 1.6 * len(steps)), 4.2), layout="constrained")
        ax = fig.add_subplot()
        seeds = [c for c in table.columns if c.startswith("dice_s")]
        palette = sns.color_palette("deep", table.base.nunique())
        for k, (_base, group) in enumerate(table.groupby("base", sort=False)):
            group = group.sort_values("step")
            x = group.step.to_numpy(dtype=float) + (k - (table.base.nunique() - 1) / 2) * 0.08
            dice = group.dice.to_numpy(dtype=float)
            err = np.nan_to_num(np.vstack([dice - group.ci_low.to_numpy(dtype=float),
                                           group.ci_high.to_numpy(dtype=float) - dice]))
            name = f"{group.model.iloc[0]} {group.base_loss.iloc[0]}"
            ax.errorbar(x, dice, yerr=err, fmt="o-", color=palette[k], capsize=3, label=name)
            for column in seeds:
                ax.plot(x, group[column].to_numpy(dtype=float), ".", color=palette[k], alpha=0.5, markersize=5)
            poster = group.poster.dropna()
            if len(poster):
                ax.axhline(float(poster.iloc[0]), color=palette[k], linestyle="--", linewidth=1,
                           label=f"{name}, poster")
        ax.set_xticks(steps.step.to_numpy(), [textwrap.fill(n, 16) for n in steps.step_name])
        ax.set_ylabel("mean per-image Dice (test)")
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


def plot_dice_distributions(per_image: Mapping[str, pd.DataFrame], title: str = "Per-image Dice on the test set",
                            column: str = "dice") -> Figure:
    """Box plots with the individual images as points, one row per configuration.

    Args:
        per_image: ``{configuration label: per-image table}`` (e.g. :func:`seg_utils.study.load_per_image`).
        title: the figure title.
        column: the metric column.
    """
    with style():
        fig = StudyFigure(figsize=(8, 1.2 + 0.45 * max(len(per_image), 1)), layout="constrained")
        if not per_image:
            return message(fig, "no complete run to show")
        long = pd.concat([pd.DataFrame({"configuration": name, column: df[column].astype(float)})
                          for name, df in per_image.items()], ignore_index=True)
        ax = fig.add_subplot()
        sns.boxplot(data=long, x=column, y="configuration", ax=ax, color="#c6dbef", fliersize=0, width=0.6)
        sns.stripplot(data=long, x=column, y="configuration", ax=ax, color=_OURS, size=3, alpha=0.6, jitter=0.2)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(f"per-image {'Dice' if column == 'dice' else column}")
        ax.set_ylabel("")
        ax.set_title(title, loc="left")
    return fig


def plot_history(histories: Mapping[str, pd.DataFrame], title: str = "Training curves") -> Figure:
    """Training and validation loss (left) and validation Dice (right) per epoch, one colour per run; the best
    epoch (lowest validation loss, whose weights are kept) is circled.

    Args:
        histories: ``{run label: history}`` with columns ``epoch, train_loss, val_loss, val_dice``
            (e.g. :func:`seg_utils.study.load_histories`).
        title: the figure title.
    """
    with style():
        fig = StudyFigure(figsize=(12, 4.2), layout="constrained")
        histories = {k: v for k, v in histories.items() if len(v)}
        if not histories:
            return message(fig, "no training history to show")
        loss_ax, dice_ax = fig.subplots(1, 2)
        colours = sns.color_palette("tab10", len(histories))
        for colour, (name, h) in zip(colours, histories.items(), strict=True):
            loss_ax.plot(h.epoch, h.train_loss, "-o", color=colour, markersize=3, label=f"{name} train")
            loss_ax.plot(h.epoch, h.val_loss, "--s", color=colour, markersize=3, label=f"{name} val")
            dice_ax.plot(h.epoch, h.val_dice, "-o", color=colour, markersize=3, label=name)
            best = h.loc[h.val_loss.idxmin()]
            loss_ax.plot(best.epoch, best.val_loss, "o", mfc="none", mec=colour, markersize=9)
            dice_ax.plot(best.epoch, best.val_dice, "o", mfc="none", mec=colour, markersize=9)
        loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (solid: train, dashed: validation)")
        dice_ax.set(xlabel="epoch", ylabel="validation Dice", title="validation Dice", ylim=(-0.02, 1.02))
        losses = pd.concat([pd.concat([h.train_loss, h.val_loss]) for h in histories.values()]).astype(float)
        if losses.min() > 0 and losses.max() / losses.min() > 30:  # one diverging epoch would flatten the rest
            loss_ax.set_yscale("log")
            loss_ax.set_ylabel("loss (log scale)")
        for ax in (loss_ax, dice_ax):
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        handles, labels = dice_ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", frameon=False)
        fig.suptitle(f"{title} (circle: best epoch, whose weights are kept)", x=0.01, ha="left")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int | None = None) -> list[Path]:
    """Write ``fig`` as ``<path>.png`` and ``<path>.pdf`` (any suffix of ``path`` is replaced), at ``dpi`` (default:
    the figure's ``save_dpi``, see :class:`StudyFigure`; 150 for any other figure).

    Returns:
        ``[png_path, pdf_path]``.
    """
    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".png", ".pdf") else base
    out = []
    for ext in ("png", "pdf"):
        target = base.parent / f"{base.name}.{ext}"
        with atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=ext, dpi=dpi or getattr(fig, "save_dpi", StudyFigure.save_dpi), bbox_inches="tight")
        out.append(target)
    return out
