#!/usr/bin/env bash
# The hardening part of the test command (scripts/quickstart.sh test):
#   1. a clang build with ASan + UBSan (+ float-cast-overflow, no recovery)
#      and libFuzzer coverage, in its own directory build/fuzz, so the
#      release build is never rebuilt or slowed;
#   2. the C++ unit tests (ctest -LE 'cli|python') on that build;
#   3. every libFuzzer harness for a fixed budget on seeds made by the
#      release binary (scripts/fuzz.sh).
#   bash scripts/ci_hardening.sh path/to/release/masque
# MASQUE_CI_SANITIZE: 1 (default) builds and runs the stages that fit the
# test command's 30 minutes on 2 cores: the parser stages (core, io,
# tokenizer, data, world) and the engine stages (backend, backend_cpu,
# model, infer, train), their unit tests and the harnesses of their parsers;
# "full" builds every stage, all unit tests and all harnesses (posttrain,
# persona, experiment, report, serve, vectors too: about 10 more minutes);
# 0 skips 1-3. MASQUE_CI_FUZZ_SECONDS (default 15) is the budget per
# harness, 0 skips 3. Costs and the choice: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
masque_bin="$(realpath "$1")"
[ "${MASQUE_CI_SANITIZE:-1}" = 0 ] && { echo "[ci] sanitize/fuzz skipped (MASQUE_CI_SANITIZE=0)"; exit 0; }
fuzz_seconds="${MASQUE_CI_FUZZ_SECONDS:-15}"
B=build/fuzz
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
t0=$(date +%s)
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS=-gline-tables-only -DMASQUE_CUDA=OFF -DMASQUE_FUZZ=ON -DMASQUE_WERROR=OFF \
  "${launcher[@]}" >/dev/null
# Only the unit tests and the harnesses: the CLI and benchmarks are not run here.
default_stages='core|io|tokenizer|data|world|backend|backend_cpu|model|infer|train'
default_harnesses=(tokenizer_json safetensors shard shard_meta world_spec world_json chat_set_spec
  config trainer_state metrics_jsonl gguf)
if [ "${MASQUE_CI_SANITIZE:-1}" = full ]; then
  targets=$(ninja -C "$B" -t targets all | grep -oE '^(test_[a-z_]+|fuzz_[a-z_]+):' | tr -d ':' | sort -u)
  labels=()
  harnesses=()
else
  targets=$(echo "$default_stages" | tr '|' '\n' | sed 's/^/test_/')
  targets+=" $(printf 'fuzz_%s ' "${default_harnesses[@]}")"
  labels=(-L "^($default_stages)\$")
  harnesses=("${default_harnesses[@]}")
fi
cmake --build "$B" -j "$(nproc)" --target $targets
t1=$(date +%s)
echo "[ci] sanitize+fuzz build: $((t1 - t0)) s"
# halt_on_error: the first report fails the test; leaks are reported too.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
(cd "$B" && ctest --output-on-failure -j "$(nproc)" -LE 'cli|python' "${labels[@]}")
t2=$(date +%s)
echo "[ci] sanitized unit tests: $((t2 - t1)) s"
if [ "$fuzz_seconds" != 0 ]; then
  seeds="$B/fuzz-seeds"
  rm -rf "$seeds"
  bash scripts/fuzz.sh seeds "$masque_bin" "$seeds"
  bash scripts/fuzz.sh run "$B" "$seeds" "$fuzz_seconds" "${harnesses[@]}"
  t3=$(date +%s)
  echo "[ci] fuzzing ($fuzz_seconds s per harness): $((t3 - t2)) s"
fi
