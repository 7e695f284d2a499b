"""Which device a run uses (the precision is :mod:`.precision`'s)."""

from __future__ import annotations

import torch

from ..errors import ConfigError, check_choice

__all__ = ["DEVICES", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available. Asking for ``cuda`` where there is none is an error, not a fallback."""
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but torch sees no CUDA GPU (on Kaggle: Settings > Accelerator > GPU T4 x2 "
                          "or L4; the P100 no longer runs current PyTorch); use device='cpu' or 'auto'")
    return torch.device(name)
