"""Which device a run uses (the precision is :mod:`.precision`'s), and whether the installed torch can run on it."""

from __future__ import annotations

import torch

from ..errors import ConfigError, check_choice

__all__ = ["DEVICES", "resolve_device", "check_cuda_arch", "cuda_arch_supported"]

DEVICES = ("auto", "cpu", "cuda")

#: What to pick instead of a GPU the installed torch cannot run (Kaggle's and Colab's choices).
_PICK_INSTEAD = ("on Kaggle: Settings > Accelerator > GPU T4 x2 or L4 (a P100 no longer runs current PyTorch); "
                 "on Colab: Runtime > Change runtime type > T4 GPU; or device='cpu'")


def cuda_arch_supported(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a GPU of compute ``capability`` (major, minor) can run a torch built for ``arch_list``.

    ``arch_list`` is :func:`torch.cuda.get_arch_list`'s (``sm_75``, ..., ``compute_90``): a GPU runs the kernels of
    its own ``sm_XY``, of an ``sm_XZ`` with Z <= Y (same major: binary compatible), or PTX (``compute_XY``) of an
    older or equal architecture, which the driver compiles. An empty list (a CPU-only build) supports nothing.
    """
    major, minor = capability
    for arch in arch_list:
        kind, _, number = arch.partition("_")
        if not number[:-1].isdigit() or not number[-1:].isdigit():
            continue
        a_major, a_minor = int(number[:-1]), int(number[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def check_cuda_arch(index: int = 0) -> None:
    """Refuse a CUDA GPU whose compute capability the installed torch was not built for.

    Such a GPU (a Kaggle P100 is sm_60, a V100 sm_70, where torch >= 2.8 ships sm_75 and newer) reports
    ``torch.cuda.is_available()`` True and fails at its first kernel, so every run of a grid would fail.

    Raises:
        ConfigError: one line naming the GPU, its capability, what torch was built for and what to pick instead.
    """
    capability = tuple(torch.cuda.get_device_capability(index))
    arch_list = list(torch.cuda.get_arch_list())
    if not cuda_arch_supported(capability, arch_list):
        name = torch.cuda.get_device_name(index)
        raise ConfigError(f"GPU {name} (compute capability sm_{capability[0]}{capability[1]}) cannot run this torch "
                          f"{torch.__version__}, built for {', '.join(arch_list) or 'no GPU'}: {_PICK_INSTEAD}")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available. Asking for ``cuda`` where there is none, or a GPU the installed torch cannot
    run (:func:`check_cuda_arch`), is an error, not a fallback."""
    check_choice("device", name, DEVICES)
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but torch sees no CUDA GPU (on Kaggle: Settings > Accelerator > GPU T4 x2 "
                          "or L4; the P100 no longer runs current PyTorch); use device='cpu' or 'auto'")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    check_cuda_arch()
    return torch.device("cuda")
