"""masque's GGUF files checked by llama.cpp itself (llama-cpp-python, built
from source by scripts/llamacpp.sh): for F32 exports of a trained masque
checkpoint and of a random-weight transformers Llama, llama.cpp's logits for
a prompt equal masque's within 1e-3 and 32 greedy tokens are identical; F16
and Q8_0 files load and generate the same first tokens; llama.cpp's tokenizer
gives masque's ids on text (the "dbrx" pre-tokenizer is the cl100k split);
and the chat template from the GGUF, rendered by llama-cpp-python and
tokenized by llama.cpp, gives the ids `masque chat-encode` gives."""
import json
import subprocess

import numpy as np
import pytest
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from gguf_fixtures import (export_all, masque_greedy, masque_logits, prompt_ids, random_hf_llama,
                           trained_checkpoint)

LOGIT_TOL = 1e-3
GREEDY = 32


def _no_extra_buffer_types():
    # llama.cpp's CPU "extra buffer types" (weight repacking, AMX) segfault on
    # Q8_0 models on the AMX-capable test machine; llama.cpp's own
    # --no-extra-bufts switch avoids them. llama-cpp-python exposes the
    # setting only through the default-params struct.
    import llama_cpp
    import llama_cpp.llama as llama_module
    default = llama_cpp.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p
    llama_module.llama_cpp.llama_model_default_params = params


_no_extra_buffer_types()


def load_llama(path, n_ctx=128):
    # F32 KV cache: llama.cpp's default F16 cache alone moves logits by ~1e-3.
    return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=2,
                 type_k=0, type_v=0, verbose=False, seed=0)


def llama_logits(llm, ids):
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, masque_run, masque_bin):
    d = tmp_path_factory.mktemp("llamacpp")
    ckpt, specials = trained_checkpoint(d, masque_run)
    ggufs = export_all(ckpt, d, masque_run)
    (d / "hf").mkdir()
    hf_dir = random_hf_llama(d / "hf", ckpt / "tokenizer.json")
    masque_run("export", "gguf", "--model", hf_dir, "--out", d / "hf.gguf")
    return {"dir": d, "ckpt": ckpt, "specials": specials, "gguf": ggufs, "hf": hf_dir,
            "hf_gguf": d / "hf.gguf", "run": masque_run,
            "bin": masque_bin}


@pytest.mark.parametrize("source", ["masque", "hf"])
def test_f32_logits_and_greedy_tokens_match(world, source, tmp_path):
    run = world["run"]
    model = world["ckpt"] if source == "masque" else world["hf"]
    gguf = world["gguf"]["f32"] if source == "masque" else world["hf_gguf"]
    ids = prompt_ids(world["specials"], world["ckpt"] / "tokenizer.json")
    ref = masque_logits(run, model, ids, tmp_path / "ref.safetensors")
    llm = load_llama(gguf)
    got = llama_logits(llm, ids)
    assert got.shape == ref.shape
    err = float(np.abs(got - ref).max())
    assert err <= LOGIT_TOL, f"max |llama.cpp - masque| = {err}"
    assert llama_greedy(llm, ids, GREEDY) == masque_greedy(run, model, ids, GREEDY)


@pytest.mark.parametrize("kind", ["f16", "q8_0"])
def test_reduced_types_load_and_generate(world, kind, tmp_path):
    run = world["run"]
    ids = prompt_ids(world["specials"], world["ckpt"] / "tokenizer.json")
    llm = load_llama(world["gguf"][kind])
    got = llama_logits(llm, ids)
    ref = masque_logits(run, world["gguf"][kind], ids, tmp_path / "ref.safetensors")
    # Both dequantize the same blocks; llama.cpp's Q8_0 matmul also rounds the
    # activations to 8 bits, so Q8_0 agrees less closely.
    rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    assert rel <= {"f16": 1e-3, "q8_0": 3e-2}[kind], rel
    tokens = llama_greedy(llm, ids, 8)
    assert len(tokens) == 8 and all(0 <= t < got.shape[1] for t in tokens)


