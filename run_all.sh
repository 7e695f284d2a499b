#!/usr/bin/env bash
# Runs the study's notebooks in order with papermill, renders each executed notebook to HTML twice (with code, and
# a reader's version without), and writes <results>/index.html. See ./run_all.sh --help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NOTEBOOKS=(01_dataset_isic2018 02_dataset_chest_xray 03_dataset_cbis_ddsm 20_table_encoders 21_table_losses
           22_table_literature 30_predict)

usage() {
  cat <<EOF
Usage: ./run_all.sh [options]

Runs the notebooks of the study in order with papermill (dataset notebooks, then table notebooks), writes the
executed copies to <results>/notebooks/, renders each to <name>.html (with code) and <name>.report.html (for
readers, no code), and writes <results>/index.html linking every report, table and figure.
Rerunning continues where a previous run stopped: complete training runs are skipped, interrupted ones resume.

Options:
  --profile NAME       parameters of the dataset notebooks: notebooks/params/NAME.yaml (default: smoke); a
                       profile may name its notebooks (a '# notebooks: ...' header line, the default of --only)
                       and a data_root relative to the repository (e.g. cpu-real: ../shared/data/chest_xray)
                       available: $(cd "$ROOT/notebooks/params" && ls -1 ./*.yaml 2>/dev/null | sed 's|^\./||; s|\.yaml$||' | paste -sd, -)
  --data-root DIR      folder holding the datasets (a parent folder: each dataset notebook searches below it
                       for its layout); default: the profile's (smoke: synthetic data)
  --results DIR        results folder (default: results/<profile>)
  --only NAMES         comma-separated notebooks, by name or number, e.g. 02,20 or 21_table_losses
  --device DEV         auto | cpu | cuda (default: the profile's)
  --resume-from DIR    a previous session's results (e.g. an attached Kaggle output, read-only): the dataset
                       notebooks bring in its complete and interrupted runs first (-p resume_from DIR)
  -p, --param NAME VALUE
                       override one parameter (repeatable; as papermill -p), e.g. -p epochs 5: every dataset
                       notebook gets it (an unknown name stops it), the others only if they declare it
  --log-output         stream the notebooks' output while they run (papermill --log-output)
  --no-render          skip the HTML reports (the index still links the executed notebooks)
  -h, --help           show this help

Notebooks: ${NOTEBOOKS[*]}

Examples:
  ./run_all.sh                                              # smoke: synthetic data, CPU, minutes
  ./run_all.sh --profile paper --data-root /kaggle/input    # the poster's protocol on the real data
  ./run_all.sh --profile paper --only 02,21 -p n_seeds 3    # one dataset with three seeds, then Table 2
  ./run_all.sh --profile cpu-real                           # chest X-ray ablation on the real samples, CPU, hours
EOF
}

die() { echo "run_all.sh: error: $*" >&2; exit 2; }

PROFILE=smoke DATA_ROOT="" RESULTS="" ONLY="" DEVICE="" RESUME_FROM="" LOG_OUTPUT=0 RENDER=1
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) [[ $# -ge 2 ]] || die "--profile needs a name"; PROFILE="$2"; shift 2 ;;
    --data-root) [[ $# -ge 2 ]] || die "--data-root needs a folder"; DATA_ROOT="$2"; shift 2 ;;
    --results) [[ $# -ge 2 ]] || die "--results needs a folder"; RESULTS="$2"; shift 2 ;;
    --only) [[ $# -ge 2 ]] || die "--only needs notebook names or numbers"; ONLY="$2"; shift 2 ;;
    --device) [[ $# -ge 2 ]] || die "--device needs auto, cpu or cuda"; DEVICE="$2"; shift 2 ;;
    --resume-from) [[ $# -ge 2 ]] || die "--resume-from needs a folder"; RESUME_FROM="$2"; shift 2 ;;
    -p|--param) [[ $# -ge 3 ]] || die "$1 needs NAME VALUE"; EXTRA+=(-p "$2" "$3"); shift 3 ;;
    --log-output) LOG_OUTPUT=1; shift ;;
    --no-render) RENDER=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see ./run_all.sh --help)" ;;
  esac
done

PROFILE_FILE="$ROOT/notebooks/params/$PROFILE.yaml"
[[ -f "$PROFILE_FILE" ]] || die "no profile '$PROFILE' (looked for $PROFILE_FILE); see --help for the available ones"
case "$DEVICE" in ""|auto|cpu|cuda) ;; *) die "--device '$DEVICE' is not one of auto, cpu, cuda" ;; esac
if [[ -n "$DATA_ROOT" ]]; then
  [[ -d "$DATA_ROOT" ]] || die "--data-root '$DATA_ROOT' is not a folder"
  DATA_ROOT="$(cd "$DATA_ROOT" && pwd)"
fi
if [[ -n "$RESUME_FROM" ]]; then
  [[ -d "$RESUME_FROM" ]] || die "--resume-from '$RESUME_FROM' is not a folder (attach the previous session's output)"
  RESUME_FROM="$(cd "$RESUME_FROM" && pwd)"
fi
# A profile's own notebook list ("# notebooks: 02_dataset_chest_xray") is the default of --only.
PROFILE_ONLY="$(sed -n 's/^# notebooks: *//p' "$PROFILE_FILE" | head -n 1)"
[[ -z "$ONLY" && -n "$PROFILE_ONLY" ]] && ONLY="$PROFILE_ONLY"
# A relative data_root in a profile is taken from the repository root (the kernels run in <results>/notebooks).
OVERRIDDEN=0
for ((i = 0; i < ${#EXTRA[@]}; i++)); do [[ "${EXTRA[$i]}" == "data_root" ]] && OVERRIDDEN=1; done
if [[ -z "$DATA_ROOT" && $OVERRIDDEN -eq 0 ]]; then
  PROFILE_DATA="$(python -c 'import sys, yaml; print((yaml.safe_load(open(sys.argv[1])) or {}).get("data_root") or "")' \
                  "$PROFILE_FILE")" || die "cannot read the profile $PROFILE_FILE"
  if [[ -n "$PROFILE_DATA" && "$PROFILE_DATA" != /* ]]; then
    [[ -d "$ROOT/$PROFILE_DATA" ]] || die "profile $PROFILE reads its data from $PROFILE_DATA (relative to the \
repository: $ROOT/$PROFILE_DATA), which is not a folder; pass --data-root DIR"
    DATA_ROOT="$(cd "$ROOT/$PROFILE_DATA" && pwd)"
  fi
fi
RESULTS="${RESULTS:-$ROOT/results/$PROFILE}"
mkdir -p "$RESULTS/notebooks" || die "cannot create the results folder '$RESULTS'"
RESULTS="$(cd "$RESULTS" && pwd)"

# Which notebooks: all, or those named in --only (a name, a name prefix like 02, or a number like 2).
SELECTED=()
if [[ -z "$ONLY" ]]; then
  SELECTED=("${NOTEBOOKS[@]}")
else
  IFS=',' read -r -a TOKENS <<< "$ONLY"
  for nb in "${NOTEBOOKS[@]}"; do
    for tok in "${TOKENS[@]}"; do
      tok="${tok// /}"; tok="${tok%.ipynb}"
      if [[ "$nb" == "$tok" || "$nb" == "${tok}_"* ]] \
         || [[ "$tok" =~ ^[0-9]+$ && $((10#${nb%%_*})) -eq $((10#$tok)) ]]; then
        SELECTED+=("$nb"); break
      fi
    done
  done
  for tok in "${TOKENS[@]}"; do
    tok="${tok// /}"; tok="${tok%.ipynb}"; hit=0
    for nb in "${SELECTED[@]}"; do
      if [[ "$nb" == "$tok" || "$nb" == "${tok}_"* ]] \
         || [[ "$tok" =~ ^[0-9]+$ && $((10#${nb%%_*})) -eq $((10#$tok)) ]]; then hit=1; fi
    done
    [[ $hit -eq 1 ]] || die "--only: no notebook '$tok'; choose from: ${NOTEBOOKS[*]}"
  done
fi

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the kernels import seg_utils from this checkout
PM_OPTS=(-k python3 --cwd "$RESULTS/notebooks")
[[ $LOG_OUTPUT -eq 1 ]] && PM_OPTS+=(--log-output) || PM_OPTS+=(--no-progress-bar)

echo "run_all.sh: profile $PROFILE, results $RESULTS${DATA_ROOT:+, data $DATA_ROOT}${DEVICE:+, device $DEVICE}"
# Render the executed notebooks (one Python process for all: nbconvert's import dominates) and write the index.
DONE=()
finish() {
  if [[ $RENDER -eq 1 && ${#DONE[@]} -gt 0 ]]; then
    python -m seg_utils.report render "${DONE[@]}" --index "$RESULTS"
  else
    python -m seg_utils.report index "$RESULTS"
  fi
}

START=$SECONDS
n=0
for nb in "${SELECTED[@]}"; do
  n=$((n + 1))
  out="$RESULTS/notebooks/$nb.ipynb"
  log="$RESULTS/notebooks/$nb.log"
  params=(-r results_dir "$RESULTS")
  if [[ "$nb" == *_dataset_* ]]; then
    params=(-f "$PROFILE_FILE")
    # A profile may set some parameters for one notebook only (notebooks/params/<profile>/<notebook>.yaml); papermill
    # merges the files in order, so these win over the profile's, and -r / -p below win over both.
    [[ -f "$ROOT/notebooks/params/$PROFILE/$nb.yaml" ]] && params+=(-f "$ROOT/notebooks/params/$PROFILE/$nb.yaml")
    params+=(-r results_dir "$RESULTS")
    [[ -n "$DATA_ROOT" ]] && params+=(-r data_root "$DATA_ROOT")
    [[ -n "$DEVICE" ]] && params+=(-r device "$DEVICE")
    [[ -n "$RESUME_FROM" ]] && params+=(-r resume_from "$RESUME_FROM")
    params+=("${EXTRA[@]}")
  else
    # Other notebooks: the profile's file for this notebook, if any (its folder paths, when relative, are taken from
    # the repository root), and those -p options and --device that this notebook declares.
    nbfile="$ROOT/notebooks/params/$PROFILE/$nb.yaml"
    if [[ -f "$nbfile" ]]; then
      python - "$nbfile" "$ROOT" "$RESULTS/notebooks/$nb.params.yaml" <<'PY' || die "cannot read $nbfile"
import sys, yaml
from pathlib import Path
values = yaml.safe_load(open(sys.argv[1])) or {}
for key, value in values.items():
    if key != "results_dir" and key.endswith(("_dir", "_root")) and isinstance(value, str) and value \
            and not Path(value).is_absolute():
        values[key] = str((Path(sys.argv[2]) / value).resolve())
yaml.safe_dump(values, open(sys.argv[3], "w"))
PY
      params=(-f "$RESULTS/notebooks/$nb.params.yaml" "${params[@]}")
    fi
    declared=" $(python -c 'import sys, papermill as pm; print(" ".join(pm.inspect_notebook(sys.argv[1])))' \
                 "$ROOT/notebooks/$nb.ipynb" 2>/dev/null) "
    [[ -n "$DEVICE" && "$declared" == *" device "* ]] && params+=(-r device "$DEVICE")
    for ((i = 0; i < ${#EXTRA[@]}; i += 3)); do
      [[ "$declared" == *" ${EXTRA[$((i + 1))]} "* ]] && params+=("${EXTRA[@]:$i:3}")
    done
  fi
  printf '[%d/%d] %-24s ' "$n" "${#SELECTED[@]}" "$nb"
  t0=$SECONDS
  set +e
  if [[ $LOG_OUTPUT -eq 1 ]]; then
    echo
    papermill "$ROOT/notebooks/$nb.ipynb" "$out" "${PM_OPTS[@]}" "${params[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  else
    papermill "$ROOT/notebooks/$nb.ipynb" "$out" "${PM_OPTS[@]}" "${params[@]}" > "$log" 2>&1
    status=$?
  fi
  set -e
  if [[ $status -ne 0 ]]; then
    echo "FAILED after $((SECONDS - t0)) s"
    echo "run_all.sh: notebook $nb failed: $(python -m seg_utils.report error "$out" 2>/dev/null || echo 'see the log')" >&2
    echo "  partially executed notebook: $out" >&2
    echo "  papermill log: $log" >&2
    [[ -f "$out" ]] && DONE+=("$out")
    finish > /dev/null 2>&1 || true
    [[ $RENDER -eq 1 && -f "${out%.ipynb}.html" ]] && echo "  report: ${out%.ipynb}.html" >&2
    echo "  fix the cause and rerun the same command: complete runs are skipped, interrupted ones resume" >&2
    exit 1
  fi
  DONE+=("$out")
  echo "ok ($((SECONDS - t0)) s)"
done

[[ $RENDER -eq 1 ]] && printf '%-30s ' "rendering ${#DONE[@]} HTML reports"
t0=$SECONDS
index="$(finish | tail -n 1)" || die "rendering the reports or writing the index failed"
[[ $RENDER -eq 1 ]] && echo "ok ($((SECONDS - t0)) s)"
echo "run_all.sh: done in $((SECONDS - START)) s; open $index"
