#!/usr/bin/env bash
# `--interventions` on `masque sample`, `chat` and `debug forward`, and
# `sample --num-samples`, end to end on a tiny model: a large add at
# resid_post changes greedy output and alpha 0 leaves it bit-identical;
# project_out runs; N samples come from one prefill with seeds --seed + i;
# bad files and specs exit 1 with a message naming the file and entry and
# print nothing to stdout (the numerics are checked against transformers in
# tests/python/test_interventions_hf.py).
# Usage: bash interventions.sh /path/to/masque
set -uo pipefail
M="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"  # absolute: the test cds into a temp dir
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
expect_error() {  # NAME PATTERN -- command...
  local name="$1" pattern="$2"; shift 3
  "$@" >out.txt 2>err.txt < "${STDIN:-/dev/null}"
  local rc=$?
  [ $rc -eq 1 ] || { cat err.txt; fail "$name: exit $rc, expected 1"; }
  grep -qF -- "$pattern" err.txt || { cat err.txt; fail "$name: stderr lacks '$pattern'"; }
  [ ! -s out.txt ] || { cat out.txt; fail "$name: printed to stdout"; }
  echo "ok: $name"
}

for i in $(seq 1 80); do
  printf '{"text": "Orin asks where the river goes. Ada says the river goes to town %s."}\n' "$i"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null || fail tokenizer
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0 >/dev/null || fail tokenize
"$M" --quiet --threads 1 train --depth 1 --seq-len 32 --batch-size 4 --steps 10 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"

# Spec files, sized from the checkpoint's config (hidden_size, layers).
CONFIG="$(find base -name config.json | head -n 1)"
[ -n "$CONFIG" ] || fail "no config.json under base"
python3 - "$CONFIG" <<'PY' || fail "writing spec files"
import json, random, sys
cfg = json.load(open(sys.argv[1]))
d, last = cfg["hidden_size"], cfg["num_hidden_layers"] - 1
rng = random.Random(1)
v = [rng.gauss(0, 1) for _ in range(d)]
def dump(name, specs):
    json.dump(specs, open(name, "w"))
dump("steer.json", [{"site": "resid_post", "layer": last, "kind": "add", "vector": v, "alpha": 40}])
dump("steer0.json", [{"site": "resid_post", "layer": last, "kind": "add", "vector": v, "alpha": 0}])
dump("steer_resp.json", [{"site": "resid_post", "layer": last, "kind": "add", "vector": v, "alpha": 40,
                          "positions": "response"}])
dump("ablate.json", [{"site": "mlp_out", "layer": 0, "kind": "project_out", "vector": v},
                     {"site": "embed", "kind": "project_out", "vector": v, "positions": "prompt"}])
dump("observe.json", [{"site": "embed", "kind": "observe"},
                      {"site": "attn_out", "layer": last, "kind": "observe", "positions": [1, 2]}])
dump("short.json", [{"site": "embed", "kind": "add", "vector": [1.0, 2.0]}])
dump("layer.json", [{"site": "resid_post", "layer": 0, "kind": "add", "vector": v},
                    {"site": "resid_post", "layer": last + 1, "kind": "add", "vector": v}])
dump("zero.json", [{"site": "embed", "kind": "project_out", "vector": [0.0] * d}])
dump("site.json", [{"site": "resid_mid", "layer": 0, "kind": "add", "vector": v}])
dump("not_array.json", {"site": "embed", "kind": "add", "vector": v})
PY
echo '[{"site": "embed", "kind": "add", "vector": [1, 2' > broken.json

S=(--model base --prompt "Orin asks where" --temperature 0 --max-tokens 12 --ignore-eos)
plain="$("$M" --quiet sample "${S[@]}")" || fail "plain sample"
steered="$("$M" --quiet sample "${S[@]}" --interventions steer.json)" || fail "steered sample"
zero="$("$M" --quiet sample "${S[@]}" --interventions steer0.json)" || fail "alpha 0 sample"
[ "$plain" != "$steered" ] || fail "a large add did not change greedy output: $plain"
[ "$plain" == "$zero" ] || fail "alpha 0 changed the output: '$plain' vs '$zero'"
echo "ok: steering changes greedy output, alpha 0 does not"
# Steering only response tokens leaves the first token (sampled from the
# prompt's logits) as it was, and still changes the text.
"$M" --quiet sample "${S[@]}" --json > plain.json || fail "plain --json"
"$M" --quiet sample "${S[@]}" --json --interventions steer_resp.json > resp.json || fail "response-scoped sample"
python3 - <<'PY' || fail "response scope"
import json
a, b = json.load(open("plain.json")), json.load(open("resp.json"))
assert a["tokens"][0] == b["tokens"][0], (a["tokens"], b["tokens"])
assert a["tokens"] != b["tokens"], a["tokens"]
PY
echo "ok: positions response steers generated tokens only"
"$M" --quiet sample "${S[@]}" --interventions ablate.json >/dev/null || fail "project_out sample"
"$M" --quiet --threads 1 sample --model base --tokens 1,5,9 --max-tokens 4 --interventions steer.json >/dev/null \
  || fail "steered --tokens sample"

