"""Mass-centred crops (CBIS-DDSM ``mass_crop``): a square window of declared context around one abnormality.

A manifest row of a crop keeps its whole mammogram as ``image_path`` and the mask of every mass of that mammogram as
``mask_path``; its ``crop`` column (``"y0 x0 y1 x1"``, half-open, in the mammogram's own pixels) says which window
to train and test on. :mod:`seg_utils.data.cache` applies it (``parse_crop`` / ``apply_crop``), zero-padding where
the window leaves the mammogram, and the quality inspection compares the windows, not the whole mammograms.

The window is centred on the bounding box of the abnormality's ROI mask and is :data:`CROP_CONTEXT` of the box's
longer side larger on each side (a box of side ``s`` gives a window of side ``2 s``), at least :data:`CROP_MIN_SIDE`
pixels. It comes from the ground truth, so it is an *oracle* crop: at test time a detector would have to find the
mass first (as in the literature rows that detect, then segment).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import DataError
from .io import MASK_PART_SEPARATOR

__all__ = ["CROP_CONTEXT", "CROP_MIN_SIDE", "Box", "crop_window", "format_crop", "mask_boxes", "mask_box"]

#: The window extends this fraction of the box's longer side beyond the box on each side.
CROP_CONTEXT = 0.5
#: The smallest window side in pixels (a tiny mass still gets some surroundings).
CROP_MIN_SIDE = 32
#: Long side (pixels) down to which a big JPEG mask may be decoded when only its bounding box is needed.
_BOX_DECODE_SIDE = 1024

Box = tuple[int, int, int, int]  # y0, x0, y1, x1, half-open


def crop_window(box: Box) -> Box:
    """The square window of a bounding box: side ``(1 + 2 CROP_CONTEXT)`` times the box's longer side, at least
    :data:`CROP_MIN_SIDE`, centred on the box. It may leave the image (the cache zero-pads)."""
    y0, x0, y1, x1 = box
    side = max(CROP_MIN_SIDE, math.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * CROP_CONTEXT)))
    top = int(math.floor((y0 + y1 - side) / 2))
    left = int(math.floor((x0 + x1 - side) / 2))
    return top, left, top + side, left + side


def format_crop(window: Box) -> str:
    """A window as the manifest's ``crop`` cell: ``"y0 x0 y1 x1"``."""
    return " ".join(str(int(v)) for v in window)


def mask_boxes(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the connected components (8-connected) of a boolean mask, in raster order of their first
    pixel (top to bottom, then left to right)."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))  # numbered in raster order
    return [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels)]


def mask_box(path: str | Path, shape: tuple[int, int]) -> Box | None:
    """Bounding box of a mask file's foreground (grey > 127) in the pixels of an image of ``shape``
    ``(height, width)``; None for an empty mask.

    A mask stored at another size than its image is scaled to it (as the readers resize it). A big JPEG is decoded
    at a reduced scale (JPEG draft mode): the box is then widened by one reduced pixel on each side, which the
    window's context absorbs.

    Raises:
        DataError: the file cannot be read.
    """
    if MASK_PART_SEPARATOR in str(path):
        raise DataError(f"{path}: mask_box takes one mask file, not several joined by {MASK_PART_SEPARATOR!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
            full_w, full_h = img.size
            k = 1
            while k < 8 and max(full_w, full_h) // (2 * k) >= _BOX_DECODE_SIDE:
                k *= 2
            if img.format == "JPEG" and k > 1:
                img.draft("L", (math.ceil(full_w / k), math.ceil(full_h / k)))
            arr = np.asarray(img.convert("L"), dtype=np.uint8)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except Exception as exc:  # PIL raises many types on corrupt bytes
        raise DataError(f"{path}: cannot be decoded as an image ({type(exc).__name__}: {exc})") from exc
    ys, xs = np.nonzero(arr > 127)
    if len(ys) == 0:
        return None
    h, w = arr.shape
    sy, sx = shape[0] / h, shape[1] / w
    pad = 0 if (h, w) == (full_h, full_w) else 1  # a reduced decode: one reduced pixel of slack
    y0, x0 = max(0, ys.min() - pad), max(0, xs.min() - pad)
    y1, x1 = min(h, ys.max() + 1 + pad), min(w, xs.max() + 1 + pad)
    return (int(math.floor(y0 * sy)), int(math.floor(x0 * sx)), int(math.ceil(y1 * sy)), int(math.ceil(x1 * sx)))
