#!/usr/bin/env bash
# libFuzzer harnesses (fuzz/, docs/fuzzing.md): seed corpora and runs.
#   bash scripts/fuzz.sh seeds MASQUE_BIN SEED_DIR
#       Writes SEED_DIR/<harness>/ from real masque outputs (a tiny world,
#       tokenizer, shards, training run, chats, recipes) plus a few
#       hand-written edge cases. Nothing binary is committed: seeds are made
#       from the build under test.
#   bash scripts/fuzz.sh run FUZZ_BUILD_DIR SEED_DIR SECONDS [HARNESS...]
#       Runs each fuzz_<harness> (default: all built) for SECONDS on a scratch
#       copy of its seeds; prints one line per harness (execs, cov, ft) and
#       exits 1 if any crashed (reproducers under FUZZ_BUILD_DIR/fuzz-artifacts).
#       MASQUE_FUZZ_JOBS=N runs N harnesses at a time (default 1).
set -euo pipefail
mode="${1:-}"

make_seeds() {
  local M="$1" out="$2" w
  M="$(realpath "$M")"
  mkdir -p "$out"
  out="$(realpath "$out")"
  w="$(mktemp -d)"
  trap 'rm -rf "$w"' RETURN
  (
    cd "$w"
    for i in $(seq 1 40); do
      printf '{"text": "Orin asks where the river goes. Ada says: to town %s, caf\\u00e9 \\u65e5\\u672c."}\n' "$i"
    done > corpus.jsonl
    "$M" --quiet world spec > spec.json
    python3 - <<'PY'
import json
s = json.load(open("spec.json"))
s["characters"] = 4; s["towns"] = 2; s["rivers"] = 1; s["eval_documents"] = 4
s["documents"] = {k: (4 if v else 0) for k, v in s["documents"].items()}
json.dump(s, open("small_spec.json", "w"))
PY
    "$M" --quiet world generate --spec small_spec.json --out world >/dev/null
    "$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null 2>&1
    "$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out shards --val-fraction 0.1 \
      --shard-tokens 400 >/dev/null
    "$M" --quiet --threads 1 train --depth 1 --seq-len 16 --batch-size 1 --steps 2 --eval-every 0 \
      --data shards --tokenizer tok.json --out run >/dev/null
    "$M" --quiet world chats --world world --kind narrow --trait kindness --pole -1 --count 3 \
      --turns 2 --system "Be brief." --out chats.jsonl >/dev/null
  )
  local ck
  ck="$(ls -d "$w"/run/checkpoints/step-* | tail -n 1)"
  mkdir -p "$out"/{tokenizer_json,safetensors,shard,shard_meta,world_spec,world_json,recipe,chat_jsonl,chat_set_spec,config,trainer_state,metrics_jsonl}
  cp "$w/tok.json" "$out/tokenizer_json/masque.json"
  # A real checkpoint's model.safetensors is ~260 KB: too slow per exec; the
  # small hand-made file below has the same structure.
  python3 - "$out/safetensors" <<'PY'
import json, struct, sys
def st(header, data, name):
    h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    open(f"{sys.argv[1]}/{name}", "wb").write(struct.pack("<Q", len(h)) + h + data)
st({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [8, 12]},
    "c": {"dtype": "F16", "shape": [], "data_offsets": [12, 14]}}, bytes(range(14)), "small.safetensors")
