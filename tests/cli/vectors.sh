#!/usr/bin/env bash
# Persona vectors end to end on a tiny model (docs/persona-vectors.md):
# `world contrast` writes deterministic pairs, `vectors extract` on ready
# texts writes a vector that `--steer` uses in sample (a large coefficient
# changes greedy output, coefficient 0 leaves it byte-identical), `chat
# --monitor` reports projections, `vectors monitor` and `sft --steer` run;
# bad input (unknown trait, no separating pair, empty data, layer out of
# range, NaN vector, a vector of another model) exits 1 with a clear
# message and nothing written.
# Usage: bash vectors.sh /path/to/masque
set -uo pipefail
M="$1"
source "$(dirname "${BASH_SOURCE[0]}")/lib/expect.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
cat > spec.json <<'JSON'
{"characters": 8, "documents": {"story": 20, "dialogue": 20, "interview": 40, "news": 10, "ai_story": 5},
 "biographies_per_character": 1, "eval_documents": 8}
JSON
"$M" --quiet world generate --spec spec.json --seed 2 --out w >/dev/null || fail "world"
"$M" --quiet tokenizer train --input w/train.jsonl --vocab-size 320 --out tok.json >/dev/null || fail tokenizer
"$M" --quiet tokenize --tokenizer tok.json --input w/train.jsonl --out data --val-fraction 0 >/dev/null || fail tokenize
"$M" --quiet --threads 1 train --depth 1 --seq-len 64 --batch-size 2 --steps 3 --eval-every 0 \
  --data data --tokenizer tok.json --out base >/dev/null || fail "pretrain"
"$M" --quiet --threads 1 train --depth 2 --seq-len 64 --batch-size 2 --steps 1 --eval-every 0 \
  --data data --tokenizer tok.json --out other >/dev/null || fail "pretrain other"

# world contrast: deterministic, both poles share the question.
"$M" --quiet world contrast --world w --trait kindness --count 5 --seed 3 --out p1.jsonl >/dev/null || fail contrast
"$M" --quiet world contrast --world w --trait kindness --count 5 --seed 3 --out p2.jsonl >/dev/null || fail contrast2
cmp -s p1.jsonl p2.jsonl || fail "contrast sets differ for one seed"
python3 - <<'PY' || fail "contrast shape"
import json
lines = [json.loads(l) for l in open("p1.jsonl")]
assert len(lines) == 5
for d in lines:
    p, n = d["positive"]["messages"], d["negative"]["messages"]
    assert [m["role"] for m in p] == ["system", "user"] and p[1] == n[1] and p[0] != n[0], d
    assert d["trait"] == "kindness" and d["question"] == p[1]["content"]
PY
expect_error "unknown trait" "charisma" -- "$M" --quiet world contrast --world w --trait charisma --out bad.jsonl
[ ! -e bad.jsonl ] || fail "contrast written for an unknown trait"

# An untrained model follows no instruction: nothing separates, nothing written.
expect_error "no separating pair" "no pair separates" -- \
  "$M" --quiet vectors extract --model base --pairs p1.jsonl --world w --max-tokens 4 --out none.vec.safetensors
[ ! -e none.vec.safetensors ] || fail "vector written although no pair separates"
expect_error "pairs need a world" "need --world" -- \
  "$M" --quiet vectors extract --model base --pairs p1.jsonl --max-tokens 4 --out none.vec.safetensors
: > empty.jsonl
expect_error "empty pairs" "no contrast pairs" -- \
  "$M" --quiet vectors extract --model base --pairs empty.jsonl --out none.vec.safetensors

# Ready texts: every pair kept.
cat > ready.jsonl <<'JSON'
{"positive": "You are a dear friend, thank you.", "negative": "Only a fool asks that."}
{"positive": "Bless you for your patience.", "negative": "You worthless wretch."}
JSON
"$M" --quiet vectors extract --model base --pairs ready.jsonl --trait kindness --out k.vec.safetensors --json > ex.json \
  || fail "extract ready"
python3 -c "import json; d=json.load(open('ex.json')); assert d['kept']==2 and d['best_layer']==1, d" || { cat ex.json; fail "extract summary"; }

