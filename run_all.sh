#!/usr/bin/env bash
# Runs the study's notebooks in order with papermill, renders each executed notebook to HTML twice (with code, and
# a reader's version without), and writes <results>/index.html. See ./run_all.sh --help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # seg_utils from this checkout, here and in the kernels

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
  --resume-from DIR[,DIR...]
                       a previous session's results (e.g. an attached Kaggle output, read-only), or several
                       (shards): the dataset notebooks bring in their complete and interrupted runs first
  -p, --param NAME VALUE
                       override one parameter (repeatable; as papermill -p), e.g. -p epochs 5: every dataset
                       notebook gets it (an unknown name stops it), the others only if they declare it
  --param-for NOTEBOOK NAME VALUE
                       override one parameter of one notebook (by name or number, as --only), after the -p ones,
                       e.g. --param-for 01 test_source train_fraction (an ISIC copy without test masks) keeps the
                       other datasets' own test sets
  --log-output         stream the notebooks' whole output while they run (papermill --log-output); without it,
                       each run's start, epochs (validation Dice, time left) and end are shown as they happen
  --no-render          skip the HTML reports (the index still links the executed notebooks)
  -h, --help           show this help

Notebooks: $(python -m seg_utils.study notebooks --repo "$ROOT" | paste -sd " " -)

Examples:
  ./run_all.sh                                              # smoke: synthetic data, CPU, minutes
  ./run_all.sh --profile paper --data-root /kaggle/input    # the poster's protocol on the real data
  ./run_all.sh --profile paper --only 02,21 -p n_seeds 3    # one dataset with three seeds, then Table 2
  ./run_all.sh --profile cpu-real                           # chest X-ray ablation on the real samples, CPU, hours
EOF
}

die() { echo "run_all.sh: error: $*" >&2; exit 2; }

PROFILE=smoke DATA_ROOT="" RESULTS="" ONLY="" DEVICE="" RESUME_FROM="" LOG_OUTPUT=0 RENDER=1
EXTRA=() SCOPED=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) [[ $# -ge 2 ]] || die "--profile needs a name"; PROFILE="$2"; shift 2 ;;
    --data-root) [[ $# -ge 2 ]] || die "--data-root needs a folder"; DATA_ROOT="$2"; shift 2 ;;
    --results) [[ $# -ge 2 ]] || die "--results needs a folder"; RESULTS="$2"; shift 2 ;;
    --only) [[ $# -ge 2 ]] || die "--only needs notebook names or numbers"; ONLY="$2"; shift 2 ;;
    --device) [[ $# -ge 2 ]] || die "--device needs auto, cpu or cuda"; DEVICE="$2"; shift 2 ;;
    --resume-from) [[ $# -ge 2 ]] || die "--resume-from needs a folder"; RESUME_FROM="$2"; shift 2 ;;
    -p|--param) [[ $# -ge 3 ]] || die "$1 needs NAME VALUE"; EXTRA+=(-p "$2" "$3"); shift 3 ;;
    --param-for) [[ $# -ge 4 ]] || die "--param-for needs NOTEBOOK NAME VALUE"; SCOPED+=(--param-for "$2" "$3" "$4")
                 shift 4 ;;
    --log-output) LOG_OUTPUT=1; shift ;;
    --no-render) RENDER=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see ./run_all.sh --help)" ;;
  esac
done

# The plan (seg_utils/study/notebooks.py): which notebooks, and for each its papermill parameter options (the
# profile's files merged into <results>/notebooks/<name>.params.yaml, relative folders taken from the repository,
# -p only where declared, --param-for last), as NUL-terminated fields: results, data, count, then per notebook its
# name, the number of its options and the options.
plan_file="$(mktemp)"
python -m seg_utils.study --prog=run_all.sh plan --null --repo="$ROOT" --profile="$PROFILE" --results="$RESULTS" \
  --only="$ONLY" --data-root="$DATA_ROOT" --device="$DEVICE" --resume-from="$RESUME_FROM" "${EXTRA[@]}" \
  "${SCOPED[@]}" > "$plan_file" || { status=$?; rm -f "$plan_file"; exit "$status"; }
mapfile -d '' PLAN < "$plan_file"
rm -f "$plan_file"
RESULTS="${PLAN[0]}" DATA_ROOT="${PLAN[1]}" TOTAL="${PLAN[2]}"

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
at=3
while [[ $at -lt ${#PLAN[@]} ]]; do
  nb="${PLAN[$at]}" count="${PLAN[$((at + 1))]}"
  params=("${PLAN[@]:$((at + 2)):$count}")
  at=$((at + 2 + count))
  n=$((n + 1))
  out="$RESULTS/notebooks/$nb.ipynb"
  log="$RESULTS/notebooks/$nb.log"
  printf '[%d/%d] %s: started\n' "$n" "$TOTAL" "$nb"
  t0=$SECONDS
  # The runs report their start, epochs and end to this file; `python -m seg_utils progress` prints them live.
  export SEG_UTILS_PROGRESS="$RESULTS/notebooks/$nb.progress.jsonl"
  : > "$SEG_UTILS_PROGRESS"
  set +e
  if [[ $LOG_OUTPUT -eq 1 ]]; then
    papermill "$ROOT/notebooks/$nb.ipynb" "$out" "${PM_OPTS[@]}" "${params[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  else
    papermill "$ROOT/notebooks/$nb.ipynb" "$out" "${PM_OPTS[@]}" "${params[@]}" > "$log" 2>&1 &
    pm_pid=$!
    python -m seg_utils progress "$SEG_UTILS_PROGRESS" --pid "$pm_pid" &
    follower=$!
    wait "$pm_pid"; status=$?
    wait "$follower"
  fi
  set -e
  unset SEG_UTILS_PROGRESS
  printf '[%d/%d] %-24s ' "$n" "$TOTAL" "$nb"
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
