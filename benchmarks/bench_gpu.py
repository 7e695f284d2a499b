"""GPU training throughput: fp32 versus AMP + channels_last, achieved fraction of peak, and the data path's cost.

For each model (UNet-RN50, DeepLabV3+-RN50 by default; weights none) at ``--size`` with batch ``--batch-size``,
on CUDA, the training step exactly as ``seg_utils.model.train.fit`` runs it (autocast -> model -> float32 loss ->
finite check -> zero_grad -> GradScaler backward/step/update -> ``float(loss)``) is timed:

- ``fp32``: no autocast, contiguous (NCHW) tensors; cuDNN's TF32 setting as it is (reported; ``--strict-fp32``
  turns TF32 off);
- ``amp``: ``seg_utils.model.train.amp_settings``: bf16 autocast where ``torch.cuda.is_bf16_supported(
  including_emulation=False)``, else fp16 + GradScaler; model and batch channels_last.

Both on one fixed, pre-loaded, normalised batch on the GPU. Then, in AMP mode, rounds alternate between that and
batches taken from a GPU-resident uint8 cache through ``seg_utils.data.transforms.make_batch`` with shuffled row
numbers from ``seg_utils.model.train.batches`` (what fit does): their throughput ratio is "data never the bottleneck".

FLOPs per image are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward
(convolutions and matmuls; batch norm, element-wise ops and the optimiser are not counted). The peak comes from
a table of dense (non-sparse) datasheet figures by GPU name, else ``unknown``.

Warm-up steps, then ``--rounds`` x ``--steps`` timed steps between ``torch.cuda.synchronize`` calls; medians.
Without CUDA it prints a JSON line saying what it did not run and exits 0; ``--cpu-smoke`` then runs the same code
on the CPU at a tiny size (resnet18, 32 px; bf16 autocast on the CPU stands in for AMP) so the script itself is
exercised.

    python benchmarks/bench_gpu.py                 # on a CUDA machine, ~1-4 minutes
    python benchmarks/bench_gpu.py --cpu-smoke     # anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from seg_utils.data.transforms import make_batch, normalise
from seg_utils.model.device import AmpSettings, amp_settings
from seg_utils.model.losses import LOSSES, build_loss
from seg_utils.model.models import build_model
from seg_utils.model.train import batches, train_step

#: Dense (no 2:4 sparsity) datasheet peaks in TFLOP/s; regexes tried in order on the upper-cased device name.
PEAKS: list[tuple[str, dict[str, float], str]] = [
    (r"\bH200 NVL\b", {"bf16": 835, "fp16": 835, "tf32": 418, "fp32": 60}, "NVIDIA H200 NVL datasheet (sparse / 2)"),
    (r"\bH200\b", {"bf16": 989, "fp16": 989, "tf32": 494, "fp32": 67}, "NVIDIA H200 SXM datasheet (sparse / 2)"),
    (r"\bH100 PCIE\b", {"bf16": 756, "fp16": 756, "tf32": 378, "fp32": 51}, "NVIDIA H100 PCIe datasheet (sparse / 2)"),
    (r"\bH100\b", {"bf16": 989, "fp16": 989, "tf32": 494, "fp32": 67}, "NVIDIA H100 SXM datasheet (sparse / 2)"),
    (r"\bA100\b", {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5}, "NVIDIA A100 datasheet (dense)"),
    (r"\bL4\b", {"bf16": 121, "fp16": 121, "tf32": 60, "fp32": 30.3}, "NVIDIA L4 datasheet (sparse / 2)"),
    (r"\bV100\b.*\bPCIE\b", {"fp16": 112, "fp32": 14}, "NVIDIA V100 PCIe datasheet (tensor fp16)"),
    (r"\bV100\b", {"fp16": 125, "fp32": 15.7}, "NVIDIA V100 SXM2 datasheet (tensor fp16)"),
    (r"\bT4\b", {"fp16": 65, "fp32": 8.1}, "NVIDIA T4 datasheet (tensor fp16 mixed precision)"),
]


def peak_for(name: str) -> tuple[dict[str, float] | None, str]:
    upper = name.upper()
    for pattern, peaks, source in PEAKS:
        if re.search(pattern, upper):
            return peaks, source
    return None, "unknown (not in the table)"


def tf32_state() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
           "cuda_available": torch.cuda.is_available(), "cuda": torch.version.cuda,
           "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update({"gpu": p.name, "capability": f"{p.major}.{p.minor}",
                    "gpu_memory_gb": round(p.total_memory / 2**30, 1), "cudnn": torch.backends.cudnn.version(),
                    **tf32_state()})
    return env


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model, loss_fn, amp: AmpSettings, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """fit's loop body, with its optimiser and scaler."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        return train_step(model, loss_fn, opt, scaler, amp, x, y)

    return step


