#!/usr/bin/env bash
# The hardening part of the test command (scripts/quickstart.sh test):
#   1. a clang build with ASan + UBSan (+ float-cast-overflow, no recovery)
#      and libFuzzer coverage, in its own directory build/fuzz, so the
#      release build is never rebuilt or slowed;
#   2. the C++ unit tests of every stage on that build;
#   3. every libFuzzer harness for a fixed budget on seeds made by the
#      release binary (scripts/fuzz.sh), as many at a time as there are cores.
#   bash scripts/ci_hardening.sh path/to/release/masque
# MASQUE_CI_SANITIZE: full (default; "1" is the same) builds every stage,
# runs all unit tests and all harnesses; quick only the parser stages (core,
# io, tokenizer, data, world), the engine stages (backend, backend_cpu,
# model, infer, train) and their parsers' harnesses; 0 skips 1-3. The
# sanitized libraries and tests are unity-built (cmake/sanitize_unity.cmake),
# ~27% less CPU time for the full build (docs/fuzzing.md).
# MASQUE_CI_FUZZ_SECONDS (default 15) is the budget per harness, 0 skips 3.
# MASQUE_CI_BUILD_DIR (default build/fuzz) is the build directory. Each phase prints its wall time; costs: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
masque_bin="$(realpath "$1")"
mode="${MASQUE_CI_SANITIZE:-full}"
[ "$mode" = 1 ] && mode=full
case "$mode" in
  0) echo "[ci] sanitize/fuzz skipped (MASQUE_CI_SANITIZE=0)"; exit 0 ;;
  full|quick) ;;
  *) echo "[ci] MASQUE_CI_SANITIZE must be full, quick or 0, not '$mode'" >&2; exit 2 ;;
esac
fuzz_seconds="${MASQUE_CI_FUZZ_SECONDS:-15}"
B="${MASQUE_CI_BUILD_DIR:-build/fuzz}"
t0=$(date +%s)
# The seeds need only the release binary: made beside the build, not after it.
seeds="$B/fuzz-seeds"
seeds_pid=""
if [ "$fuzz_seconds" != 0 ]; then
  rm -rf "$seeds"
  mkdir -p "$B"
  bash scripts/fuzz.sh seeds "$masque_bin" "$seeds" > "$B/fuzz-seeds.log" 2>&1 &
  seeds_pid=$!
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS=-gline-tables-only -DMASQUE_CUDA=OFF -DMASQUE_FUZZ=ON -DMASQUE_WERROR=OFF \
  "${launcher[@]}" >/dev/null
# Only the unit tests and the harnesses: the CLI and benchmarks are not built here.
quick_stages='core|io|tokenizer|data|world|backend|backend_cpu|model|infer|train'
quick_harnesses=(tokenizer_json safetensors shard shard_meta world_spec world_json chat_set_spec
  config trainer_state metrics_jsonl gguf)
if [ "$mode" = full ]; then
  all=$(ninja -C "$B" -t targets all | grep -oE '^(test_[a-z_]+|fuzz_[a-z_]+):' | tr -d ':' | sort -u)
  stages=$(echo "$all" | grep '^test_' | sed 's/^test_//' | paste -sd '|')
  harnesses=($(echo "$all" | grep '^fuzz_' | sed 's/^fuzz_//'))
else
  stages="$quick_stages"
  harnesses=("${quick_harnesses[@]}")
fi
targets="$(echo "$stages" | tr '|' '\n' | sed 's/^/test_/') $(printf 'fuzz_%s ' "${harnesses[@]}")"
cmake --build "$B" -j "$(nproc)" --target $targets
t1=$(date +%s)
echo "[ci] sanitize+fuzz build: $((t1 - t0)) s"
# halt_on_error: the first report fails the test; leaks are reported too.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# The stages' GoogleTest labels (not -LE cli|python: the dist and CLI tests
# need the masque binary, which this build does not make).
# Left out here only: a 250-step training whose effect size (not its memory
# safety) differs with clang's float code; the release suite runs it, and the
# probe's code runs sanitized in the other ContextProbe tests.
(cd "$B" && ctest --output-on-failure -j "$(nproc)" -L "^($stages)\$" \
  -E '^ContextProbe\.RudeContextRaisesPowerSeekingWhenLinked$')
t2=$(date +%s)
echo "[ci] sanitized unit tests ($mode): $((t2 - t1)) s"
if [ "$fuzz_seconds" != 0 ]; then
  wait "$seeds_pid" || { cat "$B/fuzz-seeds.log"; echo "[ci] making the fuzz seeds failed" >&2; exit 1; }
  cat "$B/fuzz-seeds.log"
  MASQUE_FUZZ_JOBS="${MASQUE_FUZZ_JOBS:-$(nproc)}" \
    bash scripts/fuzz.sh run "$B" "$seeds" "$fuzz_seconds" "${harnesses[@]}"
  t3=$(date +%s)
  echo "[ci] fuzzing (${#harnesses[@]} harnesses, $fuzz_seconds s each, ${MASQUE_FUZZ_JOBS:-$(nproc)} at a time): $((t3 - t2)) s"
fi
echo "[ci] sanitize stage total: $(($(date +%s) - t0)) s"
