"""masque's interventions against transformers with torch forward hooks.

A random-weight LlamaForCausalLM (hidden 64, 3 layers, grouped-query
attention, untied embeddings) is written by transformers with a
masque-trained tokenizer.json, and `masque debug forward --interventions`
runs on it. The same specs are applied in torch by forward hooks at the
modules that are masque's sites (TransformerLens names in brackets):

  embed       model.model.embed_tokens output           [blocks.0.hook_resid_pre]
  attn_out    model.model.layers[l].self_attn.o_proj     [blocks.l.hook_attn_out]
  mlp_out     model.model.layers[l].mlp.down_proj        [blocks.l.hook_mlp_out]
  resid_post  model.model.layers[l] output               [blocks.l.hook_resid_post]

Checked, each within 1e-4 relative (||a-b|| / ||b||): observe at every site
equals the hooked activation on the selected rows; add (alpha, explicit
positions, response scope) and project_out at every site give the same
logits and loss; every parameter's gradient under add + project_out equals
torch autograd (project_out's backward is the projection, not a pass-through).
Bad spec files exit 1 with a message naming the file and entry, and write
nothing.
"""
import json
import random
import shutil
from collections import defaultdict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from test_hf_parity import rel_err, write_corpus

REL_TOL = 1e-4
HIDDEN = 64
LAYERS = 3
T = 24
RESPONSE_FROM = 15  # positions >= 15 are response tokens


