"""The inspection's patients and groups: patient leaks, train-vs-validation copies, crops of one image, the ``group``
column the validation split is drawn by, and masks whose parts differ in size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from seg_utils.data import MANIFEST_COLUMNS, inspect_manifest
from seg_utils.data.io import MASK_PART_SEPARATOR, read_mask_raw
from seg_utils.data.quality import CHECKS
from seg_utils.study.splits import split_rows

SIZE = 64


def _smooth(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(6, 6)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.BICUBIC))


def _square(y: int = 16, x: int = 16, side: int = 24, size: int = SIZE) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[y:y + side, x:x + side] = 255
    return m


def _save(arr: np.ndarray, path: Path, fmt: str | None = None) -> str:
    Image.fromarray(arr).save(path, fmt)
    return str(path)


def _jpeg_copy(arr: np.ndarray, path: Path, gain: float = 1.04) -> str:
    """A brightened, JPEG re-encoded copy: a near (not exact) duplicate."""
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr.astype(float) * gain + 3, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    path.write_bytes(buf.getvalue())
    return str(path)


def _manifest(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    return df[[*MANIFEST_COLUMNS, *[c for c in df.columns if c not in MANIFEST_COLUMNS]]]


def _found(report) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in report.findings.itertuples():
        out.setdefault((r.split, r.image_id), {})[r.check] = r.action
    return out


def _consistent(report) -> None:
    s = report.summary
    assert (s.starting - s[[f"excluded_{c}" for c in CHECKS]].sum(axis=1) == s.final).all()
    assert s.final.sum() == len(report.clean)


def test_mask_parts_of_different_sizes_are_resized_not_refused(tmp_path):
    big, small = _save(_square(), tmp_path / "big.png"), _save(_square(4, 4, 8, size=32), tmp_path / "small.png")
    united = read_mask_raw(f"{big}{MASK_PART_SEPARATOR}{small}")
    assert united.shape == (SIZE, SIZE) and set(np.unique(united)) == {0, 255}
    assert united[8:24, 8:24].all() and united[16:40, 16:40].all()  # the small part, scaled by 2 (nearest)
    assert read_mask_raw(small, (SIZE, SIZE)).shape == (SIZE, SIZE)  # to the image's size when given


def test_patients_never_straddle_splits_and_each_exclusion_says_why(tmp_path):
    rows = []
    for k, (split, patient) in enumerate([("train", "P_1"), ("train", "P_1"), ("train", "P_2"), ("val", "P_2"),
                                          ("val", "P_3"), ("test", "P_3"), ("train", "P_4"), ("train", ""),
                                          ("test", "P_5")]):
        rows.append({"image_id": f"img{k}", "image_path": _save(_smooth(k + 1), tmp_path / f"i{k}.png"),
                     "mask_path": _save(_square(), tmp_path / f"m{k}.png"), "split": split, "source": "x",
                     "patient": patient})
    report = inspect_manifest(_manifest(rows))
    found = _found(report)
    assert found == {("train", "img2"): {"patient_leak": "exclude"}, ("val", "img4"): {"patient_leak": "exclude"}}
    detail = report.findings.set_index("image_id").detail
    assert "patient P_2" in detail["img2"] and "validation" in detail["img2"] and "img3" in detail["img2"]
    assert "patient P_3" in detail["img4"] and "test split (img5)" in detail["img4"]
    _consistent(report)
    assert report.summary.set_index("split").excluded_patient_leak.to_dict() == {"train": 1, "val": 1, "test": 0}
    groups = report.clean.set_index("image_id").group
    assert groups["img0"] == groups["img1"] == "P_1" and groups["img7"] == "img7"


def test_train_copies_of_validation_images_are_excluded_the_val_copy_kept(tmp_path):
    base = {"source": "x"}
    rows = [
        {"image_id": "v_exact", "split": "val", "image_path": _save(_smooth(1), tmp_path / "v1.png")},
        {"image_id": "v_near", "split": "val", "image_path": _save(_smooth(2), tmp_path / "v2.png")},
        {"image_id": "v_empty", "split": "val", "image_path": _save(_smooth(3), tmp_path / "v3.png"),
         "mask_path": _save(np.zeros((SIZE, SIZE), np.uint8), tmp_path / "empty.png")},
        {"image_id": "t_exact", "split": "train", "image_path": _save(_smooth(1), tmp_path / "t1.png")},
        {"image_id": "t_near", "split": "train", "image_path": _jpeg_copy(_smooth(2), tmp_path / "t2.jpg")},
        {"image_id": "t_of_dropped", "split": "train", "image_path": _save(_smooth(3), tmp_path / "t3.png")},
        {"image_id": "t_other", "split": "train", "image_path": _save(_smooth(4), tmp_path / "t4.png")},
        {"image_id": "test", "split": "test", "image_path": _save(_smooth(5), tmp_path / "x5.png")},
    ]
    mask = _save(_square(), tmp_path / "m.png")
    report = inspect_manifest(_manifest([{**base, "mask_path": mask, **r} for r in rows]))
    found = _found(report)
    assert found[("train", "t_exact")] == {"train_val_leak": "exclude"}
    assert found[("train", "t_near")] == {"train_val_leak": "exclude"}
    assert ("train", "t_of_dropped") not in found  # its val copy is itself excluded (empty mask): nothing leaks
    assert found[("val", "v_empty")] == {"empty_mask": "exclude"}
    detail = report.findings.set_index("image_id").detail
    assert "validation image v_exact" in detail["t_exact"] and "same pixels" in detail["t_exact"]
    assert "perceptual hash" in detail["t_near"] and "the train copy is excluded" in detail["t_near"]
    assert {"v_exact", "v_near", "t_of_dropped", "t_other"} <= set(report.clean.image_id)
    _consistent(report)


def test_near_duplicates_share_a_group_and_the_validation_draw_keeps_groups_whole(tmp_path):
    rows = []
    for k in range(12):
        path = (_jpeg_copy(_smooth(100), tmp_path / f"i{k}.jpg", 1 + k / 100) if k in (3, 9) else
                _save(_smooth(100 + k), tmp_path / f"i{k}.png"))
        rows.append({"image_id": f"img{k:02d}", "image_path": path, "mask_path": _save(_square(), tmp_path / "m.png"),
                     "split": "train" if k < 10 else "test", "source": "x"})
    report = inspect_manifest(_manifest(rows))  # img00, img03 and img09 are near copies: warned, kept
    assert {k for (_, k), v in _found(report).items() if "near_duplicate" in v} == {"img03", "img09"}
    clean = report.clean
    groups = clean.set_index("image_id").group
    assert groups["img00"] == groups["img03"] == groups["img09"] == "img00"
    assert clean.group.nunique() == len(clean) - 2
    for seed in range(8):
        parts = split_rows(clean, clean.split.to_numpy(), "x", "train_fraction", 0.2, seed)
        train, val = set(clean.group[parts["train"]]), set(clean.group[parts["val"]])
        assert not train & val


def test_crops_of_one_image_are_not_duplicates_but_crops_of_a_copy_are(tmp_path):
    image = _save(_smooth(7), tmp_path / "a.png")
    copy = _save(_smooth(7), tmp_path / "b.png")
    mask = _save(_square(8, 8, 48), tmp_path / "m.png")
    window = "0 0 40 40"
    rows = [{"image_id": "a_1", "image_path": image, "crop": window},
            {"image_id": "a_2", "image_path": image, "crop": window},  # the same window of the same image
            {"image_id": "a_3", "image_path": image, "crop": "20 20 60 60"},
            {"image_id": "b_1", "image_path": copy, "crop": window}]  # the same window of another file
    report = inspect_manifest(_manifest([{"mask_path": mask, "split": "train", "source": "x", **r} for r in rows]))
    assert _found(report) == {("train", "b_1"): {"exact_duplicate": "exclude"}}
    groups = report.clean.set_index("image_id").group
    assert groups["a_1"] == groups["a_2"] == groups["a_3"]


@pytest.mark.parametrize("resizable, expected", [(False, {"size_mismatch": "exclude"}),
                                                 (True, {"mask_resized": "warn"})])
def test_a_single_mask_of_another_size_is_resized_only_where_the_adapter_says_so(tmp_path, resizable, expected):
    row = {"image_id": "a", "image_path": _save(_smooth(1), tmp_path / "a.png"), "split": "train", "source": "x",
           "mask_path": _save(_square(size=32), tmp_path / "m.png"), "resize_mask": resizable}
    report = inspect_manifest(_manifest([row]))
    assert _found(report) == {("train", "a"): expected}
