"""Tables for reading: p-values in two significant digits wherever a table shows them, and parameter tables that
show folders, never this machine's absolute paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seg_utils import report
from seg_utils.data.paths import REPOSITORY
from seg_utils.study.params import DatasetParams, TableParams


@pytest.mark.parametrize("p, text", [(2.53e-05, "2.5e-05"), (0.0948, "0.095"), (0.179, "0.18"), (1.0, "1"),
                                     (1.4e-22, "1.4e-22"), (np.nan, "—")])
def test_p_values_print_in_two_significant_digits_never_zero(p, text):
    df = pd.DataFrame({"p_value": [p], "p_holm": [p], "p_seed_level": [p], "diff": [0.0001]})
    assert report.format_value(p, "p_holm") == text == report.format_p(p)
    assert report.to_markdown(df).splitlines()[-1] == f"| {text} | {text} | {text} | 0.000 |"
    shown = report.show(df).to_html()
    assert shown.count(f">{text}<") == 3 and ">0.000<" in shown  # every p_ column; other floats to 3 decimals


def test_a_long_table_is_shown_in_part_and_says_so():
    df = pd.DataFrame({"image_id": [f"img{i:03d}" for i in range(100)], "dice": np.linspace(0, 1, 100)})
    df.attrs["title"] = "Predictions"
    shown = report.show(df, max_rows=40).to_html()
    assert "img039" in shown and "img040" not in shown
    assert "The first 40 of 100 rows; the saved table (CSV) holds all of them." in shown
    whole = report.show(df, max_rows=100).to_html()
    assert "img099" in whole and "The first" not in whole and "img099" in report.show(df).to_html()
    with pytest.raises(ValueError, match="max_rows must be a positive number of rows or None"):
        report.show(df, max_rows=0)


def test_the_predictions_table_shows_the_images_with_an_error_first():
    n = 60
    df = pd.DataFrame({"image_id": [f"img{i:03d}" for i in range(n)], "width": 64, "height": 64,
                       "foreground_fraction": 0.1, "dice": 0.8, "iou": 0.7, "dice_at": "input", "error": [None] * n,
                       "overlay_file": "x.png"})
    df.loc[55, "error"] = "cannot decode"
    shown = report.show_predictions(df, max_rows=40).to_html()
    assert shown.index("img055") < shown.index("img000") and "img039" not in shown  # 40 rows: the error, then 0-38
    assert "cannot decode" in shown and "overlay_file" not in shown and "The first 40 of 60 rows" in shown


def test_the_index_tables_format_p_values_too(tmp_path):
    from seg_utils.report.html import _table_html

    path = tmp_path / "t.csv"
    pd.DataFrame({"comparison": ["a vs b"], "p_value": [6.33e-06], "p_holm": [2.53e-05]}).to_csv(path, index=False)
    cells = _table_html(path)
    assert "<td>6.3e-06</td>" in cells and "<td>2.5e-05</td>" in cells and "0.000" not in cells


def test_parameter_tables_show_folders_relative_to_the_repository(tmp_path):
    data = REPOSITORY.parent / "shared" / "data"
    params = DatasetParams(dataset="isic2018", data_root=str(data), results_dir=str(tmp_path / "results"))
    values = " ".join(map(str, report.parameter_table(params).value))
    assert str(data) not in values and str(tmp_path) not in values and str(REPOSITORY) not in values
    assert "'../shared/data'" in values and "found under ../shared/data" in values
    assert f".../{tmp_path.name}/results" in values
    synthetic = DatasetParams(dataset="chest_xray", data_root="", results_dir=str(REPOSITORY / "results" / "smoke"))
    values = " ".join(map(str, report.parameter_table(synthetic).value))
    assert "SYNTHETIC demo data under results/smoke/synthetic/chest_xray" in values and str(REPOSITORY) not in values
    tables = report.parameter_table(TableParams(results_dir=str(REPOSITORY / "results" / "cpu-real")))
    assert "'results/cpu-real'" in tables.value.tolist()


def test_summary_table_names_the_results_folder_as_shown(tmp_path):
    path = tmp_path / "summaries" / "x.json"
    path.parent.mkdir()
    path.write_text('{"artefacts": []}')
    title = report.summary_table(path).attrs["title"]
    assert title == f"Written to .../{tmp_path.parent.name}/{tmp_path.name} (listed in summaries/x.json)"


@pytest.mark.parametrize("value, column, text", [
    (0.0003, "seed_sd", "0.0003"), (0.0019, "sd_a", "0.0019"), (0.0005, "diff_sd", "0.0005"),  # not 0.000
    (2594.0, "poster_images", "2594"), (13.0, "minutes", "13.0"), (0.9617, "dice", "0.962")])
def test_spreads_keep_their_digits_and_counts_print_whole(value, column, text):
    assert report.format_value(value, column) == text


def test_the_index_shows_a_long_table_in_part_and_says_where_the_rest_is(tmp_path):
    from seg_utils.report.html import INDEX_ROWS, _table_html

    path = tmp_path / "predictions.csv"
    pd.DataFrame({"image_id": [f"img{i:04d}" for i in range(INDEX_ROWS + 5)], "dice": 0.9}).to_csv(path, index=False)
    cells = _table_html(path)
    assert cells.count("<tr>") == INDEX_ROWS + 1 and f"img{INDEX_ROWS - 1:04d}" in cells and f"img{INDEX_ROWS:04d}" \
        not in cells
    assert f"the first {INDEX_ROWS} of {INDEX_ROWS + 5} rows; all of them in predictions.csv" in cells
