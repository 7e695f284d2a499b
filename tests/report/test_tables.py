"""Tables from fabricated run folders: our values, CIs, the poster's numbers beside them, missing rows, tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fabricate import image_ids, make_run
from seg_utils import report
from seg_utils.report.display import DICE_PROTOCOL
from seg_utils.study.reference import poster_dice, poster_literature

ARCHS = ("unet", "deeplabv3plus")
ENCODERS = ("vgg19", "resnet50", "densenet121")
SPREAD = np.linspace(-0.05, 0.05, 12)  # per-image variation around a configuration's mean


def _table1_runs(results, offset=0.0, skip=()):
    for a in ARCHS:
        for e in ENCODERS:
            if (a, e) not in skip:
                make_run(results, "isic2018", a, e, "bce", poster_dice("isic2018", a, e, "bce") + offset + SPREAD)


def test_table1_puts_the_poster_beside_ours(tmp_path):
    _table1_runs(tmp_path, offset=0.0)
    df = report.table_encoders(tmp_path)
    assert list(df.columns) == report.tables.SCORE_COLUMNS
    assert len(df) == 6 and (df.status == "ok").all()
    expected = {"U-Net_VGG19": 0.717, "U-Net_RN50": 0.878, "U-Net_DN121": 0.848, "DeepLabV3+_VGG19": 0.815,
                "DeepLabV3+_RN50": 0.860, "DeepLabV3+_DN121": 0.853}
    assert dict(zip(df.model, df.poster, strict=True)) == pytest.approx(expected)
    assert df.dice.to_numpy() == pytest.approx(df.poster.to_numpy(), abs=1e-9)  # fabricated around the poster
    assert df["diff"].to_numpy() == pytest.approx(0, abs=1e-9)
    assert df.poster_in_ci.all()
    assert (df.ci_low < df.dice).all() and (df.dice < df.ci_high).all()
    assert (df.n_images == 12).all() and (df.n_seeds == 1).all() and df.seed_sd.isna().all()


def test_poster_outside_the_ci_is_flagged(tmp_path):
    _table1_runs(tmp_path, offset=-0.2)
    df = report.table_encoders(tmp_path)
    assert df["diff"].to_numpy() == pytest.approx(-0.2, abs=1e-9)
    assert not df.poster_in_ci.any()


def test_missing_configuration_is_nan_and_noted(tmp_path):
    _table1_runs(tmp_path, skip={("unet", "densenet121")})
    df = report.table_encoders(tmp_path)
    row = df[df.model == "U-Net_DN121"].iloc[0]
    assert row.status == "missing" and np.isnan(row.dice) and np.isnan(row.ci_low) and row.poster == 0.848
    assert pd.isna(row.poster_in_ci)
    assert any("U-Net_DN121" in n for n in df.attrs["notes"])
    tests = report.compare_encoders(tmp_path)
    assert len(tests) == 9  # 3 encoder pairs x 2 architectures + 3 architecture pairs
    gaps = tests[tests.n_seeds == 0]
    assert len(gaps) == 3 and ((gaps.a == "U-Net_DN121") | (gaps.b == "U-Net_DN121")).all()
    assert gaps["diff"].isna().all() and gaps.vs_poster.isna().all() and tests["diff"].notna().sum() == 6
    assert any("not compared" in n for n in tests.attrs["notes"])


def test_empty_results_give_an_all_missing_table(tmp_path):
    df = report.table_losses(tmp_path)
    assert len(df) == 12 and (df.status == "missing").all() and df.dice.isna().all()
    assert df.poster.notna().all()
    tests = report.compare_losses(tmp_path)
    assert len(tests) == 6 and tests.p_value.isna().all() and not tests.significant.any()


def test_table1_comparisons_find_the_real_difference(tmp_path):
    for seed, shift in enumerate((0.0, 0.01, -0.01)):  # three seeds 0.01 apart
        for a in ARCHS:
            for e in ENCODERS:
                make_run(tmp_path, "isic2018", a, e, "bce",
                         0.8 + shift + SPREAD + (0.1 if (a, e) == ("unet", "resnet50") else 0.0), seed=seed)
    tests = report.compare_encoders(tmp_path)
    assert list(tests.columns) == report.comparisons.COMPARE_TABLE_COLUMNS
    assert list(tests.columns) == ["comparison", "a", "b", "n_seeds", "n", "mean_a", "mean_b", "sd_a", "sd_b", "diff",
                                   "diff_sd", "diff_ci_low", "diff_ci_high", "p_value", "p_holm", "significant",
                                   "p_images", "p_images_holm", "significant_images", "note", "poster_diff",
                                   "vs_poster"]
    assert (tests.n_seeds == 3).all() and (tests.n == 12).all()
    involves = (tests.a == "U-Net_RN50") | (tests.b == "U-Net_RN50")
    assert tests[involves].significant.all()  # +0.1 on each image of each of 3 seeds, seeds 0.01 apart
    assert tests[involves].significant_images.all()
    assert not tests[~involves].significant.any()  # identical per-image values
    assert (tests[~involves].p_value == 1.0).all() and (tests[~involves].p_images == 1.0).all()
    assert (tests.p_holm >= tests.p_value).all() and (tests.p_images_holm >= tests.p_images).all()
    vgg_rn = tests[(tests.a == "U-Net_VGG19") & (tests.b == "U-Net_RN50")].iloc[0]
    assert vgg_rn["diff"] == pytest.approx(0.1) and vgg_rn.diff_sd == pytest.approx(0, abs=1e-12)
    assert vgg_rn.sd_a == pytest.approx(0.01) and vgg_rn.diff_ci_low == pytest.approx(0.1)
    # the poster has U-Net_RN50 above VGG19 (agree) and above U-Net with DenseNet121... and DeepLabV3+_RN50
    assert vgg_rn.vs_poster == "agree" and vgg_rn.poster_diff == pytest.approx(0.878 - 0.717)
    assert (tests[~involves].vs_poster == "tie").all()


def _two_configs(results, deltas, base=0.8):
    """U-Net_VGG19 and U-Net_RN50 on ISIC, one run per seed; RN50 = VGG19 + deltas[seed] on every image."""
    for seed, delta in enumerate(deltas):
        make_run(results, "isic2018", "unet", "vgg19", "bce", base + SPREAD, seed=seed)
        make_run(results, "isic2018", "unet", "resnet50", "bce", base + SPREAD + delta, seed=seed)
    tests = report.compare_encoders(results)
    return tests[(tests.a == "U-Net_VGG19") & (tests.b == "U-Net_RN50")].iloc[0]


def test_one_seed_is_never_significant_whatever_the_images_say(tmp_path):
    t = _two_configs(tmp_path, [0.1])
    assert t.n_seeds == 1 and t.note == "one seed: no seed-level evidence"
    assert not t.significant and np.isnan(t.p_value) and np.isnan(t.p_holm) and np.isnan(t.sd_a)
    assert t.significant_images and t.p_images_holm < 0.01  # one run beats the other on every image
    assert t.diff_ci_low == pytest.approx(0.1) and t.vs_poster == "untested"  # not a tie: nothing was tested


def test_seeds_that_disagree_are_not_significant_though_each_seed_is_consistent(tmp_path):
    t = _two_configs(tmp_path, [0.03, -0.03, 0.02])  # every image of a seed moves the same way, the seeds do not
    assert t.significant_images and t.p_images_holm < 0.01  # the pooled per-image differences are all +0.0067
    assert not t.significant and t.p_value > 0.05 and t.diff_ci_low < 0 < t.diff_ci_high
    assert t["diff"] == pytest.approx(0.02 / 3) and t.diff_sd == pytest.approx(np.std([0.03, -0.03, 0.02], ddof=1))


def test_a_difference_within_the_across_seed_sd_is_not_significant(tmp_path):
    for seed, shift in enumerate((0.0, 0.1, 0.2)):  # seeds 0.1 apart, RN50 always +0.02
        make_run(tmp_path, "isic2018", "unet", "vgg19", "bce", 0.6 + shift + SPREAD, seed=seed)
        make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.62 + shift + SPREAD, seed=seed)
    tests = report.compare_encoders(tmp_path)
    t = tests[(tests.a == "U-Net_VGG19") & (tests.b == "U-Net_RN50")].iloc[0]
    assert t.diff_ci_low == pytest.approx(0.02) and t.p_value < 0.01  # the interval excludes 0 ...
    assert not t.significant and t.note == "difference within the across-seed sd"  # ... but 0.02 < sd 0.1


def test_seeds_are_pooled_and_their_spread_reported(tmp_path):
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.80 + SPREAD, seed=0)
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.90 + SPREAD, seed=1)
    row = report.table_encoders(tmp_path).set_index("model").loc["U-Net_RN50"]
    assert row.n_seeds == 2
    assert row.dice == pytest.approx(0.85) and row.seed_mean == pytest.approx(0.85)
    assert row.seed_sd == pytest.approx(np.std([0.8, 0.9], ddof=1))
    # the two-stage interval holds the seeds' spread, the image interval only the images'
    assert row.seed_ci_low < row.ci_low and row.ci_high < row.seed_ci_high
    # a quarter of the resamples draw seed 0 twice (mean 0.8), a quarter seed 1 twice (0.9); images add a little
    assert 0.78 < row.seed_ci_low < 0.8 and 0.9 < row.seed_ci_high < 0.92
    assert "± 0.071 sd over 2 seeds" in report.poster_layout(report.table_encoders(tmp_path), "arch",
                                                              "encoder").loc[0, "ResNet50"]


def test_most_recent_run_of_a_configuration_is_used(tmp_path):
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.5, epochs=2, mtime=1_000_000)
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.7, epochs=3, mtime=2_000_000)
    runs = report.select_runs(tmp_path, "isic2018")
    assert len(runs) == 1 and runs.epochs.iloc[0] == 3


def test_table2_rows_follow_the_poster(tmp_path):
    for ds in ("isic2018", "chest_xray", "cbis_ddsm"):
        for a in ARCHS:
            for loss in ("bce", "logcosh_dice"):
                make_run(tmp_path, ds, a, "resnet50", loss, poster_dice(ds, a, "resnet50", loss) + SPREAD)
    df = report.table_losses(tmp_path)
    assert list(zip(df.dataset, df.model, df.loss, strict=True))[:4] == [
        ("isic2018", "DeepLabV3+_RN50", "bce"), ("isic2018", "DeepLabV3+_RN50", "logcosh_dice"),
        ("isic2018", "U-Net_RN50", "bce"), ("isic2018", "U-Net_RN50", "logcosh_dice")]
    chest = df[df.dataset == "chest_xray"].set_index(["model", "loss"]).poster
    assert chest[("U-Net_RN50", "bce")] == 0.9540 and chest[("DeepLabV3+_RN50", "bce")] == 0.9544
    assert df.poster_in_ci.all()
    tests = report.compare_losses(tmp_path)
    assert len(tests) == 6 and tests.n.eq(12).all()
    assert tests.a.iloc[0] == "DeepLabV3+_RN50 BCE" and tests.b.iloc[0] == "DeepLabV3+_RN50 Log-Cosh Dice"
    assert tests.comparison.iloc[0] == "losses, DeepLabV3+_RN50 on ISIC 2018"
    wide = report.poster_layout(df, ["dataset", "model"], "loss")
    assert list(wide.columns) == ["dataset", "model", "BCE", "Log-Cosh Dice"]
    assert "(poster 0.893)" in wide.set_index(["dataset", "model"]).loc[("ISIC 2018", "DeepLabV3+_RN50"),
                                                                         "Log-Cosh Dice"]


def test_literature_adds_our_best_cbis_run(tmp_path):
    make_run(tmp_path, "cbis_ddsm", "unet", "resnet50", "bce", 0.60 + SPREAD)
    make_run(tmp_path, "cbis_ddsm", "deeplabv3plus", "resnet50", "logcosh_dice", 0.70 + SPREAD)
    df = report.table_literature(tmp_path)
    lit = poster_literature()
    assert df.work.tolist()[: len(lit)] == lit.work.tolist()
    assert df.dice.tolist()[: len(lit)] == pytest.approx(lit.dice.tolist())
    ours = df.iloc[-1]
    assert ours.work == "this study" and ours.loss == "Log-Cosh Dice" and ours.dice == pytest.approx(0.70)
    assert ours.poster == 0.789 and ours["diff"] == pytest.approx(0.70 - 0.789)
    assert ours.ci_low < 0.70 < ours.ci_high


def test_literature_without_cbis_runs_says_so(tmp_path):
    df = report.table_literature(tmp_path)
    assert df.iloc[-1].work == "this study" and np.isnan(df.iloc[-1].dice)
    assert any("no complete CBIS-DDSM run" in n for n in df.attrs["notes"])


def test_save_table_writes_csv_and_captioned_markdown(tmp_path):
    _table1_runs(tmp_path, skip={("deeplabv3plus", "vgg19")})
    df = report.table_encoders(tmp_path)
    csv, md = report.save_table(df, "table1_encoders", tmp_path)
    assert csv == tmp_path / "tables" / "table1_encoders.csv" and md.suffix == ".md"
    back = pd.read_csv(csv)
    assert back.poster.tolist() == pytest.approx(df.poster.tolist())
    text = md.read_text()
    assert text.startswith("# Table 1: encoder comparison")
    assert DICE_PROTOCOL in text
    assert "| isic2018 | U-Net_RN50 | bce | 0.878 |" in text
    assert "DeepLabV3+_VGG19" in text and "missing" in text and "—" in text
    assert "no complete run, shown as missing" in text


def test_dice_protocol_states_the_protocol():
    assert "0.5" in DICE_PROTOCOL and "per test image" in DICE_PROTOCOL and "pooled" in DICE_PROTOCOL
    assert "\n" not in DICE_PROTOCOL


def test_show_formats_for_reading(tmp_path):
    _table1_runs(tmp_path, skip={("unet", "vgg19")})
    html = report.show(report.table_encoders(tmp_path)).to_html()
    assert "0.878" in html and "0.87800" not in html and "—" in html and "Note: no complete run" in html


def test_markdown_formatting():
    df = pd.DataFrame({"name": ["a|b"], "dice": [0.87654], "p_value": [0.000123], "flag": [True],
                       "final": [566.0], "x": [np.nan]})
    md = report.to_markdown(df)
    assert "a\\|b" in md and "0.877" in md and "0.00012" in md and "yes" in md and "| 566 |" in md and "—" in md


def test_quality_table_beside_the_poster(synthetic_root):
    from seg_utils.data import build_manifest
    from seg_utils.data.quality import inspect_manifest

    manifest = build_manifest("chest_xray", synthetic_root / "chest_xray")
    inspection = inspect_manifest(manifest)
    data = SimpleNamespace(dataset="chest_xray", report=inspection, manifest=manifest, clean=inspection.clean)
    df = report.quality_table(data)
    assert list(df.columns) == report.quality.QUALITY_COLUMNS
    train = df.set_index("split").loc["train"]
    assert train.starting == 26 and train.excluded == 2 and train.final == 24  # two Shenzhen images lack masks
    assert train.poster_final == 566 and train.source == "shenzhen"
    assert df.set_index("split").loc["test"].poster_final == 138
    checks = report.quality_checks(inspection)
    assert checks.set_index("check").loc["missing_mask", "total"] == 2
    clean = SimpleNamespace(findings=inspection.findings.iloc[:0])
    assert report.quality_checks(clean).attrs["title"] == "Findings of the data-quality inspection: none"


def test_table_quality_collects_the_datasets(tmp_path):
    pd.DataFrame({"dataset": "isic2018", "split": ["train", "test"], "source": "isic2018", "starting": [30, 8],
                  "excluded": [1, 0], "final": [29, 8], "used": [29, 8], "poster_starting": [2594, 1000],
                  "poster_final": [2480, 1000], "diff_final": [-2451, -992]}).to_csv(
        (tmp_path / "tables").mkdir() or tmp_path / "tables" / "quality_isic2018.csv", index=False)
    df = report.table_quality(tmp_path)
    assert len(df) == 6
    assert df[df.dataset == "isic2018"].final.tolist() == [29, 8]
    assert df[df.dataset == "cbis_ddsm"].final.isna().all()
    assert df[df.dataset == "cbis_ddsm"].poster_final.tolist() == [1301, 377]
    assert sum("no quality table" in n for n in df.attrs["notes"]) == 2


def test_image_ids_hold_the_poster_panel():
    assert image_ids("cbis_ddsm")[0] == "Mass-Test_P_00066_LEFT_CC_1"


# ------------------------------------------------------------------------------------------ answers


def _table1_seeds(results, deltas: dict, n_seeds=3):
    """Table 1's six cells, ``n_seeds`` seeds 0.01 apart, each cell 0.8 + ``deltas.get((arch, encoder), 0)``."""
    for seed in range(n_seeds):
        for a in ARCHS:
            for e in ENCODERS:
                make_run(results, "isic2018", a, e, "bce", 0.8 + 0.01 * seed + SPREAD + deltas.get((a, e), 0.0),
                         seed=seed)


