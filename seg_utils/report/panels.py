"""Pictures of images: the poster's qualitative panels (image, ground truth, both models' predictions), the
gallery of images the quality inspection excluded, and the gallery of a run's predictions on new images
(``python -m seg_utils predict`` / ``study.predict``)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from ..data.cache import CachedData
from ..data.io import read_image, read_mask
from ..errors import DataError
from ..study.grid import DATASET_NAMES, LOSS_NAMES, PANEL_MODELS, model_label
from ..study.reference import poster_panel_images, poster_results
from .display import show
from .figures import IMAGE_DPI, StudyFigure, message, style
from .results import has_predictions, read_per_image, read_predictions

__all__ = ["plot_panel", "plot_quality_gallery", "plot_predictions", "show_predictions"]

_GT, _PRED = "#2ca02c", "#ff7f0e"


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


def _panel_runs(runs: pd.DataFrame, loss: str, seed: int | None) -> tuple[dict[str, dict], list[str]]:
    """``{arch: {"run_dir", "pred", "dice"}}`` for the two panel models with ``loss``, and the models whose complete
    run has no ``predictions.npz`` (a committed study keeps none)."""
    out, unsaved = {}, []
    for arch, encoder in PANEL_MODELS:
        hit = runs[(runs.arch == arch) & (runs.encoder == encoder) & (runs.loss == loss)]
        if "status" in hit:
            hit = hit[hit.status == "complete"]
        if seed is not None:
            hit = hit[hit.seed == seed]
        if hit.empty:
            continue
        row = hit.sort_values("seed").iloc[0]
        run_dir = Path(row.run_dir)
        if not has_predictions(run_dir):
            unsaved.append(model_label(arch, encoder))
            continue
        per_image = read_per_image(run_dir)
        out[arch] = {"run_dir": run_dir, "seed": int(row.seed), "pred": read_predictions(run_dir),
                     "dice": dict(zip(per_image.image_id, per_image.dice, strict=True))}
    return out, unsaved


def plot_panel(cache: CachedData, runs: pd.DataFrame, dataset: str, loss: str = "bce",
               seed: int | None = None) -> Figure:
    """The poster's qualitative panel: image, ground truth, U-Net_RN50 and DeepLabV3+_RN50 predictions.

    The rows are the poster's four named images of ``dataset`` (:func:`seg_utils.study.reference.poster_panel_images`,
    matched by file stem) that are in the test set; when none is, the best, median and worst test images of
    DeepLabV3+_RN50 (by its Dice). The title says which. Each prediction is titled with its Dice (and the poster's
    Dice for that image, where the poster gives one); predictions are filled orange, the ground truth is the
    green contour.

    Args:
        cache: the arrays the runs were evaluated on (:attr:`seg_utils.study.PreparedData.cache`: ``images``,
            ``masks``, ``index`` with ``image_id``), at the runs' image size.
        runs: runs with columns ``arch, encoder, loss, seed, run_dir`` (a ``study.run_grid`` table).
        dataset: the dataset (for the poster's images and numbers).
        loss: the loss of the two runs to show.
        seed: which seed (default: the lowest available).
    """
    found, unsaved = _panel_runs(runs, loss, seed)
    row_of = {str(i): k for k, i in enumerate(cache.index.image_id)}
    loss_name = LOSS_NAMES.get(loss, loss)
    with style(font_scale=0.8):
        if not found:
            why = (f"the runs of {' and '.join(unsaved)} keep no predictions.npz (a committed study keeps none): "
                   "train them in a results folder of your own to draw it" if unsaved
                   else "no complete U-Net_RN50 or DeepLabV3+_RN50 run")
            return message(StudyFigure(figsize=(8, 2)), f"{DATASET_NAMES.get(dataset, dataset)}, {loss_name}: {why}")
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
                    label = model_label(arch, encoder)
                    ax.text(0.5, 0.5, f"{label}\n{'no predictions saved' if label in unsaved else 'no run'}",
                            ha="center", va="center")
                    continue
                _overlay(ax, image, run["pred"][image_id], _PRED, contour=mask)
                p = poster.get((image_id, arch))
                ax.set_title(f"{model_label(arch, encoder)}: Dice {run['dice'][image_id]:.3f}"
                             + ("" if p is None else f"\n(poster {p:.3f})"), fontsize="small")
        seeds = sorted({v["seed"] for v in found.values()})
        fig.suptitle(f"{DATASET_NAMES.get(dataset, dataset)}, {loss_name} (seed {', '.join(map(str, seeds))}): "
                     f"{how}", x=0.01, ha="left")
    return fig


def _thumbnail(path: str, size: int = 256) -> tuple[np.ndarray | None, str]:
    from PIL import Image


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
        examples: :func:`seg_utils.data.quality.excluded_examples` (``image_id, split, check, detail, image_path,
            mask_path``).
        columns: images per row.
        title: the figure title.
    """
    with style(font_scale=0.75):
        if examples is None or examples.empty:
            return message(StudyFigure(figsize=(8, 1.2)), "The inspection excluded no image: nothing to show.")
        n = len(examples)
        rows = -(-n // columns)
        fig = StudyFigure(figsize=(3.4 * min(n, columns), 3.4 * rows + 0.5), layout="constrained")
        fig.save_dpi = IMAGE_DPI
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
        fig.save_dpi = IMAGE_DPI
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


PREDICTION_COLUMNS = ["image_id", "width", "height", "foreground_fraction", "dice", "iou", "dice_at", "error"]
"""The columns of a predictions table shown in a report (``predictions.csv`` holds them all)."""


def show_predictions(predictions: pd.DataFrame, max_rows: int = 40):
    """The predictions table for reading: the images with an error first (their order kept), then the rest, at most
    ``max_rows`` rows (:func:`.display.show` says how many the table has)."""
    errors_first = predictions.sort_values("error", key=lambda e: e.fillna("").eq(""), kind="stable")
    return show(errors_first, columns=PREDICTION_COLUMNS, max_rows=max_rows)
