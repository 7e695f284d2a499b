"""Notebook parameters, the poster's grid and summaries (no training)."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from seg_utils import study
from seg_utils.errors import ConfigError
from seg_utils.study.prepare import resolve_data_root


def _kernel_namespace(**params):
    """What a notebook's globals() holds at the setup cell: IPython's names, modules, the parameters."""
    return {"__name__": "__main__", "_": None, "_i1": "x", "In": [""], "Out": {}, "get_ipython": print,
            "exit": None, "quit": None, "open": open, "os": os, "study": study, **params}


def test_dataset_params_from_globals():
    p = study.dataset_params(_kernel_namespace(dataset="chest_xray", epochs=3, lr=1, data_root=""))
    assert p.dataset == "chest_xray" and p.epochs == 3 and p.lr == 1 and p.image_size == 224
    assert p.notebook_name == "dataset_chest_xray" and p.seeds == [0]


def test_unknown_parameter_is_rejected_with_the_valid_names():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['epochz'\].*epochs"):
        study.dataset_params(_kernel_namespace(dataset="isic2018", epochz=3))


def test_rerunning_setup_after_later_cells_is_fine():
    ns = _kernel_namespace(dataset="isic2018")
    ns["params"] = study.dataset_params(ns)
    ns["runs"] = [ns["params"].results]  # later cells bind objects, not flat literals
    assert study.dataset_params(ns).dataset == "isic2018"


@pytest.mark.parametrize("name, value, match", [
    ("epochs", "3", "should be int"), ("lr", "fast", "should be float"), ("progress", 1, "should be bool"),
    ("device", "gpu", "device='gpu' is not valid"), ("image_size", 100, "multiple of 32"),
    ("configs", "unet-vgg19-dice", "not in the isic2018 grid"), ("n_seeds", 0, "at least 1"),
    ("batch_size", 1, "at least 2"), ("dataset", "mine", "dataset='mine' is not valid"),
    ("budget", "huge", "budget='huge' is not valid"), ("ablation_steps", "epochs=x", "whole number"),
])
def test_bad_values_stop_with_a_clear_message(name, value, match):
    params = {"dataset": "isic2018", name: value}
    with pytest.raises(ConfigError, match=match):
        study.dataset_params(_kernel_namespace(**params))


def test_dataset_is_required():
    with pytest.raises(ConfigError, match="does not set.*dataset"):
        study.dataset_params(_kernel_namespace(epochs=2))


def test_table_params():
    assert study.table_params(_kernel_namespace(results_dir="r", alpha=0.01)).alpha == 0.01
    with pytest.raises(ConfigError, match="unknown parameter"):
        study.table_params(_kernel_namespace(results_dir="r", epochs=2))


def test_poster_grid():
    isic = study.poster_grid("isic2018")
    assert len(isic) == 8 and sum(loss == "bce" for *_, loss in isic) == 6
    assert ("deeplabv3plus", "resnet50", "logcosh_dice") in isic
    for ds in ("chest_xray", "cbis_ddsm"):
        assert sorted(study.poster_grid(ds)) == sorted((a, "resnet50", loss) for a in ("unet", "deeplabv3plus")
                                                       for loss in ("bce", "logcosh_dice"))
    p = study.DatasetParams("cbis_ddsm", configs="unet-resnet50-bce, deeplabv3plus-resnet50-bce", n_seeds=2, seed=3)
    specs = study.grid_specs(p)
    assert [(s.arch, s.seed) for s in specs] == [("unet", 3), ("unet", 4), ("deeplabv3plus", 3),
                                                 ("deeplabv3plus", 4)]
    assert all(s.image_size == 224 and s.epochs == 50 and s.batch_size == 32 for s in specs)


def test_shards_split_the_grid_without_overlap():
    full = [s.name for s in study.grid_specs(study.DatasetParams("isic2018", n_seeds=2))]
    parts = [[s.name for s in study.grid_specs(study.DatasetParams("isic2018", n_seeds=2, shard=f"{k}/3"))]
             for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(full) and len(full) == 16
    assert all(len(p) in (5, 6) for p in parts)
    for bad in ("0/2", "3/2", "1-2", "a/b"):
        with pytest.raises(ConfigError, match="must be K/N"):
            study.DatasetParams("isic2018", shard=bad)


def test_synthetic_data_root(tmp_path):
    p = study.DatasetParams("cbis_ddsm", data_root="", results_dir=str(tmp_path), synthetic_train=8,
                            synthetic_test=4)
    root = resolve_data_root(p)
    assert root == tmp_path / "synthetic" / "cbis_ddsm" and (root / "images").is_dir()
    assert resolve_data_root(p) == root  # written once, reused


def test_write_summary(tmp_path):
    p = study.TableParams(results_dir=str(tmp_path))
    f = tmp_path / "tables" / "t.csv"
    f.parent.mkdir()
    f.write_text("a\n1\n")
    path = study.write_summary(p, [f], name="table_x")
    data = json.loads(path.read_text())
    assert path == tmp_path / "summaries" / "table_x.json"
    assert data["artefacts"] == ["tables/t.csv"] and data["parameters"]["alpha"] == 0.05
    with pytest.raises(ConfigError, match="do not exist"):
        study.write_summary(p, tmp_path / "nope.png", name="table_x")


def test_params_fields_are_flat_literals():
    kinds = {f.type for f in dataclasses.fields(study.DatasetParams)} | {f.type for f in
                                                                        dataclasses.fields(study.TableParams)}
    assert kinds <= {"str", "int", "float", "bool"}
