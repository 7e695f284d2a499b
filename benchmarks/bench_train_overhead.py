"""Training overhead: seg_utils' training step and ``fit`` versus a bare PyTorch loop doing the same work, on the CPU.

Both sides train copies of one initialised smp model on the same synthetic data, with the same batches in the
same order (``seg_utils.model.train.batches`` with a generator seeded by ``(seed, epoch)``, as fit draws them), the same
loss and Adam. Two comparisons:

1. Training step, interleaved batch by batch (A B, B A, A B, ...; the order alternates), so that both sides see the
   same machine load. A is fit's loop body built from seg_utils' pieces: uint8 arrays -> ``transforms.make_batch``
   (index + ImageNet normalisation per batch) -> ``.to(device)`` -> autocast (off on the CPU) -> ``build_loss``
   module on ``logits.float()`` -> finite check -> ``zero_grad`` -> GradScaler (off) backward / step / update ->
   ``float(loss)``. B is the bare step: normalised float tensors prepared once, ``x[idx]`` -> model -> loss ->
   ``zero_grad`` -> backward -> step -> ``loss.item()``. ``train_step_ratio`` is the median of the per-batch
   ratios A / B.
2. Whole runs, alternating: ``fit()`` for ``--epochs`` epochs (training, per-epoch validation with
   ``predict`` + per-image Dice, early stopping, ``best.pt`` / ``last.pt`` written atomically with
   fsync, ``history.csv``, best weights restored) versus a bare run doing the same: training, validation
   (forward, loss, per-image Dice in numpy), ``best.pt`` when it improves and ``last.pt`` (model + optimiser)
   with plain ``torch.save``, best weights restored. ``whole_run_ratio`` is the ratio of the medians; its parts
   (fit's own training-loop timer, validation, the rest) are reported for both, and fit's extra fixed cost per
   epoch in B's training batches says how the whole-run ratio shrinks with a real epoch of many batches.

The losses of A and B are compared in both parts to show that both did the same work.

    python benchmarks/bench_train_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import copy
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from seg_utils.data.transforms import make_batch
from seg_utils.model.device import amp_settings
from seg_utils.model.losses import LOSSES, build_loss
from seg_utils.model.models import IMAGENET_MEAN, IMAGENET_STD, build_model
from seg_utils.model.train import batches, fit, train_step
from seg_utils.study.spec import RunSpec


def environment(threads: int) -> dict:
    return {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "device": "cpu",
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def synthetic(n: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images ``(n, S, S, 3)`` with a darker disc and its 0/1 mask ``(n, S, S)``."""
    yy, xx = np.mgrid[0:size, 0:size]
    images = rng.integers(90, 200, size=(n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for k in range(n):
        cy, cx, r = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size, rng.uniform(0.1, 0.25) * size
        masks[k] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        images[k][masks[k] == 1] //= 2
    return torch.from_numpy(images), torch.from_numpy(masks)


def normalised(images: torch.Tensor) -> torch.Tensor:
    """What a bare loop keeps in memory: ImageNet-normalised float ``(N, 3, H, W)``, prepared once."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.permute(0, 3, 1, 2).float().div_(255.0) - mean) / std


def interleaved_steps(base, loss_name: str, u8: tuple, bare: tuple, epochs: int, batch_size: int, lr: float,
                      seed: int, warmup: int) -> dict:
    """Per-batch times of A (fit's loop body from seg_utils' pieces) and B (bare), interleaved, same batches."""
    device = torch.device("cpu")
    amp = amp_settings(device)
    model_a, model_b = copy.deepcopy(base).train(), copy.deepcopy(base).train()
    opt_a, opt_b = torch.optim.Adam(model_a.parameters(), lr=lr), torch.optim.Adam(model_b.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type, enabled=amp.dtype == torch.float16)
    loss_a, loss_b = build_loss(loss_name), LOSSES[loss_name]
    (images, masks), (x_all, y_all) = u8, bare

    def step_a(idx: torch.Tensor, gen: torch.Generator) -> float:  # seg_utils.model.train.fit's loop body
        x, y = make_batch(images, masks, idx, "none", gen, None, amp.channels_last)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return train_step(model_a, loss_a, opt_a, scaler, amp, x, y)

    def step_b(idx: torch.Tensor) -> float:
        loss = loss_b(model_b(x_all[idx]), y_all[idx])
        opt_b.zero_grad(set_to_none=True)
        loss.backward()
        opt_b.step()
        return loss.item()

    ta, tb, diff, k = [], [], 0.0, 0
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        for idx in batches(len(images), batch_size, gen):
            order = ("a", "b") if k % 2 == 0 else ("b", "a")
            times, losses = {}, {}
            for side in order:
                t0 = time.perf_counter()
                losses[side] = step_a(idx, gen) if side == "a" else step_b(idx)
                times[side] = time.perf_counter() - t0
            diff = max(diff, abs(losses["a"] - losses["b"]))
            if k >= warmup:
                ta.append(times["a"])
                tb.append(times["b"])
            k += 1
    return {"a": ta, "b": tb, "loss_max_abs_diff": diff}


def bare_run(model, loss_fn, train, val, epochs: int, batch_size: int, lr: float, seed: int, min_delta: float,
             run_dir: Path) -> dict:
    """A plain loop doing fit's work; returns per-epoch times and losses."""
    t_start = time.perf_counter()
    x_all, y_all = train
    vx, vy = val
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = math.inf
    out = {"train_s": [], "val_s": [], "train_loss": [], "val_loss": []}
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        torch.manual_seed(seed * 100_003 + epoch)
        model.train()
        t0 = time.perf_counter()
        total = 0.0
        for idx in torch.randperm(len(x_all), generator=gen).split(batch_size):
            loss = loss_fn(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        t1 = time.perf_counter()
        model.eval()
        probs, vloss = [], 0.0
        with torch.no_grad():
            for idx in torch.arange(len(vx)).split(batch_size):
                logits = model(vx[idx])
                vloss += loss_fn(logits, vy[idx]).item() * len(idx)
                probs.append(torch.sigmoid(logits)[:, 0].numpy())
        pred, target = np.concatenate(probs) > 0.5, vy[:, 0].numpy() > 0.5
        inter = (pred & target).sum((1, 2))
        _dice = 2 * inter / np.maximum(pred.sum((1, 2)) + target.sum((1, 2)), 1)
        vloss /= len(vx)
        out["val_s"].append(time.perf_counter() - t1)
        out["train_s"].append(t1 - t0)
        out["train_loss"].append(total / len(x_all))
        out["val_loss"].append(vloss)
        if vloss < best - min_delta:
            best = vloss
            torch.save(model.state_dict(), run_dir / "best.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1},
                   run_dir / "last.pt")
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    out["total_s"] = time.perf_counter() - t_start
    return out


def fit_run(model, loss_name: str, train, val, spec: RunSpec, run_dir: Path) -> dict:
    t0 = time.perf_counter()
    hist = fit(model, build_loss(loss_name), train, val, spec.train_settings(), run_dir, torch.device("cpu"),
               progress=False)
    total = time.perf_counter() - t0
    train_s = (len(train[0]) / hist.images_per_s).tolist()  # fit's own timer of the training loop
    return {"total_s": total, "train_s": train_s, "val_s": (hist.seconds - np.array(train_s)).tolist(),
            "train_loss": hist.train_loss.tolist(), "val_loss": hist.val_loss.tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="unet", choices=["unet", "deeplabv3plus"])
    ap.add_argument("--encoder", default="resnet18")
    ap.add_argument("--loss", default="bce", choices=sorted(LOSSES))
    ap.add_argument("--size", type=int, default=64, help="multiple of 32")
    ap.add_argument("--n-train", type=int, default=48)
    ap.add_argument("--n-val", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per repetition")
    ap.add_argument("--reps", type=int, default=4, help="whole runs per side (alternating)")
    ap.add_argument("--step-epochs", type=int, default=5, help="epochs of the batch-by-batch step comparison")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where run folders go (default: the system temp)")
    args = ap.parse_args(argv)
    if args.n_train % args.batch_size == 1:
        ap.error("n-train % batch-size == 1: fit drops a last batch of one, the bare loop would not")
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    train_u8, val_u8 = synthetic(args.n_train, args.size, rng), synthetic(args.n_val, args.size, rng)
    bare_train = (normalised(train_u8[0]), train_u8[1].unsqueeze(1).float())
    bare_val = (normalised(val_u8[0]), val_u8[1].unsqueeze(1).float())
    torch.manual_seed(args.seed)
    base = build_model(args.arch, args.encoder, "none")
    spec = RunSpec("folder", args.arch, args.encoder, args.loss, image_size=args.size, epochs=args.epochs,
                   batch_size=args.batch_size, patience=args.epochs + 1, seed=args.seed, weights="none")
    loss_fn = LOSSES[args.loss]

    def run_a(d: Path, s: RunSpec = spec) -> dict:
        return fit_run(copy.deepcopy(base), args.loss, train_u8, val_u8, s, d)

    def run_b(d: Path, epochs: int = args.epochs) -> dict:
        return bare_run(copy.deepcopy(base), loss_fn, bare_train, bare_val, epochs, args.batch_size, spec.lr,
                        args.seed, spec.min_delta, d)

    steps = interleaved_steps(base, args.loss, train_u8, bare_train, args.step_epochs, args.batch_size, spec.lr,
                              args.seed, warmup=2)
    pair = [a / b for a, b in zip(steps["a"], steps["b"], strict=True)]
    q1, q2, q3 = statistics.quantiles(pair, n=4)
    a_runs, b_runs = [], []
    with tempfile.TemporaryDirectory(prefix="bench_train_", dir=args.workdir) as tmp:
        (Path(tmp) / "wa").mkdir()
        (Path(tmp) / "wb").mkdir()
        run_a(Path(tmp) / "wa", spec.replace(epochs=1))  # warm-up, untimed
        run_b(Path(tmp) / "wb", 1)
        for r in range(args.reps):
            da, db = Path(tmp) / f"a{r}", Path(tmp) / f"b{r}"
            da.mkdir()
            db.mkdir()
            if r % 2 == 0:
                a_runs.append(run_a(da))
                b_runs.append(run_b(db))
            else:
                b_runs.append(run_b(db))
                a_runs.append(run_a(da))

    def med(runs: list[dict], key: str) -> float:
        vals = [v for r in runs for v in (r[key] if isinstance(r[key], list) else [r[key]])]
        return statistics.median(vals)

    a_train, b_train = med(a_runs, "train_s"), med(b_runs, "train_s")
    a_val, b_val = med(a_runs, "val_s"), med(b_runs, "val_s")
    a_total, b_total = med(a_runs, "total_s"), med(b_runs, "total_s")
    per_epoch = [(a["total_s"] - b["total_s"]) / args.epochs for a, b in zip(a_runs, b_runs, strict=True)]
    b_batch = b_train / math.ceil(args.n_train / args.batch_size)
    figures = {
        "train_step_ratio": q2,
        "train_step_ratio_quartiles": [q1, q3],
        "train_step_ratio_of_medians": statistics.median(steps["a"]) / statistics.median(steps["b"]),
        "train_step_same_work_loss_max_abs_diff": steps["loss_max_abs_diff"],
        "fit_train_loop_ratio": a_train / b_train,
        "whole_run_ratio": a_total / b_total,
        "whole_run_ratio_pairwise": [a["total_s"] / b["total_s"] for a, b in zip(a_runs, b_runs, strict=True)],
        "validation_ratio": a_val / b_val,
        "share_of_whole_run": {
            "fit_train": a_train * args.epochs / a_total, "fit_validation": a_val * args.epochs / a_total,
            "fit_rest_checkpoints_csv_restore": 1 - (a_train + a_val) * args.epochs / a_total,
            "bare_train": b_train * args.epochs / b_total, "bare_validation": b_val * args.epochs / b_total,
            "bare_rest_checkpoints_restore": 1 - (b_train + b_val) * args.epochs / b_total},
        "fit_extra_fixed_cost_per_epoch_in_bare_train_batches": statistics.median(per_epoch) / b_batch,
        "whole_run_same_work_train_loss_max_abs_diff": max(abs(x - y) for a, b in zip(a_runs, b_runs, strict=True)
                                                 for x, y in zip(a["train_loss"], b["train_loss"], strict=True)),
        "whole_run_same_work_val_loss_max_abs_diff": max(abs(x - y) for a, b in zip(a_runs, b_runs, strict=True)
                                               for x, y in zip(a["val_loss"], b["val_loss"], strict=True)),
        "samples": {"step_pairs": len(pair), "whole_runs_per_side": args.reps,
                    "epochs_per_side": args.reps * args.epochs},
    }
    print(json.dumps({"benchmark": "train_overhead", "params": vars(args), "env": environment(args.threads),
                      "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
