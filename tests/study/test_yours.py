"""The study on a user's own folder: layout and groups, bad data stopped with one line, the budget, the choices made
from the images, and the recommendation."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fabricate import make_run, runs_table
from seg_utils.data import build_manifest
from seg_utils.errors import ConfigError, DataError
from seg_utils.study import budget as budget_module
from seg_utils.study.budget import BUDGET_SETTINGS, LADDERS, for_data, with_budget
from seg_utils.study.params import DatasetParams
from seg_utils.study.prepare import MIN_TRAIN_IMAGES, prepare_data
from seg_utils.study.run_folder import find_run


def _folder(root: Path, n: int = 24, colour: bool = False, mask=None, image_mode=None, name="case_{:03d}") -> Path:
    """``root/images`` + ``root/masks``: n squares on a noisy background (grey unless ``colour``)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((48, 48), np.uint8)
        m[10 + i % 7: 30 + i % 7, 12:32] = 255
        if mask is not None:
            m = mask(i, m)
        grey = np.clip(rng.normal(90, 10, (48, 48)) + (m > 0) * 80, 0, 255).astype(np.uint8)
        img = np.stack([grey, grey // 2, 255 - grey], -1) if colour else grey
        mode = image_mode(i) if image_mode else None
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        pil = Image.fromarray(img)
        (pil.convert(mode) if mode else pil).save(root / "images" / f"{name.format(i)}.png")
        Image.fromarray(m).save(root / "masks" / f"{name.format(i)}_mask.png")
    return root


def _prepare(root: Path, tmp_path: Path, unsplit: str = "train"):
    return prepare_data("folder", root, 32, tmp_path / "results", progress=False, unsplit=unsplit)


def test_an_unsplit_folder_is_trained_on_in_a_study_and_scored_in_evaluate(tmp_path):
    root = _folder(tmp_path / "data", n=6)
    assert set(build_manifest("folder", root, unsplit="train").split) == {"train"}
    assert set(build_manifest("folder", root).split) == {"test"}  # evaluate's default: score every pair


def test_groups_csv_keeps_a_patient_in_one_split_and_a_bad_one_says_how_to_fix_it(tmp_path):
    root = _folder(tmp_path / "data", n=6)
    pd.DataFrame({"image": [f"case_{i:03d}.png" for i in range(6)], "group": ["p1", "p1", "p2", "p2", "p3", ""]}
                 ).to_csv(root / "groups.csv", index=False)
    manifest = build_manifest("folder", root, unsplit="train")
    assert manifest.patient.tolist() == ["p1", "p1", "p2", "p2", "p3", ""]
    (root / "groups.csv").write_text("file,patient\na.png,p1\n")
    with pytest.raises(DataError, match="no image or group column .* write two columns"):
        build_manifest("folder", root)
    (root / "groups.csv").write_text("image,group\nother.png,p1\n")
    with pytest.raises(DataError, match="none of the folder's"):
        build_manifest("folder", root)


@pytest.mark.parametrize("kind, message", [
    ("non_binary", "fail the non_binary_mask check .* save masks as 0/255 or 0/1 PNG"),
    ("channels", "differ in channels from the rest .* convert all images to grey or all to RGB"),
    ("empty", "every one of the 24 masks is empty \\(one class only\\)"),
    ("full", "covers the whole image \\(one class only\\)"),
    ("few", f"a study needs at least {MIN_TRAIN_IMAGES}"),
    ("names", "no image has a mask of the same name .* name each mask like its image"),
])
def test_bad_data_stops_before_training_with_one_line(tmp_path, kind, message):
    grades = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (48, 2))[:, :48]
    options = {
        "non_binary": {"mask": lambda i, m: grades},
        "channels": {"image_mode": lambda i: "RGB" if i % 2 else None, "colour": False},
        "empty": {"mask": lambda i, m: np.zeros_like(m)},
        "full": {"mask": lambda i, m: np.full_like(m, 255)},
        "few": {"n": MIN_TRAIN_IMAGES - 4},
        "names": {},
    }[kind]
    root = _folder(tmp_path / "data", **options)
    if kind == "channels":  # half the images colour, half grey
        for i in range(0, 24, 2):
            img = np.asarray(Image.open(root / "images" / f"case_{i:03d}.png").convert("RGB")).copy()
            img[..., 0] = 255 - img[..., 0]
            Image.fromarray(img).save(root / "images" / f"case_{i:03d}.png")
    if kind == "names":
        for p in sorted((root / "masks").iterdir()):
            p.rename(p.with_name(p.name.replace("case", "lesion")))
    with pytest.raises(DataError, match=message) as err:
        _prepare(root, tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "results" / "runs").exists()


def test_a_budget_sets_what_is_at_its_default_and_keeps_what_was_given():
    quick = with_budget(DatasetParams(dataset="folder", data_root="", budget="quick", epochs=8))
    assert (quick.image_size, quick.epochs, quick.n_seeds) == (64, 8, 2)
    assert len(quick.grid) == 4 and {e for _a, e, _l in quick.grid} == {"resnet50"}
    paper = with_budget(DatasetParams(dataset="folder", data_root="", budget="paper"))
    assert len(paper.grid) == 8 and paper.ablation_steps == "auto" and paper.n_seeds == 3
    assert with_budget(DatasetParams(dataset="folder", data_root="")) == DatasetParams(dataset="folder", data_root="")
    assert set(BUDGET_SETTINGS) == {"quick", "standard", "paper"}
    with pytest.raises(ConfigError, match="name="):
        DatasetParams(dataset="isic2018", name="mine")


@pytest.mark.parametrize("colour", [False, True])
def test_the_ladder_follows_the_modality_and_an_unused_split_of_ones_own_is_named(tmp_path, colour):
    root = _folder(tmp_path / "data" / "train", n=20, colour=colour)
    _folder(tmp_path / "data" / "test", n=4, colour=colour)
    data = _prepare(tmp_path / "data", tmp_path)
    params = DatasetParams(dataset="folder", data_root=str(root.parent), ablation_steps="auto",
                           test_source="train_fraction", configs="unet-resnet50-bce,deeplabv3plus-resnet50-bce")
    with pytest.raises(ConfigError, match="for_data"):
        budget_module.estimate(params, data)
    chosen, notes = for_data(params, data)
    assert chosen.ablation_steps == LADDERS["colour" if colour else "grey"]
    assert any("test split of its own (4 images)" in n and "-p test_source official" in n for n in notes)
    assert chosen.ladder[1].name == ("+ flip augmentation" if colour else "+ CLAHE")


def _fake_cost(arch, encoder, size):
    return {"params": 10e6 if arch == "unet" else 5e6, "gmacs": 1.0, "gflops": 20.0 if arch == "unet" else 8.0}


def test_the_recommendation_is_the_cheapest_non_inferior_configuration(tmp_path, monkeypatch):
    rec = importlib.import_module("seg_utils.report.recommend")

    monkeypatch.setattr(rec, "model_cost", _fake_cost)
    rng = np.random.default_rng(1)
    base = rng.uniform(0.80, 0.95, 60)
    dirs = []
    for seed in (0, 1, 2):
        dirs.append(make_run(tmp_path, "folder", "unet", "resnet50", "bce", base + 0.002 * seed, seed=seed,
                             ids=[f"i{k}" for k in range(60)]))
        dirs.append(make_run(tmp_path, "folder", "deeplabv3plus", "resnet50", "bce", base - 0.003 + 0.001 * seed,
                             seed=seed, ids=[f"i{k}" for k in range(60)]))
        dirs.append(make_run(tmp_path, "folder", "unet", "resnet50", "logcosh_dice", base - 0.08, seed=seed,
                             ids=[f"i{k}" for k in range(60)]))
    table, answer = rec.recommend(runs_table(dirs), margin=0.01)
    by = table.set_index("configuration")
    assert by.verdict.to_dict() == {"unet-resnet50-bce": "best", "deeplabv3plus-resnet50-bce": "non-inferior",
                                    "unet-resnet50-logcosh_dice": "inferior"}
    assert by.recommended.idxmax() == "deeplabv3plus-resnet50-bce"  # 8 GFLOPs against the best's 20
    assert "**Recommended: DeepLabV3+_RN50 with BCE**" in answer and "at 40% of its GFLOPs" in answer
    assert "inferior by 0.082 [0.080, 0.084]" in answer
    strict, _ = rec.recommend(runs_table(dirs), margin=0.001)  # a tighter margin: only the best remains
    assert strict.set_index("configuration").recommended.idxmax() == "unet-resnet50-bce"

    files = rec.save_recommendation(table, answer, tmp_path, "folder-mine")
    assert {f.name for f in files} >= {"recommendation_folder-mine.md", "recommendation.json"}
    chosen = find_run("recommended", tmp_path)
    assert chosen.parent.name == "folder" and chosen.name.startswith("deeplabv3plus-resnet50-bce-s")


def test_predict_without_a_recommendation_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError, match="run the study on your data first"):
        find_run("recommended", tmp_path)


