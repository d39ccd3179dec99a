"""Persona vectors against transformers (docs/persona-vectors.md).

On a random-weight LlamaForCausalLM written by transformers (hidden 64,
3 layers, GQA, untied) with a masque-trained tokenizer:

* `masque vectors activations` dumps layer L's residual rows (L = 0
  embeddings, L = after block L): equal to transformers'
  `output_hidden_states` (hidden_states[L]; for the last layer the output of
  the last decoder layer, before the final norm) within 1e-4 relative, and
  the engine path's pooled activations (prompt-last, prompt mean, response
  mean) equal the same means of the hooked rows.
* `--steer V:L:C` gives the logits of a transformers forward hook that adds
  C * v to the output of `model.model.layers[L-1]`, within 1e-4, at positions
  all, prompt and response.
* `masque vectors extract` on ready-text pairs writes mean(positive) -
  mean(negative) of the response-mean activations per layer, equal to the
  same computed from transformers' hidden states.
* A vector from another model (another config) is refused naming both
  fingerprints.
* `masque vectors export-gguf` writes a llama.cpp control vector that
  gguf-py's GGUFReader reads with the right keys, types, names, shapes and
  values; `--steer FILE.gguf` adds every direction.k at block k's output, as
  llama.cpp does; a malformed .gguf exits 1.
"""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

from test_hf_parity import rel_err, write_corpus

REL_TOL = 1e-4
HIDDEN = 64
LAYERS = 3


def make_model(d, vocab, specials, seed, intermediate=128):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=intermediate, num_hidden_layers=LAYERS,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=specials["<|bos|>"],
                         eos_token_id=specials["<|eos|>"])
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(str(d))
    return LlamaForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def hf(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("persona_vectors_hf")
    write_corpus(d / "corpus.jsonl", docs=100, seed=7)
    masque_run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300, "--out", d / "tok.json")
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    model = make_model(d / "hf", vocab, specials, seed=11)
    shutil.copy(d / "tok.json", d / "hf" / "tokenizer.json")
    # Same hidden size, another config (a vector's fingerprint is config + tokenizer:
    # a fine-tuned model of the same config shares it, as E8 needs).
    other = make_model(d / "other", vocab, specials, seed=12, intermediate=96)
    shutil.copy(d / "tok.json", d / "other" / "tokenizer.json")
    del other
    return {"dir": d, "hf": d / "hf", "model": model, "run": masque_run, "specials": specials,
            "tokenizer": Tokenizer.from_file(str(d / "tok.json"))}


def hidden_states(model, ids, hook_layer=None, vector=None, coef=0.0, mask=None):
    """transformers' hidden_states and logits, optionally with a hook adding coef * v at the
    output of model.model.layers[hook_layer] on the rows in mask."""
    handles = []
    if hook_layer is not None:
        v = torch.tensor(vector, dtype=torch.float32)
        m = torch.tensor(mask, dtype=torch.float32)[None, :, None]

        def hook(module, inputs, output):
            x = output[0] if isinstance(output, tuple) else output
            x = x + coef * m * v
            return (x, *output[1:]) if isinstance(output, tuple) else x
        handles.append(model.model.layers[hook_layer].register_forward_hook(hook))
    # The last decoder layer's own output (transformers' hidden_states may put
    # the final-normed state last): recorded by a hook, after any steering.
    last = {}
    handles.append(model.model.layers[LAYERS - 1].register_forward_hook(
        lambda mod, inp, out: last.__setitem__("x", (out[0] if isinstance(out, tuple) else out).detach())))
    try:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    states = [h[0].numpy() for h in out.hidden_states[:LAYERS]] + [last["x"][0].numpy()]
    return states, out.logits[0].numpy(), out.hidden_states


def ids_of(hf, text):
    return [hf["specials"]["<|bos|>"]] + hf["tokenizer"].encode(text, add_special_tokens=False).ids


