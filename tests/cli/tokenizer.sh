#!/usr/bin/env bash
# End-to-end: masque tokenizer train/encode/decode/info, tokenize, inspect, and
# the bad-input contract (clear error, exit 1, no partial output files).
set -euo pipefail
M="$1"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_error "needle" cmd...: must exit 1 and print an error containing needle.
expect_error() {
  local needle="$1"; shift
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq 1 ] || fail "expected exit 1 from: $* (got $rc)"
  grep -q -- "$needle" err.txt || fail "error of '$*' lacks '$needle': $(cat err.txt)"
}

for i in $(seq 1 300); do
  printf '{"text": "Document %d: the persona said it'"'"'s %d%% sure. 日本語 😀 café\\n\\tindented line"}\n' "$i" "$((i * 37))"
done > corpus.jsonl
printf 'A plain text document.\nWith two lines.\n' > plain.txt

"$M" --quiet tokenizer train --input corpus.jsonl plain.txt --vocab-size 400 --out tok.json
"$M" --quiet tokenizer train --input 'corpus*.jsonl' plain.txt --vocab-size 400 --out tok2.json
cmp -s tok.json tok2.json || fail "training is not byte-identical"
"$M" tokenizer info tok.json --json | grep -q '"vocab_size":' || fail "info --json"

ids="$("$M" tokenizer encode --tokenizer tok.json --text "it's 12345 日本語 😀")"
[ -n "$ids" ] || fail "encode printed nothing"
back="$("$M" tokenizer decode --tokenizer tok.json --ids "$ids")"
[ "$back" = "it's 12345 日本語 😀" ] || fail "decode(encode(x)) != x: '$back'"
"$M" tokenizer encode --tokenizer tok.json --input corpus.jsonl --json > enc.txt
[ "$(wc -l < enc.txt)" -eq 300 ] && head -1 enc.txt | grep -q '^\[' || fail "encode --json"

"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out shards --shard-tokens 2000 --val-fraction 0.02 --json > stats.json
grep -q '"documents":300' stats.json || fail "tokenize stats: $(cat stats.json)"
[ -f shards/meta.json ] && [ -f shards/train_000000.bin ] && [ -f shards/train_000001.bin ] && [ -f shards/val_000000.bin ] \
  || fail "expected train/val shards and meta.json: $(ls shards)"
"$M" inspect shards/train_000000.bin --tokenizer tok.json > inspect.txt
grep -q "MASQSHRD" inspect.txt && grep -q "documents" inspect.txt && grep -q "Document" inspect.txt \
  || fail "inspect output: $(cat inspect.txt)"
"$M" inspect shards/val_000000.bin --json | grep -q '"num_tokens":' || fail "inspect --json"

# Bad input: clear errors naming the file, exit 1, nothing half-written.
expect_error "does not exist" "$M" --quiet tokenizer train --input missing.txt --vocab-size 400 --out bad.json
: > empty.txt
expect_error "empty" "$M" --quiet tokenizer train --input empty.txt --vocab-size 400 --out bad.json
expect_error "263" "$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 100 --out bad.json
[ ! -e bad.json ] || fail "bad.json was left behind"
printf '{"text": "ok"}\n{"text": 5}\n' > broken.jsonl
expect_error "line 2 of broken.jsonl" "$M" --quiet tokenize --tokenizer tok.json --input broken.jsonl --out badshards
[ ! -e badshards ] || fail "partial shard directory left behind"
ls -a | grep -q '\.tmp' && fail "temporary files left behind: $(ls -a)"
printf '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}' > wordpiece.json
expect_error "WordPiece" "$M" tokenizer encode --tokenizer wordpiece.json --text hi
printf '{"version": ' > corrupt.json
expect_error "corrupt.json" "$M" tokenizer encode --tokenizer corrupt.json --text hi
head -c 100 shards/train_000000.bin > truncated.bin
expect_error "truncated" "$M" inspect truncated.bin
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out other.json
expect_error "different tokenizer" "$M" inspect shards/train_000000.bin --tokenizer other.json
echo "tokenizer CLI tests passed"