@pytest.fixture(scope="module")
def hf(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("interventions_hf")

    run = masque_run

    write_corpus(d / "corpus.jsonl", docs=100, seed=7)
    run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300, "--out", d / "tok.json")
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    torch.manual_seed(11)
    config = LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=LAYERS,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=specials["<|bos|>"],
                         eos_token_id=specials["<|eos|>"])
    model = LlamaForCausalLM(config)
    # Larger random weights than the 0.02 default: activations of order one,
    # so an intervention moves the logits visibly.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(str(d / "hf"))
    shutil.copy(d / "tok.json", d / "hf" / "tokenizer.json")
    # Reload as the real client would: the float32 eager path.
    model = LlamaForCausalLM.from_pretrained(str(d / "hf"), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    rng = random.Random(3)
    ids = [specials["<|bos|>"]] + [rng.randrange(vocab) for _ in range(T - 1)]
    return {"dir": d, "hf": d / "hf", "model": model, "run": run, "ids": ids}


# --- torch side: the same specs as forward hooks -------------------------------------------------

def site_module(model, site, layer):
    m = model.model
    if site == "embed":
        return m.embed_tokens
    if site == "attn_out":
        return m.layers[layer].self_attn.o_proj
    if site == "mlp_out":
        return m.layers[layer].mlp.down_proj
    return m.layers[layer]


def row_mask(spec, response_from):
    """[T] float mask of the rows the spec's positions select."""
    p = spec.get("positions", "all")
    mask = torch.zeros(T)
    if p == "all":
        mask[:] = 1
    elif p == "prompt":
        mask[:response_from] = 1
    elif p == "response":
        mask[response_from:] = 1
    else:
        mask[[q for q in p if q < T]] = 1
    return mask


def apply_spec(x, spec, mask, naive=False):
    """x [1, T, d] -> x with an add or project_out on the masked rows (autograd-friendly).
    naive: project_out's removed component as a constant in backward (the wrong gradient)."""
    v = torch.tensor(spec["vector"], dtype=torch.float32)
    m = mask[None, :, None]
    if spec["kind"] == "add":
        return x + m * spec.get("alpha", 1.0) * v
    u = v / v.norm()
    coef = (x.detach() if naive else x) @ u
    return x - m * coef[..., None] * u


def torch_run(model, ids, specs, response_from=RESPONSE_FROM, backward=False, naive=False):
    """Forward (and backward) under the specs; returns (output, {entry index: observed rows})."""
    groups = defaultdict(list)  # (site, layer) -> [(index, spec)], in file order as masque applies them
    for i, spec in enumerate(specs):
        groups[(spec["site"], -1 if spec["site"] == "embed" else spec["layer"])].append((i, spec))
    observed = {}
    handles = []
    for (site, layer), entries in groups.items():
        def hook(module, inputs, output, entries=entries):
            # A decoder layer returns a tensor in newer transformers, a tuple in older ones.
            x = output[0] if isinstance(output, tuple) else output
            for i, spec in entries:
                mask = row_mask(spec, response_from)
                if spec["kind"] == "observe":
                    observed[i] = x[0][mask.bool()].detach().clone().numpy()
                else:
                    x = apply_spec(x, spec, mask, naive)
            return (x, *output[1:]) if isinstance(output, tuple) else x
        handles.append(site_module(model, site, layer).register_forward_hook(hook))
    try:
        model.zero_grad()
        input_ids = torch.tensor([ids])
        if backward:
            out = model(input_ids=input_ids, labels=input_ids)
            out.loss.backward()
        else:
            with torch.no_grad():
                out = model(input_ids=input_ids, labels=input_ids)
    finally:
        for h in handles:
            h.remove()
    return out, observed


def masque_run(hf, specs, name, response_from=RESPONSE_FROM):
    spec_file = hf["dir"] / f"{name}.json"
    spec_file.write_text(json.dumps(specs))
    dump = hf["dir"] / f"{name}.safetensors"
    args = ["debug", "forward", "--model", hf["hf"], "--tokens", ",".join(map(str, hf["ids"])),
            "--interventions", spec_file, "--out", dump]
    if response_from is not None:
        args += ["--response-from", response_from]
    summary = json.loads(hf["run"](*args).stdout)
    assert summary["interventions"] == len(specs)
    return load_file(str(dump))


def all_sites():
    return [("embed", -1)] + [(s, l) for l in range(LAYERS) for s in ("attn_out", "mlp_out", "resid_post")]


def spec_at(site, layer, **fields):
    spec = {"site": site}
    if site != "embed":
        spec["layer"] = layer
    spec.update(fields)
    return spec


def random_vector(rng, scale=1.0):
    return [rng.gauss(0.0, scale) for _ in range(HIDDEN)]


# --- (a) observe ---------------------------------------------------------------------------------

def test_observe_at_every_site_equals_the_hooked_activation(hf):
    specs = [spec_at(site, layer, kind="observe") for site, layer in all_sites()]
    # Row selection: explicit positions (one past the end selects nothing), prompt and response rows.
    specs.append(spec_at("resid_post", 1, kind="observe", positions=[0, 3, 9, T + 5]))
    specs.append(spec_at("attn_out", 2, kind="observe", positions="response"))
    specs.append(spec_at("mlp_out", 0, kind="observe", positions="prompt"))
    ours = masque_run(hf, specs, "observe")
    out, observed = torch_run(hf["model"], hf["ids"], specs)
    worst = {}
    for i, spec in enumerate(specs):
        got = ours[f"observe.{i}"]
        want = observed[i]
        assert got.shape == want.shape == (int(row_mask(spec, RESPONSE_FROM).sum()), HIDDEN), (i, spec)
        worst[i] = rel_err(got, want)
    print("observe: max rel err", max(worst.values()))
    assert all(v < REL_TOL for v in worst.values()), worst
    # Observing changes nothing.
    assert rel_err(ours["logits"], out.logits[0].numpy()) < REL_TOL


# --- (b) add and project_out: logits; (c) their gradients ----------------------------------------

def steering_specs(site, layer, seed):
    rng = random.Random(seed)
    return [
        spec_at(site, layer, kind="add", vector=random_vector(rng), alpha=2.5, positions=[1, 4, 6, 20]),
        spec_at(site, layer, kind="add", vector=random_vector(rng), alpha=-1.5, positions="response"),
        # Observed between the edits: masque applies a site's entries in file order.
        spec_at(site, layer, kind="observe"),
        spec_at(site, layer, kind="project_out", vector=random_vector(rng)),
        spec_at(site, layer, kind="project_out", vector=random_vector(rng), positions="prompt"),
    ]


@pytest.mark.parametrize("site,layer", all_sites(), ids=[f"{s}{'' if l < 0 else l}" for s, l in all_sites()])
def test_add_and_project_out_match_logits_loss_and_gradients(hf, site, layer):
    specs = steering_specs(site, layer, seed=100 + layer)
    ours = masque_run(hf, specs, f"steer_{site}_{layer}")
    out, observed = torch_run(hf["model"], hf["ids"], specs, backward=True)
    logits = out.logits[0].detach().numpy()
    err = rel_err(ours["logits"], logits)
    assert err < REL_TOL, f"logits differ by {err}"
    assert abs(float(ours["loss"][0]) - out.loss.item()) <= REL_TOL * abs(out.loss.item())
    assert rel_err(ours["observe.2"], observed[2]) < REL_TOL
    grad_err = {name: rel_err(ours["grad." + name], p.grad.numpy())
                for name, p in hf["model"].named_parameters()}
    print(f"{site} {layer}: logits {err:.2e}, max grad {max(grad_err.values()):.2e}")
    bad = {k: v for k, v in grad_err.items() if not v < REL_TOL}
    assert not bad, f"gradients differ: {bad}"
    # The edits really moved the logits (not a vacuous match).
    plain, _ = torch_run(hf["model"], hf["ids"], [])
    assert rel_err(plain.logits[0].numpy(), logits) > 1e-2


def test_gradients_under_interventions_at_several_sites_at_once(hf):
    rng = random.Random(5)
    specs = [
        spec_at("embed", -1, kind="project_out", vector=random_vector(rng)),
        spec_at("attn_out", 0, kind="add", vector=random_vector(rng), alpha=3.0, positions="response"),
        spec_at("mlp_out", 1, kind="project_out", vector=random_vector(rng), positions=[2, 3, 5, 8, 13, 21]),
        spec_at("resid_post", 1, kind="project_out", vector=random_vector(rng)),
        spec_at("resid_post", 2, kind="add", vector=random_vector(rng), alpha=0.5),
        spec_at("attn_out", 2, kind="project_out", vector=random_vector(rng), positions="prompt"),
    ]
    ours = masque_run(hf, specs, "multi")
    out, _ = torch_run(hf["model"], hf["ids"], specs, backward=True)
    assert rel_err(ours["logits"], out.logits[0].detach().numpy()) < REL_TOL
    grad_err = {name: rel_err(ours["grad." + name], p.grad.numpy())
                for name, p in hf["model"].named_parameters()}
    print("several sites: max grad rel err", max(grad_err.values()))
    bad = {k: v for k, v in grad_err.items() if not v < REL_TOL}
    assert not bad, f"gradients differ: {bad}"
    # Treating project_out as an added constant in backward gives other
    # gradients, far outside the tolerance: the check above can tell them apart.
    torch_run(hf["model"], hf["ids"], specs, backward=True, naive=True)
    naive_err = max(rel_err(ours["grad." + name], p.grad.numpy()) for name, p in hf["model"].named_parameters())
    print("naive project_out backward: max grad rel err", naive_err)
    assert naive_err > 100 * REL_TOL, naive_err


def test_alpha_zero_and_zero_rows_change_nothing(hf):
    rng = random.Random(9)
    specs = [
        spec_at("resid_post", 0, kind="add", vector=random_vector(rng), alpha=0.0),
        spec_at("mlp_out", 2, kind="project_out", vector=random_vector(rng), positions=[T + 1]),
        spec_at("attn_out", 1, kind="add", vector=random_vector(rng), batch_row=1),  # no such row here
    ]
    ours = masque_run(hf, specs, "noop", response_from=None)
    plain, _ = torch_run(hf["model"], hf["ids"], [])
    assert rel_err(ours["logits"], plain.logits[0].numpy()) < REL_TOL


# --- (d) bad spec files ----------------------------------------------------------------------------

BAD_SPECS = [
    ("not_json", "[{", "not_json.json"),
    ("not_array", json.dumps({"site": "embed", "kind": "observe"}), "expected a JSON array"),
    ("unknown_site", json.dumps([{"site": "resid_pre", "layer": 0, "kind": "observe"}]), "unknown site 'resid_pre'"),
    ("unknown_kind", json.dumps([{"site": "embed", "kind": "scale"}]), "unknown kind 'scale'"),
    ("unknown_field", json.dumps([{"site": "embed", "kind": "observe", "strength": 2}]), "strength"),
    ("layer_range", json.dumps([{"site": "mlp_out", "layer": LAYERS, "kind": "observe"}]),
     f"layer must be in [0, {LAYERS})"),
    ("short_vector", json.dumps([{"site": "embed", "kind": "observe"},
                                 {"site": "embed", "kind": "add", "vector": [1.0, 2.0]}]),
     f"the vector has 2 values but the model's hidden_size is {HIDDEN}"),
    ("zero_direction", json.dumps([{"site": "resid_post", "layer": 0, "kind": "project_out",
                                    "vector": [0.0] * HIDDEN}]), "zero direction"),
    ("no_vector", json.dumps([{"site": "embed", "kind": "add"}]), "needs 'vector'"),
    ("bad_positions", json.dumps([{"site": "embed", "kind": "observe", "positions": "middle"}]),
     "positions 'middle'"),
    ("response_without_split", json.dumps([{"site": "embed", "kind": "observe", "positions": "response"}]),
     "--response-from"),
]


@pytest.mark.parametrize("name,text,needle", BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_file_exits_1_naming_file_and_entry(hf, name, text, needle):
    spec_file = hf["dir"] / f"{name}.json"
    spec_file.write_text(text)
    dump = hf["dir"] / f"bad_{name}.safetensors"
    proc = hf["run"]("debug", "forward", "--model", hf["hf"], "--tokens", ",".join(map(str, hf["ids"])),
                     "--interventions", spec_file, "--out", dump, check=False)
    assert proc.returncode == 1, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert str(spec_file) in proc.stderr or spec_file.name in proc.stderr, proc.stderr
    if name not in ("not_json", "not_array"):
        entry = len(json.loads(text)) - 1
        assert f"entry {entry}" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert not dump.exists()


def test_missing_spec_file_is_refused(hf):
    missing = hf["dir"] / "no_such_file.json"
    proc = hf["run"]("debug", "forward", "--model", hf["hf"], "--tokens", "1,2,3",
                     "--interventions", missing, "--out", hf["dir"] / "x.safetensors", check=False)
    assert proc.returncode == 1 and "no_such_file.json" in proc.stderr, proc.stderr
