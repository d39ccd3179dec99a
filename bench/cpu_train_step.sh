#!/usr/bin/env bash
# Side-by-side CPU training-step benchmark: masque vs PyTorch (same
# architecture, float32, same thread count), masque's GEMM rate at the step's
# own GEMM shapes, and the float32 GEMM ceiling measured in the same run (the
# best of OpenBLAS, masque's kernels, BLIS, oneDNN and numpy's bundled
# OpenBLAS at a large square product: bench_gemm_ceiling). Prints one table; figures go to
# docs/benchmarks.md ("CPU training step"). Where a step's time goes, op by
# op: bench_ops --config C1|C2 (bench/ops.cpp; docs/benchmarks.md, "Per-op
# profile (bench_ops)").
#
#   bench/cpu_train_step.sh [build_dir] [configs...]
#   env: THREADS (default: nproc), STEPS (5), WARMUP (1), ROUNDS (1), PYTHON (.venv/bin/python),
#        COMPILE=1 adds torch.compile
# With ROUNDS > 1 masque and PyTorch alternate and each side's best step
# counts: on a shared machine the best step is the one least disturbed by
# other processes, and alternating gives both sides the same chances.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
shift || true
configs=("${@:-C1 C2}")
[[ $# -eq 0 ]] && configs=(C1 C2)
threads="${THREADS:-$(nproc)}"
steps="${STEPS:-5}"
warmup="${WARMUP:-1}"
python="${PYTHON:-$root/.venv/bin/python}"
bench="$build/bench_cpu_train_step"
ceiling="$build/bench_gemm_ceiling"
[[ -x "$bench" ]] || { echo "missing $bench: build it with ninja -C $build bench_cpu_train_step" >&2; exit 1; }
[[ -x "$ceiling" ]] || { echo "missing $ceiling: build it with ninja -C $build bench_gemm_ceiling" >&2; exit 1; }
[[ -x "$python" ]] || { echo "missing $python: set PYTHON to a Python with torch and transformers" >&2; exit 1; }

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
rounds="${ROUNDS:-1}"
# numpy's bundled OpenBLAS (newer than Debian's, its own CPU detection) is one
# of the ceiling's candidates when the venv has numpy: the ceiling is the
# machine's fastest float32 GEMM, not only the ones masque links.
numpy_openblas="$("$python" -c 'import glob, os, numpy
print(next(iter(sorted(glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs",
                                              "libscipy_openblas64_*.so")))), ""))' 2>/dev/null || true)"
ceiling_args=()
if [[ -n "$numpy_openblas" ]]; then
  ceiling_args=(--numpy-openblas "$numpy_openblas")
else
  echo "numpy's OpenBLAS not found through $python: the ceiling leaves it out" >&2
fi
echo "== float32 GEMM ceiling ($threads threads)" >&2
"$ceiling" --config "${configs[-1]}" --threads "$threads" "${ceiling_args[@]}" --json >>"$results"
for config in "${configs[@]}"; do
for round in $(seq "$rounds"); do
  echo "== $config: masque ($threads threads)" >&2
  "$bench" --config "$config" --steps "$steps" --warmup "$warmup" --threads "$threads" --sgemm --json >>"$results"
  echo "== $config: torch eager ($threads threads)" >&2
  OMP_NUM_THREADS="$threads" "$python" "$root/bench/cpu_train_step.py" --config "$config" --steps "$steps" \
    --warmup "$warmup" --threads "$threads" >>"$results"
  if [[ "${COMPILE:-0}" == 1 ]]; then
    echo "== $config: torch.compile ($threads threads)" >&2
    OMP_NUM_THREADS="$threads" "$python" "$root/bench/cpu_train_step.py" --config "$config" --steps "$steps" \
      --warmup "$warmup" --threads "$threads" --compile >>"$results" || echo "torch.compile failed" >&2
  fi
done
done

"$python" - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
ceiling = next(r for r in rows if "ceiling_gflops" in r)
rows = [r for r in rows if "ceiling_gflops" not in r]
by = {}
for r in rows:  # keep each side's best step over rounds; sgemm ceiling: best measurement
    best = by.setdefault(r["config"], {}).get(r["impl"])
    if best is None or r["step_s_min"] < best["step_s_min"]:
        if best is not None and "sgemm_gflops" in r:
            r["sgemm_gflops"] = max(r["sgemm_gflops"], best["sgemm_gflops"])
        by[r["config"]][r["impl"]] = r
    elif "sgemm_gflops" in r:
        best["sgemm_gflops"] = max(r["sgemm_gflops"], best["sgemm_gflops"])
for impls in by.values():
    for r in impls.values():
        r["tokens_per_s"] = r["tokens_per_s"] * r["step_s_median"] / r["step_s_min"]
        if "model_gflops" in r:
            r["model_gflops"] = r["model_gflops"] * r["step_s_median"] / r["step_s_min"]
ceil = ceiling["ceiling_gflops"]
print(f"{'config':6} {'masque tok/s':>12} {'torch tok/s':>11} {'ratio':>6} {'masque GFLOP/s':>14} "
      f"{'GEMM GFLOP/s':>12} {'ceiling':>7} {'% ceiling':>9} {'RSS masque':>10} {'RSS torch':>9}"
      + ("  compile tok/s" if any("torch-compile" in v for v in by.values()) else ""))
for config, r in by.items():
    m, t = r["masque"], r["torch"]
    line = (f"{config:6} {m['tokens_per_s']:12.0f} {t['tokens_per_s']:11.0f} "
            f"{m['tokens_per_s'] / t['tokens_per_s']:6.2f} {m['model_gflops']:14.1f} {m['sgemm_gflops']:12.1f} "
            f"{ceil:7.1f} {100 * m['model_gflops'] / ceil:8.0f}% {m['peak_rss_mib']:8.0f}Mi {t['peak_rss_mib']:7.0f}Mi")
    if "torch-compile" in r:
        line += f"  {r['torch-compile']['tokens_per_s']:13.0f}"
    print(line)
print(f"(threads {rows[0]['threads']}, torch {next((x['torch_version'] for x in rows if 'torch_version' in x), '?')}; "
      "tokens/s from each side's best step; model GFLOP/s = train_flops_per_token x tokens/s; "
      "GEMM = masque's GEMM at the step's GEMM shapes; "
      f"ceiling = best float32 GEMM at a square product: {ceiling['ceiling_impl']}; masque runs {ceiling['masque_gemm']})")
print("step's GEMM shapes, GFLOP/s by candidate: " + ", ".join(
      f"{k} {v:.0f}" for k, v in ceiling["step_gemm_gflops"].items()) + f" ({ceiling['config']})")
PY
