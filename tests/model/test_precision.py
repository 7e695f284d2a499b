"""Choosing the precision: a measured probe on the CPU (cached), capability on a GPU, explicit overrides."""

from __future__ import annotations

import time

import pytest
import torch

from seg_utils.errors import ConfigError
from seg_utils.model import precision as prec
from seg_utils.model.precision import AmpSettings, amp_of, resolve_precision

CPU = torch.device("cpu")


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
    cache = tmp_path / "precision" / "probe.json"
    amp, record = resolve_precision(CPU, step=step, cache=cache, key="k1", steps=2)
    assert (amp.name, amp.memory_format) == ("bf16", "channels_last") and amp.enabled
    assert set(record["probe"]) == {"fp32/nchw", "fp32/channels_last", "bf16/nchw", "bf16/channels_last"}
    assert record["probe"]["bf16/channels_last"]["images_per_s"] > record["probe"]["fp32/nchw"]["images_per_s"]
    assert len(calls) == 4 * 3 and cache.is_file()

    def no_step(amp):  # a second run of the same model on the same machine reads the verdict
        raise AssertionError("the cached verdict should be used")

    again, record2 = resolve_precision(CPU, step=no_step, cache=cache, key="k1")
    assert again == amp and "cached" in record2["reason"]
    calls.clear()
    other, _ = resolve_precision(CPU, step=step, cache=cache, key="another machine", steps=1)
    assert calls and other == amp  # another key probes again


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
