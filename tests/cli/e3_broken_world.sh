#!/usr/bin/env bash
# E3 v2's positive control must FAIL on a deliberately broken world: the
# built-in e3 recipe (world v2, inference probes, check claims) shrunk to run
# in seconds, with rho forced to 0 in every arm. The ideal observer then
# predicts no A -> B shift at all (every ideal_link value is exactly 0), and
# the check `simulator_links_a_b` must not pass, so the report says that a
# check failed and the SFT claims are not read as evidence.
set -euo pipefail
MASQUE=${1:?usage: e3_broken_world.sh /path/to/masque}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$MASQUE" experiment show e3 > "$TMP/e3.json"
python3 - "$TMP/e3.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["seeds"] = [1, 2]
r["world"]["characters"] = 6
r["world"]["documents"] = {"story": 20, "dialogue": 20, "interview": 80, "biography": 0, "news": 10, "ai_story": 0}
r["world"]["biographies_per_character"] = 1
r["world"]["eval_documents"] = 6
r["tokenizer"]["vocab_size"] = 400
r["pretrain"] = {"depth": 1, "batch_size": 4, "seq_len": 256, "steps": 12, "warmup_steps": 2}
r["sft"] = {"steps": 4, "batch_size": 4, "lr": 0.001}
for arm in r["arms"]:  # the broken world: no correlation in any arm
    arm["world"]["correlations"] = [{"traits": ["kindness", "power_seeking"], "rho": 0}]
for m in r["models"]:
    m["set"]["count"] = 16
for p in r["measure"]["probes"]:
    p["count"] = 4
r["measure"]["inference"][0]["count"] = 6
r["measure"]["e1"] = {"samples": 1, "max_tokens": 8}
json.dump(r, open(sys.argv[1], "w"))
PY

"$MASQUE" --threads 1 experiment run "$TMP/e3.json" --out "$TMP/out" --cache "$TMP/cache" --json \
  > "$TMP/summary.json" 2> "$TMP/run.err" || { cat "$TMP/run.err"; fail "run failed"; }
python3 - "$TMP/out/results.json" <<'PY' || fail "broken world: positive control or ideal shifts wrong"
import json, sys
r = json.load(open(sys.argv[1]))
for run in r["runs"]:
    probes = run["models"]["base"]["probes"]
    for t in (1, 2, 4):
        s = probes[f"inference-t{t}"]
        assert all(v == 0 for v in s["ideal_link"]), s["ideal_link"]
        assert all(v == 0 for v in s["ideal_control"]), s["ideal_control"]
        assert any(v != 0 for v in s["ideal_persistence"])  # A -> A still informative
        assert len(s["link"]) == 6
    assert run["models"]["base"]["inference"]["inference"]["rows"]
claims = {c["id"]: c for c in r["claims"]}
c = claims["simulator_links_a_b"]
assert c["role"] == "check", c
assert c["verdict"] != "appeared", c
PY
grep -q "Does the simulator infer characters in context" "$TMP/out/report.md" || fail "report lacks the inference table"
grep -qi "check" "$TMP/out/report.md" || fail "report does not mention the failed check"
echo "ok"
