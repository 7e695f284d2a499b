"""Exports (ONNX, TorchScript) of the poster's two extreme models at 64 px, checked against PyTorch on a real batch
of (synthetic) images; metadata, names and the dynamic batch axis; a wrong export fails loudly."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from seg_utils.data.transforms import normalise
from seg_utils.errors import ConfigError
from seg_utils.model import build_model
from seg_utils.model import export as export_module
from seg_utils.model.export import TOLERANCE, ExportError, export_model, read_export_metadata
from seg_utils.model.predict import list_images, preprocess_image

SIZE = 64
META = {"image_size": SIZE, "intensity": "none", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "threshold": 0.5}


def _need_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing} are not installed (requirements.txt, section 'export (optional)')")
        pytest.skip(f"{missing} not installed: pip install -e '.[export]'")


@pytest.fixture(scope="module")
def batch(synthetic_root) -> torch.Tensor:
    """Three real images (the synthetic ISIC test images) preprocessed and normalised as a run's."""
    paths = list_images(synthetic_root / "isic2018" / "ISIC2018_Task1-2_Test_Input")[:3]
    return normalise(torch.from_numpy(np.stack([preprocess_image(p, SIZE) for p in paths])))


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    unet = build_model("unet", "resnet50", "none")
    dlv3 = build_model("deeplabv3plus", "vgg19", "none")  # our truncated-encoder variant (encoder_depth=4)
    with torch.no_grad():  # random VGG19 logits are ~1e-3: scale the head so that the 1e-3 check means something
        for p in dlv3.segmentation_head.parameters():
            p.mul_(1000.0)
    return {"U-Net_RN50": unet, "DeepLabV3+_VGG19": dlv3}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("label", ["U-Net_RN50", "DeepLabV3+_VGG19"])
def test_export_matches_pytorch(label, fmt, models, batch, tmp_path):
    if fmt == "onnx":
        _need_onnx()
    model = models[label]
    with torch.no_grad():
        expected = model.eval()(batch).numpy()
    assert expected.std() > 0.05  # logits that vary: the comparison is not vacuous
    result = export_model(model, batch, tmp_path / f"model.{fmt}", fmt, {**META, "label": label})
    print(result)  # the measured difference, for the record (pytest -s)
    assert result.max_abs_diff <= TOLERANCE and result.path.is_file() and result.batch == (3, 3, SIZE, SIZE)
    assert [p.name for p in tmp_path.iterdir()] == [f"model.{fmt}"]  # no temporary file left
    meta = read_export_metadata(result.path)
    assert {k: meta[k] for k in ("image_size", "intensity", "threshold", "input_name", "output_name")} == {
        "image_size": "64", "intensity": "none", "threshold": "0.5", "input_name": "image", "output_name": "logits"}
    assert meta["mean"] == "[0.485, 0.456, 0.406]" and float(meta["check_max_abs_logit_diff"]) <= TOLERANCE
    one = batch[:1].numpy()  # a batch size the export never saw (it traced 2, was checked on 3)
    if fmt == "onnx":
        import onnx

        graph = onnx.load(str(result.path)).graph
        assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["logits"]
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis
        got, _ = export_module._run_onnx(result.path, one)
    else:
        got, _ = export_module._run_torchscript(result.path, one)
    assert got.shape == (1, 1, SIZE, SIZE) and np.abs(got - expected[:1]).max() <= TOLERANCE


def test_a_wrong_export_fails_loudly_and_leaves_no_file(models, batch, tmp_path, monkeypatch):
    real = export_module._run_torchscript
    monkeypatch.setattr(export_module, "_run_torchscript", lambda path, x: (real(path, x)[0] + 0.01, "tampered"))
    with pytest.raises(ExportError, match=r"differ from PyTorch's by up to 0\.01 \(limit 0\.001\)"):
        export_model(models["DeepLabV3+_VGG19"], batch, tmp_path / "model.pt", "torchscript", META)
    assert not list(tmp_path.iterdir())


def test_onnx_check_runs_without_onnxruntime(batch, tmp_path, monkeypatch):
    _need_onnx()
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # "import onnxruntime" raises ImportError
    torch.manual_seed(0)
    result = export_model(torch.nn.Conv2d(3, 1, 3, padding=1), batch, tmp_path / "tiny.onnx", "onnx", META)
    assert result.checked_with.startswith("onnx.reference") and result.max_abs_diff <= TOLERANCE


def test_bad_export_arguments(models, batch, tmp_path):
    with pytest.raises(ConfigError, match="format='tflite' is not valid"):
        export_model(models["U-Net_RN50"], batch, tmp_path / "m", "tflite")
    with pytest.raises(ConfigError, match=r"must be float \(N, 3, S, S\)"):
        export_model(models["U-Net_RN50"], batch[:, :1], tmp_path / "m", "torchscript")


def test_export_a_trained_run_from_the_command_line(synthetic_root, tmp_path, capsys):
    """The run's evaluated weights beside the run, checked on its cached test images; the card lists the export
    (the run-folder path is the same for both formats; ONNX itself is checked above)."""
    from seg_utils.cli import main

    fmt = "torchscript"
    args = ["train", "--dataset", "cbis_ddsm", "--data-root", str(synthetic_root / "cbis_ddsm"), "--arch", "unet",
            "--encoder", "resnet18", "--loss", "bce", "--image-size", "32", "--epochs", "1", "--batch-size", "4",
            "--weights", "none", "--limit", "8", "--device", "cpu", "--precision", "fp32", "--memory-format", "nchw",
            "--results", str(tmp_path), "--quiet"]
    assert main(args) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["export", "--run", str(run_dir), "--format", fmt]) == 0
    out = capsys.readouterr().out
    name = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}[fmt]
    assert out.startswith(f"{run_dir / name}: {fmt}, max abs logit difference") and "on a batch of 4" in out
    meta = read_export_metadata(run_dir / name)
    assert meta["run"] == run_dir.name and meta["image_size"] == "32" and meta["weights"] == "best.pt"
    assert meta["intended_use"] == "research only; not a medical device"
    assert f"- `{name}`" in (run_dir / "model_card.md").read_text()
    other = tmp_path / "elsewhere" / "m.pt"  # the check batch from a folder of images instead of the cache
    assert main(["export", "--run", str(run_dir), "--format", fmt, "--out", str(other), "--images",
                 str(synthetic_root / "cbis_ddsm" / "images")]) == 0
    assert other.is_file() and "on a batch of 4" in capsys.readouterr().out
