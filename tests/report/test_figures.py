"""Figures from fabricated run folders: each is produced, saved as PNG + PDF, and leaves rcParams alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fabricate import cache_for, image_ids, make_run, runs_table
from seg_utils import report
from seg_utils.report.results import load_histories, load_per_image

SPREAD = np.linspace(-0.05, 0.05, 12)


@pytest.fixture
def cbis_runs(tmp_path):
    dirs = [make_run(tmp_path, "cbis_ddsm", a, "resnet50", loss, 0.6 + SPREAD)
            for a in ("unet", "deeplabv3plus") for loss in ("bce", "logcosh_dice")]
    return runs_table(dirs)


def _titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_figures_do_not_touch_global_rcparams(tmp_path, cbis_runs):
    before = dict(mpl.rcParams)
    report.plot_history(load_histories(cbis_runs))
    report.plot_panel(cache_for("cbis_ddsm"), cbis_runs, "cbis_ddsm")
    assert dict(mpl.rcParams) == before


def test_plot_table_and_save(tmp_path, cbis_runs):
    df = report.table_losses(tmp_path)  # CBIS rows present, the others missing
    fig = report.plot_table(df)
    assert isinstance(fig, Figure)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("missing: no complete run") == 8
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "CBIS-DDSM masses · U-Net_RN50 · BCE" in labels
    png, pdf = report.save_figure(fig, tmp_path / "figs" / "table2")
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    assert fig._repr_png_()[:4] == b"\x89PNG"  # shows itself in a notebook


def test_plot_table_literature(tmp_path, cbis_runs):
    fig = report.plot_table(report.table_literature(tmp_path))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "Sharif Amit Kamran et al.: Swin-SFTNet" and labels[-1].startswith("this study")


def test_distributions_and_history(cbis_runs):
    fig = report.plot_dice_distributions(load_per_image(cbis_runs))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "U-Net_RN50 BCE"
    fig = report.plot_history(load_histories(cbis_runs))
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 * 4  # train, val, best marker per run
    assert "no" in report.plot_history({}).axes[0].texts[0].get_text()


def test_panel_shows_the_poster_images(cbis_runs):
    fig = report.plot_panel(cache_for("cbis_ddsm"), cbis_runs, "cbis_ddsm", loss="bce")
    assert "the poster's named images" in fig.get_suptitle()
    titles = _titles(fig)
    assert titles[0] == "Mass-Test_P_00066_LEFT_CC_1"
    assert titles[2].startswith("U-Net_RN50: Dice 0.550") and "(poster 0.533)" in titles[2]
    assert titles[3].startswith("DeepLabV3+_RN50: Dice 0.550") and "(poster 0.855)" in titles[3]
    assert len(fig.axes) == 4 * 4


def test_panel_falls_back_to_best_median_worst(tmp_path):
    ids = [f"case{i:02d}" for i in range(9)]
    dirs = [make_run(tmp_path, "isic2018", a, "resnet50", "bce", np.linspace(0.1, 0.9, 9), ids=ids)
            for a in ("unet", "deeplabv3plus")]
    fig = report.plot_panel(cache_for("isic2018", ids), runs_table(dirs), "isic2018")
    assert "not in this test set: best, median and worst DeepLabV3+_RN50" in fig.get_suptitle()
    assert [t for t in _titles(fig) if t.startswith("case")] == ["case08", "case04", "case00"]


def test_panel_without_runs_says_so(cbis_runs):
    fig = report.plot_panel(cache_for("cbis_ddsm"), cbis_runs.iloc[0:0], "cbis_ddsm")
    assert "no complete" in fig.axes[0].texts[0].get_text()


def test_panel_with_one_model_missing(cbis_runs):
    only_unet = cbis_runs[cbis_runs.arch == "unet"]
    fig = report.plot_panel(cache_for("cbis_ddsm"), only_unet, "cbis_ddsm")
    assert any("no run" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_panel_of_runs_without_predictions_says_why(cbis_runs):
    # a committed study (results/cpu-real) keeps its run records but no predictions.npz: the panel says so, no crash
    for run_dir in cbis_runs[cbis_runs.arch == "deeplabv3plus"].run_dir:
        (Path(run_dir) / "predictions.npz").unlink()
    fig = report.plot_panel(cache_for("cbis_ddsm"), cbis_runs, "cbis_ddsm")
    assert any("no predictions saved" in t.get_text() for ax in fig.axes for t in ax.texts)
    for run_dir in cbis_runs.run_dir:
        (Path(run_dir) / "predictions.npz").unlink(missing_ok=True)
    fig = report.plot_panel(cache_for("cbis_ddsm"), cbis_runs, "cbis_ddsm")
    assert "keep no predictions.npz" in fig.axes[0].texts[0].get_text()


def test_quality_gallery(tmp_path):
    from PIL import Image

    good = tmp_path / "a.png"
    Image.fromarray(np.full((40, 50), 128, np.uint8)).save(good)
    mask = tmp_path / "a_mask.png"
    m = np.zeros((40, 50), np.uint8)
    m[10:20, 10:30] = 255
    Image.fromarray(m).save(mask)
    broken = tmp_path / "b.png"
    broken.write_bytes(b"not an image")
    examples = pd.DataFrame({"image_id": ["a", "b"], "split": "train", "check": ["size_mismatch", "unreadable_image"],
                             "detail": ["image 50x40, mask 60x40", "cannot decode"],
                             "image_path": [str(good), str(broken)], "mask_path": [str(mask), ""]})
    fig = report.plot_quality_gallery(examples)
    assert "unreadable_image" in _titles(fig)[1]
    assert any("image:" in t.get_text() for t in fig.axes[1].texts)
    empty = report.plot_quality_gallery(examples.iloc[0:0])
    assert "excluded no image" in empty.axes[0].texts[0].get_text()
    # a gallery of images is saved at IMAGE_DPI (its thumbnails gain nothing at 150), a plot at 150
    png, _pdf = report.save_figure(fig, tmp_path / "gallery")
    plot = report.plot_quality_gallery(examples)
    plot.save_dpi = 150
    png150, _pdf = report.save_figure(plot, tmp_path / "gallery150")
    (w, h), (w150, h150) = (Image.open(f).size for f in (png, png150))
    assert w / w150 == pytest.approx(100 / 150, abs=0.02) and h / h150 == pytest.approx(100 / 150, abs=0.02)
    assert Image.open(report.save_figure(fig, tmp_path / "asked", dpi=50)[0]).size[0] < w  # an explicit dpi wins


def test_image_ids_helper():
    assert len(image_ids("isic2018")) == 12
