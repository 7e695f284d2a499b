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
    gaps = tests[tests.p_value.isna()]
    assert len(gaps) == 3 and ((gaps.a == "U-Net_DN121") | (gaps.b == "U-Net_DN121")).all()
    assert any("not compared" in n for n in tests.attrs["notes"])


def test_empty_results_give_an_all_missing_table(tmp_path):
    df = report.table_losses(tmp_path)
    assert len(df) == 12 and (df.status == "missing").all() and df.dice.isna().all()
    assert df.poster.notna().all()
    tests = report.compare_losses(tmp_path)
    assert len(tests) == 6 and tests.p_value.isna().all() and not tests.significant.any()


def test_table1_comparisons_find_the_real_difference(tmp_path):
    base = 0.8 + SPREAD
    for a in ARCHS:
        for e in ENCODERS:
            make_run(tmp_path, "isic2018", a, e, "bce", base + (0.1 if (a, e) == ("unet", "resnet50") else 0.0))
    tests = report.compare_encoders(tmp_path)
    assert list(tests.columns) == ["comparison", "a", "b", "n", "mean_a", "mean_b", "diff", "diff_ci_low",
                                   "diff_ci_high", "p_value", "p_holm", "significant"]
    involves = (tests.a == "U-Net_RN50") | (tests.b == "U-Net_RN50")
    assert tests[involves].significant.all()  # +0.1 on each of 12 images
    assert not tests[~involves].significant.any()  # identical per-image values
    assert (tests[~involves].p_value == 1.0).all()
    assert (tests.p_holm >= tests.p_value).all()
    vgg_rn = tests[(tests.a == "U-Net_VGG19") & (tests.b == "U-Net_RN50")].iloc[0]
    assert vgg_rn["diff"] == pytest.approx(0.1)


def test_seeds_are_pooled_and_their_spread_reported(tmp_path):
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.80 + SPREAD, seed=0)
    make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.90 + SPREAD, seed=1)
    row = report.table_encoders(tmp_path).set_index("model").loc["U-Net_RN50"]
    assert row.n_seeds == 2
    assert row.dice == pytest.approx(0.85) and row.seed_mean == pytest.approx(0.85)
    assert row.seed_sd == pytest.approx(np.std([0.8, 0.9], ddof=1))
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
    assert "a\\|b" in md and "0.877" in md and "0.000123" in md and "yes" in md and "| 566 |" in md and "—" in md


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
