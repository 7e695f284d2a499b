"""Prediction on a folder of images of any size, with a run's own preprocessing.

Each image is read and preprocessed exactly as the run's cache preprocessed its training and test images
(:func:`seg_utils.data.cache.preprocess_pair`: area-resized to the model's square input, the run's intensity option;
grey images replicated to three channels), predicted (optionally with flip test-time augmentation), and its logits
are resized back to the image's own size (bilinear, as :func:`seg_utils.model.evaluate.resize_logits` does for
``eval_resolution='original'``) and thresholded there. Written to ``out``:

- ``masks/<stem>.png``: the predicted mask at the image's own resolution, 0/255;
- ``overlays/<stem>.png``: the image with the prediction (orange) and, where a mask is given, the ground truth's
  outline (green), at most :data:`OVERLAY_SIDE` pixels on its longer side;
- ``predictions.csv``: one row per image file (:data:`PREDICTION_COLUMNS`).

Dice against a given mask is scored at one of two resolutions (:data:`DICE_RESOLUTIONS`), said in the ``dice_at``
column: ``input`` (the prediction at the model's input size against the mask resized there with nearest
interpolation, as the cache resizes it: what a run with ``eval_resolution='input'`` writes to its per_image.csv) or
``original`` (the prediction resized back to the mask's own size: ``eval_resolution='original'``).

A file that cannot be read gets one row whose ``error`` says why, and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ..data.cache import apply_intensity, preprocess_pair
from ..data.io import image_size, read_image, read_mask, write_csv
from ..data.layout import IMAGE_SUFFIXES, files, strip_mask_suffix
from ..errors import ConfigError, DataError, check_choice
from ..options import check_options, option
from .evaluate import resize_logits
from .metrics import THRESHOLD, per_image_metrics
from .precision import AmpSettings
from .train import predict

__all__ = ["TTA_MODES", "DICE_RESOLUTIONS", "PredictOptions", "PREDICTION_COLUMNS", "OVERLAY_SIDE", "list_images",
           "match_masks", "preprocess_image", "predict_logits", "logit", "overlay", "predict_folder"]

#: Test-time augmentation: ``none``, or ``flips`` (the mean probability over the identity, horizontal, vertical and
#: both flips, each flipped back; nnU-Net's mirroring for 2-D images).
TTA_MODES = ("none", "flips")
#: Where Dice is scored: at the model's ``input`` size or at each mask's ``original`` size (see the module docstring).
DICE_RESOLUTIONS = ("input", "original")


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """How a run predicts a folder, declared once (the predict notebook's parameters and ``predict``'s flags)."""

    tta: str = option("none", "test-time augmentation: none | flips (mean probability over four flips)",
                      choices=TTA_MODES)
    threshold: float = option(THRESHOLD, "probability above which a pixel is foreground", low=0, high=1,
                              open_low=True, open_high=True)
    dice_at: str = option("run", "where Dice is scored: run (the run's eval_resolution) | input | original",
                          choices=("run", *DICE_RESOLUTIONS))

    def __post_init__(self) -> None:
        check_options(self)


PREDICTION_COLUMNS = ["image", "image_id", "height", "width", "foreground_px", "foreground_fraction", "mask_file",
                      "overlay_file", "truth_file", "dice", "iou", "hd95", "dice_at", "error"]
#: Longer side of an overlay, in pixels (masks keep the image's own size).
OVERLAY_SIDE = 1024
_FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (1,), (1, 2))  # axes of (N, H, W, 3) and of (N, H, W)
_CHUNK = 64  # images preprocessed and predicted together (bounds the memory of long folders)
_PRED, _TRUTH = (255, 127, 14), (44, 160, 44)  # the panels' colours: orange prediction, green ground truth


def list_images(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (not its subfolders), by name.

    Raises:
        DataError: the folder does not exist or holds no image file.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a folder")
    found = files(folder)
    if not found:
        raise DataError(f"no images in {folder}: looked for {', '.join(IMAGE_SUFFIXES)} files (subfolders are not "
                        "searched)")
    return found


def match_masks(images: Sequence[Path], masks_dir: str | Path) -> dict[str, Path]:
    """``{image stem: mask path}``: the masks of ``masks_dir`` whose stem, less a ``_mask`` / ``_segmentation`` / ...
    suffix (:func:`seg_utils.data.layout.strip_mask_suffix`), is an image's stem.

    Raises:
        DataError: the folder does not exist, or no mask matches any image.
    """
    masks_dir = Path(masks_dir).expanduser()
    if not masks_dir.is_dir():
        raise DataError(f"mask folder {masks_dir} does not exist or is not a folder")
    stems = {p.stem for p in images}
    masks = {strip_mask_suffix(p.stem): p for p in files(masks_dir)}
    masks = {stem: path for stem, path in masks.items() if stem in stems}
    if not masks:
        example = images[0].stem if images else "IMAGE"
        raise DataError(f"no mask in {masks_dir} matches an image (by file stem, e.g. {example}.png or "
                        f"{example}_mask.png / {example}_segmentation.png)")
    return masks


def preprocess_image(path: str | Path, size: int, intensity: str = "none") -> np.ndarray:
    """An image alone, preprocessed as :func:`~seg_utils.data.cache.preprocess_pair` preprocesses a pair's image
    (same decoding, area resize and intensity option): uint8 ``(size, size, 3)``."""
    image = read_image(path, draft_size=(2 * size, 2 * size))
    return apply_intensity(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA), intensity)


def logit(p: np.ndarray | float) -> np.ndarray:
    """``log(p / (1 - p))``, with ``p`` clipped to ``[1e-7, 1 - 1e-7]`` (float32)."""
    p = np.clip(np.asarray(p, dtype=np.float32), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 32, amp: AmpSettings | None = None,
                   tta: str = "none") -> np.ndarray:
    """Logits ``(N, H, W)`` float32 of uint8 images ``(N, H, W, 3)`` (:func:`seg_utils.model.train.predict`).

    With ``tta='flips'`` the probabilities of the four flips (each flipped back) are averaged and returned as
    logits (:func:`logit`), so that thresholding and resizing treat both modes alike.
    """
    check_choice("tta", tta, TTA_MODES)
    if tta == "none":
        return predict(model, images, batch_size, amp, logits=True)[0]
    probs = np.zeros(images.shape[:3], dtype=np.float64)
    for axes in _FLIPS:
        flipped = images.flip(axes) if axes else images
        z = predict(model, flipped, batch_size, amp, logits=True)[0]
        probs += 1 / (1 + np.exp(-np.flip(z, axes).astype(np.float64)))
    return logit(probs / len(_FLIPS))


def _outline(mask: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return list(contours)


def overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None, alpha: float = 0.4) -> np.ndarray:
    """``image`` (uint8 RGB) with ``pred`` filled in orange (and outlined) and ``truth``'s outline in green."""
    out = image.copy()
    fill = np.asarray(_PRED, dtype=np.float32)
    out[pred] = (out[pred] * (1 - alpha) + fill * alpha).astype(np.uint8)
    width = max(1, round(max(image.shape[:2]) / 300))
    cv2.drawContours(out, _outline(pred), -1, _PRED, width)
    if truth is not None:
        cv2.drawContours(out, _outline(truth), -1, _TRUTH, width)
    return out