def test_one_seed_is_said_to_be_one_seed(tmp_path, monkeypatch):
    rec = importlib.import_module("seg_utils.report.recommend")

    monkeypatch.setattr(rec, "model_cost", _fake_cost)
    dirs = [make_run(tmp_path, "folder", "unet", "resnet50", "bce", 0.9),
            make_run(tmp_path, "folder", "deeplabv3plus", "resnet50", "bce", 0.85)]
    table, answer = rec.recommend(runs_table(dirs))
    assert "One seed per configuration" in answer and table.recommended.sum() == 1
    empty, text = rec.recommend(runs_table(dirs).assign(status="failed"))
    assert empty.empty and "No configuration has a complete run" in text


def test_params_name_the_data_after_the_folder_or_the_name_given():
    params = DatasetParams(dataset="folder", data_root="/data/My Skin Set", results_dir="r")
    assert params.data_label == "My Skin Set" and params.data_key == "folder-my-skin-set"
    assert params.notebook_name == "dataset_folder-my-skin-set"
    named = dataclasses.replace(params, name="Wounds 2026")
    assert named.figures_dir.name == "folder-wounds-2026"
    assert DatasetParams(dataset="isic2018", results_dir="r").notebook_name == "dataset_isic2018"


def test_the_estimate_counts_each_ladder_steps_own_epochs(tmp_path, monkeypatch):
    data = _prepare(_folder(tmp_path / "data", n=20), tmp_path)
    monkeypatch.setattr(budget_module, "_seconds_per_image", lambda *a, **k: 0.5)  # no timing in a unit test
    params = DatasetParams(dataset="folder", data_root=str(tmp_path / "data"), test_source="train_fraction",
                           epochs=4, n_seeds=2, configs="unet-resnet50-bce,unet-resnet50-logcosh_dice",
                           ablation_configs="unet-resnet50-bce", ablation_steps="intensity=clahe,epochs=10")
    table = budget_module.estimate(params, data).set_index("configuration")
    # the ladder config: base 4 + CLAHE 4 + 10 epochs, per seed; the other: 4 per seed
    assert table.loc["unet-resnet50-bce", ["runs", "epochs"]].tolist() == [6, 2 * (4 + 4 + 10)]
    assert table.loc["unet-resnet50-logcosh_dice", ["runs", "epochs"]].tolist() == [2, 8]
    per_epoch = table.loc["unet-resnet50-bce", "seconds_per_epoch"]
    assert table.loc["total", "minutes_at_most"] == pytest.approx((36 + 8) * per_epoch / 60)
