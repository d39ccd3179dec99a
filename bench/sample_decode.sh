#!/usr/bin/env bash
# Decoding benchmark in llama-bench's terms: pp (prompt tokens/s, prefill into
# the KV cache) and tg (generated tokens/s, greedy, one token at a time), for
# `masque sample` against transformers' generate() on the same random-weight
# LlamaForCausalLM directory, float32, same thread count. Also times
# `masque train` end to end on that model (data, step, AdamW, checkpoint) to
# show the trainer's overhead over a bare step. Figures: docs/benchmarks.md
# ("Sampling and the training loop").
#
#   bench/sample_decode.sh [masque_binary]
#   env: THREADS (default nproc), PROMPT (128), GEN (128), ROUNDS (3), PYTHON
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
M="${1:-$root/build/release/masque}"
python="${PYTHON:-$root/.venv/bin/python}"
threads="${THREADS:-$(nproc)}"
prompt_len="${PROMPT:-128}"
gen="${GEN:-128}"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A tokenizer (smaller than the model's vocab, which is allowed) and shards.
"$python" - "$work" <<'PY'
import json, random, sys
r = random.Random(0)
words = "the a cat dog tree sea sky red blue old new sees likes helps finds paints runs".split()
with open(f"{sys.argv[1]}/corpus.jsonl", "w") as f:
    for _ in range(2000):
        f.write(json.dumps({"text": " ".join(r.choice(words) for _ in range(120))}) + "\n")
PY
"$M" --quiet tokenizer train --input "$work/corpus.jsonl" --vocab-size 400 --out "$work/tok.json" >/dev/null
"$M" --quiet tokenize --tokenizer "$work/tok.json" --input "$work/corpus.jsonl" --out "$work/data" >/dev/null

# The C1 shape of bench/cpu_train_step (6 layers, d 256, 8 heads, vocab 4096).
OMP_NUM_THREADS="$threads" "$python" - "$work" "$threads" "$prompt_len" "$gen" "$rounds" <<'PY' > "$work/hf.json"
import json, shutil, sys, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM
work, threads, plen, gen, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
tok = json.load(open(f"{work}/tok.json"))
bos = next(t["id"] for t in tok["added_tokens"] if t["content"] == "<|bos|>")
cfg = LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=688, num_hidden_layers=6,
                  num_attention_heads=8, num_key_value_heads=8, head_dim=32, max_position_embeddings=512,
                  rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos, eos_token_id=bos)
model = LlamaForCausalLM(cfg).eval()
model.save_pretrained(f"{work}/hf")
shutil.copy(f"{work}/tok.json", f"{work}/hf/tokenizer.json")
model.generation_config.eos_token_id = None
ids = torch.randint(0, 300, (1, plen))
best_pp, best_tg = 0.0, 0.0
with torch.no_grad():
    for _ in range(rounds):
        t0 = time.perf_counter(); model(ids, use_cache=True); t1 = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=gen, min_new_tokens=gen,
                             do_sample=False, pad_token_id=0)
        t2 = time.perf_counter()
        pp = plen / (t1 - t0)
        tg = gen / max((t2 - t1) - (t1 - t0), 1e-9)  # generate = prefill + decode
        best_pp, best_tg = max(best_pp, pp), max(best_tg, tg)
print(json.dumps({"ids": ids[0].tolist(), "pp": best_pp, "tg": best_tg, "torch": torch.__version__}))
PY
ids="$("$python" -c "import json,sys; print(','.join(map(str, json.load(open('$work/hf.json'))['ids'])))")"
best_pp=0; best_tg=0
for _ in $(seq "$rounds"); do
  out="$("$M" --quiet --threads "$threads" sample --model "$work/hf" --tokens "$ids" --max-tokens "$gen" \
    --temperature 0 --ignore-eos --json)"
  read -r pp tg < <("$python" -c "import json,sys; j=json.loads(sys.argv[1]); print($prompt_len/j['prefill_seconds'], len(j['tokens'])/j['decode_seconds'])" "$out")
  best_pp=$("$python" -c "print(max($best_pp, $pp))"); best_tg=$("$python" -c "print(max($best_tg, $tg))")
done

# The trainer end to end on the same shape: 6 steps, B 8, T 256, a checkpoint every 3 steps.
train_json="$("$M" --quiet --threads "$threads" train --init-from "$work/hf" --tokenizer "$work/tok.json" \
  --data "$work/data" --out "$work/run" --steps 6 --batch-size 8 --seq-len 256 --eval-every 0 \
  --checkpoint-every 3 --json)"
"$python" - "$work/hf.json" "$best_pp" "$best_tg" "$train_json" "$work/run/metrics.jsonl" "$threads" <<'PY'
import json, statistics, sys
hf = json.load(open(sys.argv[1])); pp, tg = float(sys.argv[2]), float(sys.argv[3])
train = json.loads(sys.argv[4])
steps = [json.loads(l) for l in open(sys.argv[5])]
step_s = [s["step_seconds"] for s in steps if s["type"] == "train"]
print(f"{'':10} {'pp tok/s':>9} {'tg tok/s':>9}")
print(f"{'masque':10} {pp:9.0f} {tg:9.1f}")
print(f"{'torch':10} {hf['pp']:9.0f} {hf['tg']:9.1f}")
print(f"{'ratio':10} {pp / hf['pp']:9.2f} {tg / hf['tg']:9.2f}")
print(f"train loop: {train['tokens_per_second']:.0f} tok/s end to end incl. 2 checkpoints; "
      f"median step {statistics.median(step_s):.3f}s (B*T = 2048 tokens)")
print(f"(threads {sys.argv[6]}, torch {hf['torch']}, best of rounds)")
PY
