"""The prepared GPU check of issue 14 (run it through benchmarks/gpu_check.sh, which installs the carried wheels).

Sections, each timed, each written to ``gpu_check.json`` and ``gpu_check.md`` as soon as it ends (so a run stopped
at its limit still leaves what it measured), in the order of what matters most:

- (a) training images/s of each poster cell at 224 px, batch 32: fp32 and the auto choice's dtype, NCHW and
  channels_last, plus the data path's cost (benchmarks/gpu_speed.py);
- (c) the whole ``paper`` grid of the chest X-rays (4 runs: U-Net / DeepLabV3+ RN50 x BCE / Log-Cosh Dice) from scratch
  (weights none), 50 epochs at most with early stopping, through the study's own ``prepare`` + ``run_grid`` with the
  profile notebooks/params/paper.yaml: its wall time and each run's Dice on Montgomery;
- (d) ``run_all.sh --profile paper --only 02`` on the same results folder: papermill runs the chest X-ray notebook
  (the runs of (c) are complete and skipped) and nbconvert renders it to HTML (copied next to the JSON);
- (b) images/s with ``parallel_runs`` 1, 2 and 4 through the study's ``run_grid`` (benchmarks/gpu_speed.py).

A section that fails is recorded with its error and the others go on; the exit status is 1 when one failed.
``--cpu-dry-run`` runs the same code on the CPU at a tiny size (32-64 px, batch 2-4, one step, one epoch; synthetic
chest X-rays when the pack is absent) so CI tests every call the GPU run makes.

    benchmarks/gpu_check.sh                      # on the GPU machine (about 6-8 minutes on an H200)
    benchmarks/gpu_check.sh --cpu-dry-run        # anywhere, about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_speed
import torch
import yaml
from gpu_report import markdown

from seg_utils.model.precision import amp_of, resolve_precision
from seg_utils.model.train import probe_step
from seg_utils.study import DatasetParams, prepare, run_grid
from seg_utils.study.reference import poster_dice

#: Sizes of the real check and of the CPU dry run.
FULL = {"size": 224, "batch": 32, "warmup": 2, "steps": 5, "rounds": 2, "cache_rows": 256, "cells": gpu_speed.CELLS,
        "parallel": (1, 2, 4), "parallel_epochs": 4, "grid": {}, "grid_parallel": "auto"}
#: The dry run measures two cells (a ResNet U-Net; DeepLabV3+ on an encoder smp cannot dilate); the GPU run all six.
DRY = {"size": 32, "batch": 2, "warmup": 1, "steps": 1, "rounds": 1, "cache_rows": 8,
       "cells": [("unet", "resnet50"), ("deeplabv3plus", "densenet121")],
       "parallel": (1, 2), "parallel_epochs": 1, "grid_parallel": "1",
       "grid": {"image_size": 64, "epochs": 1, "batch_size": 4, "limit": 8, "synthetic_train": 8,
                "synthetic_test": 4, "precision": "fp32", "memory_format": "nchw"}}
#: Rough seconds each section needs on an H200, to skip one that would overrun the budget.
ESTIMATE_S = {"a": 120, "c": 180, "d": 60, "b": 90}
GOAL_GRID_S = 120


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                           "cuda": torch.version.cuda, "device": str(device), "cpu_count": os.cpu_count(),
                           "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update({"gpu": p.name, "capability": f"{p.major}.{p.minor}",
                    "gpu_memory_gib": round(p.total_memory / 2**30), "cudnn": torch.backends.cudnn.version(),
                    "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                    "matmul_precision": torch.get_float32_matmul_precision()})
    else:
        env["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return env


def auto_dtype(device: torch.device, cfg: dict) -> tuple[str, dict]:
    """The dtype ``precision=auto`` trains in here (on the CPU: the project's probe of UNet-RN50 at the check's size),
    and the record of the choice. A CPU that picks fp32 is measured against bf16 anyway."""
    step = None
    if device.type == "cpu":
        from seg_utils.model.losses import build_loss
        from seg_utils.model.models import build_model

        step = probe_step(lambda: build_model("unet", "resnet50", "none"), build_loss("bce"), cfg["size"],
                          cfg["batch"], device)
    amp, record = resolve_precision(device, "auto", "auto", step=step, steps=1)
    return (amp.name if amp.name != "fp32" else "bf16"), record


def section_a(device: torch.device, cfg: dict, out: dict) -> dict:
    low, record = auto_dtype(device, cfg)
    cache = gpu_speed.device_cache(cfg["cache_rows"], cfg["size"], device)
    res: dict[str, Any] = {"auto": record, "low_precision": low, "size": cfg["size"], "batch": cfg["batch"],
                           "cells": {}}
    out["a"] = {"status": "running", **res}
    for arch, encoder in cfg["cells"]:
        res["cells"][f"{arch}-{encoder}"] = gpu_speed.cell_speed(arch, encoder, low, cache, cfg, device)
    chosen = record["chosen"]
    res["auto_setting"] = f"{chosen['precision']}/{chosen['memory_format']}"
    res["data_path"] = gpu_speed.data_path(amp_of(low, "channels_last"), cache, cfg, device)
    return res


def paper_profile() -> dict[str, Any]:
    """The ``paper`` profile as run_all.sh gives it to the chest X-ray notebook: paper.yaml, then the notebook's own
    notebooks/params/paper/02_dataset_chest_xray.yaml where one exists."""
    params = ROOT / "notebooks" / "params"
    out = yaml.safe_load((params / "paper.yaml").read_text()) or {}
    own = params / "paper" / "02_dataset_chest_xray.yaml"
    return {**out, **(yaml.safe_load(own.read_text()) or {})} if own.is_file() else out


def grid_params(data_root: str, work: Path, cfg: dict) -> dict[str, Any]:
    """The ``paper`` profile's parameters for the chest X-rays from scratch, as both (c) and (d) use them."""
    profile = paper_profile()
    return {**profile, "dataset": "chest_xray", "data_root": data_root, "results_dir": str(work / "paper"),
            "cache_dir": str(work / "cache"), "weights": "none", "progress": False,
            "parallel_runs": cfg["grid_parallel"], **cfg["grid"]}


