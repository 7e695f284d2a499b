"""The ablation ladder: parsing, the runs it asks for, its table and verdict (fabricated runs), and the grid's runs
being the only ones the poster's tables read."""

from __future__ import annotations

import types
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fabricate import make_run
from seg_utils import report
from seg_utils.data.io import read_json, write_csv, write_json
from seg_utils.errors import ConfigError
from seg_utils.stats import MIN_SEEDS, N_RESAMPLES, ONE_SEED, paired_comparison, pool_seeds
from seg_utils.study import DatasetParams, ablation, dataset_params, grid_specs
from seg_utils.study.ladder import parse_ladder

LADDER = "intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine"


def _params(**kw) -> DatasetParams:
    base = {"dataset": "chest_xray", "data_root": "", "results_dir": "results", "image_size": 128, "epochs": 7,
            "batch_size": 16, "weights": "none", "configs": "unet-resnet50-bce,deeplabv3plus-resnet50-bce",
            "n_seeds": 2, "ablation_steps": LADDER}
    return DatasetParams(**{**base, **kw})


def test_steps_are_cumulative_and_named():
    steps = parse_ladder(LADDER, "poster protocol")
    assert [s.name for s in steps] == ["poster protocol", "+ CLAHE", "+ X-ray augmentation", "+ BCE + Dice loss",
                                       "+ cosine LR schedule"]
    assert steps[0].changes == {} and steps[2].changes == {"intensity": "clahe", "augment": "xray"}
    assert steps[4].changes == {"intensity": "clahe", "augment": "xray", "loss": "bce_dice", "schedule": "cosine"}
    assert parse_ladder("") == [] and parse_ladder(" , ") == []


def test_a_budget_and_a_selection_rule_are_steps_too():
    steps = parse_ladder("schedule=cosine,epochs=15,patience=15,monitor=val_dice")
    assert [s.name for s in steps[1:]] == ["+ cosine LR schedule", "+ 15 epochs", "+ patience 15",
                                           "+ best epoch by validation Dice"]
    assert steps[4].changes == {"schedule": "cosine", "epochs": 15, "patience": 15, "monitor": "val_dice"}
    jobs = ablation.ladder_jobs(_params(ablation_steps="epochs=15,patience=15,monitor=val_dice", n_seeds=1))
    last = [spec for step, _base, spec in jobs if step.index == 3]
    assert {(s.epochs, s.patience, s.monitor) for s in last} == {(15, 15, "val_dice")}


@pytest.mark.parametrize("ladder, message", [
    ("intensity", "is not field=value"),
    ("colour=red", "'colour' is not an option an ablation changes; choose from intensity, augment, loss, schedule, "
                   "epochs, patience, monitor, keep_weights"),
    ("epochs=0", "epochs takes a whole number of at least 1"),
    ("patience=-1", "patience takes a whole number of at least 1"),
    ("epochs=many", "epochs takes a whole number of at least 1"),
    ("monitor=val_iou", "monitor='val_iou' is not valid; choose one of: val_loss, val_dice"),
    ("intensity=sepia", "intensity='sepia' is not valid; choose one of: none, clahe, equalize"),
    ("intensity=clahe,augment=xray,intensity=equalize", "changes intensity a second time"),
    ("augment=none", "changes nothing: the base settings already use augment=none"),
    ("loss=bce", "changes nothing: the base settings already use loss=bce"),
])
def test_a_bad_ladder_stops_the_setup_cell(ladder, message):
    with pytest.raises(ConfigError, match="ablation step") as err:
        _params(ablation_steps=ladder)
    assert message in str(err.value)


def test_ladder_runs_seed_by_seed_then_step_then_configuration():
    jobs = ablation.ladder_jobs(_params())
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
    assert [s.name for s in ablation.ladder_specs(_params())] == [s.name for _, _, s in jobs]  # 20 distinct runs
    assert jobs[0][0].name == "poster protocol at this scale"
    assert ablation.ladder_jobs(_params(image_size=224, epochs=50, batch_size=32, weights="imagenet"))[0][0].name \
        == "poster protocol"
    assert ablation.ladder_jobs(_params(intensity="equalize", ablation_steps="augment=xray"))[0][0].name == \
        "base (intensity=equalize)"
    assert ablation.ladder_jobs(_params(ablation_steps="")) == []


