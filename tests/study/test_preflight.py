"""What is not one run's fault stops a notebook before training; a test split held out where the data has none;
an option for another dataset never hides a dataset's runs; fp16 NaNs retried in fp32; live progress events."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from fabricate import make_run
from seg_utils import report, study
from seg_utils.data.io import read_json, write_json
from seg_utils.errors import ConfigError, DataError, NonFiniteLossError
from seg_utils.model import device as device_module
from seg_utils.study import progress as progress_module
from seg_utils.study import runs as runs_module
from seg_utils.study.splits import split_rows
from seg_utils.study.summary import summary_path


def _params(root, results, **changes):
    values = dict(dataset="chest_xray", data_root=str(root / "chest_xray"), results_dir=str(results), image_size=32,
                  epochs=1, batch_size=4, weights="none", device="cpu", limit=8, precision="fp32",
                  memory_format="nchw", progress=False, configs="unet-resnet50-bce")
    return study.DatasetParams(**{**values, **changes})


# ------------------------------------------------------------------------------ an option of another dataset

def test_cbis_task_of_a_profile_never_hides_the_runs_of_another_dataset(tmp_path):
    """The paper profile sets cbis_task=mass_crop for every dataset notebook; ISIC's runs record 'whole'."""
    for encoder in ("vgg19", "resnet50", "densenet121"):
        for arch in ("unet", "deeplabv3plus"):
            make_run(tmp_path, "isic2018", arch, encoder, "bce", 0.8)
    write_json(summary_path(tmp_path, "dataset_isic2018"),
               {"parameters": {"dataset": "isic2018", "cbis_task": "mass_crop"}, "runs": []})
    assert len(report.select_runs(tmp_path, "isic2018")) == 6
    table = report.table_encoders(tmp_path)
    assert table.dice.notna().sum() == 6 and not table.status.eq("missing").any()


def test_a_dataset_notebook_gives_the_default_to_an_option_it_ignores(tmp_path):
    params = study.DatasetParams(dataset="isic2018", results_dir=str(tmp_path), cbis_task="mass_crop",
                                 test_source="train_fraction")
    spec = params.spec("unet", "resnet50", "bce", seed=0)
    assert spec.cbis_task == "whole" and spec.test_source == "train_fraction"
    with pytest.raises(ConfigError, match="cbis_task='mass_crop' applies to dataset cbis_ddsm only"):
        study.RunSpec("isic2018", "unet", "resnet50", "bce", cbis_task="mass_crop")


# ------------------------------------------------------------------------------ test_source

def _clean(n_train: int, n_test: int, groups: list[str] | None = None) -> pd.DataFrame:
    ids = [f"tr{i:02d}" for i in range(n_train)] + [f"te{i:02d}" for i in range(n_test)]
    df = pd.DataFrame({"image_id": ids, "split": ["train"] * n_train + ["test"] * n_test})
    if groups is not None:
        df["group"] = groups + [""] * n_test
    return df


def test_train_fraction_holds_a_grouped_share_out_the_same_for_every_seed():
    groups = [f"p{i // 2}" for i in range(40)]  # two images per patient
    clean = _clean(40, 0, groups)
    parts = [split_rows(clean, clean.split.to_numpy(), "x", "train_fraction", 0.1, seed, "train_fraction", 0.2)
             for seed in (0, 1, 2)]
    for rows in parts:
        assert len(rows["test"]) == 8 and np.array_equal(rows["test"], parts[0]["test"])  # fixed test seed
        assert not set(rows["test"]) & set(rows["train"]) and not set(rows["test"]) & set(rows["val"])
        test_groups = {groups[r] for r in rows["test"]}
        assert not test_groups & {groups[r] for r in np.concatenate([rows["train"], rows["val"]])}
    assert not np.array_equal(parts[0]["val"], parts[1]["val"])  # validation still follows the run's seed
    official = _clean(30, 6)
    rows = split_rows(official, official.split.to_numpy(), "x", "train_fraction", 0.1, 0, "train_fraction", 0.2)
    assert sorted(rows["unused"]) == list(range(30, 36))  # the official test rows are not used
    with pytest.raises(DataError, match="test_source='train_fraction'"):
        split_rows(_clean(30, 0), _clean(30, 0).split.to_numpy(), "x", "train_fraction", 0.1, 0)


def test_official_test_without_masks_stops_before_any_run_trains(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path)
    data = study.prepare(params)
    # the Kaggle ISIC copy's situation: test images whose masks are missing, so the clean data has no test split
    test = data.manifest.split == "test"
    data.manifest.loc[test, "mask_path"] = ""
    data.clean = data.clean[data.clean.split != "test"].reset_index(drop=True)
    keep = data.cache.index.split.to_numpy() != "test"
    data.cache.index = data.cache.index[keep].reset_index(drop=True)
    calls = []
    monkeypatch.setattr(runs_module, "fit", lambda *a, **k: calls.append(1))
    with pytest.raises(DataError) as err:
        study.run_grid(params, data)
    message = str(err.value)
    assert "have no masks" in message and "test_source='train_fraction'" in message
    assert "ISIC2018_Task1_Test_GroundTruth" in message and str(synthetic_root) not in message
    assert "\n" not in message and not calls
    assert not list((tmp_path / "runs").glob("*/*/spec.json"))  # no run folder was started


