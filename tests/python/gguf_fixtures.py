"""Shared by the GGUF tests (tests/python/test_gguf_py.py and the opt-in
llama.cpp checks in tests/python_llamacpp): a small trained masque
checkpoint exported to GGUF in each type, and a random-weight transformers
LlamaForCausalLM saved as an HF directory with masque's tokenizer."""
import json
import random

import numpy as np
from safetensors.numpy import load_file


def write_corpus(path, docs=300, seed=1):
    rng = random.Random(seed)
    names = ["Ada", "Bo", "Cy", "Dee", "Eve"]
    verbs = ["likes", "sees", "helps", "finds", "paints"]
    things = ["the cat", "a red ball", "the old tree", "some tea", "the sea"]
    with open(path, "w") as f:
        for _ in range(docs):
            text = " ".join(f"{rng.choice(names)} {rng.choice(verbs)} {rng.choice(things)}."
                            for _ in range(10))
            f.write(json.dumps({"text": text}) + "\n")


def trained_checkpoint(d, run):
    """A 20-step masque run: untied embeddings and grouped-query attention, so
    every tensor kind and the K permutation with n_head_kv are exercised."""
    write_corpus(d / "corpus.jsonl")
    run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 320, "--out", d / "tok.json")
    run("tokenize", "--tokenizer", d / "tok.json", "--input", d / "corpus.jsonl", "--out", d / "data",
        "--val-fraction", 0.05)
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": len(tok["model"]["vocab"]), "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": False,
        "bos_token_id": specials["<|bos|>"], "eos_token_id": specials["<|eos|>"],
        "hidden_act": "silu",
    }
    (d / "model.json").write_text(json.dumps(config))
    run("train", "--config", d / "model.json", "--tokenizer", d / "tok.json", "--data", d / "data",
        "--out", d / "run", "--steps", 20, "--batch-size", 8, "--seq-len", 64, "--lr", 1e-2,
        "--warmup", 3, "--eval-every", 0, "--checkpoint-every", 20)
    ckpt = d / "run" / "checkpoints" / "step-20"
    assert ckpt.is_dir()
    return ckpt, specials


def export_all(ckpt, out_dir, run):
    paths = {}
    for t in ("f32", "f16", "q8_0"):
        paths[t] = out_dir / f"model-{t}.gguf"
        run("export", "gguf", "--model", ckpt, "--out", paths[t], "--type", t)
    return paths


def random_hf_llama(d, tokenizer_json, seed=0):
    """transformers' own LlamaForCausalLM with random weights (tied
    embeddings, rope_theta 500000) and masque's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    tok = json.loads(tokenizer_json.read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok["model"]["vocab"]), hidden_size=96, intermediate_size=160,
                         num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=3,
                         head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-6,
                         rope_theta=500000.0, tie_word_embeddings=True,
                         bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"])
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms away from 1 so a wrong norm shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    model.save_pretrained(d)
    (d / "tokenizer.json").write_text(tokenizer_json.read_text())
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|bos|>", "eos_token": "<|eos|>"}))
    return d


def masque_logits(run, model, ids, out):
    run("debug", "forward", "--model", model, "--tokens", ",".join(map(str, ids)), "--out", out)
    return load_file(str(out))["logits"].reshape(len(ids), -1)


def masque_greedy(run, model, ids, n):
    proc = run("sample", "--model", model, "--tokens", ",".join(map(str, ids)), "--max-tokens", n,
               "--temperature", 0, "--ignore-eos", "--json")
    return json.loads(proc.stdout.strip().splitlines()[-1])["tokens"]


def permute_qk(w, n_head):
    """llama.cpp's row order for Q/K (its converter's LlamaModel.permute)."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def prompt_ids(specials, tok_json, n=24, seed=3):
    rng = np.random.default_rng(seed)
    vocab = len(json.loads(tok_json.read_text())["model"]["vocab"])
    return [specials["<|bos|>"]] + [int(x) for x in rng.integers(0, vocab - 8, n - 1)]
