"""ISIC is explicit: the official Validation folder stays split ``val``, and a root holding several years is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seg_utils.data import build_manifest
from seg_utils.errors import DataError

YEARS = {
    "2016": ("ISBI2016_ISIC_Part1_{split}_Data", "ISBI2016_ISIC_Part1_{split}_GroundTruth"),
    "2017": ("ISIC-2017_{split}_Data", "ISIC-2017_{split}_Part1_GroundTruth"),
    "2018": ("ISIC2018_Task1-2_{split}_Input", "ISIC2018_Task1_{split}_GroundTruth"),
}


def _year(root: Path, year: str, splits=("Training", "Validation", "Test")) -> None:
    images, masks = YEARS[year]
    for k, split in enumerate(splits):
        name = f"ISIC_{int(year) * 100 + k:07d}"
        for folder, file, value in ((images.format(split=split), f"{name}.jpg", 128),
                                    (masks.format(split=split), f"{name}_segmentation.png", 255)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(root / folder / file,
                                                                   "JPEG" if file.endswith(".jpg") else "PNG")


def test_official_validation_rows_stay_split_val(tmp_path):
    _year(tmp_path / "isic-2017", "2017")
    m = build_manifest("isic2018", tmp_path)
    assert m.groupby("split").size().to_dict() == {"train": 1, "val": 1, "test": 1}
    assert set(m.source) == {"isic2017"} and "patient" not in m.columns


def test_several_years_in_their_own_folders_are_refused_with_the_folders_to_pick(tmp_path):
    for year in YEARS:
        _year(tmp_path / f"isic{year}", year)
    with pytest.raises(DataError) as err:
        build_manifest("isic2018", tmp_path)
    msg = str(err.value)
    assert "several years" in msg and "not merged" in msg
    for year in YEARS:
        assert f"{year}: isic{year}/" in msg  # each year with its folders
        assert str(tmp_path / f"isic{year}") in msg  # ... and the folder to pass as the data root
    assert "--data-root" in msg
    assert set(build_manifest("isic2018", tmp_path / "isic2016").source) == {"isic2016"}  # one year: fine


def test_several_years_side_by_side_say_how_to_separate_them(tmp_path):
    _year(tmp_path, "2017", ("Training",))
    _year(tmp_path, "2018", ("Training", "Test"))
    with pytest.raises(DataError, match=r"2017: ISIC-2017_Training_Data.*2018: ISIC2018_Task1-2_Test_Input.*"
                                        r"put each year's folders in a folder of their own"):
        build_manifest("isic2018", tmp_path)
