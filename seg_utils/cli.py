"""Command line: ``python -m seg_utils {synth,train,evaluate,inspect}``.

Errors the user can act on are one line on stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import AUGMENTS, DATASETS, INTENSITIES
from .errors import SegUtilsError
from .model import ARCHS, DEVICES, LOSSES, SCHEDULES
from .model.precision import MEMORY_FORMATS, PRECISIONS
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
    return p


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


_COMMANDS = {"synth": _synth, "train": _train, "evaluate": _evaluate, "inspect": _inspect}


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
