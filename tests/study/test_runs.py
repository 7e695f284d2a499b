"""Run folders, the preprocessing cache, atomic writes and the run spec."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from seg_utils.data import build_manifest
from seg_utils.data.cache import build_cache
from seg_utils.data.io import atomic_write, read_json, write_json
from seg_utils.errors import ConfigError, TrainingError
from seg_utils.report.results import collect_runs
from seg_utils.study import execute_run, prepare_data, run_dir_for, run_status
from seg_utils.study.spec import RunSpec


def test_spec_round_trip_and_names():
    spec = RunSpec("isic2018", "deeplabv3plus", "resnet50", "logcosh_dice", seed=3)
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.name.startswith("deeplabv3plus-resnet50-logcosh_dice-s3-") and spec.label == "DeepLabV3+_RN50"
    assert spec.replace(seed=4).run_id != spec.run_id
    assert (spec.image_size, spec.epochs, spec.batch_size, spec.lr, spec.patience, spec.min_delta) == (
        224, 50, 32, 1e-3, 5, 0.001)  # the poster's protocol is the default
    with pytest.raises(ConfigError, match="unknown run-spec keys"):
        RunSpec.from_dict({**spec.to_dict(), "lr_typo": 1})


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write("{half")
        raise RuntimeError("killed")
    assert read_json(path) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_cache_is_reused_and_rebuilt_when_a_file_changes(synthetic_root, tmp_path):
    root = tmp_path / "cbis"
    shutil.copytree(synthetic_root / "cbis_ddsm", root)
    manifest = build_manifest("cbis_ddsm", root)
    first = build_cache(manifest, 32, tmp_path / "cache", progress=False)
    assert first.images.shape == (len(manifest), 32, 32, 3) and first.masks.max() == 1
    assert build_cache(manifest, 32, tmp_path / "cache", progress=False).path == first.path
    img = root / "images" / (manifest.image_id[0] + ".png")
    Image.fromarray(np.zeros((160, 160), np.uint8)).save(img)
    os.utime(img, ns=(time.time_ns(), time.time_ns() + 10**9))
    rebuilt = build_cache(manifest, 32, tmp_path / "cache", progress=False)
    assert rebuilt.path != first.path and rebuilt.images[0].max() == 0
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_cache_never_writes_beside_read_only_data(synthetic_root, tmp_path):
    before = sorted(p.name for p in (synthetic_root / "chest_xray").rglob("*"))
    prepare_data("chest_xray", synthetic_root / "chest_xray", 32, tmp_path / "results", limit=4, progress=False)
    assert sorted(p.name for p in (synthetic_root / "chest_xray").rglob("*")) == before
    assert any((tmp_path / "results" / "cache").iterdir())


def test_run_folder_with_another_spec_is_never_reused(synthetic_root, tmp_path):
    data = prepare_data("chest_xray", synthetic_root / "chest_xray", 32, tmp_path, limit=8, progress=False)
    spec = RunSpec("chest_xray", "unet", "resnet18", "bce", image_size=32, epochs=1, batch_size=4, weights="none",
                   limit=8, data_fingerprint=data.fingerprint, quality_rules=data.report.rules.fingerprint)
    run_dir = run_dir_for(spec, tmp_path)
    run_dir.mkdir(parents=True)
    write_json(run_dir / "spec.json", {**spec.to_dict(), "epochs": 7})
    with pytest.raises(TrainingError, match=r"belongs to another spec \(differs in \['epochs'\]\)"):
        execute_run(spec, data, tmp_path, "cpu", progress=False)
    shutil.rmtree(run_dir)
    done = execute_run(spec, data, tmp_path, "cpu", progress=False)
    assert run_status(done) == "complete"
    table = collect_runs(tmp_path)
    assert len(table) == 1 and table.run_dir[0] == str(done) and 0 <= table.dice_mean[0] <= 1
    assert {"dice_ci_low", "dice_ci_high", "hd95_mean", "data_fingerprint", "environment"} - set(table) == {
        "environment"}
    env = read_json(done / "environment.json")
    assert env["packages"]["torch"] and "git" in env and env["determinism"].startswith("deterministic")
