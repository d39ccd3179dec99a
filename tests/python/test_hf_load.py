"""masque loads a LlamaForCausalLM directory written by transformers.

The directory is made offline here: random weights from LlamaConfig,
save_pretrained (safetensors), plus a masque-trained tokenizer.json. masque
must load it, generate the same greedy tokens as transformers, match its
logits, refuse a broken copy with a clear error, and continue training from
it with `masque train --init-from`.
"""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from test_hf_parity import rel_err, write_corpus


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("hf_load")

    run = masque_run

    write_corpus(d / "corpus.jsonl", docs=200, seed=5)
    run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300, "--out", d / "tok.json")
    run("tokenize", "--tokenizer", d / "tok.json", "--input", d / "corpus.jsonl", "--out", d / "data",
        "--val-fraction", 0.05)
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=1, head_dim=12,
                         max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=True,
                         bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"])
    model = LlamaForCausalLM(config).eval()
    # Larger random weights than the 0.02 default so greedy decoding is not flat.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(str(d / "hf"))
    shutil.copy(d / "tok.json", d / "hf" / "tokenizer.json")
    return {"dir": d, "hf": d / "hf", "model": model, "run": run, "specials": specials}


def test_masque_matches_transformers_on_its_own_directory(hf_dir):
    model = hf_dir["model"]
    ids = [hf_dir["specials"]["<|bos|>"], 5, 77, 120, 9, 31, 200, 64]
    dump = hf_dir["dir"] / "dump.safetensors"
    hf_dir["run"]("debug", "forward", "--model", hf_dir["hf"], "--tokens", ",".join(map(str, ids)),
                  "--out", dump)
    ours = load_file(str(dump))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()
    assert rel_err(ours["logits"], logits) < 1e-4

    out = hf_dir["run"]("sample", "--model", hf_dir["hf"], "--tokens", ",".join(map(str, ids)),
                        "--temperature", 0, "--max-tokens", 32, "--ignore-eos", "--json").stdout
    ours = json.loads(out)
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        hf = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            max_new_tokens=32, do_sample=False, pad_token_id=0)
    assert ours["tokens"] == hf[0, len(ids):].tolist()

    # Sampling with a seed streams text and is reproducible.
    a = hf_dir["run"]("sample", "--model", hf_dir["hf"], "--prompt", "Ada", "--seed", 4,
                      "--max-tokens", 16).stdout
    b = hf_dir["run"]("sample", "--model", hf_dir["hf"], "--prompt", "Ada", "--seed", 4,
                      "--max-tokens", 16).stdout
    assert a == b and a.startswith("Ada")


def test_broken_hf_directory_is_refused_clearly(hf_dir):
    broken = hf_dir["dir"] / "broken"
    shutil.copytree(hf_dir["hf"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    proc = hf_dir["run"]("sample", "--model", broken, "--prompt", "x", check=False)
    assert proc.returncode == 1
    assert "model.safetensors" in proc.stderr and "truncated" in proc.stderr, proc.stderr
    cfg = json.loads((hf_dir["hf"] / "config.json").read_text())
    cfg["num_hidden_layers"] = 3
    shutil.copy(hf_dir["hf"] / "model.safetensors", weights)
    (broken / "config.json").write_text(json.dumps(cfg))
    proc = hf_dir["run"]("sample", "--model", broken, "--prompt", "x", check=False)
    assert proc.returncode == 1
    assert "missing tensors: model.layers.2." in proc.stderr, proc.stderr


def test_continue_training_from_a_transformers_directory(hf_dir):
    run_dir = hf_dir["dir"] / "run"
    out = hf_dir["run"]("train", "--init-from", hf_dir["hf"], "--tokenizer", hf_dir["dir"] / "tok.json",
                        "--data", hf_dir["dir"] / "data", "--out", run_dir, "--steps", 5,
                        "--batch-size", 4, "--seq-len", 32, "--lr", 1e-3, "--warmup", 1,
                        "--eval-every", 0, "--json").stdout
    summary = json.loads(out)
    assert summary["steps"] == 5 and np.isfinite(summary["final_train_loss"])
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first = [l for l in lines if l["type"] == "train"][0]
    # Step 1's loss is the HF model's own loss on that batch: far from a fresh
    # init's log(vocab) only if the weights really came from the directory.
    hf_loss_scale = float(np.log(hf_dir["model"].config.vocab_size))
    assert abs(first["loss"] - hf_loss_scale) > 0.1
    # The result is again a transformers-loadable directory.
    ckpt = run_dir / "checkpoints" / "step-5"
    loaded = LlamaForCausalLM.from_pretrained(str(ckpt))
    assert loaded.config.num_key_value_heads == 1
