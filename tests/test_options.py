"""Options declared once: checks, command-line flags, notebook parameters cells and report tables derive from them."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from seg_utils.errors import ConfigError
from seg_utils.options import add_arguments, check_options, option, options_table, parameter_lines, values_from
from seg_utils.study.notebook_cells import NOTEBOOK_PARAMETERS, parameters_source, sync_parameters

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, kw_only=True)
class _Opts:
    epochs: int = option(3, "maximum epochs", low=1)
    rate: float = option(0.5, "a rate", low=0, high=1, open_low=True, open_high=True)
    mode: str = option("a", "which mode: a | b", choices=("a", "b"))
    quiet: bool = option(False, "no bars")

    def __post_init__(self) -> None:
        check_options(self)


@pytest.mark.parametrize("changes, message", [
    ({"epochs": "3"}, "parameter epochs='3' should be int"), ({"epochs": True}, "should be int"),
    ({"epochs": 0}, "epochs=0 must be at least 1"), ({"rate": 1}, "rate=1 must lie strictly between 0 and 1"),
    ({"mode": "c"}, "mode='c' is not valid; choose one of: a, b"), ({"quiet": 1}, "quiet=1 should be bool"),
])
def test_one_declaration_refuses_a_wrong_value_with_one_message(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _Opts(**changes)
    assert _Opts(rate=0.25, epochs=2).rate == 0.25


def test_flags_and_parameter_lines_are_derived():
    parser = argparse.ArgumentParser()
    add_arguments(parser, _Opts)
    args = parser.parse_args(["--epochs", "5", "--mode", "b", "--quiet", "true"])
    assert values_from(args, _Opts) == {"epochs": 5, "rate": 0.5, "mode": "b", "quiet": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])
    assert parameter_lines(_Opts, epochs=9) == ['epochs: int = 9  # maximum epochs', 'rate: float = 0.5  # a rate',
                                                'mode: str = "a"  # which mode: a | b',
                                                'quiet: bool = False  # no bars']
    assert options_table(_Opts()).parameter.tolist() == ["epochs", "rate", "mode", "quiet"]


def test_committed_notebooks_hold_the_generated_parameters_cells():
    assert sync_parameters(ROOT / "notebooks", write=False) == [], (
        "a notebook's parameters cell differs from the declared options: run python -m seg_utils sync-notebooks")
    for name in NOTEBOOK_PARAMETERS:  # ruff's line length applies to notebooks too
        assert all(len(line) <= 120 for line in parameters_source(name).splitlines()), name


def test_a_new_run_option_is_one_declaration(tmp_path):
    """A dummy option added to RunOptions alone reaches `train --help`, the notebook parameters and the report table."""
    copy = tmp_path / "seg_utils"
    shutil.copytree(ROOT / "seg_utils", copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec = copy / "study" / "spec.py"
    anchor = '    image_size: int = option(224,'
    text = spec.read_text()
    assert anchor in text
    spec.write_text(text.replace(anchor, '    dummy_knob: int = option(7, "a dummy option for the test", low=0)\n'
                                 + anchor, 1))
    script = (
        "import dataclasses, sys\n"
        "from seg_utils.cli import build_parser\n"
        "from seg_utils.study import DatasetParams\n"
        "from seg_utils.study.notebook_cells import parameters_source\n"
        "help = build_parser()._subparsers._group_actions[0].choices['train'].format_help()\n"
        "print('help' if '--dummy-knob' in help and 'a dummy option for the test' in help else 'no help')\n"
        "p = DatasetParams(dataset='isic2018', dummy_knob=3)\n"
        "print('params' if p.dummy_knob == 3 else 'no params')\n"
        "print('table' if 'dummy_knob' in p.table().parameter.tolist() else 'no table')\n"
        "print('cell' if 'dummy_knob: int = 7  # a dummy option' in parameters_source('01_dataset_isic2018') "
        "else 'no cell')\n"
        "print('spec' if p.spec('unet', 'resnet50', 'bce', 0).dummy_knob == 3 else 'no spec')\n"
        "try:\n    DatasetParams(dataset='isic2018', dummy_knob=-1)\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}, timeout=300)
    assert out.stdout.split() == ["help", "params", "table", "cell", "spec", "ConfigError"], out.stderr[-2000:]


def test_run_spec_and_notebook_parameters_share_one_declaration():
    from seg_utils.model.train import TrainOptions
    from seg_utils.study import DatasetParams, RunSpec
    from seg_utils.study.spec import RunOptions

    run_options = {f.name for f in dataclasses.fields(RunOptions)}
    assert {f.name for f in dataclasses.fields(TrainOptions)} < run_options
    assert run_options < {f.name for f in dataclasses.fields(RunSpec)}
    assert run_options < {f.name for f in dataclasses.fields(DatasetParams)}
    for name in run_options:  # the same default, from the same field
        assert RunSpec.default(name) == next(f.default for f in dataclasses.fields(DatasetParams) if f.name == name)
