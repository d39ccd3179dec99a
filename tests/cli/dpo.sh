#!/usr/bin/env bash
# `masque dpo` end to end on a tiny model: a run (full and LoRA) with the
# DPO metrics in metrics.jsonl, --resume of a finished run refused, and bad
# input (chosen == rejected, a prompt ending in an assistant turn, an empty
# set, a reference of another config) refused with exit 1, the line and field
# named, and nothing written.
# Usage: bash dpo.sh /path/to/masque
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
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0 >/dev/null || fail tokenize
"$M" --quiet --threads 1 train --depth 1 --seq-len 128 --batch-size 2 --steps 2 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"
"$M" --quiet --threads 1 train --depth 2 --seq-len 32 --batch-size 2 --steps 1 --eval-every 0 \
  --data data --tokenizer tok.json --out deeper >/dev/null || fail "pretrain deeper"

P='"prompt": [{"role": "user", "content": "Where does the river go?"}]'
for i in 1 2 3; do
  echo "{$P, \"chosen\": [{\"role\": \"assistant\", \"content\": \"To town $i.\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Orin asks.\"}]}"
done > prefs.jsonl

"$M" --quiet --threads 1 dpo --base base --data prefs.jsonl --out run --batch-size 3 --steps 3 \
  --lr 0.003 --json > dpo.json || fail "dpo"
grep -q '"pairs":3' dpo.json || { cat dpo.json; fail "dpo summary"; }
[ -f run/checkpoints/step-3/model.safetensors ] || fail "dpo checkpoint"
[ "$(grep -c '"reward_margin"' run/metrics.jsonl)" -eq 3 ] || { cat run/metrics.jsonl; fail "dpo metrics"; }
grep -q '"loss_hex":"0x' run/metrics.jsonl || fail "dpo metrics lack loss_hex"
"$M" --quiet --threads 1 dpo --base base --data prefs.jsonl --out lora --steps 2 --lora-rank 2 \
  >/dev/null || fail "lora dpo"
[ -f lora/checkpoints/step-2/adapter_config.json ] || fail "lora adapter"
expect_error "resume a complete run" "already at step 3" -- \
  "$M" --quiet dpo --base base --data prefs.jsonl --out run --batch-size 3 --steps 3 --lr 0.003 --resume

echo "{$P, \"chosen\": [{\"role\": \"assistant\", \"content\": \"Same.\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Same.\"}]}" > same.jsonl
expect_error "chosen == rejected" 'line 1 of same.jsonl: "chosen" and "rejected" are the same reply' -- \
  "$M" --quiet dpo --base base --data same.jsonl --out bad1
[ ! -e bad1 ] || fail "output written for bad data"
echo '{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}' > ends.jsonl
expect_error "prompt ends in assistant" 'field "prompt": ends in an assistant turn' -- \
  "$M" --quiet dpo --base base --data ends.jsonl --out bad2
printf '\n\n' > empty.jsonl
expect_error "empty set" "holds no pairs" -- "$M" --quiet dpo --base base --data empty.jsonl --out bad3
expect_error "reference of another config" "has another model config" -- \
  "$M" --quiet dpo --base base --ref deeper --data prefs.jsonl --out bad4
[ ! -e bad4 ] || fail "output written for a mismatched reference"
expect_error "bad loss" "is not a DPO loss" -- \
  "$M" --quiet dpo --base base --data prefs.jsonl --out bad5 --loss hinge
# World-generated pairs (`world chats --kind preference`) train as they are.
cat > world_spec.json <<'JSON'
{"characters": 8, "documents": {"story": 20, "dialogue": 20, "interview": 40, "news": 10, "ai_story": 5},
 "biographies_per_character": 1, "eval_documents": 8}
JSON
"$M" --quiet world generate --spec world_spec.json --seed 2 --out w >/dev/null || fail "world generate"
"$M" --quiet world chats --world w --kind preference --trait kindness --pole 1 --count 6 --turns 2 \
  --out wprefs.jsonl --json > wprefs.json || fail "world preference set"
python3 -c "
import json
info = json.load(open('wprefs.json'))
assert info['candidates'] == 6 and info['pairs'] + info['dropped_unreadable'] + info['dropped_not_ordered'] == 6, info
lines = [json.loads(l) for l in open('wprefs.jsonl')]
assert len(lines) == info['pairs'] > 0
for l in lines:
    assert l['prompt'][-1]['role'] == 'user' and l['chosen'] != l['rejected'], l
" || { cat wprefs.json; fail "world preference pairs"; }
"$M" --quiet --threads 1 dpo --base base --data wprefs.jsonl --out wrun --steps 1 >/dev/null \
  || fail "dpo on world pairs"
expect_error "preference set, bad trait" "unknown trait 'nope'" -- \
  "$M" --quiet world chats --world w --kind preference --trait nope --pole 1 --out wbad.jsonl
[ ! -e wbad.jsonl ] || fail "output written for a bad trait"
echo "all dpo checks passed"
