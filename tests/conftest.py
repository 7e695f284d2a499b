"""Shared fixtures: synthetic data in tmp folders, and the real samples in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def real_data(name: str) -> Path:
    """Path of a real sample set in ../shared/data; skips where it is absent, fails under CI=true."""
    path = SHARED_DATA / name
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the real sample data {path} is missing (CI lays shared/ beside the checkout)")
        pytest.skip(f"real sample data {path} is absent (it sits in ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """The three synthetic datasets, written once per session (small: 24 train, 8 test)."""
    from seg_utils.data.synthetic import SYNTHETIC_DATASETS, write_synthetic
    from seg_utils.study.reference import poster_panel_images

    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic(out, seed=0, n_train=24, n_test=8, named={d: poster_panel_images(d) for d in SYNTHETIC_DATASETS})
    return out


@pytest.fixture(autouse=True, scope="session")
def _user_cache(tmp_path_factory):
    """The precision probe's per-machine cache (seg_utils.model.precision) in a temporary folder, for this process and
    the subprocesses it starts: the tests never write into the real ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SEG_UTILS_CACHE", str(tmp_path_factory.mktemp("user-cache")))
    yield
    patch.undo()
