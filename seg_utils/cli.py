"""Command line: ``python -m seg_utils {synth,train,evaluate,inspect,predict,export,card}``.

Errors the user can act on are one line on stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import AUGMENTS, DATASETS, INTENSITIES
from .errors import SegUtilsError
from .model import ARCHS, DEVICES, DICE_RESOLUTIONS, EXPORT_FORMATS, LOSSES, SCHEDULES, TTA_MODES
from .model.precision import MEMORY_FORMATS, PRECISIONS
from .study.inference import PRECISION_CHOICES
from .study.spec import CBIS_TASKS, EVAL_RESOLUTIONS, KEEP_WEIGHTS, VAL_SOURCES, RunSpec

__all__ = ["main", "build_parser"]


def _integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m seg_utils", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the synthetic datasets in their real layouts")
    s.add_argument("--out", required=True, type=Path, help="parent folder (gets isic2018/, chest_xray/, cbis_ddsm/)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n-train", type=int, default=64)
    s.add_argument("--n-test", type=int, default=16)

    t = sub.add_parser("train", help="train and evaluate one run (the last stdout line is the run folder)")
    t.add_argument("--dataset", required=True, choices=list(DATASETS))
    t.add_argument("--data-root", required=True, type=Path)
    t.add_argument("--arch", required=True, choices=list(ARCHS))
    t.add_argument("--encoder", required=True, help="smp encoder: vgg19, resnet50, densenet121, ...")
    t.add_argument("--loss", required=True, choices=list(LOSSES))
    for name in ("image_size", "epochs", "batch_size", "patience", "seed", "limit"):
        t.add_argument(f"--{name.replace('_', '-')}", type=_integer, default=RunSpec.default(name))
    for name in ("lr", "min_delta", "val_fraction"):
        t.add_argument(f"--{name.replace('_', '-')}", type=float, default=RunSpec.default(name))
    t.add_argument("--weights", default=RunSpec.default("weights"),
                   help="imagenet | none | PATH (local weights file or HF cache)")
    t.add_argument("--intensity", choices=INTENSITIES, default=RunSpec.default("intensity"))
    t.add_argument("--augment", choices=AUGMENTS, default=RunSpec.default("augment"))
    t.add_argument("--schedule", choices=SCHEDULES, default=RunSpec.default("schedule"))
    t.add_argument("--val-source", choices=VAL_SOURCES, default=RunSpec.default("val_source"),
                   help="validation split: a share of training drawn by patient, or the dataset's own")
    t.add_argument("--cbis-task", choices=CBIS_TASKS, default=RunSpec.default("cbis_task"),
                   help="CBIS-DDSM: whole mammograms, or one mass-centred (oracle) crop per abnormality")
    t.add_argument("--keep-weights", choices=KEEP_WEIGHTS, default=RunSpec.default("keep_weights"),
                   help="after early stopping: restore the best epoch's weights, or keep the last (Keras' default)")
    t.add_argument("--eval-resolution", choices=EVAL_RESOLUTIONS, default=RunSpec.default("eval_resolution"),
                   help="score test masks at the model's input size or at each mask's own size")
    t.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: measured on the CPU (once per machine and model), bf16/fp16 on a GPU")
    t.add_argument("--memory-format", choices=MEMORY_FORMATS, default="auto")
    t.add_argument("--resume-from", type=Path, default=None,
                   help="a previous session's results folder (read-only): its copy of this run is brought in first")
    t.add_argument("--device", choices=DEVICES, default="auto")
    t.add_argument("--results", type=Path, default=Path("results"))
    t.add_argument("--cache-dir", type=Path, default=None, help="default: <results>/cache")
    t.add_argument("--quiet", action="store_true", help="no progress bars")

    e = sub.add_parser("evaluate", help="apply a trained run to another dataset (last stdout line: JSON)")
    e.add_argument("--run", required=True, type=Path, help="a complete run folder")
    e.add_argument("--dataset", required=True, choices=list(DATASETS))
    e.add_argument("--data-root", required=True, type=Path)
    e.add_argument("--split", choices=["test", "all"], default="test")
    e.add_argument("--out", type=Path, default=None, help="folder for per_image.csv + metrics.json "
                   "(default: <run>/external/<dataset>-<split>)")
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.add_argument("--quiet", action="store_true")

    i = sub.add_parser("inspect", help="data-quality inspection of a dataset")
    i.add_argument("--dataset", required=True, choices=list(DATASETS))
    i.add_argument("--data-root", required=True, type=Path)
    i.add_argument("--cbis-task", choices=CBIS_TASKS, default=RunSpec.default("cbis_task"))
    i.add_argument("--out", type=Path, default=None, help="findings CSV (a summary CSV is written beside it)")
    i.add_argument("--quiet", action="store_true")
    _add_use_commands(sub)
    return p


def _add_use_commands(sub: argparse._SubParsersAction) -> None:
    """``predict``, ``export`` and ``card``: using a complete run (seg_utils.study.inference, .model_card)."""
    r = sub.add_parser("predict", help="masks, overlays and predictions.csv for a folder of images, with a run")
    r.add_argument("--run", required=True, type=Path, help="a complete run folder (its spec.json gives the "
                   "preprocessing)")
    r.add_argument("--images", required=True, type=Path, help="folder of images (any size; not searched below)")
    r.add_argument("--out", required=True, type=Path, help="output folder: masks/, overlays/, predictions.csv")
    r.add_argument("--masks", type=Path, default=None, help="folder of ground-truth masks (same stems; _mask / "
                   "_segmentation suffixes allowed): Dice per image")
    r.add_argument("--tta", choices=TTA_MODES, default="none", help="flips: mean probability over four flips")
    r.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the masks")
    r.add_argument("--dice-at", choices=["run", *DICE_RESOLUTIONS], default="run",
                   help="where Dice is scored: the run's own eval_resolution, the model's input size (masks resized "
                   "nearest, as the cache does) or each mask's own size")
    r.add_argument("--precision", choices=PRECISION_CHOICES, default="run",
                   help="run: the run's own precision on a device of its kind, else fp32")
    r.add_argument("--device", choices=DEVICES, default="auto")
    r.add_argument("--quiet", action="store_true")

    x = sub.add_parser("export", help="export a run's weights to ONNX or TorchScript, checked against PyTorch")
    x.add_argument("--run", required=True, type=Path, help="a complete run folder")
    x.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    x.add_argument("--out", type=Path, default=None, help="file (default: <run>/model.onnx or model.torchscript.pt)")
    x.add_argument("--images", type=Path, default=None, help="images for the check batch (default: the run's "
                   "cached test images)")

    c = sub.add_parser("card", help="write model_card.md for runs (complete or not)")
    c.add_argument("--run", type=Path, action="append", default=[], help="a run folder (repeatable)")
    c.add_argument("--results", type=Path, default=None, help="every run folder under <results>/runs")


def _predict(args: argparse.Namespace) -> None:
    from .study import predict_run

    table = predict_run(args.run, args.images, args.out, args.masks, args.tta, args.threshold, args.dice_at,
                        args.device, args.precision, progress=not args.quiet)
    scored = table.dice.dropna()
    errors = int((table.error.fillna("") != "").sum())
    print(f"{len(table)} images, {errors} with an error" + (f", mean Dice {scored.mean():.4f} over {len(scored)} "
          f"(at the {table.dice_at[table.dice.notna()].iloc[0]} resolution)" if len(scored) else ""))
    print(args.out / "predictions.csv")


def _export(args: argparse.Namespace) -> None:
    from .study import export_run

    print(export_run(args.run, args.format, args.out, args.images))


def _card(args: argparse.Namespace) -> None:
    from .errors import ConfigError
    from .study import write_model_card

    runs = list(args.run)
    if args.results is not None:
        runs += sorted(p.parent for p in (args.results / "runs").glob("*/*/spec.json"))
    if not runs:
        raise ConfigError("card: name runs with --run DIR (repeatable) or --results DIR (every run under DIR/runs)")
    for run in runs:
        if not (run / "spec.json").is_file():
            raise ConfigError(f"card: {run} is not a run folder (no spec.json)")
        print(write_model_card(run))


def _synth(args: argparse.Namespace) -> None:
    from .data import SYNTHETIC_DATASETS, write_synthetic
    from .study.reference import poster_panel_images

    named = {name: poster_panel_images(name) for name in SYNTHETIC_DATASETS}
    for name, root in write_synthetic(args.out, args.seed, args.n_train, args.n_test, named=named).items():
        print(f"{name}\t{root}")


def _train(args: argparse.Namespace) -> None:
    from .model import resolve_device
    from .model.models import find_local_weights
    from .study import execute_run, prepare_data
    from .study.prepare import check_writable
    from .study.resume import import_runs

    spec = RunSpec(dataset=args.dataset, arch=args.arch, encoder=args.encoder, loss=args.loss,
                   image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   patience=args.patience, min_delta=args.min_delta, val_fraction=args.val_fraction, seed=args.seed,
                   weights=args.weights, limit=args.limit, intensity=args.intensity, augment=args.augment,
                   schedule=args.schedule, val_source=args.val_source, cbis_task=args.cbis_task,
                   keep_weights=args.keep_weights, eval_resolution=args.eval_resolution)
    device = resolve_device(args.device)  # fail before the data is prepared, not after
    if spec.weights not in ("imagenet", "none"):
        find_local_weights(spec.weights, spec.encoder)
    check_writable(args.results)
    data = prepare_data(args.dataset, args.data_root, spec.image_size, args.results, spec.intensity, spec.limit,
                        cache_dir=args.cache_dir, progress=not args.quiet, cbis_task=spec.cbis_task)
    if args.resume_from:
        spec = spec.replace(data_fingerprint=data.fingerprint, quality_rules=data.report.rules.fingerprint)
        for note in import_runs(args.resume_from, args.results, [spec]):
            print(note, file=sys.stderr)
    run_dir = execute_run(spec, data, args.results, device, progress=not args.quiet, precision=args.precision,
                          memory_format=args.memory_format)
    print(run_dir)


def _evaluate(args: argparse.Namespace) -> None:
    from .study import evaluate_external

    metrics = evaluate_external(args.run, args.dataset, args.data_root, args.split, args.out, args.device,
                                progress=not args.quiet)
    print(json.dumps(metrics))


def _inspect(args: argparse.Namespace) -> None:
    from .data import build_manifest, inspect_manifest
    from .data.quality import write_report

    report = inspect_manifest(build_manifest(args.dataset, args.data_root, cbis_task=args.cbis_task),
                              progress=not args.quiet)
    print(report.summary.to_string(index=False))
    if len(report.findings):
        print(report.findings.groupby(["check", "action"]).size().rename("n").reset_index().to_string(index=False))
    if args.out:
        print(write_report(report, args.out))


_COMMANDS = {"synth": _synth, "train": _train, "evaluate": _evaluate, "inspect": _inspect, "predict": _predict,
             "export": _export, "card": _card}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _COMMANDS[args.command](args)
    except SegUtilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileExistsError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0
