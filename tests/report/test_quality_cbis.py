"""The CBIS-DDSM quality table: our counts for the chosen task beside the poster's 1301 / 377, saying what a row
counts and that mass_crop windows are oracle crops."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cbis_kaggle_fixture import EXPECTED, write_cbis_kaggle
from seg_utils import report
from seg_utils.data import build_manifest, inspect_manifest


@pytest.mark.parametrize("task, unit, counts", [("whole", "mammogram", "mammograms"),
                                                ("mass_crop", "abnormality (oracle crop)", "abnormalities")])
def test_cbis_quality_table_names_the_task_beside_the_poster(tmp_path, task, unit, counts):
    manifest = build_manifest("cbis_ddsm", write_cbis_kaggle(tmp_path), cbis_task=task)
    inspection = inspect_manifest(manifest)
    data = SimpleNamespace(dataset="cbis_ddsm", report=inspection, manifest=manifest, clean=inspection.clean,
                           cbis_task=task)
    df = report.quality_table(data)
    assert list(df.columns) == report.quality.QUALITY_COLUMNS
    rows = df.set_index("split")
    assert rows.starting.to_dict() == EXPECTED[counts]
    assert rows.poster_final.to_dict() == {"train": 1301, "test": 377}
    assert (df.unit == unit).all()
    note = next(n for n in df.attrs["notes"] if n.startswith("CBIS-DDSM, task"))
    assert f"task {task}" in note and "1301 / 377" in note
    assert ("ORACLE crop" in note) == (task == "mass_crop")
    df.to_csv((tmp_path / "tables").mkdir() or tmp_path / "tables" / "quality_cbis_ddsm.csv", index=False)
    table = report.table_quality(tmp_path)  # the combined table keeps the unit and the note
    assert (table[table.dataset == "cbis_ddsm"].unit == unit).all()
    assert any(n.startswith(f"CBIS-DDSM, task {task}") for n in table.attrs["notes"])
