"""The ablation ladder: parsing, the runs it asks for, its table and verdict (fabricated runs), and the grid's runs
being the only ones the poster's tables read."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fabricate import make_run

from seg_utils import ablation, tables
from seg_utils.errors import ConfigError
from seg_utils.io import write_csv, write_json
from seg_utils.study import DatasetParams, dataset_params, grid_specs

LADDER = "intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine"


def _params(**kw) -> DatasetParams:
    base = {"dataset": "chest_xray", "data_root": "", "results_dir": "results", "image_size": 128, "epochs": 7,
            "batch_size": 16, "weights": "none", "configs": "unet-resnet50-bce,deeplabv3plus-resnet50-bce",
            "n_seeds": 2, "ablation_steps": LADDER}
    return DatasetParams(**{**base, **kw})


def test_steps_are_cumulative_and_named():
    steps = ablation.parse_ladder(LADDER, "poster protocol")
    assert [s.name for s in steps] == ["poster protocol", "+ CLAHE", "+ X-ray augmentation", "+ BCE + Dice loss",
                                       "+ cosine LR schedule"]
    assert steps[0].changes == {} and steps[2].changes == {"intensity": "clahe", "augment": "xray"}
    assert steps[4].changes == {"intensity": "clahe", "augment": "xray", "loss": "bce_dice", "schedule": "cosine"}
    assert ablation.parse_ladder("") == [] and ablation.parse_ladder(" , ") == []


@pytest.mark.parametrize("ladder, message", [
    ("intensity", "is not field=value"),
    ("colour=red", "'colour' is not an option an ablation changes; choose from intensity, augment, loss, schedule"),
    ("intensity=sepia", "'sepia' is not a intensity; choose one of none, clahe, equalize"),
    ("intensity=clahe,augment=xray,intensity=equalize", "changes intensity a second time"),
    ("augment=none", "changes nothing: the base settings already use augment=none"),
    ("loss=bce", "changes nothing: the base settings already use loss=bce"),
])
def test_a_bad_ladder_stops_the_setup_cell(ladder, message):
    with pytest.raises(ConfigError, match="ablation step") as err:
        _params(ablation_steps=ladder)
    assert message in str(err.value)


def test_ladder_runs_seed_by_seed_then_step_then_configuration():
    jobs = ablation.ladder_specs(_params())
    assert len(jobs) == 2 * 5 * 2
    first = [(step.index, base, spec.seed) for step, base, spec in jobs[:4]]
    assert first == [(0, "unet-resnet50-bce", 0), (0, "deeplabv3plus-resnet50-bce", 0), (1, "unet-resnet50-bce", 0),
                     (1, "deeplabv3plus-resnet50-bce", 0)]
    last = jobs[-1][2]
    assert (last.seed, last.arch, last.intensity, last.augment, last.loss, last.schedule) == (
        1, "deeplabv3plus", "clahe", "xray", "bce_dice", "cosine")
    base = jobs[0][2]
    assert (base.intensity, base.augment, base.loss, base.schedule, base.image_size, base.epochs) == (
        "none", "none", "bce", "constant", 128, 7)
    assert len({spec.name for _, _, spec in jobs}) == 20  # every run its own folder
    assert jobs[0][0].name == "poster protocol"
    assert ablation.ladder_specs(_params(intensity="equalize", ablation_steps="augment=xray"))[0][0].name == \
        "base (intensity=equalize)"
    shards = [ablation.ladder_specs(_params(shard=f"{k}/3")) for k in (1, 2, 3)]
    names = [[spec.name for _, _, spec in shard] for shard in shards]
    assert sorted(sum(names, [])) == sorted(spec.name for _, _, spec in jobs)  # every run once, in one shard
    grid = [{s.name for s in grid_specs(_params(shard=f"{k}/3"))} for k in (1, 2, 3)]
    assert all({spec.name for step, _, spec in shard if step.index == 0} == g for shard, g in zip(shards, grid,
                                                                                                   strict=True))
    assert ablation.ladder_specs(_params(ablation_steps="")) == []


def test_a_parameter_shadowed_by_an_import_is_refused():
    namespace = {"dataset": "chest_xray", "ablation_steps": types.ModuleType("ablation_steps")}
    with pytest.raises(ConfigError, match=r"\['ablation_steps'\] are bound to a module"):
        dataset_params(namespace)


# ------------------------------------------------------------------------------------------ table

N = 20
RNG = np.random.default_rng(3)
BASE_DICE = 0.6 + RNG.uniform(-0.05, 0.05, N)


def _run(folder: Path, dice: np.ndarray, minutes: float) -> str:
    ids = [f"MCUCXR_{i:04d}_0" for i in range(N)]
    write_csv(folder / "per_image.csv", pd.DataFrame({"image_id": ids, "dice": dice}))
    write_csv(folder / "history.csv", pd.DataFrame({"epoch": [1, 2], "seconds": [30 * minutes, 30 * minutes]}))
    return str(folder)


def _ladder(tmp_path: Path) -> pd.DataFrame:
    """U-Net_RN50 BCE on a 5-step ladder, seeds 0 and 1: +0.2 at step 1, noise at step 2, step 3 only for seed 0,
    step 4 not run."""
    steps = ablation.parse_ladder(LADDER, "poster protocol")
    noise = RNG.choice([-0.001, 0.001], N)
    step1 = BASE_DICE + 0.2 + RNG.uniform(-0.02, 0.02, N)
    dice = {0: BASE_DICE, 1: step1, 2: step1 + noise, 3: step1 + 0.05}
    rows = []
    for seed in (0, 1):
        for step in (0, 1, 2, 3):
            if step == 3 and seed == 1:
                continue
            shift = 0.01 * seed
            rows.append({"step": step, "step_name": steps[step].name, "base": "unet-resnet50-bce", "arch": "unet",
                         "encoder": "resnet50", "label": "U-Net_RN50", "seed": seed,
                         "run_dir": _run(tmp_path / f"s{seed}-{step}", np.clip(dice[step] + shift, 0, 1),
                                         minutes=10 + step)})
    df = pd.DataFrame(rows)
    df.attrs["ladder"] = [(s.index, s.name, s.option) for s in steps]
    return df


def test_ablation_table_reports_seeds_gains_and_what_is_missing(tmp_path):
    table = ablation.ablation_table(_ladder(tmp_path), "chest_xray").set_index("step")
    assert list(table.step_name) == ["poster protocol", "+ CLAHE", "+ X-ray augmentation", "+ BCE + Dice loss",
                                     "+ cosine LR schedule"]
    assert list(table.status) == ["ok", "ok", "ok", "partial", "missing"]
    assert table.loc[0, "dice_s0"] == pytest.approx(BASE_DICE.mean())
    assert table.loc[0, "dice_s1"] == pytest.approx(BASE_DICE.mean() + 0.01)
    assert table.loc[0, "dice"] == pytest.approx(BASE_DICE.mean() + 0.005)  # seeds pooled per image
    assert np.isnan(table.loc[0, "gain"]) and table.loc[1, "gain"] == pytest.approx(0.2, abs=0.01)
    assert 0.18 < table.loc[1, "gain_ci_low"] < 0.2 < table.loc[1, "gain_ci_high"] < 0.22
    assert bool(table.loc[1, "significant"])
    assert abs(table.loc[2, "gain"]) < 0.002 and not bool(table.loc[2, "significant"])
    assert table.loc[3, "gain"] == pytest.approx(0.05, abs=0.002)  # on seed 0, the only seed both steps have
    assert table.loc[3, "dice"] == pytest.approx(table.loc[3, "dice_s0"])
    assert np.isnan(table.loc[4, "dice"]) and np.isnan(table.loc[4, "gain"])
    assert table.loc[1, "minutes"] == pytest.approx(11) and table.poster.eq(0.954).all()
    p = table.p_holm.dropna()
    assert len(p) == 3 and (p <= 1).all()
    assert "Holm-adjusted over the 3 gains" in table.attrs["notes"][0]
    assert any("2 step(s) have fewer complete runs than seeds" in n for n in table.attrs["notes"])
    text = ablation.verdict(table.reset_index())
    assert f"poster protocol {table.loc[0, 'dice']:.3f} -> + BCE + Dice loss {table.loc[3, 'dice']:.3f}" in text
    assert "Options that carry a significant gain: + CLAHE, + BCE + Dice loss." in text
    assert f"seed 0 {table.loc[3, 'dice_s0']:.3f}; the poster: 0.954" in text


def test_an_empty_ladder_gives_an_empty_table_that_says_so():
    empty = pd.DataFrame(columns=ablation.LADDER_COLUMNS)
    empty.attrs["ladder"] = []
    table = ablation.ablation_table(empty, "chest_xray")
    assert table.empty and "no ablation was asked for" in table.attrs["notes"][0]
    assert "No ablation was asked for" in ablation.verdict(table)


def test_the_poster_tables_read_the_grid_runs_not_the_ablation_runs(tmp_path):
    grid = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.9, epochs=3, mtime=1_000_000)
    step = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.5, epochs=4, mtime=2_000_000)
    copied = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.7, epochs=5, seed=1)  # from a kernel
    assert tables.select_runs(tmp_path, "chest_xray").epochs.tolist() == [4, 5]  # no summary: the newest
    summary = {"runs": [{"run_dir": str(grid.relative_to(tmp_path))}],
               "ablation_runs": [{"run_dir": str(d.relative_to(tmp_path))} for d in (grid, step)]}
    write_json(tmp_path / "summaries" / "dataset_chest_xray.json", summary)
    picked = tables.select_runs(tmp_path, "chest_xray")
    assert picked.epochs.tolist() == [3, 5] and Path(picked.run_dir[1]) == copied
    later = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.6, epochs=6, mtime=3_000_000)
    assert later.exists() and tables.select_runs(tmp_path, "chest_xray").epochs.tolist() == [3, 5]  # listed wins
