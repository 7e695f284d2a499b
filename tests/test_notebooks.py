"""The notebooks: clean and thin as committed, and (slow) executed end to end by run_all.sh on tiny synthetic data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml

from seg_utils.study.inference import PredictParams
from seg_utils.study.notebook_cells import NOTEBOOK_PARAMETERS
from seg_utils.study.notebooks import build_plan, study_notebooks
from seg_utils.study.params import DatasetParams, TableParams

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.stem for p in NB_DIR.glob("*.ipynb"))
#: What run_all.sh runs: every notebook but the Kaggle/Colab launcher (which runs run_all.sh).
STUDY_NOTEBOOKS = study_notebooks(ROOT)
#: What ``./run_all.sh`` runs with the smoke profile (its ``# notebooks:`` line, else every study notebook).
SMOKE_NOTEBOOKS = [run.name for run in build_plan(ROOT, "smoke").runs]
DATASET_NOTEBOOKS = [n for n in NOTEBOOKS if "_dataset_" in n]
TABLE_NOTEBOOKS = [n for n in NOTEBOOKS if "_table_" in n]
PROFILES = sorted(NB_DIR.glob("params/*.yaml"))
# Smaller than the smoke profile: one epoch, 10 training and 4 test images per dataset, 32 px.
TINY = ["-p", "epochs", "1", "-p", "synthetic_train", "10", "-p", "synthetic_test", "4", "-p", "image_size", "32"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _run_all(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "run_all.sh"), *args], capture_output=True, text=True, timeout=timeout,
                          env=_env(), cwd=ROOT)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)


# ------------------------------------------------------------------------------------ as committed

def test_expected_notebooks():
    assert DATASET_NOTEBOOKS == ["01_dataset_isic2018", "02_dataset_chest_xray", "03_dataset_cbis_ddsm",
                                 "04_dataset_yours"]
    assert "04_dataset_yours" not in SMOKE_NOTEBOOKS  # one's own data has its profile, yours
    assert TABLE_NOTEBOOKS == ["20_table_encoders", "21_table_losses", "22_table_literature"]
    assert sorted(set(NOTEBOOKS) - set(DATASET_NOTEBOOKS) - set(TABLE_NOTEBOOKS)) == ["00_launch_kaggle_colab",
                                                                                        "30_predict"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_clean_and_thin(name):
    nb = _read(name)
    assert nb.metadata.kernelspec == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert nb.metadata.language_info["name"] == "python"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "commit notebooks without outputs"
        for line in cell.source.splitlines():
            assert not re.match(r"\s*(def|class|for|while|if|with|try)\b", line), f"logic in {name}: {line}"
        assert len(cell.source.splitlines()) <= 10 or cell is code[0]
    for line in code[0].source.splitlines():  # flat, typed, commented literals only
        assert re.fullmatch(r"\w+: (str|int|float|bool) = [^=]+  # [^=]+", line), line


@pytest.mark.parametrize("name, cls", [(n, DatasetParams) for n in DATASET_NOTEBOOKS]
                         + [(n, TableParams) for n in TABLE_NOTEBOOKS] + [("30_predict", PredictParams)])
def test_parameters_are_the_params_fields_with_paper_defaults(name, cls):
    declared = pm.inspect_notebook(str(NB_DIR / f"{name}.ipynb"))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert list(declared) == list(fields)
    for key, f in fields.items():
        assert declared[key]["inferred_type_name"] == f.type
        if key in ("dataset", "results_dir") or key in NOTEBOOK_PARAMETERS[name][1]:  # the cell's own defaults
            continue
        default = eval(declared[key]["default"])  # noqa: S307 -- a literal from our own notebook
        assert default == f.default, f"{name}: {key} default {default!r} differs from the protocol {f.default!r}"


def test_dataset_notebooks_differ_only_in_parameters_and_prose():
    def code(nb):
        return [c.source for c in nb.cells if c.cell_type == "code"]

    poster = [n for n in DATASET_NOTEBOOKS if n != "04_dataset_yours"]  # one's own data: its own cells
    first = _read(poster[0])
    for name in poster[1:]:
        other = _read(name)
        assert code(other)[1:] == code(first)[1:]
        diff = set(code(other)[0].splitlines()) ^ set(code(first)[0].splitlines())
        assert all(line.startswith("dataset: str = ") for line in diff)
        assert f'dataset: str = "{name.split("_dataset_")[1]}"' in code(other)[0]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_keys_are_dataset_notebook_parameters(profile):
    keys = set(yaml.safe_load(profile.read_text()) or {})
    for name in DATASET_NOTEBOOKS:
        declared = set(pm.inspect_notebook(str(NB_DIR / f"{name}.ipynb")))
        assert keys <= declared, f"{profile.name}: {sorted(keys - declared)} are not parameters of {name}"
    DatasetParams(dataset="isic2018", **(yaml.safe_load(profile.read_text()) or {}))  # valid values


@pytest.mark.parametrize("override", sorted(NB_DIR.glob("params/*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_per_notebook_profile_files_name_a_notebook_and_its_parameters(override):
    assert override.stem in NOTEBOOKS, f"{override}: no notebook {override.stem}"
    assert (NB_DIR / "params" / f"{override.parent.name}.yaml").is_file(), f"{override}: no profile to extend"
    keys = set(yaml.safe_load(override.read_text()) or {})
    declared = set(pm.inspect_notebook(str(NB_DIR / f"{override.stem}.ipynb")))
    assert keys <= declared, f"{override.name}: {sorted(keys - declared)} are not parameters of {override.stem}"
    if override.stem in DATASET_NOTEBOOKS:
        merged = {**(yaml.safe_load((NB_DIR / "params" / f"{override.parent.name}.yaml").read_text()) or {}),
                  **(yaml.safe_load(override.read_text()) or {})}
        DatasetParams(dataset=override.stem.split("_dataset_")[1], **merged)  # the merged parameters are valid


def test_paper_profile_is_the_poster_protocol():
    paper = yaml.safe_load((NB_DIR / "params" / "paper.yaml").read_text())
    assert {k: paper[k] for k in ("image_size", "epochs", "batch_size", "lr", "patience", "min_delta", "weights",
                                  "device", "data_root")} == {
        "image_size": 224, "epochs": 50, "batch_size": 32, "lr": 0.001, "patience": 5, "min_delta": 0.001,
        "weights": "imagenet", "device": "auto", "data_root": "/kaggle/input"}


def test_run_all_help_and_bad_options():
    out = _run_all("--help", timeout=30)
    assert out.returncode == 0 and "--profile" in out.stdout and "--only" in out.stdout
    bad = _run_all("--only", "99", timeout=30)
    assert bad.returncode == 2 and "no notebook '99'" in bad.stderr
    bad = _run_all("--profile", "nope", timeout=30)
    assert bad.returncode == 2 and "no profile 'nope'" in bad.stderr


# ------------------------------------------------------------------------------------ executed

@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """One tiny end-to-end run of every notebook into one results folder (the tables read the dataset runs)."""
    results = tmp_path_factory.mktemp("results")
    out = _run_all("--results", str(results), *TINY)
    assert out.returncode == 0, f"run_all.sh failed:\n{out.stdout}\n{out.stderr}"
    for n, name in enumerate(SMOKE_NOTEBOOKS, start=1):
        assert re.search(rf"\[{n}/{len(SMOKE_NOTEBOOKS)}\] {name}\s+ok", out.stdout), out.stdout
    (results / "run_all.stdout").write_text(out.stdout)
    return results


@pytest.mark.slow
def test_run_all_shows_each_run_start_and_end_as_it_goes(smoke):
    stdout = (smoke / "run_all.stdout").read_text()
    for dataset_notebook, n_runs in (("01_dataset_isic2018", 8), ("02_dataset_chest_xray", 4),
                                     ("03_dataset_cbis_ddsm", 4)):
        block = stdout.split(f"{dataset_notebook}: started")[1].split(dataset_notebook)[0]
        starts = re.findall(r"^  run (\d+)/(\d+) \S+-s0-\w+: started$", block, re.M)
        ends = re.findall(r"^  run (\d+)/(\d+) \S+-s0-\w+: Dice \d\.\d{3} in \d+\.\d min$", block, re.M)
        expected = [(str(i), str(n_runs)) for i in range(1, n_runs + 1)]
        assert starts == expected and ends == expected, block
        assert re.search(r"^  run 1/\d+ epoch 1/1, val Dice \d\.\d{3}, at most 0\.0 min left$", block, re.M), block


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOKE_NOTEBOOKS)
def test_every_notebook_ran_and_rendered(smoke, name):
    nb = smoke / "notebooks"
    assert (nb / f"{name}.ipynb").is_file()
    code_html, reader_html = (nb / f"{name}.html").read_text(), (nb / f"{name}.report.html").read_text()
    setup = {"dataset": "dataset_params", "table": "table_params"}.get(name.split("_")[1], "predict_params")
    assert setup in code_html and setup not in reader_html  # the reader's version has no code
    assert "data:image/png;base64" in reader_html  # figures are embedded
    summary = json.loads((smoke / "summaries" / f"{name.split('_', 1)[1]}.json").read_text())
    assert summary["artefacts"] and all((smoke / a).is_file() for a in summary["artefacts"])
    assert not list(NB_DIR.glob("*.html")) and not (NB_DIR / "results").exists()  # notebooks/ stays clean


@pytest.mark.slow
def test_expected_artefacts(smoke):
    for ds in ("isic2018", "chest_xray", "cbis_ddsm"):
        for t in ("quality", "quality_checks", "runs"):
            assert (smoke / "tables" / f"{t}_{ds}.csv").is_file() and (smoke / "tables" / f"{t}_{ds}.md").is_file()
        for f in ("quality_gallery", "dice_vs_poster", "panel_bce", "panel_logcosh_dice", "training_curves",
                  "dice_distributions"):
            assert (smoke / "figures" / ds / f"{f}.png").is_file() and (smoke / "figures" / ds / f"{f}.pdf").is_file()
    for t in ("table1_encoders", "table1_encoders_tests", "table2_losses", "table2_losses_tests",
              "literature_cbis_ddsm", "quality"):
        assert (smoke / "tables" / f"{t}.csv").is_file() and (smoke / "tables" / f"{t}.md").is_file()
    for f in ("table1_encoders", "table2_losses", "literature_cbis_ddsm"):
        assert (smoke / "figures" / f"{f}.png").is_file()
    assert len(list((smoke / "runs").glob("*/*/metrics.json"))) == 16


@pytest.mark.slow
def test_tables_hold_every_run_beside_the_poster(smoke):
    import pandas as pd

    t1 = pd.read_csv(smoke / "tables" / "table1_encoders.csv")
    assert (t1.status == "ok").all() and t1.poster.tolist() == [0.717, 0.878, 0.848, 0.815, 0.860, 0.853]
    t2 = pd.read_csv(smoke / "tables" / "table2_losses.csv")
    assert (t2.status == "ok").all() and len(t2) == 12 and t2["diff"].notna().all()
    tests = pd.read_csv(smoke / "tables" / "table2_losses_tests.csv")
    assert len(tests) == 6 and "significant" in tests
    md = (smoke / "tables" / "table1_encoders.md").read_text()
    assert "Dice protocol:" in md and "SYNTHETIC" in md


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


@pytest.mark.slow
def test_index_links_point_to_existing_files(smoke):
    parser = _Links()
    parser.feed((smoke / "index.html").read_text())
    assert len(parser.links) > 60
    missing = [link for link in parser.links if not (smoke / link).resolve().is_file()]
    assert not missing
    for name in SMOKE_NOTEBOOKS:
        assert f"notebooks/{name}.report.html" in parser.links and f"notebooks/{name}.html" in parser.links
    assert "tables/table1_encoders.md" in parser.links and "figures/isic2018/panel_bce.png" in parser.links


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SMOKE_NOTEBOOKS if n in DATASET_NOTEBOOKS + TABLE_NOTEBOOKS])
def test_every_report_opens_with_what_differs_from_the_poster(smoke, name):
    reader = (smoke / "notebooks" / f"{name}.report.html").read_text()
    box = reader.index("What differs from the poster")
    assert box < reader.index(">parameter<")  # the first output, before the parameters
    assert "224 px" in reader[box:] and "SYNTHETIC demo data" in reader[box:]
    assert re.search(r"runs: [1-9]\d* complete", reader[box:])  # a dataset notebook's box: rebuilt at its end
    index = (smoke / "index.html").read_text()
    assert index.index("What differs from the poster") < index.index("<h2>Notebooks</h2>")


@pytest.mark.slow
def test_written_files_hold_no_absolute_path_of_this_machine(smoke, tmp_path):
    """What the study writes for readers (reports, tables and their notes, summaries, run records: what publish
    copies) and the published folder name no absolute path: not the results folder's, the repository's, nor the data
    root's (the synthetic data under the results folder)."""
    from seg_utils.report.publish import broken_links, publish, published_files

    published = publish(smoke, tmp_path / "published").parent
    needles = {str(smoke), str(smoke.resolve()), str(ROOT), str(ROOT.resolve()), str(smoke / "synthetic")}
    offenders = []
    for folder in (smoke, published):
        files = [folder / p for p in published_files(folder)] + [folder / "index.html"]
        assert len(files) > 100
        for path in files:
            if path.suffix == ".png":
                continue
            text = path.read_text(errors="ignore")
            offenders += [f"{path.relative_to(folder)}: {n}" for n in needles if n in text]
    assert not offenders, offenders[:10]
    assert not broken_links(published)
    assert "tables/predictions.csv" in {p.as_posix() for p in published_files(smoke)}


