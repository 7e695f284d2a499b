"""What run_all.sh runs (seg_utils.study.notebooks, ``python -m seg_utils.study plan``): the notebooks each option
selects, the papermill parameter options each notebook gets under the smoke, paper and cpu-real profiles, and loud
errors for an unknown notebook or profile and an unreadable YAML file or notebook."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from seg_utils.errors import ConfigError
from seg_utils.study.__main__ import main, plan_fields
from seg_utils.study.notebooks import (
    build_plan,
    declared_parameters,
    matches,
    profile_file,
    read_params_file,
    select_notebooks,
    study_notebooks,
    write_plan,
)

ROOT = Path(__file__).resolve().parents[2]
ALL = ["01_dataset_isic2018", "02_dataset_chest_xray", "03_dataset_cbis_ddsm", "04_dataset_yours", "20_table_encoders",
       "21_table_losses", "22_table_literature", "30_predict"]
DATASETS, TABLES = ALL[:3], ALL[4:7]
SMOKE = [n for n in ALL if n != "04_dataset_yours"]  # "# notebooks: 01,02,03,20,21,22,30": one's own data is yours
TINY = [("epochs", "1"), ("synthetic_train", "10"), ("synthetic_test", "4"), ("image_size", "32")]


def _profile(name: str) -> dict:
    return yaml.safe_load((ROOT / "notebooks" / "params" / f"{name}.yaml").read_text())


def _runs(plan) -> dict:
    return {run.name: run for run in plan.runs}


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of the repository's notebooks and profiles under tmp_path/repo, its ../shared/data absent."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "repo" / "notebooks", ignore=shutil.ignore_patterns("kaggle"))
    return tmp_path / "repo"


# ------------------------------------------------------------------------------------ the notebooks and --only

def test_the_notebooks_are_every_numbered_one_but_the_launcher():
    assert study_notebooks(ROOT) == ALL
    assert (ROOT / "notebooks" / "00_launch_kaggle_colab.ipynb").is_file()  # there, and not run: it runs run_all.sh


@pytest.mark.parametrize("notebook, token, hit", [
    ("02_dataset_chest_xray", "02_dataset_chest_xray", True), ("02_dataset_chest_xray", "02", True),
    ("02_dataset_chest_xray", "2", True), ("02_dataset_chest_xray", "002", True),
    ("02_dataset_chest_xray", " 02 ", True), ("02_dataset_chest_xray", "02_dataset_chest_xray.ipynb", True),
    ("02_dataset_chest_xray", "02_dataset", True), ("02_dataset_chest_xray", "02_data", False),
    ("20_table_encoders", "2", False), ("20_table_encoders", "20", True), ("02_dataset_chest_xray", "20", False),
    ("30_predict", "3", False), ("30_predict", "30_predict", True), ("01_dataset_isic2018", "isic2018", False),
    ("01_dataset_isic2018", "", False), ("01_dataset_isic2018", "1x", False),
])
def test_a_token_names_a_notebook_by_name_prefix_or_number(notebook, token, hit):
    assert matches(notebook, token) is hit


@pytest.mark.parametrize("only, selected", [
    ("", ALL), ("02,20", ["02_dataset_chest_xray", "20_table_encoders"]),
    ("21_table_losses,2", ["02_dataset_chest_xray", "21_table_losses"]),  # run order, not the order given
    ("2,02,02_dataset_chest_xray", ["02_dataset_chest_xray"]), ("30,", ["30_predict"]),
])
def test_only_selects_in_run_order(only, selected):
    assert select_notebooks(ALL, only) == selected


@pytest.mark.parametrize("only, bad", [("99", "99"), ("02,99", "99"), ("02,,20", ""), ("isic", "isic"), ("0 5", "05")])
def test_only_naming_no_notebook_is_an_error_listing_them(only, bad):
    with pytest.raises(ConfigError, match=f"--only: no notebook '{bad}'; choose from: 01_dataset_isic2018 "):
        select_notebooks(ALL, only)


# ------------------------------------------------------------------------------------ the profiles' plans

def test_smoke_plan_every_notebook_and_the_tiny_options_only_where_declared(tmp_path):
    plan = build_plan(ROOT, "smoke", results=tmp_path / "r", extra=TINY)
    runs, results = _runs(plan), str(tmp_path / "r")
    assert list(runs) == SMOKE and plan.results == tmp_path / "r" and plan.data_root == ""
    tiny = ["-p", "epochs", "1", "-p", "synthetic_train", "10", "-p", "synthetic_test", "4", "-p", "image_size", "32"]
    for name in DATASETS:
        assert runs[name].params == _profile("smoke")  # data_root "" (synthetic data) stays as it is
        assert runs[name].papermill_args == ["-f", str(tmp_path / "r" / "notebooks" / f"{name}.params.yaml"),
                                             "-r", "results_dir", results, *tiny]
    for name in TABLES + ["30_predict"]:  # none declares these parameters; no profile file of their own
        assert runs[name].params is None and runs[name].papermill_args == ["-r", "results_dir", results]
    assert not (tmp_path / "r").exists()  # build_plan writes nothing
    write_plan(plan)
    for name in DATASETS:
        assert yaml.safe_load((tmp_path / "r" / "notebooks" / f"{name}.params.yaml").read_text()) == _profile("smoke")
    assert sorted(p.name for p in (tmp_path / "r" / "notebooks").iterdir()) == [f"{n}.params.yaml" for n in DATASETS]


def test_default_results_folder_is_results_profile_of_the_repository(repo):
    assert build_plan(repo, "smoke").results == repo / "results" / "smoke"


def test_paper_plan_its_notebook_line_data_root_device_and_resume_from(tmp_path):
    data, previous = tmp_path / "input", tmp_path / "previous"
    data.mkdir(), previous.mkdir()
    plan = build_plan(ROOT, "paper", results=tmp_path / "r", data_root=str(data), device="cuda",
                      resume_from=str(previous), extra=[("n_seeds", "3"), ("alpha", "0.1")])
    runs, results = _runs(plan), str(tmp_path / "r")
    assert list(runs) == DATASETS + TABLES  # "# notebooks: 01,02,03,20,21,22": no 30_predict
    assert plan.data_root == str(data)
    for name in DATASETS:
        assert runs[name].params == _profile("paper") and runs[name].params["data_root"] == "/kaggle/input"
        assert runs[name].overrides == ("-r", "results_dir", results, "-r", "data_root", str(data), "-r", "device",
                                        "cuda", "-r", "resume_from", str(previous), "-p", "n_seeds", "3", "-p",
                                        "alpha", "0.1")  # every -p: an unknown one stops the notebook
    for name in TABLES:  # they declare alpha and results_dir, not device or n_seeds
        assert runs[name].papermill_args == ["-r", "results_dir", results, "-p", "alpha", "0.1"]
    predict = _runs(build_plan(ROOT, "paper", results=tmp_path / "r", only="30", device="cuda",
                               extra=[("n_seeds", "3"), ("run", "isic2018/a b")]))
    assert predict["30_predict"].papermill_args == ["-r", "results_dir", results, "-r", "device", "cuda",
                                                    "-p", "run", "isic2018/a b"]
    assert build_plan(ROOT, "paper", results=tmp_path / "r").data_root == ""  # absolute: not "resolved", not shown


def test_cpu_real_plan_resolves_relative_folders_from_the_repository(repo, tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    plan = build_plan(repo, "cpu-real", results=tmp_path / "r", extra=[("n_gallery", "2")])
    runs = _runs(plan)
    assert list(runs) == DATASETS + TABLES and plan.data_root == str(tmp_path / "shared" / "data")
    for name in DATASETS:
        own = read_params_file(repo / "notebooks" / "params" / "cpu-real" / f"{name}.yaml")
        assert runs[name].params == {**_profile("cpu-real"), **own, "data_root": str(tmp_path / "shared" / "data")}
        assert runs[name].params["results_dir"] == "../results/cpu-real"  # kept: -r results_dir wins
        assert "data_root" not in runs[name].overrides
    assert runs["02_dataset_chest_xray"].params["image_size"] == 128 != _profile("cpu-real").get("image_size")
    predict = _runs(build_plan(repo, "cpu-real", results=tmp_path / "r", only="30", extra=[("n_gallery", "2")]))
    params = predict["30_predict"].params
    assert params["images_dir"] == str(tmp_path / "shared" / "data" / "isic2017" / "ISIC-2017_Test_v2_Data")
    assert params["masks_dir"] == str(tmp_path / "shared" / "data" / "isic2017" / "ISIC-2017_Test_v2_Part1_GroundTruth")
    assert params["run"] == "isic2018/unet-resnet50-bce-s0" and "data_root" not in params
    own_file = tmp_path / "r" / "notebooks" / "30_predict.params.yaml"
    assert predict["30_predict"].papermill_args[:2] == ["-f", str(own_file)]
    assert predict["30_predict"].papermill_args[-3:] == ["-p", "n_gallery", "2"]


def test_a_relative_data_root_that_is_not_a_folder_asks_for_data_root(repo, tmp_path):
    with pytest.raises(ConfigError, match=r"profile cpu-real reads its data from \.\./shared/data \(relative to the "
                       r"repository: .*\), which is not a folder; pass --data-root DIR"):
        build_plan(repo, "cpu-real", results=tmp_path / "r")
    data = tmp_path / "elsewhere"
    data.mkdir()
    assert build_plan(repo, "cpu-real", results=tmp_path / "r", data_root=str(data)).data_root == str(data)
    assert build_plan(repo, "cpu-real", results=tmp_path / "r", extra=[("data_root", str(data))]).data_root == ""
    assert build_plan(repo, "cpu-real", results=tmp_path / "r", only="02", scoped=[("2", "data_root", str(data))])
    assert build_plan(repo, "cpu-real", results=tmp_path / "r", only="20,21")  # no dataset notebook reads it


def test_param_for_comes_after_the_p_options_and_only_for_its_notebook(tmp_path):
    plan = build_plan(ROOT, "smoke", results=tmp_path, extra=[("epochs", "1"), ("alpha", "0.05")],
                      scoped=[("02", "epochs", "3"), ("20_table_encoders", "alpha", "0.1"), ("2", "test_source", "")])
    runs = _runs(plan)
    assert runs["02_dataset_chest_xray"].overrides[3:] == ("-p", "epochs", "1", "-p", "alpha", "0.05",
                                                           "-p", "epochs", "3", "-p", "test_source", "")
    assert runs["01_dataset_isic2018"].overrides[3:] == ("-p", "epochs", "1", "-p", "alpha", "0.05")
    assert runs["20_table_encoders"].overrides[3:] == ("-p", "alpha", "0.05", "-p", "alpha", "0.1")
    assert runs["21_table_losses"].overrides[3:] == ("-p", "alpha", "0.05")
    with pytest.raises(ConfigError, match="--param-for: no notebook '7'; choose from: 01_dataset_isic2018 "):
        build_plan(ROOT, "smoke", results=tmp_path, scoped=[("7", "epochs", "3")])


def test_a_per_notebook_profile_file_is_merged_last_before_the_options(repo, tmp_path):
    (repo / "notebooks" / "params" / "smoke").mkdir()
    (repo / "notebooks" / "params" / "smoke" / "03_dataset_cbis_ddsm.yaml").write_text("epochs: 7\ncbis_task: mass\n")
    (repo / "notebooks" / "params" / "smoke" / "21_table_losses.yaml").write_text("alpha: 0.2\nresults_dir: x\n")
    plan = build_plan(repo, "smoke", results=tmp_path / "r", extra=[("epochs", "1")], device="cpu")
    runs = _runs(plan)
    assert runs["03_dataset_cbis_ddsm"].params == {**_profile("smoke"), "epochs": 7, "cbis_task": "mass"}
    assert runs["01_dataset_isic2018"].params == _profile("smoke")
    assert runs["03_dataset_cbis_ddsm"].overrides == ("-r", "results_dir", str(tmp_path / "r"), "-r", "device", "cpu",
                                                      "-p", "epochs", "1")  # -p epochs 1 wins over the file's 7
    assert runs["21_table_losses"].params == {"alpha": 0.2, "results_dir": "x"}  # results_dir: not a folder to resolve
    write_plan(plan)
    written = yaml.safe_load((tmp_path / "r" / "notebooks" / "03_dataset_cbis_ddsm.params.yaml").read_text())
    assert written == runs["03_dataset_cbis_ddsm"].params and list(written)[-1] == "cbis_task"


# ------------------------------------------------------------------------------------ loud errors

def test_unknown_profile_lists_the_available_ones(tmp_path):
    for name in ("nope", "", "cpu-real/02_dataset_chest_xray"):
        with pytest.raises(ConfigError, match=f"no profile '{name}' .*available ones: cpu-real, paper, smoke"):
            build_plan(ROOT, name, results=tmp_path)
    assert profile_file(ROOT, "paper") == ROOT / "notebooks" / "params" / "paper.yaml"


@pytest.mark.parametrize("text, message", [("epochs: [1\n", "cannot read the parameters file"),
                                           ("- 1\n- 2\n", "is not a mapping of names to values"),
                                           ("just words\n", "is not a mapping of names to values")])
def test_an_unreadable_profile_file_is_an_error(repo, tmp_path, text, message):
    (repo / "notebooks" / "params" / "smoke.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        build_plan(repo, "smoke", results=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_an_unreadable_per_notebook_file_is_an_error(repo, tmp_path):
    (repo / "notebooks" / "params" / "cpu-real" / "30_predict.yaml").write_text("run: [\n")
    with pytest.raises(ConfigError, match="cannot read the parameters file .*30_predict.yaml"):
        build_plan(repo, "cpu-real", results=tmp_path / "r", only="30")


def test_an_unreadable_notebook_is_an_error_not_an_empty_list(repo, tmp_path):
    (repo / "notebooks" / "21_table_losses.ipynb").write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read the parameters of the notebook .*21_table_losses\.ipynb"):
        build_plan(repo, "smoke", results=tmp_path, extra=[("alpha", "0.1")])
    with pytest.raises(ConfigError, match="cannot read the parameters of the notebook"):
        declared_parameters(repo / "notebooks" / "missing.ipynb")
    assert build_plan(repo, "smoke", results=tmp_path, only="20")  # the broken one is not read when not selected


def test_a_notebook_without_parameters_cell_declares_none(repo, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("alpha = 1")])
    nbformat.write(nb, repo / "notebooks" / "22_table_literature.ipynb")
    runs = _runs(build_plan(repo, "smoke", results=tmp_path, extra=[("alpha", "0.1")]))
    assert runs["22_table_literature"].overrides == ("-r", "results_dir", str(tmp_path))
    assert declared_parameters(ROOT / "notebooks" / "30_predict.ipynb") >= {"device", "run", "images_dir"}


def test_no_notebooks_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no notebooks NN_<kind>_<name>.ipynb in .*; pass --repo"):
        study_notebooks(tmp_path)


def test_a_results_folder_that_cannot_be_made_is_an_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot create the results folder"):
        write_plan(build_plan(ROOT, "smoke", results=tmp_path / "file" / "r"))


# ------------------------------------------------------------------------------------ the command

def test_command_null_fields_and_text_lines(tmp_path, capsysbinary):
    argv = ["plan", "--repo", str(ROOT), "--results", str(tmp_path), "--only=02,20", "-p", "epochs", "1",
            "--param-for", "20", "alpha", "--x", "-p", "configs", "a b", "--null"]
    assert main(argv) == 0
    fields = capsysbinary.readouterr().out.split(b"\0")
    assert fields[-1] == b"" and [f.decode() for f in fields[:-1]] == plan_fields(build_plan(
        ROOT, "smoke", results=tmp_path, only="02,20", extra=[("epochs", "1"), ("configs", "a b")],
        scoped=[("20", "alpha", "--x")]))
    assert fields[:3] == [str(tmp_path).encode(), b"", b"2"] and fields[3] == b"02_dataset_chest_xray"
    assert main(argv[:-1]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines[:2] == [f"# results: {tmp_path}", "# data: "]
    assert lines[3] == f"20_table_encoders -r results_dir {tmp_path} -p alpha --x"
    assert lines[2].endswith("-p epochs 1 -p configs 'a b'")


def test_command_errors_are_one_line_and_status_2(capsys):
    assert main(["--prog=run_all.sh", "plan", "--repo", str(ROOT), "--only", "99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run_all.sh: error: --only: no notebook '99'") and err.count("\n") == 1
    assert main(["plan", "--repo", str(ROOT), "--profile", "nope"]) == 2
    assert capsys.readouterr().err.startswith("python -m seg_utils.study: error: no profile 'nope'")
    assert main(["plan", "--repo", str(ROOT), "-p", "epochs"]) == 2
    assert "-p needs NAME VALUE" in capsys.readouterr().err
    assert main(["notebooks", "--repo", str(ROOT)]) == 0 and capsys.readouterr().out.split() == ALL


def test_run_all_passes_the_plan_to_papermill_word_for_word(repo, tmp_path):
    """run_all.sh with a stand-in papermill that records its arguments: values with spaces, empty ones and ones that
    look like options arrive as given."""
    shutil.copy(ROOT / "run_all.sh", repo / "run_all.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "papermill"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\0" "$@" > "$RECORD/$(basename "$2" .ipynb).args"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECORD": str(tmp_path),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    results = tmp_path / "my results"
    out = subprocess.run([str(repo / "run_all.sh"), "--results", str(results), "--only", "02,21", "--log-output",
                          "--no-render", "-p", "configs", "unet-resnet50-bce dice", "-p", "alpha", "",
                          "--param-for", "2", "test_source", "--x"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "[1/2] 02_dataset_chest_xray" in out.stdout and "[2/2] 21_table_losses" in out.stdout
    args = (tmp_path / "02_dataset_chest_xray.args").read_text().split("\0")[:-1]
    assert args[:2] == [str(repo / "notebooks" / "02_dataset_chest_xray.ipynb"),
                        str(results / "notebooks" / "02_dataset_chest_xray.ipynb")]
    assert args[args.index("-f"):] == ["-f", str(results / "notebooks" / "02_dataset_chest_xray.params.yaml"), "-r",
                                       "results_dir", str(results), "-p", "configs", "unet-resnet50-bce dice",
                                       "-p", "alpha", "", "-p", "test_source", "--x"]
    args = (tmp_path / "21_table_losses.args").read_text().split("\0")[:-1]
    assert args[args.index("-r"):] == ["-r", "results_dir", str(results), "-p", "alpha", ""]


def test_resume_from_takes_several_folders_and_checks_each(tmp_path):
    first, second = tmp_path / "shard-1", tmp_path / "shard-2"
    first.mkdir(), second.mkdir()
    plan = build_plan(ROOT, "paper", results=tmp_path / "r", only="01", resume_from=f"{first}, {second}")
    overrides = _runs(plan)["01_dataset_isic2018"].overrides
    assert overrides[overrides.index("resume_from") + 1] == f"{first},{second}"
    with pytest.raises(ConfigError, match="--resume-from '.*missing' is not a folder"):
        build_plan(ROOT, "paper", results=tmp_path / "r", only="01", resume_from=f"{first},{tmp_path / 'missing'}")
