#!/usr/bin/env bash
# bfloat16 mixed-precision training step, side by side: masque `--dtype bf16`
# (bench_cpu_train_step --dtype bf16) against PyTorch eager under
# torch.autocast("cpu", dtype=torch.bfloat16) on the same architecture, batch
# and thread count (bench/cpu_train_step.py --autocast), with masque float32
# for reference, then masque's bf16 GEMM against OpenBLAS sgemm at the step's
# own shapes (bench_bf16_gemm). Prints one table; figures go to
# docs/benchmarks.md ("bfloat16 training step").
#
#   bench/cpu_train_step_bf16.sh [build_dir] [configs...]
#   env: THREADS (default: nproc), STEPS (3), WARMUP (1), ROUNDS (2), PYTHON (.venv/bin/python)
# Rounds alternate the sides; each side's best step counts (on a shared
# machine the best step is the one least disturbed by other processes).
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
python="${PYTHON:-$root/.venv/bin/python}"
for exe in bench_cpu_train_step bench_bf16_gemm; do
  [[ -x "$build/$exe" ]] || { echo "missing $build/$exe: ninja -C $build $exe" >&2; exit 1; }
done
[[ -x "$python" ]] || { echo "missing $python: set PYTHON to a Python with torch and transformers" >&2; exit 1; }

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for config in "${configs[@]}"; do
  for round in $(seq "$rounds"); do
    for dtype in bf16 f32; do
      echo "== $config round $round: masque $dtype ($threads threads)" >&2
      "$build/bench_cpu_train_step" --config "$config" --dtype "$dtype" --steps "$steps" \
        --warmup "$warmup" --threads "$threads" --json >>"$results"
    done
    echo "== $config round $round: torch autocast bf16 ($threads threads)" >&2
    OMP_NUM_THREADS="$threads" "$python" "$root/bench/cpu_train_step.py" --config "$config" \
      --steps "$steps" --warmup "$warmup" --threads "$threads" --autocast >>"$results"
  done
  echo "== $config: GEMMs at the step's shapes" >&2
  "$build/bench_bf16_gemm" --config "$config" --threads "$threads" --json >>"$results"
done

"$python" - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
best, gemm = {}, {}
for r in rows:
    if "impl" not in r:
        gemm[r["config"]] = r
        continue
    key = (r["config"], r["impl"])
    if key not in best or r["step_s_min"] < best[key]["step_s_min"]:
        best[key] = r
def tok(config, impl):
    r = best[(config, impl)]
    return r["tokens_per_s"] * r["step_s_median"] / r["step_s_min"]  # from the best step
print(f"{'config':6} {'masque bf16 tok/s':>17} {'torch autocast tok/s':>20} {'ratio':>6} "
      f"{'masque f32 tok/s':>16} {'bf16/f32':>8} {'loss bf16':>9} {'loss f32':>8} "
      f"{'bf16 GEMM GFLOP/s':>17} {'sgemm GFLOP/s':>13}")
for config in dict.fromkeys(c for c, _ in best):
    b, t, f = tok(config, "masque-bf16"), tok(config, "torch-autocast-bf16"), tok(config, "masque")
    g = gemm.get(config, {})
    kernels = ", ".join(f"{k[5:-7]} {v:.0f}" for k, v in g.items() if k.startswith("bf16_"))
    print(f"{config:6} {b:17.0f} {t:20.0f} {b / t:6.2f} {f:16.0f} {b / f:8.2f} "
          f"{best[(config, 'masque-bf16')]['final_loss']:9.4f} {best[(config, 'masque')]['final_loss']:8.4f} "
          f"{kernels:>17} {g.get('openblas_sgemm_gflops', 0):13.1f}")
torch_version = next((r["torch_version"] for r in rows if "torch_version" in r), "?")
print(f"(threads {rows[0]['threads']}, torch {torch_version}; tokens/s from each side's best step "
      "over the rounds; GEMM GFLOP/s over one step's linear-layer and LM-head products)")
PY