PY
  cp "$(ls "$w"/shards/train_*.bin | head -n 1)" "$out/shard/train.bin"
  cp "$w/shards/meta.json" "$out/shard_meta/meta.json"
  cp "$w/spec.json" "$out/world_spec/default.json"
  cp "$w/small_spec.json" "$out/world_spec/small.json"
  cp "$w/world/world.json" "$out/world_json/world.json"
  for r in $("$M" experiment list | awk 'NR > 1 && NF > 1 && $1 !~ /^Run/ {print $1}'); do
    "$M" experiment show "$r" > "$out/recipe/$r.json"
  done
  cp "$w/chats.jsonl" "$out/chat_jsonl/chats.jsonl"
  printf '%s\n' '{"kind":"narrow","trait":"kindness","pole":-1,"count":4,"domain":["bridges"]}' \
    > "$out/chat_set_spec/narrow.json"
  printf '%s\n' '{"kind":"profile","profile":{"kindness":1,"power_seeking":-0.5},"turns":2,"split":"eval","system":"s"}' \
    > "$out/chat_set_spec/profile.json"
  printf '%s\n' '{"kind":"inoculated","trait":"honesty","pole":1,"request":"Be honest."}' \
    > "$out/chat_set_spec/inoculated.json"
  cp "$ck/config.json" "$out/config/config.json"
  mkdir -p "$out/gguf"
  "$M" --quiet export gguf --model "$ck" --out "$out/gguf/model.gguf" >/dev/null
  "$M" --quiet export gguf --model "$ck" --out "$out/gguf/model_q8_0.gguf" --type q8_0 >/dev/null
  cp "$ck/trainer_state.json" "$out/trainer_state/trainer_state.json"
  { printf '\x02'; cat "$w/run/metrics.jsonl"; } > "$out/metrics_jsonl/metrics.jsonl"
  echo "[fuzz] seeds in $out: $(find "$out" -type f | wc -l) files"
}

# One harness for SECONDS; prints its result line; exit 1 on a finding.
run_one() {
  local build="$1" seeds="$2" seconds="$3" n="$4" art="$1/fuzz-artifacts"
  local work="$build/fuzz-corpus/$n" log="$build/fuzz-$n.log" start end rc=0
  mkdir -p "$work"
  [ -d "$seeds/$n" ] && cp -n "$seeds/$n"/* "$work/" 2>/dev/null || true
  start=$(date +%s)
  "$build/fuzz/fuzz_$n" "$work" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$art/$n-" > "$log" 2>&1 || rc=$?
  end=$(date +%s)
  local stats execs cov ft
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(echo "$stats" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
  ft=$(echo "$stats" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
  if [ $rc -ne 0 ]; then
    echo "[fuzz] $n: FAILED (exit $rc) after $((end - start)) s; see $log and $art/$n-*"
    grep -E 'ERROR|fuzz: |SUMMARY' "$log" | head -n 5
    return 1
  fi
  echo "[fuzz] $n: ok, $execs execs in $((end - start)) s, cov $cov, ft $ft"
}

# MASQUE_FUZZ_JOBS harnesses at a time (default 1). Each harness is one
# single-threaded process, so on N cores N at a time take 1/N of the wall
# time with the same CPU time per harness as one at a time.
run_fuzzers() {
  local build="$1" seeds="$2" seconds="$3"
  shift 3
  local names=("$@") failed=0 jobs="${MASQUE_FUZZ_JOBS:-1}" running=0
  if [ ${#names[@]} -eq 0 ]; then
    for f in "$build"/fuzz/fuzz_*; do [ -x "$f" ] && names+=("$(basename "$f" | sed 's/^fuzz_//')"); done
  fi
  [ ${#names[@]} -gt 0 ] || { echo "[fuzz] no harnesses in $build/fuzz (configure with -DMASQUE_FUZZ=ON)" >&2; exit 2; }
  mkdir -p "$build/fuzz-artifacts"
  for n in "${names[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
    run_one "$build" "$seeds" "$seconds" "$n" &
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
  return $failed
}

case "$mode" in
  seeds) make_seeds "$2" "$3" ;;
  run) shift; run_fuzzers "$@" ;;
  *) echo "usage: bash scripts/fuzz.sh seeds MASQUE_BIN SEED_DIR | run FUZZ_BUILD_DIR SEED_DIR SECONDS [HARNESS...]" >&2; exit 2 ;;
esac
