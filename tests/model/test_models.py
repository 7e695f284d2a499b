from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from seg_utils.errors import ConfigError, WeightsError
from seg_utils.model.losses import build_loss
from seg_utils.model.models import ARCHS, POSTER_ENCODERS, build_model, find_local_weights, model_deviation


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("encoder", POSTER_ENCODERS)
def test_poster_cells_build_at_224_and_train_a_step(arch, encoder):
    torch.manual_seed(0)
    model = build_model(arch, encoder, weights="none")
    model.train()
    x = torch.randn(2, 3, 224, 224)
    y = (torch.rand(2, 1, 224, 224) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = build_loss("bce")(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    with torch.no_grad():
        assert model.eval()(x[:1]).shape == (1, 1, 224, 224)
    deviation = model_deviation(arch, encoder)
    assert bool(deviation) == (arch == "deeplabv3plus" and encoder != "resnet50")


def test_patch_is_scoped_to_the_build():
    import segmentation_models_pytorch as smp

    build_model("deeplabv3plus", "densenet121", weights="none")
    with pytest.raises(ValueError):  # smp's own refusal is back once our build is done
        smp.DeepLabV3Plus("densenet121", encoder_weights=None)


def test_other_smp_encoders_work():
    assert build_model("unet", "resnet18", weights="none")(torch.randn(2, 3, 64, 64)).shape == (2, 1, 64, 64)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: unet, deeplabv3plus"):
        build_model("segformer", "resnet50", "none")
    with pytest.raises(ConfigError, match="the poster's are vgg19, resnet50, densenet121"):
        build_model("unet", "resnet5O", "none")


def test_local_weights_file_and_hf_cache_folder(tmp_path):
    reference = build_model("unet", "resnet18", weights="none")
    state = {k: v.contiguous() for k, v in reference.encoder.state_dict().items()}
    snap = tmp_path / "hf" / "models--smp-hub--resnet18.imagenet" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    save_file(state, str(snap / "model.safetensors"))
    torch.save(state, tmp_path / "resnet18.pth")
    assert find_local_weights(tmp_path / "hf", "resnet18") == snap / "model.safetensors"
    for source in (tmp_path / "hf", tmp_path / "resnet18.pth"):
        model = build_model("unet", "resnet18", weights=str(source))
        assert torch.equal(model.encoder.conv1.weight, reference.encoder.conv1.weight)


def test_bad_local_weights_are_clear(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        build_model("unet", "resnet18", weights=str(tmp_path / "missing"))
    with pytest.raises(WeightsError, match="no weights for encoder 'resnet18'"):
        build_model("unet", "resnet18", weights=str(tmp_path))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read as a state dict"):
        build_model("unet", "resnet18", weights=str(tmp_path / "junk.pth"))
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="does not fit encoder"):
        build_model("unet", "resnet18", weights=str(tmp_path / "other.pth"))


def test_imagenet_offline_names_both_ways(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsError, match=r"turn the internet on.*weights=PATH"):
        build_model("unet", "resnet18", weights="imagenet")