def _overlay_file(path: Path, pred: np.ndarray, truth: np.ndarray | None, target: Path) -> None:
    """Write the overlay of one image, downscaled so that its longer side is at most :data:`OVERLAY_SIDE`."""
    h, w = pred.shape
    scale = min(1.0, OVERLAY_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(read_image(path, draft_size=size), size, interpolation=cv2.INTER_AREA)

    def shrink(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)

    Image.fromarray(overlay(image, shrink(pred), None if truth is None else shrink(truth))).save(target)


def _prepare(path: Path, truth: Path | None, size: int, intensity: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The image at the input size, its mask there (nearest; None without one) and the mask's error ("" if none).

    With a mask, the pair goes through :func:`preprocess_pair` itself, so the arrays are the cache's (a mask stored at
    another size than its image is first resized to the image's, as everywhere); a mask that cannot be read leaves
    the image to :func:`preprocess_image` (whose own error, if any, is raised).
    """
    if truth is not None:
        try:
            x, m = preprocess_pair(str(path), str(truth), size, intensity)
            return x, m.astype(bool), ""
        except DataError as exc:
            return preprocess_image(path, size, intensity), None, f"mask not scored: {exc}"
    return preprocess_image(path, size, intensity), None, ""


def predict_folder(model: nn.Module, images: str | Path, out: str | Path, size: int, intensity: str = "none",
                   masks: str | Path | None = None, tta: str = "none", threshold: float = THRESHOLD,
                   dice_at: str = "original", batch_size: int = 32, amp: AmpSettings | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """Predict every image of a folder; write masks, overlays and ``predictions.csv`` to ``out``.

    Args:
        model: the trained model (on its device; evaluated in ``amp``, float32 when None).
        images: a folder of images (``.png``, ``.jpg``, ``.tif``, ``.bmp``), any size, RGB or grey.
        out: output folder (``masks/``, ``overlays/``, ``predictions.csv``).
        size, intensity: the run's preprocessing (its spec's ``image_size`` and ``intensity``).
        masks: a folder of ground-truth masks matched by stem (:func:`match_masks`), or None.
        tta: one of :data:`TTA_MODES`.
        threshold: probability above which a pixel is foreground, in (0, 1).
        dice_at: one of :data:`DICE_RESOLUTIONS`.
        batch_size: inference batch size.
        progress: a tqdm bar over the images.

    Returns:
        DataFrame with columns :data:`PREDICTION_COLUMNS`, one row per image file: ``height, width`` the image's
        own size, ``foreground_px`` / ``foreground_fraction`` the predicted area there, ``mask_file`` /
        ``overlay_file`` relative to ``out``, ``truth_file`` the matched mask, ``dice, iou, hd95`` (NaN without a
        mask) scored where ``dice_at`` says, ``error`` why a file was not predicted or not scored (empty if fine).

    Raises:
        ConfigError: an invalid option.
        DataError: no image folder or no image in it, or a mask folder that matches no image.
    """
    check_choice("tta", tta, TTA_MODES)
    check_choice("dice_at", dice_at, DICE_RESOLUTIONS)
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise ConfigError(f"threshold={threshold!r} must lie strictly between 0 and 1 (e.g. 0.5)")
    paths = list_images(images)
    truths = match_masks(paths, masks) if masks is not None else {}
    out = Path(out)
    for sub in ("masks", "overlays"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    cut = float(np.log(threshold / (1 - threshold)))  # sigmoid(z) > t  <=>  z > logit(t), as evaluate_arrays does
    rows: list[dict] = []
    seen: set[str] = set()
    bar = tqdm(total=len(paths), desc="predict", unit="image", disable=not progress)
    for start in range(0, len(paths), _CHUNK):
        ready = []
        for path in paths[start:start + _CHUNK]:
            row = {"image": path.name, "image_id": path.stem, "dice_at": "", "error": "",
                   "truth_file": str(truths[path.stem]) if path.stem in truths else ""}
            try:
                if path.stem in seen:
                    raise DataError(f"{path}: another image has the stem {path.stem!r} (its mask would be overwritten)")
                seen.add(path.stem)
                row["height"], row["width"] = image_size(path)
                x, m, row["error"] = _prepare(path, truths.get(path.stem), size, intensity)
                ready.append((path, row, x, m))
            except DataError as exc:
                row["error"] = str(exc)
            rows.append(row)
        if ready:
            z = predict_logits(model, torch.from_numpy(np.stack([r[2] for r in ready])), batch_size, amp, tta)
            for (path, row, _x, m), zi in zip(ready, z, strict=True):
                _finish(path, row, zi, m, cut, dice_at, out)
        bar.update(len(paths[start:start + _CHUNK]))
    bar.close()
    table = pd.DataFrame(rows).reindex(columns=PREDICTION_COLUMNS)
    table = table.astype({"height": "Int64", "width": "Int64", "foreground_px": "Int64"})  # NaN where unreadable
    write_csv(out / "predictions.csv", table)
    return table


def _finish(path: Path, row: dict, z: np.ndarray, m: np.ndarray | None, cut: float, dice_at: str, out: Path) -> None:
    """Threshold one image's logits at its own size, write its mask and overlay, score it against its mask."""
    pred = resize_logits(z, (row["height"], row["width"])) > cut
    mask_file, overlay_file = Path("masks") / f"{path.stem}.png", Path("overlays") / f"{path.stem}.png"
    Image.fromarray(pred.astype(np.uint8) * 255).save(out / mask_file)
    row.update(mask_file=str(mask_file), overlay_file=str(overlay_file), foreground_px=int(pred.sum()),
               foreground_fraction=float(pred.mean()))
    truth = None
    if m is not None:
        truth = read_mask(row["truth_file"], pred.shape)  # on the image's grid, as preprocess_pair reads it
        if dice_at == "input":  # the prediction at the model's size against the mask resized there, as the cache
            scored = per_image_metrics((z > cut)[None], m[None])
        else:
            scored = per_image_metrics(pred[None], truth[None])
        row.update(dice=float(scored.dice[0]), iou=float(scored.iou[0]), hd95=float(scored.hd95[0]), dice_at=dice_at)
    try:
        _overlay_file(path, pred, truth, out / overlay_file)
    except DataError as exc:
        row["error"] = f"overlay not written: {exc}"
