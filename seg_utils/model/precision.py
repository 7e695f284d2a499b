"""Numeric precision and memory format of a run: chosen by measurement on the CPU, by capability on a GPU.

``precision="auto"`` (the default):

- on CUDA: bf16 autocast where the GPU has it natively (Ampere and newer), else fp16 autocast with a GradScaler
  (a T4); channels_last either way;
- on the CPU: a short probe trains the run's own model at its own size for a few steps in each candidate
  (fp32 or bf16 autocast, NCHW or channels_last) and keeps the fastest. On a Xeon with AMX bf16 + channels_last
  trains 2.7x faster than fp32; on an AVX2-only EPYC bf16 is about 20x slower (shared/docs/field-notes.md 8.1), so
  no fixed choice is right. The verdict is cached per machine, torch version and model (:func:`probe_key`) in the
  user's cache (:func:`user_probe_cache`: ``$SEG_UTILS_CACHE``, else ``$XDG_CACHE_HOME/seg_utils``, else
  ``~/.cache/seg_utils``; subfolder ``precision/``, one file per key), so the probe runs once per machine and model,
  whatever the results folder. Where the user cache cannot be written (a read-only home) the verdict goes to the
  results folder's cache instead, and the run's record says so.

An explicit ``fp32``, ``bf16`` or ``fp16`` (and ``nchw`` / ``channels_last``) overrides the choice. Losses and
metrics are computed in float32 whatever the autocast dtype (the logits are cast first).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..data.io import read_json, write_json
from ..errors import ConfigError, check_choice
from ..options import check_options, option
from ..repro import cpu_name
from .device import DEVICES

__all__ = ["PRECISIONS", "MEMORY_FORMATS", "CACHE_ENV", "AmpSettings", "ExecOptions", "ProbeCache", "amp_of",
           "resolve_precision", "probe_key", "user_probe_cache", "folder_probe_cache"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PROBE_RULES = 2  # in probe_key: raise it when a change makes cached verdicts wrong (2: busy-CPU probes not cached)
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
#: The environment variable naming the user-level cache folder (the probe's verdicts go to its ``precision/``).
CACHE_ENV = "SEG_UTILS_CACHE"


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


def probe_key(device: torch.device, model_name: str, image_size: int, batch_size: int) -> str:
    """What a probe's verdict depends on: its rules, the processor, its ISA as torch sees it, threads, torch, model."""
    text = json.dumps([PROBE_RULES, cpu_name(), torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(),
                       torch.__version__, device.type, model_name, image_size, batch_size])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ProbeCache:
    """A folder of probe verdicts, one JSON file per :func:`probe_key` (``<key>.json``).

    One file per key, written atomically (a temporary file renamed over it), so that runs probing at the same time
    never read half a file; the last writer wins, and both wrote a valid verdict. ``name`` and ``shown`` name the
    folder in a run's records without the machine's absolute paths (``the user cache``,
    ``~/.cache/seg_utils/precision``).
    """

    folder: Path
    name: str
    shown: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.shown})"

    def describe(self, key: str) -> str:
        """``the user cache (~/.cache/seg_utils/precision, key 0123abcd...)``."""
        return f"{self.name} ({self.shown}, key {key})"

    def file(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def read(self, key: str) -> dict[str, Any] | None:
        """The entry of ``key``, or None where there is none.

        Raises:
            ValueError: the entry exists but is not a verdict of ``key`` (damaged or foreign JSON).
            OSError: it exists but cannot be read.
        """
        path = self.file(key)
        if not path.is_file():
            return None
        entry = read_json(path)
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("figures"), dict):
            raise ValueError("not a probe verdict of this key")
        return entry

    def write(self, key: str, entry: dict[str, Any]) -> None:
        """Write ``entry`` for ``key`` atomically.

        Raises:
            OSError: the folder cannot be created or written (a read-only home).
        """
        write_json(self.file(key), entry)


def user_probe_cache() -> ProbeCache:
    """The user-level cache of probe verdicts, shared by every results folder of this user on this machine.

    ``$SEG_UTILS_CACHE/precision`` where :data:`CACHE_ENV` is set, else ``$XDG_CACHE_HOME/seg_utils/precision``
    (an absolute ``XDG_CACHE_HOME`` only, as the XDG specification says), else ``~/.cache/seg_utils/precision``.
    """
    if os.environ.get(CACHE_ENV):
        root, shown = Path(os.environ[CACHE_ENV]).expanduser(), f"${CACHE_ENV}"
    elif os.environ.get("XDG_CACHE_HOME", "") and Path(os.environ["XDG_CACHE_HOME"]).is_absolute():
        root, shown = Path(os.environ["XDG_CACHE_HOME"]) / "seg_utils", "$XDG_CACHE_HOME/seg_utils"
    else:
        root, shown = Path.home() / ".cache" / "seg_utils", "~/.cache/seg_utils"
    return ProbeCache(root / "precision", "the user cache", f"{shown}/precision")


def folder_probe_cache(cache_dir: str | Path) -> ProbeCache:
    """The probe verdicts kept in ``<cache_dir>/precision`` (a results folder's data cache: the fallback where the user
    cache cannot be written), labelled by the folder's own name only."""
    cache_dir = Path(cache_dir)
    return ProbeCache(cache_dir / "precision", "the results folder's cache", f"{cache_dir.name}/precision")


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


