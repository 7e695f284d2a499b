#!/usr/bin/env bash
# Builds the ignored folder .gpu_pack/ that benchmarks/gpu_check.sh needs on the lent GPU machine (no network there):
#   .gpu_pack/wheels/              the wheels of every package the study needs that the machine lacks (smp,
#                                  albumentations, ImageHash, papermill, nbconvert, ipykernel and their own needs), for
#                                  CPython 3.12 on x86-64 Linux, at the versions installed here
#   .gpu_pack/data/chest_xray/     the chest X-rays (Lung Segmentation/CXR_png + masks) re-encoded at 224 px
# and checks that the pack and the working tree stay within the 64 MiB that travel. Needs pip's access to PyPI.
#
#   benchmarks/pack_for_gpu.sh [--data DIR] [--pack DIR] [--size PX] [--python-version 3.12]
# Then, on the GPU machine (the device tool's run, with carry [".gpu_pack"]): benchmarks/gpu_check.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACK="$ROOT/.gpu_pack"
DATA="$ROOT/../shared/data/chest_xray"
SIZE=224
PYVER=3.12  # the GPU machine's python3 (another only to rehearse the install elsewhere)
LIMIT_MIB=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) DATA="$2"; shift 2 ;;
    --pack) PACK="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --python-version) PYVER="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "pack_for_gpu.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[[ -d "$DATA" ]] || { echo "pack_for_gpu.sh: no chest X-ray folder at $DATA (pass --data DIR)" >&2; exit 2; }
cd "$ROOT"

rm -rf "$PACK/wheels" "$PACK/data"
mkdir -p "$PACK/wheels" "$PACK/data"
mapfile -t REQS < <(python benchmarks/gpu_pack.py requirements)
echo "pack_for_gpu.sh: ${#REQS[@]} wheels: ${REQS[*]}"
PLATFORMS=()
for p in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
         manylinux_2_17 manylinux2014 manylinux1; do
  PLATFORMS+=(--platform "${p}_x86_64")
done
python -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp "${PLATFORMS[@]}" \
  -d "$PACK/wheels" "${REQS[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
n_whl=$(find "$PACK/wheels" -name '*.whl' | wc -l)
[[ "$n_whl" -eq "${#REQS[@]}" ]] || { echo "pack_for_gpu.sh: $n_whl wheels for ${#REQS[@]} requirements" >&2; exit 1; }

python benchmarks/gpu_pack.py data --src "$DATA" --out "$PACK/data/chest_xray" --size "$SIZE"
python benchmarks/gpu_pack.py size --pack "$PACK" --limit-mib "$LIMIT_MIB"
echo "pack_for_gpu.sh: done; carry [\"$(basename "$PACK")\"] with the device tool's run"
