"""The committed real-data study carries no absolute path of the machine that made it (data roots are shown relative
to the repository), and a fresh clone of it has no broken link."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from seg_utils.report.publish import broken_links

ROOT = Path(__file__).resolve().parents[2]
_ABSOLUTE = re.compile(r"(/work/|/root/|/home/|/tmp/)")  # example paths in prose (/kaggle/working) are fine


def test_committed_results_hold_no_absolute_path_of_a_machine():
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (e.g. an unpacked archive): nothing committed to check
        return
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".png", ".pdf") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if str(ROOT) in text or _ABSOLUTE.search(text):
            offenders.append(name)
    assert not offenders, f"absolute paths in committed results: {offenders[:10]}"


def _tracked(prefix: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True, text=True)
    return set(out.stdout.split()) if out.returncode == 0 else set()


def test_every_link_of_the_committed_study_resolves_to_a_tracked_file():
    """What a fresh clone holds: the index and every tracked .html and .md under results/cpu-real link only files git
    tracks (python -m seg_utils.report publish writes the folder so)."""
    tracked = _tracked(".")
    pages = sorted(n for n in tracked if n.startswith("results/cpu-real/") and n.endswith((".html", ".md")))
    if not pages:  # not a git checkout (e.g. an unpacked archive), or no committed study
        return
    assert "results/cpu-real/index.html" in pages
    broken = broken_links(ROOT / "results" / "cpu-real", [ROOT / p for p in pages],
                          lambda target: target.is_relative_to(ROOT) and target.relative_to(ROOT).as_posix() in tracked)
    assert not broken, f"{len(broken)} links of the committed study lead to no tracked file, e.g. {broken[:8]}"


def test_each_committed_index_figure_links_to_its_full_size_image():
    tracked = _tracked("results/cpu-real")
    if "results/cpu-real/index.html" not in tracked:
        return
    text = (ROOT / "results" / "cpu-real" / "index.html").read_text()
    figures = re.findall(r"<figure><a href=\"([^\"]+)\"[^>]*><img src=\"([^\"]+)\"", text)
    assert figures and len(figures) == text.count("<img ")
    assert all(href == img and f"results/cpu-real/{href}" in tracked for href, img in figures)


def test_the_committed_study_names_the_release_it_read_and_where_it_was_written():
    """The ISIC sample is the 2017 release: every heading says so; reports name the folder they are committed in."""
    tracked = _tracked("results/cpu-real")
    if "results/cpu-real/tables/runs_isic2018.md" not in tracked:
        return
    tables = ROOT / "results" / "cpu-real" / "tables"
    assert (tables / "runs_isic2018.md").read_text().splitlines()[0] == "# Dice per configuration, ISIC 2017"
    assert "ISIC 2017" in (tables / "table1_encoders.md").read_text().splitlines()[0]
    for report in sorted((ROOT / "results" / "cpu-real" / "notebooks").glob("*.report.html")):
        text = report.read_text()
        if "Written to " in text:
            assert "Written to results/cpu-real" in text, report.name


COMMITTED_LIMIT = 20_000_000
"""Bytes the committed study may hold (issue 23: a clone, and a Kaggle dataset made of it, stay small)."""


def test_the_committed_study_stays_under_its_size_limit():
    tracked = sorted(n for n in _tracked("results/cpu-real") if (ROOT / n).is_file())
    if not tracked:  # not a git checkout, or no committed study
        return
    sizes = {n: (ROOT / n).stat().st_size for n in tracked}
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert sum(sizes.values()) < COMMITTED_LIMIT, (
        f"results/cpu-real holds {sum(sizes.values()) / 1e6:.2f} MB of {COMMITTED_LIMIT / 1e6:g} MB; the largest: "
        + ", ".join(f"{n} ({sizes[n] / 1e6:.2f} MB)" for n in largest))
