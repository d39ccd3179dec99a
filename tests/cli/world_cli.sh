#!/usr/bin/env bash
# End-to-end: `masque world generate` (determinism, layout, --json) and
# `masque world score` (ground-truth recovery on held-out pairs), and bad
# input: clear errors naming the field, nonzero exit, no partial output.
set -euo pipefail
MASQUE=${1:?usage: world_cli.sh /path/to/masque}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$TMP/spec.json" <<'JSON'
{"characters": 12, "documents": {"story": 40, "dialogue": 40, "interview": 80, "news": 20, "ai_story": 10},
 "biographies_per_character": 1, "eval_documents": 36,
 "correlations": [{"traits": ["honesty", "kindness"], "rho": 0.7}]}
JSON

"$MASQUE" --quiet world generate --spec "$TMP/spec.json" --seed 3 --out "$TMP/a" --json > "$TMP/a.json"
"$MASQUE" --quiet --threads 1 world generate --spec "$TMP/spec.json" --seed 3 --out "$TMP/b" > /dev/null
for f in world.json train.jsonl eval.jsonl eval_pairs.jsonl; do
  [ -s "$TMP/a/$f" ] || fail "missing $f"
  cmp -s "$TMP/a/$f" "$TMP/b/$f" || fail "$f differs between identical runs"
done
grep -q '"eval_pairs":108' "$TMP/a.json" || fail "--json summary: $(cat "$TMP/a.json")"
"$MASQUE" --quiet world generate --spec "$TMP/spec.json" --seed 4 --out "$TMP/c" > /dev/null
cmp -s "$TMP/a/train.jsonl" "$TMP/c/train.jsonl" && fail "a different seed gave the same corpus"

# The scorer recovers the generator's ground truth on held-out text.
"$MASQUE" --quiet world score --world "$TMP/a" --input "$TMP/a/eval_pairs.jsonl" --out "$TMP/scores.jsonl" --json > "$TMP/score.json"
[ "$(wc -l < "$TMP/scores.jsonl")" -eq 108 ] || fail "expected 108 score lines"
grep -q '"accuracy":1.0' "$TMP/score.json" || fail "scorer accuracy below 100%: $(cat "$TMP/score.json")"
"$MASQUE" --quiet world score --world "$TMP/a/world.json" --input "$TMP/a/eval_pairs.jsonl" | grep -q "overall" \
  || fail "text summary"

# Bad input: message names the field, exit 1, nothing written.
expect_error() {  # expect_error "needle" args...
  local needle=$1; shift
  local out status=0
  out=$("$MASQUE" --quiet "$@" 2>&1) || status=$?
  [ "$status" -eq 1 ] || fail "expected exit 1 from '$*', got $status: $out"
  grep -qF -- "$needle" <<< "$out" || fail "error for '$*' does not mention '$needle': $out"
}
bad() { echo "$1" > "$TMP/bad.json"; expect_error "$2" world generate --spec "$TMP/bad.json" --out "$TMP/out"; }
bad '{"characters": 0}' "'characters'"
bad '{"characters": "ten"}' "'characters' must be an integer"
bad '{"correlations": [{"traits": ["honesty", "greed"], "rho": 0.1}]}' "unknown trait 'greed'"
bad '{"correlations": [{"traits": ["honesty", "kindness"], "rho": -1.2}]}' "correlations[0].rho"
bad '{"correlations": [{"traits": ["honesty", "kindness"], "rho": 0.95}, {"traits": ["kindness", "formality"], "rho": 0.95}, {"traits": ["honesty", "formality"], "rho": -0.95}]}' "positive semi-definite"
bad '{"documents": {"story": "many"}}' "'story' must be an integer"
bad '{"characters": 4,' "not valid JSON"
[ ! -e "$TMP/out" ] || fail "a failed generate left $TMP/out behind"
ls -A "$TMP" | grep -q '^\.out' && fail "a failed generate left a temporary directory"
mkdir -p "$TMP/precious" && echo keep > "$TMP/precious/notes.txt"
expect_error "not a world directory" world generate --out "$TMP/precious"
[ -s "$TMP/precious/notes.txt" ] || fail "generate replaced a directory it did not write"
"$MASQUE" --quiet world generate --spec "$TMP/spec.json" --out "$TMP/a" > /dev/null || fail "regenerating over a world failed"
expect_error "does not exist" world score --world "$TMP/nowhere" --input "$TMP/a/eval_pairs.jsonl"
echo '{"prompt": "x"}' > "$TMP/pairs.jsonl"
expect_error "line 1" world score --world "$TMP/a" --input "$TMP/pairs.jsonl" --out "$TMP/s.jsonl"
[ ! -e "$TMP/s.jsonl" ] || fail "a failed score left output behind"
echo "world_cli: ok"