@pytest.mark.slow
def test_rerun_skips_complete_runs(smoke):
    out = _run_all("--results", str(smoke), "--only", "2", "--no-render", *TINY, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "[1/1] 02_dataset_chest_xray" in out.stdout
    runs = json.loads((smoke / "summaries" / "dataset_chest_xray.json").read_text())["runs"]
    assert len(runs) == 4 and {r["action"] for r in runs} == {"skipped"}


@pytest.mark.slow
def test_unknown_parameter_stops_run_all_in_the_setup_cell(tmp_path):
    out = _run_all("--results", str(tmp_path), "--only", "03", "--no-render", "-p", "epochz", "3", timeout=240)
    assert out.returncode == 1
    assert "03_dataset_cbis_ddsm failed" in out.stderr
    assert "ConfigError: unknown parameter(s) ['epochz']; this notebook takes:" in out.stderr
    partial = tmp_path / "notebooks" / "03_dataset_cbis_ddsm.ipynb"
    assert f"partially executed notebook: {partial}" in out.stderr
    nb = nbformat.read(partial, as_version=4)
    failing = [c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failing) == 1 and "dataset_params(globals())" in failing[0].source  # the setup cell
    assert failing[0].execution_count <= 3  # after the parameters and papermill's injected parameters
    assert not (tmp_path / "runs").exists() and (tmp_path / "index.html").is_file()


@pytest.mark.slow
def test_an_isic_copy_without_test_masks_stops_before_training_with_the_way_out(tmp_path):
    from kaggle_fixtures import write_kaggle_input

    write_kaggle_input(tmp_path / "input", mount="datasets", n_train=12, n_test=4)  # Training ground truth only
    results = tmp_path / "results"
    out = _run_all("--profile", "paper", "--only", "01", "--data-root", str(tmp_path / "input"), "--results",
                   str(results), "--no-render", "-p", "epochs", "1", "-p", "image_size", "32", "-p", "weights", "none",
                   "-p", "device", "cpu", timeout=300)
    assert out.returncode == 1 and re.search(r"01_dataset_isic2018\s+FAILED", out.stdout), out.stdout
    line = next(x for x in out.stderr.splitlines() if "notebook 01_dataset_isic2018 failed" in x)
    assert "DataError: isic2018: the test images in" in line and "ISIC2018_Task1-2_Test_Input" in line
    assert "test_source='train_fraction'" in line and "ISIC2018_Task1_Test_GroundTruth" in line
    assert str(tmp_path) not in line  # folder names, not this machine's paths
    assert not (results / "runs").exists() and "run 1/" not in out.stdout  # nothing trained


@pytest.mark.slow
def test_ablation_ladder_in_the_dataset_notebook(tmp_path):
    import pandas as pd

    args = ["--results", str(tmp_path), "--only", "02", "--no-render", *TINY, "-p", "configs", "unet-resnet50-bce"]
    out = _run_all(*args, "-p", "ablation_steps", "intensity=clahe,augment=flips", timeout=400)
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "tables" / "ablation_chest_xray.csv")
    assert table.step_name.tolist() == ["poster protocol at this scale", "+ CLAHE", "+ flip augmentation"]
    assert (table.status == "ok").all() and table.gain.notna().sum() == 2 and table.poster.eq(0.954).all()
    summary = json.loads((tmp_path / "summaries" / "dataset_chest_xray.json").read_text())
    assert len(summary["runs"]) == 1 and [r["step"] for r in summary["ablation_runs"]] == [0, 1, 2]
    assert summary["ablation_runs"][0]["action"] == "skipped"  # step 0 is the grid's own run
    assert {"tables/ablation_chest_xray.csv", "figures/chest_xray/ablation.png"} <= set(summary["artefacts"])
    assert len([p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]) == 2  # none, clahe
    nb = nbformat.read(tmp_path / "notebooks" / "02_dataset_chest_xray.ipynb", as_version=4)
    verdict = [o for c in nb.cells if "verdict" in c.source for o in c.outputs]
    text = verdict[0]["data"]["text/markdown"]
    gain = table.gain.iloc[1]
    assert "**U-Net_RN50 BCE**: poster protocol at this scale" in text and f"+ CLAHE {gain:+.3f} [" in text

    # one more step, with train=False: reported as missing, nothing trained
    out = _run_all(*args, "-p", "ablation_steps", "intensity=clahe,augment=flips,schedule=cosine", "-p", "train",
                   "False", timeout=300)
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "tables" / "ablation_chest_xray.csv")
    assert table.status.tolist() == ["ok", "ok", "ok", "missing"]
    assert len(list((tmp_path / "runs" / "chest_xray").glob("*/metrics.json"))) == 3
    assert not list((tmp_path / "runs" / "chest_xray").glob("*cosine*"))


