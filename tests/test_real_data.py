"""The real chest X-ray sample: train on Shenzhen, test on Montgomery (another hospital), from scratch."""

from __future__ import annotations

import pytest

from conftest import real_data
from seg_utils.cli import main
from seg_utils.data.io import read_json

# Measured on this 2-core machine (python -m seg_utils train ... with exactly these arguments): Montgomery mean
# per-image Dice 0.902 (median 0.917), 144 Shenzhen training images, 138 Montgomery test images.
MEASURED_DICE = 0.902
REQUIRED_DICE = 0.80


@pytest.mark.slow
@pytest.mark.real_data
def test_shenzhen_to_montgomery_from_scratch(tmp_path, capsys):
    root = real_data("chest_xray")
    code = main(["train", "--dataset", "chest_xray", "--data-root", str(root), "--arch", "unet", "--encoder",
                 "resnet18", "--loss", "bce_dice", "--image-size", "64", "--epochs", "8", "--batch-size", "16",
                 "--weights", "none", "--limit", "160", "--device", "cpu", "--results", str(tmp_path), "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    metrics = read_json(out.out.strip().splitlines()[-1] + "/metrics.json")
    assert metrics["n_test"] == 138 and metrics["n_train"] == 144
    dice = metrics["dice_mean"]
    assert dice >= REQUIRED_DICE, f"Montgomery Dice {dice:.3f} (measured {MEASURED_DICE})"
