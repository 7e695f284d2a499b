"""A failed run does not stop the grid: NaN losses, CUDA out of memory and damaged checkpoints."""

from __future__ import annotations

import pytest
import torch

from seg_utils import report, study
from seg_utils.data.io import read_json, write_json
from seg_utils.errors import TrainingError
from seg_utils.model import train as train_module
from seg_utils.study import run_folder
from seg_utils.study import runs as runs_module
from seg_utils.study.spec import RunSpec


def _params(root, results, **changes):
    values = dict(dataset="chest_xray", data_root=str(root / "chest_xray"), results_dir=str(results), image_size=32,
                  epochs=1, batch_size=4, weights="none", device="cpu", limit=8, precision="fp32",
                  memory_format="nchw", progress=False, configs="unet-resnet50-bce,unet-resnet50-logcosh_dice")
    return study.DatasetParams(**{**values, **changes})


def test_a_nan_run_is_a_failed_row_the_others_complete_and_a_rerun_retries(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path)
    data = study.prepare(params)
    real = runs_module.build_loss

    def poisoned(name):
        loss = real(name)
        return (lambda logits, target: loss(logits, target) * float("nan")) if name == "logcosh_dice" else loss

    monkeypatch.setattr(runs_module, "build_loss", poisoned)
    table = study.run_grid(params, data)
    assert table.set_index("loss").status.to_dict() == {"bce": "complete", "logcosh_dice": "failed"}
    failed = table[table.loss == "logcosh_dice"].iloc[0]
    assert failed.action == "failed" and "training loss became nan" in failed.reason
    assert read_json(f"{failed.run_dir}/failed.json")["error"] == "NonFiniteLossError"
    scores = report.dataset_table(table, "chest_xray").query("model == 'U-Net_RN50'").set_index("loss")
    assert scores.loc["logcosh_dice", "status"] == "failed" and "nan" in scores.loc["logcosh_dice", "reason"]
    assert scores.loc["bce", "status"] == "ok"
    assert any("failed" in note for note in table.attrs["notes"])
    monkeypatch.setattr(runs_module, "build_loss", real)
    again = study.run_grid(params, data).set_index("loss")
    assert again.action.to_dict() == {"bce": "skipped", "logcosh_dice": "retried"}
    assert again.loc["logcosh_dice", "status"] == "complete" and again.loc["logcosh_dice", "reason"] == ""
    assert "retried after NonFiniteLossError" in read_json(f"{failed.run_dir}/metrics.json")["notes"][0]


def test_out_of_memory_retries_once_with_half_the_batch_and_accumulation(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path, configs="unet-resnet50-bce")
    data = study.prepare(params)
    real_step, calls = train_module.train_step, []

    def step(*args, **kwargs):
        accumulate = args[7] if len(args) > 7 else kwargs.get("accumulate", 1)
        calls.append(accumulate)
        if accumulate == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", step)
    table = study.run_grid(params, data)
    assert table.status.tolist() == ["complete"] and calls[0] == 1 and set(calls[1:]) == {2}
    metrics = read_json(f"{table.run_dir[0]}/metrics.json")
    assert metrics["accumulate"] == 2 and any("micro-batches of 2" in n for n in metrics["notes"])


def test_out_of_memory_twice_fails_the_run(synthetic_root, tmp_path, monkeypatch):
    params = _params(synthetic_root, tmp_path, configs="unet-resnet50-bce")
    data = study.prepare(params)

    def step(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(train_module, "train_step", step)
    # the grid's only run failed: the notebook stops with its reason (a grid of failures reports nothing)
    with pytest.raises(TrainingError, match=r"every run of the grid failed \(1 runs\): .*out of memory also with"):
        study.run_grid(params, data)
    (spec,) = study.grid_specs(params)
    run_dir = run_folder.run_dir_for(run_folder.fingerprinted(spec, data), tmp_path)
    assert "out of memory also with micro-batches" in run_folder.read_failure(run_dir)["reason"]


def test_a_damaged_checkpoint_fails_the_run_and_is_kept_aside(synthetic_root, tmp_path):
    params = _params(synthetic_root, tmp_path, configs="unet-resnet50-bce")
    data = study.prepare(params)
    spec = study.grid_specs(params)[0].replace(data_fingerprint=data.fingerprint,
                                               quality_rules=data.report.rules.fingerprint)
    run_dir = study.run_dir_for(spec, tmp_path)
    run_dir.mkdir(parents=True)
    write_json(run_dir / "spec.json", spec.to_dict())
    (run_dir / "last.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(TrainingError, match="cannot be read"):
        study.execute_run(spec, data, tmp_path, "cpu", progress=False, precision="fp32", memory_format="nchw")
    assert (run_dir / "last.pt.corrupt").read_bytes().startswith(b"PK") and not (run_dir / "last.pt").exists()
    assert "a rerun starts this run from epoch 1" in read_json(run_dir / "failed.json")["reason"]
    assert study.run_status(run_dir) == "failed"
    table = study.run_grid(params, data)
    assert table.action.tolist() == ["retried"] and table.status.tolist() == ["complete"]


def test_spec_fields_added_later_keep_old_run_ids():
    spec = RunSpec("isic2018", "unet", "resnet50", "bce")
    assert spec.run_id == "b914f65dea"  # the id this spec had before val_source, cbis_task, ... existed
    assert "val_source" not in spec.identity() and "keep_weights" not in spec.identity()
    assert spec.replace(keep_weights="last").run_id != spec.run_id
    assert spec.replace(eval_resolution="original").identity()["eval_resolution"] == "original"
    with pytest.raises(Exception, match="applies to dataset cbis_ddsm only"):
        spec.replace(cbis_task="mass_crop")
