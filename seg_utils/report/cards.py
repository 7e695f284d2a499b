"""Model cards: ``<run>/model_card.md``, written from a run folder's own files, and linked from the reports.

What a reader needs before using a run's weights (after Mitchell et al., "Model Cards for Model Reporting", FAT*
2019, https://arxiv.org/abs/1810.03993, and MONAI bundles' ``docs/README.md``): the task; the data and its
fingerprint; the split sizes; the protocol and where it departs from the poster's; the test metrics with 95%
intervals, per-image and pooled (:mod:`seg_utils.stats`); HD95 with its misses; external validations; exports;
training time and hardware; intended use and limits.

The report layer writes the cards, the study layer below it only writes the files they are built from. A card is
written where it is missing or outdated (:func:`update_card`: older than the file written last by a run's completion,
an external evaluation or an export) by :func:`link_cards` (the run tables of the dataset notebooks), by
:func:`show_card`, and by ``python -m seg_utils train`` / ``evaluate`` / ``export``; ``python -m seg_utils card``
rewrites it (:func:`write_model_card`). A file the run lacks leaves its section saying so; a card never fails.
"""

from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.io import atomic_write, read_json
from ..data.paths import shown_path
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..stats import pooled_dice_ci, run_ci
from ..study.grid import ARCH_NAMES, DATASET_NAMES, LOSS_NAMES, model_label
from ..study.run_folder import (
    CARD,
    EXTERNAL,
    METRICS,
    PER_IMAGE,
    SPEC,
    SPLITS,
    is_run_folder,
    read_environment,
    read_history,
    read_spec,
    run_status,
    weights_file,
)
from ..study.spec import ADDED_FIELDS, RunSpec
from ..study.splits import TEST_SEED

__all__ = ["CARD_NAME", "model_card", "write_model_card", "card_outdated", "update_card", "link_cards", "show_card"]

CARD_NAME = CARD
#: What each dataset's model segments, in words.
_TASKS = {"isic2018": "skin lesions in dermoscopy images (ISIC 2018 Task 1)",
          "chest_xray": "both lung fields in frontal chest X-rays (trained on Shenzhen, tested on Montgomery)",
          "cbis_ddsm": "breast masses in mammograms (CBIS-DDSM)", "folder": "the foreground of a generic image folder"}
_INITIALISATION = {
    "none": "- Trained from scratch (no ImageNet weights), unlike the poster's ImageNet-initialised models: compare it "
            "with other from-scratch runs, not with the poster's numbers.",
    "imagenet": "- Encoder initialised with ImageNet weights, as in the poster: features learned from natural "
                "photographs (and their biases and licence) carry over.",
}
_VAL_SOURCES = {"train_fraction": "a share of the training split, drawn by patient", "official": "the dataset's own"}
_EXPORTS = ("model.onnx", "model.torchscript.pt")
_N_RESAMPLES = 10_000


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, dtype={"image_id": str})
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _metric_rows(per_image: pd.DataFrame) -> list[str]:
    """The test-metric table's rows (Markdown) of a per-image table."""
    rows = []
    for column, name in (("dice", "Dice, mean per image"), ("iou", "IoU, mean per image"),
                         ("hd95", "HD95 (px), mean over the images where defined"),
                         ("hd95_penalised", "HD95 (px), penalised mean (a miss counts as the image diagonal)")):
        if column not in per_image:
            rows.append(f"| {name} | not recorded | |")
            continue
        ci = run_ci(per_image, column, n_resamples=_N_RESAMPLES)
        rows.append(f"| {name} | {_f(ci['mean'])} | [{_f(ci['ci_low'])}, {_f(ci['ci_high'])}] |")
        if column == "dice" and {"tp", "fp", "fn"} <= set(per_image):
            tp, fp, fn = (float(per_image[c].sum()) for c in ("tp", "fp", "fn"))
            low, high = pooled_dice_ci(per_image, n_resamples=_N_RESAMPLES)
            value = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 1.0
            rows.append(f"| Dice, pooled over all test pixels | {_f(value)} | [{_f(low)}, {_f(high)}] |")
        if column == "hd95":
            rows.append(f"| HD95 misses (exactly one of prediction and mask empty) | {ci['n_undefined']} | |")
    return rows


