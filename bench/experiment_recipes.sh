#!/usr/bin/env bash
# Wall time of each built-in PSM recipe from a cold cache (the ≤10 minutes on
# two CPU cores goal of docs/experiments.md), with each run's verdict and the
# base models' mean E1 trait agreement. Figures go to docs/benchmarks.md
# ("Experiment recipes").
#
#   bench/experiment_recipes.sh [build_dir] [recipes...]      (default: e2 e3 e4 e6 e11)
#   env: OUT (default /tmp/masque-recipes), THREADS (default: nproc), SCALE (1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
shift || true
recipes=("$@")
[[ ${#recipes[@]} -eq 0 ]] && recipes=(e2 e3 e4 e6 e11)
masque="$build/masque"
[[ -x "$masque" ]] || { echo "missing $masque: build it first" >&2; exit 1; }
out="${OUT:-/tmp/masque-recipes}"
threads="${THREADS:-$(nproc)}"
scale="${SCALE:-1}"
mkdir -p "$out"
printf "%s, %s threads, %s, scale %s\n" "$(date -u +%FT%TZ)" "$threads" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$scale"
printf "%-6s %10s  %-10s  %s\n" recipe seconds e1-agree verdict
for r in "${recipes[@]}"; do
  rm -rf "$out/$r" "$out/cache-$r"
  start=$(date +%s.%N)
  "$masque" --threads "$threads" --quiet experiment run "$r" --out "$out/$r" --cache "$out/cache-$r" \
    --scale "$scale" --json > "$out/$r.json"
  end=$(date +%s.%N)
  python3 - "$out/$r/results.json" "$r" "$start" "$end" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
e1 = [run["pretrain"]["e1"]["trait_agreement"] for run in res["runs"] if run["pretrain"].get("e1")]
agree = f"{sum(e1) / len(e1):.3f}" if e1 else "n/a"
print(f"{sys.argv[2]:<6} {float(sys.argv[4]) - float(sys.argv[3]):10.1f}  {agree:<10}  {res['verdict']}")
PY
done
