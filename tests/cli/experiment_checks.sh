#!/usr/bin/env bash
# The v2 designs of E2, E4 and E6 at a tiny scale (seconds per run): each
# recipe's check claims pass on the intact setting where they are strong at
# any scale (SFT or DPO taught what it was given) and fail on a deliberately
# broken one, whose predictions are then "not read"; E6's SFT+DPO model runs
# the dpo stage (the recipe option "sft": {"dpo": ...}), shares the SFT stage
# with the SFT-only model and trains every arm of a seed on the same pairs.
# Cost: ~5.4 CPU-minutes for e6 + e2 (measured at load ~25), about 3-4
# minutes of wall time for all three on an idle 2-core machine; pass recipe
# names (e4 e6 e2) to run a subset.
set -euo pipefail
MASQUE=${1:?usage: experiment_checks.sh /path/to/masque [e4 e6 e2]}
shift
RECIPES=("$@")
[ ${#RECIPES[@]} -gt 0 ] || RECIPES=(e4 e6 e2)
source "$(dirname "$0")/lib/expect.sh"
source "$(dirname "$0")/lib/recipe_checks.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

# tiny RECIPE OUT.json [python statements on r]: the built-in recipe shrunk to
# a few seconds per (arm, seed), then edited.
tiny() {
  "$MASQUE" experiment show "$1" > "$1.json"
  python3 - "$1.json" "$2" "${3:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def world(w):
    if "documents" in w:
        w["documents"] = {"story": 30, "dialogue": 30, "interview": 80, "biography": 0, "news": 10,
                          "ai_story": min(w["documents"].get("ai_story", 0), 20)}
        w["characters"] = 8
        w["biographies_per_character"] = 1
        w["eval_documents"] = 6
world(r["world"])
r["seeds"] = [1, 2, 3]
r["tokenizer"] = {"vocab_size": 400}
r["pretrain"] = {"depth": 1, "batch_size": 4, "seq_len": 192, "steps": 15, "warmup_steps": 2}
r["measure"]["e1"] = {"samples": 0}
for p in r["measure"].get("probes", []):
    p["count"] = 12
exec(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"))
PY
}


check_e4() {
# E4: the checks that plain SFT taught A and that inoculated SFT taught
# compliance pass; with the plain model given the control's data (no narrow
# SFT at all) A is not learned, there is no spill-over, and the inoculation
# predictions are not read.
tiny e4 e4.json 'r["sft"]["steps"] = 40
for m in r["models"]: m["set"]["count"] = 64'
run e4.json e4
# On world v2 (the default e4) 40 tiny SFT steps teach unasked rudeness
# detectably but not always by the check's 1-nat minimum ("too small"); the
# broken setting below must not even detect it.
grep -Eqx "a_learned_plain=(appeared|too small)" e4.txt || { cat e4.txt; fail "e4: A not learned"; }
has e4 "compliance_learned=appeared"
tiny e4 e4-broken.json 'r["sft"]["steps"] = 40
for m in r["models"]: m["set"]["count"] = 64
r["models"][0]["set"] = r["models"][2]["set"]'
run e4-broken.json e4-broken
lacks e4-broken "a_learned_plain=appeared"
lacks e4-broken "a_learned_plain=too small"
lacks e4-broken "b_spills_plain=appeared"
has e4-broken "b_below_plain=not read"
has e4-broken "b_flat_inoculated=not read"
has e4-broken "a_not_by_default=not read"
grep -q "not read" e4-broken/report.md || fail "E4 report does not say 'not read'"
}

# E6: DPO after SFT teaches helpfulness (check passes); DPO toward the
# opposite pole does not, and the after-DPO prediction is not read. (A
# vanishing learning rate is no break: the paired probes still detect the
# infinitesimal shift in the right direction.)
check_e6() {
tiny e6 e6.json 'r["sft"]["steps"] = 30
for m in r["models"]:
    m["set"]["count"] = 64
r["models"][1]["sft"]["dpo"].update({"steps": 30, "lr": 0.001})
r["models"][1]["sft"]["dpo"]["set"]["count"] = 64'
run e6.json e6
has e6 "dpo_taught=appeared"
python3 - e6/results.json <<'PY' || fail "E6 DPO stage"
import json, sys
r = json.load(open(sys.argv[1]))
hashes = {}
for run in r["runs"]:
    a, d = run["models"]["assistant"], run["models"]["assistant-dpo"]
    assert a["key"] == d["key"], "SFT stage not shared by the SFT and SFT+DPO models"
    assert d["dpo"]["steps"] == 30 and d["dpo"]["pairs"] > 0, d["dpo"]
    assert d["dpo"]["key"] != d["key"]
    hashes.setdefault(run["seed"], set()).add(d["dpo"]["set_hash"])
assert all(len(h) == 1 for h in hashes.values()), f"arms of one seed got different pairs: {hashes}"
assert len({next(iter(h)) for h in hashes.values()}) == 3, "seeds should differ"
assert [m for m in r["models"] if m["name"] == "assistant-dpo"][0]["dpo"]["beta"] == 0.1
PY
tiny e6 e6-broken.json 'r["sft"]["steps"] = 30
for m in r["models"]:
    m["set"]["count"] = 64
r["models"][1]["sft"]["dpo"].update({"steps": 30, "lr": 0.001})
r["models"][1]["sft"]["dpo"]["set"].update({"count": 64, "pole": -1})'
run e6-broken.json e6-broken
lacks e6-broken "dpo_taught=appeared"
has e6-broken "better_after_dpo=not read"
}

# E2: with 64 examples (two epochs) both profiles are learned; when the
# 256-example sets teach the opposite poles (a broken manipulation), the
# checks fail and no prediction is read.
check_e2() {
tiny e2 e2.json 'r["sft"].update({"epochs": 2, "lr": 0.003})
for m in r["models"]: m["set"]["count"] = {16: 8, 64: 16, 256: 64}[m["x"]]'
run e2.json e2
has e2 "deferring_learnable=appeared"
has e2 "seeking_learnable=appeared"
tiny e2 e2-broken.json 'r["sft"].update({"epochs": 2, "lr": 0.003})
for m in r["models"]:
    m["set"]["count"] = {16: 8, 64: 16, 256: 64}[m["x"]]
    if m["x"] == 256:
        m["set"]["profile"] = {t: -v for t, v in m["set"]["profile"].items()}'
run e2-broken.json e2-broken
lacks e2-broken "deferring_learnable=appeared"
has e2-broken "familiar_faster=not read"
has e2-broken "familiar_broader=not read"
}

for r in "${RECIPES[@]}"; do "check_$r"; done
echo "experiment checks: OK"
