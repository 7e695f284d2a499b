"""The ``xray`` policy's two implementations: albumentations (per image, CPU runs) and torch (a batch on the device,
CUDA runs). Op by op with the same parameters, in distribution over many seeded draws, and image/mask alignment."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
from scipy import stats

from seg_utils.data.gpu_transforms import (
    XRAY_RANGES,
    affine_theta,
    brightness_contrast,
    draw_xray_params,
    gamma,
    gauss_noise,
    warp,
    xray_batch,
)
from seg_utils.data.transforms import make_batch, normalise, xray_augmentation

#: Two-sample Kolmogorov-Smirnov coefficient at alpha = 0.001 (the statistic's critical value is c * sqrt(2 / n)).
KS_C = 1.949
N_DRAWS = 1500


def _disc_image(size: int = 64, radius: float = 12.0, inside: int = 70, outside: int = 170):
    """A grey X-ray-like uint8 image (three equal channels, smooth) with a darker disc, and the disc's 0/1 mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    mask = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= radius**2).astype(np.uint8)
    shade = outside + 20 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    grey = np.where(mask == 1, inside + 10 * np.cos(xx / 5.0), shade).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), mask


def _albumentations(t: A.BasicTransform, image: np.ndarray, mask: np.ndarray | None = None):
    t.set_random_seed(0)
    out = t(image=image, **({"mask": mask} if mask is not None else {}))
    return out["image"], out.get("mask")


def _nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


@pytest.mark.parametrize("b,c", [(0.15, -0.1), (-0.2, 0.2), (0.05, 0.0), (-0.07, -0.19)])
def test_brightness_contrast_equals_albumentations(b, c):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    expected, _ = _albumentations(A.RandomBrightnessContrast((b, b), (c, c), p=1), image)
    got = brightness_contrast(_nchw(image), torch.tensor([1 + c]), torch.tensor([255 * b]))
    assert torch.equal(got[0].permute(1, 2, 0).to(torch.uint8), torch.from_numpy(expected))


@pytest.mark.parametrize("g", [0.8, 0.93, 1.07, 1.2])
def test_gamma_equals_albumentations(g):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    expected, _ = _albumentations(A.RandomGamma((g * 100, g * 100), p=1), image)
    got = gamma(_nchw(image), torch.tensor([g]))[0].permute(1, 2, 0).numpy()
    diff = np.abs(got - expected.astype(np.float32))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # float32 pow vs float64: a rare level at an integer edge


@pytest.mark.parametrize("level", [0, 100, 250])
def test_noise_has_albumentations_semantics(level):
    """Same sigma: the same mean (noise truncated towards zero, not rounded), spread and clipping at 0 and 255."""
    image = np.full((256, 256, 3), level, dtype=np.uint8)
    expected, _ = _albumentations(A.GaussNoise(std_range=(0.03, 0.03), p=1), image)
    got = gauss_noise(_nchw(image), torch.tensor([0.03 * 255]), seed=1)[0].numpy()
    e = expected.astype(np.float64)
    assert abs(got.mean() - e.mean()) < 0.1 and abs(got.std() - e.std()) < 0.1
    assert abs((got == level).mean() - (e == level).mean()) < 0.01
    assert np.array_equal(got, np.round(got))


@pytest.mark.parametrize("sx,sy,rot,tx,ty", [(1.1, 0.9, 7.0, 3, -2), (0.93, 1.04, -9.5, -3, 1), (1.0, 1.0, 0.0, 2, 0),
                                             (0.9, 1.1, 10.0, 0, 3)])