def test_shards_split_the_ladder_without_training_a_run_twice():
    # configs=all: after loss=bce_dice the BCE and Log-Cosh Dice configurations of a model are one run
    params = {"configs": "all", "ablation_steps": "loss=bce_dice,augment=flips"}
    distinct = {spec.name for spec in ablation.ladder_specs(_params(**params))}
    assert len(distinct) == 2 * 2 * (2 + 1 + 1)  # seeds x models x (two grid runs + two merged steps)
    shards = [[spec.name for spec in ablation.ladder_specs(_params(shard=f"{k}/3", **params))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(distinct)  # every run in exactly one shard
    for k, shard in enumerate(shards, start=1):
        grid = {spec.name for spec in grid_specs(_params(shard=f"{k}/3", **params))}
        assert grid <= set(shard)  # a shard's grid runs are its own ladder's step 0
    merged = [(step.index, base) for step, base, spec in ablation.ladder_jobs(_params(**params))
              if spec.seed == 0 and spec.arch == "unet" and step.index == 1]
    assert merged == [(1, "unet-resnet50-bce"), (1, "unet-resnet50-logcosh_dice")]  # both rungs are reported


def test_a_parameter_shadowed_by_an_import_is_refused():
    namespace = {"dataset": "chest_xray", "ablation_steps": types.ModuleType("ablation_steps")}
    with pytest.raises(ConfigError, match=r"\['ablation_steps'\] are bound to a module \(ablation_steps -> module"):
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


def _ladder(tmp_path: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    """U-Net_RN50 BCE on a 5-step ladder, each seed 0.01 above the one before: +0.2 at step 1, noise at step 2,
    step 3 only for seed 0, step 4 not run."""
    steps = parse_ladder(LADDER, "poster protocol")
    noise = RNG.choice([-0.001, 0.001], N)
    step1 = BASE_DICE + 0.2 + RNG.uniform(-0.02, 0.02, N)
    dice = {0: BASE_DICE, 1: step1, 2: step1 + noise, 3: step1 + 0.05}
    rows = []
    for seed in seeds:
        for step in (0, 1, 2, 3):
            if step == 3 and seed > 0:
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
    table = report.ablation_table(_ladder(tmp_path), "chest_xray").set_index("step")
    assert list(table.step_name) == ["poster protocol", "+ CLAHE", "+ X-ray augmentation", "+ BCE + Dice loss",
                                     "+ cosine LR schedule"]
    assert list(table.status) == ["ok", "ok", "ok", "partial", "missing"]
    assert table.loc[0, "dice_s0"] == pytest.approx(BASE_DICE.mean())
    assert table.loc[0, "dice_s1"] == pytest.approx(BASE_DICE.mean() + 0.01)
    assert table.loc[0, "dice"] == pytest.approx(BASE_DICE.mean() + 0.01)  # seeds pooled per image
    assert np.isnan(table.loc[0, "gain"]) and table.loc[1, "gain"] == pytest.approx(0.2, abs=0.01)
    assert 0.18 < table.loc[1, "gain_ci_low"] < 0.2 < table.loc[1, "gain_ci_high"] < 0.22
    assert bool(table.loc[1, "significant"])  # three seeds, each +0.2: far beyond the seeds' sd of 0.01
    assert abs(table.loc[2, "gain"]) < 0.002 and not bool(table.loc[2, "significant"])
    assert table.loc[2, "note"] == "difference within the across-seed sd"
    assert table.loc[3, "gain"] == pytest.approx(0.05, abs=0.002)  # on seed 0, the only seed both steps have
    assert not bool(table.loc[3, "significant"]) and table.loc[3, "note"] == ONE_SEED  # however small p_images
    assert np.isnan(table.loc[3, "p_holm"]) and table.loc[3, "p_images_holm"] < 0.05
    assert table.loc[1, "seed_sd"] == pytest.approx(0.01) and np.isnan(table.loc[3, "seed_sd"])
    assert table.loc[3, "dice"] == pytest.approx(table.loc[3, "dice_s0"])
    assert np.isnan(table.loc[4, "dice"]) and np.isnan(table.loc[4, "gain"])
    assert table.loc[1, "minutes"] == pytest.approx(11) and table.poster.eq(0.954).all()
    pooled = {k: pool_seeds({s: _per_image(tmp_path / f"s{s}-{k}") for s in (0, 1, 2)}) for k in (0, 1)}
    raw = paired_comparison(pooled[0], pooled[1])["p_value"]
    assert table.loc[1, "p_images_holm"] == pytest.approx(min(1.0, 3 * raw))  # the smallest of 3 p-values, times 3
    assert table.p_images_holm.notna().sum() == 3 and "Holm-adjusted over the 3 distinct" in table.attrs["notes"][0]
    # seed level: every resample of step 1 gains, the smallest bootstrap p; Holm over the 2 steps with three seeds
    assert table.loc[1, "p_holm"] == pytest.approx(2 * 2 / (N_RESAMPLES + 1))
    assert table.p_holm.notna().sum() == 2 and "over the 2 distinct comparisons" in table.attrs["notes"][0]
    assert table.loc[3, "vs_base"] == pytest.approx(table.loc[3, "dice_s0"] - table.loc[0, "dice_s0"])
    assert (table.base_loss == "BCE").all()
    assert any("not complete: U-Net_RN50 BCE + BCE + Dice loss (partial, 1 of 3 seeds); U-Net_RN50 BCE + cosine "
               "LR schedule (missing, 0 of 3 seeds)" in n for n in table.attrs["notes"])
    text = report.verdict(table.reset_index())
    assert (f"poster protocol {table.loc[0, 'dice']:.3f} -> + BCE + Dice loss {table.loc[3, 'dice']:.3f} "
            f"({table.loc[3, 'vs_base']:+.3f} paired over the base on the seeds both have)") in text
    # ranked on seed 0, the seed every complete step has (step 3 has no seed 1)
    assert (f"Highest Dice on the seed(s) every step has (0): + BCE + Dice loss ({table.loc[3, 'dice_s0']:.3f}; over "
            f"its 1 seed(s) {table.loc[3, 'dice']:.3f}). Significant gains: + CLAHE.") in text
    assert "(not significant: difference within the across-seed sd, p_holm = " in text
    assert f"({ONE_SEED}; per image p_images_holm = " in text
    assert "Not complete yet: + BCE + Dice loss (partial), + cosine LR schedule (missing)." in text
    assert f"per seed: seed 0 {table.loc[3, 'dice_s0']:.3f}; the poster: 0.954" in text


def test_two_seeds_that_agree_are_not_a_seed_level_test(tmp_path):
    """Two seeds both +0.2 would give the smallest bootstrap p there is (the seed stage can only redraw those two):
    with fewer than MIN_SEEDS seeds a step has an interval but no p and is never significant."""
    assert MIN_SEEDS == 3
    table = report.ablation_table(_ladder(tmp_path, seeds=(0, 1)), "chest_xray").set_index("step")
    assert table.loc[1, "gain"] == pytest.approx(0.2, abs=0.01) and table.loc[1, "gain_ci_low"] > 0.18
    assert np.isnan(table.loc[1, "p_holm"]) and not bool(table.loc[1, "significant"])
    assert table.loc[1, "note"] == "2 seeds: fewer than 3, no seed-level test"
    assert table.p_holm.isna().all() and "comparisons with 3 or more seeds (none yet)" in table.attrs["notes"][0]
    text = report.verdict(table.reset_index())
    assert "+ CLAHE +0.2" in text and "(2 seeds: fewer than 3, no seed-level test; per image p_images_holm" in text
    assert "Significant gains: none." in text


@pytest.mark.parametrize("gain, called", [(0.01, False), (0.2, True)])
def test_a_step_smaller_than_the_across_seed_sd_is_not_a_gain(tmp_path, gain, called):
    """Three seeds 0.05 apart; the step adds the same ``gain`` to every image of every seed, so its interval
    excludes 0 either way, but only a gain above the seeds' sd is called one."""
    steps = parse_ladder("intensity=clahe", "poster protocol")
    rows = [{"step": k, "step_name": steps[k].name, "base": "unet-resnet50-bce", "arch": "unet", "encoder": "resnet50",
             "seed": seed, "run_dir": _run(tmp_path / f"s{seed}-{k}", BASE_DICE + 0.05 * seed + gain * k, 10)}
            for seed in (0, 1, 2) for k in (0, 1)]
    ladder = pd.DataFrame(rows)
    ladder.attrs["ladder"] = [(s.index, s.name, s.option) for s in steps]
    step = report.ablation_table(ladder, "chest_xray").set_index("step").loc[1]
    assert step.gain == pytest.approx(gain) and step.gain_ci_low > 0 and step.p_holm < 0.05
    assert step.seed_sd == pytest.approx(0.05)
    assert bool(step.significant) is called
    assert (step.note == "difference within the across-seed sd") is not called


def _per_image(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "per_image.csv", dtype={"image_id": str})


def test_merged_runs_are_compared_once_and_a_config_without_runs_is_listed(tmp_path):
    """After a loss step two configurations share runs: their shared comparison counts once in the Holm family, a
    step that reuses the runs above gets no gain, and a configuration without any run is shown as missing."""
    steps = parse_ladder("loss=bce_dice,augment=xray", "poster protocol")
    dirs = {name: _run(tmp_path / name, np.clip(BASE_DICE + shift + RNG.uniform(-0.01, 0.01, N), 0, 1), 10)
            for name, shift in (("bce0", 0.0), ("lcd0", 0.05), ("merged1", 0.1), ("merged2", 0.15))}
    layout = {"unet-resnet50-bce": ["bce0", "merged1", "merged2"],
              "unet-resnet50-logcosh_dice": ["lcd0", "merged1", "merged2"]}
    rows = [{"step": k, "step_name": steps[k].name, "base": base, "arch": "unet", "encoder": "resnet50", "seed": 0,
             "run_dir": dirs[name]} for base, names in layout.items() for k, name in enumerate(names)]
    ladder = pd.DataFrame(rows)
    ladder.attrs.update(ladder=[(s.index, s.name, s.option) for s in steps], seeds=[0], bases=[
        ("unet-resnet50-bce", "unet", "resnet50", "bce"), ("unet-resnet50-logcosh_dice", "unet", "resnet50",
                                                           "logcosh_dice"),
        ("deeplabv3plus-resnet50-bce", "deeplabv3plus", "resnet50", "bce")])
    table = report.ablation_table(ladder, "chest_xray")
    assert len(table) == 9 and (table[table.model == "DeepLabV3+_RN50"].status == "missing").all()
    assert "Holm-adjusted over the 3 distinct comparisons" in table.attrs["notes"][0]  # the per-image family
    last = table[table.step == 2]
    assert last.p_images_holm.iloc[0] == last.p_images_holm.iloc[1] and last.gain.iloc[0] == last.gain.iloc[1]
    assert table.p_holm.isna().all() and not table.significant.any()  # one seed: no seed-level test
    assert "Holm-adjusted over the comparisons with 3 or more seeds (none yet)" in table.attrs["notes"][0]
    assert table.attrs["title"] == "Ablation: options added one at a time"
    assert table.base_loss.tolist()[:6] == ["BCE"] * 3 + ["Log-Cosh Dice"] * 3

    same = ladder.copy()
    same.loc[(same.base == "unet-resnet50-logcosh_dice") & (same.step == 1), "run_dir"] = dirs["lcd0"]
    same.attrs = ladder.attrs
    table = report.ablation_table(same, "chest_xray")
    row = table[(table.base_loss == "Log-Cosh Dice") & (table.step == 1)].iloc[0]
    assert np.isnan(row.gain) and pd.isna(row.p_images_holm) and pd.isna(row.significant)
    assert any("no gain where a step trains the same runs as the step above: U-Net_RN50 Log-Cosh Dice: + BCE + "
               "Dice loss" in n for n in table.attrs["notes"])


def test_an_empty_ladder_gives_an_empty_table_that_says_so():
    empty = pd.DataFrame(columns=ablation.LADDER_COLUMNS)
    empty.attrs["ladder"] = []
    table = report.ablation_table(empty, "chest_xray")
    assert table.empty and "no ablation was asked for" in table.attrs["notes"][0]
    assert "No ablation was asked for" in report.verdict(table)


def test_the_poster_tables_read_the_grid_runs_not_the_ablation_runs(tmp_path):
    grid = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.9, epochs=3, mtime=1_000_000)
    step = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.5, epochs=4, mtime=2_000_000)
    spec = read_json(step / "spec.json")
    write_json(step / "spec.json", {**spec, "intensity": "clahe"})  # an ablation step: the grid's config + CLAHE
    copied = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.7, epochs=5, seed=1)  # from a kernel
    assert report.select_runs(tmp_path, "chest_xray").epochs.tolist() == [3, 5]  # no summary: the poster's options
    write_json(tmp_path / "summaries" / "dataset_chest_xray.json", {
        "parameters": {"intensity": "clahe"}, "runs": [{"run_dir": str(step.relative_to(tmp_path))}]})
    assert report.select_runs(tmp_path, "chest_xray").epochs.tolist() == [4]  # the notebook's grid used CLAHE
    write_json(tmp_path / "summaries" / "dataset_chest_xray.json", {
        "parameters": {"intensity": "none"}, "runs": [{"run_dir": str(grid.relative_to(tmp_path))}]})
    later = make_run(tmp_path, "chest_xray", "unet", "resnet50", "bce", 0.6, epochs=6, mtime=3_000_000)
    picked = report.select_runs(tmp_path, "chest_xray")
    assert later.exists() and picked.epochs.tolist() == [3, 5]  # the listed grid run wins over a newer one
    assert Path(picked.run_dir[1]) == copied