def _weights_line(spec: RunSpec) -> str:
    if spec.weights == "none":
        return "trained from scratch (random initialisation; no ImageNet weights)"
    if spec.weights == "imagenet":
        return f"encoder initialised with ImageNet weights (smp-hub/{spec.encoder}.imagenet), then trained"
    return f"encoder initialised from local weights `{_weights_name(spec.weights)}`, then trained"


def _weights_name(weights: str) -> str:
    """``imagenet``, ``none``, or a local weights file as :func:`~seg_utils.data.paths.shown_path` shows it."""
    return weights if weights in _INITIALISATION else shown_path(weights)


def _protocol(spec: RunSpec, metrics: dict) -> list[str]:
    epochs = f"{metrics.get('epochs_run', '?')} of at most {spec.epochs}"
    if metrics.get("stopped_early"):
        epochs += " (stopped early)"
    lines = [
        f"- Loss: {LOSS_NAMES.get(spec.loss, spec.loss)} (`{spec.loss}`); Adam, learning rate {spec.lr:g} "
        f"({spec.schedule}); batch {spec.batch_size}; epochs {epochs}; best epoch {metrics.get('best_epoch', '?')}",
        f"- Early stopping on the validation loss: patience {spec.patience}, min_delta {spec.min_delta:g}; weights "
        f"evaluated: {metrics.get('weights', spec.keep_weights + ' epoch')} (`keep_weights={spec.keep_weights}`)",
        f"- Augmentation: {spec.augment}; intensity normalisation: {spec.intensity}; seed {spec.seed}",
        f"- Precision: {metrics.get('precision', 'not recorded')}; test masks scored at the "
        f"{metrics.get('eval_resolution', spec.eval_resolution)} resolution",
    ]
    poster = {k: RunSpec.default(k) for k in ("image_size", "epochs", "batch_size", "lr", "patience", "min_delta",
                                              "weights", "intensity", "augment", "schedule", *ADDED_FIELDS)}
    changed = [f"`{k}={_weights_name(spec.weights) if k == 'weights' else getattr(spec, k)}` (poster: {v})"
               for k, v in poster.items() if getattr(spec, k) != v]
    lines.append("- Differences from the poster's protocol: " + (", ".join(changed) if changed else "none"))
    if metrics.get("model_deviation"):
        lines.append(f"- Model deviation from stock smp: {metrics['model_deviation']}")
    lines += [f"- Note: {note}" for note in metrics.get("notes") or []]
    return lines


def _external(run_dir: Path) -> list[str]:
    found = sorted((run_dir / EXTERNAL).glob(f"*/{METRICS}"))
    if not found:
        return ["None made. `python -m seg_utils evaluate --run RUN --dataset DATASET --data-root DIR` scores the "
                "weights on another dataset (e.g. another hospital's images)."]
    lines = ["| evaluation | dataset | split | images | Dice, mean per image [95% CI] | Dice, pooled | HD95 misses |",
             "|---|---|---|---|---|---|---|"]
    for path in found:
        m = _read(path) or {}
        per_image = _csv(path.parent / PER_IMAGE)
        ci = run_ci(per_image, "dice", n_resamples=_N_RESAMPLES) if per_image is not None and len(per_image) else {}
        lines.append(f"| {path.parent.name} | {m.get('dataset', '?')} | {m.get('split', '?')} | "
                     f"{m.get('n_images', '?')} | {_f(m.get('dice_mean'))} [{_f(ci.get('ci_low'))}, "
                     f"{_f(ci.get('ci_high'))}] | {_f(m.get('dice_pooled'))} | {m.get('hd95_misses', '—')} |")
    return lines


