"""The benchmarks run: the GPU check's CPU dry run (every call the GPU run makes, at a tiny size), the packer's pieces,
and small runs of the CPU benchmarks."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_pack

from conftest import real_data


def _run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.slow
def test_gpu_check_cpu_dry_run(tmp_path):
    """benchmarks/gpu_check.sh --cpu-dry-run: all four sections pass on the CPU (synthetic chest X-rays)."""
    out = tmp_path / "out"
    _run(["bash", "benchmarks/gpu_check.sh", "--cpu-dry-run", "--out", str(out), "--work", str(tmp_path / "work"),
          "--data", str(tmp_path / "no-pack")], timeout=900)
    result = json.loads((out / "gpu_check.json").read_text())
    assert {result[k]["status"] for k in "acdb"} == {"ok"}, {k: result[k].get("error") for k in "acdb"}
    for cell in result["a"]["cells"].values():
        assert len([s for s in cell if "/" in s]) == 4
        assert all(cell[s]["images_per_s"] > 0 for s in cell if "/" in s)
    assert set(result["a"]["data_path"]) >= {"fixed", "none", "flips", "xray"}
    runs = result["c"]["runs"]
    assert len(runs) == 4 and {r["action"] for r in runs} == {"trained"}
    assert all(0 <= r["dice_mean"] <= 1 and math.isfinite(r["dice_mean"]) for r in runs)
    assert result["d"]["runs_skipped"] and (out / "02_dataset_chest_xray.report.html").is_file()
    assert [result["b"][n]["trained"] for n in ("1", "2")] == [1, 2]
    md = (out / "gpu_check.md").read_text()
    assert "(a)" in md and "(c) The paper grid" in md and "(b)" in md
    assert (out / "gpu_check.log").is_file()


def test_gpu_pack_carries_what_the_gpu_machine_lacks():
    names = {r.split("==")[0].lower().replace("_", "-") for r in gpu_pack.requirements()}
    assert {"segmentation-models-pytorch", "albumentations", "imagehash", "papermill", "nbconvert", "ipykernel",
            "pydantic", "albucore", "pywavelets", "tinycss2", "pyzmq"} <= names
    assert not names & {"torch", "numpy", "pandas", "timm", "opencv-python-headless", "scipy", "matplotlib"}
    assert all("==" in r for r in gpu_pack.requirements())


def test_gpu_pack_re_encodes_the_chest_layout(tmp_path):
    lung = tmp_path / "src" / "Lung Segmentation"
    (lung / "CXR_png").mkdir(parents=True)
    (lung / "masks").mkdir()
    rng = np.random.default_rng(0)
    for stem, mask_name in (("CHNCXR_0001_0", "CHNCXR_0001_0_mask"), ("MCUCXR_0001_0", "MCUCXR_0001_0")):
        Image.fromarray(rng.integers(0, 256, (256, 256), dtype=np.uint8)).save(lung / "CXR_png" / f"{stem}.png")
        mask = np.zeros((256, 256), np.uint8)
        mask[60:200, 40:120] = 255
        Image.fromarray(mask).save(lung / "masks" / f"{mask_name}.png")
    assert gpu_pack.pack_data(tmp_path / "src", tmp_path / "out", 224) == 2
    out = tmp_path / "out" / "Lung Segmentation"
    with Image.open(out / "CXR_png" / "CHNCXR_0001_0.png") as im:
        assert im.size == (224, 224) and im.mode == "L"
    with Image.open(out / "masks" / "MCUCXR_0001_0.png") as im:
        assert set(np.unique(np.asarray(im)).tolist()) == {0, 255}


def test_gpu_pack_size_check_fails_over_the_limit(tmp_path):
    (tmp_path / "pack" / "wheels").mkdir(parents=True)
    (tmp_path / "pack" / "wheels" / "x.whl").write_bytes(b"0" * 4096)
    assert gpu_pack.main(["size", "--pack", str(tmp_path / "pack"), "--limit-mib", "1000"]) == 0
    assert gpu_pack.main(["size", "--pack", str(tmp_path / "pack"), "--limit-mib", "0.001"]) == 1


def test_bench_data_path_runs():
    proc = _run([sys.executable, "benchmarks/bench_data_path.py", "--n", "2", "--width", "320", "--height", "240",
                 "--size", "64", "--rounds", "1", "--cache-reps", "2", "--baseline-workers", "1"])
    figures = json.loads(proc.stdout.strip().splitlines()[-1])["figures"]
    assert figures["cache_vs_decode_ratio"] > 1 and figures["same_masks_pixel_agreement"] > 0.99


@pytest.mark.slow
def test_bench_train_overhead_runs():
    proc = _run([sys.executable, "benchmarks/bench_train_overhead.py", "--models", "unet-resnet18", "--size", "32",
                 "--batch-size", "2", "--n-train", "4", "--n-val", "2", "--steps", "1", "--threads", "1", "--markdown"])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("{"))
    res = json.loads(line)["models"]["unet-resnet18"]
    assert set(res["settings"]) == {"fp32/nchw", "fp32/channels_last", "bf16/nchw", "bf16/channels_last"}
    assert all(s["step_ratio"] > 0 and s["fit_loop_ratio"] > 0 for s in res["settings"].values())
    assert res["auto"]["chosen"] in res["settings"] and res["auto_vs_fp32_nchw"] > 0
    assert "| unet-resnet18 | fp32/nchw |" in proc.stdout


@pytest.mark.slow
@pytest.mark.real_data
def test_bench_precision_seeds_runs(tmp_path):
    """fp32 vs auto over two seeds on the real chest X-rays, tiny: per-seed Dice and minutes, mean ± sd, a verdict;
    a second call reads the complete runs back instead of training them."""
    args = [sys.executable, "benchmarks/bench_precision_seeds.py", "--data-root", str(real_data("chest_xray")),
            "--out", str(tmp_path / "out"), "--seeds", "2", "--epochs", "1", "--size", "32", "--limit", "8",
            "--encoder", "resnet18", "--batch-size", "4", "--threads", "1"]
    env = {**os.environ, "SEG_UTILS_CACHE": str(tmp_path / "user-cache")}  # the probe's verdict: not in ~/.cache
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    assert sorted((r["seed"], r["setting"]) for r in runs) == [(0, "auto"), (0, "fp32"), (1, "auto"), (1, "fp32")]
    assert all(0 <= r["dice"] <= 1 and r["n_test"] == 8 and r["train_minutes"] > 0 and r["trained_now"] for r in runs)
    assert {r["precision"] for r in runs if r["setting"] == "fp32"} == {"fp32/nchw"}
    by_seed = {s: {r["setting"]: r["run"].split("/", 1)[1] for r in runs if r["seed"] == s} for s in (0, 1)}
    assert all(v["fp32"] == v["auto"] for v in by_seed.values())  # the same run spec, only the precision differs
    summary = result["summary"]
    assert summary["fp32"]["dice"]["n"] == 2 and summary["fp32"]["dice"]["sd"] is not None
    assert summary["within_spread"] in (True, False) and "across-seed spread" in summary["verdict"]
    assert summary["auto_costs_dice"] == (summary["dice_difference"] < -summary["pooled_sd"])  # one-sided: a cost
    seed_level = summary["seed_level"]  # the study's seed-paired comparison of the per-image Dice
    assert seed_level["diff_ci_low"] <= seed_level["diff"] <= seed_level["diff_ci_high"]
    assert seed_level["diff"] == pytest.approx(summary["paired"]["mean"], abs=1e-9)
    assert len(summary["paired_differences"]) == 2 and summary["fp32_over_auto_train_minutes"] > 0
    cached = list((tmp_path / "user-cache" / "precision").glob("*.json"))
    probed = [r for r in runs if r["setting"] == "auto" and r["precision_cache"]]
    # one probe for both seeds, kept; on a busy CPU (earlier tests' load) each run's own probe, never kept
    assert len(cached) == 1 or (not cached and all("not cached" in r["precision_cache"] for r in probed) and probed)
    md = (tmp_path / "out" / "bench_precision_seeds.md").read_text()
    assert "| mean ± sd |" in md and "**Verdict:**" in md
    assert json.loads((tmp_path / "out" / "bench_precision_seeds.json").read_text())["summary"]["verdict"] == \
        summary["verdict"]
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-4000:]
    runs2 = json.loads(again.stdout.strip().splitlines()[-1])["runs"]
    assert not any(r["trained_now"] for r in runs2) and all(r["wall_minutes"] is None for r in runs2)
    assert sorted(r["dice"] for r in runs2) == sorted(r["dice"] for r in runs)
