"""Data path: decode-every-epoch versus seg_utils' preprocessing cache, on synthetic ISIC-sized JPEGs.

Writes N synthetic ``--width x --height`` q95 JPEGs (smooth random colour, a fine texture, a darker lesion) and
their 0/255 blob masks (PNG) in the ``folder`` layout, then measures, in the same process:

- baseline epoch: what a usual pipeline does every epoch: full PIL decode (no draft) + resize to ``--size``
  (image: cv2 area, mask: nearest) for every image, stacked into a torch uint8 batch (``--baseline-workers``
  threads; PIL and cv2 release the GIL, so threads stand in for DataLoader workers);
- cache epoch: ``seg_utils.data.cache.build_cache`` once, then every epoch read all rows of the memory-mapped arrays
  into torch uint8 tensors, as ``seg_utils.study.runs._tensors`` does;
- the one-time build (PIL draft + a thread per CPU; also with one thread, to separate the two), and reopening an
  existing cache, each relative to one single-threaded decode epoch.

Prints one JSON line. Ratios are the figures; absolute times on a shared machine are not.

    python benchmarks/bench_data_path.py --n 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import PIL
import torch
from PIL import Image, ImageChops, ImageDraw

from seg_utils.data import build_manifest
from seg_utils.data.cache import build_cache

Image.MAX_IMAGE_PIXELS = None


def environment() -> dict:
    return {"torch": torch.__version__, "numpy": np.__version__, "pillow": PIL.__version__, "opencv": cv2.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": "cpu", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_pair(root: Path, i: int, width: int, height: int, rng: np.random.Generator) -> None:
    """One synthetic dermoscopy-like JPEG (q95) and its 0/255 PNG mask, built with PIL's C routines."""
    coarse = rng.integers(120, 230, size=(max(2, height // 400), max(2, width // 400), 3), dtype=np.uint8)
    base = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    dark = Image.fromarray((coarse * 0.45).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    small = Image.new("L", (max(8, width // 16), max(8, height // 16)), 0)
    sw, sh = small.size
    cx, cy = rng.uniform(0.35, 0.65) * sw, rng.uniform(0.35, 0.65) * sh
    rx, ry = rng.uniform(0.15, 0.3) * sw, rng.uniform(0.15, 0.3) * sh
    ImageDraw.Draw(small).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    alpha = small.resize((width, height), Image.BILINEAR)
    image = Image.composite(dark, base, alpha)
    tile = rng.integers(0, 13, size=(512, 512, 3), dtype=np.uint8)
    reps = (-(-height // 512), -(-width // 512), 1)
    texture = Image.fromarray(np.tile(tile, reps)[:height, :width])
    image = ImageChops.add(image, texture, offset=-6)
    image.save(root / "images" / f"IMG_{i:04d}.jpg", quality=95)
    alpha.point(lambda v: 255 if v > 127 else 0).save(root / "masks" / f"IMG_{i:04d}_segmentation.png")


def decode_pair(image_path: str, mask_path: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The usual per-epoch work: full decode (no draft) and resize."""
    with Image.open(image_path) as im:
        image = np.asarray(im.convert("RGB"))
    with Image.open(mask_path) as im:
        mask = (np.asarray(im.convert("L")) > 127).astype(np.uint8)
    return (cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA),
            cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST))


def decode_epoch(pairs: list[tuple[str, str]], size: int, workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = list(pool.map(lambda p: decode_pair(*p, size), pairs))
    else:
        out = [decode_pair(*p, size) for p in pairs]
    return torch.from_numpy(np.stack([o[0] for o in out])), torch.from_numpy(np.stack([o[1] for o in out]))


def cache_epoch(cache, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """As seg_utils.study.runs._tensors: all rows of the memmaps -> contiguous torch uint8 tensors."""
    images = torch.from_numpy(np.ascontiguousarray(cache.images[rows]))
    masks = torch.from_numpy(np.ascontiguousarray(cache.masks[rows]))
    return images, masks


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="synthetic images")
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--size", type=int, default=224, help="cache / training side")
    ap.add_argument("--rounds", type=int, default=3, help="baseline epochs per variant (interleaved with cache)")
    ap.add_argument("--cache-reps", type=int, default=30, help="cache epochs per round")
    ap.add_argument("--baseline-workers", type=int, default=os.cpu_count() or 1,
                    help="threads of the multi-worker baseline (the single-threaded one always runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where the temp folder goes (default: the system temp)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="bench_data_path_", dir=args.workdir) as tmp:
        root = Path(tmp) / "data"
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        rng = np.random.default_rng(args.seed)
        for i in range(args.n):
            write_pair(root, i, args.width, args.height, rng)
        manifest = build_manifest("folder", root)
        pairs = list(zip(manifest.image_path, manifest.mask_path, strict=True))
        jpeg_mb = statistics.mean(os.path.getsize(p) for p, _ in pairs) / 2**20

        build_1t, _ = timed(lambda: build_cache(manifest, args.size, Path(tmp) / "cache1", workers=1, progress=False))
        build_t, cache = timed(lambda: build_cache(manifest, args.size, Path(tmp) / "cache", progress=False))
        reopen_t, cache = timed(lambda: build_cache(manifest, args.size, Path(tmp) / "cache", progress=False))
        rows = np.arange(len(manifest))

        dec1, decw, cached = [], [], []
        for _ in range(args.rounds):  # interleaved: decode(1), decode(W), cache x reps
            t, (b_img, b_msk) = timed(decode_epoch, pairs, args.size, 1)
            dec1.append(t)
            if args.baseline_workers > 1:
                decw.append(timed(decode_epoch, pairs, args.size, args.baseline_workers)[0])
            for _ in range(args.cache_reps):
                t, (c_img, c_msk) = timed(cache_epoch, cache, rows)
                cached.append(t)

    n = len(pairs)
    d1, c = statistics.median(dec1), statistics.median(cached)
    figures = {
        "baseline_images_per_s": n / d1,
        "cache_images_per_s": n / c,
        "cache_vs_decode_ratio": d1 / c,
        "first_build_vs_decode_epoch": build_t / d1,
        "first_build_1thread_vs_decode_epoch": build_1t / d1,
        "reopen_cache_vs_decode_epoch": reopen_t / d1,
        "same_content_mean_abs_diff_uint8": float((b_img.float() - c_img.float()).abs().mean()),
        "same_masks_pixel_agreement": float((b_msk == c_msk).float().mean()),
        "jpeg_mean_mb": round(jpeg_mb, 2),
        "samples": {"decode_epochs_1worker": len(dec1), "cache_epochs": len(cached)},
    }
    if decw:
        dw = statistics.median(decw)
        figures.update({"baseline_workers_images_per_s": n / dw, "cache_vs_decode_workers_ratio": dw / c,
                        "first_build_vs_decode_workers_epoch": build_t / dw})
    print(json.dumps({"benchmark": "data_path", "params": vars(args), "env": environment(), "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
