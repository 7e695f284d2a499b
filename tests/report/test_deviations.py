"""What differs from the poster, read from fabricated run folders (a run from scratch at 64 px, 3 epochs) and the
dataset notebook's quality table; the release read named in headings, quality notes and the literature table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fabricate import make_run
from seg_utils import report
from seg_utils.data.io import read_json, write_csv, write_json
from seg_utils.report.deviations import DEVIATION_COLUMNS
from seg_utils.study.reference import poster_literature

SPREAD = np.linspace(-0.05, 0.05, 12)


def _scratch_run(results, dataset="isic2018", arch="unet", encoder="resnet50", loss="bce", seed=0, **spec):
    """A complete run from scratch at 64 px, 3 epochs (at most 3), with the records a real run writes."""
    run = make_run(results, dataset, arch, encoder, loss, 0.7 + SPREAD, seed=seed, epochs=3)
    write_json(run / "spec.json", {**read_json(run / "spec.json"), "image_size": 64, **spec})
    write_json(run / "metrics.json", {**read_json(run / "metrics.json"), "n_train": 1992, "n_val": 148, "n_test": 598,
                                      "stopped_early": False, "precision": "bf16 autocast, channels_last"})
    return run


def _quality(results, dataset, sources):
    """The quality table a dataset notebook writes, with the release its adapter read (``source``) per split."""
    write_csv(results / "tables" / f"quality_{dataset}.csv", pd.DataFrame(
        {"dataset": dataset, "split": list(sources), "source": list(sources.values()), "unit": "image",
         "starting": [2000, 150, 600][: len(sources)], "excluded": 0, "final": [1992, 148, 598][: len(sources)]}))


def _summary(results, dataset, **parameters):
    """The dataset notebook's summary: the options of its grid (select_runs keeps the runs that have them)."""
    write_json(results / "summaries" / f"dataset_{dataset}.json", {"notebook": f"dataset_{dataset}",
                                                                    "parameters": parameters, "runs": []})


def _facts(df, dataset):
    return df[df.dataset == dataset].set_index("aspect")


def test_deviations_read_the_runs_own_records(tmp_path):
    _scratch_run(tmp_path, seed=0)
    _scratch_run(tmp_path, seed=1)
    _quality(tmp_path, "isic2018", {"train": "isic2017", "val": "isic2017", "test": "isic2017"})
    df = report.deviations(tmp_path)
    assert list(df.columns) == DEVIATION_COLUMNS
    assert set(df.dataset) == {"isic2018"}  # the other datasets have no run and no quality table
    facts = _facts(df, "isic2018")
    assert facts.loc["data read (train / val / test images)", "ours"] == "ISIC 2017, 1992 / 148 / 598"
    assert facts.loc["data read (train / val / test images)", "poster"] == "ISIC 2018, 2480 / — / 1000"
    assert facts.loc["encoder weights", ["ours", "poster"]].tolist() == ["none (from scratch)", "ImageNet"]
    assert facts.loc["input size", ["ours", "poster"]].tolist() == ["64 px", "224 px"]
    assert facts.loc["epochs", "ours"] == "3 of at most 3 epochs run; 0 of 2 run(s) stopped early"
    assert facts.loc["seeds", "ours"] == "0, 1"  # both seeds of the one configuration
    assert facts.loc["batch size", ["ours", "poster", "differs"]].tolist() == ["4", "32", True]
    assert facts.loc["precision used", "ours"] == "bf16 autocast, channels_last"
    assert facts.loc["test set", "ours"] == "official test set" and not facts.loc["test set", "differs"]
    assert facts.loc["runs", "ours"] == "2 complete"
    differs = set(facts.index[facts.differs])
    assert differs == {"data read (train / val / test images)", "encoder weights", "input size", "batch size", "epochs"}
    _scratch_run(tmp_path, encoder="vgg19")  # a second configuration with one seed
    assert _facts(report.deviations(tmp_path), "isic2018").loc["seeds", "ours"] == "0, 1 (1 to 2 per configuration)"


def test_cbis_task_variant_and_held_out_test_set_are_stated(tmp_path):
    options = {"cbis_task": "mass_crop", "test_source": "train_fraction", "test_fraction": 0.2}
    _scratch_run(tmp_path, "cbis_ddsm", **options)
    _summary(tmp_path, "cbis_ddsm", data_root="../shared/data", **options)
    facts = _facts(report.deviations(tmp_path, "cbis_ddsm"), "cbis_ddsm")
    assert facts.loc["task variant", "ours"] == "oracle crop around each mass (mass_crop)"
    assert facts.loc["task variant", "poster"] == "whole mammogram" and facts.loc["task variant", "differs"]
    assert facts.loc["test set", "ours"].startswith("HELD OUT OF TRAINING: 20% of the training images")
    assert facts.loc["test set", "differs"]
    assert facts.loc["data read (train / val / test images)", "ours"].startswith("release not recorded")


