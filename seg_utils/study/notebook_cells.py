"""The notebooks' ``parameters`` cells, written from the parameter classes (each option declared once, with its help).

A notebook's ``parameters`` cell must be flat literals for papermill, so it cannot import its defaults; instead it is
generated from :class:`~.params.DatasetParams`, :class:`~.params.TableParams` and
:class:`~.inference.PredictParams` (:func:`seg_utils.options.parameter_lines`), and a test fails when a committed
notebook differs. After adding or changing an option: ``python -m seg_utils sync-notebooks`` rewrites the cells.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..errors import ConfigError
from ..options import parameter_lines
from .inference import PredictParams
from .params import DatasetParams, TableParams

__all__ = ["NOTEBOOK_PARAMETERS", "parameters_source", "sync_parameters"]

_PAPER = "../results/paper"
#: Each notebook's parameter class and the defaults its cell shows in place of the class's own.
NOTEBOOK_PARAMETERS: dict[str, tuple[type, dict]] = {
    **{f"0{k}_dataset_{ds}": (DatasetParams, {"dataset": ds, "results_dir": _PAPER})
       for k, ds in enumerate(("isic2018", "chest_xray", "cbis_ddsm"), start=1)},
    "04_dataset_yours": (DatasetParams, {"dataset": "folder", "data_root": "", "results_dir": "../results/yours",
                                         "budget": "quick", "test_source": "train_fraction"}),
    **{name: (TableParams, {"results_dir": _PAPER})
       for name in ("20_table_encoders", "21_table_losses", "22_table_literature")},
    "30_predict": (PredictParams, {"results_dir": "../results/smoke"}),
}


def parameters_source(name: str) -> str:
    """The ``parameters`` cell that notebook ``name`` (e.g. ``02_dataset_chest_xray``) should hold."""
    if name not in NOTEBOOK_PARAMETERS:
        raise ConfigError(f"no parameter class for notebook {name!r}; known: {', '.join(NOTEBOOK_PARAMETERS)}")
    cls, defaults = NOTEBOOK_PARAMETERS[name]
    return "\n".join(parameter_lines(cls, **defaults))


def _parameters_cell(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"{path}: {len(cells)} cells tagged 'parameters'; a notebook needs exactly one")
    return cells[0]


def sync_parameters(notebooks: str | Path, write: bool = True) -> list[str]:
    """Rewrite (``write``) or only compare the ``parameters`` cell of every notebook of :data:`NOTEBOOK_PARAMETERS`
    under ``notebooks``; returns the names of the notebooks whose cell differed."""
    changed = []
    for name in NOTEBOOK_PARAMETERS:
        path = Path(notebooks) / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell, wanted = _parameters_cell(nb, path), parameters_source(name)
        if cell.source != wanted:
            changed.append(name)
            if write:
                cell.source = wanted
                nbformat.write(nb, path)
    return changed
