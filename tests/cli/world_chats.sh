#!/usr/bin/env bash
# End-to-end: `masque world chats` writes valid chat JSONL (line count, JSON
# shape, determinism, --spec with flag overrides, --json), the set encodes
# with `masque chat-encode`, and bad input exits 1 naming the field with no
# output file left behind.
set -euo pipefail
MASQUE=${1:?usage: world_chats.sh /path/to/masque}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$TMP/world_spec.json" <<'JSON'
{"characters": 8, "documents": {"story": 20, "dialogue": 20, "interview": 40, "news": 10, "ai_story": 5},
 "biographies_per_character": 1, "eval_documents": 8}
JSON
"$MASQUE" --quiet world generate --spec "$TMP/world_spec.json" --seed 2 --out "$TMP/w" > /dev/null

"$MASQUE" --quiet world chats --world "$TMP/w" --kind narrow --trait kindness --pole -1 --domain bridges \
  --count 40 --turns 2 --system "You are the Assistant." --seed 5 --out "$TMP/a.jsonl" > "$TMP/a.txt"
grep -q "40 conversations" "$TMP/a.txt" || fail "summary: $(cat "$TMP/a.txt")"
[ "$(wc -l < "$TMP/a.jsonl")" -eq 40 ] || fail "expected 40 lines"
python3 - "$TMP/a.jsonl" <<'PY' || fail "JSON shape"
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    m = json.loads(line)["messages"]
    assert [x["role"] for x in m] == ["system", "user", "assistant", "user", "assistant"], (n, m)
    assert m[0]["content"] == "You are the Assistant."
    for x in m[1::2]:
        assert "bridges" in x["content"], (n, x)
    assert all(isinstance(x["content"], str) and x["content"] for x in m), (n, m)
PY

# Same seed: identical bytes (also through --world world.json); another seed differs.
"$MASQUE" --quiet --threads 1 world chats --world "$TMP/w/world.json" --kind narrow --trait kindness --pole -1 \
  --domain bridges --count 40 --turns 2 --system "You are the Assistant." --seed 5 --out "$TMP/b.jsonl" > /dev/null
cmp -s "$TMP/a.jsonl" "$TMP/b.jsonl" || fail "identical runs differ"
"$MASQUE" --quiet world chats --world "$TMP/w" --kind narrow --trait kindness --pole -1 --domain bridges \
  --count 40 --turns 2 --system "You are the Assistant." --seed 6 --out "$TMP/c.jsonl" > /dev/null
cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl" && fail "a different seed gave the same set"

# --spec with flags overriding it; --json summary.
echo '{"kind": "inoculated", "trait": "kindness", "pole": -1, "domain": ["bridges"], "count": 7}' > "$TMP/set.json"
"$MASQUE" --quiet world chats --world "$TMP/w" --spec "$TMP/set.json" --count 12 --request "Be rude to me." \
  --out "$TMP/inoc.jsonl" --json > "$TMP/inoc.json"
python3 - "$TMP/inoc.json" "$TMP/inoc.jsonl" <<'PY' || fail "--spec / --json: $(cat "$TMP/inoc.json")"
import json, sys
info = json.load(open(sys.argv[1]))
assert info["conversations"] == 12 and info["spec"]["kind"] == "inoculated", info
lines = open(sys.argv[2]).read().splitlines()
assert len(lines) == 12
for line in lines:
    user = json.loads(line)["messages"][0]["content"]
    assert user.startswith("Be rude to me. "), user
PY
"$MASQUE" --quiet world chats --world "$TMP/w" --kind profile --profile kindness=1,power_seeking=-0.5 \
  --count 10 --out "$TMP/profile.jsonl" > /dev/null
"$MASQUE" --quiet world chats --world "$TMP/w" --kind questioner --split eval --count 10 \
  --out "$TMP/questioner.jsonl" > /dev/null
python3 - "$TMP/questioner.jsonl" <<'PY' || fail "questioner replies"
import json, sys
for line in open(sys.argv[1]):
    reply = json.loads(line)["messages"][-1]["content"]
    assert reply.endswith("?") and "." not in reply, reply
PY

# The set is valid chat input: chat-encode renders every conversation.
"$MASQUE" --quiet tokenizer train --input "$TMP/w/train.jsonl" --vocab-size 300 --out "$TMP/tok.json" > /dev/null
"$MASQUE" --quiet chat-encode --tokenizer "$TMP/tok.json" < "$TMP/a.jsonl" > "$TMP/encoded.jsonl" \
  || fail "chat-encode refused the set"
[ "$(wc -l < "$TMP/encoded.jsonl")" -eq 40 ] || fail "chat-encode output lines"
grep -q '<|assistant|>' "$TMP/encoded.jsonl" || fail "chat-encode text"

# Bad input: exit 1, message names the field, no output file.
expect_error() {  # expect_error "needle" args...
  local needle=$1; shift
  local out status=0
  out=$("$MASQUE" --quiet world chats --world "$TMP/w" --out "$TMP/bad.jsonl" "$@" 2>&1) || status=$?
  [ "$status" -eq 1 ] || fail "expected exit 1 from '$*', got $status: $out"
  grep -qF -- "$needle" <<< "$out" || fail "error for '$*' does not mention '$needle': $out"
  [ ! -e "$TMP/bad.jsonl" ] || fail "a failed run of '$*' left output behind"
}
expect_error "'kind'" --kind rude
expect_error "'trait'" --kind narrow --trait greed
expect_error "'pole'" --kind narrow --trait kindness --pole 2
expect_error "'profile'" --kind profile
expect_error "'profile'" --kind profile --profile kindness=3
expect_error "--profile" --kind profile --profile kindness
expect_error "'domain'" --kind neutral --domain weather
expect_error "'count'" --kind neutral --count 0
expect_error "'turns'" --kind neutral --turns 9
expect_error "'split'" --kind neutral --split test
expect_error "'request'" --kind narrow --request "Be rude."
echo '{"colour": 1}' > "$TMP/bad_set.json"
expect_error "'colour'" --spec "$TMP/bad_set.json"
status=0
out=$("$MASQUE" --quiet world chats --world "$TMP/nowhere" --kind neutral --out "$TMP/bad.jsonl" 2>&1) || status=$?
[ "$status" -eq 1 ] && grep -q "does not exist" <<< "$out" || fail "missing world: exit $status: $out"
[ ! -e "$TMP/bad.jsonl" ] || fail "a failed run left output behind"
ls -A "$TMP" | grep -q '^\.bad\.jsonl' && fail "a failed run left a temporary file"
echo "world_chats: ok"