def test_the_box_shows_what_differs_first_and_names_the_release(tmp_path):
    _scratch_run(tmp_path)
    _quality(tmp_path, "isic2018", {"train": "isic2017", "test": "isic2017"})
    box = report.deviation_box(tmp_path)
    assert "What differs from the poster" in box and "<b>ISIC 2017 (the poster: ISIC 2018)</b>" in box
    assert box.index("input size") < box.index("seeds")  # differing aspects first
    assert "64 px <span" in box and "(poster: 224 px)" in box
    assert report.deviation_box(tmp_path / "empty") == ""


def test_synthetic_data_is_said_in_the_box(tmp_path):
    _scratch_run(tmp_path)
    _quality(tmp_path, "isic2018", {"train": "isic2018", "test": "isic2018"})
    _summary(tmp_path, "isic2018", data_root="")
    facts = _facts(report.deviations(tmp_path), "isic2018")
    assert facts.loc["data read (train / val / test images)", "ours"].startswith("SYNTHETIC demo data in the ISIC 2018")
    assert facts.loc["data read (train / val / test images)", "differs"]


def test_headings_name_the_release_read(tmp_path):
    assert report.dataset_names(tmp_path)["isic2018"] == "ISIC 2018"  # nothing read: the poster's name
    _quality(tmp_path, "isic2018", {"train": "isic2017", "test": "isic2017"})
    _quality(tmp_path, "chest_xray", {"train": "shenzhen", "test": "montgomery"})
    names = report.dataset_names(tmp_path)
    assert names["isic2018"] == "ISIC 2017" and names["chest_xray"] == "Montgomery (trained on Shenzhen)"
    for seed in (0, 1):
        make_run(tmp_path, "isic2018", "unet", "resnet50", "bce", 0.7 + SPREAD, seed=seed)
    table = report.table_encoders(tmp_path)
    assert "ISIC 2017 read for the poster's ISIC 2018" in table.attrs["title"]


def test_quality_table_says_the_releases_differ_instead_of_a_bare_difference(tmp_path):
    pd.DataFrame({"dataset": "isic2018", "split": ["train", "val", "test"], "source": "isic2017",
                  "starting": [2000, 150, 600], "excluded": [8, 2, 2], "final": [1992, 148, 598],
                  "used": [1992, 148, 598], "poster_starting": [2594, None, 1000], "poster_final": [2480, None, 1000],
                  "diff_final": [-488, None, -402]}).to_csv(
        (tmp_path / "tables").mkdir() or tmp_path / "tables" / "quality_isic2018.csv", index=False)
    df = report.table_quality(tmp_path)
    isic = df[df.dataset == "isic2018"]
    assert isic.diff_final.isna().all() and isic.final.tolist() == [1992, 148, 598]
    note = next(n for n in df.attrs["notes"] if "release was read" in n)
    assert "the ISIC 2017 release was read, not the poster's ISIC 2018" in note and "train 1992 vs 2480" in note
    assert "-488" not in report.to_markdown(df)
    assert df[df.dataset == "chest_xray"].diff_final.isna().all()  # no quality table: poster counts only


def test_literature_marks_every_row_comparable_by_the_task_variant(tmp_path):
    for arch in ("unet", "deeplabv3plus"):
        _scratch_run(tmp_path, "cbis_ddsm", arch=arch, cbis_task="mass_crop")
    _summary(tmp_path, "cbis_ddsm", cbis_task="mass_crop")
    df = report.table_literature(tmp_path)
    ours = df.iloc[-1]
    assert ours.work == "this study" and ours.task == "oracle crop around each mass (mass_crop)"
    assert ours.setting.startswith("oracle crop around each mass (mass_crop); best of our")
    assert ours.comparable and not df.comparable.iloc[:-1].any()  # no literature row is an oracle crop
    assert np.isnan(ours.poster) and np.isnan(ours["diff"])  # the poster's value is of whole mammograms
    assert any(n.startswith("this study: poster and diff blank: the poster's U-Net (ResNet50) BCE value (")
               for n in df.attrs["notes"])
    lit = poster_literature()
    assert df.task.iloc[: len(lit)].tolist().count("not stated on the poster") == (lit.task == "").sum()
    assert any(n.startswith("comparable: the row's task variant is ours (oracle crop") for n in df.attrs["notes"])


def test_literature_whole_mammograms_are_comparable_with_the_poster_row(tmp_path):
    _scratch_run(tmp_path, "cbis_ddsm")
    df = report.table_literature(tmp_path).set_index("work")
    assert df.comparable.to_dict() == pytest.approx({w: w in ("the poster", "this study") for w in df.index})
    assert df.loc["this study", "diff"] == pytest.approx(df.loc["this study", "dice"] - df.loc["this study", "poster"])


def test_a_run_recorded_before_the_test_source_existed_was_scored_on_the_official_test_set(tmp_path):
    old = _scratch_run(tmp_path, "isic2018")
    spec = read_json(old / "spec.json")
    write_json(old / "spec.json", {k: v for k, v in spec.items() if k not in ("test_source", "test_fraction")})
    _scratch_run(tmp_path, "isic2018", seed=1)
    _summary(tmp_path, "isic2018", data_root="../shared/data")
    facts = _facts(report.deviations(tmp_path, "isic2018"), "isic2018")
    assert facts.loc["test set", "ours"] == "official test set" and not facts.loc["test set", "differs"]
