"""Seeding and the environment record saved beside every result."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "environment_report", "git_commit", "cpu_name", "DETERMINISM_NOTE"]

PACKAGES = ("torch", "torchvision", "segmentation_models_pytorch", "timm", "albumentations", "numpy", "pandas",
            "scipy", "opencv-python-headless", "pillow", "papermill", "nbconvert", "seaborn", "imagehash")

DETERMINISM_NOTE = {
    "cpu": "deterministic: the same seed gives the same numbers (tested)",
    "cuda": "not bit-exact: cuDNN autotuning, and DeepLabV3+'s bilinear upsampling and adaptive pooling have no "
            "deterministic CUDA backward (torch docs; smp#465); compare seeds, not bits",
}


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def git_commit(path: str | Path | None = None) -> dict[str, object]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``path``."""
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), or what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_report(device: torch.device | str | None = None) -> dict[str, object]:
    """Package versions, hardware, git commit and time: how a result was made."""
    device = torch.device(device) if device is not None else None
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"name": p.name, "capability": f"{p.major}.{p.minor}",
                         "memory_gb": round(p.total_memory / 2**30, 1)})
    kind = device.type if device is not None else ("cuda" if gpus else "cpu")
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the ISA torch's CPU kernels use (e.g. AVX512)
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device) if device is not None else kind,
        "gpus": gpus,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_commit(),
        "determinism": DETERMINISM_NOTE["cuda" if kind == "cuda" else "cpu"],
        "kaggle": bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")),
    }
