#!/usr/bin/env bash
# Issue 16, items 1-5 and 9 end to end: every user error exits 1 with a
# message (argument-parser errors, JSON numbers beyond a double, integers
# that would wrap or counts without bound, an unusable --out found before the
# work), JSON output survives invalid UTF-8, `train --resume` continues with
# the run's own settings, and a damaged checkpoint is refused with the reason.
# (tests/cli/hardening.sh covers items 7, 8 and 10.)
# Usage: bash user_errors.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# expect_error NAME PATTERN -- command...: exit status 1 and stderr matching PATTERN.
# --- argument-parser errors exit 1 (CLI11 returned 104-114); help stays 0.
expect_error "unknown flag" "bogus" -- "$M" version --bogus
expect_error "no subcommand" "subcommand" -- "$M"
expect_error "missing required flag" "--out" -- "$M" world generate
expect_error "flag value of the wrong type" "--steps" -- "$M" train --data d --out o --steps many
"$M" --help >/dev/null 2>&1 || fail "masque --help exits $?"
"$M" train --help >/dev/null 2>&1 || fail "masque train --help exits $?"
echo "ok: --help exits 0"

# --- JSON numbers: beyond a double, or an integer that would wrap.
echo '{"ai_fraction": 1e400}' > huge.json
expect_error "1e400 in a spec" "huge.json" -- "$M" --quiet world generate --spec huge.json --out w1
echo '{"characters": 4294967304}' > wrap.json
expect_error "integer that wraps to 8" "'characters' is out of range" -- \
  "$M" --quiet world generate --spec wrap.json --out w2
echo '{"documents": {"story": 4000000000}}' > wrap2.json
expect_error "integer that wraps negative" "'story' is out of range" -- \
  "$M" --quiet world generate --spec wrap2.json --out w3
echo '{"documents": {"story": 900000000}}' > big.json
expect_error "document count without bound" "documents.story must be between 0 and" -- \
  "$M" --quiet world generate --spec big.json --out w4
[ ! -e w1 ] && [ ! -e w2 ] && [ ! -e w3 ] && [ ! -e w4 ] || fail "a refused spec wrote output"

# --- an unusable --out is refused before any work (was exit 2 after it).
touch afile
expect_error "eval --out is a file" "--out afile" -- \
  "$M" --quiet eval persona --model nowhere --world nowhere --out afile
expect_error "sft --out under a file" "not a directory" -- \
  "$M" --quiet sft --base nowhere --data nowhere --out afile/run
expect_error "experiment --out is a file" "--out afile" -- \
  "$M" --quiet experiment run e3 --out afile
expect_error "demo --out is a file" "--out afile" -- "$M" --quiet demo --out afile

# --- a tiny run for resume and JSON-output checks.
for doc in $(seq 1 120); do
  printf '{"text": "Ada %s the cat. Bo sees %s red balls. Cy finds tea number %s."}\n' \
    "$([ $((doc % 2)) -eq 0 ] && echo likes || echo helps)" "$doc" "$((doc * 7))"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null 2>&1 || fail "tokenizer"
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data >/dev/null || fail "tokenize"
TRAIN=(--quiet --threads 1 train --depth 1 --seq-len 16 --batch-size 2 --eval-every 0)
"$M" "${TRAIN[@]}" --data data --tokenizer tok.json --out run --steps 4 --warmup 3 --lr 0.005 \
  --checkpoint-every 2 >/dev/null 2>err.txt || { cat err.txt; fail "train"; }
LR_LINE=$(grep '"lr":' run/run.json)

# Flags left out take the run's values (leaving out --warmup used to mean 50).
"$M" "${TRAIN[@]}" --data data --out run --resume --steps 6 >/dev/null 2>err.txt \
  || { cat err.txt; fail "resume with flags left out"; }
grep -q '"warmup_steps": 3' run/run.json || fail "resume did not keep the run's --warmup"
[ "$(grep '"lr":' run/run.json)" = "$LR_LINE" ] || fail "resume did not keep the run's --lr"
echo "ok: resume keeps the run's settings"
expect_error "resume with a changed flag" "--warmup: the run used 3, now 5" -- \
  "$M" "${TRAIN[@]}" --data data --out run --resume --steps 8 --warmup 5
"$M" "${TRAIN[@]}" --data data --out run --resume --steps 8 --warmup 5 --force >/dev/null 2>err.txt \
  || { cat err.txt; fail "--force did not accept the changed flag"; }
grep -q "changed setting" err.txt || fail "--force gave no warning"
echo "ok: --force"

# JSON output with a path that is not UTF-8 (was: internal error, exit 2).
BAD=$'run-\xff'
"$M" "${TRAIN[@]}" --data data --tokenizer tok.json --out "$BAD" --steps 1 --json >json.txt 2>err.txt \
  || { cat err.txt; fail "train --json with a non-UTF-8 --out"; }
grep -q $'\xef\xbf\xbd' json.txt || fail "invalid byte not written as U+FFFD"
echo "ok: invalid UTF-8 in JSON output"

# A checkpoint damaged after the save is refused with the reason.
cp -r run run2
for d in run2/checkpoints/step-*; do [ "$d" = run2/checkpoints/step-8 ] || rm -rf "$d"; done
OPT=run2/checkpoints/step-8/optimizer.safetensors
printf '\x01' | dd of="$OPT" bs=1 seek=$(($(stat -c %s "$OPT") - 3)) conv=notrunc 2>/dev/null
expect_error "damaged checkpoint" "optimizer.safetensors does not match its checksum" -- \
  "$M" "${TRAIN[@]}" --data data --out run2 --resume --steps 10
echo "OK"
