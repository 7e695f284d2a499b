"""Tests of seg_utils.data.quality: a folder of deliberately broken pairs, a fuzz of random bytes, the real X-rays."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from seg_utils.data import MANIFEST_COLUMNS, build_manifest
from seg_utils.data import io as su_io
from seg_utils.data.quality import (
    CHECKS,
    FINDING_COLUMNS,
    QualityReport,
    QualityRules,
    excluded_examples,
    inspect_manifest,
    write_report,
)
from seg_utils.errors import ConfigError, DataError

SIZE = 96
REAL_CHEST_XRAY = Path(__file__).resolve().parents[3] / "shared" / "data" / "chest_xray"

# ------------------------------------------------------------------------------------------- helpers


def _smooth(seed: int, h: int = SIZE, w: int = SIZE, channels: int = 1) -> np.ndarray:
    """A smooth random uint8 image: distinct seeds give perceptually different images."""
    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(channels):
        coarse = rng.uniform(0, 255, size=(6, 6)).astype(np.uint8)
        planes.append(np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC)))
    return planes[0] if channels == 1 else np.stack(planes, axis=2)


def _blob(seed: int, h: int = SIZE, w: int = SIZE, value: int = 255) -> np.ndarray:
    rng = np.random.default_rng(seed + 10_000)
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    ry, rx = rng.uniform(0.15, 0.3) * h, rng.uniform(0.15, 0.3) * w
    return np.where(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1, value, 0).astype(np.uint8)


def _save(arr: np.ndarray, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _jpeg_bytes(arr: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _pair(root: Path, split: str, name: str, image: np.ndarray | None, mask: np.ndarray | None,
          image_suffix: str = ".png") -> tuple[Path, Path]:
    img_path, mask_path = root / split / "images" / f"{name}{image_suffix}", root / split / "masks" / f"{name}.png"
    if image is not None:
        _save(image, img_path)
    if mask is not None:
        _save(mask, mask_path)
    return img_path, mask_path


# (image_id) -> {check: action}: everything the broken folder must report, and nothing else
EXPECTED = {
    ("train", "zero_byte"): {"unreadable_image": "exclude"},
    ("train", "trunc_jpeg"): {"unreadable_image": "exclude"},
    ("train", "random_png"): {"unreadable_image": "exclude"},
    ("train", "missing_mask"): {"missing_mask": "exclude"},
    ("train", "mask_only"): {"missing_image": "exclude"},
    ("train", "size_mismatch"): {"size_mismatch": "exclude"},
    ("train", "jpeg_coded"): {"non_binary_mask": "exclude"},
    ("train", "few_off"): {"non_binary_mask": "warn"},
    ("train", "empty_fg"): {"empty_mask": "exclude"},
    ("train", "mask01"): {"empty_mask": "exclude", "non_binary_mask": "exclude"},
    ("train", "tiny_fg"): {"small_mask": "warn"},
    ("train", "dupe_b"): {"exact_duplicate": "exclude"},
    ("train", "near_b"): {"near_duplicate": "warn"},
    ("train", "leak_train"): {"train_test_leak": "exclude"},
    ("train", "nleak_train"): {"train_test_leak": "exclude"},
    ("train", "aspect"): {"aspect_ratio": "exclude"},
    ("train", "deep16"): {"bit_depth": "warn"},
    ("train", "colour"): {"channels": "warn"},
    ("val", "vleak_val"): {"train_test_leak": "exclude"},
}
GOOD = {"train": [f"good_{k:02d}" for k in range(8)] + ["rgb_grey", "dupe_a", "near_a"],
        "val": ["good_v0", "good_v1"],
        "test": ["good_t0", "good_t1", "good_t2", "good_t3", "leak_test", "nleak_test"]}


def _write_broken_folder(root: Path) -> None:
    seed = iter(range(1, 1000))
    for split, names in GOOD.items():
        for name in names:
            if name not in ("rgb_grey", "dupe_a", "near_a", "leak_test", "nleak_test"):
                _pair(root, split, name, _smooth(next(seed)), _blob(next(seed)))
    # unreadable images (each with a valid mask)
    for name in ("zero_byte", "trunc_jpeg", "random_png"):
        _save(_blob(next(seed)), root / "train" / "masks" / f"{name}.png")
    (root / "train" / "images" / "zero_byte.png").write_bytes(b"")
    full = _jpeg_bytes(_smooth(next(seed)))
    (root / "train" / "images" / "trunc_jpeg.jpg").write_bytes(full[: len(full) // 2])
    (root / "train" / "images" / "random_png.png").write_bytes(np.random.default_rng(7).bytes(3000))
    # orphans, geometry
    _pair(root, "train", "missing_mask", _smooth(next(seed)), None)
    _pair(root, "train", "mask_only", None, _blob(next(seed)))
    _pair(root, "train", "size_mismatch", _smooth(next(seed)), _blob(next(seed), h=80))
    _pair(root, "train", "aspect", _smooth(next(seed), h=20, w=120), _blob(next(seed), h=20, w=120))
    # masks
    s = next(seed)
    _pair(root, "train", "jpeg_coded", _smooth(s), None)
    (root / "train" / "masks" / "jpeg_coded.jpg").write_bytes(_jpeg_bytes(_blob(s), quality=30))
    few = _blob(next(seed))
    few.flat[np.flatnonzero(few == 0)[:20]] = 100  # 20 of 9216 pixels (0.2 %): warn only
    _pair(root, "train", "few_off", _smooth(next(seed)), few)
    _pair(root, "train", "empty_fg", _smooth(next(seed)), np.zeros((SIZE, SIZE), np.uint8))
    _pair(root, "train", "mask01", _smooth(next(seed)), _blob(next(seed), value=1))
    tiny = np.zeros((SIZE, SIZE), np.uint8)
    tiny[40, 40:43] = 255  # 3 pixels: 0.033 % < 0.05 %
    _pair(root, "train", "tiny_fg", _smooth(next(seed)), tiny)
    # duplicates and leaks
    img, m = _pair(root, "train", "dupe_a", _smooth(next(seed)), _blob(next(seed)))
    shutil.copy(img, root / "train" / "images" / "dupe_b.png")
    shutil.copy(m, root / "train" / "masks" / "dupe_b.png")
    near = _smooth(next(seed))
    _pair(root, "train", "near_a", near, _blob(next(seed)))
    brighter = np.clip(near.astype(np.float64) * 1.05 + 3, 0, 255).astype(np.uint8)
    (root / "train" / "images" / "near_b.jpg").write_bytes(_jpeg_bytes(brighter, quality=85))
    _save(_blob(next(seed)), root / "train" / "masks" / "near_b.png")
    img, m = _pair(root, "train", "leak_train", _smooth(next(seed)), _blob(next(seed)))
    _pair(root, "test", "leak_test", None, None)
    shutil.copy(img, root / "test" / "images" / "leak_test.png")
    shutil.copy(m, root / "test" / "masks" / "leak_test.png")
    nleak = _smooth(next(seed))
    _pair(root, "train", "nleak_train", nleak, _blob(next(seed)))
    (root / "test" / "images" / "nleak_test.jpg").write_bytes(_jpeg_bytes(nleak, quality=80))
    _save(_blob(next(seed)), root / "test" / "masks" / "nleak_test.png")
    shutil.copy(root / "test" / "images" / "good_t0.png", root / "val" / "images" / "vleak_val.png")
    _save(_blob(next(seed)), root / "val" / "masks" / "vleak_val.png")
    # formats
    deep = (_smooth(next(seed)).astype(np.uint16) * 16)  # 0..4080 in a 16-bit PNG
    _save(_blob(next(seed)), root / "train" / "masks" / "deep16.png")
    Image.fromarray(deep).save(root / "train" / "images" / "deep16.png")
    _pair(root, "train", "colour", _smooth(next(seed), channels=3), _blob(next(seed)))
    g = _smooth(next(seed))
    _pair(root, "train", "rgb_grey", np.stack([g, g, g], axis=2), _blob(next(seed)))


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[pd.DataFrame, QualityReport]:
    root = tmp_path_factory.mktemp("broken")
    _write_broken_folder(root)
    off = su_io.read_mask_raw(root / "train" / "masks" / "jpeg_coded.jpg")
    assert ((off != 0) & (off != 255)).mean() > 0.05, "the JPEG mask fixture must have many off values"
    assert Image.open(root / "train" / "images" / "deep16.png").mode.startswith("I")
    manifest = build_manifest("folder", root)
    return manifest, inspect_manifest(manifest, workers=2)


def _found(report: QualityReport) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in report.findings.itertuples():
        out.setdefault((r.split, r.image_id), {})[r.check] = r.action
    return out


# ----------------------------------------------------------------------------------- broken folder


def test_every_broken_pair_is_reported_with_its_check_and_action(broken):
    manifest, report = broken
    assert list(report.findings.columns) == FINDING_COLUMNS
    assert set(report.findings.check) <= set(CHECKS)
    assert _found(report) == EXPECTED


def test_good_pairs_are_kept_and_clean_matches_the_manifest(broken):
    manifest, report = broken
    kept = set(zip(report.clean.split, report.clean.image_id, strict=True))
    for split, names in GOOD.items():
        assert {(split, n) for n in names} <= kept
    excluded = {k for k, v in EXPECTED.items() if "exclude" in v.values()}
    assert kept == set(zip(manifest.split, manifest.image_id, strict=True)) - excluded
    assert list(report.clean.columns) == [*manifest.columns, "group"]  # the split group (seg_utils.study.splits)
    assert report.clean.index.tolist() == list(range(len(report.clean)))


def test_summary_counts(broken):
    _, report = broken
    s = report.summary.set_index("split")
    assert list(s.index) == ["train", "val", "test"]
    assert list(report.summary.columns) == ["split", "starting", *[f"excluded_{c}" for c in CHECKS], "final"]
    assert s.loc["train", "starting"] == 29 and s.loc["train", "final"] == 16
    assert s.loc["val", "starting"] == 3 and s.loc["val", "final"] == 2
    assert s.loc["test", "starting"] == 6 and s.loc["test", "final"] == 6
    expected_train = {"unreadable_image": 3, "missing_mask": 1, "missing_image": 1, "size_mismatch": 1,
                      "aspect_ratio": 1, "non_binary_mask": 2, "empty_mask": 1, "train_test_leak": 2,
                      "exact_duplicate": 1}  # mask01 counts once, under non_binary_mask (the earlier check)
    assert {c: s.loc["train", f"excluded_{c}"] for c in CHECKS if s.loc["train", f"excluded_{c}"]} == expected_train
    assert s.loc["val", "excluded_train_test_leak"] == 1
    excluded_cols = [f"excluded_{c}" for c in CHECKS]
    assert (s.starting - s[excluded_cols].sum(axis=1) == s.final).all()
    assert s.final.sum() == len(report.clean)


def test_details_say_what_and_which(broken):
    _, report = broken
    f = report.findings.set_index(["image_id", "check"]).detail
    assert "test image leak_test" in f["leak_train", "train_test_leak"]
    assert "same pixels" in f["leak_train", "train_test_leak"]
    assert "perceptual hash" in f["nleak_train", "train_test_leak"]
    assert "test image good_t0" in f["vleak_val", "train_test_leak"]
    assert "dupe_a" in f["dupe_b", "exact_duplicate"] and "same mask" in f["dupe_b", "exact_duplicate"]
    assert "near_a" in f["near_b", "near_duplicate"]
    assert "0/1" in f["mask01", "empty_mask"]
    assert "16-bit" in f["deep16", "bit_depth"]
    assert "96x80" in f["size_mismatch", "size_mismatch"]
    assert "colour image" in f["colour", "channels"] and "grey images" in f["colour", "channels"]


def test_to_dict_is_json_and_consistent(broken):
    _, report = broken
    d = json.loads(json.dumps(report.to_dict()))
    assert d["starting"] == 38 and d["final"] == 24 and d["excluded"] == 14
    assert d["findings"]["train_test_leak"] == {"exclude": 3, "warn": 0}
    assert d["splits"]["train"]["final"] == 16
    assert d["rules"] == QualityRules().to_dict() and d["rules_fingerprint"] == QualityRules().fingerprint


def test_rules_change_actions(broken):
    manifest, _ = broken
    rules = QualityRules(exclude_small_masks=True, exclude_near_duplicates=True, exclude_empty_masks=False,
                         exclude_size_mismatch=False, exclude_exact_duplicates=False, expected_channels=3)
    found = _found(inspect_manifest(manifest, rules))
    assert found["train", "tiny_fg"] == {"small_mask": "exclude", "channels": "warn"}
    assert found["train", "near_b"]["near_duplicate"] == "exclude"
    assert found["train", "empty_fg"]["empty_mask"] == "warn"
    assert found["train", "size_mismatch"]["size_mismatch"] == "warn"
    assert found["train", "dupe_b"]["exact_duplicate"] == "warn"
    assert ("train", "colour") not in found and found["train", "rgb_grey"] == {"channels": "warn"}
    assert found["train", "leak_train"]["train_test_leak"] == "exclude"  # leaks are always excluded


def test_serial_and_parallel_agree_and_progress_runs(broken):
    manifest, report = broken
    serial = inspect_manifest(manifest, workers=1, progress=True)
    pd.testing.assert_frame_equal(serial.findings, report.findings)
    pd.testing.assert_frame_equal(serial.summary, report.summary)


def test_write_report(broken, tmp_path):
    _, report = broken
    path = write_report(report, tmp_path / "out" / "quality.csv")
    assert path == tmp_path / "out" / "quality.csv"
    pd.testing.assert_frame_equal(pd.read_csv(path, keep_default_na=False), report.findings, check_dtype=False)
    summary = pd.read_csv(tmp_path / "out" / "quality_summary.csv")
    assert summary.final.tolist() == report.summary.final.tolist()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["quality.csv", "quality_summary.csv"]


def test_excluded_examples(broken):
    manifest, report = broken
    ex = excluded_examples(report, manifest, n=6)
    assert list(ex.columns) == ["image_id", "split", "check", "detail", "image_path", "mask_path"]
    assert len(ex) == 6 and ex.check.is_unique  # one per check before a second of any
    assert ex.check.tolist() == ["unreadable_image", "missing_mask", "missing_image", "size_mismatch",
                                 "aspect_ratio", "non_binary_mask"]
    row = ex[ex.image_id == "missing_mask"].iloc[0]
    assert row.image_path.endswith("missing_mask.png") and row.mask_path == ""
    assert len(excluded_examples(report, manifest, n=100)) == 14
    clean = inspect_manifest(manifest[manifest.image_id.str.startswith("good_")])
    assert excluded_examples(clean, manifest).empty


# -------------------------------------------------------------------------------- hand-made manifests


def _manifest(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([(i, img, m, s, "test") for i, img, m, s in rows], columns=MANIFEST_COLUMNS)


def test_odd_paths_become_findings(tmp_path):
    good = _save(_smooth(1), tmp_path / "good.png")
    mask = _save(_blob(1), tmp_path / "mask.png")
    (tmp_path / "dir.png").mkdir()
    left, right = _blob(2), _blob(3)
    lp, rp = _save(left, tmp_path / "left.png"), _save(right, tmp_path / "right.png")
    small = _save(_blob(4, h=50), tmp_path / "small.png")
    m = _manifest([("a_dir", str(tmp_path / "dir.png"), str(mask), "train"),
                   ("b_nofile", str(tmp_path / "nope.png"), str(mask), "train"),
                   ("c_maskdir", str(good), str(tmp_path / "dir.png"), "train"),
                   ("d_union", str(_save(_smooth(5), tmp_path / "u.png")), f"{lp}|{rp}", "train"),
                   ("e_parts_differ", str(_save(_smooth(6), tmp_path / "v.png")), f"{lp}|{small}", "train"),
                   ("f_nan", str(good), None, "test")])
    report = inspect_manifest(m)
    found = _found(report)
    assert found["train", "a_dir"] == {"unreadable_image": "exclude"}
    assert found["train", "b_nofile"] == {"unreadable_image": "exclude"}
    assert "not found" in report.findings.detail[report.findings.image_id == "b_nofile"].iloc[0]
    assert found["train", "c_maskdir"] == {"unreadable_mask": "exclude"}
    assert ("train", "d_union") not in found  # the union of two parts is a valid mask
    assert found["train", "e_parts_differ"] == {"mask_resized": "warn"}  # parts resized to the image, not dropped
    assert "96x50" in report.findings.set_index("image_id").detail["e_parts_differ"]
    assert found["test", "f_nan"] == {"missing_mask": "exclude"}
    assert report.clean.image_id.tolist() == ["d_union", "e_parts_differ"]


def test_unexpected_exceptions_become_findings(tmp_path, monkeypatch):
    import imagehash

    good = _save(_smooth(1), tmp_path / "good.png")
    mask = _save(_blob(1), tmp_path / "mask.png")
    m = _manifest([("a", str(good), str(mask), "train")])

    def boom(*_a, **_k):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(su_io, "read_mask_raw", boom)
    monkeypatch.setattr(imagehash, "phash", lambda *_a, **_k: 1 / 0)
    report = inspect_manifest(m)
    detail = report.findings.set_index("check").detail
    assert set(detail.index) == {"unreadable_image", "unreadable_mask"}
    assert "RuntimeError" in detail["unreadable_mask"] and "ZeroDivisionError" in detail["unreadable_image"]
    assert report.clean.empty and report.summary.final.tolist() == [0]


def test_empty_and_malformed_manifests():
    report = inspect_manifest(pd.DataFrame(columns=MANIFEST_COLUMNS))
    assert report.findings.empty and report.summary.empty and report.clean.empty
    assert report.to_dict()["starting"] == 0
    with pytest.raises(DataError, match="lacks the columns"):
        inspect_manifest(pd.DataFrame({"image_id": ["a"]}))
    with pytest.raises(DataError, match="unknown splits"):
        inspect_manifest(_manifest([("a", "", "", "holdout")]))
    with pytest.raises(DataError, match="repeats"):
        inspect_manifest(_manifest([("a", "x", "y", "train"), ("a", "x", "y", "train")]))


# --------------------------------------------------------------------------------------------- rules


def test_rules_dict_and_fingerprint():
    rules = QualityRules()
    assert rules.to_dict()["min_mask_fraction"] == 0.0005 and rules.to_dict()["near_duplicate_distance"] == 8
    assert rules.fingerprint == QualityRules().fingerprint and len(rules.fingerprint) == 12
    assert QualityRules(max_aspect_ratio=5.0).fingerprint != rules.fingerprint


@pytest.mark.parametrize("kwargs", [
    {"min_mask_fraction": -0.1}, {"min_mask_fraction": 1.0}, {"max_off_fraction": 2.0},
    {"near_duplicate_distance": 65}, {"near_duplicate_similarity": 1.5}, {"max_aspect_ratio": 0.5},
    {"expected_channels": 2}, {"expected_bit_depth": 12},
])
def test_invalid_rules_raise(kwargs):
    with pytest.raises(ConfigError, match="invalid QualityRules"):
        QualityRules(**kwargs)


# ---------------------------------------------------------------------------------------------- fuzz


def _fuzz_bytes(rng: np.random.Generator) -> bytes:
    kind = rng.integers(0, 7)
    h, w = (int(v) for v in rng.integers(4, 48, size=2))
    arr = rng.integers(0, 256, size=(h, w) if rng.random() < 0.5 else (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, ["PNG", "JPEG", "BMP", "GIF", "TIFF"][int(rng.integers(0, 5))])
    valid = buf.getvalue()
    if kind == 0:
        return b""
    if kind == 1:
        return rng.bytes(int(rng.integers(1, 4000)))
    if kind == 2:
        return b"\x89PNG\r\n\x1a\n" + rng.bytes(int(rng.integers(0, 500)))
    if kind == 3:
        return b"\xff\xd8\xff" + rng.bytes(int(rng.integers(0, 500)))
    if kind == 4:  # a valid file cut at a random length
        return valid[: int(rng.integers(1, len(valid)))]
    if kind == 5:  # a valid file with a few bytes flipped
        b = bytearray(valid)
        for k in rng.integers(0, len(b), size=3):
            b[k] ^= 0xFF
        return bytes(b)
    return valid


def test_fuzz_never_raises_and_reports_unreadable_exactly(tmp_path):
    rng = np.random.default_rng(2024)
    n = 300
    for split in ("train", "test"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "masks").mkdir(parents=True)
    for k in range(n):
        split = "train" if k % 3 else "test"
        suffix = [".png", ".jpg", ".tif", ".bmp"][k % 4]
        (tmp_path / split / "images" / f"f{k:03d}{suffix}").write_bytes(_fuzz_bytes(rng))
        (tmp_path / split / "masks" / f"f{k:03d}.png").write_bytes(_fuzz_bytes(rng))
    manifest = build_manifest("folder", tmp_path)
    assert len(manifest) == n
    report = inspect_manifest(manifest, workers=2)
    found = _found(report)
    for row in manifest.itertuples():
        checks = found.get((row.split, row.image_id), {})
        for reader, path, check in ((su_io.read_image, row.image_path, "unreadable_image"),
                                    (su_io.read_mask_raw, row.mask_path, "unreadable_mask")):
            try:
                reader(path)
                readable = True
            except DataError:
                readable = False
            assert (check in checks) == (not readable), (row.image_id, check, checks)
            if not readable:
                assert checks[check] == "exclude"
    assert set(report.findings.check) <= set(CHECKS)
    assert report.summary.final.sum() == len(report.clean)
    unreadable = report.findings.check.isin(["unreadable_image", "unreadable_mask"])
    assert 0 < report.findings[unreadable].image_id.nunique() < n  # the fuzz holds both kinds


# ----------------------------------------------------------------------------------------- real data


@pytest.mark.real_data
def test_real_chest_xray_sample():
    if not REAL_CHEST_XRAY.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the real sample {REAL_CHEST_XRAY} is missing")
        pytest.skip(f"real sample {REAL_CHEST_XRAY} is absent (it sits in ../shared/data beside the checkout)")
    manifest = build_manifest("chest_xray", REAL_CHEST_XRAY)
    report = inspect_manifest(manifest, workers=2)
    s = report.summary.set_index("split")
    assert s.starting.to_dict() == {"train": 566, "test": 138}
    print("\nchest_xray findings:\n", report.findings.groupby(["split", "check", "action"]).size().to_string()
          if len(report.findings) else "none")
    # the sample is clean: 8-bit grey PNGs, 256 x 256, binary 0/255 masks covering 8-43 % of the image, and no
    # two images within 16/256 bits of perceptual hash (the closest pair of different patients is 40 bits apart)
    assert report.findings.empty, report.findings.to_string()
    assert s.final.to_dict() == {"train": 566, "test": 138}
    assert set(report.clean.source) == {"shenzhen", "montgomery"}
