"""The model cost (parameters and multiply-adds per image) counted on the smp model itself."""

from __future__ import annotations

import pytest

from seg_utils.errors import ConfigError
from seg_utils.model.cost import model_cost
from seg_utils.model.models import build_model, count_parameters


def test_model_cost_counts_the_models_parameters_and_scales_with_pixels():
    small, large = model_cost("unet", "resnet18", 32), model_cost("unet", "resnet18", 64)
    assert small["params"] == large["params"] == count_parameters(build_model("unet", "resnet18", weights="none"))
    assert small["gflops"] == pytest.approx(2 * small["gmacs"])
    # a U-Net is fully convolutional: 4 times the pixels, 4 times the multiply-adds
    assert large["gmacs"] == pytest.approx(4 * small["gmacs"]) and 0.1 < large["gmacs"] < 5
    assert model_cost("unet", "resnet18", 32) == small  # cached in-process
    with pytest.raises(ConfigError, match="at least 32 px"):
        model_cost("unet", "resnet18", 16)
