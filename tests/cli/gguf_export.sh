#!/usr/bin/env bash
# `masque export gguf` and GGUF loading end to end: a trained checkpoint
# exports as F32/F16/Q8_0, `masque sample` on the F32 file gives the
# checkpoint's greedy text, a model with biases exports and reads back, and
# bad input (unknown --type, truncated or corrupt GGUF files) exits 1 naming
# the cause and leaves nothing half-written.
# Usage: bash gguf_export.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# expect_error NAME PATTERN -- command...: exit status 1 and stderr matching PATTERN.
for doc in $(seq 1 120); do
  printf '{"text": "Ada %s the cat. Bo sees %s red balls."}\n' \
    "$([ $((doc % 2)) -eq 0 ] && echo likes || echo helps)" "$doc"
done > corpus.jsonl
"$M" --quiet tokenizer train --input corpus.jsonl --vocab-size 300 --out tok.json >/dev/null || fail "tokenizer"
"$M" --quiet tokenize --tokenizer tok.json --input corpus.jsonl --out data --val-fraction 0.1 >/dev/null || fail "tokenize"
"$M" --quiet --threads 1 train --depth 1 --seq-len 16 --batch-size 2 --steps 3 --eval-every 0 \
  --data data --tokenizer tok.json --out run >/dev/null || fail "train"

for t in f32 f16 q8_0; do
  "$M" --quiet export gguf --model run --out "m-$t.gguf" --type "$t" >/dev/null || fail "export $t"
  [ "$(head -c 4 "m-$t.gguf")" = "GGUF" ] || fail "m-$t.gguf has no GGUF magic"
done
"$M" --quiet export gguf --model run --out j.gguf --json | grep -q '"pre_tokenizer":"dbrx"' || fail "--json"
A=$("$M" --quiet sample --model run --prompt "Ada" --max-tokens 12 --temperature 0) || fail "sample run"
B=$("$M" --quiet sample --model m-f32.gguf --prompt "Ada" --max-tokens 12 --temperature 0) || fail "sample gguf"
[ "$A" = "$B" ] || fail "greedy text differs: '$A' vs '$B'"
echo "ok: sample on the F32 GGUF gives the checkpoint's text"
"$M" --quiet export gguf --model m-f32.gguf --out again.gguf >/dev/null || fail "re-export of a GGUF"
cmp -s m-f32.gguf again.gguf || fail "re-exporting a GGUF as F32 changed it"
echo "ok: GGUF -> GGUF re-export is byte-identical"

expect_error "unknown --type" "q4_0" -- "$M" export gguf --model run --out x.gguf --type q4_0
expect_error "out without .gguf" ".gguf" -- "$M" export gguf --model run --out x.bin
[ ! -e x.gguf ] && [ ! -e x.bin ] || fail "a refused export left a file"
CK=$(ls -d run/checkpoints/step-* | tail -n 1)
cp -r "$CK" biased
sed -i 's/"mlp_bias": false/"mlp_bias": true/' biased/config.json
python3 - biased <<'PY' || fail "could not add bias tensors"
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n]); data = raw[8 + n:]
cfg = json.load(open(f"{d}/config.json"))
end = len(data)
for l in range(cfg["num_hidden_layers"]):
    for name, size in [("gate_proj", cfg["intermediate_size"]), ("up_proj", cfg["intermediate_size"]),
                       ("down_proj", cfg["hidden_size"])]:
        header[f"model.layers.{l}.mlp.{name}.bias"] = {"dtype": "F32", "shape": [size],
                                                       "data_offsets": [end, end + 4 * size]}
        data += b"\0" * (4 * size); end += 4 * size
h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open(f"{d}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
# MLP biases are llama.cpp's optional ffn_*.bias tensors: exported and read back.
"$M" --quiet export gguf --model biased --out biased.gguf >/dev/null || fail "export with biases"
A=$("$M" --quiet sample --model biased --prompt "Ada" --max-tokens 8 --temperature 0) || fail "sample biased"
B=$("$M" --quiet sample --model biased.gguf --prompt "Ada" --max-tokens 8 --temperature 0) ||
  fail "sample biased.gguf"
[ "$A" = "$B" ] || fail "biased GGUF greedy text differs: '$A' vs '$B'"
echo "ok: a model with MLP biases exports and reads back"

SIZE=$(stat -c %s m-f32.gguf)
head -c $((SIZE / 2)) m-f32.gguf > truncated.gguf
expect_error "truncated gguf" "past the end" -- "$M" sample --model truncated.gguf --prompt x
cp m-f32.gguf badmagic.gguf; printf 'GGUX' | dd of=badmagic.gguf conv=notrunc status=none
expect_error "bad magic" "bad magic" -- "$M" sample --model badmagic.gguf --prompt x
cp m-f32.gguf badversion.gguf; printf '\x09' | dd of=badversion.gguf bs=1 seek=4 conv=notrunc status=none
expect_error "bad version" "version 9" -- "$M" sample --model badversion.gguf --prompt x
echo "PASS"