def test_answer_encoders_names_a_winner_only_with_seed_level_evidence(tmp_path):
    _table1_seeds(tmp_path, {("unet", "resnet50"): 0.1})
    text = report.answer_encoders(tmp_path)
    unet, deeplab = text.splitlines()[:2]
    assert unet.startswith("- **U-Net**: ResNet50 wins (Dice 0.910 vs 0.810; +0.100 [+0.100, +0.100] over 3 seeds, "
                           "p_holm = ")
    assert "significant; per image p_images_holm = " in unet
    assert "its seeds beat the second's in 9 of 9 seed pairs (100%)" in unet
    # the poster: RN50 > DN121 > VGG19; ours: RN50 above both (2 agree), VGG19 = DN121 (a tie, not an agreement)
    assert unet.endswith("Against the poster's order ResNet50 > DenseNet121 > VGG19, pair by pair: 2 agree, "
                         "0 disagree, 1 tie.")
    assert "a tie with" in deeplab and "not significant" in deeplab and "0 agree, 0 disagree, 3 tie" in deeplab
    assert "seed pairs" in deeplab  # 3 seeds each: the two tied encoders' seeds beat each other half the time


@pytest.mark.parametrize("n_seeds, few", [(1, "one seed"), (2, "2 seeds, fewer than 3")])
def test_answer_encoders_with_fewer_than_three_seeds_claims_nothing(tmp_path, n_seeds, few):
    """+0.1 on every image of every seed: one seed, or two that agree, still name no winner and no tie."""
    _table1_seeds(tmp_path, {("unet", "resnet50"): 0.1}, n_seeds=n_seeds)
    text = report.answer_encoders(tmp_path)
    assert f"ResNet50 has the highest mean, untested against VGG19 ({few})" in text
    assert " wins" not in text and "tie with" not in text and "p_holm" not in text
    assert f"on {few}: no seed-level test; per image p_images_holm = " in text
    assert "0 agree, 0 disagree, 0 tie, 3 untested (fewer than 3 seeds)" in text
    assert f"{few.capitalize()} per configuration: no difference above is tested at seed level" in text
    assert ("seed pairs" in text) == (n_seeds > 1)  # rank stability needs a pair of seeds to say anything


