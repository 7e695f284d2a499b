"""Data-quality inspection: which manifest rows are fit to train and test on, and why the others are not.

:func:`inspect_manifest` decodes every image and mask once (in a thread pool) through the readers of
:mod:`seg_utils.io`, so that a broken file becomes a finding, never a crash, and applies :class:`QualityRules`:

- files: ``unreadable_image`` / ``unreadable_mask`` (empty, truncated, not an image, missing; any exception while
  decoding), ``missing_mask`` / ``missing_image`` (orphans of the manifest);
- geometry: ``size_mismatch`` (image and mask differ), ``aspect_ratio`` (too elongated to resize to a square);
- masks: ``non_binary_mask`` (grey values other than 0 and 255), ``empty_mask``, ``small_mask``;
- duplicates: ``train_test_leak`` (a train or val image that is an exact or near copy of a test image),
  ``exact_duplicate`` (same decoded pixels within a split), ``near_duplicate`` (perceptual hash within a split);
- format: ``channels`` (grey among colour images or the reverse), ``bit_depth`` (16-bit, 1-bit, float images).

Each finding is ``exclude`` (the row leaves the clean manifest) or ``warn`` (reported, kept).

Near duplicates are found in two steps. The 64-bit DCT perceptual hash of ``imagehash`` (``phash``,
https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html) proposes candidates: pairs whose
hashes differ in at most ``near_duplicate_distance`` bits (popcount of the xor, vectorised). The hash alone is not
enough on one modality: chest X-rays of *different* patients are 2-4 bits apart, mammograms even 0, because the
coarse layout is the same. A candidate is confirmed when the *detail similarity* reaches
``near_duplicate_similarity``: the cosine between the low-frequency DCT coefficients (16 x 16, without DC) of the
64 x 64 grey thumbnails, each coefficient weighted by its frequency so that detail counts as much as layout.
Measured on the shared samples: a brightened, contrast-stretched or JPEG re-encoded copy scores >= 0.988,
different patients <= 0.937 (chest X-ray) and <= 0.946 (CBIS-DDSM), re-photographed ISIC lesions 0.976-0.999.

Example:
    >>> manifest = build_manifest("chest_xray", root)
    >>> report = inspect_manifest(manifest, progress=True)
    >>> report.summary          # one row per split: starting, excluded_<check>, final
    >>> write_report(report, run_dir / "quality.csv")
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import imagehash
import numpy as np
import pandas as pd
import scipy.fft
from PIL import Image, ImageChops
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from . import io as _io
from .datasets import MANIFEST_COLUMNS, SPLITS
from .errors import ConfigError, DataError

__all__ = ["CHECKS", "FINDING_COLUMNS", "QualityRules", "QualityReport", "inspect_manifest", "write_report",
           "excluded_examples"]

#: Every check, in priority order: an excluded row is counted in the summary under its first excluding check.
CHECKS: tuple[str, ...] = (
    "unreadable_image", "unreadable_mask", "missing_mask", "missing_image", "size_mismatch", "aspect_ratio",
    "non_binary_mask", "empty_mask", "small_mask", "train_test_leak", "exact_duplicate", "near_duplicate",
    "channels", "bit_depth",
)
FINDING_COLUMNS = ["image_id", "split", "check", "detail", "action"]
Action = Literal["exclude", "warn"]

_GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
_BITS = {"1": 1, "I": 32, "F": 32, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}
_RESCALED = ("I;16", "I;16B", "I;16L", "I")  # the modes io.read_image scales by their own min..max
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F")
_HASH_SIDE = 256  # images are box-reduced to about this size before hashing and the channel check
_DCT_WEIGHT = np.hypot(*np.meshgrid(np.arange(16), np.arange(16), indexing="ij"))  # 0 for DC


@dataclass(frozen=True)
class QualityRules:
    """What :func:`inspect_manifest` excludes and what it only reports.

    Args:
        min_mask_fraction: a mask whose foreground (grey > 127) covers a smaller fraction of the image than this
            is reported as ``small_mask``.
        exclude_empty_masks: exclude masks without foreground (``empty_mask``); else warn.
        exclude_small_masks: exclude ``small_mask`` rows; by default they are only reported (tiny lesions exist).
        max_off_fraction: a mask with grey values other than 0 and 255 (``non_binary_mask``) is excluded when more
            than this fraction of its pixels are such values (a JPEG-compressed mask), else reported; the
            loader binarises at > 127 either way.
        exclude_size_mismatch: exclude pairs whose image and mask sizes differ; else warn.
        exclude_exact_duplicates: within a split, keep the first of identical images (by image_id, preferring one
            that nothing else excludes) and exclude the others; else warn.
        exclude_near_duplicates: the same for near duplicates; by default they are only reported.
        near_duplicate_distance: images whose 64-bit perceptual hashes differ in at most this many bits are
            near-duplicate candidates (re-encoded or brightened copies differ in up to 6).
        near_duplicate_similarity: a candidate pair is a near duplicate when its detail similarity (see the
            module docstring) is at least this.
        max_aspect_ratio: exclude images whose long side is more than this many times the short side.
        expected_channels: 1 (grey) or 3 (colour) for the dataset; ``None``: the most common among its images.
            Images of the other kind are reported (``channels``, warn); an RGB file whose channels are equal
            counts as grey.
        expected_bit_depth: images of another bit depth are reported (``bit_depth``, warn).
    """

    min_mask_fraction: float = 0.0005
    exclude_empty_masks: bool = True
    exclude_small_masks: bool = False
    max_off_fraction: float = 0.01
    exclude_size_mismatch: bool = True
    exclude_exact_duplicates: bool = True
    exclude_near_duplicates: bool = False
    near_duplicate_distance: int = 8
    near_duplicate_similarity: float = 0.97
    max_aspect_ratio: float = 4.0
    expected_channels: int | None = None
    expected_bit_depth: int = 8

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.min_mask_fraction < 1.0:
            problems.append(f"min_mask_fraction={self.min_mask_fraction} must be in [0, 1)")
        if not 0.0 <= self.max_off_fraction <= 1.0:
            problems.append(f"max_off_fraction={self.max_off_fraction} must be in [0, 1]")
        if not 0 <= self.near_duplicate_distance <= 64:
            problems.append(f"near_duplicate_distance={self.near_duplicate_distance} must be in [0, 64] (bits)")
        if not -1.0 <= self.near_duplicate_similarity <= 1.0:
            problems.append(f"near_duplicate_similarity={self.near_duplicate_similarity} must be in [-1, 1]")
        if not self.max_aspect_ratio >= 1.0:
            problems.append(f"max_aspect_ratio={self.max_aspect_ratio} must be >= 1")
        if self.expected_channels not in (None, 1, 3):
            problems.append(f"expected_channels={self.expected_channels!r} must be 1, 3 or None (most common)")
        if self.expected_bit_depth not in (1, 8, 16, 32):
            problems.append(f"expected_bit_depth={self.expected_bit_depth} must be 1, 8, 16 or 32")
        if problems:
            raise ConfigError("invalid QualityRules: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The rules as a flat dict (for metadata JSON)."""
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """A short sha256 of :meth:`to_dict`: the same rules give the same fingerprint everywhere."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class QualityReport:
    """The result of :func:`inspect_manifest`.

    Attributes:
        findings: one row per finding (a pair may have several), columns ``image_id``, ``split``, ``check``,
            ``detail``, ``action`` (``exclude`` or ``warn``), sorted by split, image_id and check priority.
        summary: one row per split present (train, val, test order), columns ``split``, ``starting`` (manifest
            rows, orphans included), ``excluded_<check>`` for every check in :data:`CHECKS` (each excluded row
            counted once, under its first excluding check) and ``final`` (rows of ``clean``).
        clean: the manifest rows kept, same columns as the manifest, index reset.
        rules: the rules applied.
    """

    findings: pd.DataFrame
    summary: pd.DataFrame
    clean: pd.DataFrame
    rules: QualityRules

    def to_dict(self) -> dict[str, Any]:
        """Counts for metadata JSON: totals, findings per check and action, the summary per split, the rules."""
        f = self.findings
        by_check = {c: {a: int(((f.check == c) & (f.action == a)).sum()) for a in ("exclude", "warn")}
                    for c in CHECKS if (f.check == c).any()}
        splits = {r["split"]: {k: int(v) for k, v in r.items() if k != "split"}
                  for r in self.summary.to_dict("records")}
        return {"starting": int(self.summary.starting.sum()), "final": int(self.summary.final.sum()),
                "excluded": int(self.summary.starting.sum() - self.summary.final.sum()),
                "findings": by_check, "splits": splits, "rules": self.rules.to_dict(),
                "rules_fingerprint": self.rules.fingerprint}


@dataclass
class _Decoded:
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
    mask_error: str | None = None
    mask_shape: tuple[int, int] = (0, 0)
    fg_fraction: float = 0.0
    off_fraction: float = 0.0
    mask_max: int = 0
    mask_sha: str = ""


def _grey8(img: Image.Image) -> Image.Image:
    """8-bit grey as the loader sees it (wide modes scaled by their own range, like ``io.read_image``)."""
    if img.mode in _BITS and img.mode != "1":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        return Image.fromarray(arr.round().astype(np.uint8), mode="L")
    return img.convert("L")


def _detail_vector(grey: Image.Image) -> np.ndarray:
    """Unit vector of frequency-weighted low-frequency DCT coefficients of the 64 x 64 thumbnail (DC dropped)."""
    thumb = np.asarray(grey.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float64)
    v = (scipy.fft.dctn(thumb, norm="ortho")[:16, :16] * _DCT_WEIGHT).ravel()
    norm = np.linalg.norm(v)
    return (v / norm if norm > 0 else v).astype(np.float32)  # a flat image matches nothing


def _decode_image(d: _Decoded, path: str) -> None:
    img = _io._open(path)  # the io readers' single PIL decode: DataError on any bad bytes
    d.width, d.height, d.mode = img.width, img.height, img.mode
    d.pixel_sha = hashlib.sha256(f"{img.mode}{img.size}".encode() + img.tobytes()).hexdigest()
    d.bit_depth = _BITS.get(img.mode, 8)
    if d.bit_depth != 8:
        arr = np.asarray(img)
        d.value_range = (int(arr.min()), int(arr.max()))
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
    grey = _grey8(small)
    d.phash = np.packbits(imagehash.phash(grey).hash.ravel()).view(">u8").astype(np.uint64)
    d.detail = _detail_vector(grey)


def _decode_mask(d: _Decoded, path: str) -> None:
    raw = _io.read_mask_raw(path)
    if raw.ndim != 2 or raw.size == 0:
        raise DataError(f"{path}: mask has shape {raw.shape}, expected (H, W)")
    d.mask_shape = (int(raw.shape[0]), int(raw.shape[1]))
    fg = raw > 127
    d.fg_fraction = float(fg.mean())
    d.off_fraction = float(((raw != 0) & (raw != 255)).mean())
    d.mask_max = int(raw.max())
    d.mask_sha = hashlib.sha256(str(fg.shape).encode() + np.packbits(fg).tobytes()).hexdigest()


def _decode_pair(image_path: str, mask_path: str) -> _Decoded:
    d = _Decoded()
    for part, fn, path in (("image", _decode_image, image_path), ("mask", _decode_mask, mask_path)):
        try:
            fn(d, path)
        except DataError as exc:
            setattr(d, f"{part}_error", str(exc))
        except Exception as exc:  # anything else a decoder throws is still a finding, never a crash
            setattr(d, f"{part}_error", f"{path}: unexpected {type(exc).__name__} while decoding: {exc}")
    return d


def _hamming(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Bit distances between the rows of ``a`` (n, words) and ``b`` (m, words) of uint64: (n, m) int32."""
    out = np.zeros((len(a), len(b)), dtype=np.int32)
    for s in range(0, len(a), chunk):
        for w in range(a.shape[1]):
            out[s:s + chunk] += np.bitwise_count(a[s:s + chunk, w, None] ^ b[None, :, w])
    return out


