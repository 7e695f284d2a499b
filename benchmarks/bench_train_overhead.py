"""Training on the CPU: the project's training (``make_batch`` + ``train_step``, and ``fit``) against a bare PyTorch
loop on the same data, for each precision and memory layout (fp32 / bf16 autocast x NCHW / channels_last), and what
``precision=auto`` picks and gains over fp32 NCHW.

For each model (``--models``, ``arch-encoder``; weights none) at ``--size`` and ``--batch-size``:

1. **The auto choice.** ``seg_utils.model.precision.resolve_precision(cpu, "auto", "auto")`` with the project's own
   probe (``seg_utils.model.train.probe_step``, batch ``min(batch, 8)`` as ``seg_utils.study.runs`` runs it, no
   cache): the setting a ``train`` with defaults would train in, the probe's figures and its cost in seconds.
2. **Training steps, interleaved.** For every setting, a project model and a bare model (``deepcopy``s of one
   initialised model) take the same batches in the same order (``batches`` with fit's ``(seed, epoch)`` generator).
   Round robin over the settings batch by batch (the order rotates; within a setting project and bare alternate who
   goes first), after one untimed warm-up step each (oneDNN picks its kernels there), so that all sides see the same
   machine load. The project step is fit's loop body: uint8 arrays -> ``make_batch`` (index, normalise, layout) ->
   ``train_step`` (autocast, float32 loss, GradScaler off, step) -> the finite check on the accumulated loss. The bare
   step: float tensors normalised once (in the setting's layout) -> ``x[idx]`` -> autocast forward -> loss on
   ``logits.float()`` -> ``zero_grad`` / backward / step -> ``loss.item()``. ``step_ratio`` is the median over the
   batches of bare time / project time, i.e. project / bare images/s (1.0: no overhead).
3. **Whole epochs** (``--fit-epochs``, 0 to skip). ``fit`` for that many epochs (training, validation with
   ``predict`` + Dice, early stopping, fsync'd ``best.pt`` / ``last.pt``, ``history.csv``) against a bare run doing
   the same work with plain ``torch.save``, alternating. ``fit_loop_ratio`` is fit's own training-loop images/s
   (``history.images_per_s``) over the bare loop's; ``whole_run_ratio`` is bare wall time over fit wall time.

``vs_fp32_nchw`` is, per setting, the median over the rounds of the project's fp32 NCHW step time over its step
time in that setting (both measured in the same round, seconds apart): its speed-up over fp32 NCHW.
``auto_vs_fp32_nchw`` is that of the auto choice (the Done-when of issue 14: >= 2x on an AMX CPU; never below 0.95
anywhere). Per-side images/s are medians of raw step times: on a shared machine they swing with the load, the
paired ratios do not.
Prints one JSON line, and with ``--markdown`` the README's table.

    python benchmarks/bench_train_overhead.py --models unet-resnet50,deeplabv3plus-resnet50 --size 128 --markdown
"""

from __future__ import annotations

import argparse
import copy
import json
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

from seg_utils.data.transforms import make_batch, normalise
from seg_utils.model.losses import LOSSES, build_loss
from seg_utils.model.models import build_model
from seg_utils.model.precision import AmpSettings, amp_of, resolve_precision
from seg_utils.model.train import TrainSettings, batches, epoch_seed, fit, probe_step, train_step
from seg_utils.repro import cpu_name

SETTINGS = [("fp32", "nchw"), ("fp32", "channels_last"), ("bf16", "nchw"), ("bf16", "channels_last")]
DEVICE = torch.device("cpu")


