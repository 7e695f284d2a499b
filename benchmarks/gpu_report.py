"""The Markdown of benchmarks/gpu_check.py's result (``gpu_check.md``): one table per section."""

from __future__ import annotations

from typing import Any


def _f(x: Any, fmt: str = ".0f") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "-"


def _section_a(a: dict) -> list[str]:
    low = a.get("low_precision", "bf16")
    cols = [f"{p}/{f}" for p in ("fp32", low) for f in ("nchw", "channels_last")]
    auto = a.get("auto_setting", f"{low}/channels_last")
    lines = [f"### (a) Training images/s per poster cell ({a.get('size')} px, batch {a.get('batch')}; auto = {auto})",
             "", "| cell | " + " | ".join(cols) + " | auto / fp32 NCHW | TFLOP/s (auto) |",
             "|---" * (len(cols) + 3) + "|"]
    for cell, res in a.get("cells", {}).items():
        vals = [res.get(c, {}).get("images_per_s") or res.get(c, {}).get("error", "-") for c in cols]
        fp32, chosen = res.get("fp32/nchw", {}).get("images_per_s"), res.get(auto, {}).get("images_per_s")
        ratio = f"**{chosen / fp32:.2f}x**" if fp32 and chosen else "-"
        lines.append(f"| {cell} | " + " | ".join(_f(v) if not isinstance(v, str) else v for v in vals)
                     + f" | {ratio} | {_f(res.get(auto, {}).get('tflops'), '.1f')} |")
    dp = a.get("data_path")
    if dp:
        lines += ["", f"Data path, UNet-RN50 in {dp.get('precision')}: images/s (fixed batch = 1.00)", "",
                  "| fixed batch | make_batch none | flips | xray (device) |", "|---|---|---|---|",
                  "| " + " | ".join(f"{_f(dp[k]['images_per_s'])} ({dp[k]['efficiency']:.2f})"
                                   for k in ("fixed", "none", "flips", "xray")) + " |"]
    return lines


def _section_b(b: dict) -> list[str]:
    lines = ["### (b) Several runs on one device (`parallel_runs`, the study's `run_grid`; UNet-RN50, one run per "
             "seed)", "", "| parallel_runs | runs trained | wall s | images/s of wall time | sum of the runs' training "
             "images/s | speedup (wall) |", "|---|---|---|---|---|---|"]
    for n, r in b.items():
        if isinstance(r, dict) and "wall_s" in r:
            lines.append(f"| {n} | {r['trained']}/{r['runs']} | {r['wall_s']:.0f} | {r['images_per_s_wall']:.0f} | "
                         f"{r['sum_of_runs_train_images_per_s']:.0f} | {r.get('speedup_wall', 1):.2f} |")
    return lines


def _section_c(c: dict) -> list[str]:
    lines = [f"### (c) The paper grid, chest X-rays from scratch: **{c['wall_s']:.0f} s** wall "
             f"(goal < {c['goal_s']} s: {'met' if c['goal_met'] else 'not met'}; parallel_runs {c['parallel_runs']})",
             "", "| run | action | Dice [95% CI] | poster (ImageNet) | epochs (best) | stopped early | precision | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in c["runs"]:
        ci = r["dice_ci"]
        dice = f"{r['dice_mean']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(r["dice_mean"], float) else "-"
        lines.append(f"| {r['config']} s{r['seed']} | {r['action']} | {dice} | {_f(r['poster_dice'], '.3f')} | "
                     f"{r['epochs_run']} ({r['best_epoch']}) | {r['stopped_early']} | {r['precision']} | "
                     f"{_f(r['seconds'])} |")
    return lines


def markdown(result: dict) -> str:
    env = result.get("env", {})
    head = env.get("gpu") or f"CPU ({env.get('cpu_capability')})"
    lines = [f"## gpu_check ({result.get('mode')}): {head}, torch {env.get('torch')}, CUDA {env.get('cuda')}, "
             f"{env.get('date_utc')}, {result.get('seconds', 0):.0f} s", ""]
    for key, render in (("a", _section_a), ("c", _section_c), ("d", None), ("b", _section_b)):
        sec = result.get(key)
        if not sec:
            continue
        if sec.get("status") != "ok":
            lines += [f"### ({key}) {sec.get('status')}: {sec.get('error') or sec.get('reason', '')}", ""]
        elif render is None:
            lines += [f"### (d) papermill + nbconvert: `{sec['command']}`", "",
                      f"exit {sec['returncode']} in {sec['wall_s']:.0f} s; runs skipped (complete from (c)): "
                      f"{sec['runs_skipped']}; HTML report {sec['html_bytes'] / 1e6:.1f} MB", ""]
        else:
            lines += render(sec) + [""]
    return "\n".join(lines)
