#!/usr/bin/env bash
# `masque train --dtype bf16` (mixed precision, docs/training.md): the loss
# tracks a float32 run of the same seed within a small tolerance (and is not
# identical to it: the bf16 products really run), the dtype is saved with the
# run and kept on resume (a bit-identical continuation at fixed threads), a
# changed --dtype on resume is refused, and a CPU without AVX512_BF16 gets an
# error naming the feature (simulated with MASQUE_CPU_FEATURES_OFF).
# Usage: bash train_bf16.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "$0")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

for doc in $(seq 1 200); do
  line=""
  for s in 1 2 3 4 5 6 7 8; do
    names=(Ada Bo Cy Dee Eve); verbs=(likes sees helps finds); things=("the cat" "a red ball" "the old tree" "some tea")
    line+="${names[$(( (doc * 7 + s * 3) % 5 ))]} ${verbs[$(( (doc + s * 5) % 4 ))]} ${things[$(( (doc * s) % 4 ))]}. "
  done
  printf '{"text": "%s"}\n' "$line"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null ||
  fail "tokenizer train"
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0.1 \
  >/dev/null || fail "tokenize"

STEPS=40
COMMON=(--quiet --threads 2 train --depth 2 --tokenizer tok.json --data data --steps $STEPS
        --batch-size 8 --seq-len 64 --lr 1e-2 --warmup 5 --eval-every 0 --checkpoint-every 20
        --deterministic)

expect_error "unknown dtype" "unknown --dtype 'fp8'" -- "$M" "${COMMON[@]}" --out bad --dtype fp8
MASQUE_CPU_FEATURES_OFF=avx512_bf16 expect_error "CPU without AVX512_BF16" "AVX512_BF16" -- \
  "$M" "${COMMON[@]}" --out nobf16 --dtype bf16
[ ! -e nobf16 ] || fail "the refused run wrote its directory"

if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  expect_error "this CPU lacks AVX512_BF16" "AVX512_BF16" -- "$M" "${COMMON[@]}" --out b --dtype bf16
  echo "OK (this CPU has no avx512_bf16: only the error paths were checked)"
  exit 0
fi

"$M" "${COMMON[@]}" --out f32 >/dev/null || fail "f32 run"
"$M" "${COMMON[@]}" --out bf16 --dtype bf16 >/dev/null || fail "bf16 run"
grep -q '"dtype": *"bf16"' bf16/checkpoints/step-$STEPS/trainer_state.json ||
  fail "trainer_state.json does not record dtype bf16"

# Loss curves. The first steps show the bf16 products' rounding directly
# (within 0.5% of float32; a wrong product or gradient is far off by step 2);
# later the two trajectories drift apart the way any perturbed run does at
# this learning rate, so the whole curve is held to 6% on average and the
# final loss to 10%. Identical curves would mean the bf16 path never ran.
"${PYTHON:-python3}" - f32/metrics.jsonl bf16/metrics.jsonl <<'PY'
import json, sys
def losses(path):
    return [r["loss"] for r in map(json.loads, open(path)) if r.get("type", "train") == "train" and "loss" in r]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert len(a) == len(b) == 40, (len(a), len(b))
rel = [abs(x - y) / x for x, y in zip(a, b)]
mean = sum(rel) / len(rel)
print(f"f32 {a[0]:.4f} -> {a[-1]:.4f}, bf16 {b[0]:.4f} -> {b[-1]:.4f}, "
      f"relative difference: first 3 steps max {max(rel[:3]):.4f}, mean {mean:.4f}, max {max(rel):.4f}")
assert a != b, "bf16 losses identical to float32: the bf16 path did not run"
assert max(rel[:3]) < 0.005, f"bf16 loss off float32 by {max(rel[:3]):.4f} in the first steps"
assert mean < 0.06, f"bf16 loss off float32 by {mean:.4f} on average"
assert rel[-1] < 0.10, f"bf16 final loss off float32 by {rel[-1]:.4f}"
assert b[-1] < 0.6 * b[0], "bf16 run did not learn"
PY
[ $? -eq 0 ] || fail "bf16 loss curve"

# Resume: drop the final checkpoint and continue without --dtype (the run's
# saved bf16 applies); the final weights must match the uninterrupted run.
cp -r bf16 resumed
rm -rf resumed/checkpoints/step-$STEPS
"$M" "${COMMON[@]}" --out resumed --resume >/dev/null || fail "bf16 resume"
cmp bf16/checkpoints/step-$STEPS/model.safetensors resumed/checkpoints/step-$STEPS/model.safetensors ||
  fail "bf16 resume is not bit-identical to the uninterrupted run"

rm -rf resumed/checkpoints/step-$STEPS
expect_error "dtype changed on resume" "--dtype: the run used" -- \
  "$M" "${COMMON[@]}" --out resumed --resume --dtype f32
echo "OK: bf16 tracks float32, resumes bit-identically, errors are clear"
