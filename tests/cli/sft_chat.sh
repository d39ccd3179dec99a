#!/usr/bin/env bash
# `masque sft` and `masque chat` end to end on a tiny model: SFT on chat JSONL
# (full and LoRA), chat in JSONL and interactive modes, and bad input refused
# with the line named and nothing written. SFT shares pretraining's loop:
# loss_hex in metrics.jsonl, the RUN_DIR lock, the divergence message.
# Usage: bash sft_chat.sh /path/to/masque
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
"$M" --quiet --threads 1 train --depth 1 --seq-len 32 --batch-size 2 --steps 3 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"

for i in $(seq 1 10); do
  echo '{"messages": [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Where does the river go?"}, {"role": "assistant", "content": "The river goes to town 7."}]}'
done > chats.jsonl

"$M" --quiet --threads 1 sft --base base --data chats.jsonl --out sft --seq-len 32 --batch-size 2 \
  --steps 4 --lr 0.01 --json > sft.json || fail "sft"
grep -q '"conversations":10' sft.json || { cat sft.json; fail "sft summary"; }
[ -f sft/checkpoints/step-4/model.safetensors ] || fail "sft checkpoint"
grep -q chat_template sft/checkpoints/step-4/tokenizer_config.json || fail "chat_template missing"
[ "$(grep -c '"loss_hex":"0x' sft/metrics.jsonl)" -eq 4 ] || { cat sft/metrics.jsonl; fail "sft metrics lack loss_hex"; }

"$M" --quiet --threads 1 sft --base base --data chats.jsonl --out lora --seq-len 32 --batch-size 2 \
  --steps 3 --lora-rank 2 --lora-targets q_proj,v_proj >/dev/null || fail "lora sft"
[ -f lora/checkpoints/step-3/lora.safetensors ] || fail "lora adapter"

echo '{"messages": [{"role": "user", "content": "Where does the river go?"}]}' > ask.jsonl
"$M" --quiet chat --model sft --jsonl --max-tokens 8 --temperature 0 < ask.jsonl > reply.jsonl || fail "chat jsonl"
python3 -c "import json,sys; d=json.loads(open('reply.jsonl').read()); assert 'reply' in d and d['messages'][-1]['role']=='assistant'" \
  || { cat reply.jsonl; fail "chat jsonl output"; }
printf '/system Be brief.\nWhere does the river go?\n/save conv.json\n/reset\n/quit\n' \
  | "$M" --quiet chat --model sft --max-tokens 4 --temperature 0 > chat_out.txt 2> chat_err.txt || fail "chat interactive"
python3 -c "import json; d=json.load(open('conv.json')); r=[m['role'] for m in d['messages']]; assert r==['system','user','assistant'], r" \
  || fail "/save content"

echo '{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}' > bad_role.jsonl
expect_error "unknown role" "line 1 of bad_role.jsonl, message 1: unknown role 'wizard'" -- \
  "$M" --quiet sft --base base --data bad_role.jsonl --out bad1
[ ! -e bad1 ] || fail "output written for bad data"
printf '{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [{"role": "user"}]}\n' > no_content.jsonl
expect_error "missing content" "line 2 of no_content.jsonl, message 0: missing required field 'content'" -- \
  "$M" --quiet sft --base base --data no_content.jsonl --out bad2
echo '{"messages": [{"role": "user", "content": ""}]}' > empty.jsonl
expect_error "empty content" "content is empty" -- "$M" --quiet sft --base base --data empty.jsonl --out bad3
echo 'not json' > broken.jsonl
expect_error "malformed JSON" "line 1 of broken.jsonl is not valid JSON" -- \
  "$M" --quiet sft --base base --data broken.jsonl --out bad4
expect_error "unknown LoRA target" "unknown LoRA target module 'wizard'" -- \
  "$M" --quiet sft --base base --data chats.jsonl --out bad5 --lora-rank 2 --lora-targets wizard
[ ! -e bad5/checkpoints ] || fail "checkpoints for a bad LoRA target"
expect_error "sft into a used run dir" "already holds a run" -- \
  "$M" --quiet sft --base base --data chats.jsonl --out sft --seq-len 32 --steps 4
# The RUN_DIR lock: flock(1) holds train.lock as a running trainer would.
if command -v flock >/dev/null; then
  mkdir locked
  expect_error "sft while another run holds the lock" "another training run" -- \
    flock locked/train.lock "$M" --quiet sft --base base --data chats.jsonl --out locked --seq-len 32 --steps 2
  [ -z "$(ls locked | grep -v train.lock)" ] || { ls locked; fail "a refused sft wrote into the run dir"; }
else
  echo "skip: flock(1) not installed"
fi
# Divergence: pretraining's message, the last good checkpoint kept and loadable.
expect_error "sft divergence" "training diverged: the .* is .* at step [0-9]*; the last good checkpoint .* is kept. Lower --lr" -- \
  "$M" --quiet --threads 1 sft --base base --data chats.jsonl --out nan --seq-len 32 --batch-size 2 --steps 10 \
  --lr 1e30 --schedule constant --warmup 0 --grad-clip 0 --checkpoint-every 1
"$M" --quiet sample --model nan --prompt Ada --max-tokens 2 >/dev/null 2>&1 || fail "diverged sft: last checkpoint unloadable"
STDIN=bad_role.jsonl expect_error "chat jsonl bad role" "stdin line 1" -- "$M" --quiet chat --model sft --jsonl
echo "all sft/chat checks passed"