# --num-samples: one prefill, N continuations with seeds --seed + i.
"$M" --quiet sample --model base --prompt "Ada says" --max-tokens 8 --num-samples 3 --seed 7 --json > many.json \
  || fail "--num-samples --json"
"$M" --quiet sample --model base --prompt "Ada says" --max-tokens 8 --seed 8 --json > single.json || fail "single"
python3 - <<'PY' || { cat many.json; fail "--num-samples JSON"; }
import json
many, single = json.load(open("many.json")), json.load(open("single.json"))
assert isinstance(many, list) and len(many) == 3, many
assert [m["seed"] for m in many] == [7, 8, 9]
for m in many:
    assert set(m) >= {"text", "tokens", "prompt_tokens", "finish_reason"}, m
    assert m["prompt_tokens"] == single["prompt_tokens"]
PY
echo "ok: --num-samples 3 --json gives 3 results"
"$M" --quiet sample "${S[@]}" --num-samples 3 > greedy3.txt || fail "--num-samples text"
[ "$(wc -l < greedy3.txt)" -eq 3 ] || { cat greedy3.txt; fail "expected 3 lines"; }
[ "$(sort -u greedy3.txt)" == "$plain" ] || { cat greedy3.txt; fail "greedy samples differ from one greedy run"; }
"$M" --quiet sample "${S[@]}" --num-samples 2 --interventions steer.json > steered2.txt || fail "steered --num-samples"
[ "$(sort -u steered2.txt)" == "$steered" ] || { cat steered2.txt; fail "steered samples differ from one steered run"; }
echo "ok: greedy --num-samples equals a single run, with and without steering"

# chat: steering passed to the session.
echo '{"messages": [{"role": "user", "content": "Where does the river go?"}]}' > ask.jsonl
C=(--model base --jsonl --max-tokens 8 --temperature 0)
"$M" --quiet chat "${C[@]}" < ask.jsonl > chat_plain.jsonl || fail "chat"
"$M" --quiet chat "${C[@]}" --interventions steer0.json < ask.jsonl > chat_zero.jsonl || fail "chat alpha 0"
"$M" --quiet chat "${C[@]}" --interventions steer.json < ask.jsonl > chat_steer.jsonl || fail "chat steered"
cmp -s chat_plain.jsonl chat_zero.jsonl || fail "chat: alpha 0 changed the reply"
cmp -s chat_plain.jsonl chat_steer.jsonl && fail "chat: a large add did not change the reply"
printf 'Where does the river go?\n/quit\n' | "$M" --quiet chat --model base --max-tokens 4 --temperature 0 \
  --interventions steer.json > chat_i.txt 2>/dev/null || fail "interactive chat with interventions"
echo "ok: chat --interventions"

# debug forward: observe entries become observe.<i> tensors.
"$M" --quiet debug forward --model base --tokens 1,5,9,11 --interventions observe.json --out dump.safetensors \
  > dump.json || fail "debug forward --interventions"
"$M" --quiet debug safetensors dump.safetensors > listing.json || fail "listing"
python3 - "$CONFIG" <<'PY' || { cat listing.json; fail "observe tensors"; }
import json, sys
d = json.load(open(sys.argv[1]))["hidden_size"]
shapes = {t["name"]: t["shape"] for t in json.load(open("listing.json"))["tensors"]}
assert shapes["observe.0"] == [4, d] and shapes["observe.1"] == [2, d], shapes
assert json.load(open("dump.json"))["observations"] == 2
PY
echo "ok: debug forward dumps observe.<i>"

# Bad files and specs: exit 1, a message naming the file and entry, nothing on stdout.
expect_error "missing file" "nope.json" -- "$M" --quiet sample "${S[@]}" --interventions nope.json
expect_error "malformed JSON" "broken.json" -- "$M" --quiet sample "${S[@]}" --interventions broken.json
expect_error "not an array" "not_array.json: expected a JSON array" -- \
  "$M" --quiet sample "${S[@]}" --interventions not_array.json
expect_error "observe in sample" "observe.json, entry 0: kind 'observe' is for \`masque debug forward\`" -- \
  "$M" --quiet sample "${S[@]}" --interventions observe.json
expect_error "observe in chat" "kind 'observe' is for \`masque debug forward\`" -- \
  "$M" --quiet chat --model base --jsonl --interventions observe.json
expect_error "short vector" "short.json, entry 0" -- "$M" --quiet sample "${S[@]}" --interventions short.json
grep -qF "the vector has 2 values" err.txt || { cat err.txt; fail "short vector: size not named"; }
expect_error "layer out of range" "layer.json, entry 1" -- "$M" --quiet sample "${S[@]}" --interventions layer.json
expect_error "zero direction" "zero direction" -- "$M" --quiet chat --model base --jsonl --interventions zero.json
expect_error "unknown site" "unknown site 'resid_mid'" -- "$M" --quiet sample "${S[@]}" --interventions site.json
expect_error "num-samples 0" "num-samples" -- "$M" --quiet sample "${S[@]}" --num-samples 0
expect_error "debug forward bad spec" "short.json, entry 0" -- \
  "$M" --quiet debug forward --model base --tokens 1,5 --interventions short.json --out bad.safetensors
[ ! -e bad.safetensors ] || fail "debug forward wrote output for a bad spec"
echo "all intervention CLI checks passed"
