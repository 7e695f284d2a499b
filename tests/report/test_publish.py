"""Publishing a results folder: only the declared files are copied, the index links only what is there, every link
of the published pages resolves, a missing file is reported, and .gitignore keeps results/cpu-real to the same
list."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fabricate import make_run
from seg_utils import report
from seg_utils.errors import ConfigError
from seg_utils.report.html import build_index
from seg_utils.report.publish import PUBLISHED, broken_links, page_links, publish, published_files

ROOT = Path(__file__).resolve().parents[2]
_FIGURE = re.compile(r"<figure><a href=\"([^\"]+)\"[^>]*><img src=\"([^\"]+)\"")


def _write(path: Path, text: str | bytes = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


def _working_folder(results: Path) -> dict[str, list[str]]:
    """A results folder as run_all.sh leaves it: records and reports beside checkpoints, predictions, caches,
    executed notebooks, the HTML with code, PDFs and logs. Returns the files that are published and those that
    are not (relative paths)."""
    runs = [make_run(results, "isic2018", a, "resnet50", "bce", 0.8 + np.linspace(-0.05, 0.05, 12))
            for a in ("unet", "deeplabv3plus")]
    for run in runs:
        for name in ("environment.json", "splits.json"):
            _write(run / name, "{}")
        for name in ("best.pt", "last.pt", ".lock", "external/montgomery-test/metrics.json"):
            _write(run / name)
        report.write_model_card(run)
    card = runs[0].relative_to(results).as_posix() + "/model_card.md"
    nb = results / "notebooks"
    _write(nb / "01_dataset_isic2018.ipynb", json.dumps({"cells": []}))
    _write(nb / "01_dataset_isic2018.html", "<html>with code</html>")
    _write(nb / "01_dataset_isic2018.report.html",
           f'<a href="../{card}">model card</a> <a href="#Data-quality">¶</a> <a href="https://example.org">x</a>'
           '<img src="data:image/png;base64,AAAA"> <a href="mailto:someone@example.org">mail</a>')
    for name in ("01_dataset_isic2018.log", "01_dataset_isic2018.params.yaml", "01_dataset_isic2018.progress.jsonl"):
        _write(nb / name)
    scores = report.dataset_table(report.select_runs(results, "isic2018"), "isic2018")
    tables = report.save_table(scores, "runs_isic2018", results)
    figures = [_write(results / "figures" / "isic2018" / f"panel_bce.{ext}", b"\x89PNG fake") for ext in ("png", "pdf")]
    gallery = [_write(results / "figures" / "predict" / f"gallery.{ext}", b"\x89PNG fake") for ext in ("png", "pdf")]
    for path in ("cache/64px-none-abc/images.npy", "predictions/run/predictions.csv", "runs/isic2018/x.tmp",
                 "synthetic/isic2018/ISIC2018_Task1-2_Test_Input/ISIC_0000000.jpg", "run_all.stdout"):
        _write(results / path)
    arts = [p.relative_to(results).as_posix() for p in [*tables, *figures]]
    _write(results / "summaries" / "dataset_isic2018.json",
           json.dumps({"notebook": "dataset_isic2018", "finished": "2026-12-06T00:00:00+00:00",
                       "parameters": {"data_root": "../shared/data"}, "artefacts": arts, "runs": []}))
    _write(results / "summaries" / "predict.json", json.dumps(
        {"notebook": "predict", "parameters": {}, "artefacts": [p.relative_to(results).as_posix() for p in gallery]}))
    build_index(results)
    published = [*arts[:2], arts[2], "figures/predict/gallery.png", "notebooks/01_dataset_isic2018.report.html",
                 "summaries/dataset_isic2018.json", "summaries/predict.json"]
    published += [f"{r.relative_to(results).as_posix()}/{n}" for r in runs for n in
                  ("spec.json", "metrics.json", "per_image.csv", "history.csv", "splits.json", "environment.json",
                   "model_card.md")]
    return {"published": sorted(published), "all": sorted(p.relative_to(results).as_posix()
                                                          for p in results.rglob("*") if p.is_file())}


@pytest.fixture()
def working(tmp_path) -> tuple[Path, dict[str, list[str]]]:
    src = tmp_path / "work"
    return src, _working_folder(src)


def test_publish_copies_only_the_published_files_and_every_link_resolves(working, tmp_path):
    src, files = working
    interrupted = src / "runs" / "isic2018" / "unet-vgg19-bce-s9-0123456789"  # training, or stopped: no outcome yet
    _write(interrupted / "spec.json", "{}")
    _write(interrupted / "history.csv", "epoch\n1\n")
    assert [p.as_posix() for p in published_files(src)] == files["published"]
    assert not broken_links(src)  # the working index links what exists there (with code, notebook, PDFs)
    working_index = (src / "index.html").read_text()
    assert "notebooks/01_dataset_isic2018.ipynb" in working_index and "panel_bce.pdf" in working_index

    index = publish(src, tmp_path / "published")
    dest = index.parent
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert copied == sorted([*files["published"], "index.html"])
    assert not [c for c in copied if c.endswith((".pt", ".npz", ".ipynb", ".pdf", ".log", ".yaml", ".npy"))]
    assert broken_links(dest) == []
    links = page_links(index)
    assert "notebooks/01_dataset_isic2018.report.html" in links and "figures/predict/gallery.png" in links
    assert not [link for link in links if link.endswith((".pdf", ".ipynb", ".log")) or "with code" in link]
    assert "with code" not in index.read_text()
    # the model card keeps its time, so a fresh copy does not count as outdated
    card = next(dest.glob("runs/*/*/model_card.md")).parent
    assert not report.cards.card_outdated(card)


def test_each_index_figure_is_a_link_to_its_full_size_image(working, tmp_path):
    src, _ = working
    index = publish(src, tmp_path / "published")
    text = index.read_text()
    figures = _FIGURE.findall(text)
    assert len(figures) == text.count("<img ") == 2
    for href, img in figures:
        assert href == img and (index.parent / href).is_file() and href.endswith(".png")


def test_a_link_to_a_missing_file_is_reported(tmp_path):
    _write(tmp_path / "tables" / "t.csv", "a\n1\n")
    _write(tmp_path / "index.html", '<a href="tables/t.csv">t</a><a href="tables/gone.csv">gone</a>'
                                    '<a href="#top">top</a><a href="http://example.org/x.csv">web</a>'
                                    '<img src="figures/missing%20one.png">')
    _write(tmp_path / "notes" / "n.md", "[ok](../tables/t.csv) and [gone](../tables/gone.md#row) "
                                        "[web](https://example.org) [mail](mailto:a@b.c) [here](#anchor)")
    assert sorted(broken_links(tmp_path)) == ["index.html -> figures/missing one.png", "index.html -> tables/gone.csv",
                                              "notes/n.md -> ../tables/gone.md"]
    tracked = {tmp_path / "tables" / "t.csv"}
    assert broken_links(tmp_path, [tmp_path / "notes" / "n.md"], tracked.__contains__) == [
        "notes/n.md -> ../tables/gone.md"]


def test_publish_refuses_overlapping_or_occupied_folders(working, tmp_path):
    src, _ = working
    with pytest.raises(ConfigError, match="apart"):
        publish(src, src / "published")
    with pytest.raises(ConfigError, match="not a results folder"):
        publish(tmp_path / "nothing", tmp_path / "out")
    occupied = _write(tmp_path / "occupied" / "keep.txt").parent
    with pytest.raises(ConfigError, match="not a published results folder"):
        publish(src, occupied, replace=True)
    assert (occupied / "keep.txt").is_file()
    dest = publish(src, tmp_path / "published").parent
    stale = _write(dest / "notebooks" / "old.log")
    with pytest.raises(ConfigError, match="--replace"):
        publish(src, dest)
    publish(src, dest, replace=True)
    assert not stale.exists() and not broken_links(dest)


def test_the_command_line_publishes(working, tmp_path):
    src, _ = working
    out = subprocess.run(["python", "-m", "seg_utils.report", "publish", str(src), str(tmp_path / "pub")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == (tmp_path / "pub" / "index.html").resolve()
    again = subprocess.run(["python", "-m", "seg_utils.report", "publish", str(src), str(tmp_path / "pub")],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert again.returncode == 2 and "--replace" in again.stderr


def test_gitignore_keeps_results_cpu_real_to_the_published_files(working, tmp_path):
    """The repository's .gitignore, in a scratch repository holding a whole working folder at results/cpu-real:
    git would add exactly the published files and the index."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src, files = working
    repo = tmp_path / "repo"
    shutil.copytree(src, repo / "results" / "cpu-real")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "results"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.split()
    assert sorted(listed) == sorted(f"results/cpu-real/{p}" for p in [*files["published"], "index.html"])
    assert all(pattern in (ROOT / ".gitignore").read_text() for pattern in
               (f"!results/cpu-real/{p}" for p in PUBLISHED))
