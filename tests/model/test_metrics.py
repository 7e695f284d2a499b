from __future__ import annotations

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from seg_utils.model.metrics import hd95, per_image_metrics, summarise


def _m(pred, target):
    return per_image_metrics(np.array(pred, bool).reshape(1, 1, -1), np.array(target, bool).reshape(1, 1, -1))


@pytest.mark.parametrize("pred,target,dice,iou,precision,recall", [
    ([1, 1, 0, 0], [1, 1, 0, 0], 1.0, 1.0, 1.0, 1.0),
    ([1, 0, 0, 0], [1, 1, 0, 0], 2 / 3, 1 / 2, 1.0, 0.5),
    ([1, 1, 1, 0], [1, 1, 0, 0], 4 / 5, 2 / 3, 2 / 3, 1.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0, 1.0, 1.0),   # empty on empty scores 1
    ([1, 0, 0, 0], [0, 0, 0, 0], 0.0, 0.0, 0.0, 1.0),
    ([0, 0, 0, 0], [1, 0, 0, 0], 0.0, 0.0, 1.0, 0.0),
])
def test_hand_computed(pred, target, dice, iou, precision, recall):
    row = _m(pred, target).iloc[0]
    assert (row.dice, row.iou, row.precision, row.recall) == pytest.approx((dice, iou, precision, recall))


def test_against_smp_metrics_imagewise():
    rng = np.random.default_rng(0)
    target = rng.random((6, 16, 16)) > 0.7
    pred = rng.random((6, 16, 16)) > 0.6
    pred[0] = target[0] = False  # an empty/empty image
    ours = per_image_metrics(pred, target)
    tp, fp, fn, tn = smp.metrics.get_stats(torch.from_numpy(pred[:, None]).long(),
                                           torch.from_numpy(target[:, None]).long(), mode="binary")
    for col, fn_ in (("dice", smp.metrics.f1_score), ("iou", smp.metrics.iou_score),
                     ("precision", smp.metrics.precision), ("recall", smp.metrics.recall)):
        theirs = fn_(tp, fp, fn, tn, reduction="none").numpy().ravel()
        assert np.allclose(ours[col].to_numpy(), theirs), col
    s = summarise(ours)
    assert s["dice_mean"] == pytest.approx(float(smp.metrics.f1_score(tp, fp, fn, tn, reduction="micro-imagewise")))
    assert s["dice_pooled"] == pytest.approx(float(smp.metrics.f1_score(tp, fp, fn, tn, reduction="micro")))
    assert s["n_images"] == 6


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differs"):
        per_image_metrics(np.zeros((1, 4, 4), bool), np.zeros((1, 4, 5), bool))


# --------------------------------------------------------------------------------------------------- HD95


def _square(top: int, left: int, size: int = 12, shape: tuple[int, int] = (40, 40)) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[top : top + size, left : left + size] = True
    return m


def _pixel(r: int, c: int, shape: tuple[int, int] = (20, 20)) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[r, c] = True
    return m


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("axis", ["rows", "cols"])
def test_hd95_squares_offset_by_k(k: int, axis: str) -> None:
    a = _square(10, 10)
    b = _square(10 + k, 10) if axis == "rows" else _square(10, 10 + k)
    assert hd95(a[None], b[None]) == pytest.approx([k])
    assert hd95(b[None], a[None]) == pytest.approx([k])