def dump(hf, ids, name, response_from=None, steer=None, positions="all", model_dir=None):
    out = hf["dir"] / f"{name}.safetensors"
    args = ["vectors", "activations", "--model", model_dir or hf["hf"], "--tokens", ",".join(map(str, ids)),
            "--out", out]
    if response_from is not None:
        args += ["--response-from", response_from]
    if steer:
        args += ["--steer", steer, "--steer-positions", positions]
    hf["run"](*args)
    return load_file(str(out))


TEXT = "Ada says the river goes to town 7 and Orin asks where the bridge is"


def test_activations_equal_output_hidden_states(hf):
    ids = ids_of(hf, TEXT)
    R = 9
    ours = dump(hf, ids, "plain", response_from=R)
    states, logits, raw = hidden_states(hf["model"], ids)
    for L in range(LAYERS + 1):
        err = rel_err(ours[f"layers.{L}"], states[L])
        assert err < REL_TOL, f"layer {L}: {err}"
        assert rel_err(ours["pooled.prompt_last"][L], states[L][R - 1]) < REL_TOL
        assert rel_err(ours["pooled.prompt"][L], states[L][:R].mean(0)) < REL_TOL
        assert rel_err(ours["pooled.response"][L], states[L][R:].mean(0)) < REL_TOL
    for L in range(LAYERS):  # hidden_states[L] itself for every layer before the last
        assert rel_err(ours[f"layers.{L}"], raw[L][0].numpy()) < REL_TOL
    assert rel_err(ours["logits"], logits) < REL_TOL


@pytest.fixture(scope="module")
def vector(hf):
    pairs = hf["dir"] / "pairs.jsonl"
    texts = [("Ada helps the old tree and the cat", "Bo sees a red ball near the tree"),
             ("Cy finds some tea for the town", "Dee likes the river that goes to town"),
             ("Orin asks where the bridge is", "Ada says the river goes to town 3")]
    pairs.write_text("".join(json.dumps({"positive": p, "negative": n}) + "\n" for p, n in texts))
    out = hf["dir"] / "t.vec.safetensors"
    info = json.loads(hf["run"]("vectors", "extract", "--model", hf["hf"], "--pairs", pairs, "--trait", "test",
                                "--out", out, "--json").stdout)
    assert info["kept"] == 3 and info["pairs"] == 3
    return {"path": out, "texts": texts, "layers": load_file(str(out))}


def test_extracted_mean_diff_equals_transformers(hf, vector):
    pos, neg = [], []
    for p, n in vector["texts"]:
        pos.append(hidden_states(hf["model"], ids_of(hf, p))[0])
        neg.append(hidden_states(hf["model"], ids_of(hf, n))[0])
    for L in range(LAYERS + 1):
        want = np.mean([s[L][1:].mean(0) for s in pos], 0) - np.mean([s[L][1:].mean(0) for s in neg], 0)
        assert rel_err(vector["layers"][f"layers.{L}"], want) < REL_TOL, L


