"""The way in from Kaggle and Colab (seg_utils.launch): the launcher notebook, the Kaggle kernel folders per shard, the
accelerator check, what is attached, running run_all.sh, and (slow) the launcher executed end to end on a fake
/kaggle/input with the paper profile."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest
import torch
import yaml

from kaggle_fixtures import KAGGLE_COPIES, write_kaggle_input
from seg_utils import ConfigError, TrainingError, launch
from seg_utils.cli import main as cli_main
from seg_utils.study.execute import grid_specs
from seg_utils.study.grid import GRID_DATASETS
from seg_utils.study.params import DatasetParams

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "notebooks" / "00_launch_kaggle_colab.ipynb"
PAPER = yaml.safe_load((ROOT / "notebooks" / "params" / "paper.yaml").read_text())
KEY_TYPES = {"id": str, "title": str, "code_file": str, "language": str, "kernel_type": str, "is_private": bool,
             "enable_gpu": bool, "enable_internet": bool, "dataset_sources": list, "competition_sources": list,
             "kernel_sources": list, "model_sources": list}
SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
NOTEBOOK_NUMBER = {"01": "isic2018", "02": "chest_xray", "03": "cbis_ddsm"}


def _kernels(tmp_path: Path, shards: int = 3) -> list[Path]:
    return launch.write_kernels(tmp_path / "kernels", shards, "alice", "https://example.org/study.git")


def _parameters(folder: Path) -> dict[str, object]:
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    declared = pm.inspect_notebook(str(folder / meta["code_file"]))
    return {name: eval(p["default"]) for name, p in declared.items()}  # noqa: S307 -- literals we wrote


def _notebook_params(extra: str, dataset: str) -> dict[str, object]:
    """The parameters a dataset notebook gets from run_all.sh for ``extra`` (its -p and --param-for options), typed
    as papermill types them."""
    words, out = shlex.split(extra), {}
    typed = {"True": True, "False": False}
    i = 0
    while i < len(words):
        if words[i] == "-p":
            out[words[i + 1]] = typed.get(words[i + 2], words[i + 2])
            i += 3
        elif words[i] == "--param-for":
            if NOTEBOOK_NUMBER[words[i + 1]] == dataset:
                out[words[i + 2]] = typed.get(words[i + 3], words[i + 3])
            i += 4
        else:
            raise AssertionError(f"unexpected option {words[i]!r} in {extra!r}")
    return out


# ------------------------------------------------------------------------------------ the launcher notebook

def test_launcher_notebook_is_clean_thin_and_not_run_by_run_all():
    nb = nbformat.read(LAUNCHER, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "commit the launcher without outputs"
        assert len(cell.source.splitlines()) <= 10 or cell is code[0]
        for line in cell.source.splitlines():
            assert not re.match(r"\s*(def|class|for|while|if|with|try)\b", line), line
    for line in code[0].source.splitlines():
        assert re.fullmatch(r"\w+: (str|int|float|bool) = [^=]+  # [^=]+", line), line
    declared = pm.inspect_notebook(str(LAUNCHER))
    assert {"repo_url", "install", "device", "input_root", "profile", "results_dir", "resume_from", "extra",
            "weights"} <= set(declared)
    assert eval(declared["input_root"]["default"]) == "/kaggle/input"  # noqa: S307
    assert eval(declared["repo_url"]["default"]) == "" and eval(declared["resume_from"]["default"]) == ""  # noqa: S307
    from seg_utils.study.notebooks import study_notebooks

    notebooks = study_notebooks(ROOT)  # what run_all.sh runs
    assert LAUNCHER.stem not in notebooks and notebooks, "run_all.sh must not run the launcher that launches it"


# ------------------------------------------------------------------------------------ kernel folders

def test_kernel_metadata_fields(tmp_path):
    folders = _kernels(tmp_path)
    assert [f.name for f in folders] == ["shard-1", "shard-2", "shard-3", "merge"]
    slugs = []
    for folder in folders:
        meta = json.loads((folder / "kernel-metadata.json").read_text())
        for key, kind in KEY_TYPES.items():
            assert isinstance(meta.get(key), kind), f"{folder.name}: {key}={meta.get(key)!r} is not a {kind.__name__}"
        owner, slug = meta["id"].split("/")
        assert owner == "alice" and SLUG.fullmatch(slug) and 5 <= len(slug) <= 50, meta["id"]
        assert len(meta["title"]) >= 5 and meta["title"].lower().replace(" ", "-") == slug  # the title gives the slug
        assert (meta["language"], meta["kernel_type"], meta["is_private"], meta["enable_internet"]) == (
            "python", "notebook", True, True)
        assert meta["dataset_sources"] == list(launch.KAGGLE_DATASETS.values())
        assert meta["competition_sources"] == [] and meta["model_sources"] == []
        nb = nbformat.read(folder / meta["code_file"], as_version=4)
        nbformat.validate(nb)
        for line in next(c for c in nb.cells if c.cell_type == "code").source.splitlines():
            assert re.fullmatch(r"\w+: (str|int|float|bool) = [^=]+  # [^=]+", line), line
        params = _parameters(folder)
        assert params["repo_url"] == "https://example.org/study.git" and params["install"] is True
        assert params["results_dir"] == "/kaggle/working/results" and params["input_root"] == "/kaggle/input"
        slugs.append(slug)
        if folder.name.startswith("shard-"):
            k = folder.name.split("-")[1]
            assert meta["enable_gpu"] is True and meta["machine_shape"] == "NvidiaTeslaT4"
            assert meta["kernel_sources"] == [] and params["resume_from"] == ""
            assert f"-p shard {k}/3" in params["extra"]
            assert "--param-for 01 test_source train_fraction" in params["extra"]
    merge = json.loads((folders[-1] / "kernel-metadata.json").read_text())
    assert merge["kernel_sources"] == [f"alice/{s}" for s in slugs[:3]] and merge["enable_gpu"] is False
    assert "machine_shape" not in merge
    params = _parameters(folders[-1])
    assert params["resume_from"].split(",") == [f"/kaggle/input/{s}" for s in slugs[:3]]
    assert "-p train False" in params["extra"] and "shard" not in params["extra"]


def test_template_holds_the_fields_and_an_owner_placeholder():
    meta = json.loads(launch.TEMPLATE.read_text())
    assert set(KEY_TYPES) | {"machine_shape"} == set(meta)
    assert meta["id"].startswith("YOUR-KAGGLE-USERNAME/") and meta["machine_shape"] == "NvidiaTeslaT4"
    assert meta["dataset_sources"] == [f"{o}/{s}" for o, s in KAGGLE_COPIES.values()]


@pytest.mark.parametrize("shards", [1, 3, 5])
def test_shards_cover_each_grid_exactly_once(tmp_path, shards):
    folders = _kernels(tmp_path, shards)[:-1]
    for dataset in GRID_DATASETS:
        names: list[str] = []
        for folder in folders:
            params = DatasetParams(dataset=dataset, **{**PAPER, **_notebook_params(_parameters(folder)["extra"],
                                                                                      dataset)})
            assert params.shard == f"{folder.name.split('-')[1]}/{shards}"
            names += [s.name for s in grid_specs(params)]
        merge = _notebook_params(_parameters(_kernels(tmp_path, shards)[-1])["extra"], dataset)
        full = [s.name for s in grid_specs(DatasetParams(dataset=dataset, **{**PAPER, **merge}))]
        assert len(names) == len(set(names)), f"{dataset}: a run is in two shards"
        assert sorted(names) == sorted(full), f"{dataset}: the shards miss runs or add some"


def test_kernel_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="Kaggle username"):
        launch.write_kernels(tmp_path, 2, "", "https://example.org/x.git")
    with pytest.raises(ConfigError, match="--repo-url"):
        launch.write_kernels(tmp_path, 2, "alice", "")
    with pytest.raises(ConfigError, match="at least 1"):
        launch.write_kernels(tmp_path, 0, "alice", "u")
    with pytest.raises(ConfigError, match="slug prefix"):
        launch.write_kernels(tmp_path, 2, "alice", "u", slug_prefix="Seg Study")
    with pytest.raises(ConfigError, match="no parameter"):
        launch._set_parameters('a: str = "x"  # a', {"b": "y"})


def test_cli_writes_the_kernels(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    assert cli_main(["kaggle-kernels", "--shards", "2", "--out", str(tmp_path), "--repo-url", "u"]) == 2
    assert "Kaggle username" in capsys.readouterr().err
    monkeypatch.setenv("KAGGLE_USERNAME", "bob")
    args = ["kaggle-kernels", "--shards", "2", "--out", str(tmp_path), "--repo-url", "https://example.org/s.git",
            "--slug-prefix", "lungs", "--extra=-p epochs 5"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert f"kaggle kernels push -p {tmp_path / 'shard-1'}" in out and f"-p {tmp_path / 'merge'}" in out
    meta = json.loads((tmp_path / "merge" / "kernel-metadata.json").read_text())
    assert meta["id"] == "bob/lungs-merge-of-2" and meta["kernel_sources"] == ["bob/lungs-shard-1-of-2",
                                                                               "bob/lungs-shard-2-of-2"]
    assert _parameters(tmp_path / "shard-2")["extra"] == "-p shard 2/2 -p epochs 5"


# ------------------------------------------------------------------------------------ accelerator, inputs

def test_a_p100_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (6, 0))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla P100-PCIE-16GB")
    with pytest.raises(ConfigError) as err:
        launch.check_accelerator("auto")
    message = str(err.value)
    assert "\n" not in message and "Tesla P100-PCIE-16GB" in message and "T4" in message and "sm_60" in message


def test_check_accelerator_on_the_cpu():
    table = launch.check_accelerator("cpu").set_index("what")["value"]
    assert table["device"] == "cpu" and int(table["CPU cores"]) == os.cpu_count()


@pytest.mark.parametrize("mount", ["slug", "datasets"])
def test_find_inputs_on_a_fake_input_root(tmp_path, mount):
    root = tmp_path / "input"
    mounts = write_kaggle_input(root, mount=mount, n_train=4, n_test=2)
    cache = root / "smp-weights" / "hub"
    (cache / "models--smp-hub--resnet50.imagenet" / "snapshots" / "abc").mkdir(parents=True)
    found = launch.find_inputs(root).set_index("input")
    for name in GRID_DATASETS:
        assert found.loc[name, "found"] == "yes", found.loc[name, "what"]
        assert Path(found.loc[name, "where"]).is_relative_to(mounts[name])
        assert "train:" in found.loc[name, "what"] and "test:" in found.loc[name, "what"]
    assert found.loc["weights", "where"] == str(cache)
    assert launch.pick_weights("auto", root) == str(cache) and launch.pick_weights("none", root) == "none"
    (root / "more" / "models--smp-hub--vgg19.imagenet").mkdir(parents=True)
    with pytest.raises(ConfigError, match="2 weights caches"):
        launch.pick_weights("auto", root)


def test_find_inputs_on_an_empty_root(tmp_path):
    found = launch.find_inputs(tmp_path)
    assert found.input.tolist() == ["isic2018", "chest_xray", "cbis_ddsm", "folder", "weights"]
    assert found["found"].tolist() == ["no"] * 5
    assert all(w.startswith("not found: ") for w in found["what"][:4])
    assert launch.pick_weights("auto", tmp_path) == ""


# ------------------------------------------------------------------------------------ install, run, show

def test_install_pins_the_installed_torch(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(launch, "_stream_process", lambda cmd, cwd, stream: calls.append((cmd, cwd)) or (0, []))
    with pytest.raises(RuntimeError, match="no requirements.txt"):
        launch.install_requirements(tmp_path)
    (tmp_path / "requirements.txt").write_text("torch>=2.4\n")
    constraints = launch.install_requirements(tmp_path, stream=lambda line: None)
    assert f"torch=={torch.__version__.split('+')[0]}" in constraints.read_text()
    (cmd, cwd), = calls
    assert cmd[1:] == ["-m", "pip", "install", "-q", "-r", "requirements.txt", "-c", str(constraints)]
    assert cwd == tmp_path
    monkeypatch.setattr(launch, "_stream_process", lambda cmd, cwd, stream: (1, ["ERROR: no matching distribution"]))
    with pytest.raises(RuntimeError, match="status 1: ERROR: no matching"):
        launch.install_requirements(tmp_path, stream=lambda line: None)


def test_install_runs_as_a_script_without_seg_utils(tmp_path):
    out = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "seg_utils" / "launch.py"), "install",
                          str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 1 and "holds no requirements.txt" in out.stderr
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"seg_utils", "torch", "pandas", "numpy"}, "the script must need the standard library only"


def test_run_study_streams_and_raises_with_the_last_lines(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "run_all.sh").write_text('echo "args: $*"\necho "[1/1] 01_dataset ok"\nexit "${FAKE_STATUS:-0}"\n')
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    lines: list[str] = []
    assert launch.run_study(repo, "paper", tmp_path, tmp_path / "r", str(tmp_path / "a"), "-p epochs 1",
                            "none", lines.append) == 0
    args = lines[1]
    assert args == (f"args: --profile paper --data-root {tmp_path} --results {tmp_path / 'r'} --resume-from "
                    f"{tmp_path / 'a'} -p weights none -p epochs 1") and lines[2] == "[1/1] 01_dataset ok"
    lines.clear()
    launch.run_study(repo, "paper", tmp_path, tmp_path / "r", f"{tmp_path / 'a'},b", "", "", lines.append)
    assert lines[1].endswith(f"-p resume_from {tmp_path / 'a'},{tmp_path / 'b'}")  # b: found below the input root
    os.environ["FAKE_STATUS"] = "3"
    try:
        with pytest.raises(TrainingError, match=r"status 3; its last lines:\nargs: .*\n\[1/1\] 01_dataset ok"):
            launch.run_study(repo, "paper", tmp_path, tmp_path / "r", stream=lines.append)
    finally:
        del os.environ["FAKE_STATUS"]
    with pytest.raises(ConfigError, match="is not a folder"):
        launch.run_study(repo, "paper", tmp_path, tmp_path / "r", "missing", stream=lines.append)
    with pytest.raises(ConfigError, match="shell words"):
        launch.run_study(repo, "paper", tmp_path, tmp_path / "r", extra="-p name 'open", stream=lines.append)


def test_show_results(tmp_path):
    assert "No index" in launch.show_results(tmp_path).data and "Table 1 not written" in launch.show_results(
        tmp_path).data
    (tmp_path / "tables").mkdir()
    (tmp_path / "index.html").write_text("<html></html>")
    for name in ("table1_encoders", "table2_losses"):
        (tmp_path / "tables" / f"{name}.md").write_text(f"# {name}\n\n| a |\n|---|\n| 1 |\n")
    text = launch.show_results(tmp_path).data
    assert f"`{tmp_path / 'index.html'}`" in text and "# table1_encoders" in text and "# table2_losses" in text


# ------------------------------------------------------------------------------------ end to end (slow)

E2E_EXTRA = ("-p epochs 1 -p image_size 64 -p limit 16 -p weights none -p device cpu -p precision fp32 "
             "-p memory_format nchw --param-for 01 test_source train_fraction")


@pytest.mark.slow
def test_launcher_runs_the_paper_profile_on_a_fake_kaggle_input(tmp_path):
    """The launcher notebook, executed as a Kaggle user would (install off: the environment is this one), runs
    run_all.sh with the paper profile (tiny settings) on the three Kaggle copies under a fake /kaggle/input."""
    write_kaggle_input(tmp_path / "input", mount="slug", n_train=10, n_test=4)
    results = tmp_path / "results"
    t0 = time.perf_counter()
    parameters = {"install": False, "device": "cpu", "profile": "paper", "input_root": str(tmp_path / "input"),
                  "results_dir": str(results), "extra": E2E_EXTRA}
    pm.execute_notebook(str(LAUNCHER), str(tmp_path / "launcher.ipynb"), parameters=parameters, progress_bar=False,
                        cwd=str(LAUNCHER.parent), kernel_name="python3")
    print(f"launcher end to end: {time.perf_counter() - t0:.0f} s")
    executed = nbformat.read(tmp_path / "launcher.ipynb", as_version=4)
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in executed.cells if c.cell_type == "code"
                     for o in c.outputs)
    paper = ["01_dataset_isic2018", "02_dataset_chest_xray", "03_dataset_cbis_ddsm", "20_table_encoders",
             "21_table_losses", "22_table_literature"]
    for n, name in enumerate(paper, start=1):
        assert re.search(rf"\[{n}/{len(paper)}\] {name}\s+ok", text), f"no line for {name}:\n{text[-3000:]}"
    assert (results / "index.html").is_file(), f"no index.html:\n{text[-3000:]}"
    dice = {name: pd.to_numeric(pd.read_csv(results / "tables" / f"{name}.csv")["dice"], errors="coerce")
            for name in ("table1_encoders", "table2_losses")}
    assert dice["table1_encoders"].notna().sum() == 6 and dice["table2_losses"].notna().sum() == 12
    assert "Table 1: encoder comparison" in text and "Table 2: loss comparison" in text
