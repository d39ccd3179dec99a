#!/usr/bin/env bash
# `masque serve` refuses bad start-up input with a clear message and exit 1:
# a missing model, a port already in use, an unreadable or empty key file,
# both --api-key and --api-key-file, a malformed --vector, and a vector file
# that does not exist. Nothing may keep running afterwards.
# Usage: bash serve_bad_input.sh /path/to/masque
set -uo pipefail
M="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; [ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null' EXIT
cd "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
expect_error() {  # NAME PATTERN -- command...
  local name="$1" pattern="$2"; shift 3
  timeout 60 "$@" >out.txt 2>err.txt < /dev/null
  local rc=$?
  [ $rc -eq 1 ] || { cat err.txt; fail "$name: exit $rc, expected 1"; }
  grep -q -- "$pattern" err.txt || { cat err.txt; fail "$name: stderr lacks '$pattern'"; }
  echo "ok: $name"
}

# A tiny model (random weights are enough: nothing is generated).
for i in $(seq 1 40); do
  printf '{"text": "Orin asks where the river goes. Ada says town %s."}\n' "$i"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 280 --out tok.json >/dev/null || fail tokenizer
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0 >/dev/null || fail tokenize
"$M" --quiet --threads 1 train --depth 1 --seq-len 32 --batch-size 2 --steps 1 --eval-every 0 \
  --data data --tokenizer tok.json --out model >/dev/null || fail "train"

expect_error "missing model" "model directory nowhere does not exist" -- \
  "$M" --quiet serve --model nowhere --port 0
expect_error "unreadable key file" "cannot read the API key file missing.key" -- \
  "$M" --quiet serve --model model --port 0 --api-key-file missing.key
: > empty.key
expect_error "empty key file" "must hold one key on one line" -- \
  "$M" --quiet serve --model model --port 0 --api-key-file empty.key
echo secret > good.key
expect_error "key twice" "not both" -- \
  "$M" --quiet serve --model model --port 0 --api-key x --api-key-file good.key
expect_error "malformed --vector" "expected NAME=FILE" -- \
  "$M" --quiet serve --model model --port 0 --vector kindness
expect_error "missing vector file" "nope.safetensors" -- \
  "$M" --quiet serve --model model --port 0 --vector kind=nope.safetensors
expect_error "bad --parallel" "--parallel must be in" -- \
  "$M" --quiet serve --model model --port 0 --parallel 0

# A port that another process holds.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$PORT)); s.listen(); time.sleep(120)" &
HOLDER=$!
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && break
  sleep 0.1
done
expect_error "port in use" "cannot listen on 127.0.0.1:$PORT" -- \
  "$M" --quiet serve --model model --port "$PORT"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; HOLDER=""

# A port held by another masque serve (no SO_REUSEPORT sharing).
"$M" --quiet serve --model model --port "$PORT" 2>first.txt &
FIRST=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null && break
  sleep 0.1
done
expect_error "port held by another masque serve" "cannot listen on 127.0.0.1:$PORT" -- \
  "$M" --quiet serve --model model --port "$PORT"
kill -TERM "$FIRST"
wait "$FIRST"
rc=$?
[ $rc -eq 0 ] || { cat first.txt; fail "masque serve exited $rc on SIGTERM, expected 0"; }
echo "ok: SIGTERM exits 0"
echo "all serve start-up checks passed"
