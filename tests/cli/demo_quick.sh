#!/usr/bin/env bash
# Smoke test of `masque demo --quick`: every stage runs (world, tokenizer,
# tokenize, pretrain, persona eval, report) and the report and charts exist.
# The full demo (./masque demo) is run from the README, not in CI.
set -euo pipefail
MASQUE=${1:?usage: demo_quick.sh /path/to/masque}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$MASQUE" --quiet demo --quick --out "$TMP/demo" --json > "$TMP/summary.json"
for f in report.md loss.svg traits.svg speakers.svg sharpening.svg e1.json tokenizer.json world/world.json; do
  [ -s "$TMP/demo/$f" ] || fail "demo did not write $f"
done
grep -q '"contexts"' "$TMP/summary.json" || fail "summary: $(cat "$TMP/summary.json")"
grep -q "Verdict" "$TMP/demo/report.md" || fail "report.md has no verdict"
head -c 200 "$TMP/demo/traits.svg" | grep -q "<svg" || fail "traits.svg is not SVG"
echo "demo_quick: ok"
