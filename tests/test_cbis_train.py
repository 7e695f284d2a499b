"""End to end on CBIS-DDSM in the Kaggle layout (tests/cbis_kaggle_fixture.py): ``train`` for both tasks, and the
run's splits.json keeps every patient in one split (the patient in both train and test: only its test images)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cbis_kaggle_fixture import EXPECTED, write_cbis_kaggle
from seg_utils.cli import main
from seg_utils.data.io import read_json


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("kaggle_input")
    write_cbis_kaggle(parent)
    return parent


@pytest.mark.parametrize("task", ["whole", "mass_crop"])
def test_train_on_the_kaggle_layout_keeps_patients_in_one_split(kaggle, task, tmp_path, capsys):
    code = main(["train", "--dataset", "cbis_ddsm", "--data-root", str(kaggle), "--cbis-task", task, "--arch", "unet",
                 "--encoder", "resnet18", "--loss", "bce", "--image-size", "32", "--epochs", "1", "--batch-size", "4",
                 "--weights", "none", "--device", "cpu", "--precision", "fp32", "--memory-format", "nchw",
                 "--results", str(tmp_path), "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    run = Path(out.out.strip().splitlines()[-1])
    splits = read_json(run / "splits.json")
    patients = {k: {re.search(r"P_\d{5}", i).group(0) for i in splits[k]} for k in ("train", "val", "test")}
    assert not patients["train"] & patients["val"]
    assert not (patients["train"] | patients["val"]) & patients["test"]
    assert EXPECTED["leaking_patient"] in patients["test"]
    unit = "mammograms" if task == "whole" else "abnormalities"
    assert len(splits["test"]) == EXPECTED[unit]["test"]
    assert len(splits["train"]) + len(splits["val"]) == EXPECTED[unit]["train"] - 1  # the leaking patient's image
    suffix = r"_\d+$" if task == "mass_crop" else r"_(CC|MLO)$"
    assert all(re.search(suffix, i) for k in ("train", "val", "test") for i in splits[k])
    assert read_json(run / "metrics.json")["n_test"] == len(splits["test"])
