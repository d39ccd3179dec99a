"""Decode speed, masque vs llama.cpp on the same GGUF file (docs/benchmarks.md).

For each model shape (random weights: speed does not depend on them) this
saves a transformers LlamaForCausalLM, exports it with `masque export gguf` as
F32 and Q8_0, then times, back to back in one run and with the same thread
count:
  pp512: a 512-token prompt in one batch (tokens/s), as llama-bench's pp512;
  tg128: 128 tokens generated one at a time after it (tokens/s), as tg128.
masque: `masque sample --tokens ... --json` (its prefill_seconds and
decode_seconds; greedy, --ignore-eos). masque keeps a Q8_0 file's matrices
as Q8_0 for decoding (backend/cpu/q8_matmul.h) and prefills with float32
GEMMs on their dequantized values. llama.cpp: llama-cpp-python's Llama.eval
over the same ids (n_batch 512, F32 KV cache as in the parity tests, extra
buffer types off, see docs/gguf.md). The engines alternate run by run; each
figure is the best (highest tokens/s) of --reps runs, because on a shared
machine preemption only ever slows a run down.
Usage: python bench/gguf_decode.py --masque build/release/masque [--threads 1]
       [--shapes c1,100m] [--reps 5] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # C1 (docs/benchmarks.md) with SwiGLU width 704: C1's 688 is not a multiple of
    # Q8_0's 32-element block, so llama.cpp could not hold ffn_down as Q8_0.
    "c1": dict(vocab_size=4096, hidden_size=256, intermediate_size=704, num_hidden_layers=6,
               num_attention_heads=8, num_key_value_heads=8, head_dim=32,
               tie_word_embeddings=True),
    # ~110M parameters: GPT-2-small-like width and depth, Llama vocab.
    "100m": dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                 num_attention_heads=12, num_key_value_heads=12, head_dim=64,
                 tie_word_embeddings=True),
}
PP, TG = 512, 128


def make_model(root, name, shape, masque):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    d = root / name
    d.mkdir()
    corpus = root / "corpus.txt"
    if not corpus.exists():
        corpus.write_text(" ".join(f"word{i % 97} thing{i % 13}." for i in range(20000)))
        subprocess.run([masque, "--quiet", "tokenizer", "train", "--input", corpus,
                        "--vocab-size", "512", "--out", root / "tok.json"], check=True)
    tok = json.loads((root / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    torch.manual_seed(0)
    cfg = LlamaConfig(max_position_embeddings=1024, rms_norm_eps=1e-5, rope_theta=10000.0,
                      bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"], **shape)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(d)
    (d / "tokenizer.json").write_text((root / "tok.json").read_text())
    params = sum(p.numel() for p in model.parameters())
    files = {}
    for t in ("f32", "q8_0"):
        files[t] = root / f"{name}-{t}.gguf"
        subprocess.run([masque, "--quiet", "export", "gguf", "--model", d, "--out", files[t],
                        "--type", t], check=True, stdout=subprocess.DEVNULL)
    return files, params, len(tok["model"]["vocab"]), specials["<|bos|>"]


def masque_run(masque, gguf, ids, threads):
    proc = subprocess.run([masque, "--quiet", "--threads", str(threads), "sample", "--model", gguf,
                           "--tokens", ",".join(map(str, ids)), "--max-tokens", str(TG),
                           "--temperature", "0", "--ignore-eos", "--json"],
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(r["tokens"]) == TG, r["finish_reason"]
    return PP / r["prefill_seconds"], TG / r["decode_seconds"]


def llama_load(gguf, threads):
    import llama_cpp
    import llama_cpp.llama as llama_module
    default = llama_cpp.llama_model_default_params

    def params():  # --no-extra-bufts: the repack/AMX path crashes on Q8_0 here
        p = default()
        p.use_extra_bufts = False
        return p
    llama_module.llama_cpp.llama_model_default_params = params
    return llama_cpp.Llama(model_path=str(gguf), n_ctx=PP + TG + 8, n_batch=PP, n_ubatch=PP,
                           n_threads=threads, n_threads_batch=threads, type_k=0, type_v=0,
                           logits_all=False, verbose=False)


def llama_run(llm, ids):
    import llama_cpp
    import numpy as np

    def greedy():  # argmax of the last position's logits, as masque's greedy sampler
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))))
    llm.reset()
    start = time.perf_counter()
    llm.eval(ids)
    tok = greedy()
    pp = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(TG):
        llm.eval([tok])
        tok = greedy()
    tg = time.perf_counter() - start
    return len(ids) / pp, TG / tg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masque", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", default="c1,100m")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    masque = os.path.abspath(a.masque)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="masque_gguf_bench_") as tmp:
        root = Path(tmp)
        for name in a.shapes.split(","):
            files, params, n_tok, bos = make_model(root, name, SHAPES[name], masque)
            ids = [bos] + [(i * 7919) % (n_tok - 8) for i in range(PP - 1)]
            for kind, gguf in files.items():
                llm = llama_load(gguf, a.threads)
                llama_run(llm, ids[:64])  # warm-up
                m, l = [], []
                for _ in range(a.reps):  # alternate engines so load swings hit both
                    m.append(masque_run(masque, gguf, ids, a.threads))
                    l.append(llama_run(llm, ids))
                del llm
                row = {"shape": name, "params": params, "type": kind, "threads": a.threads,
                       "masque_pp512": max(x[0] for x in m),
                       "masque_tg128": max(x[1] for x in m),
                       "llamacpp_pp512": max(x[0] for x in l),
                       "llamacpp_tg128": max(x[1] for x in l),
                       "masque_runs": m, "llamacpp_runs": l}
                rows.append(row)
                print(f"{name:5} {kind:5} pp512 masque {row['masque_pp512']:8.1f} llama.cpp "
                      f"{row['llamacpp_pp512']:8.1f} | tg128 masque {row['masque_tg128']:7.1f} "
                      f"llama.cpp {row['llamacpp_tg128']:7.1f} tok/s", flush=True)
    # The table for docs/benchmarks.md; ratio = masque / llama.cpp (goal >= 1).
    print(f"\nthreads {a.threads}, best of {a.reps}, load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    print("| shape | file | pp512 masque | pp512 llama.cpp | ratio | tg128 masque | "
          "tg128 llama.cpp | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pp, tg = (r["masque_pp512"] / r["llamacpp_pp512"], r["masque_tg128"] / r["llamacpp_tg128"])
        print(f"| {r['shape']} | {r['type'].upper()} | {r['masque_pp512']:.0f} | "
              f"{r['llamacpp_pp512']:.0f} | {pp:.2f} | {r['masque_tg128']:.1f} | "
              f"{r['llamacpp_tg128']:.1f} | {tg:.2f} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