def time_round(fn: Callable[[], object], steps: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / steps


def flops_per_image(model, loss_fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """Forward + backward FLOPs of two images (batch norm and ASPP pooling need two), per image."""
    model.train()
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x[:2].contiguous()).float(), y[:2]).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def bench_model(arch: str, args, device: torch.device, cache: tuple[torch.Tensor, torch.Tensor],
                amp_mode: AmpSettings, peaks: dict | None) -> dict:
    images, masks = cache
    loss_fn = build_loss(args.loss)
    out: dict = {}
    fpi = None
    for mode in ("fp32", "amp"):
        amp = AmpSettings(False, None, False, "fp32") if mode == "fp32" else amp_mode
        torch.manual_seed(args.seed)
        model = build_model(arch, args.encoder, "none").to(device)
        if amp.channels_last:
            model = model.to(memory_format=torch.channels_last)
        x = normalise(images[: args.batch_size])
        x = x.contiguous(memory_format=torch.channels_last) if amp.channels_last else x.contiguous()
        y = masks[: args.batch_size].unsqueeze(1).float()
        if fpi is None:
            fpi = flops_per_image(model, loss_fn, x, y)
        step = make_step(model, loss_fn, amp, device)
        gen = torch.Generator().manual_seed(args.seed)
        order: list[torch.Tensor] = []

        def cached_step(step=step, gen=gen, order=order, amp=amp) -> float:
            if not order:
                order.extend(batches(len(images), args.batch_size, gen))
            xb, yb = make_batch(images, masks, order.pop(0), args.augment, gen, channels_last=amp.channels_last)
            return step(xb, yb)

        try:
            for _ in range(args.warmup):
                step(x, y)
                if mode == "amp":
                    cached_step()
            fixed, from_cache = [], []
            for _ in range(args.rounds):
                fixed.append(time_round(lambda step=step, x=x, y=y: step(x, y), args.steps, device))
                if mode == "amp":
                    from_cache.append(time_round(cached_step, args.steps, device))
        except torch.OutOfMemoryError:
            out[mode] = {"error": f"out of memory at batch {args.batch_size}"}
            continue
        finally:
            del model, step, cached_step
            if device.type == "cuda":
                torch.cuda.empty_cache()
        ips = args.batch_size / statistics.median(fixed)
        res = {"precision": amp.description, "images_per_s": ips, "achieved_tflops": fpi * ips / 1e12}
        key = "fp32" if mode == "fp32" else ("bf16" if amp.dtype == torch.bfloat16 else "fp16")
        if peaks and key in peaks:
            res[f"fraction_of_{key}_peak"] = res["achieved_tflops"] / peaks[key]
        if mode == "fp32" and peaks and "tf32" in peaks:
            res["fraction_of_tf32_peak"] = res["achieved_tflops"] / peaks["tf32"]
        if from_cache:
            res["images_per_s_from_uint8_cache"] = args.batch_size / statistics.median(from_cache)
            res["data_path_efficiency"] = statistics.median(fixed) / statistics.median(from_cache)
        out[mode] = res
    out["flops_per_image_fwd_bwd"] = fpi
    if "images_per_s" in out.get("fp32", {}) and "images_per_s" in out.get("amp", {}):
        out["amp_speedup"] = out["amp"]["images_per_s"] / out["fp32"]["images_per_s"]
    return out


def run(args, device: torch.device, amp_mode: AmpSettings) -> dict:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as seg_utils.study.runs.execute_run
        if args.strict_fp32:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peaks, source = peak_for(name) if device.type == "cuda" else (None, "unknown (CPU)")
    gen = torch.Generator(device=device).manual_seed(args.seed)
    s = args.size
    images = torch.randint(0, 256, (args.cache_images, s, s, 3), dtype=torch.uint8, device=device, generator=gen)
    masks = torch.randint(0, 2, (args.cache_images, s, s), dtype=torch.uint8, device=device, generator=gen)
    models = {arch: bench_model(arch, args, device, (images, masks), amp_mode, peaks) for arch in args.archs}
    return {"peak_tflops": peaks, "peak_source": source, "models": models}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["unet", "deeplabv3plus"], choices=["unet", "deeplabv3plus"])
    ap.add_argument("--encoder", default="resnet50")
    ap.add_argument("--loss", default="bce", choices=sorted(LOSSES))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--augment", default="none", choices=["none", "flips"], help="make_batch policy")
    ap.add_argument("--cache-images", type=int, default=256, help="rows of the GPU-resident uint8 cache")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strict-fp32", action="store_true", help="turn TF32 off for the fp32 runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu-smoke", action="store_true", help="without CUDA: the same code on the CPU (resnet18, 32 px, "
                    "batch 2, one step; timings meaningless)")
    args = ap.parse_args(argv)

    if torch.cuda.is_available():
        device = torch.device("cuda")
        result = {"status": "ran", **run(args, device, amp_settings(device))}
    else:
        device = torch.device("cpu")
        result = {"status": "not_run", "reason": "no CUDA device (torch.cuda.is_available() is False)",
                  "would_report": "per model: fp32 and AMP images/s, amp_speedup, achieved TFLOP/s and fraction of "
                                  "the GPU's peak, data_path_efficiency (uint8 cache via make_batch vs fixed batch)"}
        if args.cpu_smoke:
            args.size, args.batch_size, args.cache_images, args.encoder = 32, 2, 4, "resnet18"
            args.warmup, args.steps, args.rounds = 1, 1, 1
            torch.set_num_threads(1)
            smoke_amp = AmpSettings(True, torch.bfloat16, True, "bf16 autocast, channels_last (CPU smoke)")
            result["cpu_smoke"] = {"note": "code-path check only; timings on a CPU mean nothing for a GPU",
                                   **run(args, device, smoke_amp)}
    print(json.dumps({"benchmark": "gpu", "params": vars(args), "env": environment(device), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
