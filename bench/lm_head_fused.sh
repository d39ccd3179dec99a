#!/usr/bin/env bash
# The fused LM head + cross-entropy (backend/cpu/lm_head_loss.h) against the
# composed one it replaced (Backend::lm_head_loss's default: matmul_forward,
# cross_entropy_forward/backward and matmul_backward on chunks of ~4M logits,
# selected with MASQUE_LM_HEAD=composed), in the same run: whole training
# steps (bench_cpu_train_step) at C1 and C2, float32 and bf16, the two sides
# alternating round by round; each side's best step counts (on a shared
# machine the best step is the one least disturbed). Prints one table;
# figures go to docs/benchmarks.md ("Fused LM head + cross-entropy").
#
#   bench/lm_head_fused.sh [build_dir] [configs...]
#   env: THREADS (default: nproc), STEPS (3), WARMUP (1), ROUNDS (2), DTYPES ("f32 bf16")
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
shift || true
configs=("$@")
[[ $# -eq 0 ]] && configs=(C1 C2)
threads="${THREADS:-$(nproc)}"
steps="${STEPS:-3}"
warmup="${WARMUP:-1}"
rounds="${ROUNDS:-2}"
read -r -a dtypes <<<"${DTYPES:-f32 bf16}"
bench="$build/bench_cpu_train_step"
[[ -x "$bench" ]] || { echo "missing $bench: ninja -C $build bench_cpu_train_step" >&2; exit 1; }

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for config in "${configs[@]}"; do
  for dtype in "${dtypes[@]}"; do
    for round in $(seq "$rounds"); do
      for head in composed fused; do
        echo "== $config $dtype round $round: $head LM head ($threads threads)" >&2
        line="$(MASQUE_LM_HEAD="$head" "$bench" --config "$config" --dtype "$dtype" --steps "$steps" \
          --warmup "$warmup" --threads "$threads" --json)"
        echo "{\"head\": \"$head\", \"run\": $line}" >>"$results"
      done
    done
  done
done

python3 - "$results" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    run = r["run"]
    key = (run["config"], run["dtype"], r["head"])
    b = best.get(key)
    if b is None or run["step_s_min"] < b["step_s_min"]:
        if b is not None:
            run["peak_rss_mib"] = max(run["peak_rss_mib"], b["peak_rss_mib"])
        best[key] = run
print(f"{'config':6} {'dtype':5} {'composed tok/s':>14} {'fused tok/s':>11} {'fused/composed':>14} "
      f"{'RSS composed':>12} {'RSS fused':>9} {'loss composed':>13} {'loss fused':>10}")
for (config, dtype, head), run in sorted(best.items()):
    if head != "fused":
        continue
    c = best[(config, dtype, "composed")]
    tok = lambda r: r["tokens_per_s"] * r["step_s_median"] / r["step_s_min"]
    print(f"{config:6} {dtype:5} {tok(c):14.0f} {tok(run):11.0f} {tok(run) / tok(c):14.3f} "
          f"{c['peak_rss_mib']:10.0f}Mi {run['peak_rss_mib']:7.0f}Mi {c['final_loss']:13.4f} "
          f"{run['final_loss']:10.4f}")
PY
