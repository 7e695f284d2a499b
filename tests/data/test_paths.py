"""How a folder is named in what the study writes: relative to the repository, or by its last two names."""

from __future__ import annotations

import pytest

from seg_utils.data.paths import REPOSITORY, shown_path, without_paths


@pytest.mark.parametrize("path, shown", [
    (REPOSITORY / "results" / "cpu-real", "results/cpu-real"),
    (REPOSITORY, "."),
    (REPOSITORY.parent / "shared" / "data", "../shared/data"),  # beside the repository
    ("results/smoke", "results/smoke"),  # relative: as given
    ("", ""),
])
def test_shown_path(path, shown):
    assert shown_path(path) == shown


def test_a_folder_elsewhere_is_shown_by_its_last_two_names(tmp_path):
    if tmp_path.is_relative_to(REPOSITORY.parent):
        pytest.skip("the temporary folder lies beside the repository")
    assert shown_path(tmp_path / "results") == f".../{tmp_path.name}/results"
    assert str(tmp_path) not in shown_path(tmp_path)


def test_without_paths_rewrites_each_folder_and_what_is_below_it(tmp_path):
    data = REPOSITORY.parent / "shared" / "data"
    text = (f"data under {data}. Results in '{tmp_path}/results/x.csv', {tmp_path}-other stays, "
            f"and {data}2 is another folder")
    out = without_paths(text, [data, tmp_path, ""])
    assert out.startswith("data under ../shared/data. Results in '")
    assert f"{shown_path(tmp_path / 'results' / 'x.csv')}'" in out
    assert f"{tmp_path}-other" in out and f"{data}2" in out  # a folder's prefix is not the folder
