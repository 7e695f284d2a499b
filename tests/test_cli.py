"""The command line as a user meets it: the end-to-end run, and a matrix of bad inputs that each give one
clear error line (what, where, how to fix) and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seg_utils.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--arch", "unet", "--encoder", "resnet18", "--loss", "bce", "--image-size", "32", "--epochs", "1",
         "--batch-size", "4", "--weights", "none", "--limit", "8", "--device", "cpu", "--quiet"]


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def cxr(synthetic_root, tmp_path) -> Path:
    """A private, writable copy of the synthetic chest X-ray set (tests break files in it)."""
    dst = tmp_path / "cxr"
    shutil.copytree(synthetic_root / "chest_xray", dst)
    return dst


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted((root / "Lung Segmentation").glob(pattern))


def _break_zero_bytes(root):
    _files(root, "CXR_png/CHNCXR_*.png")[0].write_bytes(b"")
    return "unreadable_image"


def _break_truncated(root):
    p = _files(root, "CXR_png/CHNCXR_*.png")[1]
    p.write_bytes(p.read_bytes()[:200])
    return "unreadable_image"


def _break_mask_missing(root):
    _files(root, "masks/CHNCXR_*_mask.png")[2].unlink()
    return "missing_mask"


def _break_size_mismatch(root):
    p = _files(root, "masks/CHNCXR_*_mask.png")[3]
    Image.open(p).resize((40, 40)).save(p)
    return "size_mismatch"


def _break_non_binary(root):
    p = _files(root, "masks/CHNCXR_*_mask.png")[4]
    arr = np.asarray(Image.open(p)).copy()
    arr[::2] = 128
    Image.fromarray(arr).save(p)
    return "non_binary_mask"


BROKEN = [_break_zero_bytes, _break_truncated, _break_mask_missing, _break_size_mismatch, _break_non_binary]


@pytest.mark.parametrize("breaker", BROKEN, ids=lambda f: f.__name__[7:])
def test_broken_pair_is_reported_and_excluded_and_training_goes_on(breaker, cxr, tmp_path, capsys):
    check = breaker(cxr)
    code, out, err = _run(["inspect", "--dataset", "chest_xray", "--data-root", cxr, "--out", tmp_path / "q.csv",
                           "--quiet"], capsys)
    assert code == 0, err
    assert check in out
    import pandas as pd

    findings = pd.read_csv(tmp_path / "q.csv")
    assert ((findings.check == check) & (findings.action == "exclude")).any()
    code, out, err = _run(TRAIN + ["--dataset", "chest_xray", "--data-root", cxr, "--results", tmp_path / "r"], capsys)
    assert code == 0, err
    assert (Path(out.strip().splitlines()[-1]) / "metrics.json").is_file()


def _empty_masks(root):
    for p in _files(root, "masks/*.png"):
        Image.fromarray(np.zeros((160, 160), np.uint8)).save(p)


def _no_montgomery(root):
    for p in _files(root, "CXR_png/MCUCXR_*.png") + _files(root, "masks/MCUCXR_*.png"):
        p.unlink()


def _all_images_unreadable(root):
    for p in _files(root, "CXR_png/*.png"):
        p.write_bytes(b"\x89PNG garbage")


# (name, how to damage the data or None, extra/overridden CLI args, expected message fragment)
MATRIX = [
    ("missing data root", None, ["--data-root", "{tmp}/nowhere"], "does not exist"),
    ("wrong layout", None, ["--data-root", "{tmp}/wrong"], "no chest X-ray layout under"),
    ("empty test split", _no_montgomery, [], "the test split is empty"),
    ("all masks empty", _empty_masks, [], "no image/mask pair passed the quality inspection"),
    ("all images unreadable", _all_images_unreadable, [], "no image/mask pair passed the quality inspection"),
    ("unknown encoder", None, ["--encoder", "resnet5O"], "unknown encoder 'resnet5O'"),
    ("image size not divisible by 32", None, ["--image-size", "100"], "image_size=100 must be a positive multiple"),
    ("batch size 0", None, ["--batch-size", "0"], "batch_size=0 must be at least 2"),
    ("negative lr", None, ["--lr", "-0.001"], "lr=-0.001 must lie strictly between 0 and 10"),
    ("zero epochs", None, ["--epochs", "0"], "epochs=0 must be at least 1"),
    ("val fraction out of range", None, ["--val-fraction", "1.5"], "val_fraction=1.5 must lie strictly between"),
    ("results folder not writable", None, ["--results", "{tmp}/afile/results"], "cannot be written"),
    ("cuda without a GPU", None, ["--device", "cuda"], "device='cuda' but torch sees no CUDA GPU"),
    ("weights path missing", None, ["--weights", "{tmp}/weights.safetensors"], "does not exist; pass weights="),
]


@pytest.mark.parametrize("name,damage,args,message", MATRIX, ids=[m[0] for m in MATRIX])
def test_bad_input_matrix(name, damage, args, message, cxr, tmp_path, capsys):
    if name == "cuda without a GPU":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    (tmp_path / "afile").write_text("a file where a folder is expected")
    (tmp_path / "wrong" / "ISIC2018_Task1-2_Training_Input").mkdir(parents=True)
    if damage:
        damage(cxr)
    argv = TRAIN + ["--dataset", "chest_xray", "--data-root", cxr, "--results", tmp_path / "res"]
    for i in range(0, len(args), 2):
        flag, value = args[i], args[i + 1].format(tmp=tmp_path)
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert message in err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "isic2019"], "invalid choice: 'isic2019'"),
    (TRAIN[:2] + ["segformer"], "invalid choice: 'segformer'"),
    (["train", "--loss", "focal"], "invalid choice: 'focal'"),
])
def test_unknown_names_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_an_incomplete_run(tmp_path, cxr, capsys):
    code, _, err = _run(["evaluate", "--run", tmp_path, "--dataset", "chest_xray", "--data-root", cxr], capsys)
    assert code == 2 and "is not a complete run" in err


@pytest.mark.slow
def test_synth_train_evaluate_end_to_end(tmp_path):
    """The README's CLI walk-through, as a subprocess: synth, train, external evaluate on another folder."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    py = [sys.executable, "-m", "seg_utils"]
    out = subprocess.run(py + ["synth", "--out", tmp_path / "data", "--n-train", "16", "--n-test", "6"],
                         capture_output=True, text=True, env=env, check=True)
    assert "chest_xray" in out.stdout
    out = subprocess.run(py + TRAIN + ["--dataset", "chest_xray", "--data-root", tmp_path / "data" / "chest_xray",
                                       "--results", tmp_path / "results"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    for name in ("spec.json", "environment.json", "splits.json", "history.csv", "per_image.csv", "metrics.json",
                 "best.pt", "predictions.npz"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "last.pt").exists()
    # another folder: the generic layout, every pair in the test split
    other = tmp_path / "other"
    for sub in ("images", "masks"):
        (other / sub).mkdir(parents=True)
    for p in sorted((tmp_path / "data" / "chest_xray" / "Lung Segmentation" / "masks").glob("MCUCXR_*.png"))[:4]:
        shutil.copy(p, other / "masks" / p.name)
        shutil.copy(p.parent.parent / "CXR_png" / p.name, other / "images" / p.name)
    out = subprocess.run(py + ["evaluate", "--run", run_dir, "--dataset", "folder", "--data-root", other,
                               "--device", "cpu", "--quiet"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    metrics = json.loads(out.stdout.strip().splitlines()[-1])
    assert metrics["n_images"] == 4 and 0 <= metrics["dice_mean"] <= 1
