"""Prediction on image folders: a tiny trained run predicted on its own test images gives the Dice its per_image.csv
holds (at the model's size and at the masks' own size), masks at each image's own size, overlays, one error row per
unreadable file; flip TTA; the same preprocessing as the cache; clear errors for bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import real_data
from fabricate import make_run
from seg_utils.cli import main
from seg_utils.data.cache import preprocess_pair
from seg_utils.data.io import read_json
from seg_utils.data.paths import shown_path
from seg_utils.errors import ConfigError, DataError
from seg_utils.model.predict import match_masks, predict_folder, predict_logits, preprocess_image
from seg_utils.study import predict_run

TRAIN = ["train", "--arch", "unet", "--encoder", "resnet18", "--loss", "bce", "--image-size", "32", "--epochs", "1",
         "--batch-size", "4", "--weights", "none", "--limit", "8", "--device", "cpu", "--precision", "fp32",
         "--memory-format", "nchw", "--quiet"]  # fp32 + nchw: no precision probe


def _train(capsys, root: Path, results: Path, *extra: str) -> Path:
    code = main([*TRAIN, "--dataset", "chest_xray", "--data-root", str(root), "--results", str(results), *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return Path(out.out.strip().splitlines()[-1])


def _test_folder(run_dir: Path, root: Path, out: Path) -> tuple[Path, Path]:
    """The run's test images (copied from the chest layout), and the masks folder they match by stem."""
    out.mkdir()
    lungs = root / "Lung Segmentation"
    for image_id in read_json(run_dir / "splits.json")["test"]:
        shutil.copy(lungs / "CXR_png" / f"{image_id}.png", out / f"{image_id}.png")
    return out, lungs / "masks"


def _check_against_run(run_dir: Path, table: pd.DataFrame, at: str) -> float:
    """Largest |Dice difference| between the predictions and the run's per_image.csv (every test image scored)."""
    own = pd.read_csv(run_dir / "per_image.csv", dtype={"image_id": str})
    both = own.merge(table, on="image_id", suffixes=("_run", "_predict"))
    assert len(both) == len(own) and (both.dice_at == at).all()
    return float((both.dice_run - both.dice_predict).abs().max())


@pytest.mark.parametrize("resolution", ["input", "original"])
def test_predict_matches_the_runs_own_evaluation(resolution, synthetic_root, tmp_path, capsys):
    root = synthetic_root / "chest_xray"
    run_dir = _train(capsys, root, tmp_path / "results", "--eval-resolution", resolution)
    images, masks = _test_folder(run_dir, root, tmp_path / "images")
    odd = np.asarray(Image.open(next(images.iterdir())).resize((100, 70)))  # another size (w 100, h 70)
    Image.fromarray(odd).save(images / "odd_size.png")
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    code = main(["predict", "--run", str(run_dir), "--images", str(images), "--masks", str(masks), "--out",
                 str(tmp_path / "out"), "--device", "cpu", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"image_id": str})
    table["error"] = table.error.fillna("")
    diff = _check_against_run(run_dir, table, resolution)
    print(f"eval_resolution={resolution}: {table.dice.notna().sum()} images, mean Dice {table.dice.mean():.4f}, "
          f"max |Dice(predict) - Dice(per_image.csv)| = {diff:.2e}")
    assert diff <= 1e-6
    broken = table[table.image == "broken.png"]
    assert len(broken) == 1 and broken.error.iloc[0].startswith(shown_path(images / "broken.png") + ": cannot")
    assert str(tmp_path) not in " ".join(table.error) + " ".join(table.truth_file.fillna(""))  # no machine paths
    truths = [t for t in table.truth_file.fillna("") if t]
    assert truths and all((masks / t).is_file() for t in truths)  # relative to the masks folder
    odd_row = table[table.image_id == "odd_size"].iloc[0]
    assert (odd_row.height, odd_row.width) == (70, 100) and odd_row.error == "" and np.isnan(odd_row.dice)
    for row in table[table.error == ""].itertuples():
        mask = np.asarray(Image.open(tmp_path / "out" / row.mask_file))
        assert mask.shape == (row.height, row.width) and set(np.unique(mask)) <= {0, 255}
        assert (mask > 0).sum() == row.foreground_px and (tmp_path / "out" / row.overlay_file).is_file()
    record = read_json(tmp_path / "out" / "predict.json")
    assert record["preprocessing"]["image_size"] == 32 and record["n_errors"] == 1 and record["dice_at"] == resolution
    # the other resolution on request, and the card the run wrote
    other = "original" if resolution == "input" else "input"
    again = predict_run(run_dir, images, tmp_path / "out2", masks, dice_at=other, device="cpu", progress=False)
    assert (again.dice_at[again.dice.notna()] == other).all()
    assert "## Results on the test split" in (run_dir / "model_card.md").read_text()


