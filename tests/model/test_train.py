"""Training: early stopping, NaN guard, determinism and resume after a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from seg_utils.data.io import read_json
from seg_utils.errors import TrainingError
from seg_utils.model.early_stopping import EarlyStopping
from seg_utils.model.models import build_model
from seg_utils.model.train import batches, fit
from seg_utils.study.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]


def test_early_stopping_follows_keras():
    es = EarlyStopping(patience=2, min_delta=0.1)
    assert es.step(1.0, 1)            # first value is always an improvement
    assert not es.step(0.95, 2)       # better, but by less than min_delta
    assert not es.should_stop
    assert not es.step(0.92, 3)
    assert es.should_stop and es.best_epoch == 1 and es.best == 1.0


def test_early_stopping_on_a_dice_waits_for_it_to_grow():
    es = EarlyStopping(patience=2, min_delta=0.01, mode="max")
    assert es.step(0.80, 1)
    assert not es.step(0.805, 2)      # higher, but by less than min_delta
    assert es.step(0.90, 3) and es.best_epoch == 3 and not es.should_stop
    assert not es.step(0.5, 4) and not es.step(0.89, 5)
    assert es.should_stop and es.best == 0.90
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_the_monitored_quantity_chooses_the_kept_epoch(tmp_path, monkeypatch):
    """Validation loss and Dice disagree on the best epoch: the kept weights follow the monitored one, and the run id
    keeps the poster's rule (val_loss) out of it, so the committed runs keep their names."""
    import seg_utils.model.train as train

    script = iter([(0.5, 0.70), (0.4, 0.60), (0.6, 0.90), (0.7, 0.80)] * 2)  # (loss, Dice): loss best at 2, Dice at 3
    monkeypatch.setattr(train, "_validate", lambda *a, **k: next(script))
    kept = {}
    for monitor in ("val_loss", "val_dice"):
        spec = RunSpec("folder", "unet", "resnet18", "bce", image_size=32, epochs=4, batch_size=4, weights="none",
                       monitor=monitor)
        run = tmp_path / monitor
        fit(build_model("unet", "resnet18", "none"), torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4),
            spec.train_settings(), run, torch.device("cpu"), progress=False)
        kept[monitor] = torch.load(run / "last.pt", weights_only=True)["early_stopping"]["best_epoch"]
    assert kept == {"val_loss": 2, "val_dice": 3}
    assert RunSpec("folder", "unet", "resnet18", "bce").run_id == RunSpec("folder", "unet", "resnet18", "bce",
                                                                          monitor="val_loss").run_id
    assert RunSpec("folder", "unet", "resnet18", "bce").run_id != RunSpec("folder", "unet", "resnet18", "bce",
                                                                          monitor="val_dice").run_id


def test_last_batch_of_one_is_dropped():
    gen = torch.Generator().manual_seed(0)
    sizes = [len(b) for b in batches(9, 4, gen)]
    assert sizes == [4, 4]
    assert sorted(len(b) for b in batches(10, 4, gen)) == [2, 4, 4]


def _tiny(n=8, size=32):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (n, size, size, 3), dtype=torch.uint8, generator=g)
    masks = (images[..., 0] > 128).to(torch.uint8)
    return images, masks


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def loss_fn(logits, target):
        calls["n"] += 1
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return loss * float("nan") if calls["n"] > 3 else loss  # 2 train + 1 val call per epoch

    spec = RunSpec("folder", "unet", "resnet18", "bce", image_size=32, epochs=5, batch_size=4, weights="none")
    model = build_model("unet", "resnet18", "none")
    with pytest.raises(TrainingError, match="became nan in epoch 2"):
        fit(model, loss_fn, _tiny(), _tiny(4), spec.train_settings(), tmp_path, torch.device("cpu"), progress=False)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1
    assert len(pd.read_csv(tmp_path / "history.csv")) == 1


