#!/usr/bin/env bash
# Issue 16 defects found by trying to break masque, end to end: `sft` holds
# the run-directory lock against a concurrent sft (item 7); no command writes
# onto one of its inputs or into a directory of another kind of artifact
# (item 8); inputs that used to be accepted silently are refused (item 10).
# Each refusal exits 1 with a message and leaves the inputs unchanged.
# Usage: bash hardening.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
BG=""
trap '[ -n "$BG" ] && kill "$BG" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
unchanged() {  # NAME FILE COPY
  cmp -s "$2" "$3" || fail "$1: $2 was changed"
}

for i in $(seq 1 80); do
  printf '{"text": "Orin asks where the river goes. Ada says the river goes to town %s."}\n' "$i"
done > corpus.jsonl
cp corpus.jsonl corpus.orig
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null || fail tokenizer
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0 >/dev/null || fail tokenize
"$M" --quiet --threads 1 train --depth 1 --seq-len 32 --batch-size 2 --steps 3 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"
for i in $(seq 1 10); do
  echo '{"messages": [{"role": "user", "content": "Where does the river go?"}, {"role": "assistant", "content": "The river goes to town 7."}]}'
done > chats.jsonl
SFT=(--quiet --threads 1 sft --base base --data chats.jsonl --seq-len 32 --batch-size 2)

# --- item 7: two concurrent sft runs on one --out
"$M" "${SFT[@]}" --steps 100000 --out shared >/dev/null 2>first_err.txt &
BG=$!
for _ in $(seq 1 600); do  # up to 60 s for the first run to be training
  [ -s shared/metrics.jsonl ] && break
  kill -0 "$BG" 2>/dev/null || { cat first_err.txt; fail "first sft died"; }
  sleep 0.1
done
[ -s shared/metrics.jsonl ] || fail "first sft never started training"
expect_error "second sft on a locked --out" "another training run" -- "$M" "${SFT[@]}" --steps 4 --out shared
expect_error "second sft --resume on a locked --out" "another training run" -- \
  "$M" "${SFT[@]}" --steps 4 --out shared --resume
kill -0 "$BG" 2>/dev/null || fail "the first sft stopped when the second was refused"
kill "$BG"; wait "$BG" 2>/dev/null; BG=""
python3 - <<'PY' || fail "metrics of the locked run were interleaved"
import json
steps = [json.loads(l)["step"] for l in open("shared/metrics.jsonl") if l.endswith("\n")]
assert steps == list(range(1, len(steps) + 1)), steps[:20]
PY

# --- item 8: output equal to an input, or a directory of another kind
expect_error "tokenizer train --out = --input" "is also an input" -- \
  "$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out corpus.jsonl
unchanged "tokenizer train" corpus.jsonl corpus.orig
expect_error "tokenizer train --out = --input via ./" "is also an input" -- \
  "$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out ./x/../corpus.jsonl
unchanged "tokenizer train" corpus.jsonl corpus.orig

"$M" --quiet world generate --out w >/dev/null || fail "world generate"
cp w/world.json world.orig
expect_error "world chats --out world.json" "is also an input" -- \
  "$M" --quiet world chats --world w --kind neutral --count 4 --out w/world.json
unchanged "world chats" w/world.json world.orig
expect_error "world chats --out = world.json given as --world" "is also an input" -- \
  "$M" --quiet world chats --world w/world.json --kind neutral --count 4 --out w/world.json
head -n 3 w/eval_pairs.jsonl > pairs.jsonl; cp pairs.jsonl pairs.orig
expect_error "world score --out = --input" "is also an input" -- \
  "$M" --quiet world score --world w --input pairs.jsonl --out pairs.jsonl
unchanged "world score" pairs.jsonl pairs.orig

mkdir D && cp corpus.jsonl D/corpus.jsonl
expect_error "tokenize --input D --out D" "" -- \
  "$M" --quiet tokenize --tokenizer tok.json --input D --out D
