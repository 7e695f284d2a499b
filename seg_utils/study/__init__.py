"""The study layer: run specs, the poster's grid and reference numbers, notebook parameters, preparing data, run
folders and their execution, the ablation ladder, external validation, notebook summaries.

Imports the data and model layers below it, nothing from the report layer above. A dataset notebook calls::

    params = study.dataset_params(globals())
    data = study.prepare(params)
    runs = study.run_grid(params, data)
    ladder = study.run_ladder(params, data)
    study.write_summary(params, ..., runs=runs, ablation_runs=ladder)

and the predict notebook ``params = study.predict_params(globals())``, ``study.predict(params)``.
"""

from __future__ import annotations

from .ablation import LADDER_SUMMARY_COLUMNS, run_ladder
from .budget import BUDGETS, estimate, for_data
from .execute import RUN_SUMMARY_COLUMNS, grid_specs, run_grid
from .external import evaluate_external
from .grid import DATASET_NAMES, GRID_DATASETS, LOSS_NAMES, model_label, poster_grid
from .inference import PredictParams, export_run, predict, predict_params, predict_run
from .notebook import dataset_params, table_params
from .params import DatasetParams, TableParams
from .prepare import PreparedData, prepare, prepare_data
from .run_folder import load_run, run_dir_for, run_status
from .runs import execute_run
from .spec import RunSpec
from .summary import write_summary

__all__ = ["BUDGETS", "DATASET_NAMES", "GRID_DATASETS", "LADDER_SUMMARY_COLUMNS", "LOSS_NAMES", "RUN_SUMMARY_COLUMNS",
           "DatasetParams", "PreparedData", "RunSpec", "TableParams", "dataset_params", "estimate",
           "evaluate_external", "execute_run", "for_data", "grid_specs", "model_label", "poster_grid", "prepare",
           "prepare_data", "run_dir_for", "run_grid", "run_ladder", "run_status", "table_params", "write_summary"]
__all__ += ["PredictParams", "export_run", "load_run", "predict", "predict_params",
            "predict_run"]  # using a run: seg_utils.study.inference (its model card: seg_utils.report.cards)