def _train_cmd(data_root: Path, results: Path, epochs: int = 12) -> list[str]:
    # patience 3 with a min_delta no epoch can beat: epoch 1 is the best, epochs 2-4 are not, training stops after
    # epoch 4 of 12. The kill lands after epoch 2, so the resumed run must restore the early-stopping state to stop
    # at the same epoch. fp32 NCHW pinned: "auto" could pick another precision in another results folder.
    return [sys.executable, "-m", "seg_utils", "train", "--dataset", "chest_xray", "--data-root", str(data_root),
            "--arch", "deeplabv3plus", "--encoder", "resnet18", "--loss", "bce_dice", "--image-size", "32",
            "--epochs", str(epochs), "--batch-size", "4", "--patience", "3", "--min-delta", "10", "--weights", "none",
            "--limit", "12", "--augment", "flips", "--schedule", "cosine", "--device", "cpu", "--precision", "fp32",
            "--memory-format", "nchw", "--results", str(results), "--quiet"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_same_seed_same_numbers_and_sigkill_resume_is_exact(synthetic_root, tmp_path):
    data = synthetic_root / "chest_xray"
    runs = {}
    for name in ("a", "b"):
        out = subprocess.run(_train_cmd(data, tmp_path / name), env=_env(), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        runs[name] = Path(out.stdout.strip().splitlines()[-1])
    assert runs["a"].name == runs["b"].name
    metrics_a = read_json(runs["a"] / "metrics.json")
    assert read_json(runs["b"] / "metrics.json")["dice_mean"] == metrics_a["dice_mean"]
    assert metrics_a["stopped_early"] and metrics_a["epochs_run"] == 4 and metrics_a["best_epoch"] == 1

    # Kill a third run with SIGKILL after its second epoch checkpoint, mid-way through the third.
    results = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(data, results), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run_dir = results / "runs" / "chest_xray" / runs["a"].name
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        hist = run_dir / "history.csv"
        if hist.is_file() and len(pd.read_csv(hist)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "metrics.json").exists()
    # What a kill in the middle of an atomic write leaves: a temporary file beside the one being replaced.
    (run_dir / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    out = subprocess.run(_train_cmd(data, results), env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")], "stale temporary files left behind"
    resumed = read_json(run_dir / "metrics.json")
    for key in ("dice_mean", "iou_mean", "best_epoch", "best_val_loss", "epochs_run"):
        assert resumed[key] == metrics_a[key], key
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "per_image.csv"), pd.read_csv(runs["a"] / "per_image.csv"))
    hist_a = pd.read_csv(runs["a"] / "history.csv")
    hist_c = pd.read_csv(run_dir / "history.csv")
    pd.testing.assert_frame_equal(hist_c[["train_loss", "val_loss", "val_dice", "lr"]],
                                  hist_a[["train_loss", "val_loss", "val_dice", "lr"]])

    # A complete run is skipped: the same command returns at once with the same folder.
    again = subprocess.run(_train_cmd(data, results), env=_env(), capture_output=True, text=True, timeout=600)
    assert again.stdout.strip().splitlines()[-1] == str(run_dir)
    assert read_json(run_dir / "metrics.json") == resumed


def test_gradient_accumulation_gives_the_batch_gradient():
    """accumulate=2 (the out-of-memory retry) takes the same step as the whole batch, on a model without batch norm."""
    from seg_utils.model.precision import AmpSettings
    from seg_utils.model.train import train_step

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))

    x, y = torch.randn(8, 3, 16, 16), (torch.rand(8, 1, 16, 16) > 0.5).float()
    weights = []
    for accumulate in (1, 2, 4):
        m = model()
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        loss = train_step(m, torch.nn.BCEWithLogitsLoss(), opt, scaler, AmpSettings(None, False), x, y, accumulate)
        weights.append((float(loss), torch.cat([p.detach().ravel() for p in m.parameters()])))
    for loss, w in weights[1:]:
        assert loss == pytest.approx(weights[0][0], rel=1e-6)
        torch.testing.assert_close(w, weights[0][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("first, then", [("fp32", "fp16"), ("fp16", "fp32"), ("bf16", "fp16")])
def test_a_checkpoint_resumes_in_another_precision(tmp_path, first, then):
    """A CPU (fp32) or bf16 checkpoint resumes under fp16 autocast with a GradScaler, and the other way round."""
    from seg_utils.model.precision import amp_of

    spec = RunSpec("folder", "unet", "resnet18", "bce", image_size=32, epochs=1, batch_size=4, weights="none")
    fit(build_model("unet", "resnet18", "none"), torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4),
        spec.train_settings(), tmp_path, torch.device("cpu"), amp_of(first, "nchw"), progress=False)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["precision"] == first
    more = spec.replace(epochs=2).train_settings()
    history = fit(build_model("unet", "resnet18", "none"), torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4), more,
                  tmp_path, torch.device("cpu"), amp_of(then, "channels_last"), progress=False)
    assert history.epoch.tolist() == [1, 2] and history.attrs["resumed_from"] == first
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["precision"] == then and bool(ckpt["scaler"]) == (then == "fp16")


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_weights_best_or_last(tmp_path, keep):
    spec = RunSpec("folder", "unet", "resnet18", "bce", image_size=32, epochs=3, batch_size=4, weights="none",
                   patience=5, min_delta=10.0, keep_weights=keep)  # epoch 1 stays the best: the last is another
    model = build_model("unet", "resnet18", "none")
    fit(model, torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4), spec.train_settings(), tmp_path,
        torch.device("cpu"), progress=False)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    kept = model.state_dict()
    name = "encoder.conv1.weight"
    assert torch.equal(kept[name], (best if keep == "best" else last)[name])
    assert not torch.equal(best[name], last[name])


