"""Embedded demo data: small, learnable image/mask sets written in the three real layouts.

The study runs end to end on a laptop with no download: ``write_synthetic(out)`` writes

- ``out/isic2018``: ``ISIC2018_Task1-2_{Training,Test}_Input/ISIC_*.jpg`` and
  ``ISIC2018_Task1_{Training,Test}_GroundTruth/ISIC_*_segmentation.png`` (a dark, irregular lesion on skin);
- ``out/chest_xray``: the Kaggle layout ``Lung Segmentation/CXR_png/{CHNCXR,MCUCXR}_*.png`` with
  ``masks/CHNCXR_*_mask.png`` and ``masks/MCUCXR_*.png`` (two dark lung fields in a bright thorax), plus two
  Shenzhen images without a mask, as the Kaggle set has;
- ``out/cbis_ddsm``: flat ``images/`` + ``masks/`` with ``Mass-Training_*`` / ``Mass-Test_*`` names
  (a bright mass inside a breast facing left).

A test split can be given named images (the study passes the poster's four of each dataset, so the
qualitative panels show them). Everything is deterministic in ``seed``; the adapters in :mod:`seg_utils.data` read
these folders exactly as they read the real ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["SYNTHETIC_DATASETS", "write_synthetic"]

SYNTHETIC_DATASETS = ("isic2018", "chest_xray", "cbis_ddsm")


def _blob(h: int, w: int, cy: float, cx: float, ry: float, rx: float, rng: np.random.Generator,
          wobble: float = 0.15) -> np.ndarray:
    """A boolean ellipse with a randomly wobbling radius (an irregular, single connected blob)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    theta = np.arctan2((yy - cy) / ry, (xx - cx) / rx)
    radius = np.hypot((yy - cy) / ry, (xx - cx) / rx)
    k = rng.integers(2, 5, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    amp = rng.uniform(0, wobble, size=3)
    edge = 1.0 + sum(a * np.sin(int(f) * theta + p) for a, f, p in zip(amp, k, phase, strict=True))
    return radius <= edge


def _smooth_noise(h: int, w: int, rng: np.random.Generator, scale: int = 8) -> np.ndarray:
    coarse = rng.normal(0, 1, size=(max(2, h // scale), max(2, w // scale)))
    img = Image.fromarray(((coarse - coarse.min()) / (np.ptp(coarse) + 1e-9) * 255).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float64) / 255.0 - 0.5


def _save(arr: np.ndarray, path: Path, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    img.save(path, quality=quality) if path.suffix == ".jpg" else img.save(path)


def _isic_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = 144, 192
    mask = _blob(h, w, rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w,
                 rng.uniform(0.18, 0.32) * h, rng.uniform(0.18, 0.32) * w, rng, wobble=0.2)
    skin = np.array([rng.uniform(200, 235), rng.uniform(150, 185), rng.uniform(130, 165)])
    lesion = np.array([rng.uniform(80, 130), rng.uniform(45, 80), rng.uniform(30, 60)])
    texture = _smooth_noise(h, w, rng)[..., None] * 40
    img = np.where(mask[..., None], lesion, skin) + texture + rng.normal(0, 6, size=(h, w, 3))
    return img, mask


def _cxr_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h = w = 160
    yy, xx = np.mgrid[0:h, 0:w]
    thorax = ((yy - 0.55 * h) / (0.48 * h)) ** 2 + ((xx - 0.5 * w) / (0.44 * w)) ** 2 <= 1
    gap = rng.uniform(0.06, 0.1) * w
    lungs = np.zeros((h, w), bool)
    for side in (-1, 1):
        lungs |= _blob(h, w, rng.uniform(0.48, 0.56) * h, 0.5 * w + side * (gap + 0.16 * w),
                       rng.uniform(0.28, 0.34) * h, rng.uniform(0.13, 0.17) * w, rng, wobble=0.08)
    lungs &= thorax
    img = np.full((h, w), rng.uniform(10, 30))
    img[thorax] = rng.uniform(170, 210)
    img[lungs] = rng.uniform(70, 110)
    img += _smooth_noise(h, w, rng, scale=16) * 40 + rng.normal(0, 5, size=(h, w))
    return img, lungs


def _cbis_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h = w = 160
    yy, xx = np.mgrid[0:h, 0:w]
    breast = ((yy - 0.5 * h) / (0.47 * h)) ** 2 + (xx / (0.8 * w)) ** 2 <= 1
    r = rng.uniform(0.09, 0.15) * h
    mass = _blob(h, w, rng.uniform(0.3, 0.7) * h, rng.uniform(0.18, 0.45) * w, r, r * rng.uniform(0.8, 1.2),
                 rng, wobble=0.25) & breast
    img = np.zeros((h, w))
    img[breast] = rng.uniform(90, 130)
    img += breast * _smooth_noise(h, w, rng, scale=10) * 50
    img[mass] += rng.uniform(70, 100)
    img += rng.normal(0, 5, size=(h, w))
    return img, mass


def _ids(prefix: str, n: int, named: list[str], start: int, fmt: str) -> list[str]:
    ids = list(named[:n])
    i = start
    while len(ids) < n:
        candidate = fmt.format(prefix=prefix, i=i)
        if candidate not in ids:
            ids.append(candidate)
        i += 1
    return ids


def _write_isic(out: Path, rng: np.random.Generator, n_train: int, n_test: int, named: list[str]) -> None:
    for split, n, start in (("Training", n_train, 0), ("Test", n_test, 40000)):
        for image_id in _ids("ISIC", n, named if split == "Test" else [], start, "{prefix}_{i:07d}"):
            img, mask = _isic_pair(rng)
            _save(img, out / f"ISIC2018_Task1-2_{split}_Input" / f"{image_id}.jpg")
            _save(mask * 255, out / f"ISIC2018_Task1_{split}_GroundTruth" / f"{image_id}_segmentation.png")


def _write_cxr(out: Path, rng: np.random.Generator, n_train: int, n_test: int, named: list[str]) -> None:
    base = out / "Lung Segmentation"
    for ids, mask_name in (
        (_ids("CHNCXR", n_train + 2, [], 1, "{prefix}_{i:04d}_" + "0"), "{}_mask.png"),
        (_ids("MCUCXR", n_test, named, 1, "{prefix}_{i:04d}_0"), "{}.png"),
    ):
        for k, image_id in enumerate(ids):
            img, mask = _cxr_pair(rng)
            _save(img, base / "CXR_png" / f"{image_id}.png")
            if not (image_id.startswith("CHNCXR") and k >= n_train):  # the last two Shenzhen images: no mask
                _save(mask * 255, base / "masks" / mask_name.format(image_id))


def _write_cbis(out: Path, rng: np.random.Generator, n_train: int, n_test: int, named: list[str]) -> None:
    sides = [f"{s}_{v}" for s in ("LEFT", "RIGHT") for v in ("CC", "MLO")]
    for split, n in (("Training", n_train), ("Test", n_test)):
        ids = list(named[:n]) if split == "Test" else []
        i = 1
        while len(ids) < n:
            ids.append(f"Mass-{split}_P_{i:05d}_{sides[i % 4]}_1")
            i += 1
        for image_id in ids:
            img, mask = _cbis_pair(rng)
            _save(img, out / "images" / f"{image_id}.png")
            _save(mask * 255, out / "masks" / f"{image_id}.png")


def _write_folder(out: Path, rng: np.random.Generator, n_train: int, n_test: int, named: list[str]) -> None:
    """A user's own folder: ``images/`` + ``masks/`` (0/255 PNG), no split folders, grey images (an X-ray-like
    modality)."""
    for image_id in _ids("case", n_train + n_test, named, 1, "{prefix}_{i:03d}"):
        img, mask = _cxr_pair(rng)
        _save(img, out / "images" / f"{image_id}.png")
        _save(mask * 255, out / "masks" / f"{image_id}.png")


_WRITERS = {"isic2018": _write_isic, "chest_xray": _write_cxr, "cbis_ddsm": _write_cbis, "folder": _write_folder}


def write_synthetic(out: str | Path, seed: int = 0, n_train: int = 64, n_test: int = 16,
                    datasets: tuple[str, ...] = SYNTHETIC_DATASETS,
                    named: Mapping[str, Sequence[str]] | None = None) -> dict[str, Path]:
    """Write the synthetic datasets under ``out``; return ``{dataset: root}``.

    An existing dataset folder is left alone if it holds a ``.synthetic-<seed>-<n_train>-<n_test>`` stamp
    (written last, so an interrupted write is redone); otherwise it must not exist.

    Args:
        out: parent folder.
        seed: random seed; the same seed writes byte-identical files.
        n_train: training pairs per dataset (the chest X-ray set gets two extra images without masks).
        n_test: test pairs per dataset (the first are the named ones).
        datasets: which of :data:`SYNTHETIC_DATASETS` to write, and ``folder`` (a user's own ``images/`` +
            ``masks/``, grey, unsplit; asked for by name only).
        named: ``{dataset: [image ids]}`` to give the first test images (file stems, e.g. the poster's panel
            images); the others are numbered.
    """
    if n_train < 2 or n_test < 1:
        raise ValueError(f"n_train must be >= 2 and n_test >= 1, got {n_train} and {n_test}")
    out = Path(out)
    roots = {}
    for offset, name in enumerate((*SYNTHETIC_DATASETS, "folder")):
        if name not in datasets:
            continue
        root = out / name
        stamp = root / f".synthetic-{seed}-{n_train}-{n_test}"
        if not stamp.exists():
            if root.exists() and any(root.iterdir()):
                raise FileExistsError(f"{root} exists and was not written by write_synthetic with seed={seed}, "
                                      f"n_train={n_train}, n_test={n_test}; remove it or pick another folder")
            ids = [Path(str(i)).stem for i in (named or {}).get(name, ())]
            _WRITERS[name](root, np.random.default_rng([seed, offset]), n_train, n_test, ids)
            stamp.write_text("written by seg_utils.data.synthetic\n")
        roots[name] = root
    return roots
