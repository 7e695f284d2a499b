"""What a model costs per image: parameters and multiply-adds of one forward pass, counted on the model itself.

The model is built as :func:`~.models.build_model` builds it for training (random weights: the count does not
depend on them) and run once on a ``1 x 3 x size x size`` input under :class:`torch.utils.flop_counter.FlopCounterMode`,
which counts the FLOPs of the matrix products and convolutions (2 per multiply-add; element-wise operations,
normalisation and activations are not counted, as in the usual GFLOPs of a network). Results are cached in-process
by ``(arch, encoder, size)``.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from .models import build_model, count_parameters

__all__ = ["model_cost"]


@lru_cache(maxsize=64)
def _cost(arch: str, encoder: str, size: int) -> tuple[int, int]:
    model = build_model(arch, encoder, weights="none").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, size, size))
    return count_parameters(model), int(counter.get_total_flops())


def model_cost(arch: str, encoder: str, size: int) -> dict:
    """Parameters and compute of one forward pass on one ``size`` x ``size`` image.

    Args:
        arch: a key of :data:`~.models.ARCHS`.
        encoder: an smp encoder name.
        size: the input side in pixels (the runs' ``image_size``; a multiple of 32 for U-Net).

    Returns:
        ``{"params", "gmacs", "gflops"}``: the number of parameters, and the multiply-adds (``gmacs``, 1e9) and
        FLOPs (``gflops`` = 2 x ``gmacs``) of one forward pass per image.

    Raises:
        ConfigError: unknown arch or encoder (from :func:`~.models.build_model`), or a size below 32.

    Example:
        >>> model_cost("unet", "resnet50", 64)["params"] > 30e6
        True
    """
    from ..errors import ConfigError

    if int(size) < 32:
        raise ConfigError(f"size={size} is too small for the encoders' five downsamplings; give at least 32 px")
    params, flops = _cost(arch, encoder, int(size))
    return {"params": params, "gmacs": flops / 2e9, "gflops": flops / 1e9}
