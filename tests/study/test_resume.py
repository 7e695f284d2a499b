"""resume_from: bringing runs in from one previous session's output, or from several (the shards of a grid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seg_utils.errors import ConfigError
from seg_utils.study.resume import find_runs_folder, import_runs, split_sources
from seg_utils.study.run_folder import run_dir_for, run_status
from seg_utils.study.spec import RunSpec

STATE_FILES = {"complete": "metrics.json", "failed": "failed.json", "partial": "last.pt"}


def _spec(loss: str = "bce", seed: int = 0) -> RunSpec:
    return RunSpec(dataset="chest_xray", arch="unet", encoder="resnet50", loss=loss, seed=seed, weights="none")


def _run(results: Path, spec: RunSpec, state: str, tag: str = "") -> Path:
    """A run folder in ``state`` (new: an empty folder), with a ``from.txt`` saying where it was made."""
    run = run_dir_for(spec, results)
    run.mkdir(parents=True)
    if state in STATE_FILES:
        (run / STATE_FILES[state]).write_text("{}")
    (run / "from.txt").write_text(tag)
    return run


def test_split_sources():
    assert split_sources("/a") == [Path("/a")]
    assert split_sources(" /a , /b,") == [Path("/a"), Path("/b")]
    assert split_sources(Path("/a")) == [Path("/a")]
    with pytest.raises(ConfigError, match="names no folder"):
        split_sources(" , ")
    with pytest.raises(ConfigError, match="names a folder twice"):
        split_sources("/a,/a")


def test_one_source_as_before(tmp_path):
    bce, lcd = _spec("bce"), _spec("logcosh_dice")
    _run(tmp_path / "old" / "kaggle" / "results", bce, "complete", "old")
    _run(tmp_path / "old" / "kaggle" / "results", lcd, "partial", "old")
    notes = import_runs(tmp_path / "old", tmp_path / "now", [bce, lcd])
    assert run_status(run_dir_for(bce, tmp_path / "now")) == "complete"
    assert run_status(run_dir_for(lcd, tmp_path / "now")) == "partial"
    assert len(notes) == 2 and all("brought in from" in n for n in notes)
    assert import_runs(str(tmp_path / "old"), tmp_path / "now", [bce, lcd]) == []  # nothing further along there


def test_several_sources_merge_the_shards(tmp_path):
    a, b, c, d = _spec("bce", 0), _spec("logcosh_dice", 0), _spec("bce", 1), _spec("logcosh_dice", 1)
    _run(tmp_path / "shard-1" / "results", a, "complete", "1")
    _run(tmp_path / "shard-1" / "results", b, "partial", "1")
    _run(tmp_path / "shard-2" / "results", b, "complete", "2")  # further along in shard 2
    _run(tmp_path / "shard-2" / "results", c, "failed", "2")
    _run(tmp_path / "now", c, "partial", "now")  # here already further along than a failed copy
    source = f"{tmp_path / 'shard-1'}, {tmp_path / 'shard-2'}"
    notes = import_runs(source, tmp_path / "now", [a, b, c, d])
    got = {s.name: (run_status(run_dir_for(s, tmp_path / "now")),
                    (run_dir_for(s, tmp_path / "now") / "from.txt").read_text()
                    if run_dir_for(s, tmp_path / "now").is_dir() else None) for s in (a, b, c, d)}
    assert got == {a.name: ("complete", "1"), b.name: ("complete", "2"), c.name: ("partial", "now"),
                   d.name: ("new", None)}
    assert notes == [f"brought in from {tmp_path / 'shard-1' / 'results' / 'runs'}: 1 complete run(s) ({a.name})",
                     f"brought in from {tmp_path / 'shard-2' / 'results' / 'runs'}: 1 complete run(s) ({b.name})"]


def test_a_missing_source_stops_before_anything_is_copied(tmp_path):
    a = _spec()
    _run(tmp_path / "shard-1", a, "complete")
    with pytest.raises(ConfigError, match="shard-2.*is not a folder"):
        import_runs(f"{tmp_path / 'shard-1'},{tmp_path / 'shard-2'}", tmp_path / "now", [a])
    assert not (tmp_path / "now").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no runs/<dataset>/<run>/ folder"):
        find_runs_folder(tmp_path / "empty")
