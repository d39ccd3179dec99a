#!/usr/bin/env bash
# --backend: cpu works; an unknown name and (on a machine without a usable
# GPU, like CI) cuda are refused with exit 1 and a message naming the fix.
set -euo pipefail
M="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$M" --backend cpu version >/dev/null || fail "--backend cpu version"

set +e
out="$("$M" --backend tpu version 2>&1)"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "--backend tpu exited $rc"
echo "$out" | grep -q "unknown backend 'tpu'" || fail "--backend tpu message: $out"

set +e
out="$("$M" --backend cuda version 2>&1)"; rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  [ "$rc" -eq 1 ] || fail "--backend cuda exited $rc"
  echo "$out" | grep -q "cuda" || fail "--backend cuda message: $out"
  echo "$out" | grep -q -- "--backend cpu" || fail "--backend cuda message names no fix: $out"
fi
echo "backend.sh: all checks passed"
