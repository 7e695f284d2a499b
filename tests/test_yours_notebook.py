"""The study on one's own data as a user runs it: ./run_all.sh --profile yours on a folder of 40 image/mask pairs,
budget quick, on the CPU: the report renders with the recommendation, the index links it, and the recommended run is
what the predict notebook takes by default."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from seg_utils.data.synthetic import write_synthetic
from seg_utils.study.run_folder import find_run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_run_all_profile_yours_ends_with_a_recommendation(tmp_path):
    data = write_synthetic(tmp_path / "data", n_train=32, n_test=8, datasets=("folder",))["folder"]
    results = tmp_path / "results"
    # budget quick (64 px, 2 seeds); two of its four ResNet50 cells, 1 of its 5 epochs and no precision probe keep
    # the suite short (the probe has its own tests; the budget's settings, tests/study/test_yours.py)
    cmd = ["bash", str(ROOT / "run_all.sh"), "--profile", "yours", "--data-root", str(data), "--results",
           str(results), "-p", "budget", "quick", "-p", "epochs", "1", "-p", "configs",
           "unet-resnet50-bce,deeplabv3plus-resnet50-bce", "-p", "weights", "none", "-p", "precision", "fp32", "-p",
           "memory_format", "nchw", "-p", "name", "Test lungs"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = results / "notebooks" / "04_dataset_yours.report.html"
    html = report.read_text()
    assert "Recommended:" in html and "non-inferior" in html
    assert "at most" in html and "minutes on cpu" in html  # the time estimate, shown before training
    recommendation = json.loads((results / "summaries" / "recommendation.json").read_text())
    assert recommendation["data"] == "folder-test-lungs"
    assert find_run("recommended", results).parent.name == "folder"
    assert (results / "tables" / "recommendation_folder-test-lungs.md").is_file()
    runs = sorted(p.name for p in (results / "runs" / "folder").iterdir())
    assert len(runs) == 4 and {r.split("-s")[0] for r in runs} == {"unet-resnet50-bce", "deeplabv3plus-resnet50-bce"}
    assert {r.split("-s")[1][0] for r in runs} == {"0", "1"}  # the budget's two seeds
    index = (results / "index.html").read_text()
    assert "04_dataset_yours.report.html" in index and "Your data: Test lungs" in index
    assert "no summary" not in index  # the notebook's row finds its summary, named after the data
