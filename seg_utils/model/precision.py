"""Numeric precision and memory format of a run: chosen by measurement on the CPU, by capability on a GPU.

``precision="auto"`` (the default):

- on CUDA: bf16 autocast where the GPU has it natively (Ampere and newer), else fp16 autocast with a GradScaler
  (a T4); channels_last either way;
- on the CPU: a short probe trains the run's own model at its own size for a few steps in each candidate
  (fp32 or bf16 autocast, NCHW or channels_last) and keeps the fastest. On a Xeon with AMX bf16 + channels_last
  trains 2.7x faster than fp32; on an AVX2-only EPYC bf16 is about 20x slower (shared/docs/field-notes.md 8.1), so
  no fixed choice is right. The verdict is cached per machine, torch version and model (:func:`probe_key`), so
  the probe runs once.

An explicit ``fp32``, ``bf16`` or ``fp16`` (and ``nchw`` / ``channels_last``) overrides the choice. Losses and
metrics are computed in float32 whatever the autocast dtype (the logits are cast first).
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.io import write_json
from ..errors import ConfigError, check_choice
from ..options import check_options, option
from .device import DEVICES

__all__ = ["PRECISIONS", "MEMORY_FORMATS", "AmpSettings", "ExecOptions", "amp_of", "resolve_precision", "probe_key",
           "cpu_name"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "nchw", "channels_last")


@dataclass(frozen=True, kw_only=True)
class ExecOptions:
    """Where and how a run executes, declared once: none of these changes the run's identity (its numbers' meaning),
    so they are not part of a run spec. The dataset notebooks' parameters and the ``train`` command inherit them."""

    device: str = option("auto", "auto | cpu | cuda", choices=DEVICES)
    precision: str = option("auto", "auto (measured on a CPU; bf16 or fp16 on a GPU) | fp32 | bf16 | fp16",
                            choices=PRECISIONS)
    memory_format: str = option("auto", "auto | nchw | channels_last", choices=MEMORY_FORMATS)

    def __post_init__(self) -> None:
        check_options(self)


_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_SLOW = 3.0  # a candidate whose first step takes this many times fp32's is not measured further


@dataclass(frozen=True)
class AmpSettings:
    """Autocast dtype (None: float32) and memory format of a run."""

    dtype: torch.dtype | None
    channels_last: bool

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def name(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``."""
        return next(k for k, v in _DTYPES.items() if v == self.dtype)

    @property
    def memory_format(self) -> str:
        return "channels_last" if self.channels_last else "nchw"

    @property
    def description(self) -> str:
        how = {"fp32": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + GradScaler"}[self.name]
        return f"{how}, {self.memory_format}"


def amp_of(precision: str, memory_format: str) -> AmpSettings:
    """The settings named ``precision`` (fp32, bf16, fp16) and ``memory_format`` (nchw, channels_last)."""
    check_choice("precision", precision, tuple(_DTYPES))
    check_choice("memory_format", memory_format, MEMORY_FORMATS[1:])
    return AmpSettings(_DTYPES[precision], memory_format == "channels_last")


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), or what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_key(device: torch.device, model_name: str, image_size: int, batch_size: int) -> str:
    """What a probe's verdict depends on: the processor, its ISA as torch sees it, threads, torch, the model."""
    text = json.dumps([cpu_name(), torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(),
                       torch.__version__, device.type, model_name, image_size, batch_size])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _candidates(device: torch.device, precision: str, memory_format: str) -> list[tuple[str, str]]:
    precisions = ["fp32", "bf16"] if precision == "auto" else [precision]
    formats = ["nchw", "channels_last"] if memory_format == "auto" else [memory_format]
    return [(p, f) for p in precisions for f in formats]


def _measure(step: Callable[[AmpSettings], float], candidates: list[tuple[str, str]], steps: int) -> dict[str, Any]:
    """images/s of each candidate (median over ``steps`` timed steps after one warm-up step)."""
    figures: dict[str, Any] = {}
    first_fp32 = None
    for precision, fmt in candidates:
        amp = amp_of(precision, fmt)
        t0 = time.perf_counter()
        images = step(amp)  # warm-up: allocations, oneDNN kernel selection
        warm = time.perf_counter() - t0
        if first_fp32 is not None and warm > _SLOW * first_fp32:
            figures[f"{precision}/{fmt}"] = {"images_per_s": images / warm, "note": f"warm-up step {warm:.1f} s, "
                                             f"over {_SLOW:g}x fp32's: not measured further"}
            continue
        if precision == "fp32" and first_fp32 is None:
            first_fp32 = warm
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            images = step(amp)
            times.append(time.perf_counter() - t0)
        figures[f"{precision}/{fmt}"] = {"images_per_s": images / sorted(times)[len(times) // 2]}
    return figures


def resolve_precision(device: torch.device, precision: str = "auto", memory_format: str = "auto",
                      step: Callable[[AmpSettings], float] | None = None, cache: Path | None = None,
                      key: str = "", steps: int = 3) -> tuple[AmpSettings, dict[str, Any]]:
    """The autocast dtype and memory format a run trains in, and how they were chosen.

    Args:
        device: the run's device.
        precision: one of :data:`PRECISIONS`.
        memory_format: one of :data:`MEMORY_FORMATS`.
        step: on the CPU with something ``auto``: runs one training step of the run's model in the given settings
            and returns the number of images it processed (the probe times it).
        cache: a JSON file for the verdict (read when it exists for ``key``, written after a probe).
        key: :func:`probe_key` of the run.
        steps: timed steps per candidate.

    Returns:
        ``(settings, record)``: the record (saved in the run's environment.json) says what was asked, what was
        chosen, why, and the probe's figures (images/s per candidate).

    Raises:
        ConfigError: an unknown value; fp16 or bf16 asked for on a GPU that cannot run it.
    """
    check_choice("precision", precision, PRECISIONS)
    check_choice("memory_format", memory_format, MEMORY_FORMATS)
    record: dict[str, Any] = {"requested": {"precision": precision, "memory_format": memory_format}}
    if device.type == "cuda":
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        if precision == "bf16" and not native_bf16:
            raise ConfigError("precision='bf16' but this GPU has no native bf16 (e.g. a T4); use 'fp16' or 'auto'")
        chosen = precision if precision != "auto" else ("bf16" if native_bf16 else "fp16")
        fmt = memory_format if memory_format != "auto" else "channels_last"
        record["reason"] = ("asked for" if precision != "auto" else
                            "GPU with native bf16" if native_bf16 else "GPU without native bf16: fp16 + GradScaler")
        amp = amp_of(chosen, fmt)
    elif precision != "auto" and memory_format != "auto":
        amp, record["reason"] = amp_of(precision, memory_format), "asked for"
    else:
        cached = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
        if cached.get("key") == key and key:
            figures, record["reason"] = cached["figures"], f"fastest in the probe cached in {cache}"
        elif step is None:
            raise ConfigError("precision or memory_format 'auto' on the CPU needs a probe step; pass step=")
        else:
            figures = _measure(step, _candidates(device, precision, memory_format), steps)
            record["reason"] = "fastest in a probe of this run's model on this machine"
            if cache is not None and key:
                write_json(cache, {"key": key, "cpu": cpu_name(), "torch": torch.__version__, "figures": figures})
        best = max(figures, key=lambda k: figures[k]["images_per_s"])
        record["probe"] = figures
        amp = amp_of(*best.split("/"))
    record.update(chosen={"precision": amp.name, "memory_format": amp.memory_format}, description=amp.description)
    return amp, record
