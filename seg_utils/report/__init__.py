"""The report layer: the one reader of run folders, comparisons between configurations (their statistics are
:mod:`seg_utils.stats`), the poster's tables, table formatting and files, figures, the runs' model cards, the HTML
reports and index.

Imports every layer below it (data, model, study, and ``stats``) and is imported by none of them. A notebook cell
calls one of these and displays what it returns, e.g. ``report.show(report.table_encoders(params.results))``.
"""

from __future__ import annotations

from ..data.quality import excluded_examples
from .ablation import ablation_table, verdict
from .answers import answer_base, answer_encoders, answer_losses
from .cards import link_cards, model_card, show_card, update_card, write_model_card
from .comparisons import compare_encoders, compare_losses
from .deviations import dataset_names, deviation_box, deviations, show_deviations
from .display import (
                      DICE_PROTOCOL,
                      dice_protocol,
                      format_p,
                      format_value,
                      parameter_table,
                      poster_layout,
                      save_table,
                      show,
                      summary_table,
                      to_markdown,
)
from .figures import plot_ablation, plot_dice_distributions, plot_history, plot_table, save_figure
from .panels import plot_panel, plot_predictions, plot_quality_gallery, show_predictions
from .publish import publish
from .quality import quality_checks, quality_table, table_quality
from .recommend import recommend, save_recommendation
from .results import collect_runs, load_histories, load_per_image, select_runs
from .tables import (
                      dataset_table,
                      per_image_of,
                      score_runs,
                      table_encoders,
                      table_literature,
                      table_losses,
)

__all__ = ["DICE_PROTOCOL", "ablation_table", "answer_base", "answer_encoders", "answer_losses", "collect_runs",
           "compare_encoders", "compare_losses", "dataset_table", "dice_protocol", "excluded_examples",
           "format_value", "load_histories", "load_per_image", "per_image_of", "plot_ablation",
           "plot_dice_distributions", "plot_history", "plot_panel", "plot_quality_gallery", "plot_table",
           "show_predictions",
           "poster_layout", "quality_checks", "quality_table", "save_figure", "save_table", "score_runs",
           "select_runs", "show", "summary_table", "table_encoders", "table_literature", "table_losses",
           "table_quality", "to_markdown", "verdict"]
__all__ += ["link_cards", "model_card", "plot_predictions", "show_card", "update_card",
            "write_model_card"]  # a run's model card (report.cards) and predictions (report.panels)
__all__ += ["dataset_names", "deviation_box", "deviations", "format_p", "parameter_table", "publish",
            "show_deviations"]  # what differs from the poster (report.deviations); publishing (report.publish)
__all__ += ["recommend", "save_recommendation"]  # the study on one's own data (report.recommend)