def _validate(manifest: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataError(f"manifest lacks the columns {missing}; a manifest has {MANIFEST_COLUMNS} "
                        "(build it with seg_utils.datasets.build_manifest)")
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


def _mask_note(dec: list[_Decoded], i: int, j: int) -> str:
    ok = dec[i].mask_error is None and dec[j].mask_error is None
    return "same mask" if ok and dec[i].mask_sha == dec[j].mask_sha else "different mask"


def inspect_manifest(manifest: pd.DataFrame, rules: QualityRules | None = None, progress: bool = False,
                     workers: int = 2) -> QualityReport:
    """Decode every pair of ``manifest`` once, apply ``rules``, and return the findings and the clean manifest.

    Exact duplicates are identical *decoded pixels* (sha256 of mode, size and pixel bytes, so a re-saved PNG
    with other metadata still matches). A train or val image that is an exact or near copy of a test image is
    always reported as ``train_test_leak`` and excluded, whatever the duplicate rules say: the test copy is kept
    (the test set stays fixed), the train/val copy goes. Near duplicates need both a close perceptual hash and a
    high detail similarity (module docstring). Orphan rows are not decoded. No file content makes this function
    raise: unreadable files become ``unreadable_image`` / ``unreadable_mask`` findings.

    Args:
        manifest: a manifest (see :mod:`seg_utils.datasets`); extra columns are carried into ``clean``.
        rules: the rules; default :class:`QualityRules`.
        progress: show a tqdm progress bar while decoding.
        workers: decoding threads (PIL and numpy release the GIL); 1 decodes in this thread.

    Returns:
        A :class:`QualityReport` (findings, summary, clean manifest, rules).

    Raises:
        DataError: the manifest itself is malformed (missing columns, unknown split, repeated ids in a split).
        ConfigError: ``workers`` < 1.

    Example:
        >>> report = inspect_manifest(build_manifest("isic2018", root), QualityRules(exclude_small_masks=True))
        >>> report.findings.query("action == 'exclude'").check.value_counts()
    """
    rules = rules or QualityRules()
    if workers < 1:
        raise ConfigError(f"workers={workers} must be >= 1")
    df = _validate(manifest)
    n = len(df)
    findings: list[tuple[int, str, str, Action]] = []

    def add(i: int, check: str, detail: str, exclude: bool) -> None:
        findings.append((i, check, detail, "exclude" if exclude else "warn"))

    has_img, has_mask = (df.image_path != "").to_numpy(), (df.mask_path != "").to_numpy()
    for i in np.flatnonzero(~has_mask & has_img):
        add(int(i), "missing_mask", "image without a mask in the dataset", True)
    for i in np.flatnonzero(~has_img):
        add(int(i), "missing_image", "mask without an image in the dataset" if has_mask[i] else "no files", True)
    todo = np.flatnonzero(has_img & has_mask).tolist()
    dec: list[_Decoded] = [_Decoded() for _ in range(n)]
    paths = (df.image_path[todo].tolist(), df.mask_path[todo].tolist())
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = (map if workers == 1 else pool.map)(_decode_pair, *paths)
        for i, d in zip(todo, tqdm(decoded, total=len(todo), desc="quality", unit="pair", disable=not progress),
                        strict=True):
            dec[i] = d
    usable = [i for i in todo if dec[i].image_error is None]
    counts = Counter(dec[i].channels for i in usable)
    expected_ch = rules.expected_channels or (max((3, 1), key=lambda c: counts[c]) if counts else 3)
    for i in todo:
        _pair_findings(i, dec[i], rules, expected_ch, add)
    excluded = {i for i, *_, a in findings if a == "exclude"} | _leaks(df, dec, usable, rules, add)
    _within_split(df, dec, usable, rules, excluded, add)
    return _report(manifest, df, findings, rules)


def _pair_findings(i: int, d: _Decoded, rules: QualityRules, expected_ch: int, add: Any) -> None:
    """The checks of one decoded pair (everything but duplicates)."""
    kind = {1: "grey", 3: "colour"}
    if d.image_error is not None:
        add(i, "unreadable_image", d.image_error, True)
    if d.mask_error is not None:
        add(i, "unreadable_mask", d.mask_error, True)
    if d.image_error is None:
        ratio = max(d.width, d.height) / max(1, min(d.width, d.height))
        if ratio > rules.max_aspect_ratio:
            add(i, "aspect_ratio", f"{d.width}x{d.height} (width x height): aspect ratio {ratio:.1f} > "
                f"{rules.max_aspect_ratio:g}", True)
        if d.channels != expected_ch:
            stored = ", channels equal" if d.stored_channels > d.channels else ""
            add(i, "channels", f"{kind[d.channels]} image (mode {d.mode}{stored}) in a dataset of "
                f"{kind[expected_ch]} images; the loader makes every image 3-channel RGB", False)
        if d.bit_depth != rules.expected_bit_depth:
            lo, hi = d.value_range
            how = "rescales it to 8 bits by its own range" if d.mode in _RESCALED else "converts it to 8-bit RGB"
            add(i, "bit_depth", f"{d.bit_depth}-bit image (mode {d.mode}, values {lo}..{hi}); expected "
                f"{rules.expected_bit_depth}-bit; the loader {how}", False)
    if d.mask_error is None:
        if d.image_error is None and d.mask_shape != (d.height, d.width):
            add(i, "size_mismatch", f"image {d.width}x{d.height} but mask {d.mask_shape[1]}x{d.mask_shape[0]}"
                " (width x height)", rules.exclude_size_mismatch)
        if d.off_fraction > 0:
            add(i, "non_binary_mask", f"{d.off_fraction:.2%} of mask pixels are neither 0 nor 255 (limit "
                f"{rules.max_off_fraction:.2%}; JPEG-compressed or anti-aliased?); the loader binarises at >127",
                d.off_fraction > rules.max_off_fraction)
        if d.fg_fraction == 0:
            note = (f" (its values only go up to {d.mask_max}: a 0/1-coded mask? save it as 0/255)"
                    if d.mask_max > 0 else "")
            add(i, "empty_mask", f"mask has no pixel above 127{note}", rules.exclude_empty_masks)
        elif d.fg_fraction < rules.min_mask_fraction:
            add(i, "small_mask", f"foreground covers {d.fg_fraction:.3%} of the image (< "
                f"{rules.min_mask_fraction:.3%})", rules.exclude_small_masks)


def _near(dec: list[_Decoded], rows: list[int], cols: list[int], rules: QualityRules) -> tuple[np.ndarray, ...]:
    """Hash distances (rows x cols), detail similarities (0 where not a candidate) and the near-duplicate mask."""
    dist = _hamming(np.stack([dec[i].phash for i in rows]), np.stack([dec[i].phash for i in cols]))
    sim = np.zeros(dist.shape, dtype=np.float32)
    r, c = np.nonzero(dist <= rules.near_duplicate_distance)
    if len(r):
        a, b = np.stack([dec[i].detail for i in rows]), np.stack([dec[i].detail for i in cols])
        sim[r, c] = np.einsum("ij,ij->i", a[r], b[c])
    return dist, sim, (dist <= rules.near_duplicate_distance) & (sim >= rules.near_duplicate_similarity)


def _how_near(dist: np.ndarray, sim: np.ndarray, r: int, c: int) -> str:
    return f"perceptual hash {dist[r, c]}/64 bits and detail similarity {sim[r, c]:.3f}"


def _leaks(df: pd.DataFrame, dec: list[_Decoded], usable: list[int], rules: QualityRules, add: Any) -> set[int]:
    """Train/val rows that are exact or near copies of a test row (always excluded); returns their positions."""
    split, ids = df.split.to_numpy(), df.image_id.to_numpy()
    test = [i for i in usable if split[i] == "test"]
    other = [i for i in usable if split[i] != "test"]
    if not test or not other:
        return set()
    dist, sim, near = _near(dec, other, test, rules)
    by_sha: dict[str, list[int]] = {}
    for k, j in enumerate(test):
        by_sha.setdefault(dec[j].pixel_sha, []).append(k)
    leaked = set()
    for r, i in enumerate(other):
        exact = by_sha.get(dec[i].pixel_sha, [])
        hits = sorted(set(np.flatnonzero(near[r]).tolist()) | set(exact))
        if not hits:
            continue
        k = exact[0] if exact else max(hits, key=lambda h: sim[r, h])
        how = "same pixels as" if exact else _how_near(dist, sim, r, k) + " to"
        more = f" (and {len(hits) - 1} more test images)" if len(hits) > 1 else ""
        add(i, "train_test_leak", f"{how} test image {ids[test[k]]}{more}, {_mask_note(dec, i, test[k])}; "
            f"the {split[i]} copy is excluded, the test copy kept", True)
        leaked.add(i)
    return leaked


def _within_split(df: pd.DataFrame, dec: list[_Decoded], usable: list[int], rules: QualityRules,
                  excluded: set[int], add: Any) -> None:
    """Exact, then near duplicates inside each split: the first by image_id that nothing excludes is kept."""
    split, ids = df.split.to_numpy(), df.image_id.to_numpy()
    for s in SPLITS:
        groups: dict[str, list[int]] = {}
        for i in sorted((i for i in usable if split[i] == s), key=lambda i: ids[i]):
            groups.setdefault(dec[i].pixel_sha, []).append(i)
        reps = []
        for group in groups.values():
            rep = next((i for i in group if i not in excluded), group[0])
            reps.append(rep)
            for i in group:
                if i != rep:
                    add(i, "exact_duplicate", f"same pixels as {ids[rep]}, {_mask_note(dec, i, rep)}; the first "
                        "by image_id is kept", rules.exclude_exact_duplicates)
        if len(reps) < 2:
            continue
        reps.sort(key=lambda i: ids[i])
        dist, sim, near = _near(dec, reps, reps, rules)
        _, label = connected_components(csr_matrix(np.triu(near, k=1)), directed=False)
        for c in np.flatnonzero(np.bincount(label) > 1):
            ks = np.flatnonzero(label == c)  # ascending, so in image_id order
            keep = next((k for k in ks if reps[k] not in excluded), ks[0])
            for k in ks[ks != keep]:
                j = ks[np.argmax(np.where(near[k, ks] & (ks != k), sim[k, ks], -2.0))]  # its closest neighbour
                add(reps[k], "near_duplicate", f"{_how_near(dist, sim, k, j)} to {ids[reps[j]]}, "
                    f"{_mask_note(dec, reps[k], reps[j])}; of its group, {ids[reps[keep]]} is kept",
                    rules.exclude_near_duplicates)


def _report(manifest: pd.DataFrame, df: pd.DataFrame, findings: list[tuple], rules: QualityRules) -> QualityReport:
    order = {c: k for k, c in enumerate(CHECKS)}
    split_order = {s: k for k, s in enumerate(SPLITS)}
    rows = [(df.image_id[i], df.split[i], c, d, a, i) for i, c, d, a in findings]
    f = pd.DataFrame(rows, columns=[*FINDING_COLUMNS, "_row"])
    f = f.sort_values(["split", "image_id", "check"], key=lambda col: col.map(
        split_order if col.name == "split" else order) if col.name in ("split", "check") else col, kind="stable")
    excl = f[f.action == "exclude"].drop_duplicates("_row")  # first excluding check in CHECKS order
    first = dict(zip(excl._row, excl.check, strict=True))
    summary = []
    for s in [s for s in SPLITS if (df.split == s).any()]:
        in_split = np.flatnonzero(df.split.to_numpy() == s)
        row: dict[str, Any] = {"split": s, "starting": len(in_split)}
        for c in CHECKS:
            row[f"excluded_{c}"] = sum(first.get(i) == c for i in in_split)
        row["final"] = len(in_split) - sum(i in first for i in in_split)
        summary.append(row)
    summary_df = pd.DataFrame(summary, columns=["split", "starting", *[f"excluded_{c}" for c in CHECKS], "final"])
    keep = [i for i in range(len(df)) if i not in first]
    clean = manifest.reset_index(drop=True).iloc[keep].reset_index(drop=True)
    return QualityReport(findings=f[FINDING_COLUMNS].reset_index(drop=True), summary=summary_df, clean=clean,
                         rules=rules)


def write_report(report: QualityReport, path: Path) -> Path:
    """Write the findings CSV at ``path`` and the summary beside it as ``<stem>_summary.csv``, atomically.

    Returns:
        ``path``.
    """
    path = Path(path)
    _io.write_csv(path, report.findings)
    _io.write_csv(path.with_name(f"{path.stem}_summary.csv"), report.summary)
    return path


def excluded_examples(report: QualityReport, manifest: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """A few excluded rows for a gallery: one per excluding check first (in :data:`CHECKS` order), then more.

    Each row appears once, with its first excluding check.

    Returns:
        DataFrame with columns ``image_id``, ``split``, ``check``, ``detail``, ``image_path``, ``mask_path``
        (at most ``n`` rows; empty when nothing was excluded).
    """
    cols = ["image_id", "split", "check", "detail", "image_path", "mask_path"]
    ex = report.findings[report.findings.action == "exclude"].drop_duplicates(["split", "image_id"])
    if ex.empty or n <= 0:
        return pd.DataFrame(columns=cols)
    order = {c: k for k, c in enumerate(CHECKS)}
    ex = ex.assign(_rank=ex.groupby("check").cumcount(), _prio=ex.check.map(order))
    ex = ex.sort_values(["_rank", "_prio"], kind="stable").head(n)
    paths = manifest[["image_id", "split", "image_path", "mask_path"]].astype({"image_id": str})
    out = ex.merge(paths, on=["image_id", "split"], how="left")
    return out[cols].fillna("").reset_index(drop=True)