def _hardware(run_dir: Path, metrics: dict) -> list[str]:
    env = read_environment(run_dir)
    history = read_history(run_dir)
    lines = []
    if "seconds" in history:
        lines.append(f"- Training: {history.seconds.sum() / 60:.1f} min over {len(history)} epochs (history.csv), "
                     f"median {_f(metrics.get('train_images_per_s'), 1)} images/s")
    else:
        lines.append("- Training time: not recorded (no history.csv)")
    gpus = ", ".join(g.get("name", "?") for g in env.get("gpus") or []) or "none"
    packages = env.get("packages") or {}
    git = env.get("git") or {}
    cpu = env.get("cpu") or env.get("processor", "?")  # runs recorded before the model name have only the machine
    isa = f" ({env['cpu_capability']})" if env.get("cpu_capability") else ""
    lines += [f"- Device: {metrics.get('device', env.get('device', '?'))}; GPUs: {gpus}; processor "
              f"{cpu}{isa}, {env.get('cpu_count', '?')} CPUs; {env.get('platform', '?')}",
              f"- Software: torch {packages.get('torch', '?')}, segmentation_models_pytorch "
              f"{packages.get('segmentation_models_pytorch', '?')}, python {env.get('python', '?')}; git commit "
              f"{git.get('commit') or '?'}{' (with uncommitted changes)' if git.get('dirty') else ''}",
              f"- Determinism: {env.get('determinism', 'not recorded')}"]
    return lines


def model_card(run_dir: str | Path) -> str:
    """The model card of a run folder, as Markdown (see the module docstring for its sections).

    Raises:
        FileNotFoundError: the folder has no ``spec.json`` (it is not a run folder).
    """
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {SPEC})")
    spec = RunSpec.from_dict(read_spec(run_dir))
    metrics = _read(run_dir / METRICS) or {}
    splits = _read(run_dir / SPLITS) or {}
    per_image = _csv(run_dir / PER_IMAGE)
    weights = weights_file(run_dir).name
    n = {k: metrics.get(f"n_{k}", len(splits.get(k, [])) or "?") for k in ("train", "val", "test")}
    out = [f"# Model card: {model_label(spec.arch, spec.encoder)}, {LOSS_NAMES.get(spec.loss, spec.loss)} on "
           f"{DATASET_NAMES.get(spec.dataset, spec.dataset)}", "",
           f"Run `{run_dir.name}`. Written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} from this "
           "folder's files by seg_utils (`python -m seg_utils card --run RUN` rewrites it).", ""]
    if not metrics:
        out += ["**This run is not complete** (no metrics.json): the numbers below are missing.", ""]
    out += ["## Task", "", f"Binary segmentation of {_TASKS.get(spec.dataset, spec.dataset)}: one logit per pixel, "
            "foreground where its sigmoid exceeds 0.5.", "",
            "## Model", "",
            f"- {ARCH_NAMES.get(spec.arch, spec.arch)} with a {spec.encoder} encoder (segmentation-models-pytorch), "
            f"{_f(metrics.get('parameters'))} parameters, {_weights_line(spec)}",
            f"- Weights: `{weights}`; input {spec.image_size} x {spec.image_size} RGB (grey images replicated to three "
            f"channels), area-resized without keeping the aspect ratio, intensity `{spec.intensity}`, scaled to [0, 1] "
            f"and normalised with the ImageNet mean {list(IMAGENET_MEAN)} and sd {list(IMAGENET_STD)}",
            "- Apply it with `python -m seg_utils predict --run RUN --images DIR --out DIR` (the preprocessing above "
            "comes from spec.json); export it with `python -m seg_utils export --run RUN --format onnx|torchscript`",
            "", "## Data", "",
            f"- Dataset `{spec.dataset}`; fingerprint of the clean manifest `{spec.data_fingerprint or '?'}`, of the "
            f"data-quality rules `{spec.quality_rules or '?'}`; "
            + (f"the first {spec.limit} clean images of each split" if spec.limit else "every clean image"),
            f"- Split sizes: {n['train']} training, {n['val']} validation ({_VAL_SOURCES.get(spec.val_source, '?')}), "
            f"{n['test']} test images (ids in splits.json; "
            + ("the dataset's own test set)" if spec.test_source == "official" else
               f"HELD OUT OF TRAINING: {spec.test_fraction:.0%} of the training images, seed {TEST_SEED}, by group, "
               "because test_source='train_fraction'; not the official test set)"), "",
            "## Protocol", "", *_protocol(spec, metrics), "",
            f"## Results on the test split ({metrics.get('n_images', n['test'])} images)", ""]
    if per_image is not None and len(per_image):
        out += ["| metric | value | 95% CI |", "|---|---|---|", *_metric_rows(per_image), "",
                "Intervals: BCa bootstrap over the test images (10,000 resamples). Mean per image is the study's "
                "headline Dice; pooled Dice sums the pixels of all test images first (it weighs large structures "
                "more).", ""]
    else:
        out += ["No per_image.csv: the run has not been evaluated.", ""]
    out += ["## External validation", "", *_external(run_dir), "", "## Exports", ""]
    exports = [f"- `{name}`" for name in _EXPORTS if (run_dir / name).is_file()]
    out += (exports or ["None yet."]) + ["", "## Training time and hardware", "", *_hardware(run_dir, metrics), ""]
    out += ["## Intended use and limits", "",
            "- Research use only: a baseline of a reproducibility study. **Not a medical device**; not validated for "
            "diagnosis, treatment or any clinical decision.",
            _INITIALISATION.get(spec.weights, f"- Encoder initialised from local weights "
                                              f"`{_weights_name(spec.weights)}`."),
            "- The numbers hold for the test split above; on images from other scanners, hospitals or populations "
            "(see External validation) they may be much lower. Check it on your own data with masks first.",
            "- A run on the synthetic demo data (the smoke profile) only shows that the pipeline works."]
    return "\n".join(out) + "\n"