def test_answer_encoders_ranks_on_the_seeds_every_encoder_has(tmp_path):
    """ResNet50's second seed would lift its mean above DenseNet121's single seed; on seed 0, which all have,
    DenseNet121 is ahead: the answer ranks on seed 0 and says so."""
    for seed, dice in ((0, {"vgg19": 0.70, "resnet50": 0.78, "densenet121": 0.79}), (1, {"vgg19": 0.70,
                                                                                         "resnet50": 0.90})):
        for encoder, value in dice.items():
            make_run(tmp_path, "isic2018", "unet", encoder, "bce", value + SPREAD, seed=seed)
    unet = report.answer_encoders(tmp_path).splitlines()[0]
    assert unet.startswith("- **U-Net**: DenseNet121 has the highest mean, untested against ResNet50 (one seed) "
                           "(ranked on the seed(s) every encoder has (0); Dice 0.790 vs 0.780; +0.010 ")


def test_answer_losses_counts_agreement_by_significance(tmp_path):
    for seed in range(3):
        for a, lcd in (("deeplabv3plus", 0.1), ("unet", 0.1)):  # the poster: LCD wins for DeepLabV3+, BCE for U-Net
            make_run(tmp_path, "isic2018", a, "resnet50", "bce", 0.8 + 0.01 * seed + SPREAD, seed=seed)
            make_run(tmp_path, "isic2018", a, "resnet50", "logcosh_dice", 0.8 + 0.01 * seed + lcd + SPREAD, seed=seed)
        for loss in ("bce", "logcosh_dice"):  # a real tie on chest X-ray (U-Net)
            make_run(tmp_path, "chest_xray", "unet", "resnet50", loss, 0.9 + 0.01 * seed + SPREAD, seed=seed)
    text = report.answer_losses(tmp_path)
    assert "- DeepLabV3+_RN50 on ISIC 2018: Log-Cosh Dice wins (" in text
    assert "the poster: Log-Cosh Dice (by significance: agree)" in text
    assert "- U-Net_RN50 on ISIC 2018: Log-Cosh Dice wins (" in text and "the poster: BCE (by significance: disagree)" \
        in text
    assert "- U-Net_RN50 on Montgomery (trained on Shenzhen): no winner (a tie)" in text
    assert "- Against the poster's loss winner: 1 agree, 1 disagree, 1 tie of 3 rows" in text
    assert "0 of 2 losses have a complete run" in text  # the rows without runs claim nothing


