"""The ``xray`` policy in torch: a whole batch at once on the batch's device (what :func:`.transforms.make_batch` runs
on CUDA, so a training step never copies pixels to the host).

It reproduces albumentations 2.x's pipeline (:func:`.transforms.xray_augmentation`; semantics read from the source
of albumentations 2.0.8 and albucore 0.0.24), op by op, on uint8 pixels:

1. ``Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.7)``: the x and y scales are
   drawn independently (``keep_ratio=False``); the x and y shifts are fractions drawn independently and truncated to
   whole pixels (``int(t * width)``); the rotation is about the pixel grid's centre ``(W/2 - 0.5, H/2 - 0.5)``; the
   forward map is ``centre + shift + R(angle) S(sx, sy) (p - centre)`` with ``R = [[cos, sin], [-sin, cos]]``. The
   image is resampled bilinearly (``cv2.INTER_LINEAR``, rounded to uint8), the mask with nearest neighbour; both
   fill with 0 outside (``BORDER_CONSTANT``). Here: ``affine_grid`` + ``grid_sample`` (``align_corners=False``,
   which puts pixel centres where OpenCV has them).
2. ``RandomBrightnessContrast(0.2, 0.2, p=0.5)``: ``alpha * x + beta`` with ``alpha = 1 + U(-0.2, 0.2)`` and
   ``beta = 255 * U(-0.2, 0.2)`` (``brightness_by_max``), clipped to [0, 255] and truncated (a uint8 look-up table).
3. ``RandomGamma((80, 120), p=0.5)``: ``255 * (x / 255) ** g`` with ``g = U(80, 120) / 100``, truncated.
4. ``GaussNoise(std_range=(0.01, 0.04), p=0.3)``: ``sigma = 255 * U(0.01, 0.04)``, mean 0, independent per pixel and
   channel (``per_channel=True``); albucore truncates the noise towards zero before adding it to a uint8 image,
   then clips.

Each op is applied to each image independently with its probability. The parameters of a batch are drawn from the
caller's seeded CPU ``torch.Generator`` (13 uniforms per image, then one seed for the noise, drawn on the device),
so a batch is reproducible from ``(seed, epoch)`` on a given device; it does not draw what the albumentations path
draws (that one keeps its own stream, and CPU runs keep using it). The differences left are OpenCV's fixed-point
interpolation (1/32 pixel, rounding of the weights) against float32 ``grid_sample``: a few pixel values differ by
one level (tests/data/test_transforms.py compares both paths op by op and in distribution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["XRAY_RANGES", "draw_xray_params", "xray_batch", "affine_theta", "warp", "brightness_contrast", "gamma",
           "gauss_noise"]

#: The ranges and probabilities of the ``xray`` policy (those of :func:`.transforms.xray_augmentation`).
XRAY_RANGES = {"affine_p": 0.7, "scale": (0.9, 1.1), "translate": (-0.05, 0.05), "rotate": (-10.0, 10.0),
               "bc_p": 0.5, "contrast": (-0.2, 0.2), "brightness": (-0.2, 0.2), "gamma_p": 0.5,
               "gamma": (80.0, 120.0), "noise_p": 0.3, "noise_std": (0.01, 0.04)}
_DRAWS = ("affine", "tx", "ty", "sx", "sy", "rotate", "bc", "alpha", "beta", "gamma_on", "gamma", "noise", "sigma")


def _uniform(u: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def draw_xray_params(n: int, height: int, width: int, gen: torch.Generator | None) -> dict[str, torch.Tensor]:
    """Each image's parameters of the ``xray`` policy (float64 CPU tensors of length ``n``), from ``gen``.

    Keys: ``affine``, ``bc``, ``gamma_on``, ``noise`` (bool: the op applies); ``sx``, ``sy`` (scales), ``tx``, ``ty``
    (shifts in whole pixels), ``rotate`` (degrees); ``alpha``, ``beta`` (contrast factor, brightness offset in uint8
    levels); ``gamma`` (exponent); ``sigma`` (noise standard deviation in uint8 levels).
    """
    r = XRAY_RANGES
    u = dict(zip(_DRAWS, torch.rand((len(_DRAWS), n), generator=gen, dtype=torch.float64), strict=True))
    return {
        "affine": u["affine"] < r["affine_p"], "bc": u["bc"] < r["bc_p"], "gamma_on": u["gamma_on"] < r["gamma_p"],
        "noise": u["noise"] < r["noise_p"],
        "tx": torch.trunc(_uniform(u["tx"], r["translate"]) * width),
        "ty": torch.trunc(_uniform(u["ty"], r["translate"]) * height),
        "sx": _uniform(u["sx"], r["scale"]), "sy": _uniform(u["sy"], r["scale"]),
        "rotate": _uniform(u["rotate"], r["rotate"]),
        "alpha": 1.0 + _uniform(u["alpha"], r["contrast"]), "beta": 255.0 * _uniform(u["beta"], r["brightness"]),
        "gamma": _uniform(u["gamma"], r["gamma"]) / 100.0,
        "sigma": 255.0 * _uniform(u["sigma"], r["noise_std"]),
    }


def affine_theta(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """``(n, 2, 3)`` matrices for ``F.affine_grid(align_corners=False)``: the inverse of albumentations' forward map
    ``c' = t + R S c`` (``c``: pixel coordinates about the grid's centre), in normalised coordinates."""
    rad = torch.deg2rad(p["rotate"])
    cos, sin = torch.cos(rad), torch.sin(rad)
    # (R S)^-1 = S^-1 R^T with R = [[cos, sin], [-sin, cos]]
    a00, a01 = cos / p["sx"], -sin / p["sx"]
    a10, a11 = sin / p["sy"], cos / p["sy"]
    tx, ty = p["tx"], p["ty"]
    theta = torch.stack([
        torch.stack([a00, a01 * height / width, -(2.0 / width) * (a00 * tx + a01 * ty)], dim=-1),
        torch.stack([a10 * width / height, a11, -(2.0 / height) * (a10 * tx + a11 * ty)], dim=-1),
    ], dim=1)
    return theta


def warp(x: torch.Tensor, m: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image ``x`` (float ``(n, C, H, W)``, uint8 levels) bilinearly and mask ``m`` (float ``(n, 1, H, W)``) by nearest
    neighbour through ``theta``; 0 outside; the image rounded to whole levels as OpenCV's uint8 output."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    xi = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mi = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return torch.round(xi).clamp_(0, 255), mi


def brightness_contrast(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``alpha * x + beta``, clipped and truncated to uint8 levels (albucore's look-up table)."""
    return torch.floor((x * alpha.view(-1, 1, 1, 1) + beta.view(-1, 1, 1, 1)).clamp_(0, 255))