def environment() -> dict:
    return {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": "cpu",
            "load_average": [round(x, 2) for x in os.getloadavg()],
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


def layout(x: torch.Tensor, amp: AmpSettings) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if amp.channels_last else x.contiguous()


def prepared(model: torch.nn.Module, amp: AmpSettings) -> torch.nn.Module:
    return model.to(memory_format=torch.channels_last) if amp.channels_last else model


class Sides:
    """A setting's project and bare models, optimisers and step functions."""

    def __init__(self, base, loss: str, amp: AmpSettings, u8: tuple, lr: float):
        self.amp, self.u8 = amp, u8
        self.model_p, self.model_b = prepared(copy.deepcopy(base), amp).train(), prepared(copy.deepcopy(base), amp)
        self.model_b.train()
        self.opt_p = torch.optim.Adam(self.model_p.parameters(), lr=lr)
        self.opt_b = torch.optim.Adam(self.model_b.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler("cpu", enabled=False)
        self.loss_p, self.loss_b = build_loss(loss), LOSSES[loss]
        self.x_all = layout(normalise(u8[0]), amp)
        self.y_all = u8[1].unsqueeze(1).float()
        self.total = torch.zeros(())

    def project(self, idx: torch.Tensor, gen: torch.Generator) -> float:
        """fit's loop body (seg_utils.model.train.fit), CPU."""
        x, y = make_batch(self.u8[0], self.u8[1], idx, "none", gen, None, self.amp.channels_last)
        loss = train_step(self.model_p, self.loss_p, self.opt_p, self.scaler, self.amp, x, y)
        self.total += loss * len(idx)
        if not torch.isfinite(self.total):
            raise RuntimeError("non-finite loss")
        return float(loss)

    def bare(self, idx: torch.Tensor) -> float:
        with torch.autocast("cpu", dtype=self.amp.dtype, enabled=self.amp.enabled):
            logits = self.model_b(self.x_all[idx])
        loss = self.loss_b(logits.float(), self.y_all[idx])
        self.opt_b.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_b.step()
        return loss.item()


def interleaved(base, args, u8: tuple) -> dict[str, dict]:
    """Per setting: per-batch times of the project and bare steps, round robin over the settings."""
    sides = {f"{p}/{f}": Sides(base, args.loss, amp_of(p, f), u8, args.lr) for p, f in SETTINGS}
    times = {k: {"project": [], "bare": [], "loss_diff": 0.0} for k in sides}
    names = list(sides)
    k, epoch = 0, 0
    order: list[torch.Tensor] = []
    while k < args.steps + 1:
        if not order:
            gen = torch.Generator().manual_seed(epoch_seed(args.seed, epoch))
            order, epoch = batches(len(u8[0]), args.batch_size, gen), epoch + 1
        idx = order.pop(0)
        for j in range(len(names)):
            name = names[(j + k) % len(names)]
            s, rec, out = sides[name], times[name], {}
            for side in (("project", "bare") if k % 2 == 0 else ("bare", "project")):
                t0 = time.perf_counter()
                out[side] = s.project(idx, gen) if side == "project" else s.bare(idx)
                if k > 0:  # k == 0: warm-up
                    rec[side].append(time.perf_counter() - t0)
            rec["loss_diff"] = max(rec["loss_diff"], abs(out["project"] - out["bare"]))
        k += 1
    del sides
    return times


def bare_run(model, loss: str, amp: AmpSettings, train: tuple, val: tuple, epochs: int, args, run_dir: Path) -> dict:
    """A plain loop doing fit's work (training, validation loss + Dice, best/last checkpoints, best restored)."""
    t_start = time.perf_counter()
    loss_fn = LOSSES[loss]
    x_all, y_all = layout(normalise(train[0]), amp), train[1].unsqueeze(1).float()
    vx, vy = layout(normalise(val[0]), amp), val[1].unsqueeze(1).float()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    best, ips = float("inf"), []
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(epoch_seed(args.seed, epoch))
        model.train()
        t0 = time.perf_counter()
        seen = 0
        for idx in batches(len(x_all), args.batch_size, gen):
            with torch.autocast("cpu", dtype=amp.dtype, enabled=amp.enabled):
                logits = model(x_all[idx])
            loss_v = loss_fn(logits.float(), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss_v.backward()
            opt.step()
            loss_v.item()
            seen += len(idx)
        ips.append(seen / (time.perf_counter() - t0))
        model.eval()
        vloss, probs = 0.0, []
        with torch.no_grad(), torch.autocast("cpu", dtype=amp.dtype, enabled=amp.enabled):
            for idx in torch.arange(len(vx)).split(args.batch_size):
                z = model(vx[idx]).float()
                vloss += loss_fn(z, vy[idx]).item() * len(idx)
                probs.append(torch.sigmoid(z)[:, 0].numpy())
        pred, target = np.concatenate(probs) > 0.5, vy[:, 0].numpy() > 0.5
        _dice = 2 * (pred & target).sum((1, 2)) / np.maximum(pred.sum((1, 2)) + target.sum((1, 2)), 1)
        if vloss / len(vx) < best:
            best = vloss / len(vx)
            torch.save(model.state_dict(), run_dir / "best.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, run_dir / "last.pt")
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    return {"images_per_s": statistics.median(ips), "wall_s": time.perf_counter() - t_start}


def fit_run(model, loss: str, amp: AmpSettings, train: tuple, val: tuple, epochs: int, args, run_dir: Path) -> dict:
    t0 = time.perf_counter()
    settings = TrainSettings(name="bench", epochs=epochs, batch_size=args.batch_size, lr=args.lr, patience=epochs + 1,
                             min_delta=0.001, seed=args.seed)
    hist = fit(model, build_loss(loss), train, val, settings, run_dir, DEVICE, amp, progress=False)
    return {"images_per_s": float(hist.images_per_s.median()), "wall_s": time.perf_counter() - t0}


def whole_epochs(base, args, train: tuple, val: tuple, tmp: Path) -> dict[str, dict]:
    out = {}
    for n, (p, f) in enumerate(SETTINGS):
        amp = amp_of(p, f)
        runs = {}
        for side in (("fit", "bare") if n % 2 == 0 else ("bare", "fit")):
            d = tmp / f"{side}-{p}-{f}"
            d.mkdir()
            fn = fit_run if side == "fit" else bare_run
            runs[side] = fn(copy.deepcopy(base), args.loss, amp, train, val, args.fit_epochs, args, d)
        out[f"{p}/{f}"] = {"fit_images_per_s": runs["fit"]["images_per_s"],
                           "bare_images_per_s": runs["bare"]["images_per_s"],
                           "fit_loop_ratio": runs["fit"]["images_per_s"] / runs["bare"]["images_per_s"],
                           "whole_run_ratio": runs["bare"]["wall_s"] / runs["fit"]["wall_s"]}
    return out


def bench_model(name: str, args, train: tuple, val: tuple) -> dict:
    arch, encoder = name.split("-", 1)
    torch.manual_seed(args.seed)
    base = build_model(arch, encoder, "none")
    t0 = time.perf_counter()
    step = probe_step(lambda: build_model(arch, encoder, "none"), build_loss(args.loss), args.size,
                      min(args.batch_size, 8), DEVICE)
    auto, record = resolve_precision(DEVICE, "auto", "auto", step=step)
    probe_s = time.perf_counter() - t0
    times = interleaved(base, args, train)
    settings = {}
    fp32 = times["fp32/nchw"]["project"]
    for key, rec in times.items():
        pairs = [b / p for p, b in zip(rec["project"], rec["bare"], strict=True)]
        q1, q2, q3 = _quartiles(pairs)
        v1, v2, v3 = _quartiles([f / p for f, p in zip(fp32, rec["project"], strict=True)])
        settings[key] = {"project_images_per_s": args.batch_size / statistics.median(rec["project"]),
                         "bare_images_per_s": args.batch_size / statistics.median(rec["bare"]),
                         "step_ratio": q2, "step_ratio_quartiles": [q1, q3], "steps": len(pairs),
                         "vs_fp32_nchw": v2, "vs_fp32_nchw_quartiles": [v1, v3],
                         "same_work_loss_max_abs_diff": rec["loss_diff"]}
    if args.fit_epochs > 0:
        with tempfile.TemporaryDirectory(prefix="bench_train_", dir=args.workdir) as tmp:
            for key, fig in whole_epochs(base, args, train, val, Path(tmp)).items():
                settings[key].update(fig)
    chosen = f"{auto.name}/{auto.memory_format}"
    ratio = settings[chosen]["vs_fp32_nchw"]
    best = max(settings, key=lambda k: settings[k]["vs_fp32_nchw"])
    return {"settings": settings, "auto": {"chosen": chosen, "reason": record.get("reason"),
                                           "probe": record.get("probe"), "probe_seconds": probe_s},
            "auto_vs_fp32_nchw": ratio, "auto_vs_fp32_nchw_quartiles": settings[chosen]["vs_fp32_nchw_quartiles"],
            "auto_slower_than_fp32_by_over_5pct": ratio < 0.95, "fastest_setting_here": best,
            "auto_vs_fastest": ratio / settings[best]["vs_fp32_nchw"]}


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    return tuple(statistics.quantiles(xs, n=4)) if len(xs) > 1 else (xs[0],) * 3


def markdown(result: dict) -> str:
    lines = ["| model | precision / layout | project / bare images/s, per step (quartiles) | project vs its fp32 NCHW "
             "(quartiles) | fit loop / bare loop | whole run, bare / fit time | project images/s | auto |",
             "|---|---|---|---|---|---|---|---|"]
    for name, res in result["models"].items():
        for key, s in res["settings"].items():
            q, v = s["step_ratio_quartiles"], s["vs_fp32_nchw_quartiles"]
            fit_r = f"{s['fit_loop_ratio']:.2f}" if "fit_loop_ratio" in s else "-"
            whole = f"{s['whole_run_ratio']:.2f}" if "whole_run_ratio" in s else "-"
            mark = "**chosen**" if key == res["auto"]["chosen"] else ""
            lines.append(f"| {name} | {key} | {s['step_ratio']:.2f} ({q[0]:.2f}-{q[1]:.2f}) | "
                         f"{s['vs_fp32_nchw']:.2f} ({v[0]:.2f}-{v[1]:.2f}) | {fit_r} | {whole} | "
                         f"{s['project_images_per_s']:.2f} | {mark} |")
    lines.append("")
    for name, res in result["models"].items():
        lines.append(f"- {name}: auto chose {res['auto']['chosen']} (probe {res['auto']['probe_seconds']:.0f} s); "
                     f"auto / fp32 NCHW = **{res['auto_vs_fp32_nchw']:.2f}x**; fastest here: "
                     f"{res['fastest_setting_here']} (auto / fastest = {res['auto_vs_fastest']:.2f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="unet-resnet50", help="comma-separated arch-encoder, e.g. "
                    "unet-resnet50,deeplabv3plus-resnet50")
    ap.add_argument("--loss", default="bce", choices=sorted(LOSSES))
    ap.add_argument("--size", type=int, default=128, help="multiple of 32")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--n-train", type=int, default=24)
    ap.add_argument("--n-val", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6, help="timed interleaved steps per setting and side")
    ap.add_argument("--fit-epochs", type=int, default=1, help="epochs of each whole fit / bare run (0: skip)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where run folders go (default: the system temp)")
    ap.add_argument("--markdown", action="store_true", help="also print the README's table")
    args = ap.parse_args(argv)
    if args.n_train % args.batch_size == 1:
        ap.error("n-train % batch-size == 1: fit drops a last batch of one, the bare loop would not")
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    train, val = synthetic(args.n_train, args.size, rng), synthetic(args.n_val, args.size, rng)
    t0 = time.perf_counter()
    models = {name: bench_model(name, args, train, val) for name in args.models.split(",")}
    result = {"benchmark": "train_overhead", "params": vars(args), "env": environment(), "models": models,
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result))
    if args.markdown:
        print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