def section_c(params: DatasetParams, data, out: dict) -> dict:
    t0 = time.perf_counter()
    runs = run_grid(params, data)
    wall = time.perf_counter() - t0
    rows = []
    for r in runs.itertuples():
        rows.append({"config": r.config, "seed": int(r.seed), "action": r.action, "status": r.status,
                     "dice_mean": r.dice_mean, "dice_ci": [r.dice_ci_low, r.dice_ci_high],
                     "poster_dice": poster_dice(params.dataset, r.arch, r.encoder, r.loss), "epochs_run": r.epochs_run,
                     "best_epoch": r.best_epoch, "stopped_early": r.stopped_early, "precision": r.precision,
                     "seconds": r.seconds, "reason": r.reason})
    return {"wall_s": wall, "goal_s": GOAL_GRID_S, "goal_met": wall < GOAL_GRID_S,
            "parallel_runs": params.parallel_runs, "images": len(data.clean), "runs": rows,
            "notes": list(runs.attrs.get("notes", []))}


def section_d(grid: dict[str, Any], out_dir: Path) -> dict:
    """``run_all.sh --profile paper --only 02`` with the parameters of (c) on its results folder."""
    results = Path(grid["results_dir"])
    cmd = ["bash", str(ROOT / "run_all.sh"), "--profile", "paper", "--results", str(results), "--only", "02"]
    skip = {"results_dir"}
    if grid["data_root"]:
        cmd += ["--data-root", grid["data_root"]]
        skip.add("data_root")
    profile = paper_profile()
    for k, v in grid.items():
        if k not in skip and (k not in profile or profile[k] != v):
            cmd += ["-p", k, str(v)]
    before = {p: p.stat().st_mtime for p in results.glob("runs/*/*/metrics.json")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = {p: p.stat().st_mtime for p in results.glob("runs/*/*/metrics.json")}
    html = results / "notebooks" / "02_dataset_chest_xray.report.html"
    res = {"command": " ".join(cmd), "returncode": proc.returncode, "wall_s": wall, "html": str(html),
           "html_bytes": html.stat().st_size if html.is_file() else 0,
           "runs_skipped": bool(before) and before == after, "output_tail": (proc.stdout + proc.stderr)[-1500:]}
    if html.is_file():
        shutil.copy(html, out_dir / html.name)
    if proc.returncode != 0 or not html.is_file():
        raise RuntimeError(f"run_all.sh exited {proc.returncode}: {res['output_tail']}")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-dry-run", action="store_true", help="the same code on the CPU at a tiny size")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "results" / "gpu_check"),
                    help="where gpu_check.json / .md and the HTML report go (default: $OUT, else results/gpu_check)")
    ap.add_argument("--work", type=Path, default=None, help="run folders and caches (default: a temp folder)")
    ap.add_argument("--data", type=Path, default=ROOT / ".gpu_pack" / "data" / "chest_xray",
                    help="chest X-rays (benchmarks/pack_for_gpu.sh packs them); absent: synthetic in the dry run")
    ap.add_argument("--sections", default="acdb", help="which sections, in order (default: acdb)")
    ap.add_argument("--budget-s", type=float, default=450, help="skip a section that would end after this")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    if args.cpu_dry_run:
        device, cfg = torch.device("cpu"), DRY
        torch.set_num_threads(1)
    elif torch.cuda.is_available():
        device, cfg = torch.device("cuda"), FULL
        torch.backends.cudnn.benchmark = True  # as seg_utils.study.runs
    else:
        print("gpu_check: no CUDA device here; use --cpu-dry-run to test the script on the CPU", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    data_root = str(args.data.resolve()) if args.data.is_dir() else ""
    if not data_root and not args.cpu_dry_run:
        print(f"gpu_check: no chest X-rays at {args.data}: run benchmarks/pack_for_gpu.sh first", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"check": "gpu_check", "mode": "cpu-dry-run" if args.cpu_dry_run else "gpu",
                              "env": environment(device), "data": data_root or "synthetic", "work": str(work)}

    def save() -> None:
        result["seconds"] = round(time.perf_counter() - t_start, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
        (args.out / "gpu_check.md").write_text(markdown(result))

    grid = grid_params(data_root, work, cfg)
    params, data = None, None
    for name in args.sections:
        elapsed = time.perf_counter() - t_start
        if not args.cpu_dry_run and elapsed + ESTIMATE_S[name] > args.budget_s:
            result[name] = {"status": "skipped", "reason": f"budget: {elapsed:.0f} s gone of {args.budget_s:.0f}"}
            continue
        print(f"gpu_check: section ({name}) at {elapsed:.0f} s", flush=True)
        t0 = time.perf_counter()
        try:
            if name in "bc" and data is None:
                params = DatasetParams(**grid)
                data = prepare(params)
                result["prepare_s"] = round(time.perf_counter() - t0, 1)  # quality inspection + cache, once
            if name == "a":
                res = section_a(device, cfg, result)
            elif name == "b":
                base = {**grid, "epochs": cfg["parallel_epochs"], "patience": cfg["parallel_epochs"] + 1}
                res = gpu_speed.parallel_speed(cfg["parallel"], base, data, work)
            elif name == "c":
                res = section_c(params, data, result)
            else:
                res = section_d(grid, args.out)
            result[name] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 1), **res}
        except Exception as exc:  # record and go on: the other sections' figures still count
            result[name] = {**result.get(name, {}), "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc()[-3000:]}
            print(f"gpu_check: section ({name}) FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        save()
    save()
    print(markdown(result))
    print(f"gpu_check: wrote {args.out / 'gpu_check.json'} and gpu_check.md in {result['seconds']} s")
    failed = [k for k in args.sections if result.get(k, {}).get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
