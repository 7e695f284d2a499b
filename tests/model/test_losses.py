from __future__ import annotations

import math

import pytest
import segmentation_models_pytorch as smp
import torch

from seg_utils.errors import ConfigError
from seg_utils.model.losses import LOSSES, build_loss, log_cosh, soft_dice_loss

BIG = 30.0  # a logit that makes sigmoid 1 to float precision


def _case(pred, target):
    logits = (torch.tensor(pred, dtype=torch.float32).view(1, 1, 1, -1) * 2 - 1) * BIG
    return logits, torch.tensor(target, dtype=torch.float32).view(1, 1, 1, -1)


@pytest.mark.parametrize("pred,target,expected", [
    ([1, 1, 0, 0], [1, 1, 0, 0], 0.0),                      # perfect: (2*2+1)/(2+2+1) = 1
    ([1, 0, 0, 0], [1, 1, 0, 0], 1 - (2 * 1 + 1) / (1 + 2 + 1)),  # 0.25
    ([0, 0, 0, 0], [1, 1, 0, 0], 1 - 1 / 3),
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),                      # smoothing: empty/empty scores 1
    ([1, 1, 1, 1], [0, 0, 0, 0], 1 - 1 / 5),
])
def test_dice_hand_computed(pred, target, expected):
    assert soft_dice_loss(*_case(pred, target)).item() == pytest.approx(expected, abs=1e-6)


def test_logcosh_dice_is_log_cosh_of_dice():
    logits, target = _case([1, 0, 0, 0], [1, 1, 0, 0])
    assert build_loss("logcosh_dice")(logits, target).item() == pytest.approx(math.log(math.cosh(0.25)), abs=1e-6)
    x = torch.linspace(-50, 50, 101)
    assert torch.isfinite(log_cosh(x)).all()
    assert torch.allclose(log_cosh(torch.tensor([0.0, 0.5, 1.0])), torch.log(torch.cosh(torch.tensor([0.0, 0.5, 1.0]))))


def test_dice_matches_smp_with_half_smoothing_and_bce_matches_smp():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 16, 16)
    target = (torch.rand(4, 1, 16, 16) > 0.6).float()
    assert build_loss("dice")(logits, target).item() == pytest.approx(
        smp.losses.DiceLoss("binary", smooth=0.5)(logits, target).item(), abs=1e-6)
    assert build_loss("bce")(logits, target).item() == pytest.approx(
        smp.losses.SoftBCEWithLogitsLoss()(logits, target).item(), abs=1e-6)
    assert build_loss("bce_dice")(logits, target).item() == pytest.approx(
        build_loss("bce")(logits, target).item() + build_loss("dice")(logits, target).item(), abs=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_has_gradients_and_half_precision_input(name):
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    loss = build_loss(name)(logits.half().float(), target)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ConfigError, match="valid: bce, dice, logcosh_dice, bce_dice"):
        build_loss("focal")
