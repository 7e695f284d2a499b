"""Choosing the precision: a measured probe on the CPU (cached once per machine and model), capability on a GPU,
explicit overrides."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seg_utils.errors import ConfigError
from seg_utils.model import precision as prec
from seg_utils.model.precision import CACHE_ENV, AmpSettings, ProbeCache, amp_of, resolve_precision, user_probe_cache
from seg_utils.study import runs
from seg_utils.study.spec import RunSpec

_BUSY = prec._busy  # the real check, before the autouse fixture replaces it

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _quiet_cpu(monkeypatch):
    """The tests' probes count as taken on an idle CPU, whatever else runs beside the suite (one test makes it busy)."""
    monkeypatch.setattr(prec, "_busy", lambda: "")


def test_a_probe_on_a_busy_cpu_chooses_for_its_run_only(tmp_path, monkeypatch):
    monkeypatch.setattr(prec.os, "getloadavg", lambda: (torch.get_num_threads() + 3.0, 0.0, 0.0))
    monkeypatch.setattr(prec, "_busy", _BUSY)
    calls: list[str] = []
    step = _fake_step({"fp32/nchw": 0.01, "fp32/channels_last": 0.01, "bf16/nchw": 0.005,
                       "bf16/channels_last": 0.01}, calls)
    cache = ProbeCache(tmp_path / "precision", "the test cache", "precision")
    amp, record = resolve_precision(CPU, step=step, cache=cache, key="k", steps=1)
    assert amp.name == "bf16" and record["cache"].startswith("not cached: the CPU was busy during the probe")
    assert not cache.file("k").exists()
    monkeypatch.setattr(prec.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert _BUSY() == ""


def _fake_step(seconds: dict[str, float], calls: list[str]):
    """A probe step whose time depends on the settings: 4 images in ``seconds[precision/format]``."""
    def step(amp: AmpSettings) -> float:
        key = f"{amp.name}/{amp.memory_format}"
        calls.append(key)
        time.sleep(seconds[key])
        return 4.0
    return step


def test_the_probe_keeps_the_fastest_and_caches_the_verdict(tmp_path):
    calls: list[str] = []
    step = _fake_step({"fp32/nchw": 0.02, "fp32/channels_last": 0.015, "bf16/nchw": 0.01,
                       "bf16/channels_last": 0.004}, calls)
    cache = ProbeCache(tmp_path / "precision", "the test cache", "precision")
    amp, record = resolve_precision(CPU, step=step, cache=cache, key="k1", steps=2)
    assert (amp.name, amp.memory_format) == ("bf16", "channels_last") and amp.enabled
    assert set(record["probe"]) == {"fp32/nchw", "fp32/channels_last", "bf16/nchw", "bf16/channels_last"}
    assert record["probe"]["bf16/channels_last"]["images_per_s"] > record["probe"]["fp32/nchw"]["images_per_s"]
    assert len(calls) == 4 * 3 and cache.file("k1").is_file()
    assert record["cache"] == "written to the test cache (precision, key k1)"

    def no_step(amp):  # a second run of the same model on the same machine reads the verdict
        raise AssertionError("the cached verdict should be used")

    again, record2 = resolve_precision(CPU, step=no_step, cache=cache, key="k1")
    assert again == amp and record2["reason"] == "fastest in the probe cached in the test cache (precision, key k1)"
    assert record2["probe"] == record["probe"] and record2["probed"]
    calls.clear()
    other, _ = resolve_precision(CPU, step=step, cache=cache, key="another machine", steps=1)
    assert calls and other == amp  # another key probes again
    assert sorted(f.name for f in cache.folder.iterdir()) == ["another machine.json", "k1.json"]  # one file per key


def test_a_verdict_of_other_candidates_or_a_damaged_one_is_probed_again(tmp_path):
    calls: list[str] = []
    step = _fake_step({"fp32/nchw": 0.002, "fp32/channels_last": 0.001, "bf16/nchw": 0.003,
                       "bf16/channels_last": 0.004}, calls)
    cache = ProbeCache(tmp_path, "the test cache", "t")
    resolve_precision(CPU, "bf16", "auto", step=step, cache=cache, key="k", steps=1)  # bf16 candidates only
    calls.clear()
    amp, record = resolve_precision(CPU, step=step, cache=cache, key="k", steps=1)  # auto needs fp32's too
    assert len(calls) == 4 * 2 and amp.name == "fp32" and "holds no figures for fp32/nchw" in record["cache_notes"][0]
    calls.clear()
    cache.file("k").write_text("{ half a fi")
    _, record = resolve_precision(CPU, step=step, cache=cache, key="k", steps=1)
    assert calls and "could not be read (JSONDecodeError" in record["cache_notes"][0]
    _, record = resolve_precision(CPU, step=None, cache=cache, key="k")  # the damaged entry was replaced
    assert record["reason"].startswith("fastest in the probe cached")


def _run_precision(monkeypatch, results: Path, calls: list[str], arch: str = "unet", size: int = 64):
    """``seg_utils.study.runs._precision`` of a run in the results folder ``results``, with a fake probe step."""
    monkeypatch.setattr(runs, "probe_step", lambda *a, **k: _fake_step(
        {"fp32/nchw": 0.002, "fp32/channels_last": 0.001, "bf16/nchw": 0.003, "bf16/channels_last": 0.004}, calls))
    spec = RunSpec("chest_xray", arch, "resnet18", "bce", image_size=size, batch_size=4, weights="none")
    data = SimpleNamespace(cache=SimpleNamespace(path=results / "cache" / "chest_xray-64px-abc"))
    return runs._precision(spec, data, CPU, "auto", "auto")


def _no_absolute_path(record: dict, *paths: Path) -> None:
    text = json.dumps(record)
    assert not any(str(p) in text for p in paths), text
    assert not any(isinstance(v, str) and v.startswith("/") for v in _strings(record)), text
    assert ' "/' not in text and "'/" not in text


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    else:
        yield obj


def test_two_results_folders_share_one_probe_in_the_user_cache(tmp_path, monkeypatch):
    user = tmp_path / "user-cache"
    monkeypatch.setenv(CACHE_ENV, str(user))
    calls: list[str] = []
    amp, first = _run_precision(monkeypatch, tmp_path / "results-a", calls)
    n = len(calls)
    assert n == 4 * 4 and amp.name == "fp32"
    assert first["cache"].startswith("written to the user cache ($SEG_UTILS_CACHE/precision, key")
    key = first["probe_key"]
    assert [f.name for f in (user / "precision").iterdir()] == [f"{key}.json"]
    again, second = _run_precision(monkeypatch, tmp_path / "results-b", calls)  # another results folder
    assert len(calls) == n and again == amp  # no probe: the same model on the same machine
    assert second["reason"] == f"fastest in the probe cached in the user cache ($SEG_UTILS_CACHE/precision, key {key})"
    assert not (tmp_path / "results-a" / "cache").exists() and not (tmp_path / "results-b" / "cache").exists()
    _run_precision(monkeypatch, tmp_path / "results-b", calls, size=96)  # another key (size): probes again
    assert len(calls) == 2 * n and len(list((user / "precision").iterdir())) == 2
    for record in (first, second):
        _no_absolute_path(record, tmp_path, Path.home())


@pytest.mark.parametrize("how", ["a file in the way", "read-only folder"])
def test_a_read_only_user_cache_falls_back_to_the_results_folder_and_says_so(tmp_path, monkeypatch, how):
    user = tmp_path / "user-cache"
    if how == "a file in the way":  # works as root too, who may write into a read-only folder
        user.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        user.mkdir()
        user.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv(CACHE_ENV, str(user))
    calls: list[str] = []
    with pytest.warns(UserWarning, match="the user cache .* is not writable"):
        amp, record = _run_precision(monkeypatch, tmp_path / "results", calls)
    assert calls and record["cache"].startswith("the user cache ($SEG_UTILS_CACHE/precision) is not writable (")
    assert "written to the results folder's cache (cache/precision, key" in record["cache"]
    assert "serves that folder only" in record["cache"]
    key = record["probe_key"]
    assert (tmp_path / "results" / "cache" / "precision" / f"{key}.json").is_file()
    calls.clear()
    again, second = _run_precision(monkeypatch, tmp_path / "results", calls)  # the same folder reads its fallback
    assert not calls and again == amp and f"results folder's cache (cache/precision, key {key})" in second["reason"]
    for r in (record, second):
        _no_absolute_path(r, tmp_path, Path.home())


def test_the_user_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    cache = user_probe_cache()
    assert cache.folder == tmp_path / "home" / ".cache" / "seg_utils" / "precision"
    assert cache.label == "the user cache (~/.cache/seg_utils/precision)"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG specification: absolute paths only
    assert user_probe_cache().folder == tmp_path / "home" / ".cache" / "seg_utils" / "precision"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_probe_cache().folder == tmp_path / "xdg" / "seg_utils" / "precision"
    assert user_probe_cache().describe("abc") == "the user cache ($XDG_CACHE_HOME/seg_utils/precision, key abc)"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert user_probe_cache().folder == tmp_path / "mine" / "precision"
    assert user_probe_cache().label == "the user cache ($SEG_UTILS_CACHE/precision)"


def test_a_much_slower_candidate_is_not_measured_further(tmp_path):
    calls: list[str] = []
    step = _fake_step({"fp32/nchw": 0.01, "fp32/channels_last": 0.01, "bf16/nchw": 0.2, "bf16/channels_last": 0.2},
                      calls)
    amp, record = resolve_precision(CPU, step=step, steps=3)
    assert amp.name == "fp32" and calls.count("bf16/nchw") == 1 and "not measured further" in \
        record["probe"]["bf16/nchw"]["note"]


def test_explicit_choices_override_the_probe():
    amp, record = resolve_precision(CPU, "fp32", "nchw")
    assert amp == AmpSettings(None, False) and record["reason"] == "asked for"
    calls: list[str] = []
    step = _fake_step({"bf16/nchw": 0.001, "bf16/channels_last": 0.01}, calls)
    amp, _ = resolve_precision(CPU, "bf16", "auto", step=step, steps=1)
    assert amp.name == "bf16" and set(calls) == {"bf16/nchw", "bf16/channels_last"}
    with pytest.raises(ConfigError, match="precision='fp64' is not valid"):
        resolve_precision(CPU, "fp64")
    with pytest.raises(ConfigError, match="needs a probe step"):
        resolve_precision(CPU)


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp16")])
def test_on_a_gpu_bf16_where_native_else_fp16(monkeypatch, native, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
    amp, record = resolve_precision(torch.device("cuda"))
    assert (amp.name, amp.memory_format) == (expected, "channels_last") and "GPU" in record["reason"]
    if not native:
        with pytest.raises(ConfigError, match="no native bf16"):
            resolve_precision(torch.device("cuda"), "bf16")


def test_amp_settings_describe_themselves():
    assert amp_of("fp16", "channels_last").description == "fp16 autocast + GradScaler, channels_last"
    assert amp_of("fp32", "nchw").description == "fp32, nchw"
    assert prec.probe_key(CPU, "unet-resnet50", 128, 8) != prec.probe_key(CPU, "unet-resnet50", 224, 8)


def test_a_verdict_cached_under_older_probe_rules_is_probed_again(monkeypatch, tmp_path):
    """A verdict from before a rule change (e.g. one measured on a busy CPU, before busy probes went uncached) sits
    under another key, so the next run measures again instead of reading it."""
    cache = prec.folder_probe_cache(tmp_path)
    old_key = prec.probe_key(CPU, "unet-resnet50", 128, 8)
    cache.write(old_key, {"key": old_key, "figures": {"fp32/nchw": 10.0}})
    monkeypatch.setattr(prec, "PROBE_RULES", prec.PROBE_RULES + 1)
    new_key = prec.probe_key(CPU, "unet-resnet50", 128, 8)
    assert new_key != old_key and cache.read(new_key) is None and cache.read(old_key) is not None
