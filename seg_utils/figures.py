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
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .evaluate import load_predictions
from .reference import poster_panel_images, poster_results
from .study import DATASET_NAMES, LOSS_NAMES
from .tables import model_label, row_labels

__all__ = ["StudyFigure", "plot_table", "plot_ablation", "plot_dice_distributions", "plot_history", "plot_panel",
           "plot_quality_gallery", "save_figure", "PANEL_MODELS"]

#: The two models of the poster's qualitative panels, in column order.
PANEL_MODELS = (("unet", "resnet50"), ("deeplabv3plus", "resnet50"))
_OURS, _POSTER, _OTHER = "#1f77b4", "#d62728", "#7f7f7f"
_GT, _PRED = "#2ca02c", "#ff7f0e"


class StudyFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself in Jupyter as a PNG (``_repr_png_``), without pyplot
    or a registered backend, so a cell ending with it displays it once."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


@contextmanager
def _style(context: str = "notebook", font_scale: float = 0.9) -> Iterator[None]:
    """The study's style, for the duration of one figure (no global rcParams change)."""
    with sns.axes_style("whitegrid"), sns.plotting_context(context, font_scale=font_scale), \
            mpl.rc_context({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titlesize": "medium"}):
        yield


def _message(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def plot_table(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Our Dice (point, 95% CI as error bar) beside the poster's (red diamond), one row per configuration.

    Args:
        df: a score table of :mod:`seg_utils.tables` (``dice, ci_low, ci_high, poster``; ``status`` marks
            missing rows) or the literature table (``work, model, dice``; literature rows without an interval are
            grey points).
        title: default: the table's ``attrs["title"]``.
    """
    labels = row_labels(df)
    n = len(df)
    with _style():
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
        for i in np.flatnonzero(~np.isfinite(dice) & ~own):
            ax.text(0.02, y[i], "missing: no complete run", va="center", ha="left", color=_OTHER, fontsize="small",
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
        table: :func:`seg_utils.ablation.ablation_table`'s table.
        title: default: the table's ``attrs["title"]``.
    """
    title = title or table.attrs.get("title", "")
    with _style():
        if table.empty:
            return _message(StudyFigure(figsize=(8, 2)),
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
            name = f"{group.model.iloc[0]} {group.loss.iloc[0]}"
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
    with _style():
        fig = StudyFigure(figsize=(8, 1.2 + 0.45 * max(len(per_image), 1)), layout="constrained")
        if not per_image:
            return _message(fig, "no complete run to show")
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
    with _style():
        fig = StudyFigure(figsize=(12, 4.2), layout="constrained")
        histories = {k: v for k, v in histories.items() if len(v)}
        if not histories:
            return _message(fig, "no training history to show")
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


# ------------------------------------------------------------------------------------------- panel

def _poster_panel_dice(dataset: str, loss: str) -> dict[tuple[str, str], float]:
    """``{(image stem, arch): poster Dice}`` of the panel images (panels without a loss apply to any loss)."""
    df = poster_results()
    df = df[(df.table == "panel") & (df.dataset == dataset) & ((df.loss == "") | (df.loss == loss))]
    return {(Path(r.image_id).stem, r.arch): float(r.dice) for r in df.itertuples()}


def _overlay(ax: Any, image: np.ndarray, fill: np.ndarray | None, fill_colour: str,
             contour: np.ndarray | None = None) -> None:
    ax.imshow(image, interpolation="nearest")
    if fill is not None and fill.any():
        rgba = np.zeros((*fill.shape, 4))
        rgba[fill.astype(bool)] = (*mpl.colors.to_rgb(fill_colour), 0.45)
        ax.imshow(rgba, interpolation="nearest")
    if contour is not None and contour.any() and not contour.all():
        ax.contour(contour.astype(float), levels=[0.5], colors=[_GT], linewidths=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _panel_runs(runs: pd.DataFrame, loss: str, seed: int | None) -> dict[str, dict]:
    """``{arch: {"run_dir", "pred", "dice"}}`` for the two panel models with ``loss``."""
    out = {}
    for arch, encoder in PANEL_MODELS:
        hit = runs[(runs.arch == arch) & (runs.encoder == encoder) & (runs.loss == loss)]
        if seed is not None:
            hit = hit[hit.seed == seed]
        if hit.empty:
            continue
        row = hit.sort_values("seed").iloc[0]
        run_dir = Path(row.run_dir)
        per_image = pd.read_csv(run_dir / "per_image.csv", dtype={"image_id": str})
        out[arch] = {"run_dir": run_dir, "seed": int(row.seed), "pred": load_predictions(run_dir / "predictions.npz"),
                     "dice": dict(zip(per_image.image_id, per_image.dice, strict=True))}
    return out


def plot_panel(cache: Any, runs: pd.DataFrame, dataset: str, loss: str = "bce", seed: int | None = None) -> Figure:
    """The poster's qualitative panel: image, ground truth, U-Net_RN50 and DeepLabV3+_RN50 predictions.

    The rows are the poster's four named images of ``dataset`` (:func:`seg_utils.reference.poster_panel_images`,
    matched by file stem) that are in the test set; when none is, the best, median and worst test images of
    DeepLabV3+_RN50 (by its Dice). The title says which. Each prediction is titled with its Dice (and the poster's
    Dice for that image, where the poster gives one); predictions are filled orange, the ground truth is the
    green contour.

    Args:
        cache: the arrays the runs were evaluated on (:attr:`seg_utils.runs.PreparedData.cache`: ``images``,
            ``masks``, ``index`` with ``image_id``), at the runs' image size.
        runs: runs with columns ``arch, encoder, loss, seed, run_dir`` (a :func:`seg_utils.study.run_grid` table).
        dataset: the dataset (for the poster's images and numbers).
        loss: the loss of the two runs to show.
        seed: which seed (default: the lowest available).
    """
    found = _panel_runs(runs, loss, seed)
    row_of = {str(i): k for k, i in enumerate(cache.index.image_id)}
    loss_name = LOSS_NAMES.get(loss, loss)
    with _style(font_scale=0.8):
        if not found:
            return _message(StudyFigure(figsize=(8, 2)), f"{DATASET_NAMES.get(dataset, dataset)}: no complete "
                            f"U-Net_RN50 or DeepLabV3+_RN50 run with {loss_name} to show")
        ref = found.get("deeplabv3plus") or next(iter(found.values()))
        ref_name = model_label("deeplabv3plus" if "deeplabv3plus" in found else next(iter(found)), "resnet50")
        named = [Path(n).stem for n in poster_panel_images(dataset)]
        ids = [s for s in named if s in ref["pred"] and s in row_of]
        if ids:
            how = "the poster's named images" + (f" ({len(ids)} of {len(named)} in this test set)"
                                                 if len(ids) < len(named) else "")
        else:
            ranked = sorted((d, i) for i, d in ref["dice"].items() if i in row_of and i in ref["pred"])
            picks = [ranked[-1], ranked[len(ranked) // 2], ranked[0]] if ranked else []
            ids = list(dict.fromkeys(i for _, i in picks))
            how = (f"the poster's images are not in this test set: best, median and worst {ref_name} cases"
                   if named else f"best, median and worst {ref_name} cases")
        poster = _poster_panel_dice(dataset, loss)
        fig = StudyFigure(figsize=(10, 2.6 * len(ids) + 0.6), layout="constrained")
        axes = fig.subplots(len(ids), 2 + len(PANEL_MODELS), squeeze=False)
        for r, image_id in enumerate(ids):
            k = row_of[image_id]
            image, mask = np.asarray(cache.images[k]), np.asarray(cache.masks[k]).astype(bool)
            _overlay(axes[r, 0], image, None, _GT)
            axes[r, 0].set_title(image_id, fontsize="small")
            _overlay(axes[r, 1], image, mask, _GT)
            axes[r, 1].set_title("ground truth", fontsize="small")
            for c, (arch, encoder) in enumerate(PANEL_MODELS, start=2):
                ax = axes[r, c]
                run = found.get(arch)
                if run is None or image_id not in run["pred"]:
                    ax.axis("off")
                    ax.text(0.5, 0.5, f"{model_label(arch, encoder)}\nno run", ha="center", va="center")
                    continue
                _overlay(ax, image, run["pred"][image_id], _PRED, contour=mask)
                p = poster.get((image_id, arch))
                ax.set_title(f"{model_label(arch, encoder)}: Dice {run['dice'][image_id]:.3f}"
                             + ("" if p is None else f"\n(poster {p:.3f})"), fontsize="small")
        seeds = sorted({v["seed"] for v in found.values()})
        fig.suptitle(f"{DATASET_NAMES.get(dataset, dataset)}, {loss_name} (seed {', '.join(map(str, seeds))}): "
                     f"{how}", x=0.01, ha="left")
    return fig


# ----------------------------------------------------------------------------------------- gallery

def _thumbnail(path: str, size: int = 256) -> tuple[np.ndarray | None, str]:
    from PIL import Image

    from .errors import DataError
    from .io import read_image

    if not path:
        return None, "no file"
    try:
        img = read_image(path, draft_size=(size, size))
    except DataError as exc:
        return None, str(exc).split(": ", 1)[-1][:80]
    pil = Image.fromarray(img)
    pil.thumbnail((size, size))
    return np.asarray(pil), ""


def _mask_thumbnail(path: str, shape: tuple[int, int]) -> np.ndarray | None:
    from PIL import Image

    from .errors import DataError
    from .io import read_mask

    if not path:
        return None
    try:
        mask = read_mask(path)
    except DataError:
        return None
    pil = Image.fromarray(mask.astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.NEAREST)
    return np.asarray(pil) > 127


def plot_quality_gallery(examples: pd.DataFrame, columns: int = 3,
                         title: str = "Examples excluded by the data-quality inspection") -> Figure:
    """A few excluded images with their masks (green outline), titled with the check that excluded them.

    Args:
        examples: :func:`seg_utils.quality.excluded_examples` (``image_id, split, check, detail, image_path,
            mask_path``).
        columns: images per row.
        title: the figure title.
    """
    with _style(font_scale=0.75):
        if examples is None or examples.empty:
            return _message(StudyFigure(figsize=(8, 1.2)), "The inspection excluded no image: nothing to show.")
        n = len(examples)
        rows = -(-n // columns)
        fig = StudyFigure(figsize=(3.4 * min(n, columns), 3.4 * rows + 0.5), layout="constrained")
        axes = fig.subplots(rows, min(n, columns), squeeze=False)
        for ax in axes.flat[n:]:
            ax.axis("off")
        for ax, ex in zip(axes.flat, examples.itertuples(), strict=False):
            image, why = _thumbnail(ex.image_path)
            caption = f"{ex.image_id} ({ex.split})\n{ex.check}\n" + textwrap.shorten(str(ex.detail), 70)
            if image is None:
                ax.axis("off")
                ax.text(0.5, 0.5, f"image: {why}", ha="center", va="center", wrap=True, fontsize="small")
            else:
                mask = _mask_thumbnail(ex.mask_path, image.shape[:2])
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
                if mask is not None and mask.any() and not mask.all():
                    ax.contour(mask.astype(float), levels=[0.5], colors=[_GT], linewidths=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            ax.set_title("\n".join(textwrap.fill(line, 42) for line in caption.split("\n")), fontsize="small")
        fig.suptitle(title, x=0.01, ha="left")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<path>.png`` and ``<path>.pdf`` (any suffix of ``path`` is replaced).

    Returns:
        ``[png_path, pdf_path]``.
    """
    from .io import atomic_write

    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".png", ".pdf") else base
    out = []
    for ext in ("png", "pdf"):
        target = base.parent / f"{base.name}.{ext}"
        with atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=ext, dpi=dpi, bbox_inches="tight")
        out.append(target)
    return out