def test_affine_equals_albumentations(sx, sy, rot, tx, ty):
    """Same parameters: OpenCV's fixed-point bilinear warp vs grid_sample differ by at most one level on a few
    pixels; the nearest-neighbour masks agree."""
    image, mask = _disc_image(48)
    t = A.Affine(scale={"x": (sx, sx), "y": (sy, sy)}, translate_px={"x": (tx, tx), "y": (ty, ty)}, rotate=(rot, rot),
                 p=1)
    expected, expected_mask = _albumentations(t, image, mask)
    p = {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in
         {"sx": sx, "sy": sy, "rotate": rot, "tx": tx, "ty": ty}.items()}
    xi, mi = warp(_nchw(image), torch.from_numpy(mask)[None, None].float(), affine_theta(p, 48, 48))
    diff = np.abs(xi[0].permute(1, 2, 0).numpy() - expected.astype(np.float32))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005
    assert (mi[0, 0].numpy().astype(np.uint8) != expected_mask).sum() <= 2


def test_parameters_are_drawn_in_albumentations_ranges():
    p = draw_xray_params(20_000, 64, 64, torch.Generator().manual_seed(0))
    r = XRAY_RANGES
    for key, prob in (("affine", r["affine_p"]), ("bc", r["bc_p"]), ("gamma_on", r["gamma_p"]),
                      ("noise", r["noise_p"])):
        assert abs(p[key].double().mean() - prob) < 0.015
    assert p["sx"].min() >= 0.9 and p["sx"].max() <= 1.1 and p["rotate"].abs().max() <= 10
    assert set(p["tx"].unique().tolist()) == {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0}  # int(U(-.05, .05) * 64)
    assert p["alpha"].min() >= 0.8 and p["beta"].abs().max() <= 51 and p["gamma"].min() >= 0.8
    assert p["sigma"].min() >= 2.55 and p["sigma"].max() <= 10.2
    assert abs(np.corrcoef(p["sx"], p["sy"])[0, 1]) < 0.03  # x and y scales independent (keep_ratio=False)


