"""The real samples after the inspection: no patient and no exact or near-identical image in two of train, validation
and test, as a run splits them (seg_utils.study.splits.split_rows on the clean manifest).

Each dataset is inspected once per module (about 10 s for CBIS-DDSM per task, 20 s for ISIC 2017 on two cores); the
inspection's own decodes are recorded and reused to compare every pair across splits with the inspection's rules.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import real_data
from seg_utils.data import build_manifest, inspect_manifest
from seg_utils.data.cache import parse_crop
from seg_utils.data.quality import QualityRules
from seg_utils.data.quality import inspect as inspect_module
from seg_utils.data.quality.duplicates import near_pairs, source_keys
from seg_utils.study.splits import split_rows

CASES = {  # (dataset, folder, cbis_task, val_sources)
    "cbis_whole": ("cbis_ddsm", "cbis_ddsm", "whole", ("train_fraction",)),
    "cbis_mass_crop": ("cbis_ddsm", "cbis_ddsm", "mass_crop", ("train_fraction",)),
    "isic2017": ("isic2018", "isic2017", "whole", ("train_fraction", "official")),
}
# Measured on the shared samples (2026-12-03): clean rows per split, and the exclusions by check.
MEASURED = {
    "cbis_whole": ({"train": 1231, "test": 361}, {}),
    "cbis_mass_crop": ({"train": 1316, "test": 378}, {}),
    "isic2017": ({"train": 1992, "val": 148, "test": 598},
                 {"train_test_leak": 8, "train_val_leak": 2, "exact_duplicate": 2}),
}


@pytest.fixture(scope="module", params=list(CASES))
def inspected(request):
    name, folder, task, val_sources = CASES[request.param]
    manifest = build_manifest(name, real_data(folder), cbis_task=task)
    decoded = {}
    original = inspect_module.decode_pair

    def recording(image_path, mask_path, window=None):
        d = original(image_path, mask_path, window)
        decoded[(image_path, mask_path, window)] = d
        return d

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inspect_module, "decode_pair", recording)
        report = inspect_manifest(manifest, workers=2)
    clean = report.clean
    crops = clean["crop"] if "crop" in clean else [None] * len(clean)
    dec = [decoded[(r.image_path, r.mask_path, parse_crop(c))] for r, c in zip(clean.itertuples(), crops, strict=True)]
    return request.param, manifest, report, dec, val_sources


def _patients(clean, rows) -> set[str]:
    if "patient" in clean:
        return set(clean.patient.iloc[rows])
    return {m.group(0) for i in clean.image_id.iloc[rows] if (m := re.search(r"P_\d{5}", i))}


@pytest.mark.real_data
def test_no_patient_and_no_copy_in_two_splits(inspected):
    case, manifest, report, dec, val_sources = inspected
    clean, rules = report.clean, QualityRules()
    counts, exclusions = MEASURED[case]
    excluded = report.findings[report.findings.action == "exclude"].drop_duplicates(["split", "image_id"])
    print(f"\n{case}: manifest {manifest.groupby('split').size().to_dict()}, clean "
          f"{clean.groupby('split').size().to_dict()}, excluded {excluded.check.value_counts().to_dict()}")
    assert clean.groupby("split").size().to_dict() == counts
    assert excluded.check.value_counts().to_dict() == exclusions
    assert (excluded.detail.str.len() > 20).all()  # every exclusion says why
    sources, sha = source_keys(clean), np.array([d.pixel_sha for d in dec], dtype=object)
    for val_source in val_sources:
        for seed in (0, 1):
            parts = split_rows(clean, clean.split.to_numpy(), case, val_source, 0.1, seed)
            named = [(k, parts[k].tolist()) for k in ("train", "val", "test")]
            for a, (name_a, rows_a) in enumerate(named):
                for name_b, rows_b in named[a + 1:]:
                    where = f"{case} {val_source} seed {seed}: {name_a} vs {name_b}"
                    assert not _patients(clean, rows_a) & _patients(clean, rows_b), where
                    assert not set(clean.group.iloc[rows_a]) & set(clean.group.iloc[rows_b]), where
                    assert not set(sha[rows_a]) & set(sha[rows_b]), where + ": exact copies"
                    assert not set(sources[rows_a]) & set(sources[rows_b]), where + ": crops of one image"
                    _, _, near = near_pairs(dec, rows_a, rows_b, rules)
                    pairs = [(clean.image_id[rows_a[i]], clean.image_id[rows_b[j]]) for i, j in np.argwhere(near)]
                    assert not pairs, f"{where}: near copies {pairs[:5]}"
