#!/usr/bin/env bash
# `masque sft --dtype bf16` (and dpo's flag, which shares the plumbing):
# mixed-precision fine-tuning whose loss stays close to a float32 run of the
# same seed (and is not identical: the bf16 products really run), the dtype
# saved with the run, a bit-identical resume that keeps it, a changed --dtype
# on resume refused, and a CPU without AVX512_BF16 refused by name
# (simulated with MASQUE_CPU_FEATURES_OFF) before anything is written.
# Usage: bash sft_bf16.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
for i in $(seq 1 80); do
  printf '{"text": "Orin asks where the river goes. Ada says the river goes to town %s."}\n' "$i"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null || fail tokenizer
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0 >/dev/null ||
  fail tokenize
"$M" --quiet --threads 2 train --depth 2 --seq-len 48 --batch-size 4 --steps 3 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"
for i in $(seq 1 12); do
  echo "{\"messages\": [{\"role\": \"user\", \"content\": \"Where does the river go $i?\"}, {\"role\": \"assistant\", \"content\": \"The river goes to town $i.\"}]}"
done > chats.jsonl

STEPS=12
SFT=(--quiet --threads 2 sft --base base --data chats.jsonl --seq-len 48 --batch-size 4 --steps $STEPS
     --lr 3e-3 --warmup 2 --checkpoint-every 6)

expect_error "unknown dtype" "unknown --dtype 'fp8'" -- "$M" "${SFT[@]}" --out bad --dtype fp8
[ ! -e bad ] || fail "the refused run wrote its directory"
MASQUE_CPU_FEATURES_OFF=avx512_bf16 expect_error "CPU without AVX512_BF16" "AVX512_BF16" -- \
  "$M" "${SFT[@]}" --out nobf16 --dtype bf16
[ ! -e nobf16 ] || fail "the refused run wrote its directory"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  expect_error "this CPU lacks AVX512_BF16" "AVX512_BF16" -- "$M" "${SFT[@]}" --out b --dtype bf16
  echo "OK (this CPU has no avx512_bf16: only the error paths were checked)"
  exit 0
fi

"$M" "${SFT[@]}" --out f32 >/dev/null || fail "f32 sft"
"$M" "${SFT[@]}" --out bf16 --dtype bf16 >/dev/null || fail "bf16 sft"
grep -q '"dtype": *"bf16"' bf16/checkpoints/step-$STEPS/trainer_state.json ||
  fail "trainer_state.json does not record dtype bf16"

# The first step shows the bf16 rounding directly (a wrong product or
# gradient would be far off); the curve stays within a few percent.
"${PYTHON:-python3}" - f32/metrics.jsonl bf16/metrics.jsonl "$STEPS" <<'PY'
import json, sys
def losses(path):
    return [r["loss"] for r in map(json.loads, open(path)) if r.get("type", "train") == "train" and "loss" in r]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert len(a) == len(b) == int(sys.argv[3]), (len(a), len(b))
rel = [abs(x - y) / x for x, y in zip(a, b)]
print(f"f32 {a[0]:.4f} -> {a[-1]:.4f}, bf16 {b[0]:.4f} -> {b[-1]:.4f}, "
      f"relative difference: first step {rel[0]:.4f}, max {max(rel):.4f}")
assert a != b, "bf16 losses identical to float32: the bf16 path did not run"
assert rel[0] < 0.005, f"bf16 loss off float32 by {rel[0]:.4f} at the first step"
assert max(rel) < 0.08, f"bf16 loss off float32 by {max(rel):.4f}"
assert b[-1] < 0.8 * b[0], "bf16 sft did not learn"
PY
[ $? -eq 0 ] || fail "bf16 sft loss curve"

# Resume (sft takes every setting from its flags, --dtype too): bit-identical.
cp -r bf16 resumed
rm -rf resumed/checkpoints/step-$STEPS
"$M" "${SFT[@]}" --out resumed --resume --dtype bf16 >/dev/null || fail "bf16 sft resume"
cmp bf16/checkpoints/step-$STEPS/model.safetensors resumed/checkpoints/step-$STEPS/model.safetensors ||
  fail "bf16 sft resume is not bit-identical to the uninterrupted run"
rm -rf resumed/checkpoints/step-$STEPS
expect_error "dtype changed on resume" "--dtype: the run used \"bf16\", now \"f32\"" -- \
  "$M" "${SFT[@]}" --out resumed --resume --dtype f32
cp -r f32 f32_resumed
rm -rf f32_resumed/checkpoints/step-$STEPS
expect_error "dtype changed on resume (f32 run)" "--dtype: the run used \"f32\", now \"bf16\"" -- \
  "$M" "${SFT[@]}" --out f32_resumed --resume --dtype bf16

# dpo shares the flag: it is validated before anything is written.
P='"prompt": [{"role": "user", "content": "Where does the river go?"}]'
for i in 1 2 3; do
  echo "{$P, \"chosen\": [{\"role\": \"assistant\", \"content\": \"To town $i.\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Orin asks.\"}]}"
done > prefs.jsonl
MASQUE_CPU_FEATURES_OFF=avx512_bf16 expect_error "dpo on a CPU without AVX512_BF16" "AVX512_BF16" -- \
  "$M" --quiet dpo --base base --data prefs.jsonl --out dpo_nobf16 --dtype bf16
[ ! -e dpo_nobf16 ] || fail "the refused dpo run wrote its directory"
"$M" --quiet --threads 2 dpo --base base --data prefs.jsonl --out dpo_bf16 --dtype bf16 --steps 2 \
  >/dev/null || fail "bf16 dpo"
grep -q '"dtype": *"bf16"' dpo_bf16/checkpoints/step-2/trainer_state.json ||
  fail "dpo trainer_state.json does not record dtype bf16"
echo "OK: sft/dpo --dtype bf16 track float32, resume bit-identically, errors are clear"
