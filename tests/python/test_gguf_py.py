"""masque's GGUF files read by gguf-py (PyPI `gguf`, llama.cpp's own Python
reader): keys with llama.cpp's exact types, tensor names, shapes and types,
tensor data equal to the checkpoint (Q/K rows in llama.cpp's order), the
tokenizer as tokens/types/merges; and masque reading its own GGUF back gives
the checkpoint's logits (F32 exactly, F16/Q8_0 within docs/gguf.md's bounds).
The llama.cpp runtime checks are opt-in: tests/python_llamacpp."""
import json

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType, GGMLQuantizationType
from safetensors.numpy import load_file

from gguf_fixtures import export_all, masque_logits, permute_qk, prompt_ids, trained_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("gguf_py")
    ckpt, specials = trained_checkpoint(d, masque_run)
    return {"dir": d, "ckpt": ckpt, "specials": specials, "gguf": export_all(ckpt, d, masque_run),
            "run": masque_run}


def field(reader, key):
    f = reader.fields[key]
    return f, f.contents()


def test_metadata_keys_and_types(exported):
    r = GGUFReader(exported["gguf"]["f32"])
    cfg = json.loads((exported["ckpt"] / "config.json").read_text())
    expect_u32 = {
        "llama.context_length": cfg["max_position_embeddings"],
        "llama.embedding_length": cfg["hidden_size"],
        "llama.block_count": cfg["num_hidden_layers"],
        "llama.feed_forward_length": cfg["intermediate_size"],
        "llama.attention.head_count": cfg["num_attention_heads"],
        "llama.attention.head_count_kv": cfg["num_key_value_heads"],
        "llama.rope.dimension_count": cfg["head_dim"],
        "tokenizer.ggml.bos_token_id": exported["specials"]["<|bos|>"],
        "tokenizer.ggml.eos_token_id": exported["specials"]["<|eos|>"],
        "tokenizer.ggml.eot_token_id": exported["specials"]["<|end|>"],
        "general.alignment": 32,
    }
    for key, value in expect_u32.items():
        f, v = field(r, key)
        assert f.types == [GGUFValueType.UINT32], key
        assert v == value, key
    for key, value in {"llama.rope.freq_base": cfg["rope_theta"],
                       "llama.attention.layer_norm_rms_epsilon": cfg["rms_norm_eps"]}.items():
        f, v = field(r, key)
        assert f.types == [GGUFValueType.FLOAT32], key
        assert v == pytest.approx(value, rel=1e-6), key
    assert field(r, "general.architecture")[1] == "llama"
    assert field(r, "tokenizer.ggml.model")[1] == "gpt2"
    assert field(r, "tokenizer.ggml.pre")[1] == "dbrx"
    assert field(r, "tokenizer.ggml.add_bos_token")[1] is True
    tok_config = json.loads((exported["ckpt"] / "tokenizer_config.json").read_text())
    assert field(r, "tokenizer.chat_template")[1] == tok_config["chat_template"]


def test_tokenizer_metadata_is_the_byte_level_vocab(exported):
    r = GGUFReader(exported["gguf"]["f32"])
    tok = json.loads((exported["ckpt"] / "tokenizer.json").read_text())
    tokens = field(r, "tokenizer.ggml.tokens")[1]
    types = field(r, "tokenizer.ggml.token_type")[1]
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    assert tokens == [by_id[i] for i in range(len(by_id))]
    specials = {t["id"] for t in tok["added_tokens"] if t["special"]}
    assert types == [3 if i in specials else 1 for i in range(len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    assert field(r, "tokenizer.ggml.merges")[1] == merges
    assert "Ġ" in "".join(tokens)  # byte-level spelling (space -> Ġ)


def test_tensors_names_shapes_and_data(exported):
    st = load_file(str(exported["ckpt"] / "model.safetensors"))
    cfg = json.loads((exported["ckpt"] / "config.json").read_text())
    r = GGUFReader(exported["gguf"]["f32"])
    tensors = {t.name: t for t in r.tensors}
    names = {"token_embd.weight", "output_norm.weight", "output.weight"}
    hf = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
          "output.weight": "lm_head.weight"}
    for layer in range(cfg["num_hidden_layers"]):
        for g, h in [("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"),
                     ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
                     ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
                     ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
                     ("ffn_down", "mlp.down_proj")]:
            names.add(f"blk.{layer}.{g}.weight")
            hf[f"blk.{layer}.{g}.weight"] = f"model.layers.{layer}.{h}.weight"
    assert set(tensors) == names
    for name, t in tensors.items():
        ref = st[hf[name]]
        assert t.tensor_type == GGMLQuantizationType.F32, name
        assert list(t.shape) == list(reversed(ref.shape)), name  # GGUF dims: innermost first
        if ".attn_q." in name:
            ref = permute_qk(ref, cfg["num_attention_heads"])
        elif ".attn_k." in name:
            ref = permute_qk(ref, cfg["num_key_value_heads"])
        np.testing.assert_array_equal(np.asarray(t.data).reshape(ref.shape), ref, err_msg=name)
        assert t.data_offset % 32 == 0, name


@pytest.mark.parametrize("kind,qtype", [("f16", GGMLQuantizationType.F16),
                                        ("q8_0", GGMLQuantizationType.Q8_0)])
def test_reduced_types(exported, kind, qtype):
    r = GGUFReader(exported["gguf"][kind])
    for t in r.tensors:
        want = GGMLQuantizationType.F32 if t.name.endswith("norm.weight") else qtype
        assert t.tensor_type == want, t.name
    assert field(r, "general.file_type")[1] == {"f16": 1, "q8_0": 7}[kind]


def test_masque_reads_its_gguf_back(exported, tmp_path):
    run = exported["run"]
    ids = prompt_ids(exported["specials"], exported["ckpt"] / "tokenizer.json")
    ref = masque_logits(run, exported["ckpt"], ids, tmp_path / "ref.safetensors")
    # Relative error ||got - ref|| / ||ref|| over all logits (docs/gguf.md).
    for kind, tol in [("f32", 0.0), ("f16", 1e-3), ("q8_0", 2e-2)]:
        got = masque_logits(run, exported["gguf"][kind], ids, tmp_path / f"{kind}.safetensors")
        err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        print(kind, err)
        assert err <= tol, (kind, err)
    greedy = run("sample", "--model", exported["gguf"]["f32"], "--prompt", "Ada sees",
                 "--max-tokens", 16, "--temperature", 0, "--json")
    greedy_ref = run("sample", "--model", exported["ckpt"], "--prompt", "Ada sees",
                     "--max-tokens", 16, "--temperature", 0, "--json")
    a, b = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (greedy, greedy_ref))
    assert a["text"] == b["text"] and a["prompt_tokens"] == b["prompt_tokens"]


def test_bad_gguf_is_refused_with_the_offset(exported, tmp_path, run_masque):
    data = bytearray(exported["gguf"]["f32"].read_bytes())
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data[: len(data) // 2]))  # truncated: tensor data past the end
    proc = run_masque("sample", "--model", bad, "--prompt", "x", check=False)
    assert proc.returncode == 1 and "past the end" in proc.stderr, proc.stderr
    data[4] = 7  # version 7
    bad.write_bytes(bytes(data))
    proc = run_masque("sample", "--model", bad, "--prompt", "x", check=False)
    assert proc.returncode == 1 and "version 7" in proc.stderr and "byte 4" in proc.stderr