@pytest.mark.parametrize("positions", ["all", "prompt", "response"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_steered_logits_equal_a_forward_hook(hf, vector, layer, positions):
    ids = ids_of(hf, TEXT)
    R = 9
    coef = 2.5
    ours = dump(hf, ids, f"steer_{layer}_{positions}", response_from=R,
                steer=f"{vector['path']}:{layer}:{coef}", positions=positions)
    # persona_vectors' semantics: "response" also steers the last prompt row R-1, whose logits
    # pick the first reply token (docs/persona-vectors.md).
    steered = {"all": lambda t: True, "prompt": lambda t: t < R, "response": lambda t: t >= R - 1}
    mask = [1.0 if steered[positions](t) else 0.0 for t in range(len(ids))]
    v = vector["layers"][f"layers.{layer}"]
    states, logits, _ = hidden_states(hf["model"], ids, hook_layer=layer - 1, vector=v, coef=coef, mask=mask)
    err = rel_err(ours["logits"], logits)
    assert err < REL_TOL, err
    plain, plain_logits, _ = hidden_states(hf["model"], ids)
    for L in range(LAYERS + 1):
        if L < layer:  # before the edit: unchanged
            want = plain[L]
        elif L == layer:  # masque observes after its add (file order); the hooked output
            want = plain[L] + coef * np.array(mask, dtype=np.float32)[:, None] * v
        else:
            want = states[L]
        assert rel_err(ours[f"layers.{L}"], want) < REL_TOL, L
    assert rel_err(plain_logits, logits) > 1e-3  # the steering did something


def test_vector_of_another_model_is_refused(hf, vector):
    r = hf["run"]("vectors", "activations", "--model", hf["dir"] / "other", "--tokens", "1,2,3",
                  "--out", hf["dir"] / "x.safetensors", "--steer", f"{vector['path']}:1", check=False)
    assert r.returncode == 1
    assert "another model" in r.stderr and r.stderr.count("config ") == 2, r.stderr
    assert not (hf["dir"] / "x.safetensors").exists()


def test_control_vector_gguf_read_by_gguf_py_and_steers_like_llama_cpp(hf, vector):
    """export-gguf: gguf-py's GGUFReader sees general.architecture = controlvector, the model
    hint, layer_count (u32) and F32 direction.k = layer k+1 (llama.cpp adds direction.k to the
    output of 0-based block k). --steer FILE.gguf (no layer) adds every direction, as llama.cpp."""
    from gguf import GGUFReader
    out = hf["dir"] / "t.gguf"
    hf["run"]("vectors", "export-gguf", vector["path"], "--out", out, "--model-hint", "tiny-llama")
    reader = GGUFReader(str(out))

    def field(name):
        f = reader.fields[name]
        return f.parts[f.data[0]]
    assert bytes(field("general.architecture")).decode() == "controlvector"
    assert bytes(field("controlvector.model_hint")).decode() == "tiny-llama"
    count = reader.fields["controlvector.layer_count"]
    assert count.types[0].name == "UINT32" and int(field("controlvector.layer_count")[0]) == LAYERS - 1
    tensors = {t.name: t for t in reader.tensors}
    assert sorted(tensors) == [f"direction.{k}" for k in range(1, LAYERS)]
    for k in range(1, LAYERS):
        t = tensors[f"direction.{k}"]
        assert t.tensor_type.name == "F32" and list(t.shape) == [HIDDEN]
        np.testing.assert_array_equal(np.asarray(t.data), vector["layers"][f"layers.{k + 1}"])

    ids = ids_of(hf, TEXT)
    coef = 1.5
    # Every direction at once: two hooks (blocks 1 and 2), each adding coef * direction.k.
    hf["run"]("vectors", "activations", "--model", hf["hf"], "--tokens", ",".join(map(str, ids)),
                  "--out", hf["dir"] / "gguf_all.safetensors", "--steer", out)
    ours = load_file(str(hf["dir"] / "gguf_all.safetensors"))
    handles = []
    for k in range(1, LAYERS):
        v = torch.tensor(vector["layers"][f"layers.{k + 1}"])

        def hook(module, inputs, output, v=v):
            x = output[0] if isinstance(output, tuple) else output
            x = x + v
            return (x, *output[1:]) if isinstance(output, tuple) else x
        handles.append(hf["model"].model.layers[k].register_forward_hook(hook))
    try:
        with torch.no_grad():
            want = hf["model"](input_ids=torch.tensor([ids])).logits[0].numpy()
    finally:
        for h in handles:
            h.remove()
    assert rel_err(ours["logits"], want) < REL_TOL
    # One direction with a layer and coefficient equals the safetensors vector at that layer.
    a = dump(hf, ids, "gguf_l2", steer=f"{out}:2:{coef}")
    b = dump(hf, ids, "st_l2", steer=f"{vector['path']}:2:{coef}")
    assert rel_err(a["logits"], b["logits"]) < 1e-6


def test_malformed_gguf_is_refused(hf):
    bad = hf["dir"] / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 20)
    r = hf["run"]("vectors", "activations", "--model", hf["hf"], "--tokens", "1,2,3",
                  "--out", hf["dir"] / "y.safetensors", "--steer", bad, check=False)
    assert r.returncode == 1 and "bad.gguf" in r.stderr, r.stderr
    assert not (hf["dir"] / "y.safetensors").exists()
