"""Integrity: decoding every pair once into what the checks need, and the file, geometry and format checks.

Every decode goes through the readers of :mod:`seg_utils.data.io`, so a broken file becomes a finding, never a crash.
A row with a ``crop`` window (mass-centred crops) is checked as it is trained: its hashes, channels, aspect ratio and
mask coverage are those of the window; the files' own properties (sizes, bit depth, grey values of the mask file)
are those of the whole files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import imagehash
import numpy as np
import pandas as pd
import scipy.fft
from PIL import Image, ImageChops

from ...errors import DataError
from .. import io as _io
from ..cache import apply_crop
from ..layout import MANIFEST_COLUMNS, SPLITS
from .rules import QualityRules

__all__ = ["Decoded", "decode_pair", "validate", "pair_findings"]

_GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")

_BITS = {"1": 1, "I": 32, "F": 32, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}


_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F")

_HASH_SIDE = 256  # images are box-reduced to about this size before hashing and the channel check

_DCT_WEIGHT = np.hypot(*np.meshgrid(np.arange(16), np.arange(16), indexing="ij"))  # 0 for DC


@dataclass
class Decoded:
    """What one decode of a pair yields; ``*_error`` set means that file is unusable."""

    image_error: str | None = None
    height: int = 0
    width: int = 0
    mode: str = ""
    bit_depth: int = 8
    value_range: tuple[int, int] = (0, 0)
    stored_channels: int = 0
    channels: int = 0
    pixel_sha: str = ""
    phash: np.ndarray | None = None
    detail: np.ndarray | None = None
    view: tuple[int, int] = (0, 0)  # (height, width) of what is trained: the crop window, else the image
    mask_error: str | None = None
    mask_shape: tuple[int, int] = (0, 0)
    mask_part_shapes: list[tuple[int, int]] | None = None  # each mask file's own (height, width)
    fg_fraction: float = 0.0
    off_fraction: float = 0.0
    mask_max: int = 0
    mask_sha: str = ""


def grey8(img: Image.Image) -> Image.Image:
    """8-bit grey as the loader sees it (wide modes scaled by their own range, like ``io.read_image``)."""
    if img.mode in _BITS and img.mode != "1":
        return Image.fromarray(_io.scale_to_uint8(np.asarray(img)), mode="L")
    return img.convert("L")


def _detail_vector(grey: Image.Image) -> np.ndarray:
    """Unit vector of frequency-weighted low-frequency DCT coefficients of the 64 x 64 thumbnail (DC dropped)."""
    thumb = np.asarray(grey.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float64)
    v = (scipy.fft.dctn(thumb, norm="ortho")[:16, :16] * _DCT_WEIGHT).ravel()
    norm = np.linalg.norm(v)
    return (v / norm if norm > 0 else v).astype(np.float32)  # a flat image matches nothing


def _decode_image(d: Decoded, path: str, window: tuple[int, int, int, int] | None = None) -> None:
    img = _io._open(path)  # the io readers' single PIL decode: DataError on any bad bytes
    d.width, d.height, d.mode = img.width, img.height, img.mode
    d.bit_depth = _BITS.get(img.mode, 8)
    if d.bit_depth != 8:
        arr = np.asarray(img)
        d.value_range = (int(arr.min()), int(arr.max()))
    if window is not None:  # PIL pads with zeros outside the image, as the cache does
        y0, x0, y1, x1 = window
        img = img.crop((x0, y0, x1, y1))
    d.view = (img.height, img.width)
    d.pixel_sha = hashlib.sha256(f"{img.mode}{img.size}".encode() + img.tobytes()).hexdigest()
    k = min(img.width, img.height) // _HASH_SIDE
    small = img.reduce(k) if k >= 2 and img.mode in _REDUCIBLE else img
    if img.mode in _GREY_MODES:
        d.stored_channels = d.channels = 1
    else:  # colour or palette modes: grey content stored as RGB counts as grey
        d.stored_channels = 3
        r, g, b = small.convert("RGB").split()
        spread = ImageChops.lighter(ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b)),
                                    ImageChops.difference(r, b))  # max - min of the channels, per pixel
        colour_pixels = sum(spread.histogram()[9:])  # a spread above 8 grey levels: beyond JPEG chroma noise
        d.channels = 1 if colour_pixels < 0.001 * small.width * small.height else 3
    grey = grey8(small)
    d.phash = np.packbits(imagehash.phash(grey).hash.ravel()).view(">u8").astype(np.uint64)
    d.detail = _detail_vector(grey)


def _decode_mask(d: Decoded, path: str, window: tuple[int, int, int, int] | None = None) -> None:
    shape = (d.height, d.width) if d.image_error is None and d.height else None
    raw = _io.read_mask_raw(path, shape)  # parts of another size than the image: resized to it (nearest)
    if raw.ndim != 2 or raw.size == 0:
        raise DataError(f"{path}: mask has shape {raw.shape}, expected (H, W)")
    d.mask_part_shapes = _io.mask_part_sizes(path)
    d.mask_shape = (int(raw.shape[0]), int(raw.shape[1]))
    d.off_fraction = float(((raw != 0) & (raw != 255)).mean())  # a property of the mask file(s): all of them
    d.mask_max = int(raw.max())
    fg = apply_crop(raw > 127, window if shape else None)  # coverage and identity: of what is trained
    d.fg_fraction = float(fg.mean()) if fg.size else 0.0
    d.mask_sha = hashlib.sha256(str(fg.shape).encode() + np.packbits(fg).tobytes()).hexdigest()


def decode_pair(image_path: str, mask_path: str, window: tuple[int, int, int, int] | None = None) -> Decoded:
    """Decode one pair (its ``window``, a parsed ``crop``, if any) into what the checks need; never raises."""
    d = Decoded()
    for part, fn, path in (("image", _decode_image, image_path), ("mask", _decode_mask, mask_path)):
        try:
            fn(d, path, window)
        except DataError as exc:
            setattr(d, f"{part}_error", str(exc))
        except Exception as exc:  # anything else a decoder throws is still a finding, never a crash
            setattr(d, f"{part}_error", f"{path}: unexpected {type(exc).__name__} while decoding: {exc}")
    return d


def validate(manifest: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(f"manifest lacks the columns {missing}; a manifest has {MANIFEST_COLUMNS} "
                        "(build it with seg_utils.data.datasets.build_manifest)")
    df = manifest[MANIFEST_COLUMNS].reset_index(drop=True).copy()
    for col in ("image_path", "mask_path"):
        df[col] = df[col].fillna("").astype(str)
    df["image_id"] = df["image_id"].astype(str)
    bad = sorted(set(df.split) - set(SPLITS))
    if bad:
        raise DataError(f"manifest has unknown splits {bad}; valid: {', '.join(SPLITS)}")
    dup = df[df.duplicated(["split", "image_id"], keep=False)]
    if not dup.empty:
        raise DataError(f"manifest repeats (split, image_id) for {sorted(set(dup.image_id))[:5]}: ids must be unique "
                        "within a split; fix the dataset adapter or the manifest")
    return df


def pair_findings(i: int, d: Decoded, rules: QualityRules, expected_ch: int, add: Any,
                  resizable: bool = False) -> None:
    """The file, geometry and format checks of one decoded pair (the masks' own checks are in :mod:`.masks`).

    ``resizable``: the adapter declares that the row's mask lives on the image's grid (CBIS-DDSM ROI masks), so a
    mask stored at another size is resized with a warning (``mask_resized``) instead of ``size_mismatch``. The parts
    of a united mask (several files) are always resized so, with the same warning.
    """
    kind = {1: "grey", 3: "colour"}
    if d.image_error is not None:
        add(i, "unreadable_image", d.image_error, True)
    if d.mask_error is not None:
        add(i, "unreadable_mask", d.mask_error, True)
    if d.image_error is None:
        vh, vw = d.view if d.view != (0, 0) else (d.height, d.width)
        ratio = max(vw, vh) / max(1, min(vw, vh))
        if ratio > rules.max_aspect_ratio:
            add(i, "aspect_ratio", f"{vw}x{vh} (width x height): aspect ratio {ratio:.1f} > "
                f"{rules.max_aspect_ratio:g}", True)
        if d.channels != expected_ch:
            stored = ", channels equal" if d.stored_channels > d.channels else ""
            add(i, "channels", f"{kind[d.channels]} image (mode {d.mode}{stored}) in a dataset of "
                f"{kind[expected_ch]} images; the loader makes every image 3-channel RGB", False)
        if d.bit_depth != rules.expected_bit_depth:
            lo, hi = d.value_range
            how = "rescales it to 8 bits by its own range" if d.mode in _io.WIDE_MODES else "converts it to 8-bit RGB"
            add(i, "bit_depth", f"{d.bit_depth}-bit image (mode {d.mode}, values {lo}..{hi}); expected "
                f"{rules.expected_bit_depth}-bit; the loader {how}", False)
    if d.mask_error is None and d.image_error is None:
        parts = d.mask_part_shapes or [d.mask_shape]
        odd = [s for s in parts if s != (d.height, d.width)]
        if odd and len(parts) == 1 and not resizable:
            add(i, "size_mismatch", f"image {d.width}x{d.height} but mask {odd[0][1]}x{odd[0][0]}"
                " (width x height)", rules.exclude_size_mismatch)
        elif odd:
            sizes = ", ".join(f"{w}x{h}" for h, w in odd)
            what = f"{len(odd)} of {len(parts)} mask parts" if len(parts) > 1 else "the mask"
            add(i, "mask_resized", f"{what} at {sizes} (width x height) resized (nearest) to the image's "
                f"{d.width}x{d.height}", False)