def _why(exc: BaseException) -> str:
    """An error in words without the path it names (records hold no absolute path of the machine)."""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror}" if exc.strerror else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _lookup(caches: list[ProbeCache], key: str, wanted: list[str],
            notes: list[str]) -> tuple[dict[str, Any], dict[str, Any], ProbeCache] | None:
    """The figures of the ``wanted`` candidates from the first cache whose entry of ``key`` holds them all, with the
    entry and the cache; a damaged entry, or one that lacks a candidate, is passed over with a note."""
    for cache in caches:
        try:
            entry = cache.read(key)
        except (OSError, ValueError) as exc:
            notes.append(f"{cache.describe(key)} could not be read ({_why(exc)}): passed over")
            continue
        if entry is None:
            continue
        missing = [w for w in wanted if w not in entry["figures"]]
        if missing:
            notes.append(f"{cache.describe(key)} holds no figures for {', '.join(missing)}: probed again")
            continue
        return {w: entry["figures"][w] for w in wanted}, entry, cache
    return None


def _store(caches: list[ProbeCache], key: str, figures: dict[str, Any]) -> str:
    """Write the verdict to the first cache that takes it (merged with the figures of other candidates it holds);
    what happened, in words: where it went, and why an earlier cache did not take it."""
    entry = {"key": key, "cpu": cpu_name(), "isa": torch.backends.cpu.get_cpu_capability(),
             "threads": torch.get_num_threads(), "torch": torch.__version__,
             "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "figures": figures}
    refused: list[str] = []
    for cache in caches:
        try:
            old = cache.read(key)
        except (OSError, ValueError):
            old = None  # damaged: replaced whole
        try:
            cache.write(key, {**entry, "figures": {**(old or {}).get("figures", {}), **figures}})
        except OSError as exc:
            refused.append(f"{cache.label} is not writable ({_why(exc)})")
            continue
        if not refused:
            return f"written to {cache.describe(key)}"
        message = (f"{'; '.join(refused)}: the verdict was written to {cache.describe(key)} instead, which serves "
                   f"that folder only (other results folders probe again; set ${CACHE_ENV} to a writable folder to "
                   "share it)")
        warnings.warn(f"precision probe: {message}", stacklevel=3)
        return message
    message = (f"{'; '.join(refused)}: the verdict was not cached (the next run probes again; set ${CACHE_ENV} to a "
               "writable folder)")
    warnings.warn(f"precision probe: {message}", stacklevel=3)
    return message


def _busy() -> str:
    """Why the CPU is too busy for a probe worth keeping (load average above the cores torch uses plus one: other
    processes took the probe's cores), or ``""``."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return ""
    threads = torch.get_num_threads()
    return (f"the CPU was busy during the probe (load average {load:.1f} with {threads} threads for the run), so its "
            "ranking is this run's only" if load > threads + 1 else "")


def resolve_precision(device: torch.device, precision: str = "auto", memory_format: str = "auto",
                      step: Callable[[AmpSettings], float] | None = None, cache: ProbeCache | None = None,
                      key: str = "", steps: int = 3,
                      fallback: ProbeCache | None = None) -> tuple[AmpSettings, dict[str, Any]]:
    """The autocast dtype and memory format a run trains in, and how they were chosen.

    Args:
        device: the run's device.
        precision: one of :data:`PRECISIONS`.
        memory_format: one of :data:`MEMORY_FORMATS`.
        step: on the CPU with something ``auto``: runs one training step of the run's model in the given settings
            and returns the number of images it processed (the probe times it).
        cache: where the verdict of ``key`` is looked up first and written after a probe (a run passes
            :func:`user_probe_cache`); None: not cached.
        key: :func:`probe_key` of the run (no caching without one).
        steps: timed steps per candidate.
        fallback: looked up after ``cache``, and written where ``cache`` cannot be (a results folder's
            :func:`folder_probe_cache`); the record says so.

    Returns:
        ``(settings, record)``: the record (saved in the run's environment.json) says what was asked, what was
        chosen, why, the probe's figures (images/s per candidate), and where the verdict was read or written (the
        caches by name and key, never by absolute path).

    Raises:
        ConfigError: an unknown value; fp16 or bf16 asked for on a GPU that cannot run it; ``auto`` on the CPU
            without a cached verdict and without ``step``.
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
        candidates = _candidates(device, precision, memory_format)
        caches = [c for c in (cache, fallback) if c is not None] if key else []
        notes: list[str] = []
        found = _lookup(caches, key, [f"{p}/{f}" for p, f in candidates], notes)
        if found is not None:
            figures, entry, where = found
            record["reason"] = f"fastest in the probe cached in {where.describe(key)}"
            record["probed"] = entry.get("time")
        elif step is None:
            raise ConfigError("precision or memory_format 'auto' on the CPU needs a probe step; pass step=")
        else:
            figures = _measure(step, candidates, steps)
            record["reason"] = "fastest in a probe of this run's model on this machine"
            busy = _busy()
            if busy:  # timings taken on a shared CPU rank the candidates by luck: this run only, never kept
                record["cache"] = f"not cached: {busy}"
            elif caches:
                record["cache"] = _store(caches, key, figures)
        if key:
            record["probe_key"] = key
        if notes:
            record["cache_notes"] = notes
        best = max(figures, key=lambda k: figures[k]["images_per_s"])
        record["probe"] = figures
        amp = amp_of(*best.split("/"))
    record.update(chosen={"precision": amp.name, "memory_format": amp.memory_format}, description=amp.description)
    return amp, record
