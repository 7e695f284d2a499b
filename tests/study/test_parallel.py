"""Concurrent writers corrupt nothing: run locks between real processes (also after a SIGKILL), two shards on one
results folder, parallel runs equal to sequential ones, and bringing in a previous session's runs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seg_utils import study
from seg_utils.errors import ConfigError
from seg_utils.study.locks import RunLocked, run_lock
from seg_utils.study.parallel import resolve_parallel_runs, runs_that_fit

ROOT = Path(__file__).resolve().parents[2]
_HOLD = "from seg_utils.study.locks import run_lock; import sys, time\nwith run_lock(sys.argv[1]):\n" \
        "    print('held', flush=True); time.sleep(120)\n"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_a_lock_held_by_a_live_process_refuses_and_a_killed_holder_leaves_none(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "run")], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"), run_lock(tmp_path / "run"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path / "run"):  # the kernel released the dead holder's lock
        pass


def _params(root, results, **changes):
    values = dict(dataset="chest_xray", data_root=str(root / "chest_xray"), results_dir=str(results), image_size=32,
                  epochs=2, batch_size=4, weights="none", device="cpu", limit=8, precision="fp32",
                  memory_format="nchw", progress=False, configs="unet-resnet50-bce,unet-resnet50-logcosh_dice")
    return study.DatasetParams(**{**values, **changes})


_SHARD = """
import sys
from seg_utils import study
from seg_utils.study import DatasetParams
params = DatasetParams(dataset="chest_xray", data_root=sys.argv[1], results_dir=sys.argv[2], image_size=32, epochs=2,
                       batch_size=4, weights="none", device="cpu", limit=8, precision="fp32", memory_format="nchw",
                       progress=False, configs="unet-resnet50-bce,unet-resnet50-logcosh_dice")
table = study.run_grid(params, study.prepare(params))
print(",".join(table.action))
"""


@pytest.mark.slow
def test_two_processes_on_one_results_folder_train_each_run_once(synthetic_root, tmp_path):
    study.prepare(_params(synthetic_root, tmp_path))  # build the cache once, as a first shard would
    procs = [subprocess.Popen([sys.executable, "-c", _SHARD, str(synthetic_root / "chest_xray"), str(tmp_path)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    actions = [a for out, _err in outs for a in out.strip().splitlines()[-1].split(",")]
    assert sorted(actions).count("trained") == 2, actions  # each run trained by exactly one process
    assert set(actions) <= {"trained", "trained elsewhere", "skipped"}
    for run_dir in (tmp_path / "runs" / "chest_xray").iterdir():
        history = pd.read_csv(run_dir / "history.csv")
        assert history.epoch.tolist() == [1, 2] and study.run_status(run_dir) == "complete"


@pytest.mark.slow
def test_parallel_runs_give_the_numbers_of_one_at_a_time(synthetic_root, tmp_path):
    tables = {}
    for n in ("1", "2"):
        params = _params(synthetic_root, tmp_path / n, parallel_runs=n)
        tables[n] = study.run_grid(params, study.prepare(params))
    assert any("2 at a time" in note for note in tables["2"].attrs["notes"])
    for a, b in zip(tables["1"].run_dir, tables["2"].run_dir, strict=True):
        assert Path(a).name == Path(b).name
        pd.testing.assert_frame_equal(pd.read_csv(Path(a) / "per_image.csv"), pd.read_csv(Path(b) / "per_image.csv"))


def test_parallel_runs_values():
    assert resolve_parallel_runs("3", "cpu", [(None, None)] * 2) == 2  # never more workers than runs
    assert resolve_parallel_runs("auto", "cpu", [(None, None)] * 4) == 1  # runs on a CPU share its cores
    with pytest.raises(ConfigError, match="positive integer or 'auto'"):
        resolve_parallel_runs("0", "cpu", [(None, None)])
    assert runs_that_fit(free_bytes=100 << 30, step_peak_bytes=6 << 30, array_bytes=1 << 30) == 8
    assert runs_that_fit(free_bytes=24 << 30, step_peak_bytes=6 << 30, array_bytes=1 << 30) == 2
    assert runs_that_fit(free_bytes=4 << 30, step_peak_bytes=6 << 30, array_bytes=1 << 30) == 1
    with pytest.raises(ConfigError, match="parallel_runs='many'"):
        _params(Path("/nonexistent"), "/tmp/x", parallel_runs="many")


def _read_only(folder: Path) -> None:
    for p in [folder, *folder.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_resume_from_a_previous_sessions_output(synthetic_root, tmp_path, monkeypatch):
    from seg_utils.study import runs as runs_module

    previous = tmp_path / "previous" / "kaggle-output" / "results"
    params = _params(synthetic_root, previous, epochs=1)
    real = runs_module.evaluate_arrays

    def interrupted(*args, **kwargs):  # the session ends while the second run is being evaluated
        if "logcosh_dice" in str(args[3:4]) or kwargs.get("_n") or len(real.calls) > 0:
            raise KeyboardInterrupt
        real.calls.append(1)
        return real(*args, **kwargs)

    real.calls = []
    monkeypatch.setattr(runs_module, "evaluate_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study.run_grid(params, study.prepare(params))
    monkeypatch.setattr(runs_module, "evaluate_arrays", real)
    states = {d.name.split("-")[2]: study.run_status(d) for d in (previous / "runs" / "chest_xray").iterdir()}
    assert states == {"bce": "complete", "logcosh_dice": "partial"}
    _read_only(tmp_path / "previous")
    try:
        now = _params(synthetic_root, tmp_path / "working", epochs=1, resume_from=str(tmp_path / "previous"))
        table = study.run_grid(now, study.prepare(now)).set_index("loss")
        assert table.action.to_dict() == {"bce": "skipped", "logcosh_dice": "resumed"}
        assert table.status.tolist() == ["complete", "complete"]
        assert any("brought in from" in n for n in table.attrs["notes"])
        history = pd.read_csv(Path(table.loc["logcosh_dice", "run_dir"]) / "history.csv")
        assert history.epoch.tolist() == [1]  # its one epoch came from the previous session, not trained again
    finally:
        for p in [tmp_path / "previous", *(tmp_path / "previous").rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    with pytest.raises(ConfigError, match="no runs/<dataset>/<run>/ folder"):
        bad = _params(synthetic_root, tmp_path / "w2", resume_from=str(tmp_path / "working" / "cache"))
        study.run_grid(bad, study.prepare(bad))


def test_status_of_a_run_folder_during_its_life(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert study.run_status(run) == "new"
    (run / "last.pt").write_bytes(b"x")
    assert study.run_status(run) == "partial"
    (run / "failed.json").write_text("{}")
    assert study.run_status(run) == "failed"
    (run / "metrics.json").write_text("{}")
    assert study.run_status(run) == "complete"