@pytest.mark.parametrize(
    ("pred", "target", "expected"),
    [
        (_square(5, 7), _square(5, 7), 0.0),  # identical masks
        (_pixel(4, 4), _pixel(4, 7), 3.0),  # a single pixel vs a pixel 3 away
        (_pixel(4, 4), _pixel(7, 8), 5.0),  # 3-4-5 diagonal: Euclidean, not chessboard or taxicab
        (np.zeros((9, 9), bool), np.zeros((9, 9), bool), 0.0),  # both empty -> 0 by definition
        # square plus one stray pixel ~30 px away: the plain Hausdorff distance is ~30, its 95th percentile is 0
        (_square(2, 2) | _pixel(34, 34, (40, 40)), _square(2, 2), 0.0),
        # masks touching the image border: border pixels are boundary (columns 0-4 vs 0-5 of a 10 x 10 image)
        (np.pad(np.ones((10, 5), bool), ((0, 0), (0, 5))), np.pad(np.ones((10, 6), bool), ((0, 0), (0, 4))), 1.0),
    ],
    ids=["identical", "pixel-3", "pixel-diagonal-5", "both-empty", "stray-pixel", "image-border"],
)
def test_hd95_hand_computed(pred: np.ndarray, target: np.ndarray, expected: float) -> None:
    assert hd95(pred[None], target[None]) == pytest.approx([expected])


def test_hd95_one_empty_is_nan() -> None:
    empty, full = np.zeros((1, 9, 9), bool), _pixel(3, 3, (9, 9))[None]
    assert np.isnan(hd95(empty, full)).all() and np.isnan(hd95(full, empty)).all()


def test_hd95_batch_shape_symmetry_and_errors() -> None:
    rng = np.random.default_rng(0)
    pred, target = rng.random((5, 16, 24)) > 0.7, rng.random((5, 16, 24)) > 0.7
    out = hd95(pred, target)
    assert out.shape == (5,) and out.dtype == np.float64
    np.testing.assert_allclose(out, hd95(target, pred))
    np.testing.assert_allclose(out[2:3], hd95(pred[2:3], target[2:3]))
    with pytest.raises(ValueError, match="differs"):
        hd95(pred, target[:, :8])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        hd95(pred[0], target[0])


def test_per_image_metrics_has_hd95_and_summarise_ignores_nan() -> None:
    pred = np.stack([_square(5, 5), _square(5, 5), np.zeros((40, 40), bool), _pixel(1, 1, (40, 40))])
    target = np.stack([_square(5, 5), _square(5, 8), np.zeros((40, 40), bool), np.zeros((40, 40), bool)])
    df = per_image_metrics(pred, target)
    assert list(df.columns) == ["dice", "iou", "precision", "recall", "tp", "fp", "fn", "hd95", "hd95_penalised"]
    np.testing.assert_allclose(df["hd95"].to_numpy(), [0.0, 3.0, 0.0, np.nan])
    np.testing.assert_allclose(df["dice"].to_numpy(), [1.0, 2 * 108 / (2 * 108 + 36 + 36), 1.0, 0.0])
    s = summarise(df)
    assert s["hd95_misses"] == 1
    assert s["hd95_mean"] == pytest.approx(1.0) and s["hd95_median"] == pytest.approx(0.0)
    assert s["dice_mean"] == pytest.approx(df["dice"].mean())


def test_a_complete_miss_is_counted_and_penalised_with_the_diagonal() -> None:
    pred = np.stack([_square(5, 5), _pixel(1, 1, (40, 40))])
    target = np.stack([_square(5, 8), np.zeros((40, 40), bool)])
    df = per_image_metrics(pred, target)
    diagonal = np.hypot(40, 40)
    np.testing.assert_allclose(df["hd95_penalised"].to_numpy(), [3.0, diagonal])
    s = summarise(df)
    assert s["hd95_misses"] == 1 and s["hd95_mean"] == pytest.approx(3.0)
    assert s["hd95_penalised_mean"] == pytest.approx((3.0 + diagonal) / 2)


def test_images_of_different_sizes_are_scored_each_at_its_own_size() -> None:
    small, large = _square(5, 5)[:20, :20], np.zeros((60, 30), bool)
    large[10:20, 5:15] = True
    df = per_image_metrics([small, np.zeros((60, 30), bool)], [small, large])
    assert df["dice"].tolist() == [1.0, 0.0] and df["tp"].tolist()[1] == 0 and df["fn"].tolist()[1] == 100
    assert df["hd95_penalised"].tolist()[1] == pytest.approx(np.hypot(60, 30))
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        per_image_metrics([small, small], [small])
