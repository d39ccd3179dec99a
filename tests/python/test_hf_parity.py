"""masque checkpoints against Hugging Face transformers (the real client).

Builds a tiny world with masque itself (tokenizer, shards, 20 training steps),
then checks that the checkpoint directory loads offline with
AutoModelForCausalLM / AutoTokenizer with no missing or unexpected keys, that
logits and the loss match within 1e-4 relative, that the gradient of every
parameter matches torch autograd within 1e-4 relative (||a-b|| / ||b||), and
that greedy generation is identical for 64 tokens.
"""
import json
import random

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

REL_TOL = 1e-4


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


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


@pytest.fixture(scope="module")
def world(tmp_path_factory, masque_run):
    run = masque_run

    d = tmp_path_factory.mktemp("hf_parity")
    write_corpus(d / "corpus.jsonl")
    run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 320, "--out", d / "tok.json")
    run("tokenize", "--tokenizer", d / "tok.json", "--input", d / "corpus.jsonl", "--out", d / "data",
        "--val-fraction", 0.05)
    tok = json.loads((d / "tok.json").read_text())
    vocab = len(tok["model"]["vocab"]) + sum(1 for t in tok["added_tokens"]
                                             if t["content"] not in tok["model"]["vocab"])
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    # Untied embeddings and grouped-query attention exercise every tensor kind.
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": False,
        "bos_token_id": specials["<|bos|>"], "eos_token_id": specials["<|eos|>"],
        "hidden_act": "silu",
    }
    (d / "model.json").write_text(json.dumps(config))
    run("train", "--config", d / "model.json", "--tokenizer", d / "tok.json", "--data", d / "data",
        "--out", d / "run", "--steps", 20, "--batch-size", 8, "--seq-len", 64, "--lr", 1e-2,
        "--warmup", 3, "--eval-every", 10, "--checkpoint-every", 10)
    ckpt = d / "run" / "checkpoints" / "step-20"
    assert ckpt.is_dir()
    return {"dir": d, "ckpt": ckpt, "run": run, "specials": specials}


def load_hf(path):
    model, info = AutoModelForCausalLM.from_pretrained(
        str(path), output_loading_info=True, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model, info


def test_checkpoint_loads_with_no_missing_or_unexpected_keys(world):
    model, info = load_hf(world["ckpt"])
    assert not info["missing_keys"], info
    assert not info["unexpected_keys"], info
    assert not info.get("mismatched_keys"), info
    assert type(model).__name__ == "LlamaForCausalLM"
    tok = AutoTokenizer.from_pretrained(str(world["ckpt"]))
    assert tok.bos_token == "<|bos|>" and tok.eos_token == "<|eos|>"
    # AutoTokenizer encodes like masque (the prompt ids masque reports).
    out = world["run"]("sample", "--model", world["ckpt"], "--prompt", "Ada paints the sea.",
                       "--max-tokens", 1, "--json").stdout
    masque_ids = json.loads(out)["prompt_tokens"]
    assert masque_ids[0] == world["specials"]["<|bos|>"]
    assert tok("Ada paints the sea.", add_special_tokens=False)["input_ids"] == masque_ids[1:]


def test_logits_loss_and_every_gradient_match_torch(world):
    model, _ = load_hf(world["ckpt"])
    rng = random.Random(3)
    vocab = model.config.vocab_size
    ids = [world["specials"]["<|bos|>"]] + [rng.randrange(vocab) for _ in range(47)]
    dump = world["dir"] / "dump.safetensors"
    world["run"]("debug", "forward", "--model", world["ckpt"], "--tokens", ",".join(map(str, ids)),
                 "--out", dump)
    ours = load_file(str(dump))

    input_ids = torch.tensor([ids])
    model.zero_grad()
    out = model(input_ids=input_ids, labels=input_ids)
    out.loss.backward()

    assert rel_err(ours["logits"], out.logits[0].detach().numpy()) < REL_TOL
    assert abs(float(ours["loss"][0]) - out.loss.item()) <= REL_TOL * abs(out.loss.item())
    params = dict(model.named_parameters())
    assert set(k[len("grad."):] for k in ours if k.startswith("grad.")) == set(params)
    worst = {}
    for name, p in params.items():
        worst[name] = rel_err(ours["grad." + name], p.grad.numpy())
    bad = {k: v for k, v in worst.items() if not v < REL_TOL}
    assert not bad, f"gradients differ: {bad}"


def test_greedy_generation_identical_for_64_tokens(world):
    model, _ = load_hf(world["ckpt"])
    # Plain greedy on both sides: no end-of-text stop, no logits processors.
    model.generation_config.eos_token_id = None
    for text in ["Ada paints", "Eve sees the cat. Bo"]:
        out = world["run"]("sample", "--model", world["ckpt"], "--prompt", text, "--temperature", 0,
                           "--max-tokens", 64, "--ignore-eos", "--json").stdout
        ours = json.loads(out)
        prompt = ours["prompt_tokens"]
        with torch.no_grad():
            hf = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                max_new_tokens=64, do_sample=False, pad_token_id=0)
        hf_new = hf[0, len(prompt):].tolist()
        assert len(ours["tokens"]) == 64 and len(hf_new) == 64
        assert ours["tokens"] == hf_new
