#!/usr/bin/env bash
# Whole training steps with the fused AVX-512 attention against the per-block
# sgemm attention it replaced, same binary (MASQUE_ATTENTION=sgemm|fused),
# float32 and bf16, alternating rounds; prints one table (figures go to
# docs/benchmarks.md, "Fused attention"). The kernels alone: bench_attention.
#
#   bench/attention_fused.sh [build_dir] [configs...]
#   env: THREADS (default: nproc), STEPS (3), ROUNDS (2),
#        CPU_TIME=1: per-step process CPU time instead of wall tok/s, from
#        the difference of a 1-step and a STEPS-step run (on a loaded
#        machine the least disturbed measure; use it with THREADS=1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
shift || true
configs=("$@")
[[ $# -eq 0 ]] && configs=(C1 C2)
threads="${THREADS:-$(nproc)}"
steps="${STEPS:-3}"
rounds="${ROUNDS:-2}"
bench="$build/bench_cpu_train_step"
[[ -x "$bench" ]] || { echo "missing $bench: ninja -C $build bench_cpu_train_step" >&2; exit 1; }

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
run() {  # impl dtype steps -> one JSON line, with "cpu_s" (user + sys) added
  local out cpu
  out="$( { MASQUE_ATTENTION="$1" /usr/bin/time -f "cpu %U %S" "$bench" --config "$config" \
    --dtype "$2" --steps "$3" --warmup 1 --threads "$threads" --json; } 2>&1)"
  cpu="$(awk '/^cpu /{print $2 + $3}' <<<"$out")"
  grep '^{' <<<"$out" | sed "s/}\$/,\"cpu_s\":$cpu,\"impl_attention\":\"$1\",\"steps\":$3}/"
}
for config in "${configs[@]}"; do
  for round in $(seq "$rounds"); do
    for dtype in f32 bf16; do
      for impl in sgemm fused; do
        echo "== $config round $round: $dtype, attention $impl ($threads threads)" >&2
        run "$impl" "$dtype" "$steps" >>"$results"
        [[ "${CPU_TIME:-0}" == 1 ]] && run "$impl" "$dtype" 1 >>"$results"
      done
    done
  done
done

python3 - "$results" "$steps" "${CPU_TIME:-0}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
steps, cpu_mode = int(sys.argv[2]), sys.argv[3] == "1"
best = {}  # (config, dtype, impl) -> best figure over rounds
for r in rows:
    key = (r["config"], r["dtype"], r["impl_attention"])
    if cpu_mode:
        if r["steps"] != steps:
            continue
        one = [o for o in rows if o["steps"] == 1 and (o["config"], o["dtype"], o["impl_attention"]) == key]
        value = min((r["cpu_s"] - o["cpu_s"]) / (steps - 1) for o in one)  # CPU-s per step
        best[key] = min(best.get(key, value), value)
    else:
        best[key] = max(best.get(key, 0.0), r["tokens_per_s"] * r["step_s_median"] / r["step_s_min"])
    best[key + ("loss",)] = r["final_loss"]
unit = "CPU-s/step" if cpu_mode else "tok/s"
print(f"{'config':6} {'dtype':5} {'sgemm ' + unit:>18} {'fused ' + unit:>18} {'speed-up':>8}  final loss sgemm / fused")
for config in dict.fromkeys(k[0] for k in best):
    for dtype in ("f32", "bf16"):
        s, f = best.get((config, dtype, "sgemm")), best.get((config, dtype, "fused"))
        if s is None or f is None:
            continue
        num, den = (s, f) if cpu_mode else (f, s)
        up = f"{num / den:7.2f}x" if den > 0 else "    n/a "  # CPU-time differences can round to 0
        print(f"{config:6} {dtype:5} {s:18.3f} {f:18.3f} {up}  "
              f"{best[(config, dtype, 'sgemm', 'loss')]:.4f} / {best[(config, dtype, 'fused', 'loss')]:.4f}")
PY
