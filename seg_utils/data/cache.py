"""Preprocessing cache: a clean manifest resized once to the run's size, stored as uint8 arrays.

Decoding a 6000 x 4000 ISIC JPEG costs ~0.15 s; reading its 224 x 224 copy from a memory-mapped array
costs ~0.1 ms. So each (manifest, size, intensity) is decoded once, in parallel, and every run and notebook
reuses the arrays. The key holds the manifest's fingerprint *with* file mtimes, so a changed file
rebuilds the cache. Layout::

    <cache_dir>/<key>/images.npy   uint8 (N, S, S, 3)
    <cache_dir>/<key>/masks.npy    uint8 (N, S, S), 0/1
    <cache_dir>/<key>/index.csv    image_id, split, source (row order of the arrays)

A cache folder is built under a temporary name and renamed into place, so a killed build leaves no cache
that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import check_choice
from .datasets import manifest_fingerprint
from .io import image_size, read_image, read_mask, write_csv

__all__ = ["INTENSITIES", "CachedData", "build_cache", "cache_key", "preprocess_pair", "apply_intensity",
           "parse_crop", "apply_crop", "read_native_mask"]

INTENSITIES = ("none", "clahe", "equalize")
_VERSION = 1  # bump when the preprocessing changes


@dataclass
class CachedData:
    """Resized arrays of a manifest, row-aligned with ``index``."""

    images: np.ndarray
    masks: np.ndarray
    index: pd.DataFrame
    path: Path

    def split(self, name: str) -> np.ndarray:
        """Row numbers of split ``name``."""
        return np.flatnonzero(self.index.split.to_numpy() == name)

    def __getstate__(self) -> dict:
        """Pickled as its folder only (worker processes map the arrays again instead of copying them)."""
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        loaded = _load(Path(state["path"]))
        self.images, self.masks, self.index, self.path = loaded.images, loaded.masks, loaded.index, loaded.path


def apply_intensity(image: np.ndarray, intensity: str) -> np.ndarray:
    """Intensity normalisation of a uint8 RGB image.

    ``clahe``: contrast-limited adaptive histogram equalisation (clip 2.0, 8 x 8 tiles) of the lightness
    channel; ``equalize``: global histogram equalisation of it; ``none``: unchanged. Grey images stay grey.
    """
    check_choice("intensity", intensity, INTENSITIES)
    if intensity == "none":
        return image
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    light = lab[..., 0]
    if intensity == "clahe":
        light = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(light)
    else:
        light = cv2.equalizeHist(light)
    if np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]):
        return np.repeat(light[..., None], 3, axis=2)  # grey in, grey out (LAB round trip would tint it)
    lab[..., 0] = light
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def parse_crop(crop: object) -> tuple[int, int, int, int] | None:
    """A manifest ``crop`` cell (``"y0 x0 y1 x1"`` in the image's own pixels) as a tuple; None for no crop."""
    if crop is None or (isinstance(crop, float) and np.isnan(crop)) or not str(crop).strip():
        return None
    y0, x0, y1, x1 = (int(v) for v in str(crop).split())
    return y0, x0, y1, x1


def apply_crop(array: np.ndarray, crop: tuple[int, int, int, int] | None) -> np.ndarray:
    """``array[y0:y1, x0:x1]``, padded with zeros where the window leaves the image."""
    if crop is None:
        return array
    y0, x0, y1, x1 = crop
    out = np.zeros((y1 - y0, x1 - x0, *array.shape[2:]), dtype=array.dtype)
    h, w = array.shape[:2]
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


def read_native_mask(row: pd.Series) -> np.ndarray:
    """A clean manifest row's mask at its own resolution (its crop window applied): what ``eval_resolution=
    'original'`` scores against. Boolean ``(H, W)``; a mask stored at another size than its image is resized to
    the image's first (nearest), as everywhere."""
    return apply_crop(read_mask(row.mask_path, image_size(row.image_path)), parse_crop(row.get("crop")))


def preprocess_pair(image_path: str, mask_path: str, size: int, intensity: str = "none",
                    crop: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Read, crop (a manifest ``crop`` window, if any), resize (images: area interpolation; masks: nearest) and
    normalise one pair."""
    window = parse_crop(crop)
    image = apply_crop(read_image(image_path, draft_size=None if window else (2 * size, 2 * size)), window)
    mask = apply_crop(read_mask(mask_path, image_size(image_path)), window)  # on the image's own grid
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return apply_intensity(image, intensity), mask


def cache_key(manifest: pd.DataFrame, size: int, intensity: str) -> str:
    text = f"v{_VERSION}-{manifest_fingerprint(manifest, with_mtime=True)}-{size}-{intensity}"
    return f"{size}px-{intensity}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _load(path: Path) -> CachedData:
    return CachedData(images=np.load(path / "images.npy", mmap_mode="r"),
                      masks=np.load(path / "masks.npy", mmap_mode="r"),
                      index=pd.read_csv(path / "index.csv", dtype=str), path=path)


def build_cache(manifest: pd.DataFrame, size: int, cache_dir: str | Path, intensity: str = "none",
                workers: int | None = None, progress: bool = True) -> CachedData:
    """Return the cached arrays of ``manifest`` at ``size``, building them if needed.

    Args:
        manifest: a clean manifest (every row has an image and a mask that decode).
        size: side of the square arrays.
        cache_dir: parent folder of the cache (under the results folder by default; never beside the data,
            which may be read-only).
        intensity: see :func:`apply_intensity`.
        workers: decoding threads (default: the CPU count).
        progress: show a tqdm bar.
    """
    cache_dir = Path(cache_dir)
    path = cache_dir / cache_key(manifest, size, intensity)
    if (path / "index.csv").is_file():
        return _load(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows = manifest.reset_index(drop=True)
    n = len(rows)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=cache_dir))
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        masks = np.lib.format.open_memmap(tmp / "masks.npy", mode="w+", dtype=np.uint8, shape=(n, size, size))

        crops = rows["crop"] if "crop" in rows else pd.Series([None] * n)

        def work(i: int) -> None:
            images[i], masks[i] = preprocess_pair(rows.image_path[i], rows.mask_path[i], size, intensity, crops[i])

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            list(tqdm(pool.map(work, range(n)), total=n, desc=f"cache {size}px", disable=not progress))
        images.flush()
        masks.flush()
        write_csv(tmp / "index.csv", rows[["image_id", "split", "source"]])
        try:
            os.replace(tmp, path)
        except OSError:  # built concurrently by another process: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _load(path)