def test_q8_0_greedy_tokens_match(world):
    # masque decodes a Q8_0 file from its own Q8_0 blocks (float32
    # activations); llama.cpp rounds the activations to 8 bits, which moves
    # logits by ~1e-2 relative: on the trained checkpoint's confident
    # predictions the 32 greedy tokens still agree.
    ids = prompt_ids(world["specials"], world["ckpt"] / "tokenizer.json")
    llm = load_llama(world["gguf"]["q8_0"])
    assert llama_greedy(llm, ids, GREEDY) == masque_greedy(world["run"], world["gguf"]["q8_0"], ids,
                                                           GREEDY)


def _random_hf(d, tok_json, model_cls, config_cls, **kw):
    """A random transformers model with masque's tokenizer, weights and biases
    large enough that every term shows in the logits."""
    import torch
    tok = json.loads(tok_json.read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    config = config_cls(vocab_size=len(tok["model"]["vocab"]), hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                        bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"], **kw)
    torch.manual_seed(2)
    model = model_cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.5)
    model.save_pretrained(d)
    (d / "tokenizer.json").write_text(tok_json.read_text())
    return d


@pytest.mark.parametrize("variant", ["qwen2", "llama_biases", "llama3_rope"])
def test_biases_and_llama3_rope_match(world, variant, tmp_path):
    # Exported as llama.cpp's llama architecture with its optional bias
    # tensors and rope_freqs (docs/gguf.md); llama.cpp must compute masque's
    # logits from them.
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    tok_json = world["ckpt"] / "tokenizer.json"
    hf = tmp_path / "hf"
    hf.mkdir()
    if variant == "qwen2":
        _random_hf(hf, tok_json, Qwen2ForCausalLM, Qwen2Config, use_sliding_window=False)
    elif variant == "llama_biases":
        _random_hf(hf, tok_json, LlamaForCausalLM, LlamaConfig, attention_bias=True, mlp_bias=True)
    else:
        _random_hf(hf, tok_json, LlamaForCausalLM, LlamaConfig, head_dim=32, rope_theta=500.0,
                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    run = world["run"]
    gguf = tmp_path / "m.gguf"
    run("export", "gguf", "--model", hf, "--out", gguf)
    ids = prompt_ids(world["specials"], tok_json)
    ref = masque_logits(run, hf, ids, tmp_path / "ref.safetensors")
    got = llama_logits(load_llama(gguf), ids)
    err = float(np.abs(got - ref).max())
    assert err <= LOGIT_TOL, f"{variant}: max |llama.cpp - masque| = {err}"


def test_llamacpp_tokenizer_gives_masque_ids(world):
    llm = load_llama(world["gguf"]["f32"])
    texts = ["Ada sees the cat. Bo paints the sea!", "  two  spaces\n\nand lines\r\n",
             "numbers 12345 and 3.14159", "naïve café — ünïcödé ☃ 東京 Привет",
             "it's they'RE we'll I'D", "<|user|> is plain text here"]
    for text in texts:
        proc = world["run"]("tokenizer", "encode", "--tokenizer", world["ckpt"] / "tokenizer.json",
                            "--text", text, "--json")
        want = json.loads(proc.stdout.strip().splitlines()[-1])
        got = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert got == want, text


def test_chat_template_gives_masque_ids(world):
    llm = load_llama(world["gguf"]["f32"])
    template = llm.metadata["tokenizer.chat_template"]
    conversation = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi, who are you?"},
                    {"role": "assistant", "content": "I'm Ada. I like tea."},
                    {"role": "user", "content": "What else?"}]
    formatter = Jinja2ChatFormatter(template=template, eos_token="<|eos|>", bos_token="<|bos|>")
    rendered = formatter(messages=conversation)
    got = llm.tokenize(rendered.prompt.encode(), add_bos=False, special=True)
    proc = subprocess.run([world["bin"], "chat-encode", "--tokenizer",
                           str(world["ckpt"] / "tokenizer.json"), "--generation-prompt"],
                          input=json.dumps({"messages": conversation}) + "\n", capture_output=True,
                          text=True, check=True)
    want = json.loads(proc.stdout.strip().splitlines()[-1])["ids"]
    assert got == want
