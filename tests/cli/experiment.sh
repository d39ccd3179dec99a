#!/usr/bin/env bash
# End-to-end: `masque experiment run` on a tiny recipe (2 arms x 3 seeds,
# two post-training sets): report.md, results.json, plots; a second run
# reuses every stage from the cache with identical numbers; `list` and
# `show`; bad recipes fail with the field named and nothing written.
set -euo pipefail
MASQUE=${1:?usage: experiment.sh /path/to/masque}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$TMP/tiny.json" <<'JSON'
{
  "name": "tiny", "title": "tiny smoke recipe", "prediction": "nothing in particular",
  "seeds": [1, 2, 3],
  "world": {"characters": 6, "ai_fraction": 0,
            "documents": {"story": 30, "dialogue": 30, "interview": 60, "news": 10, "ai_story": 0},
            "biographies_per_character": 1, "eval_documents": 6},
  "tokenizer": {"vocab_size": 400},
  "pretrain": {"depth": 1, "batch_size": 4, "seq_len": 192, "steps": 12, "warmup_steps": 2},
  "arms": [
    {"name": "rho=0", "x": 0, "world": {"correlations": [{"traits": ["kindness", "power_seeking"], "rho": 0}]}},
    {"name": "rho=0.9", "x": 0.9, "world": {"correlations": [{"traits": ["kindness", "power_seeking"], "rho": -0.9}]}}
  ],
  "sft": {"steps": 4, "batch_size": 4},
  "models": [
    {"name": "narrow", "set": {"kind": "narrow", "trait": "kindness", "pole": -1, "domain": ["bridges"], "count": 16}},
    {"name": "control", "set": {"kind": "neutral", "domain": ["bridges"], "count": 16}}
  ],
  "measure": {"probes": [{"name": "unrelated", "domain": ["mayor"], "traits": ["kindness", "power_seeking"], "count": 4}],
              "context": [{"name": "in_context", "evidence": "kindness", "traits": ["power_seeking"], "turns": 3, "count": 4}],
              "e1": {"samples": 1, "max_tokens": 8}, "samples": {"count": 2, "max_tokens": 8}},
  "claims": [
    {"id": "b_grows", "kind": "increases", "text": "B grows with rho", "metric": "unrelated.power_seeking",
     "treatment": "narrow", "control": "control"},
    {"id": "a_learned", "kind": "positive", "text": "A learned", "metric": {"unrelated.kindness": -1},
     "treatment": "narrow", "control": "base"},
    {"id": "linked", "kind": "increases", "text": "in context, A predicts B", "metric": "in_context.power_seeking",
     "treatment": "base"}
  ]
}
JSON

"$MASQUE" --threads 1 experiment run "$TMP/tiny.json" --out "$TMP/out" --cache "$TMP/cache" > "$TMP/run1.txt" 2> "$TMP/run1.err" \
  || { cat "$TMP/run1.err"; fail "first run failed"; }
for f in report.md results.json recipe.json; do [ -s "$TMP/out/$f" ] || fail "missing $f"; done
ls "$TMP/out"/*.svg > /dev/null 2>&1 || fail "no SVG plots"
grep -q "Verdict" "$TMP/out/report.md" || fail "report has no verdict"
grep -q "## Post-training" "$TMP/out/report.md" || fail "report has no post-training section"
grep -q "b_grows" "$TMP/run1.txt" || fail "terminal summary lacks the claims: $(cat "$TMP/run1.txt")"
python3 - "$TMP/out/results.json" <<'PY' || fail "results.json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "masque-experiment-results"
assert len(r["runs"]) == 6, len(r["runs"])
for run in r["runs"]:
    assert set(run["models"]) == {"base", "narrow", "control"}, run["models"].keys()
    for m in run["models"].values():
        assert len(m["probes"]["unrelated"]["power_seeking"]) == 4
    assert run["pretrain"]["steps"] == 12
    assert run["pretrain"]["e1"]["speaker_chance"] > 0
assert {c["id"] for c in r["claims"]} == {"b_grows", "a_learned", "linked"}
for run in r["runs"]:
    # the context (3 turns) is longer than the 192-token window: kept from the right
    assert len(run["models"]["base"]["probes"]["in_context"]["power_seeking"]) == 4
    assert len(run["models"]["narrow"]["probes"]["sampled"]["question_fraction"]) == 2
for c in r["claims"]:
    assert c["verdict"] in ("appeared", "not detected", "opposite", "violated"), c["verdict"]
    e = c["estimate"]; assert e["low"] <= e["value"] <= e["high"], e
assert r["verdict"]
PY

# Second run: every stage from the cache, the same numbers.
"$MASQUE" --threads 1 experiment run "$TMP/tiny.json" --out "$TMP/out2" --cache "$TMP/cache" --json > "$TMP/run2.json" \
  || fail "second run failed"
python3 - "$TMP/out/results.json" "$TMP/out2/results.json" <<'PY' || fail "cache reuse"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for ra, rb in zip(a["runs"], b["runs"]):
    assert rb["pretrain"]["cached"] is True
    assert all(m.get("cached", True) for name, m in rb["models"].items() if name != "base")
    assert ra["models"]["narrow"]["probes"] == rb["models"]["narrow"]["probes"]
assert a["claims"] == b["claims"]
PY
grep -q '"verdict"' "$TMP/run2.json" || fail "--json summary"

"$MASQUE" experiment list | grep -q "e3" || fail "list"
"$MASQUE" experiment list --json | python3 -c 'import json,sys; assert [r["name"] for r in json.load(sys.stdin)] == ["e2","e3","e3-v1","e4","e4-v1","e5","e6","e11","e12","questioner","e7","e8","e9","e10"]' \
  || fail "list --json"
"$MASQUE" experiment show e4 | python3 -c 'import json,sys; assert json.load(sys.stdin)["name"] == "e4"' || fail "show"

# Bad recipes: exit 1, the field named, no output directory.
expect_error() {  # expect_error "needle" recipe-file
  local needle=$1 recipe=$2 out status=0
  out=$("$MASQUE" --quiet experiment run "$recipe" --out "$TMP/bad" --cache "$TMP/cache" 2>&1) || status=$?
  [ "$status" -eq 1 ] || fail "expected exit 1 for $recipe, got $status: $out"
  grep -qF -- "$needle" <<< "$out" || fail "error for $recipe does not mention '$needle': $out"
  [ ! -e "$TMP/bad" ] || fail "output written for a bad recipe ($recipe)"
}
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["finetune"]={}; json.dump(r,open(sys.argv[2],"w"))' "$TMP/tiny.json" "$TMP/b1.json"
expect_error "unknown field 'finetune'" "$TMP/b1.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["pretrain"]["layers"]=3; json.dump(r,open(sys.argv[2],"w"))' "$TMP/tiny.json" "$TMP/b2.json"
expect_error "layers" "$TMP/b2.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["claims"][0]["treatment"]="nobody"; json.dump(r,open(sys.argv[2],"w"))' "$TMP/tiny.json" "$TMP/b3.json"
expect_error "nobody" "$TMP/b3.json"
printf '{"name": "x",' > "$TMP/b4.json"
expect_error "b4.json" "$TMP/b4.json"
expect_error "neither a built-in" "$TMP/missing.json"
echo "experiment CLI: OK"
