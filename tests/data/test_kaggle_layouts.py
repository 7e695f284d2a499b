"""The adapters find the Kaggle copies (tests/kaggle_fixtures.py) from ``--data-root /kaggle/input``, under both mounts.

Several datasets are attached under one root, as on Kaggle: each adapter must read its own copy and nothing else,
through the copies' own nesting, and the search must not wander into folders of many files or series folders.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kaggle_fixtures import KAGGLE_COPIES, expected_counts, kaggle_mount, write_kaggle_input
from seg_utils.data import build_manifest
from seg_utils.data.layout import LEAF_SUBFOLDERS, SEARCH_DEPTH, walk_dirs
from seg_utils.errors import DataError

OLD_SEARCH_DEPTH = 4  # what the adapters searched before the ``datasets/<owner>/<slug>`` mount was handled

# name -> (mount, write_kaggle_input options)
VARIANTS = {
    # the most used copies as first mounted: ISIC without Validation/Test ground truth, chest's folder twice
    "slug": ("slug", {}),
    # the newer mount with an ISIC copy nested X/X holding every split's ground truth, chest's data/ copy only
    "datasets_nested": ("datasets", {"isic_nested": True, "isic_test_masks": True, "isic_val_masks": True,
                                     "chest_copies": ("data/Lung Segmentation",)}),
}
# expected_counts name -> (dataset, cbis_task)
MANIFESTS = {"isic2018": ("isic2018", "whole"), "chest_xray": ("chest_xray", "whole"),
             "cbis_ddsm": ("cbis_ddsm", "whole"), "cbis_ddsm_mass_crop": ("cbis_ddsm", "mass_crop")}


@pytest.fixture(scope="module")
def kaggle_inputs(tmp_path_factory) -> dict[str, Path]:
    """{variant: root}: the three copies under one root that stands for /kaggle/input, once per variant."""
    roots = {}
    for variant, (mount, options) in VARIANTS.items():
        roots[variant] = tmp_path_factory.mktemp(f"kaggle_input_{variant}")
        write_kaggle_input(roots[variant], mount, **options)
    return roots


def _counts(m: pd.DataFrame, column: str) -> dict[str, int]:
    return m[m[column] != ""].groupby("split").size().to_dict()


@pytest.mark.parametrize("name", list(MANIFESTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_adapter_finds_its_own_copy_under_both_mounts(kaggle_inputs, variant, name):
    root = kaggle_inputs[variant]
    mount, options = VARIANTS[variant]
    dataset, task = MANIFESTS[name]
    m = build_manifest(dataset, root, cbis_task=task)
    want = expected_counts(isic_test_masks=options.get("isic_test_masks", False),
                           isic_val_masks=options.get("isic_val_masks", False))[name]
    assert _counts(m, "image_path") == want["images"]
    assert _counts(m, "mask_path") == want["masks"]
    own = kaggle_mount(root, dataset, mount).resolve()
    paths = [p for col in ("image_path", "mask_path") for cell in m[col] if cell for p in cell.split("|")]
    assert paths and all(Path(p).is_relative_to(own) for p in paths), "read another dataset's files"


def test_isic_copy_without_test_masks_leaves_their_mask_paths_empty(kaggle_inputs):
    m = build_manifest("isic2018", kaggle_inputs["slug"])  # the tschandl copy: ground truth for Training only
    test, val = m[m.split == "test"], m[m.split == "val"]
    assert len(test) == 8 and (test.mask_path == "").all() and (test.image_path != "").all()
    assert len(val) == 4 and (val.mask_path == "").all()
    assert (m[m.split == "train"].mask_path != "").all()
    assert set(m.source) == {"isic2018"}


def test_copies_one_level_deeper_than_the_old_search_are_found(kaggle_inputs):
    root = kaggle_inputs["datasets_nested"]
    isic = kaggle_mount(root, "isic2018", "datasets")
    inner = isic / "ISIC2018_Task1-2_Training_Input" / "ISIC2018_Task1-2_Training_Input"
    lungs = kaggle_mount(root, "chest_xray", "datasets") / "data" / "Lung Segmentation"
    for folder in (inner, lungs):
        assert len(folder.relative_to(root).parts) == OLD_SEARCH_DEPTH + 1 <= SEARCH_DEPTH
        assert folder not in set(walk_dirs(root, depth=OLD_SEARCH_DEPTH))  # the old search missed them
    isic_m = build_manifest("isic2018", root)
    assert {Path(p).parent for p in isic_m[isic_m.split == "train"].image_path} == {inner}
    chest_m = build_manifest("chest_xray", root)
    assert {Path(p).parent.parent for p in chest_m.image_path} == {lungs}


def test_chest_folder_held_twice_is_read_once_from_the_shallower_copy(kaggle_inputs):
    root = kaggle_inputs["slug"]
    top = kaggle_mount(root, "chest_xray", "slug") / "Lung Segmentation"
    assert (top.parent / "data" / "Lung Segmentation" / "CXR_png").is_dir()
    m = build_manifest("chest_xray", root)
    assert m.image_id.is_unique
    assert {Path(p).parent.parent for col in ("image_path", "mask_path") for p in m[col] if p} == {top}


def test_search_does_not_enter_series_folders_or_folders_of_many_images(tmp_path, monkeypatch):
    root = tmp_path / "input"
    mounts = write_kaggle_input(root, "datasets", n_train=4, n_test=2, isic_nested=True)
    jpeg = mounts["cbis_ddsm"] / "jpeg"  # the real one holds ~6,700 series folders
    decoys = {jpeg / f"1.3.6.1.4.1.9590.100.1.2.{900000 + k}" for k in range(2000)}
    for d in decoys:
        d.mkdir()
    pile = root / "datasets" / "someone" / "photos"  # 2,000 images, and a dataset hidden below them
    pile.mkdir(parents=True)
    for k in range(2000):
        (pile / f"img_{k:04d}.jpg").touch()
    hidden = pile / "more" / "ISIC2018_Task1-2_Training_Input"
    hidden.mkdir(parents=True)
    (hidden / "ISIC_9999999.jpg").touch()
    n_dirs = sum(1 for _ in root.rglob("*") if _.is_dir())
    assert n_dirs > 2000

    listed: list[Path] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path="."):
        listed.append(Path(os.fspath(path)))
        return real_scandir(path)

    def listdir(path="."):
        listed.append(Path(os.fspath(path)))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    visited = list(walk_dirs(root))
    assert len(visited) < 100 and jpeg in visited and pile in visited
    assert not any(p.is_relative_to(jpeg) and p != jpeg for p in visited)
    assert not any(p.is_relative_to(pile) and p != pile for p in visited)
    for dataset in ("isic2018", "chest_xray"):
        listed.clear()
        m = build_manifest(dataset, root)
        assert not any(p.is_relative_to(jpeg) and p != jpeg for p in listed), dataset
        assert not any(p.is_relative_to(pile) and p != pile for p in listed), dataset
        assert len(listed) < 100, (dataset, len(listed))
        assert "ISIC_9999999" not in set(m.image_id)
    cbis = mounts["cbis_ddsm"]
    assert list(walk_dirs(cbis)) == [cbis, cbis / "csv", jpeg]  # not the series below jpeg/
    assert len(decoys) >= LEAF_SUBFOLDERS
    listed.clear()
    m = build_manifest("cbis_ddsm", root)  # the adapter reads the series its csvs name, never the decoys
    assert not decoys & set(listed)
    assert len(m) == sum(expected_counts(n_train=4, n_test=2)["cbis_ddsm"]["images"].values())


def test_a_root_without_the_dataset_says_what_was_looked_for_and_found(tmp_path):
    mounts = write_kaggle_input(tmp_path, "datasets", n_train=2, n_test=1)
    shutil.rmtree(mounts["isic2018"])
    with pytest.raises(DataError, match=rf"no ISIC layout under {re.escape(str(tmp_path.resolve()))}: looked for "
                                        rf"folders named ISIC\*_Training_\*.*searched {SEARCH_DEPTH} levels down.*"
                                        r"found datasets/"):
        build_manifest("isic2018", tmp_path)
    assert build_manifest("chest_xray", tmp_path).split.tolist().count("test") == 1  # the others still read


def test_fixture_is_small_and_names_every_copy(tmp_path):
    mounts = write_kaggle_input(tmp_path)
    assert set(mounts) == set(KAGGLE_COPIES) and all(p.is_dir() for p in mounts.values())
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert size < 5_000_000, size
    with pytest.raises(ValueError, match="unknown mount 'kaggle'"):
        write_kaggle_input(tmp_path / "other", "kaggle")