def test_preprocessing_is_the_caches(synthetic_root):
    for image, mask in [("isic2018/ISIC2018_Task1-2_Test_Input/ISIC_0021036.jpg",
                         "isic2018/ISIC2018_Task1_Test_GroundTruth/ISIC_0021036_segmentation.png"),
                        ("chest_xray/Lung Segmentation/CXR_png/MCUCXR_0077_0.png",
                         "chest_xray/Lung Segmentation/masks/MCUCXR_0077_0.png")]:
        for intensity in ("none", "clahe"):
            pair = preprocess_pair(str(synthetic_root / image), str(synthetic_root / mask), 32, intensity)[0]
            assert np.array_equal(preprocess_image(synthetic_root / image, 32, intensity), pair)


class _Corner(torch.nn.Module):
    """A model that is not flip-invariant: the logit is the red channel times a ramp across the width."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2, 2, x.shape[-1])
        return (x[:, :1] * ramp * self.w).float()


def test_flip_tta_averages_the_flipped_back_probabilities():
    images = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model = _Corner()
    plain = predict_logits(model, images)
    probs = []
    for axes in ((), (2,), (1,), (1, 2)):
        z = predict_logits(model, images.flip(axes) if axes else images)
        probs.append(1 / (1 + np.exp(-np.flip(z, axes).astype(np.float64))))
    expected = np.mean(probs, axis=0)
    got = 1 / (1 + np.exp(-predict_logits(model, images, tta="flips").astype(np.float64)))
    assert np.allclose(got, expected, atol=1e-6) and not np.allclose(got, 1 / (1 + np.exp(-plain)), atol=1e-3)


def test_masks_match_by_stem_with_suffixes(tmp_path):
    for name in ("a.png", "b.jpg", "c.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / name)
    (tmp_path / "m").mkdir()
    for name in ("a_mask.png", "b_segmentation.png", "zzz.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "m" / name)
    images = sorted(tmp_path.glob("*.*"))
    assert {k: v.name for k, v in match_masks(images, tmp_path / "m").items()} == {"a": "a_mask.png",
                                                                                    "b": "b_segmentation.png"}


def test_bad_inputs_are_clear(tmp_path):
    model = _Corner()
    with pytest.raises(DataError, match="does not exist or is not a folder"):
        predict_folder(model, tmp_path / "nowhere", tmp_path / "out", 32)
    with pytest.raises(DataError, match="no images in"):
        predict_folder(model, tmp_path, tmp_path / "out", 32)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "m").mkdir()
    with pytest.raises(DataError, match="no mask in .* matches an image"):
        predict_folder(model, tmp_path, tmp_path / "out", 32, masks=tmp_path / "m")
    with pytest.raises(ConfigError, match="threshold=1.5 must lie strictly between 0 and 1"):
        predict_folder(model, tmp_path, tmp_path / "out", 32, threshold=1.5)
    with pytest.raises(ConfigError, match="tta='rotate'"):
        predict_folder(model, tmp_path, tmp_path / "out", 32, tta="rotate")


def test_a_committed_run_without_weights_says_how_to_get_them(tmp_path, capsys):
    # results/cpu-real keeps the run records (metrics.json, per_image.csv) but no checkpoint
    run_dir = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.9)
    code = main(["predict", "--run", str(run_dir), "--images", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "is complete but has no weights (best.pt)" in err and "--results DIR" in err


@pytest.mark.parametrize("argv,message", [
    (["predict", "--run", "{tmp}", "--images", "{tmp}", "--out", "{tmp}/o"], "is not a complete run"),
    (["export", "--run", "{tmp}", "--format", "onnx"], "is not a complete run"),
    (["card", "--run", "{tmp}"], "is not a run folder (no spec.json)"),
    (["card"], "name runs with --run DIR"),
])
def test_cli_errors(argv, message, tmp_path, capsys):
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.real_data
def test_predict_on_montgomery_matches_a_chest_run(tmp_path, capsys):
    """A tiny run on a few real pairs (Shenzhen training, Montgomery test): predict equals its own evaluation."""
    source = real_data("chest_xray") / "Lung Segmentation"
    root = tmp_path / "chest" / "Lung Segmentation"
    for sub in ("CXR_png", "masks"):
        (root / sub).mkdir(parents=True)
    shenzhen = sorted((source / "masks").glob("CHNCXR_*_mask.png"))[:12]
    montgomery = sorted((source / "masks").glob("MCUCXR_*.png"))[:6]
    for mask in shenzhen + montgomery:
        shutil.copy(mask, root / "masks" / mask.name)
        stem = mask.stem.removesuffix("_mask")
        shutil.copy(source / "CXR_png" / f"{stem}.png", root / "CXR_png" / f"{stem}.png")
    run_dir = _train(capsys, tmp_path / "chest", tmp_path / "results", "--image-size", "64", "--limit", "12")
    images, masks = _test_folder(run_dir, tmp_path / "chest", tmp_path / "images")
    table = predict_run(run_dir, images, tmp_path / "out", source / "masks", dice_at="input", device="cpu",
                        progress=False)
    diff = _check_against_run(run_dir, table, "input")
    print(f"Montgomery, {len(table)} images, mean Dice {table.dice.mean():.4f}: max |Dice(predict) - "
          f"Dice(per_image.csv)| = {diff:.2e}")
    assert diff <= 1e-6 and table.error.fillna("").eq("").all() and len(table) == 6
    assert all(Image.open(tmp_path / "out" / m).size == (256, 256) for m in table.mask_file)
