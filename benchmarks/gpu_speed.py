"""Sections (a) and (b) of benchmarks/gpu_check.py: training images/s of each poster cell per precision and layout,
the data path's cost, and images/s with several runs on one device.

(a) Each cell (U-Net and DeepLabV3+ x VGG19, ResNet50, DenseNet121; weights none) trains with the project's own step
(``seg_utils.model.train.train_step``) on batches that ``seg_utils.data.transforms.make_batch`` takes from a uint8
cache on the device, shuffled by ``seg_utils.model.train.batches``: what ``fit`` does, in fp32 and in the auto
choice's dtype (``seg_utils.model.precision.resolve_precision``: bf16 on a GPU with native bf16, fp16 + GradScaler
otherwise), each NCHW and channels_last. cuDNN benchmark mode is on (as ``seg_utils.study.runs``); TF32 is left as
torch has it (reported). FLOPs per image are counted with ``torch.utils.flop_counter`` (convolutions and matmuls of a
forward + backward). The data path: UNet-RN50 in the auto choice, rounds alternating between one fixed normalised
batch and ``make_batch`` with ``none``, ``flips`` and ``xray`` (the torch twin of the albumentations policy on CUDA);
its figure is fixed-batch step time / cache step time (1.0: the data path costs nothing).

(b) The study's own path (``seg_utils.study.run_grid`` with ``parallel_runs`` N, worker processes for N > 1): N runs
of UNet-RN50 (seeds 0..N-1) on the chest X-rays, each a few epochs without early stopping; the wall time, the
images trained per second of wall time, and the sum of the runs' own training-loop rates (``train_images_per_s``).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from seg_utils.data.io import read_json
from seg_utils.data.transforms import make_batch
from seg_utils.model.losses import build_loss
from seg_utils.model.models import POSTER_ENCODERS, build_model
from seg_utils.model.precision import AmpSettings, amp_of
from seg_utils.model.train import batches, train_step
from seg_utils.study import DatasetParams, PreparedData, run_grid
from seg_utils.study.grid import POSTER_ARCHS

CELLS = [(a, e) for a in POSTER_ARCHS for e in POSTER_ENCODERS]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def settings(low: str) -> list[tuple[str, AmpSettings]]:
    """fp32 and the low-precision dtype ``low`` (``bf16`` or ``fp16``), each NCHW and channels_last."""
    return [(f"{p}/{f}", amp_of(p, f)) for p in ("fp32", low) for f in ("nchw", "channels_last")]


def device_cache(n: int, size: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A uint8 cache on the device: random images and blob-ish 0/1 masks (content does not change the speed)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)
    masks = (torch.rand((n, size // 8, size // 8), generator=g) > 0.5).to(torch.uint8)
    masks = masks.repeat_interleave(8, 1).repeat_interleave(8, 2)
    return images.to(device), masks.to(device)


class Feed:
    """Batches as ``fit`` takes them: shuffled rows of the device cache through ``make_batch``."""

    def __init__(self, cache: tuple[torch.Tensor, torch.Tensor], batch: int, channels_last: bool,
                 augment: str = "none", seed: int = 0):
        self.cache, self.batch, self.channels_last, self.augment = cache, batch, channels_last, augment
        self.gen = torch.Generator().manual_seed(seed)
        self.order: list[torch.Tensor] = []

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.order:
            self.order = batches(len(self.cache[0]), self.batch, self.gen)
        return make_batch(*self.cache, self.order.pop(), self.augment, self.gen, None, self.channels_last)


def time_rounds(fn: Callable[[], object], warmup: int, steps: int, rounds: int, device: torch.device) -> list[float]:
    """Seconds per step of each round (``steps`` calls between two device synchronisations), after ``warmup``."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        out.append((time.perf_counter() - t0) / steps)
    return out


def flops_per_image(model: torch.nn.Module, size: int, device: torch.device) -> float:
    """Forward + backward FLOPs (convolutions, matmuls) of two images, per image, in float32."""
    model.train()
    x = torch.randn(2, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x).float().mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def _trainer(base: torch.nn.Module, amp: AmpSettings, device: torch.device):
    model = copy.deepcopy(base).to(device)
    if amp.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
    loss_fn = build_loss("bce")

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return train_step(model, loss_fn, opt, scaler, amp, x, y)

    return model, step