@pytest.mark.slow
@pytest.mark.real_data
def test_cpu_real_profile_reads_the_real_chest_xrays(tmp_path):
    import pandas as pd

    from conftest import real_data

    root = real_data("chest_xray")
    out = _run_all("--profile", "cpu-real", "--only", "02", "--results", str(tmp_path), "-p", "train", "False",
                   "--no-render", timeout=400)
    assert out.returncode == 0, out.stderr
    assert "[1/1] 02_dataset_chest_xray" in out.stdout
    summary = json.loads((tmp_path / "summaries" / "dataset_chest_xray.json").read_text())
    assert Path(summary["parameters"]["data_root"]).resolve() == root.resolve().parent  # ../shared/data, from the repo
    own = yaml.safe_load((NB_DIR / "params" / "cpu-real" / "02_dataset_chest_xray.yaml").read_text())
    default = pm.inspect_notebook(str(NB_DIR / "02_dataset_chest_xray.ipynb"))["epochs"]["default"]
    assert own["image_size"] == 128 and own["epochs"] != int(default)  # so the check below tells its file was read
    assert {k: summary["parameters"][k] for k in ("image_size", "epochs")} == {k: own[k] for k in ("image_size",
                                                                                                  "epochs")}
    assert len(summary["runs"]) == 4 and {r["action"] for r in summary["runs"]} == {"not run"}  # train=False
    assert summary["ablation_runs"] == []
    quality = pd.read_csv(tmp_path / "tables" / "quality_chest_xray.csv")
    assert quality.set_index("split").final.to_dict() == {"train": 566, "test": 138}
    table = pd.read_csv(tmp_path / "tables" / "ablation_chest_xray.csv")
    assert len(table) == 16 and (table.status == "missing").all()
    assert table.step_name.unique().tolist() == ["poster protocol at this scale", "+ CLAHE", "+ X-ray augmentation",
                                                 "+ BCE + Dice loss", "+ cosine LR schedule", "+ 15 epochs",
                                                 "+ patience 15", "+ last epoch's weights"]
