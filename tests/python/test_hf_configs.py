"""Hugging Face config and weight-file variants against transformers' logits.

Each case saves a random-weight model with transformers itself (the config
layout current transformers writes: rope_parameters), then checks that
masque's logits (and, for the biased models, every gradient) match within
1e-4 relative: non-default rope_theta, rope scaling llama3 and linear,
head_dim != hidden_size / heads, Llama attention/MLP biases, Qwen2, sharded
safetensors with an index, float16 and bfloat16 weights. Configs with a field
masque cannot honour must be refused with the field's name and exit 1.
"""
import json
import random
import shutil

import pytest
import torch
from safetensors.numpy import load_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from test_hf_parity import rel_err, write_corpus

REL_TOL = 1e-4


@pytest.fixture(scope="module")
def base(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("hf_configs")
    write_corpus(d / "corpus.jsonl", docs=100, seed=9)
    masque_run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300,
               "--out", d / "tok.json")
    masque_run("tokenize", "--tokenizer", d / "tok.json", "--input", d / "corpus.jsonl", "--out",
               d / "data", "--val-fraction", 0.05)
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    return {"dir": d, "run": masque_run, "vocab": vocab, "specials": specials}


def small(base, **kw):
    args = dict(vocab_size=base["vocab"], hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                rms_norm_eps=1e-5, tie_word_embeddings=False,
                bos_token_id=base["specials"]["<|bos|>"], eos_token_id=base["specials"]["<|eos|>"])
    args.update(kw)
    return args


def save(base, name, model, dtype=None, **save_kw):
    # Larger random weights than the 0.02 default (and nonzero biases, which
    # transformers initializes to zero) so every term shows in the logits.
    torch.manual_seed(1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
            elif pname.endswith(".bias"):
                p.normal_(0.0, 0.5)
    out = base["dir"] / name
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(str(out), **save_kw)
    shutil.copy(base["dir"] / "tok.json", out / "tokenizer.json")
    return out, model.float().eval()


def masque_forward(base, path, ids):
    dump = base["dir"] / "dump.safetensors"
    base["run"]("debug", "forward", "--model", path, "--tokens", ",".join(map(str, ids)), "--out", dump)
    return load_file(str(dump))


def check(base, path, model, grads=False):
    rng = random.Random(4)
    ids = [base["specials"]["<|bos|>"]] + [rng.randrange(base["vocab"]) for _ in range(59)]
    ours = masque_forward(base, path, ids)
    input_ids = torch.tensor([ids])
    model.zero_grad()
    out = model(input_ids=input_ids, labels=input_ids)
    err = rel_err(ours["logits"], out.logits[0].detach().numpy())
    assert err < REL_TOL, err
    if grads:
        out.loss.backward()
        bad = {}
        for name, p in model.named_parameters():
            e = rel_err(ours["grad." + name], p.grad.numpy())
            if not e < REL_TOL:
                bad[name] = e
        assert not bad, bad


def config_json(path):
    return json.loads((path / "config.json").read_text())


def test_transformers5_rope_parameters_are_honoured(base):
    path, model = save(base, "rope_theta", LlamaForCausalLM(LlamaConfig(**small(base, rope_theta=50.0))))
    cfg = config_json(path)
    assert cfg["rope_parameters"]["rope_theta"] == 50.0 and "rope_theta" not in cfg
    check(base, path, model)


@pytest.mark.parametrize("scaling", [
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 16},
    {"rope_type": "linear", "factor": 4.0},
])
def test_rope_scaling(base, scaling):
    config = LlamaConfig(**small(base, head_dim=32, rope_scaling=dict(scaling), rope_theta=500.0))
    path, model = save(base, "rope_" + scaling["rope_type"], LlamaForCausalLM(config))
    assert config_json(path)["rope_parameters"]["rope_type"] == scaling["rope_type"]
    check(base, path, model)


def test_head_dim_not_hidden_over_heads(base):
    path, model = save(base, "head_dim", LlamaForCausalLM(LlamaConfig(**small(base, head_dim=20))))
    check(base, path, model)


def test_llama_attention_and_mlp_biases(base):
    config = LlamaConfig(**small(base, attention_bias=True, mlp_bias=True))
    path, model = save(base, "llama_bias", LlamaForCausalLM(config))
    check(base, path, model, grads=True)


