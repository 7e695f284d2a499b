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
from .io import read_image, read_mask, write_csv

__all__ = ["INTENSITIES", "CachedData", "build_cache", "cache_key", "preprocess_pair", "apply_intensity"]

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


def preprocess_pair(image_path: str, mask_path: str, size: int,
                    intensity: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Read, resize (images: area interpolation; masks: nearest) and normalise one pair."""
    image = read_image(image_path, draft_size=(2 * size, 2 * size))
    mask = read_mask(mask_path)
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

        def work(i: int) -> None:
            images[i], masks[i] = preprocess_pair(rows.image_path[i], rows.mask_path[i], size, intensity)

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
