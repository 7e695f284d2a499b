"""CBIS-DDSM: the Kaggle JPEG layout read in place (tests/cbis_kaggle_fixture.py), the flat layout, both tasks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cbis_kaggle_fixture import COLS, EXPECTED, ROWS, write_cbis_kaggle
from seg_utils.cli import main
from seg_utils.data import build_manifest, inspect_manifest
from seg_utils.data.cache import parse_crop, preprocess_pair, read_native_mask
from seg_utils.data.crops import CROP_MIN_SIDE, crop_window
from seg_utils.data.io import MASK_PART_SEPARATOR, read_mask
from seg_utils.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory) -> Path:
    """The fixture's parent folder (like /kaggle/input): the adapter finds the slug folder below it."""
    parent = tmp_path_factory.mktemp("kaggle_input")
    write_cbis_kaggle(parent)
    return parent


@pytest.fixture(scope="module")
def whole(kaggle) -> pd.DataFrame:
    return build_manifest("cbis_ddsm", kaggle, cbis_task="whole")


@pytest.fixture(scope="module")
def crops(kaggle) -> pd.DataFrame:
    return build_manifest("cbis_ddsm", kaggle, cbis_task="mass_crop")


def _row(m: pd.DataFrame, image_id: str) -> pd.Series:
    return m.set_index("image_id").loc[image_id]


# ---------------------------------------------------------------------------------------------- Kaggle layout


def test_kaggle_whole_has_one_row_per_mammogram_with_patients(whole):
    assert whole.groupby("split").size().to_dict() == EXPECTED["mammograms"]
    assert (whole.image_path != "").all() and (whole.mask_path != "").all()
    assert whole.image_id.str.match(r"^Mass-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)$").all()
    assert (whole.patient == whole.image_id.str.extract(r"(P_\d{5})")[0]).all()
    assert not whole.image_id.str.startswith("Calc").any()  # the calcification case is skipped
    assert whole.resize_mask.all()
    for path in whole.image_path:  # full mammograms, never crops or masks
        assert Image.open(path).size == (COLS, ROWS)


def test_kaggle_whole_mask_is_the_union_of_the_masses(whole):
    row = _row(whole, EXPECTED["two_masses"])
    assert len(row.mask_path.split(MASK_PART_SEPARATOR)) == 2
    mask = read_mask(row.mask_path)
    expected = np.zeros((ROWS, COLS), bool)
    expected[16:32, 8:24] = expected[24:40, 32:48] = True  # the fixture's two boxes
    assert np.array_equal(mask, expected)


def test_kaggle_swapped_crop_and_mask_are_told_apart_by_size(whole):
    row = _row(whole, EXPECTED["swapped"])
    assert Image.open(row.mask_path).size == (COLS, ROWS)  # the csv's ROI path names the crop's series
    mask = read_mask(row.mask_path)
    assert mask.sum() == 24 * 24 and mask[40:64, 24:48].all()