def test_qwen2(base):
    config = Qwen2Config(**small(base, use_sliding_window=False))
    path, model = save(base, "qwen2", Qwen2ForCausalLM(config))
    assert config_json(path)["model_type"] == "qwen2"
    check(base, path, model, grads=True)
    # The inference engine (KV cache, decode path) agrees too: greedy tokens.
    ids = [base["specials"]["<|bos|>"], 5, 77, 120, 9]
    out = base["run"]("sample", "--model", path, "--tokens", ",".join(map(str, ids)), "--temperature",
                      0, "--max-tokens", 16, "--ignore-eos", "--json").stdout
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        hf = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            max_new_tokens=16, do_sample=False, pad_token_id=0)
    assert json.loads(out)["tokens"] == hf[0, len(ids):].tolist()
    # Training continues from it (bias gradients), and the checkpoint is
    # again a Qwen2 directory transformers loads, with masque's logits.
    out = base["dir"] / "qwen2_run"
    base["run"]("train", "--init-from", path, "--tokenizer", base["dir"] / "tok.json", "--data",
                base["dir"] / "data", "--out", out, "--steps", 2, "--batch-size", 2, "--seq-len", 16,
                "--warmup", 1, "--eval-every", 0)
    ckpt = out / "checkpoints" / "step-2"
    trained = Qwen2ForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32).eval()
    assert not torch.equal(trained.model.layers[0].self_attn.q_proj.bias,
                           model.model.layers[0].self_attn.q_proj.bias)
    check(base, ckpt, trained)


def test_sharded_safetensors_with_index(base):
    path, model = save(base, "sharded", LlamaForCausalLM(LlamaConfig(**small(base))),
                       max_shard_size="60KB")
    assert (path / "model.safetensors.index.json").exists()
    assert len(list(path.glob("model-*.safetensors"))) > 2
    check(base, path, model)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights(base, dtype):
    path, _ = save(base, f"half_{dtype}".replace("torch.", ""),
                   LlamaForCausalLM(LlamaConfig(**small(base))), dtype=dtype)
    assert config_json(path)["dtype"] == str(dtype).replace("torch.", "")
    # The reference: the saved half-precision weights upcast by transformers
    # itself (a model cast with .to(half) would also round its RoPE buffer).
    model = LlamaForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    check(base, path, model)


@pytest.mark.parametrize("field,value", [
    ("rope_parameters", {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0}),
    ("sliding_window", 64),
    ("quantization_config", {"quant_method": "bitsandbytes"}),
    ("hidden_act", "gelu"),
])
def test_unsupported_fields_are_refused_by_name(base, field, value):
    src, _ = save(base, "refuse_src", LlamaForCausalLM(LlamaConfig(**small(base))))
    bad = base["dir"] / f"refuse_{field}"
    shutil.copytree(src, bad, dirs_exist_ok=True)
    cfg = config_json(bad)
    cfg[field] = value
    (bad / "config.json").write_text(json.dumps(cfg))
    proc = base["run"]("sample", "--model", bad, "--prompt", "x", check=False)
    assert proc.returncode == 1, proc.stderr
    assert field in proc.stderr and "config.json" in proc.stderr, proc.stderr


def test_ids_beyond_the_tokenizer_are_visible(base):
    # vocab_size padded past the tokenizer (as HF checkpoints often are), and
    # a head whose only nonzero row is a padded id pointing along the prompt's
    # last hidden state: greedy decoding emits it, and its text must not
    # vanish silently.
    model = LlamaForCausalLM(LlamaConfig(**small(base, vocab_size=base["vocab"] + 64)))
    path, model = save(base, "padded_vocab", model)
    padded = base["vocab"] + 3
    ids = [base["specials"]["<|bos|>"], 5, 77]
    with torch.no_grad():
        h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0, -1]
        model.lm_head.weight.zero_()
        model.lm_head.weight[padded] = 100.0 * h / h.norm()
    model.save_pretrained(str(path))
    out = base["run"]("sample", "--model", path, "--tokens", ",".join(map(str, ids)),
                      "--temperature", 0, "--max-tokens", 1, "--ignore-eos", "--json").stdout
    result = json.loads(out)
    assert result["tokens"] == [padded], result
    assert result["text"] == f"<|unused:{padded}|>", result


def test_every_eos_id_of_the_config_stops_generation(base):
    # Llama 3 lists several end ids; generation stops at any of them, as HF's does.
    model = LlamaForCausalLM(LlamaConfig(**small(base)))
    path, model = save(base, "eos_list", model)
    ids = [base["specials"]["<|bos|>"], 5, 77, 120]
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        free = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                              max_new_tokens=12, do_sample=False, pad_token_id=0)[0, len(ids):].tolist()
    stop = free[3]
    cfg = config_json(path)
    cfg["eos_token_id"] = [base["specials"]["<|eos|>"], stop]
    (path / "config.json").write_text(json.dumps(cfg))
    out = json.loads(base["run"]("sample", "--model", path, "--tokens", ",".join(map(str, ids)),
                                 "--temperature", 0, "--max-tokens", 12, "--json").stdout)
    assert out["tokens"] == free[:free.index(stop)], (out, free)
