"""Errors that a user can act on: each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

__all__ = ["SegUtilsError", "ConfigError", "DataError", "WeightsError", "TrainingError"]


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
