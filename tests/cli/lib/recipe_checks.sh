# Shared helpers of the recipe-verdict tests (experiment_checks.sh,
# e5_e12_checks.sh, e11_checks.sh); source after expect.sh with $MASQUE set.
#   run RECIPE.json OUT   run a recipe (stage cache ./cache); OUT.txt gets
#                         "id=verdict" per claim, one per line
#   has OUT LINE          OUT.txt holds LINE
#   lacks OUT LINE        OUT.txt does not hold LINE
verdicts() {
  python3 -c 'import json,sys
for c in json.load(open(sys.argv[1]))["claims"]: print(c["id"] + "=" + c["verdict"])' "$1/results.json"
}
run() {
  "$MASQUE" --threads 2 --quiet experiment run "$1" --out "$2" --cache cache > /dev/null 2> "$2.err" \
    || { cat "$2.err"; fail "run $1"; }
  verdicts "$2" > "$2.txt"
}
has() { grep -qx -- "$2" "$1.txt" || { cat "$1.txt"; fail "$1: expected $2"; }; }
lacks() { ! grep -qx -- "$2" "$1.txt" || { cat "$1.txt"; fail "$1: did not expect $2"; }; }
