"""How many runs of a grid train at once on one device (``parallel_runs``).

A UNet-RN50 at batch 32 and 224 px leaves a large GPU mostly idle, so independent runs can share it: each in its
own worker process (its own CUDA context and allocator, no shared Python state), ``N`` at a time. ``auto`` sizes
``N`` from the GPU's free memory and what one run needs (a training step's peak memory measured once, the run's
cached arrays, and the CUDA context); on the CPU ``auto`` is 1, because runs there would share the same cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..model import build_loss, build_model, resolve_device
from ..model.precision import resolve_precision
from ..model.train import probe_step

__all__ = ["MAX_PARALLEL", "CONTEXT_BYTES", "resolve_parallel_runs", "runs_that_fit"]

MAX_PARALLEL = 8
#: What one CUDA context and the allocator's slack take besides the tensors (measured on A100/H100: 0.5-0.8 GB).
CONTEXT_BYTES = 1 << 30


def runs_that_fit(free_bytes: int, step_peak_bytes: int, array_bytes: int) -> int:
    """How many runs fit in ``free_bytes``: each needs its step's peak with a 25% margin, its arrays and a context;
    10% of the free memory is left alone. At least 1, at most :data:`MAX_PARALLEL`."""
    need = int(step_peak_bytes * 1.25) + array_bytes + CONTEXT_BYTES
    return max(1, min(MAX_PARALLEL, int(free_bytes * 0.9) // max(need, 1)))


def _measure_cuda(spec: Any, data: Any, device: torch.device) -> tuple[int, int]:
    """(peak bytes of one training step at the run's batch and size, bytes of its cached arrays on the GPU)."""
    amp, _ = resolve_precision(device)
    step = probe_step(lambda: build_model(spec.arch, spec.encoder, "none"), build_loss(spec.loss), spec.image_size,
                      spec.batch_size, device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step(amp)
    peak = torch.cuda.max_memory_allocated(device) - before
    n = len(data.cache.index)
    arrays = n * spec.image_size * spec.image_size * 4  # uint8 images (3 channels) + masks
    torch.cuda.empty_cache()
    return peak, arrays


def resolve_parallel_runs(value: int | str, device: str, jobs: Sequence[tuple[Any, Any]]) -> int:
    """The number of worker processes for ``jobs`` (``(spec, prepared data)`` pairs still to train).

    Args:
        value: ``parallel_runs``: a positive integer, or ``"auto"``.
        device: the notebook's device (``auto``, ``cpu``, ``cuda``).
        jobs: the runs still to train (never more workers than runs).

    Raises:
        ConfigError: a value that is neither a positive integer nor ``auto``.
    """
    if value == "auto":
        dev = resolve_device(device)
        if dev.type != "cuda" or not jobs:
            return 1
        free, _total = torch.cuda.mem_get_info(dev)
        spec, data = max(jobs, key=lambda j: (j[0].image_size, j[0].batch_size))
        peak, arrays = _measure_cuda(spec, data, dev)
        return min(len(jobs), runs_that_fit(free, peak, arrays))
    n = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"parallel_runs={value!r} must be a positive integer or 'auto'")
    return max(1, min(n, len(jobs)))