[ -f D/corpus.jsonl ] || fail "tokenize deleted its input directory"
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out S --val-fraction 0 >/dev/null || fail "tokenize S"
cp corpus.jsonl S/corpus.jsonl
expect_error "tokenize --input S/x --out S (an earlier shards dir)" "contains the input" -- \
  "$M" --quiet tokenize --tokenizer tok.json --input S/corpus.jsonl --out S
[ -f S/corpus.jsonl ] || fail "tokenize deleted an input inside --out"

TRAIN=(--quiet --threads 1 train --depth 1 --seq-len 32 --batch-size 2 --steps 2 --eval-every 0 --tokenizer tok.json)
expect_error "train --out = --data" "" -- "$M" "${TRAIN[@]}" --data data --out data
[ ! -e data/checkpoints ] || fail "train wrote checkpoints into the shards directory"
expect_error "train --out into a shards directory" "holds token shards" -- "$M" "${TRAIN[@]}" --data data --out S
expect_error "tokenize --out over a training run" "holds a training run" -- \
  "$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out base
[ -d base/checkpoints ] || fail "tokenize deleted a training run"
expect_error "world generate --out over a training run" "holds a training run" -- \
  "$M" --quiet world generate --out base
[ -d base/checkpoints ] || fail "world generate deleted a training run"
expect_error "sft --out = --base" "is also an input" -- "$M" "${SFT[@]}" --steps 2 --out base

CKPT=$(ls -d base/checkpoints/step-* | tail -n 1)
cp "$CKPT/model.safetensors" model.orig
printf '/save %s/model.safetensors\n/save %s/config.json\n/quit\n' "$CKPT" "$CKPT" \
  | "$M" --quiet chat --model base --max-tokens 2 --temperature 0 >chat_out.txt 2>chat_err.txt \
  || fail "chat exited nonzero"
[ "$(grep -c 'not a saved chat' chat_err.txt)" -eq 2 ] || { cat chat_err.txt; fail "/save onto model files not refused"; }
unchanged "chat /save" "$CKPT/model.safetensors" model.orig
printf 'hi\n/save conv.json\n/save conv.json\n/quit\n' \
  | "$M" --quiet chat --model base --max-tokens 2 --temperature 0 >/dev/null 2>chat_err.txt || fail "chat save"
grep -q 'not a saved chat' chat_err.txt && fail "/save refused to overwrite its own transcript"
[ -f conv.json ] || fail "/save wrote nothing"
echo "ok: chat /save"

# --- item 10: silently accepted inputs
expect_error "world score --input DIR" "is a directory" -- "$M" --quiet world score --world w --input w
: > empty.jsonl
expect_error "world score with no pairs" "holds no pairs" -- "$M" --quiet world score --world w --input empty.jsonl
expect_error "tokenizer encode --text and --input" "not both" -- \
  "$M" --quiet tokenizer encode --tokenizer tok.json --text hi --input corpus.jsonl
expect_error "sft --epochs inf" "--epochs" -- "$M" "${SFT[@]}" --epochs inf --out e1
[ ! -e e1 ] || fail "sft --epochs inf wrote a run"
expect_error "sft --lora-rank -1" "--lora-rank" -- "$M" "${SFT[@]}" --steps 2 --lora-rank -1 --out e2
[ ! -e e2 ] || fail "sft --lora-rank -1 wrote a run"

cp -r data bad_path && python3 - <<'PY'
import json
m = json.load(open("bad_path/meta.json"))
m["train"]["shards"][0]["file"] = "../data/" + m["train"]["shards"][0]["file"]
json.dump(m, open("bad_path/meta.json", "w"))
PY
expect_error "meta.json with a ../ path" "not a file name inside" -- "$M" "${TRAIN[@]}" --data bad_path --out r1
cp -r data bad_count && python3 - <<'PY'
import json
m = json.load(open("bad_count/meta.json"))
m["train"]["shards"][0]["tokens"] += 1
json.dump(m, open("bad_count/meta.json", "w"))
PY
expect_error "meta.json with a wrong token count" "lists" -- "$M" "${TRAIN[@]}" --data bad_count --out r2
echo "all hardening checks passed"
