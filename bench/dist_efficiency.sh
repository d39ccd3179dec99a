#!/usr/bin/env bash
# Data-parallel scaling on one machine's CPUs (docs/distributed.md): the same
# training run (same global batch) as
#   1 process x 1 thread | 1 process x 2 threads | 2 ranks x 1 thread (mpirun)
# and prints one table: median step time, tok/s, and the 2-rank efficiency
# = tok/s(2 ranks) / (2 x tok/s(1 process, 1 thread)). Rounds alternate the
# three setups and each keeps its best round, so a busy machine disturbs
# them alike. tok/CPU-s counts every CPU second of the run (start-up, MPI's
# busy-polling while a rank waits), the cost on a shared machine.
#
#   bench/dist_efficiency.sh [build_dir]
#   env: DEPTH (4), SEQ (128), BATCH (8, the global batch), STEPS (30), ROUNDS (3),
#        REDUCE (ordered | mpi)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
M="$build/masque"
[[ -x "$M" ]] || { echo "missing $M: build it with cmake --build $build --target masque" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun not found: apt-get install openmpi-bin" >&2; exit 1; }
depth="${DEPTH:-4}" seq="${SEQ:-128}" batch="${BATCH:-8}" steps="${STEPS:-30}"
rounds="${ROUNDS:-3}" reduce="${REDUCE:-ordered}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

for doc in $(seq 1 400); do
  line=""
  for s in $(seq 1 12); do
    names=(Ada Bo Cy Dee Eve Fay); verbs=(likes sees helps finds meets); things=("the cat" "a red ball" "the old tree" "some tea" "a map")
    line+="${names[$(( (doc * 7 + s * 3) % 6 ))]} ${verbs[$(( (doc + s * 5) % 5 ))]} ${things[$(( (doc * s) % 5 ))]}. "
  done
  printf '{"text": "%s"}\n' "$line"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 320 --out tok.json >/dev/null
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data >/dev/null

run() {  # run NAME THREADS [launcher...]; prints the median step seconds and the run's CPU seconds
  local name="$1" threads="$2"
  shift 2
  rm -rf "run-$name"
  local TIMEFORMAT=%U+%S cpu
  cpu=$( { time "$@" "$M" --quiet --threads "$threads" train --depth "$depth" --tokenizer tok.json --data data \
    --batch-size "$batch" --seq-len "$seq" --steps "$steps" --eval-every 0 --checkpoint-every 0 \
    --warmup 2 --reduce "$reduce" --out "run-$name" >/dev/null 2>&1; } 2>&1 )
  # Median step time over the steps after the first two (warm-up).
  echo "$(grep '"type":"train"' "run-$name/metrics.jsonl" | tail -n +3 |
    grep -o '"step_seconds":[^,]*' | cut -d: -f2 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $(echo "$cpu" | bc -l)"
}

mpi=(mpirun -np 2 --bind-to none)
[[ "$(id -u)" -eq 0 ]] && mpi+=(--allow-run-as-root)
declare -A best cpu
for r in $(seq 1 "$rounds"); do
  for setup in p1t1 p1t2 p2t1; do
    case $setup in
      p1t1) read -r t c < <(run p1t1 1 env) ;;
      p1t2) read -r t c < <(run p1t2 2 env) ;;
      p2t1) read -r t c < <(run p2t1 1 "${mpi[@]}") ;;
    esac
    if [[ -z "${best[$setup]:-}" ]] || awk "BEGIN {exit !($t < ${best[$setup]})}"; then best[$setup]=$t; fi
    if [[ -z "${cpu[$setup]:-}" ]] || awk "BEGIN {exit !($c < ${cpu[$setup]})}"; then cpu[$setup]=$c; fi
  done
done

tokens=$((batch * seq))
params="--depth $depth (width $((64 * depth)))"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "data-parallel scaling on $(nproc) cores (load average $load while measuring): $params, global batch $batch x $seq tokens, $steps steps, best of $rounds rounds, --reduce $reduce"
echo
echo "| setup | median step (s) | tok/s | vs 1 process x 1 thread | tok/CPU-s (whole run) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for setup in p1t1 p1t2 p2t1; do
  case $setup in
    p1t1) label="1 process x 1 thread" ;;
    p1t2) label="1 process x 2 threads" ;;
    p2t1) label="2 ranks x 1 thread (mpirun)" ;;
  esac
  awk -v l="$label" -v s="${best[$setup]}" -v base="${best[p1t1]}" -v tok="$tokens" \
    -v c="${cpu[$setup]}" -v n="$steps" \
    'BEGIN {printf "| %s | %.4f | %.0f | %.2fx | %.0f |\n", l, s, tok / s, base / s, tok * n / c}'
done
echo
awk -v a="${best[p1t1]}" -v b="${best[p2t1]}" -v c="${best[p1t2]}" 'BEGIN {
  printf "2-rank efficiency: %.0f%% of 2x one rank (speed-up %.2fx on 2 ranks); 2 ranks vs 1 process x 2 threads: %.2fx\n",
    100 * a / (2 * b), a / b, c / b }'