@pytest.fixture
def fake_cost(monkeypatch):
    """Model costs without building models: U-Net 2 GFLOPs and 30M parameters, DeepLabV3+ 1 GFLOP and 20M."""
    seen = []

    def cost(arch, encoder, size):
        seen.append((arch, encoder, size))
        gflops, params = (2.0, 30e6) if arch == "unet" else (1.0, 20e6)
        return {"params": params, "gmacs": gflops / 2, "gflops": gflops}

    monkeypatch.setattr(report.answers, "model_cost", cost)
    return seen


def _base_runs(results, isic_gap, n_seeds=2):
    for seed in range(n_seeds):
        make_run(results, "isic2018", "unet", "resnet50", "bce", 0.85 + SPREAD, seed=seed)
        make_run(results, "isic2018", "deeplabv3plus", "resnet50", "bce", 0.85 - isic_gap + SPREAD, seed=seed)
        make_run(results, "chest_xray", "unet", "resnet50", "bce", 0.90 + SPREAD, seed=seed)
        make_run(results, "chest_xray", "deeplabv3plus", "resnet50", "bce", 0.85 + SPREAD, seed=seed)
        make_run(results, "cbis_ddsm", "unet", "resnet50", "bce", 0.60 + SPREAD, seed=seed)
        make_run(results, "cbis_ddsm", "deeplabv3plus", "resnet50", "logcosh_dice", 0.70 + SPREAD, seed=seed)