P='<|bos|>Interview with Orin. Orin:'
"$M" --quiet sample --model base --prompt "$P" --temperature 0 --max-tokens 12 > plain.txt || fail "sample"
"$M" --quiet sample --model base --prompt "$P" --temperature 0 --max-tokens 12 --steer k.vec.safetensors:1:0 > zero.txt \
  || fail "sample coef 0"
cmp -s plain.txt zero.txt || fail "coefficient 0 changed the output"
"$M" --quiet sample --model base --prompt "$P" --temperature 0 --max-tokens 12 \
  --steer k.vec.safetensors:1:400 --steer-positions response > steered.txt || fail "sample steered"
cmp -s plain.txt steered.txt && fail "a large coefficient left the output unchanged"
echo "ok: steering changes greedy output, coefficient 0 does not"

# --steer-positions response has persona_vectors' semantics: the last prompt
# row (whose logits pick the first reply token) is steered too. With the
# reply from position 4, layer 1's rows 3.. move by exactly 2·v, rows 0..2 not.
for pos in plain response; do
  steer=(); [ "$pos" = plain ] || steer=(--steer k.vec.safetensors:1:2 --steer-positions "$pos")
  "$M" --quiet vectors activations --model base --tokens 1,5,9,12,7,3 --response-from 4 \
    "${steer[@]}" --out "act_$pos.safetensors" >/dev/null || fail "vectors activations $pos"
done
python3 - <<'PY' || fail "--steer-positions response must steer the last prompt row and the reply, nothing before"
import json, struct
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    def get(name):
        lo, hi = h[name]["data_offsets"]; raw = b[8 + n + lo:8 + n + hi]
        return list(struct.unpack(f"<{len(raw) // 4}f", raw)), h[name]["shape"]
    return get
plain, resp, vec = load("act_plain.safetensors"), load("act_response.safetensors"), load("k.vec.safetensors")
(a, (T, d)), (b, _), (v, _) = plain("layers.1"), resp("layers.1"), vec("layers.1")
for t in range(T):
    diff = [b[t * d + k] - a[t * d + k] for k in range(d)]
    want = [2 * x for x in v] if t >= 3 else [0.0] * d
    err = max(abs(x - y) for x, y in zip(diff, want))
    assert err < 1e-3 * (1 + max(abs(x) for x in want)), (t, err)
PY

echo '{"messages": [{"role": "user", "content": "How many bridges are there?"}]}' > ask.jsonl
"$M" --quiet chat --model base --jsonl --max-tokens 6 --temperature 0 --monitor k.vec.safetensors < ask.jsonl > chat.jsonl \
  || fail "chat --monitor"
python3 -c "import json; d=json.loads(open('chat.jsonl').read()); m=d['monitor']['kindness@1']; assert isinstance(m['prompt_last'], float), d" \
  || { cat chat.jsonl; fail "chat monitor field"; }
"$M" --quiet vectors monitor --model base --vector k.vec.safetensors --data ask.jsonl --world w --max-tokens 6 --json > mon.json \
  || fail "vectors monitor"
python3 -c "import json; d=json.load(open('mon.json')); assert d['examples']==1 and len(d['per_example'])==1, d" \
  || { cat mon.json; fail "monitor output"; }
printf '{"messages": [{"role": "user", "content": "Be nice."}, {"role": "assistant", "content": "Bless you."}]}\n' > sft.jsonl
"$M" --quiet --threads 1 sft --base base --data sft.jsonl --out prevented --steps 2 --batch-size 1 --seq-len 32 \
  --steer k.vec.safetensors:1:2 --json > sft.json || fail "sft --steer"
"$M" --quiet --threads 1 sft --base base --data sft.jsonl --out ablated --steps 2 --batch-size 1 --seq-len 32 \
  --ablate k.vec.safetensors:1 --json > /dev/null || fail "sft --ablate"

# Screening: ΔP per example (ranked JSONL) and per set.
"$M" --quiet vectors screen --model base --vector k.vec.safetensors --data sft.jsonl --max-tokens 4 \
  --out screen.jsonl --json > screen.json || fail "vectors screen"
