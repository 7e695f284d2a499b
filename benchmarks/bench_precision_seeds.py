"""fp32 NCHW against ``precision=auto`` on the chest X-rays, over training seeds: does the faster setting cost Dice?

Trains the chest goal's recipe, the last step of the cpu-real chest ladder
(``notebooks/params/cpu-real/02_dataset_chest_xray.yaml``: U-Net ResNet50, 128 px, weights none, batch 16, with
``intensity=clahe``, ``augment=xray``, ``loss=bce_dice``, ``schedule=cosine``, ``epochs=15``, ``patience=15``,
``keep_weights=last``; every one an argument) through the study's own API, as the chest notebook does
(``seg_utils.study.prepare_data`` once, then ``seg_utils.study.execute_run`` per run), for ``--seeds`` seeds in each
of two settings (``--settings``: both, or one alone for its Dice over seeds):

- ``fp32``: ``precision="fp32"``, ``memory_format="nchw"``;
- ``auto``: ``precision="auto"``, ``memory_format="auto"`` (on the CPU the probe's choice, cached once per machine
  and model in the user cache, :mod:`seg_utils.model.precision`).

Seed ``s`` of both settings is the same run spec (the same split, initialisation, batch order and augmentation):
only the precision differs. The two settings alternate (fp32 first for even seeds, auto first for odd ones), so
that both see the same drift of a shared machine's load. Each setting has its own results folder
(``<out>/fp32``, ``<out>/auto``; the precision is not part of a run's identity) and both share one data cache
(``<out>/cache``). A complete run already in ``--out`` is read back, not retrained (its wall time is then unknown).

Per seed and as mean ± sd (ddof 1) over the seeds, for both settings: the test Dice (the official test split,
Montgomery; ``metrics.json`` ``dice_mean``), the training minutes (``history.csv``: the epochs, validation and
checkpoints) and the wall minutes of ``execute_run`` (the probe, model building, evaluation and records too). The
verdict: **auto costs Dice** when the auto - fp32 difference of the mean Dice is below minus the pooled across-seed
sd (the root mean square of the two settings' sds; then ``auto`` should stop choosing that precision for training),
else it costs none; whether the difference is **within the across-seed spread** (its magnitude at most that sd) is
said too. A higher Dice in bf16 is no cost: the question is whether the faster setting loses accuracy. With one seed
there is no spread and no verdict. Beside it: the paired per-seed differences and the seed-level comparison of the
per-image Dice (:func:`seg_utils.stats.compare_seeds`: seeds paired by number, two-stage bootstrap interval).

Writes ``<out>/bench_precision_seeds.json`` and ``.md`` and prints one JSON line (params, env, figures).

    python benchmarks/bench_precision_seeds.py --out /tmp/bench_precision_seeds      # about 50 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import pandas as pd
import torch

from seg_utils.data.io import write_json
from seg_utils.report.results import read_per_image
from seg_utils.repro import cpu_name
from seg_utils.stats import compare_seeds
from seg_utils.study import RunSpec, execute_run, prepare_data, run_dir_for, run_status
from seg_utils.study.run_folder import fingerprinted, read_environment, read_history, read_metrics

#: The two settings compared: name -> (precision, memory_format).
SETTINGS = {"fp32": ("fp32", "nchw"), "auto": ("auto", "auto")}
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "chest_xray"


def environment() -> dict:
    return {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _spec(args: argparse.Namespace, seed: int) -> RunSpec:
    return RunSpec("chest_xray", args.arch, args.encoder, args.loss, image_size=args.size, epochs=args.epochs,
                   batch_size=args.batch_size, weights=args.weights, intensity=args.intensity, augment=args.augment,
                   schedule=args.schedule, patience=args.patience, monitor=args.monitor,
                   keep_weights=args.keep_weights, seed=seed, limit=args.limit)


def _run(spec: RunSpec, data, results: Path, setting: str, device: str) -> dict:
    """Train (or read back) one run; its Dice, minutes and precision."""
    precision, memory_format = SETTINGS[setting]
    trained = run_status(run_dir_for(fingerprinted(spec, data), results)) != "complete"
    t0 = time.perf_counter()
    run_dir = execute_run(spec, data, results, device, progress=False, precision=precision,
                          memory_format=memory_format)
    wall = time.perf_counter() - t0
    metrics, record = read_metrics(run_dir), read_environment(run_dir).get("precision", {})
    chosen = record.get("chosen", {})
    return {"seed": spec.seed, "setting": setting, "dice": metrics["dice_mean"], "n_test": metrics["n_test"],
            "train_minutes": float(read_history(run_dir).seconds.sum()) / 60,
            "wall_minutes": wall / 60 if trained else None, "trained_now": trained,
            "precision": f"{chosen.get('precision')}/{chosen.get('memory_format')}",
            "precision_reason": record.get("reason", ""), "precision_cache": record.get("cache", ""),
            "epochs_run": metrics["epochs_run"],
            "run": f"{setting}/{run_dir.relative_to(results).as_posix()}", "per_image": read_per_image(run_dir)}


def _mean_sd(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def summarise(runs: list[dict], per_image: dict[str, dict[int, pd.DataFrame]] | None = None) -> dict:
    """Mean ± sd per setting; with both settings, the paired differences, the seed-level comparison of the per-image
    Dice (``per_image``: setting -> {seed: per-image table}; :func:`seg_utils.stats.compare_seeds`) and the verdict."""
    by = {s: sorted((r for r in runs if r["setting"] == s), key=lambda r: r["seed"]) for s in SETTINGS}
    out: dict = {s: {k: _mean_sd([r[k] for r in by[s]]) for k in ("dice", "train_minutes", "wall_minutes")}
                 for s in SETTINGS if by[s]}
    out["settings_used"] = {s: sorted({r["precision"] for r in by[s]}) for s in SETTINGS if by[s]}
    if not (by["fp32"] and by["auto"]):
        out["verdict"] = f"no verdict: only {', '.join(out['settings_used'])} was trained (--settings)"
        return out
    paired = [a["dice"] - f["dice"] for f, a in zip(by["fp32"], by["auto"], strict=True)]
    diff = out["auto"]["dice"]["mean"] - out["fp32"]["dice"]["mean"]
    sds = [out[s]["dice"]["sd"] for s in SETTINGS]
    spread = math.sqrt(sum(sd * sd for sd in sds) / len(sds)) if None not in sds else None
    seed_level = None
    if per_image and per_image.get("fp32") and per_image.get("auto"):
        row = compare_seeds(per_image, [("fp32", "auto")]).iloc[0]
        seed_level = {k: (None if pd.isna(row[k]) else float(row[k]))
                      for k in ("diff", "diff_ci_low", "diff_ci_high", "p_value", "p_images")}
    if spread is None:
        verdict, within, costs = "no verdict: one seed has no across-seed spread (use --seeds 2 or more)", None, None
    else:
        within, costs = abs(diff) <= spread, diff < -spread
        verdict = (f"auto - fp32 mean test Dice {diff:+.4f}, {'within' if within else 'outside'} the across-seed "
                   f"spread (pooled sd {spread:.4f}): " +
                   ("auto costs Dice (below fp32 by more than the spread): it should stop choosing "
                    f"{', '.join(out['settings_used']['auto'])} for training" if costs else
                    "auto costs no Dice (not below fp32 by more than the spread)"))
        if seed_level is not None:
            verdict += (f"; seed-paired {seed_level['diff']:+.4f} [{seed_level['diff_ci_low']:+.4f}, "
                        f"{seed_level['diff_ci_high']:+.4f}] (seeds, then test images)")
    speed = out["fp32"]["train_minutes"]["mean"] / out["auto"]["train_minutes"]["mean"]
    out.update(dice_difference=diff, paired_differences=paired, paired=_mean_sd(paired), pooled_sd=spread,
               within_spread=within, auto_costs_dice=costs, seed_level=seed_level, verdict=verdict,
               fp32_over_auto_train_minutes=speed)
    return out


def _fmt(stat: dict, digits: int) -> str:
    if stat["mean"] is None:
        return "-"
    return f"{stat['mean']:.{digits}f}" + (f" ± {stat['sd']:.{digits}f}" if stat["sd"] is not None else "")


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    p, s = result["params"], result["summary"]
    used = s["settings_used"]
    names = [k for k in SETTINGS if k in used]
    both = len(names) == 2
    compared = " vs ".join(f"{k} ({', '.join(used[k])})" for k in names)
    lines = [f"{compared}: {p['arch']}-{p['encoder']} "
             f"{p['loss']}, {p['size']} px, {p['epochs']} epochs, patience {p['patience']} on {p['monitor']}, "
             f"{p['keep_weights']} weights kept, {p['schedule']} LR, batch {p['batch_size']}, weights {p['weights']}, "
             f"intensity {p['intensity']}, augment {p['augment']}, limit {p['limit']}; test: Montgomery "
             f"({result['runs'][0]['n_test']} images)", ""]
    columns = [f"{k} Dice" for k in names] + (["auto - fp32"] if both else []) + \
        [f"{k} train min" for k in names] + [f"{k} wall min" for k in names]
    lines += ["| seed | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    by = {(r["seed"], r["setting"]): r for r in result["runs"]}
    for seed in sorted({r["seed"] for r in result["runs"]}):
        row = [by[(seed, k)] for k in names]
        cells = [f"{r['dice']:.4f}" for r in row] + ([f"{row[1]['dice'] - row[0]['dice']:+.4f}"] if both else []) + \
            [f"{r['train_minutes']:.2f}" for r in row] + [_num(r["wall_minutes"], 2) for r in row]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    cells = [_fmt(s[k]["dice"], 4) for k in names] + ([_fmt(s["paired"], 4)] if both else []) + \
        [_fmt(s[k]["train_minutes"], 2) for k in names] + [_fmt(s[k]["wall_minutes"], 2) for k in names]
    lines.append("| mean ± sd | " + " | ".join(cells) + " |")
    speed = f" Training minutes fp32 / auto: {s['fp32_over_auto_train_minutes']:.2f}x." if both else ""
    lines += ["", f"**Verdict:** {s['verdict']}.{speed}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="the chest X-rays (Kaggle layout; default: "
                    "../shared/data/chest_xray beside the repository)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench_precision_seeds",
                    help="results folders, data cache and the summary (default: <temp>/bench_precision_seeds)")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per setting: first-seed, first-seed + 1, ...")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--arch", default="unet")
    ap.add_argument("--encoder", default="resnet50")
    ap.add_argument("--loss", default="bce_dice")
    ap.add_argument("--size", type=int, default=128, help="input side, a multiple of 32")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--patience", type=int, default=15, help="early stopping's patience (15 with 15 epochs: it "
                    "cannot fire, the run ends at --epochs)")
    ap.add_argument("--monitor", default="val_loss", help="val_loss | val_dice")
    ap.add_argument("--keep-weights", default="last", help="best | last")
    ap.add_argument("--schedule", default="cosine", help="constant | cosine")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--weights", default="none")
    ap.add_argument("--intensity", default="clahe", help="none | clahe | equalize")
    ap.add_argument("--augment", default="xray", help="none | flips | xray")
    ap.add_argument("--limit", type=int, default=0, help="keep the first N clean images of each split (0: all)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings to train (default: "
                    "both; one alone gives its Dice over seeds and no verdict)")
    args = ap.parse_args(argv)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not settings or set(settings) - set(SETTINGS):
        ap.error(f"--settings takes one or both of {', '.join(SETTINGS)}, comma-separated; got {args.settings!r}")
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    specs = {seed: _spec(args, seed) for seed in seeds}  # validates the options before the data is prepared
    t0 = time.perf_counter()
    data = prepare_data("chest_xray", args.data_root, args.size, args.out, args.intensity, args.limit,
                        cache_dir=args.out / "cache", progress=False)
    runs, per_image = [], {}
    for seed in seeds:
        order = settings if seed % 2 == 0 else settings[::-1]
        for setting in order:
            runs.append(_run(specs[seed], data, args.out / setting, setting, args.device))
            r = runs[-1]
            per_image.setdefault(setting, {})[seed] = r.pop("per_image")
            print(f"seed {seed} {setting} ({r['precision']}): Dice {r['dice']:.4f}, train {r['train_minutes']:.2f} "
                  f"min", file=sys.stderr, flush=True)
    result = {"benchmark": "precision_seeds", "params": {k: str(v) if isinstance(v, Path) else v
                                                         for k, v in vars(args).items()},
              "env": environment(), "runs": runs, "summary": summarise(runs, per_image),
              "minutes": round((time.perf_counter() - t0) / 60, 2)}
    write_json(args.out / "bench_precision_seeds.json", result)
    (args.out / "bench_precision_seeds.md").write_text(markdown(result))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
