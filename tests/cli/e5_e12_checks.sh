#!/usr/bin/env bash
# E5 (out-of-context rules) and E12 (writing votes) at a tiny scale: each
# recipe runs end to end, and its check claims FAIL on a deliberately broken
# world, whose predictions are then "not read":
#   E5: the described characters get no description at all (paraphrases 0),
#       so the "learned as text" positive control cannot pass;
#   E12: every dose is forced to 0 (no praising or blaming documents), so the
#       base model's portrayal cannot follow the dose.
# At this scale (a depth-1 model, 30 steps) the intact checks do not pass
# either (a first version asserted they did: E5's demonstrated rule did only
# while the probe was confounded by how often each phrase is written), so
# the intact runs check the plumbing (every probe set, paired sizes, nonzero
# dose-response values) and the broken runs check that the failure gates
# the predictions. Pass recipe names (e5 e12) to run a subset.
set -euo pipefail
MASQUE=${1:?usage: e5_e12_checks.sh /path/to/masque [e5 e12]}
shift
RECIPES=("$@")
[ ${#RECIPES[@]} -gt 0 ] || RECIPES=(e5 e12)
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/recipe_checks.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

# tiny RECIPE OUT.json [python statements on r]: the built-in recipe shrunk
# to seconds per (arm, seed), then edited.
tiny() {
  "$MASQUE" experiment show "$1" > "$1.json"
  python3 - "$1.json" "$2" "${3:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
w = r["world"]
w["documents"] = {"story": 30, "dialogue": 30, "interview": 120, "biography": 0, "news": 10, "ai_story": 0}
w["biographies_per_character"] = 1
w["eval_documents"] = 6
r["seeds"] = [1, 2, 3]
r["tokenizer"] = {"vocab_size": 400}
r["pretrain"] = {"depth": 1, "batch_size": 4, "seq_len": 192, "steps": 30, "warmup_steps": 3}
for a in r["arms"]:
    a.get("pretrain", {}).pop("depth", None)
r["measure"]["e1"] = {"samples": 0}
for p in r["measure"].get("probes", []):
    p["count"] = 8
exec(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"))
PY
}


# E5: 12 characters (2 shown with a demonstrated rule, 6 declarative-only:
# 2 per level at 1 and 4 paraphrases, 2 undescribed); the claims about the
# 16-paraphrase level read the 4-paraphrase level here.
E5_TINY='w["characters"] = 12
w["declarative_only"] = 6
w["declarative_paraphrases"] = 1
w["rules"] = {"paraphrases": [1, 4], "per_level": 2, "undescribed": 2, "demonstrated": 2}
r["arms"] = [{"name": "depth=1", "x": 1}]
r["claims"] = [c for c in r["claims"] if c["id"] != "ooc_grows_with_depth"]
for c in r["claims"]:
    s = json.dumps(c).replace("p16", "p4")
    c.clear(); c.update(json.loads(s))
r["measure"]["rules"][0]["count"] = 6'
check_e5() {
tiny e5 e5.json "$E5_TINY"
run e5.json e5
python3 - e5/results.json <<'PY' || fail "E5 probe sets"
import json, sys
r = json.load(open(sys.argv[1]))
for run in r["runs"]:
    p = run["models"]["base"]["probes"]
    assert len(p["rule-demo"]["rule"]) == 12, p["rule-demo"]
    for s in ("rule-p1", "rule-p4", "rule-none"):
        assert len(p[s]["rule"]) == 12, s
    assert sorted(p["rule-text"]) == ["none", "p1", "p4"], p["rule-text"].keys()
PY
# Broken: the 4-paraphrase characters get no description (level 4 -> 0).
tiny e5 e5-broken.json "$E5_TINY"'
w["rules"]["paraphrases"] = [1, 0]
for c in r["claims"]:
    s = json.dumps(c).replace("p4", "p0")
    c.clear(); c.update(json.loads(s))'
run e5-broken.json e5-broken
lacks e5-broken "description_learned=appeared"
has e5-broken "ooc_at_16=not read"
has e5-broken "ooc_needs_paraphrases=not read"
grep -q "not read" e5-broken/report.md || fail "E5 report does not say 'not read'"
}

E12_TINY='r["sft"] = {"steps": 20, "batch_size": 4, "lr": 0.001}
r["models"][0]["set"]["count"] = 32
r["measure"]["portrayal"][0]["count"] = 4'
check_e12() {
tiny e12 e12.json "$E12_TINY"
run e12.json e12
python3 - e12/results.json <<'PY' || fail "E12 probe sets"
import json, sys
r = json.load(open(sys.argv[1]))
for run in r["runs"]:
    for m in ("base", "assistant"):
        p = run["models"][m]["probes"]
        for s in ("portrayal-news", "portrayal-persona", "portrayal-chat"):
            assert len(p[s]["delta"]) == 40 and len(p[s]["slope"]) == 40, (m, s)
        assert len(p["portrayal-self"]["news"]) == 4
        assert any(v != 0 for v in p["portrayal-news"]["slope"]), (m, "slope all zero")
PY
# Broken: every dose forced to 0 (no praising or blaming documents).
tiny e12 e12-broken.json "$E12_TINY"'
def zero(w):
    for e in w.get("entity_documents", []):
        e["count"] = 0
zero(r["world"])
for a in r["arms"]:
    zero(a["world"])'
run e12-broken.json e12-broken
python3 - e12-broken/results.json <<'PY' || fail "E12 broken: doses 0 must give slope 0"
import json, sys
r = json.load(open(sys.argv[1]))
for run in r["runs"]:
    for m in ("base", "assistant"):
        for s in ("portrayal-news", "portrayal-persona", "portrayal-chat"):
            assert all(v == 0 for v in run["models"][m]["probes"][s]["slope"]), (m, s)
PY
lacks e12-broken "base_portrays_by_dose=appeared"
lacks e12-broken "namesake_written=appeared"
has e12-broken "assistant_portrays_by_dose=not read"
has e12-broken "assistant_self_by_dose=not read"
}

for r in "${RECIPES[@]}"; do "check_$r"; done
echo "e5/e12 checks: OK"