def test_kaggle_odd_size_mask_is_resized_with_a_warning_not_dropped(whole):
    row = _row(whole, EXPECTED["half_size_mask"])
    assert Image.open(row.mask_path).size == (COLS // 2, ROWS // 2)
    report = inspect_manifest(whole)
    f = report.findings.set_index(["image_id", "check"])
    detail = f.loc[(EXPECTED["half_size_mask"], "mask_resized")]
    assert detail.action == "warn" and "40x48" in detail.detail and "80x96" in detail.detail
    assert EXPECTED["half_size_mask"] in set(report.clean.image_id)
    assert "size_mismatch" not in set(report.findings.check)
    full = np.zeros((ROWS, COLS), np.uint8)
    full[16:32, 16:32] = 1  # the fixture's box, drawn at the mammogram's size
    _, mask = preprocess_pair(row.image_path, row.mask_path, 32)  # the cache reads it at the image's size
    assert np.array_equal(mask, cv2.resize(full, (32, 32), interpolation=cv2.INTER_NEAREST))
    assert np.array_equal(read_native_mask(row), full.astype(bool))


def test_kaggle_mass_crop_has_one_row_per_abnormality(crops):
    assert crops.groupby("split").size().to_dict() == EXPECTED["abnormalities"]
    assert crops.image_id.str.match(r"^Mass-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)_\d+$").all()
    first, second = (_row(crops, f"{EXPECTED['two_masses']}_{k}") for k in (1, 2))
    assert first.image_path == second.image_path and first.mask_path == second.mask_path  # never merged into one
    assert first.crop != second.crop
    for row in (first, second):
        y0, x0, y1, x1 = parse_crop(row.crop)
        assert y1 - y0 == x1 - x0 >= CROP_MIN_SIDE  # square, declared context


def test_kaggle_mass_crop_window_holds_every_mass_inside_it(crops):
    first = _row(crops, f"{EXPECTED['two_masses']}_1")
    assert parse_crop(first.crop) == crop_window((16, 8, 32, 24)) == (8, 0, 40, 32)
    native = read_native_mask(first)
    assert native.shape == (32, 32)
    expected = np.zeros((ROWS, COLS), bool)
    expected[16:32, 8:24] = expected[24:40, 32:48] = True  # the second mass reaches into the first's window
    assert np.array_equal(native, expected[8:40, 0:32])
    corner = _row(crops, "Mass-Test_P_00021_RIGHT_CC_2")  # a window leaving the mammogram: zero-padded
    image, mask = preprocess_pair(corner.image_path, corner.mask_path, 48, crop=corner.crop)
    assert image.shape == (48, 48, 3) and image[-1].max() == 0 and mask.any()


@pytest.mark.parametrize("task", ["whole", "mass_crop"])
def test_inspect_cli_on_the_kaggle_layout(kaggle, task, tmp_path, capsys):
    code = main(["inspect", "--dataset", "cbis_ddsm", "--data-root", str(kaggle), "--cbis-task", task, "--out",
                 str(tmp_path / "q.csv"), "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    findings = pd.read_csv(tmp_path / "q.csv")
    assert set(findings.check) == {"mask_resized", "patient_leak"}  # crops of one mammogram are not duplicates
    summary = pd.read_csv(tmp_path / "q_summary.csv").set_index("split")
    unit = "mammograms" if task == "whole" else "abnormalities"
    assert summary.starting.to_dict() == EXPECTED[unit]
    assert summary.final.to_dict() == {"train": EXPECTED[unit]["train"] - 1, "test": EXPECTED[unit]["test"]}


def test_kaggle_layout_errors_say_what_is_wrong(tmp_path):
    root = write_cbis_kaggle(tmp_path)
    with pytest.raises(ConfigError, match="whole, mass_crop"):
        build_manifest("cbis_ddsm", tmp_path, cbis_task="mass")
    case = root / "csv" / "mass_case_description_train_set.csv"
    case.write_text(case.read_text().replace("ROI mask file path", "roi"))
    with pytest.raises(DataError, match=r"lacks the columns \['ROI mask file path'\]"):
        build_manifest("cbis_ddsm", tmp_path)
    (root / "jpeg").rename(root / "images_elsewhere")
    with pytest.raises(DataError, match="csv/mass_case_description.*jpeg"):
        build_manifest("cbis_ddsm", tmp_path)


# ------------------------------------------------------------------------------------------------ flat layout


def _flat(root: Path, name: str, boxes: list[tuple[int, int, int, int]], size: int = 64) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    mask = np.zeros((size, size), np.uint8)
    for y0, x0, y1, x1 in boxes:
        mask[y0:y1, x0:x1] = 255
    for folder, arr in (("images", rng.integers(0, 255, (size, size), dtype=np.uint8)), ("masks", mask)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / folder / f"{name}.png")


def test_flat_mass_crop_takes_connected_components_and_numbered_files(tmp_path):
    _flat(tmp_path, "Mass-Training_P_00001_LEFT_CC", [(4, 4, 12, 12), (40, 40, 50, 56)])  # merged: two masses
    _flat(tmp_path, "Mass-Training_P_00002_LEFT_MLO_1", [(10, 10, 20, 20)])  # one file per abnormality
    _flat(tmp_path, "Mass-Training_P_00002_LEFT_MLO_2", [(30, 30, 34, 34)])
    _flat(tmp_path, "Calc-Training_P_00003_LEFT_CC", [(5, 5, 9, 9)])
    _flat(tmp_path, "Mass-Test_P_00004_RIGHT_CC", [(20, 20, 30, 30)])
    whole = build_manifest("cbis_ddsm", tmp_path)
    assert whole.image_id.tolist() == ["Mass-Training_P_00001_LEFT_CC", "Mass-Training_P_00002_LEFT_MLO",
                                       "Mass-Test_P_00004_RIGHT_CC"]
    assert read_mask(_row(whole, "Mass-Training_P_00002_LEFT_MLO").mask_path).sum() == 100 + 16  # united
    crops = build_manifest("cbis_ddsm", tmp_path, cbis_task="mass_crop")
    assert crops.image_id.tolist() == ["Mass-Training_P_00001_LEFT_CC_1", "Mass-Training_P_00001_LEFT_CC_2",
                                       "Mass-Training_P_00002_LEFT_MLO_1", "Mass-Training_P_00002_LEFT_MLO_2",
                                       "Mass-Test_P_00004_RIGHT_CC_1"]
    assert parse_crop(_row(crops, "Mass-Training_P_00001_LEFT_CC_2").crop) == crop_window((40, 40, 50, 56))
    assert crops.patient.tolist() == ["P_00001", "P_00001", "P_00002", "P_00002", "P_00004"]
    report = inspect_manifest(crops)
    assert report.findings.empty, report.findings.to_string()  # overlapping crops of one image are no duplicates
    assert report.clean.groupby("group").size().to_dict() == {"P_00001": 2, "P_00002": 2, "P_00004": 1}
