"""Command line: ``python -m seg_utils {synth,train,evaluate,inspect,predict,export,card,progress,sync-notebooks,...}``.

Errors the user can act on are one line on stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import DATASETS
from .errors import SegUtilsError
from .model import ARCHS, DEVICES, EXPORT_FORMATS, LOSSES
from .model.precision import ExecOptions
from .model.predict import PredictOptions
from .options import add_arguments, values_from
from .study.run_folder import PRECISION_CHOICES
from .study.spec import CBIS_TASKS, RunOptions, RunSpec

__all__ = ["main", "build_parser"]


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
    add_arguments(t, RunOptions)  # every run option, declared once (seg_utils.options)
    add_arguments(t, ExecOptions)
    t.add_argument("--resume-from", type=Path, default=None,
                   help="a previous session's results folder (read-only): its copy of this run is brought in first")
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
    _add_kaggle_kernels(sub)
    return p


def _add_use_commands(sub: argparse._SubParsersAction) -> None:
    """``predict``, ``export`` and ``card``: using a complete run (seg_utils.study.inference, report.cards)."""
    r = sub.add_parser("predict", help="masks, overlays and predictions.csv for a folder of images, with a run")
    r.add_argument("--run", required=True, type=Path, help="a complete run folder (its spec.json gives the "
                   "preprocessing)")
    r.add_argument("--images", required=True, type=Path, help="folder of images (any size; not searched below)")
    r.add_argument("--out", required=True, type=Path, help="output folder: masks/, overlays/, predictions.csv")
    r.add_argument("--masks", type=Path, default=None, help="folder of ground-truth masks (same stems; _mask / "
                   "_segmentation suffixes allowed): Dice per image")
    add_arguments(r, PredictOptions)
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

    f = sub.add_parser("progress", help="print a notebook's live progress events while a process runs (run_all.sh)")
    f.add_argument("file", type=Path, help="the progress file (SEG_UTILS_PROGRESS of the notebook's kernel)")
    f.add_argument("--pid", type=int, required=True, help="follow until this process has exited")

    n = sub.add_parser("sync-notebooks", help="write the notebooks' parameters cells from the declared options")
    n.add_argument("--notebooks", type=Path, default=Path(__file__).resolve().parents[1] / "notebooks")
    n.add_argument("--check", action="store_true", help="only say which differ (exit 2 if any)")

    c = sub.add_parser("card", help="write model_card.md for runs (complete or not)")
    c.add_argument("--run", type=Path, action="append", default=[], help="a run folder (repeatable)")
    c.add_argument("--results", type=Path, default=None, help="every run folder under <results>/runs")


def _sync_notebooks(args: argparse.Namespace) -> None:
    from .errors import ConfigError
    from .study.notebook_cells import sync_parameters

    changed = sync_parameters(args.notebooks, write=not args.check)
    if changed and args.check:
        raise ConfigError(f"parameters cells differ from the declared options: {', '.join(changed)}; run "
                          "python -m seg_utils sync-notebooks")
    print(f"{'rewrote' if changed else 'unchanged'}: {', '.join(changed) or 'every notebook'}")


def _progress(args: argparse.Namespace) -> None:
    from .study.progress import follow

    follow(args.file, args.pid)


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
    from .report.cards import update_card
    from .study import export_run

    print(export_run(args.run, args.format, args.out, args.images))
    update_card(args.run)  # the card lists the export


def _card(args: argparse.Namespace) -> None:
    from .errors import ConfigError
    from .report.cards import write_model_card
    from .study.run_folder import is_run_folder, run_folders

    runs = list(args.run) + (run_folders(args.results) if args.results is not None else [])
    if not runs:
        raise ConfigError("card: name runs with --run DIR (repeatable) or --results DIR (every run under DIR/runs)")
    for run in runs:
        if not is_run_folder(run):
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
    from .report.cards import update_card
    from .study import execute_run, prepare_data
    from .study.preflight import check_environment, check_splits
    from .study.prepare import check_writable
    from .study.resume import import_runs
    from .study.run_folder import fingerprinted

    spec = RunSpec(dataset=args.dataset, arch=args.arch, encoder=args.encoder, loss=args.loss,
                   **values_from(args, RunOptions))
    check_environment([spec], args.device)  # the device and the weights, before the data is prepared
    device = resolve_device(args.device)
    check_writable(args.results)
    data = prepare_data(args.dataset, args.data_root, spec.image_size, args.results, spec.intensity, spec.limit,
                        cache_dir=args.cache_dir, progress=not args.quiet, cbis_task=spec.cbis_task)
    spec = fingerprinted(spec, data)
    check_splits([(spec, data)])  # before it trains
    if args.resume_from:
        for note in import_runs(args.resume_from, args.results, [spec]):
            print(note, file=sys.stderr)
    run_dir = execute_run(spec, data, args.results, device, progress=not args.quiet, precision=args.precision,
                          memory_format=args.memory_format)
    update_card(run_dir)
    print(run_dir)


def _evaluate(args: argparse.Namespace) -> None:
    from .report.cards import update_card
    from .study import evaluate_external

    metrics = evaluate_external(args.run, args.dataset, args.data_root, args.split, args.out, args.device,
                                progress=not args.quiet)
    update_card(args.run)  # the card lists the external results
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


def _add_kaggle_kernels(sub: argparse._SubParsersAction) -> None:
    """``kaggle-kernels``: a Kaggle kernel folder per shard of the grid, and one that merges them (seg_utils.launch)."""
    from .launch import KERNEL_EXTRA

    k = sub.add_parser("kaggle-kernels", help="write a Kaggle kernel folder per shard of the grid, and a merge kernel")
    k.add_argument("--shards", type=int, required=True, help="N: kernel K runs -p shard K/N of every notebook")
    k.add_argument("--out", type=Path, required=True, help="parent folder: gets shard-1 ... shard-N and merge")
    k.add_argument("--owner", default=None, help="your Kaggle username (default: $KAGGLE_USERNAME)")
    k.add_argument("--slug-prefix", default="seg-study", help="kernel slugs <prefix>-shard-K-of-N, <prefix>-merge-of-N")
    k.add_argument("--profile", default="paper", help="run_all.sh --profile of every kernel")
    k.add_argument("--repo-url", default=None, help="git URL the kernels clone (default: this checkout's origin)")
    k.add_argument("--datasets", default=None, help="comma-separated Kaggle dataset slugs owner/name (default: the "
                   "study's three Kaggle copies)")
    k.add_argument("--extra", default=KERNEL_EXTRA, help="further run_all.sh options for every kernel; write it as "
                   f"--extra=\"...\" (default: {KERNEL_EXTRA!r}, for the ISIC copy without test masks)")


def _kaggle_kernels(args: argparse.Namespace) -> None:
    import os
    import subprocess

    from .errors import ConfigError
    from .launch import LAUNCHER, write_kernels

    repo = LAUNCHER.parents[1]
    if not (repo / "notebooks" / "params" / f"{args.profile}.yaml").is_file():
        raise ConfigError(f"--profile {args.profile}: no notebooks/params/{args.profile}.yaml in {repo}")
    repo_url = args.repo_url
    if repo_url is None:
        origin = subprocess.run(["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True, text=True)
        repo_url = origin.stdout.strip() if origin.returncode == 0 else ""
        print(f"repo_url: {repo_url or '(none: this checkout has no origin)'}", file=sys.stderr)
    datasets = None if args.datasets is None else [d.strip() for d in args.datasets.split(",") if d.strip()]
    folders = write_kernels(args.out, args.shards, args.owner or os.environ.get("KAGGLE_USERNAME", ""), repo_url,
                            args.slug_prefix, args.profile, datasets, args.extra)
    for folder in folders:
        print(f"kaggle kernels push -p {folder}")
    print(f"(push {folders[-1]} after the {args.shards} shard kernels have finished: it merges their outputs)")


_COMMANDS = {"synth": _synth, "train": _train, "evaluate": _evaluate, "inspect": _inspect, "predict": _predict,
             "export": _export, "card": _card, "progress": _progress, "sync-notebooks": _sync_notebooks}
_COMMANDS["kaggle-kernels"] = _kaggle_kernels


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
