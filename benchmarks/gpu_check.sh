#!/usr/bin/env bash
# The prepared GPU check of issue 14, one command: on the lent GPU machine (no network; benchmarks/pack_for_gpu.sh
# built .gpu_pack/ beforehand, and the device tool's run carries it) it installs the carried wheels into a private
# folder, then runs benchmarks/gpu_check.py: (a) images/s per poster cell, fp32 vs auto, NCHW vs channels_last;
# (c) the chest X-ray paper grid from scratch, wall time and Dice; (d) run_all.sh (papermill + HTML) on it;
# (b) images/s with parallel_runs 1, 2, 4. Writes gpu_check.json, gpu_check.md and the HTML report to $OUT (or
# --out DIR, default results/gpu_check), and gpu_check.log beside them.
#
#   benchmarks/gpu_check.sh [--cpu-dry-run] [--out DIR] [--work DIR] [--sections acdb] [--budget-s 450]
#   --cpu-dry-run: the same script on the CPU at a tiny size (synthetic chest X-rays without the pack), about a minute
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACK="${GPU_PACK:-$ROOT/.gpu_pack}"
OUT_DIR="${OUT:-$ROOT/results/gpu_check}"
ARGS=("$@")
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  case "${ARGS[$i]}" in
    --out) OUT_DIR="${ARGS[$((i + 1))]}" ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  esac
done
mkdir -p "$OUT_DIR"

# The interpreter that has torch (python3 on the GPU machine, a venv's); run_all.sh and the carried kernelspec call
# `python`, so put a `python` first on PATH that execs it (an exec, not a symlink: a venv's interpreter reached
# through a symlink elsewhere loses the venv's site-packages).
PY=""
for cand in python python3; do
  if command -v "$cand" > /dev/null && "$cand" -c "import torch" 2> /dev/null; then
    PY="$("$cand" -c 'import sys; print(sys.executable)')"; break
  fi
done
[[ -n "$PY" ]] || { echo "gpu_check.sh: no python with torch on PATH" >&2; exit 2; }
SHIM="$(mktemp -d)"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$PY" > "$SHIM/python"
chmod +x "$SHIM/python"
export PATH="$SHIM:$PATH"

# The study's packages the machine lacks: install the carried wheels (no network needed).
if ! python -c "import segmentation_models_pytorch, albumentations, imagehash, papermill, nbconvert, ipykernel" \
     2> /dev/null; then
  [[ -d "$PACK/wheels" ]] || { echo "gpu_check.sh: packages missing and no $PACK/wheels: run benchmarks/pack_for_gpu.sh \
here and carry .gpu_pack" >&2; exit 2; }
  SITE="$(mktemp -d)/site"
  python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$PACK"/wheels/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="$SHIM:$SITE/bin:$PATH"
  export JUPYTER_PATH="$SITE/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"  # nbconvert's templates, the kernelspec
  echo "gpu_check.sh: installed $(ls "$PACK"/wheels/*.whl | wc -l) carried wheels into $SITE"
fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
set -o pipefail
python "$ROOT/benchmarks/gpu_check.py" --out "$OUT_DIR" "${ARGS[@]}" 2>&1 | tee "$OUT_DIR/gpu_check.log"
