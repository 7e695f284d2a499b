"""The study on one's own folder is the chest X-ray study when the folder holds the chest X-rays: the shared Shenzhen
and Montgomery sample, exported as a plain train/ + test/ folder of images/ + masks/, gives the same splits, the same
cached pixels and the same per-image Dice as the chest X-ray adapter, for the same configuration and seed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import real_data
from seg_utils.data.io import read_json
from seg_utils.study.prepare import prepare_data
from seg_utils.study.runs import execute_run
from seg_utils.study.spec import RunSpec

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def _export(chest: Path, out: Path) -> Path:
    """Shenzhen (CHNCXR) to train/, Montgomery (MCUCXR) to test/, images and masks by their own names (links)."""
    base = chest / "Lung Segmentation"
    for folder, kind in ((base / "CXR_png", "images"), (base / "masks", "masks")):
        for p in folder.iterdir():
            split = "train" if p.name.startswith("CHNCXR") else "test"
            target = out / split / kind / p.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(p, target)
    return out


def test_a_folder_of_the_chest_xrays_reproduces_the_chest_study(tmp_path):
    chest = real_data("chest_xray")
    folder = _export(chest, tmp_path / "export")
    settings = {"image_size": 32, "epochs": 1, "batch_size": 8, "weights": "none", "limit": 40, "seed": 1}
    dice = {}
    for dataset, root in (("chest_xray", chest), ("folder", folder)):
        data = prepare_data(dataset, root, 32, tmp_path / dataset, limit=40, progress=False)
        spec = RunSpec(dataset, "unet", "resnet18", "bce", **settings)
        run = execute_run(spec, data, tmp_path / dataset, device="cpu", progress=False, precision="fp32",
                          memory_format="nchw")
        splits = read_json(run / "splits.json")
        dice[dataset] = (pd.read_csv(run / "per_image.csv").sort_values("image_id"), splits,
                         np.asarray(data.cache.images), np.asarray(data.cache.masks))
    (a, split_a, img_a, mask_a), (b, split_b, img_b, mask_b) = dice["chest_xray"], dice["folder"]
    assert {k: split_a[k] for k in ("train", "val", "test")} == {k: split_b[k] for k in ("train", "val", "test")}
    assert np.array_equal(img_a, img_b) and np.array_equal(mask_a, mask_b)
    assert a.image_id.tolist() == b.image_id.tolist() and len(a) > 0
    assert np.abs(a.dice.to_numpy() - b.dice.to_numpy()).max() <= 1e-6
