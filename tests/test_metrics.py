from __future__ import annotations

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from seg_utils.metrics import per_image_metrics, summarise


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