def test_the_highest_step_is_ranked_on_the_seeds_every_step_has():
    """A step run on three seeds is not set against a step run on one: the ranking uses the shared seed."""
    from seg_utils.report.ablation import verdict

    rows = [(0, "base", 0.90, 0.90, None, None, 1), (1, "+ 15 epochs", 0.950, 0.950, None, None, 1),
            (2, "+ last epoch's weights", 0.948, 0.951, 0.947, 0.946, 3)]
    table = pd.DataFrame([{"model": "U-Net_RN50", "base_loss": "BCE", "base": "unet-resnet50-bce", "step": step,
                           "step_name": name, "dice": dice, "dice_s0": s0, "dice_s1": s1, "dice_s2": s2,
                           "n_seeds": n, "gain": pd.NA if step == 0 else 0.001, "gain_ci_low": 0.0,
                           "gain_ci_high": 0.002, "p_holm": float("nan"), "significant": False,
                           "p_images_holm": 0.5, "note": "one seed: no seed-level evidence", "vs_base": 0.05,
                           "status": "ok" if n == 3 else "partial", "poster": 0.954}
                          for step, name, dice, s0, s1, s2, n in rows])
    text = verdict(table)
    assert "Highest Dice on the seed(s) every step has (0): + last epoch's weights (0.951; over its 3 seed(s) 0.948)" \
        in text
    same = table.assign(dice_s1=float("nan"), dice_s2=float("nan"), n_seeds=1, dice=table.dice_s0)
    assert "Highest Dice: + last epoch's weights (0.951)." in verdict(same)


def test_the_ladder_figure_draws_each_configuration_beside_its_poster_value(tmp_path):
    table = report.ablation_table(_ladder(tmp_path), "chest_xray")
    fig = report.plot_ablation(table)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["U-Net_RN50 BCE, poster", "U-Net_RN50 BCE"]
    plt.close(fig)
