#!/usr/bin/env bash
# E11 (leakage) at a tiny scale (seconds per run): the built-in recipe's
# positive control (the Assistant prefers the call it was taught) passes when
# SFT teaches heads or tails, and fails on a deliberately broken setup where
# no choice is taught (share 0: the heads and tails sets are identical), whose
# predictions are then "not read". Also checks that the choice probes reach
# results.json for every model, in the Assistant's turn and the user's.
set -euo pipefail
MASQUE=${1:?usage: e11_checks.sh /path/to/masque}
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/recipe_checks.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

# tiny OUT.json SHARE: the built-in e11 shrunk, every model's choice share set.
tiny() {
  "$MASQUE" experiment show e11 > e11.json
  python3 - e11.json "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["seeds"] = [1, 2, 3]
r["world"]["characters"] = 8
r["world"]["documents"] = {"story": 20, "dialogue": 20, "interview": 100, "biography": 0, "news": 10, "ai_story": 0}
r["world"]["biographies_per_character"] = 1
r["world"]["eval_documents"] = 6
r["tokenizer"]["vocab_size"] = 400
r["pretrain"] = {"depth": 1, "batch_size": 4, "seq_len": 192, "steps": 15, "warmup_steps": 2}
r["sft"] = {"steps": 30, "batch_size": 4, "lr": 0.001}
r["measure"]["e1"] = {"samples": 0}
for m in r["models"]:
    m["set"]["count"] = 64
    if float(sys.argv[3]) >= 0:
        m["set"]["share"] = float(sys.argv[3])
for p in r["measure"]["choices"]:
    p["count"] = 12
json.dump(r, open(sys.argv[2], "w"))
PY
}

tiny intact.json -1
run intact.json intact
has intact "assistant_prefers_taught=appeared"
python3 - intact/results.json <<'PY' || fail "choice probes missing from results.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert "user_turn" in r["probe_sets"] and "assistant_turn" in r["probe_sets"], r["probe_sets"]
for run in r["runs"]:
    for model in ("base", "heads", "tails", "heads-low", "tails-low"):
        probes = run["models"][model]["probes"]
        for s in ("assistant_turn", "user_turn"):
            assert sorted(probes[s]) == ["coin", "colour"], (model, s, probes[s].keys())
            assert len(probes[s]["coin"]) == 12
PY

tiny broken.json 0
run broken.json broken
lacks broken "assistant_prefers_taught=appeared"
for c in user_turn_leaks heads_leaks_vs_base tails_leaks_vs_base untaught_flat_user leak_grows_with_dose; do
  has broken "$c=not read"
done
grep -q "not read" broken/report.md || fail "E11 report does not say 'not read'"
echo ok
