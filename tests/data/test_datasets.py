from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import real_data
from seg_utils.data import DATASETS, MANIFEST_COLUMNS, build_manifest, limit_manifest, manifest_fingerprint
from seg_utils.errors import ConfigError, DataError


def _png(path: Path, value: int = 128, size=(8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


@pytest.mark.parametrize("name", ["isic2018", "chest_xray", "cbis_ddsm"])
def test_synthetic_layouts_read_by_adapters(synthetic_root, name):
    m = build_manifest(name, synthetic_root / name)
    assert list(m.columns) == MANIFEST_COLUMNS + (["patient"] if name == "cbis_ddsm" else [])
    assert set(m.split) == {"train", "test"}
    paired = m[(m.image_path != "") & (m.mask_path != "")]
    assert (paired.split == "test").sum() == 8 and (paired.split == "train").sum() == 24


def test_chest_xray_orphans_and_sources(synthetic_root):
    m = build_manifest("chest_xray", synthetic_root / "chest_xray")
    assert set(m[m.split == "train"].source) == {"shenzhen"} and set(m[m.split == "test"].source) == {"montgomery"}
    orphans = m[m.mask_path == ""]
    assert len(orphans) == 2 and orphans.image_id.str.startswith("CHNCXR").all()


def test_kaggle_mirror_one_level_deeper_with_spaces(synthetic_root, tmp_path):
    deep = tmp_path / "kaggle input" / "chest-xray-masks-and-labels" / "data"
    shutil.copytree(synthetic_root / "chest_xray", deep)
    m = build_manifest("chest_xray", tmp_path)
    assert (m.split == "test").sum() == 8
    assert all(" " in p for p in m.image_path)


def test_isic_2017_and_2016_layouts(tmp_path):
    for folder, mask_folder in (("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
                                ("ISBI2016_ISIC_Part1_Test_Data", "ISBI2016_ISIC_Part1_Test_GroundTruth")):
        _png(tmp_path / folder / "ISIC_0000001.png")
        (tmp_path / folder / "ISIC_0000001.png").rename(tmp_path / folder / "ISIC_0000001.jpg")
        _png(tmp_path / folder / "ISIC_0000001_superpixels.png")
        _png(tmp_path / mask_folder / "ISIC_0000001_segmentation.png", 255)
    with pytest.raises(DataError, match="several years"):  # two releases in one root are never merged
        build_manifest("isic2018", tmp_path)
    for year, split in (("2017", "train"), ("2016", "test")):  # each year read from a folder of its own
        (tmp_path / year).mkdir()
        for d in tmp_path.glob(f"*{year}_*"):
            d.rename(tmp_path / year / d.name)
        m = build_manifest("isic2018", tmp_path / year)
        assert m.split.tolist() == [split] and m.source.tolist() == [f"isic{year}"]
        assert (m.mask_path != "").all() and not m.image_path.str.contains("superpixels").any()


def test_nlm_montgomery_masks_are_united(tmp_path):
    root = tmp_path / "MontgomerySet"
    _png(root / "CXR_png" / "MCUCXR_0001_0.png")
    left, right = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    left[:, :3], right[:, 5:] = 255, 255
    for side, arr in (("leftMask", left), ("rightMask", right)):
        (root / "ManualMask" / side).mkdir(parents=True)
        Image.fromarray(arr).save(root / "ManualMask" / side / "MCUCXR_0001_0.png")
    m = build_manifest("chest_xray", tmp_path)
    from seg_utils.data.io import read_mask

    assert read_mask(m.mask_path.iloc[0]).sum() == 8 * 6


def test_folder_layout_with_and_without_splits(tmp_path):
    _png(tmp_path / "a" / "images" / "x1.png")
    _png(tmp_path / "a" / "masks" / "x1_mask.png", 255)
    assert build_manifest("folder", tmp_path / "a").split.tolist() == ["test"]
    for split in ("train", "test"):
        _png(tmp_path / "b" / split / "images" / f"{split}1.png")
        _png(tmp_path / "b" / split / "masks" / f"{split}1.png", 255)
    assert sorted(build_manifest("folder", tmp_path / "b").split) == ["test", "train"]


def test_wrong_root_says_what_was_looked_for_and_found(tmp_path):
    (tmp_path / "something_else").mkdir()
    with pytest.raises(DataError, match=r"looked for .*CXR_png.*found something_else/"):
        build_manifest("chest_xray", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        build_manifest("isic2018", tmp_path / "nope")
    with pytest.raises(ConfigError, match="valid: " + ", ".join(DATASETS)):
        build_manifest("isic2019", tmp_path)


def test_limit_and_fingerprint(synthetic_root):
    m = build_manifest("cbis_ddsm", synthetic_root / "cbis_ddsm")
    small = limit_manifest(m, 3)
    assert small.groupby("split").size().to_dict() == {"test": 3, "train": 3}
    assert manifest_fingerprint(m) == manifest_fingerprint(m.copy())
    assert manifest_fingerprint(m) != manifest_fingerprint(small)


@pytest.mark.real_data
@pytest.mark.parametrize("name,folder,counts", [
    ("chest_xray", "chest_xray", {"train": 566, "test": 138}),
    ("isic2018", "isic2017", {"train": 2000, "val": 150, "test": 600}),
    ("cbis_ddsm", "cbis_ddsm", {"train": 1231, "test": 361}),
])
def test_real_sample_layouts(name, folder, counts):
    m = build_manifest(name, real_data(folder))
    assert m.groupby("split").size().to_dict() == counts
    assert (m.mask_path != "").all() and (m.image_path != "").all()
