#!/usr/bin/env bash
# `masque train` / `masque sample` on bad input: each case must exit 1 with a
# message naming the cause, and leave nothing half-written.
# Usage: bash train_bad_input.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# expect_error NAME PATTERN -- command...: exit status 1 and stderr matching PATTERN.
for doc in $(seq 1 120); do
  printf '{"text": "Ada %s the cat. Bo sees %s red balls. Cy finds tea number %s."}\n' \
    "$([ $((doc % 2)) -eq 0 ] && echo likes || echo helps)" "$doc" "$((doc * 7))"
done > corpus.jsonl
VOCAB=$("$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json --json \
  | grep -o '"vocab_size":[0-9]*' | cut -d: -f2) || fail "tokenizer"
[ -n "$VOCAB" ] || fail "no vocab size from tokenizer train --json"
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 280 --out other_tok.json >/dev/null || fail "tokenizer 2"
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0.1 >/dev/null || fail "tokenize"

config() {  # config HIDDEN HEADS KV
  cat <<JSON
{"vocab_size": $VOCAB, "hidden_size": $1, "intermediate_size": 64, "num_hidden_layers": 1,
 "num_attention_heads": $2, "num_key_value_heads": $3, "max_position_embeddings": 32,
 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true,
 "bos_token_id": 0, "eos_token_id": 1}
JSON
}
config 30 4 4 > bad_width.json
config 32 4 3 > bad_kv.json
config 32 4 2 > good.json
config 32 4 1 > other.json
TRAIN=(--quiet --threads 1 train --batch-size 2 --seq-len 16
       --eval-every 0)
D=(--data data --tokenizer tok.json --steps 4 --checkpoint-every 2)

expect_error "width not divisible by heads" "hidden_size" -- "$M" "${TRAIN[@]}" --config bad_width.json "${D[@]}" --out r1
[ ! -e r1/checkpoints ] || fail "checkpoints written for a bad config"
expect_error "kv heads not dividing heads" "num_key_value_heads" -- "$M" "${TRAIN[@]}" --config bad_kv.json "${D[@]}" --out r2
expect_error "shards from another tokenizer" "different tokenizer" -- \
  "$M" "${TRAIN[@]}" --data data --config good.json --out r3 --tokenizer other_tok.json
expect_error "missing data" "does not exist" -- "$M" "${TRAIN[@]}" --config good.json --tokenizer tok.json --data nowhere --out r4

"$M" "${TRAIN[@]}" "${D[@]}" --config good.json --out run >/dev/null 2>&1 || fail "good run"
expect_error "fresh run into a used directory" "already holds a run" -- "$M" "${TRAIN[@]}" "${D[@]}" --config good.json --out run
expect_error "resume with another config" "num_key_value_heads" -- \
  "$M" "${TRAIN[@]}" --data data --tokenizer tok.json --config other.json --out run --resume --steps 6
if command -v flock >/dev/null; then  # flock(1) holds train.lock as a running trainer would
  expect_error "second trainer in a locked run dir" "another training run" -- \
    flock run/train.lock "$M" "${TRAIN[@]}" "${D[@]}" --config good.json --out run --resume
  [ "$(ls run/checkpoints)" = "$(printf 'step-2\nstep-4')" ] || fail "a refused trainer touched the checkpoints"
fi

# Corrupt and truncated weights are refused with the file named.
cp -r run/checkpoints/step-4 broken
head -c 100 run/checkpoints/step-4/model.safetensors > broken/model.safetensors
expect_error "truncated safetensors" "model.safetensors" -- "$M" --quiet sample --model broken --prompt Ada
printf '\xff\xff\xff\xff\xff\xff\xff\xff{}' > broken/model.safetensors
expect_error "huge header length" "exceeds the limit" -- "$M" --quiet sample --model broken --prompt Ada
expect_error "init from a broken directory" "not a valid safetensors" -- \
  "$M" "${TRAIN[@]}" "${D[@]}" --init-from broken --out r5
[ ! -e r5 ] || fail "a refused --init-from left a run directory behind"
expect_error "not a model directory" "no config.json" -- "$M" --quiet sample --model data --prompt Ada

# Divergence: stop with a clear message, keep the last good checkpoint.
expect_error "non-finite loss" "diverged" -- "$M" "${TRAIN[@]}" --data data --tokenizer tok.json --config good.json --out nan --steps 30 \
  --lr 1e30 --schedule constant --warmup 0 --grad-clip 0 --checkpoint-every 1
"$M" --quiet sample --model nan --prompt Ada --max-tokens 2 >/dev/null 2>&1 || fail "last good checkpoint unloadable"
if ls -a nan/checkpoints | grep -q '^\.step-'; then fail "temporary checkpoint left behind"; fi
echo "OK"