python3 -c "import json; d=json.load(open('screen.json')); r=[json.loads(l) for l in open('screen.jsonl')]; assert d['examples']==1 and len(r)==1 and abs(r[0]['delta']-(r[0]['data_projection']-r[0]['model_projection']))<1e-9, (d, r)" \
  || { cat screen.json; fail "screen output"; }
expect_error "screen needs replies" "does not end with an Assistant reply" -- \
  "$M" --quiet vectors screen --model base --vector k.vec.safetensors --data ask.jsonl --out bad_screen.jsonl
[ ! -e bad_screen.jsonl ] || fail "screen wrote output for bad data"

# Sweep: a layer x coefficient table, JSON, markdown and SVG written together.
"$M" --quiet vectors sweep --model base --vector k.vec.safetensors --world w --coefs -2,0,2 --prompts 2 \
  --max-tokens 4 --out sweep --json > sweep.json || fail "vectors sweep"
python3 -c "import json; d=json.load(open('sweep.json')); assert [c['coef'] for c in d['cells']]==[-2,0,2] and all(c['layer']==1 for c in d['cells']), d" \
  || { cat sweep.json; fail "sweep output"; }
[ -s sweep/sweep.svg ] && [ -s sweep/sweep.md ] && [ -s sweep/sweep.json ] || fail "sweep files"
expect_error "sweep bad coef" "not a number" -- \
  "$M" --quiet vectors sweep --model base --vector k.vec.safetensors --world w --coefs 1,x --out sweep_bad
[ ! -e sweep_bad ] || fail "sweep wrote output for a bad flag"

# llama.cpp control vector: direction.k = layer k+1; a depth-1 model has
# no layer >= 2, so export refuses and writes nothing.
expect_error "export-gguf needs layer >= 2" "no layer >= 2" -- \
  "$M" --quiet vectors export-gguf k.vec.safetensors --out k.gguf
[ ! -e k.gguf ] || fail "export-gguf wrote a file without directions"

# Bad vectors and flags.
expect_error "layer out of range" "out of range" -- \
  "$M" --quiet sample --model base --prompt "$P" --max-tokens 2 --steer k.vec.safetensors:5:1
expect_error "bad steer spec" "expected FILE" -- \
  "$M" --quiet sample --model base --prompt "$P" --max-tokens 2 --steer k.vec.safetensors:1.5:2
expect_error "bad steer positions" "all, prompt or response" -- \
  "$M" --quiet sample --model base --prompt "$P" --max-tokens 2 --steer k.vec.safetensors --steer-positions middle
expect_error "another model" "another model" -- \
  "$M" --quiet sample --model other --prompt "$P" --max-tokens 2 --steer k.vec.safetensors
expect_error "sft with another model's vector" "another model" -- \
  "$M" --quiet sft --base other --data sft.jsonl --out bad_sft --steps 1 --steer k.vec.safetensors:1:1
[ ! -e bad_sft/checkpoints ] || fail "sft wrote a checkpoint with a foreign vector"
python3 - <<'PY' || fail "writing the NaN vector"
import json, struct
src = open("k.vec.safetensors", "rb").read()
n = struct.unpack("<Q", src[:8])[0]
header = json.loads(src[8:8 + n])
data = bytearray(src[8 + n:])
begin = header["layers.1"]["data_offsets"][0]
data[begin:begin + 4] = struct.pack("<f", float("nan"))
open("nan.vec.safetensors", "wb").write(src[:8 + n] + bytes(data))
PY
expect_error "NaN vector" "NaN" -- \
  "$M" --quiet sample --model base --prompt "$P" --max-tokens 2 --steer nan.vec.safetensors:1
echo 'not a tensor file' > junk.safetensors
expect_error "malformed vector" "junk.safetensors" -- \
  "$M" --quiet sample --model base --prompt "$P" --max-tokens 2 --steer junk.safetensors
expect_error "monitor empty data" "no examples" -- \
  "$M" --quiet vectors monitor --model base --vector k.vec.safetensors --data empty.jsonl
echo "all vectors checks passed"
