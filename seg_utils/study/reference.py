"""The poster's numbers, as reference data (``seg_utils/study/poster/poster_*.csv``), typed once.

Source: shared/poster/poster_tables.md (Prokopiou & Spyridonos, 2nd Panhellenic Congress of Medical
Physics, 2024). Every table of the study prints its own value beside these.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

__all__ = ["poster_results", "poster_literature", "poster_quality", "poster_dice", "poster_panel_images"]


@cache
def _read(name: str) -> pd.DataFrame:
    with resources.files("seg_utils.study").joinpath("poster").joinpath(name).open() as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values={"dice": [""], "starting": [""], "final": [""]})


def poster_results() -> pd.DataFrame:
    """Columns ``table`` (table1, table2, panel), ``dataset, arch, encoder, loss, image_id, dice``."""
    return _read("poster_results.csv").copy()


def poster_literature() -> pd.DataFrame:
    """The poster's CBIS-DDSM literature comparison: ``work, model, loss, dice, setting, task`` (the task variant
    where the poster states it: ``whole``, ``detector_crop``; empty where it does not)."""
    return _read("poster_literature.csv").copy()


def poster_quality() -> pd.DataFrame:
    """The poster's counts after data-quality inspection: ``dataset, split, source, starting, final``."""
    return _read("poster_quality.csv").copy()


def poster_dice(dataset: str, arch: str, encoder: str, loss: str) -> float | None:
    """The poster's mean Dice for one configuration, or ``None`` when the poster does not report it."""
    df = _read("poster_results.csv")
    hit = df[(df.table != "panel") & (df.dataset == dataset) & (df.arch == arch) & (df.encoder == encoder)
             & (df.loss == loss)]
    return float(hit.dice.iloc[0]) if len(hit) else None


def poster_panel_images(dataset: str) -> list[str]:
    """File names of the poster's qualitative-panel images of ``dataset`` (in the poster's order)."""
    df = _read("poster_results.csv")
    return list(dict.fromkeys(df[(df.table == "panel") & (df.dataset == dataset)].image_id))