def gamma(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``255 * (x / 255) ** g``, truncated to uint8 levels."""
    return torch.floor(torch.pow(x / 255.0, g.view(-1, 1, 1, 1)) * 255.0)


def gauss_noise(x: torch.Tensor, sigma: torch.Tensor, seed: int) -> torch.Tensor:
    """``x`` plus zero-mean Gaussian noise of standard deviation ``sigma`` (per image, in uint8 levels), independent
    per pixel and channel, truncated towards zero and clipped (albucore's uint8 addition); drawn on ``x``'s device."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype) * sigma.view(-1, 1, 1, 1)
    return (x + torch.trunc(noise)).clamp_(0, 255)


def xray_batch(images: torch.Tensor, masks: torch.Tensor,
               gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``xray`` policy on a batch: uint8 ``images (n, H, W, 3)`` and 0/1 ``masks (n, H, W)`` on any device ->
    augmented uint8 arrays of the same shapes on the same device. The parameters come from ``gen`` (a CPU generator);
    the only host work is drawing them (13 numbers per image) and copying them over in one transfer."""
    n, h, w = masks.shape
    params = draw_xray_params(n, h, w, gen)
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    packed = torch.stack([v.to(torch.float32) for v in params.values()]).to(images.device, non_blocking=True)
    p = {k: (row > 0.5 if not params[k].is_floating_point() else row) for k, row in zip(params, packed, strict=True)}
    x = images.permute(0, 3, 1, 2).float()
    m = masks.unsqueeze(1).float()

    def on(key: str) -> torch.Tensor:
        return p[key].view(-1, 1, 1, 1)

    xi, mi = warp(x, m, affine_theta(p, h, w))
    x, m = torch.where(on("affine"), xi, x), torch.where(on("affine"), mi, m)
    x = torch.where(on("bc"), brightness_contrast(x, p["alpha"], p["beta"]), x)
    x = torch.where(on("gamma_on"), gamma(x, p["gamma"]), x)
    x = torch.where(on("noise"), gauss_noise(x, p["sigma"], seed), x)
    return x.to(torch.uint8).permute(0, 2, 3, 1), m[:, 0].to(torch.uint8)

