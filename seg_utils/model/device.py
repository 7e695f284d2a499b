"""Where and in what precision a model runs: the device, autocast and memory format."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError, check_choice

__all__ = ["DEVICES", "AmpSettings", "amp_settings", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class AmpSettings:
    """Autocast and memory format of a run: ``dtype`` None means float32."""

    enabled: bool
    dtype: torch.dtype | None
    channels_last: bool
    description: str = ""


def amp_settings(device: torch.device) -> AmpSettings:
    """AMP on CUDA: bf16 where the GPU has it natively (Ampere and newer), else fp16 with a GradScaler (T4)."""
    if device.type != "cuda":
        return AmpSettings(False, None, False, "fp32 (CPU)")
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return AmpSettings(True, torch.bfloat16, True, "bf16 autocast, channels_last")
    return AmpSettings(True, torch.float16, True, "fp16 autocast + GradScaler, channels_last")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available. Asking for ``cuda`` where there is none is an error, not a fallback."""
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but torch sees no CUDA GPU (on Kaggle: Settings > Accelerator > GPU T4 x2 "
                          "or L4; the P100 no longer runs current PyTorch); use device='cpu' or 'auto'")
    return torch.device(name)
