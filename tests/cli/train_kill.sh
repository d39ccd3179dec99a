#!/usr/bin/env bash
# Crash safety of `masque train`: kill -9 at random moments (with a checkpoint
# every step, many kills land inside a save), check after each kill that the
# newest checkpoint loads, resume to the end, and require the loss sequence in
# metrics.jsonl to equal an uninterrupted run's bit for bit (hex floats).
# Usage: bash train_kill.sh /path/to/masque
set -euo pipefail
M="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# A small corpus with structure, as JSONL documents.
for doc in $(seq 1 200); do
  line=""
  for s in 1 2 3 4 5 6 7 8; do
    names=(Ada Bo Cy Dee Eve); verbs=(likes sees helps finds); things=("the cat" "a red ball" "the old tree" "some tea")
    line+="${names[$(( (doc * 7 + s * 3) % 5 ))]} ${verbs[$(( (doc + s * 5) % 4 ))]} ${things[$(( (doc * s) % 4 ))]}. "
  done
  printf '{"text": "%s"}\n' "$line"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0.1 >/dev/null

STEPS=60
COMMON=(--quiet --threads 1 train --depth 1 --tokenizer tok.json --data data --steps $STEPS
        --batch-size 4 --seq-len 32 --lr 1e-2 --warmup 5 --eval-every 10 --checkpoint-every 1
        --keep 2 --deterministic)
losses() { grep -o '"loss_hex":"[^"]*","lr":[^,]*,"step":[0-9]*' "$1/metrics.jsonl" || true; }

"$M" "${COMMON[@]}" --out full >/dev/null

kills=0
in_save=0
for attempt in $(seq 1 12); do
  # Started directly (not via a function) so $! is masque itself.
  "$M" "${COMMON[@]}" --out killed --resume >/dev/null 2>&1 &
  pid=$!
  # 20..300 ms: long enough for a few steps, short enough to land anywhere.
  sleep "0.$(printf '%03d' $(( (RANDOM % 280) + 20 )))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  # A temporary checkpoint directory left behind means the kill hit a save.
  if ls -a killed/checkpoints 2>/dev/null | grep -q '^\.step-'; then in_save=$((in_save + 1)); fi
  if [ -d killed/checkpoints ] && ls killed/checkpoints | grep -q '^step-'; then
    # The newest complete checkpoint must load and generate.
    "$M" --quiet --threads 1 sample --model killed --prompt "Ada" --max-tokens 4 --temperature 0 \
      >/dev/null 2>err.txt || { echo "FAIL: checkpoint unloadable after kill $attempt"; cat err.txt; exit 1; }
  fi
done
echo "killed $kills times, $in_save of them during a checkpoint save"
out=$("$M" "${COMMON[@]}" --out killed --resume 2>&1 || true)
if ! ls killed/checkpoints | grep -q "^step-$STEPS\$"; then
  # Killed runs may already have finished; then --resume reports the run is complete.
  echo "FAIL: no final checkpoint after resume: $out"; exit 1
fi
if [ "$(losses full)" != "$(losses killed)" ]; then
  echo "FAIL: resumed losses differ from the uninterrupted run"
  diff <(losses full) <(losses killed) | head -20
  exit 1
fi
[ "$(losses full | wc -l)" -eq $STEPS ] || { echo "FAIL: expected $STEPS train lines"; exit 1; }
cmp full/checkpoints/step-$STEPS/model.safetensors killed/checkpoints/step-$STEPS/model.safetensors \
  || { echo "FAIL: final weights differ"; exit 1; }
# No temporaries left behind by interrupted saves.
if ls -a killed/checkpoints | grep -q '^\.step-'; then echo "FAIL: stale temporary checkpoint"; exit 1; fi
echo "OK: $kills kills, resumed run identical to the uninterrupted one"
