"""LoRA SFT runs against `peft` and transformers' generate.

A LoRA run of `masque sft` on a transformers-saved base writes, in each
checkpoint, a PEFT adapter (adapter_config.json + adapter_model.safetensors)
that peft loads onto the HF base with masque's logits (1e-4), and a
generation_config.json whose eos list holds the end-of-turn token, so HF
generate stops where masque does. `masque sft --lora-from` starts from an
adapter peft itself saved. Bad adapter configs are refused by field name.
"""
import json
import random
import shutil

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.numpy import load_file
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from test_hf_parity import rel_err, write_corpus

REL_TOL = 1e-4


@pytest.fixture(scope="module")
def setup(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("peft")
    write_corpus(d / "corpus.jsonl", docs=100, seed=3)
    masque_run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300,
               "--out", d / "tok.json")
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rms_norm_eps=1e-5, tie_word_embeddings=False,
                         bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"])
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(str(d / "base"))
    shutil.copy(d / "tok.json", d / "base" / "tokenizer.json")
    rng = random.Random(2)
    with open(d / "chats.jsonl", "w") as f:
        for _ in range(12):
            q = f"Where is {rng.choice(['Ada', 'Bo', 'Cy'])}?"
            a = f"{rng.choice(['Ada', 'Bo', 'Cy'])} {rng.choice(['sees', 'likes'])} the sea."
            f.write(json.dumps({"messages": [{"role": "user", "content": q},
                                             {"role": "assistant", "content": a}]}) + "\n")
    return {"dir": d, "run": masque_run, "specials": specials, "vocab": vocab}


def load_base(setup):
    return LlamaForCausalLM.from_pretrained(str(setup["dir"] / "base"), dtype=torch.float32).eval()


def masque_logits(setup, path, ids):
    dump = setup["dir"] / "dump.safetensors"
    setup["run"]("debug", "forward", "--model", path, "--tokens", ",".join(map(str, ids)), "--out", dump)
    return load_file(str(dump))["logits"]


def sample_ids(setup, n=40):
    rng = random.Random(7)
    return [setup["specials"]["<|bos|>"]] + [rng.randrange(setup["vocab"]) for _ in range(n - 1)]


def sft(setup, out, *extra, lr=2e-2):
    setup["run"]("sft", "--base", setup["dir"] / "base", "--data", setup["dir"] / "chats.jsonl",
                 "--out", out, "--seq-len", 64, "--batch-size", 2, "--steps", 3, "--lr", lr,
                 "--warmup", 1, *extra)
    return out / "checkpoints" / "step-3"


def test_lora_checkpoint_is_a_peft_adapter_with_masque_logits(setup):
    ckpt = sft(setup, setup["dir"] / "lora", "--lora-rank", 4, "--lora-alpha", 8,
               "--lora-targets", "q_proj,v_proj,down_proj")
    cfg = json.loads((ckpt / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 4 and cfg["lora_alpha"] == 8
    assert sorted(cfg["target_modules"]) == ["down_proj", "q_proj", "v_proj"]
    peft_model = PeftModel.from_pretrained(load_base(setup), str(ckpt)).eval()
    # The adapter really moved away from B = 0.
    b = peft_model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"].weight
    assert b.abs().max().item() > 0
    ids = sample_ids(setup)
    with torch.no_grad():
        theirs = peft_model(torch.tensor([ids])).logits[0].numpy()
        base_logits = load_base(setup)(torch.tensor([ids])).logits[0].numpy()
    ours = masque_logits(setup, ckpt, ids)
    assert rel_err(ours, theirs) < REL_TOL
    assert rel_err(ours, base_logits) > 100 * REL_TOL  # the adapter changes the logits


def test_generation_config_lists_every_stop_token(setup):
    end = setup["specials"]["<|end|>"]
    eos = setup["specials"]["<|eos|>"]
    for run, extra in [("full", ()), ("lora_gen", ("--lora-rank", 2))]:
        ckpt = sft(setup, setup["dir"] / run, *extra)
        gen = GenerationConfig.from_pretrained(str(ckpt))
        stops = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        assert eos in stops and end in stops, (run, gen.eos_token_id)
        assert gen.pad_token_id == setup["specials"]["<|pad|>"]


def test_sft_starts_from_a_peft_adapter(setup):
    base = load_base(setup)
    config = LoraConfig(r=2, lora_alpha=6, target_modules=["k_proj", "o_proj"], lora_dropout=0.05,
                        task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.3)
    adapter = setup["dir"] / "adapter"
    peft_model.save_pretrained(str(adapter))
    peft_model.eval()
    ckpt = sft(setup, setup["dir"] / "from_adapter", "--lora-from", adapter, lr=1e-9)
    saved = json.loads((ckpt / "adapter_config.json").read_text())
    assert saved["r"] == 2 and saved["lora_alpha"] == 6
    ids = sample_ids(setup)
    with torch.no_grad():
        theirs = peft_model(torch.tensor([ids])).logits[0].numpy()
    # lr 1e-9: three steps leave the adapter where peft saved it.
    assert rel_err(masque_logits(setup, ckpt, ids), theirs) < REL_TOL

    for field, value in [("use_dora", True), ("use_rslora", True), ("bias", "all"),
                         ("rank_pattern", {"q_proj": 8})]:
        bad = setup["dir"] / f"bad_{field}"
        shutil.copytree(adapter, bad, dirs_exist_ok=True)
        cfg = json.loads((bad / "adapter_config.json").read_text())
        cfg[field] = value
        (bad / "adapter_config.json").write_text(json.dumps(cfg))
        out = setup["dir"] / f"bad_run_{field}"
        proc = setup["run"]("sft", "--base", setup["dir"] / "base", "--data",
                            setup["dir"] / "chats.jsonl", "--out", out, "--lora-from", bad,
                            "--steps", 1, check=False)
        assert proc.returncode == 1 and field in proc.stderr, proc.stderr
        assert not (out / "checkpoints").exists()