def test_answer_base_is_a_non_inferiority_test_with_its_cost(tmp_path, fake_cost):
    _base_runs(tmp_path, isic_gap=0.005)
    text = report.answer_base(tmp_path)
    lines = text.splitlines()
    assert lines[0] == ("- ISIC 2018: DeepLabV3+_RN50 (BCE) 0.845 vs the best cell, U-Net_RN50 BCE 0.850: -0.005 "
                        "[-0.005, -0.005] (2 seeds): non-inferior within 0.01 at 50% of the best cell's GFLOPs per "
                        "image (1.00 vs 2.00; 20.0M vs 30.0M parameters; 0.1 vs 0.1 training minutes per run, 1.0x).")
    assert lines[1].startswith("- Montgomery (trained on Shenzhen): DeepLabV3+_RN50 (BCE) 0.850 vs the best cell, "
                               "U-Net_RN50 BCE 0.900: -0.050 [-0.050, -0.050] (2 seeds): inferior by 0.050 "
                               "[0.050, 0.050], at 50% of the best cell's GFLOPs per image")
    assert lines[2] == "- CBIS-DDSM masses: DeepLabV3+_RN50 (Log-Cosh Dice) 0.700 is the best cell itself."
    assert lines[3] == ("- **DeepLabV3+_RN50 is non-inferior within 0.01 Dice on 2 of 3 tasks** (inferior on "
                        "Montgomery (trained on Shenzhen)): at this scale the poster's conclusion is not shown "
                        "everywhere.")
    assert {size for _a, _e, size in fake_cost} == {32}  # the runs' image size
    stricter = report.answer_base(tmp_path, margin=0.001)  # the margin is the reader's, not ours
    assert "ISIC 2018: " in stricter and "inferior by 0.005 [0.005, 0.005]" in stricter


def test_answer_base_on_every_task_and_with_one_seed(tmp_path, fake_cost):
    _base_runs(tmp_path, isic_gap=0.0, n_seeds=1)
    for seed in (0,):
        make_run(tmp_path, "chest_xray", "deeplabv3plus", "resnet50", "logcosh_dice", 0.895 + SPREAD, seed=seed)
    text = report.answer_base(tmp_path)
    assert "Montgomery (trained on Shenzhen): DeepLabV3+_RN50 (Log-Cosh Dice) 0.895" in text and "(one seed)" in text
    assert "is non-inferior within 0.01 Dice to the best cell on every task**, as the poster concludes" in text
    assert text.splitlines()[-1].startswith("- One seed per configuration: the intervals cover the test images only")