def test_train_fraction_trains_and_every_report_says_the_test_set_was_held_out(synthetic_root, tmp_path):
    params = _params(synthetic_root, tmp_path, test_source="train_fraction", test_fraction=0.25, limit=0)
    data = study.prepare(params)
    table = study.run_grid(params, data)
    run_dir = table.run_dir[0]
    assert table.status.tolist() == ["complete"]
    splits, spec = read_json(f"{run_dir}/splits.json"), read_json(f"{run_dir}/spec.json")
    assert spec["test_source"] == "train_fraction" and spec["test_fraction"] == 0.25
    train_ids = set(data.clean[data.clean.split == "train"].image_id)
    assert set(splits["test"]) <= train_ids and not set(splits["test"]) & set(splits["train"])
    notes = " ".join(report.dataset_table(table, "chest_xray").attrs["notes"])
    assert "HELD OUT OF TRAINING: 25%" in notes
    assert "HELD OUT OF TRAINING" in report.update_card(run_dir).read_text()  # the card, as link_cards writes it


# ------------------------------------------------------------------------------ device, all failed, fp16

def _fake_gpu(monkeypatch, capability, arch_list):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: arch_list)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Tesla P100-PCIE-16GB")


def test_a_gpu_the_installed_torch_cannot_run_is_refused_in_one_line(monkeypatch):
    _fake_gpu(monkeypatch, (6, 0), ["sm_75", "sm_80", "sm_90"])
    for name in ("auto", "cuda"):
        with pytest.raises(ConfigError) as err:
            device_module.resolve_device(name)
        assert "Tesla P100" in str(err.value) and "sm_60" in str(err.value) and "T4" in str(err.value)
        assert "\n" not in str(err.value)
    assert device_module.resolve_device("cpu").type == "cpu"
    _fake_gpu(monkeypatch, (8, 9), ["sm_75", "sm_80", "sm_86"])  # an L4 runs sm_86 kernels
    assert device_module.resolve_device("auto").type == "cuda"
    assert device_module.cuda_arch_supported((7, 0), ["sm_60", "compute_60"])  # PTX compiles for newer GPUs
    assert not device_module.cuda_arch_supported((7, 0), ["sm_75"])


def test_the_grid_stops_before_training_on_an_unsupported_gpu(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path, device="auto")
    data = study.prepare(params)
    _fake_gpu(monkeypatch, (6, 0), ["sm_75"])
    with pytest.raises(ConfigError, match="Tesla P100"):
        study.run_grid(params, data)
    assert not list((tmp_path / "runs").glob("*/*/spec.json"))


def test_a_non_finite_loss_in_fp16_is_retried_once_in_fp32(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path, precision="fp16")
    data = study.prepare(params)
    real_fit, seen = runs_module.fit, []

    def fit(model, loss, train, val, settings, run_dir, dev, amp, *rest):
        seen.append(amp.name)
        if amp.name == "fp16":
            raise NonFiniteLossError(f"{settings.name}: the training loss became nan in epoch 1; the last good ...")
        return real_fit(model, loss, train, val, settings, run_dir, dev, amp, *rest)

    monkeypatch.setattr(runs_module, "fit", fit)
    table = study.run_grid(params, data)
    assert seen == ["fp16", "fp32"] and table.status.tolist() == ["complete"]
    metrics = read_json(f"{table.run_dir[0]}/metrics.json")
    assert metrics["precision"].startswith("fp32")
    assert any("non-finite in fp16" in n and "retried once in fp32" in n for n in metrics["notes"])


# ------------------------------------------------------------------------------ progress

def test_each_run_reports_its_start_epochs_and_end(synthetic_root, tmp_path, monkeypatch, capsys):
    events = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress_module.PROGRESS_ENV, str(events))
    params = _params(synthetic_root, tmp_path / "results", epochs=2,
                     configs="unet-resnet50-bce,unet-resnet50-logcosh_dice")
    study.run_grid(params, study.prepare(params))
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["event"], e["index"]) for e in lines] == [("start", 1), ("epoch", 1), ("epoch", 1), ("end", 1),
                                                         ("start", 2), ("epoch", 2), ("epoch", 2), ("end", 2)]
    assert lines[1]["epochs"] == 2 and lines[2]["seconds_left"] == 0 and lines[3]["status"] == "complete"
    printed = capsys.readouterr().out
    assert "run 1/2 unet-resnet50-bce-s0" in printed and "run 2/2 unet-resnet50-logcosh_dice-s0" in printed
    assert "Dice" in printed and "epoch" not in printed  # the notebook shows starts and ends, not every epoch
    out = io.StringIO()
    assert progress_module.follow(events, pid=_dead_pid(), out=out, tty=False) == 8
    text = out.getvalue().splitlines()
    assert text[0].startswith("  run 1/2 ") and "epoch 1/2, val Dice" in text[1] and "min left" in text[1]
    assert "Dice" in text[3] and " in " in text[3]
    tty = io.StringIO()
    progress_module.follow(events, pid=_dead_pid(), out=tty, tty=True)
    assert "\r\033[K  run 1/2 epoch 2/2" in tty.getvalue()  # refreshed in place on a terminal


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