def test_an_interrupted_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    """In-process twin of the SIGKILL test: on_epoch sees each saved row; a fresh model resumed from last.pt after
    epoch 2 ends with the history and weights of the run that was not interrupted."""
    spec = RunSpec("folder", "deeplabv3plus", "resnet18", "bce", image_size=32, epochs=3, batch_size=4,
                   weights="none", augment="flips", schedule="cosine")
    timing = ["seconds", "images_per_s"]
    runs, rows = {}, []

    def on_epoch(row):
        rows.append(row)
        if row["epoch"] == 2 and len(rows) == 5:  # the second run, after its second epoch
            raise KeyboardInterrupt

    for name in ("whole", "cut"):
        torch.manual_seed(0)
        model = build_model("deeplabv3plus", "resnet18", "none")
        try:
            history = fit(model, torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4), spec.train_settings(),
                          tmp_path / name, torch.device("cpu"), progress=False, on_epoch=on_epoch)
        except KeyboardInterrupt:
            assert torch.load(tmp_path / name / "last.pt", weights_only=True)["epoch"] == 2
            torch.manual_seed(1)
            model = build_model("deeplabv3plus", "resnet18", "none")
            history = fit(model, torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4), spec.train_settings(),
                          tmp_path / name, torch.device("cpu"), progress=False, on_epoch=on_epoch)
            assert history.attrs["resumed_from"] == "fp32"
        runs[name] = (history.drop(columns=timing), model.state_dict())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 1, 2, 3] and {r["epochs"] for r in rows} == {3}
    assert rows[-1]["val_loss"] == runs["cut"][0].val_loss.iloc[-1]
    pd.testing.assert_frame_equal(runs["cut"][0], runs["whole"][0])
    for key, value in runs["whole"][1].items():
        assert torch.equal(runs["cut"][1][key], value), key
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == ["best.pt", "history.csv", "last.pt"]


def test_fit_calls_train_step_through_the_module(tmp_path, monkeypatch):
    """tests/study/test_failures.py swaps ``seg_utils.model.train.train_step`` to simulate out-of-memory errors."""
    from seg_utils.model import train as train_module

    real, calls = train_module.train_step, []

    def step(*args, **kwargs):
        calls.append(args[7])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", step)
    spec = RunSpec("folder", "unet", "resnet18", "bce", image_size=32, epochs=1, batch_size=4, weights="none")
    fit(build_model("unet", "resnet18", "none"), torch.nn.BCEWithLogitsLoss(), _tiny(), _tiny(4),
        spec.train_settings(), tmp_path, torch.device("cpu"), progress=False)
    assert calls == [1, 1]
