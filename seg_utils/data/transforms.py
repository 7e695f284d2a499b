"""Batches from cached uint8 arrays: normalisation and augmentation.

The arrays stay uint8 until a batch is taken; on CUDA they live on the GPU, so a batch is an index into
device memory, normalised and augmented there: no per-batch host work. The ``xray`` policy (affine,
brightness/contrast, gamma, noise) runs albumentations per image on the CPU, and on CUDA its torch twin
(:mod:`.gpu_transforms`) for the whole batch on the device, with the same parameters and ranges
(``xray_backend`` chooses; tests/data/test_transforms.py compares the two).

Every random draw comes from a ``torch.Generator`` / numpy ``Generator`` that the caller seeds per epoch,
so a resumed run draws exactly what an uninterrupted run draws.
"""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch

from ..errors import check_choice
from .gpu_transforms import xray_batch

__all__ = ["AUGMENTS", "XRAY_BACKENDS", "IMAGENET_MEAN", "IMAGENET_STD", "normalise", "make_batch",
           "xray_augmentation"]

AUGMENTS = ("none", "flips", "xray")
#: Who runs the ``xray`` policy: ``auto`` (torch on CUDA, albumentations elsewhere), or either one.
XRAY_BACKENDS = ("auto", "albumentations", "torch")
#: smp's "imagenet" preprocessing for vgg19, resnet50 and densenet121 (their config.json on the Hub).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` with ImageNet mean/std (smp's preprocessing)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean) / std


def xray_augmentation() -> A.Compose:
    """The ``xray`` policy: small affine moves, brightness/contrast, gamma and Gaussian noise."""
    return A.Compose([
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.7),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.RandomGamma(gamma_limit=(80, 120), p=0.5),
        A.GaussNoise(std_range=(0.01, 0.04), p=0.3),
    ])


def _flip(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    n = images.shape[0]
    draws = torch.rand((n, 2), generator=gen).to(images.device)
    h = draws[:, 0] < 0.5
    v = draws[:, 1] < 0.5
    images = torch.where(h.view(n, 1, 1, 1), images.flip(2), images)
    masks = torch.where(h.view(n, 1, 1), masks.flip(2), masks)
    images = torch.where(v.view(n, 1, 1, 1), images.flip(1), images)
    masks = torch.where(v.view(n, 1, 1), masks.flip(1), masks)
    return images, masks


def _xray(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator,
          pipeline: A.Compose) -> tuple[torch.Tensor, torch.Tensor]:
    device = images.device
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    pipeline.set_random_seed(seed)
    imgs, msks = images.cpu().numpy(), masks.cpu().numpy()
    out_i, out_m = np.empty_like(imgs), np.empty_like(msks)
    for k in range(len(imgs)):
        res = pipeline(image=imgs[k], mask=msks[k])
        out_i[k], out_m[k] = res["image"], res["mask"]
    return torch.from_numpy(out_i).to(device), torch.from_numpy(out_m).to(device)


def make_batch(images: torch.Tensor, masks: torch.Tensor, idx: torch.Tensor, augment: str = "none",
               gen: torch.Generator | None = None, pipeline: A.Compose | None = None,
               channels_last: bool = False, xray_backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised batch ``x (B, 3, H, W)`` float and target ``y (B, 1, H, W)`` float on the arrays' device.

    Args:
        images: uint8 ``(N, H, W, 3)`` (CPU or CUDA).
        masks: uint8 ``(N, H, W)`` 0/1 on the same device.
        idx: row numbers of the batch.
        augment: a policy of :data:`AUGMENTS`.
        gen: seeded generator for the augmentation draws (required unless ``augment == "none"``).
        pipeline: the albumentations pipeline for ``xray`` (built once per run).
        channels_last: return ``x`` in channels-last memory format (faster convolutions with AMP on CUDA).
        xray_backend: one of :data:`XRAY_BACKENDS`; ``auto`` runs ``xray`` in torch on the device when the arrays are
            on CUDA (:func:`.gpu_transforms.xray_batch`), with albumentations on the CPU (what CPU runs have always
            drawn).
    """
    check_choice("augment", augment, AUGMENTS)
    check_choice("xray_backend", xray_backend, XRAY_BACKENDS)
    idx = idx.to(images.device)
    imgs, msks = images.index_select(0, idx), masks.index_select(0, idx)
    if augment != "none":
        if gen is None:
            raise ValueError("augmentation needs a seeded generator")
        if augment == "flips":
            imgs, msks = _flip(imgs, msks, gen)
        elif xray_backend == "torch" or (xray_backend == "auto" and imgs.is_cuda):
            imgs, msks = xray_batch(imgs, msks, gen)
        else:
            imgs, msks = _xray(imgs, msks, gen, pipeline or xray_augmentation())
    x = normalise(imgs)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, msks.unsqueeze(1).float()