def _summaries(images: np.ndarray, masks: np.ndarray, mask0: np.ndarray) -> dict[str, np.ndarray]:
    """Per output: the mask's area ratio and whether it moved; the median level inside the mask's interior and in the
    background of the central window (brightness, contrast, gamma); the noise's spread (channels 0 - 1, which are
    equal without noise)."""
    area = masks.reshape(len(masks), -1).sum(1) / mask0.sum()
    moved = (masks != mask0).reshape(len(masks), -1).any(1)
    size = masks.shape[1]
    win = slice(size // 4, 3 * size // 4)
    core = torch.nn.functional.max_pool2d(1 - torch.from_numpy(masks)[:, None].float(), 5, 1, 2)[:, 0].numpy() == 0
    ch0 = images[..., 0].astype(np.float64)
    level_in = np.array([np.median(c[k]) if k.any() else np.nan for c, k in zip(ch0, core, strict=True)])
    bg = (masks == 0)[:, win, win]
    level_out = np.array([np.median(c[win, win][k]) for c, k in zip(ch0, bg, strict=True)])
    noise = (images[:, win, win, 0].astype(np.float64) - images[:, win, win, 1]).reshape(len(images), -1).std(1)
    return {"area": area, "moved": moved.astype(float), "level_in": level_in, "level_out": level_out,
            "noise": noise / np.sqrt(2), "noisy": (noise > 0).astype(float)}


def test_torch_and_albumentations_draw_the_same_distributions():
    """N seeded draws of the whole policy on one image, both ways: each summary's two samples pass a two-sample KS test
    at alpha = 0.001, and the fractions of images each op touched agree."""
    image, mask = _disc_image()
    pipeline = xray_augmentation()
    pipeline.set_random_seed(12345)
    alb = [pipeline(image=image, mask=mask) for _ in range(N_DRAWS)]
    a = _summaries(np.stack([o["image"] for o in alb]), np.stack([o["mask"] for o in alb]), mask)
    imgs = torch.from_numpy(image)[None].expand(N_DRAWS, -1, -1, -1).contiguous()
    msks = torch.from_numpy(mask)[None].expand(N_DRAWS, -1, -1).contiguous()
    ti, tm = xray_batch(imgs, msks, torch.Generator().manual_seed(0))
    t = _summaries(ti.numpy(), tm.numpy(), mask)
    critical = KS_C * np.sqrt(2 / N_DRAWS)
    for key in a:
        x, y = a[key][~np.isnan(a[key])], t[key][~np.isnan(t[key])]
        assert stats.ks_2samp(x, y).statistic < critical, key
    for key in ("moved", "noisy"):  # ~0.7 and ~0.3; 4 standard errors of a difference of two fractions
        assert abs(a[key].mean() - t[key].mean()) < 4 * np.sqrt(2 * 0.25 / N_DRAWS), key
    assert abs(t["moved"].mean() - XRAY_RANGES["affine_p"]) < 0.05
    assert abs(t["noisy"].mean() - XRAY_RANGES["noise_p"]) < 0.05
    moved = t["moved"] > 0
    assert abs(np.median(a["area"][a["moved"] > 0]) - np.median(t["area"][moved])) < 0.02


def test_image_and_mask_stay_aligned_under_the_torch_affine():
    """A mask-shaped image warped with the mask: thresholded, it is the warped mask up to boundary pixels."""
    _, mask = _disc_image(64, radius=18)
    n = 64
    p = draw_xray_params(n, 64, 64, torch.Generator().manual_seed(3))
    m = torch.from_numpy(mask)[None, None].float().expand(n, -1, -1, -1)
    xi, mi = warp(m.expand(-1, 3, -1, -1) * 255, m, affine_theta(p, 64, 64))
    disagree = ((xi[:, 0] > 127.5) != (mi[:, 0] > 0.5)).float().sum((1, 2))
    assert disagree.max() <= 0.05 * mask.sum()
    # through the whole policy (monotone intensity ops and noise on top): image and mask still coincide
    ti, tm = xray_batch((torch.from_numpy(mask)[None, ..., None] * 255).expand(n, -1, -1, 3).contiguous(),
                        torch.from_numpy(mask)[None].expand(n, -1, -1).contiguous(), torch.Generator().manual_seed(4))
    for img, msk in zip(ti[..., 0].float(), tm.float(), strict=True):
        assert np.corrcoef(img.flatten(), msk.flatten())[0, 1] > 0.9


def test_make_batch_keeps_albumentations_on_the_cpu_and_takes_torch_on_request():
    image, mask = _disc_image(32, radius=8)
    images = torch.from_numpy(image)[None].repeat(6, 1, 1, 1)
    masks = torch.from_numpy(mask)[None].repeat(6, 1, 1)
    idx = torch.arange(6)
    x, y = make_batch(images, masks, idx, "xray", torch.Generator().manual_seed(7))
    # what the CPU path has always drawn: one seed from the generator, then albumentations image by image
    gen = torch.Generator().manual_seed(7)
    pipeline = xray_augmentation()
    pipeline.set_random_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    expected = [pipeline(image=image, mask=mask) for _ in range(6)]
    assert torch.equal(x, normalise(torch.from_numpy(np.stack([e["image"] for e in expected]))))
    assert torch.equal(y[:, 0], torch.from_numpy(np.stack([e["mask"] for e in expected])).float())
    xt, yt = make_batch(images, masks, idx, "xray", torch.Generator().manual_seed(7), xray_backend="torch")
    xt2, yt2 = make_batch(images, masks, idx, "xray", torch.Generator().manual_seed(7), xray_backend="torch")
    assert xt.shape == x.shape and yt.shape == y.shape and set(yt.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(xt, xt2) and torch.equal(yt, yt2)  # reproducible from the seed
    assert not torch.equal(xt, x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_xray_batch_on_cuda_stays_on_the_device():
    image, mask = _disc_image(32, radius=8)
    images = torch.from_numpy(image)[None].repeat(4, 1, 1, 1).cuda()
    masks = torch.from_numpy(mask)[None].repeat(4, 1, 1).cuda()
    x, y = make_batch(images, masks, torch.arange(4), "xray", torch.Generator().manual_seed(0))
    assert x.is_cuda and y.is_cuda and x.shape == (4, 3, 32, 32)
