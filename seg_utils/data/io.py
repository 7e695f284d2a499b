"""Reading images and masks, and writing result files atomically.

Every reader raises :class:`~seg_utils.errors.DataError` naming the file, whatever its bytes, so a broken
file is reported (or excluded by the quality step), never a crash with a bare PIL traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DataError

__all__ = [
    "MASK_PART_SEPARATOR",
    "WIDE_MODES",
    "scale_to_uint8",
    "read_image",
    "read_mask_raw",
    "read_mask",
    "mask_part_sizes",
    "image_size",
    "atomic_write",
    "write_json",
    "read_json",
    "write_csv",
]

#: A mask path may name several files joined by this separator; their union is the mask
#: (the NLM Montgomery layout has ``leftMask/`` and ``rightMask/``).
MASK_PART_SEPARATOR = "|"
#: PIL modes of wide-range grey images, which :func:`read_image` scales to 8 bits by their own range.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I")

# Large ISIC and mammography images are legitimately big; PIL's bomb check would refuse them.
Image.MAX_IMAGE_PIXELS = 40_000 * 40_000


def _open(path: str | Path, draft_size: tuple[int, int] | None = None) -> Image.Image:
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty (0 bytes); replace it or let the quality step exclude it")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
            if draft_size is not None and img.format == "JPEG":
                img.draft(img.mode, draft_size)  # DCT-domain downscale: ~3x faster decode for big JPEGs
            img.load()
        return img
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except Exception as exc:  # PIL raises many types on corrupt bytes (OSError, SyntaxError, ValueError, ...)
        raise DataError(f"{path}: cannot be decoded as an image ({type(exc).__name__}: {exc})") from exc


def read_image(path: str | Path, draft_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as ``uint8`` RGB, shape ``(H, W, 3)``.

    Grayscale (X-rays) is replicated to three channels; 16-bit images are scaled to 8 bits by their own
    range. ``draft_size`` lets JPEG decoding skip resolution that a later resize would throw away.

    Raises:
        DataError: the file is missing, empty, truncated or not an image.
    """
    img = _open(path, draft_size)
    if img.mode in WIDE_MODES:
        return np.repeat(scale_to_uint8(np.asarray(img))[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """A wide-range grey array (16-bit, 32-bit) scaled to ``uint8`` by its own min..max (a flat array gives 0)."""
    arr = np.asarray(arr, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
    return arr.round().astype(np.uint8)


def read_mask_raw(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask's grey values as ``uint8`` ``(H, W)`` without binarising (for the quality checks).

    A path joining several files with :data:`MASK_PART_SEPARATOR` gives the pixel-wise maximum. A part whose size
    differs from ``shape`` (``(height, width)``: the image's own size, which the callers that know it pass) or,
    without ``shape``, from the first part's, is first resized to it (nearest neighbour, so the values stay
    0/255). CBIS-DDSM's ROI masks are drawn on the mammogram's grid, but some are stored at another size; the
    quality inspection reports every such resize (``mask_resized``, or ``size_mismatch`` for a single mask that
    is not declared resizable).
    """
    arrays = []
    for part in str(path).split(MASK_PART_SEPARATOR):
        img = _open(part)
        arr = np.asarray(img.convert("L") if img.mode not in ("L", "1") else img, dtype=np.uint8)
        if img.mode == "1":
            arr = arr * np.uint8(255)
        arrays.append(arr)
    target = (int(shape[0]), int(shape[1])) if shape is not None else arrays[0].shape[:2]
    arrays = [a if a.shape == target else _resize_nearest(a, target) for a in arrays]
    return np.maximum.reduce(arrays) if len(arrays) > 1 else arrays[0]


def _resize_nearest(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    resample = Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(arr).resize((shape[1], shape[0]), resample), dtype=np.uint8)


def read_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as ``bool`` ``(H, W)``: foreground is a grey value above 127 (masks are 0/255).

    ``shape``: the image's ``(height, width)``; parts of another size are resized to it (see :func:`read_mask_raw`).
    """
    return read_mask_raw(path, shape) > 127


def mask_part_sizes(path: str | Path) -> list[tuple[int, int]]:
    """``(height, width)`` of each part of a mask path (several joined by :data:`MASK_PART_SEPARATOR`), from the
    headers only."""
    return [image_size(part) for part in str(path).split(MASK_PART_SEPARATOR)]


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the header only."""
    parts = str(path).split(MASK_PART_SEPARATOR)
    try:
        with Image.open(parts[0]) as img:
            return img.height, img.width
    except Exception as exc:
        raise DataError(f"{parts[0]}: cannot read the image header ({type(exc).__name__}: {exc})") from exc


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``path`` and rename it over ``path`` only when the block succeeds.

    A reader (or a rerun after a killed kernel) sees either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically. Non-finite floats are written as ``null``."""
    text = json.dumps(_nan_to_none(obj), indent=2, default=_json_default, allow_nan=False)
    with atomic_write(path) as fh:
        fh.write(text + "\n")
    return Path(path)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def read_json(path: str | Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def write_csv(path: str | Path, df: Any) -> Path:
    """Write a DataFrame as CSV (no index), atomically."""
    with atomic_write(path) as fh:
        df.to_csv(fh, index=False)
    return Path(path)
