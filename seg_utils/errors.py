"""Errors that a user can act on: each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

from typing import Any

__all__ = ["SegUtilsError", "ConfigError", "DataError", "WeightsError", "TrainingError", "NonFiniteLossError",
           "CheckpointError", "ExportError", "check_choice"]


class SegUtilsError(Exception):
    """Base class: the CLI prints these as one line on stderr, without a traceback."""


class ConfigError(SegUtilsError, ValueError):
    """An invalid parameter (unknown name, value out of range)."""


class DataError(SegUtilsError):
    """A data root, layout or file that cannot be used."""


class WeightsError(SegUtilsError):
    """Pretrained encoder weights that cannot be had (offline, wrong path)."""


class TrainingError(SegUtilsError):
    """Training cannot go on (non-finite loss, a run folder that belongs to another spec)."""


class NonFiniteLossError(TrainingError):
    """The training or validation loss became NaN or infinite (the last good epoch's checkpoint is kept)."""


class CheckpointError(TrainingError):
    """A checkpoint that cannot be read (truncated, damaged, not a checkpoint)."""


def check_choice(name: str, value: Any, choices: tuple | list | dict) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}")


class ExportError(SegUtilsError):
    """An export whose outputs differ from the PyTorch model's, or that the exporter cannot make."""