def write_model_card(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/model_card.md`` (atomically) and return its path."""
    path = Path(run_dir) / CARD_NAME
    text = model_card(run_dir)
    with atomic_write(path) as fh:
        fh.write(text)
    return path


def _reported(run_dir: Path) -> list[Path]:
    """The file written last by each event the card reports: the run's completion, each external evaluation (under
    ``<run>/external``) and each export."""
    return [run_dir / METRICS, *sorted((run_dir / EXTERNAL).glob(f"*/{METRICS}")),
            *(run_dir / name for name in _EXPORTS)]


def card_outdated(run_dir: str | Path) -> bool:
    """Whether ``<run_dir>/model_card.md`` is missing or older than a file it reports (:func:`_reported`).

    Only those last-written files are compared, so a fresh checkout of committed run folders, whose card comes after
    ``metrics.json`` and ``external/`` in git's order, does not count as outdated.
    """
    run_dir = Path(run_dir)
    path = run_dir / CARD_NAME
    if not path.is_file():
        return True
    written = path.stat().st_mtime_ns
    return any(p.is_file() and p.stat().st_mtime_ns > written for p in _reported(run_dir))


def update_card(run_dir: str | Path) -> Path:
    """``<run_dir>/model_card.md``, (re)written first where it is missing or outdated (:func:`card_outdated`).

    Raises:
        FileNotFoundError: the folder has no ``spec.json`` (it is not a run folder).
    """
    return write_model_card(run_dir) if card_outdated(run_dir) else Path(run_dir) / CARD_NAME


def link_cards(runs: pd.DataFrame, results: str | Path, column: str = "card") -> pd.DataFrame:
    """``runs`` with a column of HTML links to each run's model card, relative to ``<results>/notebooks`` (where the
    executed notebooks and their HTML reports live). Each complete run's card is written first where it is missing
    or outdated (:func:`update_card`); an incomplete run is linked only where it has a card
    (``python -m seg_utils card --run DIR`` writes one).

    Args:
        runs: a table with a ``run_dir`` column (``study.run_grid``, ``study.run_ladder``, ``report.collect_runs``).
        results: the results folder.
        column: the new column's name.

    Returns:
        A copy of ``runs`` with ``column`` (empty where a row has no run folder or no card); show it with
        ``report.show(table, columns=[..., "card"])``.
    """
    base = Path(results).resolve() / "notebooks"
    out = runs.copy()

    def link(run_dir: object) -> str:
        if not isinstance(run_dir, str | Path) or not is_run_folder(run_dir):
            return ""
        path = update_card(run_dir) if run_status(run_dir) == "complete" else Path(run_dir) / CARD_NAME
        if not path.is_file():
            return ""
        rel = os.path.relpath(path.resolve(), base).replace(os.sep, "/")
        return f'<a href="{html.escape(rel)}">model card</a>'

    out[column] = [link(d) for d in (runs["run_dir"] if "run_dir" in runs else [None] * len(runs))]
    return out


def show_card(run_dir: str | Path):
    """A run's model card as Markdown, for display in a notebook (written first where it is missing or outdated)."""
    from IPython.display import Markdown

    return Markdown(update_card(run_dir).read_text())