def cell_speed(arch: str, encoder: str, low: str, cache: tuple, cfg: dict, device: torch.device) -> dict[str, Any]:
    """images/s of one cell in each setting (fp32 / ``low`` x NCHW / channels_last) and its FLOPs per image."""
    torch.manual_seed(0)
    base = build_model(arch, encoder, "none")
    out: dict[str, Any] = {"flops_per_image": flops_per_image(copy.deepcopy(base).to(device), cfg["size"], device)}
    for label, amp in settings(low):
        model = step = None
        try:
            model, step = _trainer(base, amp, device)
            feed = Feed(cache, cfg["batch"], amp.channels_last)
            per_step = time_rounds(lambda step=step, feed=feed: step(*feed()), cfg["warmup"], cfg["steps"],
                                   cfg["rounds"], device)
            ips = cfg["batch"] / statistics.median(per_step)
            out[label] = {"images_per_s": ips, "tflops": out["flops_per_image"] * ips / 1e12}
        except torch.OutOfMemoryError:
            out[label] = {"error": f"out of memory at batch {cfg['batch']}"}
        finally:
            del model, step
            free(device)
    return out


def data_path(low_amp: AmpSettings, cache: tuple, cfg: dict, device: torch.device) -> dict[str, Any]:
    """UNet-RN50 in the auto choice: fixed batch vs make_batch (none, flips, xray) from the device cache, rounds
    interleaved; efficiency = fixed step time / cache step time."""
    torch.manual_seed(0)
    model, step = _trainer(build_model("unet", "resnet50", "none"), low_amp, device)
    x, y = Feed(cache, cfg["batch"], low_amp.channels_last)()
    feeds = {a: Feed(cache, cfg["batch"], low_amp.channels_last, a) for a in ("none", "flips", "xray")}
    fns = {"fixed": lambda s=step: s(x, y), **{a: (lambda f=f, s=step: s(*f())) for a, f in feeds.items()}}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up: cuDNN's search, the augmentations' first kernels
        time_rounds(fn, cfg["warmup"], 0, 0, device)
    for _ in range(cfg["rounds"]):
        for k, fn in fns.items():
            times[k] += time_rounds(fn, 0, cfg["steps"], 1, device)
    del model, step, fns
    free(device)
    fixed = statistics.median(times["fixed"])
    return {"precision": low_amp.description, **{
        k: {"images_per_s": cfg["batch"] / statistics.median(v), "efficiency": fixed / statistics.median(v)}
        for k, v in times.items()}}


def parallel_speed(ns: tuple[int, ...], base: dict, data: PreparedData, work: Path) -> dict[str, Any]:
    """The study's ``run_grid`` with ``parallel_runs`` N for each N: N runs of UNet-RN50, one per seed."""
    out: dict[str, Any] = {}
    for n in ns:
        params = DatasetParams(**{**base, "results_dir": str(work / f"parallel{n}"), "n_seeds": n,
                                  "parallel_runs": str(n), "configs": "unet-resnet50-bce"})
        t0 = time.perf_counter()
        runs = run_grid(params, data)
        wall = time.perf_counter() - t0
        metrics = [read_json(Path(d) / "metrics.json") for d in runs.run_dir if (Path(d) / "metrics.json").is_file()]
        images = sum(m["n_train"] * m["epochs_run"] for m in metrics)
        out[str(n)] = {"wall_s": wall, "runs": len(runs), "trained": int((runs.action == "trained").sum()),
                       "images_trained": images, "images_per_s_wall": images / wall,
                       "sum_of_runs_train_images_per_s": sum(m["train_images_per_s"] for m in metrics),
                       "precision": metrics[0]["precision"] if metrics else None,
                       "notes": list(runs.attrs.get("notes", []))}
    one = out.get("1")
    if one:
        for fig in out.values():
            fig["speedup_wall"] = fig["images_per_s_wall"] / one["images_per_s_wall"]
    return out
