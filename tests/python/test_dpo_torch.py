"""`masque dpo` against a direct torch computation of the DPO objective.

For a random-weight HF Llama (policy) and a second one (the --ref), and a
small batch of preference pairs, masque's DPO loss (sigmoid and IPO) and its
gradient for every parameter (`masque dpo --dump-grads`) equal torch's:
-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), pi and ref summed
over the reply tokens, within 1e-4. Token ids come from masque's own chat
format (`masque chat-encode`), which test_chat_template.py checks against
HF's apply_chat_template. With --lora-from a PEFT adapter, the adapter
gradients equal peft's. A short run raises the reward margin; bad pairs are
refused naming line and field with nothing written.
"""
import json
import shutil
import subprocess

import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from test_hf_parity import rel_err, write_corpus

REL_TOL = 1e-4

PAIRS = [
    {"prompt": [{"role": "user", "content": "Where is Ada?"}],
     "chosen": [{"role": "assistant", "content": "Ada sees the sea."}],
     "rejected": [{"role": "assistant", "content": "Bo likes the sea, and Cy sees it too."}]},
    {"prompt": [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Who likes the sea?"},
                {"role": "assistant", "content": "Cy."},
                {"role": "user", "content": "And Bo?"}],
     "chosen": [{"role": "assistant", "content": "Bo likes it."}],
     "rejected": [{"role": "assistant", "content": "No."}]},
    {"prompt": [{"role": "user", "content": "Where is Cy?"}],
     "chosen": [{"role": "assistant", "content": "Cy sees Ada."}],
     "rejected": [{"role": "assistant", "content": "Cy likes Bo the sea the sea."}]},
]


def hf_model(config, seed, path):
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(str(path))
    return model


@pytest.fixture(scope="module")
def setup(tmp_path_factory, masque_run):
    d = tmp_path_factory.mktemp("dpo")
    write_corpus(d / "corpus.jsonl", docs=100, seed=3)
    masque_run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 300,
               "--out", d / "tok.json")
    tok = json.loads((d / "tok.json").read_text())
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    vocab = max(max(tok["model"]["vocab"].values()), max(specials.values())) + 1
    config = LlamaConfig(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rms_norm_eps=1e-5, tie_word_embeddings=False,
                         bos_token_id=specials["<|bos|>"], eos_token_id=specials["<|eos|>"])
    hf_model(config, 0, d / "base")
    hf_model(config, 1, d / "ref")
    for name in ("base", "ref"):
        shutil.copy(d / "tok.json", d / name / "tokenizer.json")
    with open(d / "prefs.jsonl", "w") as f:
        for pair in PAIRS:
            f.write(json.dumps(pair) + "\n")
    return {"dir": d, "run": masque_run}


def chat_ids(masque_bin, tok, messages):
    out = subprocess.run([masque_bin, "--quiet", "chat-encode", "--tokenizer", str(tok)],
                         input=json.dumps({"messages": messages}) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["ids"]


def reply_logprob(model, ids, prompt_len):
    """Sum of log p(ids[i+1] | ids[:i+1]) over the reply (i + 1 >= prompt_len + 1)."""
    logits = model(input_ids=torch.tensor([ids])).logits[0]
    logp = F.log_softmax(logits[:-1], dim=-1)
    targets = torch.tensor(ids[1:])
    token = logp.gather(1, targets[:, None])[:, 0]
    # target index i is token i+1; the reply starts after the prompt's tokens
    # and its <|assistant|> role token (which is not a target).
    return token[prompt_len:].sum()


def load(setup, name):
    return LlamaForCausalLM.from_pretrained(str(setup["dir"] / name), dtype=torch.float32).eval()


def torch_dpo(setup, masque_bin, beta, loss_kind, policy=None, ref=None):
    d = setup["dir"]
    policy = policy if policy is not None else load(setup, "base")
    ref = ref if ref is not None else load(setup, "ref")
    tok = d / "tok.json"
    losses = []
    for pair in PAIRS:
        prompt_len = len(chat_ids(masque_bin, tok, pair["prompt"]))
        h = 0
        for sign, reply in ((1, pair["chosen"]), (-1, pair["rejected"])):
            ids = chat_ids(masque_bin, tok, pair["prompt"] + reply)
            with torch.no_grad():
                r = reply_logprob(ref, ids, prompt_len)
            h = h + sign * (reply_logprob(policy, ids, prompt_len) - r)
        if loss_kind == "sigmoid":
            losses.append(-F.logsigmoid(beta * h))
        else:
            losses.append((h - 1 / (2 * beta)) ** 2)
    loss = torch.stack(losses).mean()
    policy.zero_grad()
    loss.backward()
    return loss.item(), {n: p.grad.numpy() for n, p in policy.named_parameters()
                         if p.requires_grad}


@pytest.mark.parametrize("loss_kind,beta", [("sigmoid", 0.1), ("ipo", 0.5)])
def test_loss_and_every_gradient_match_torch(setup, masque_bin, loss_kind, beta):
    d = setup["dir"]
    dump = d / f"grads_{loss_kind}.safetensors"
    out = setup["run"]("dpo", "--base", d / "base", "--ref", d / "ref", "--data", d / "prefs.jsonl",
                       "--beta", beta, "--loss", loss_kind, "--dump-grads", dump)
    ours = json.loads(out.stdout)
    assert ours["pairs"] == len(PAIRS)
    grads = load_file(str(dump))
    loss, theirs = torch_dpo(setup, masque_bin, beta, loss_kind)
    assert abs(ours["loss"] - loss) <= REL_TOL * max(abs(loss), 1e-3), (ours["loss"], loss)
    assert set(grads) == set(theirs)
    worst = {name: rel_err(grads[name], g) for name, g in theirs.items()}
    bad = {k: v for k, v in worst.items() if not v < REL_TOL}
    assert not bad, f"gradients differ: {bad}"


def test_lora_adapter_gradients_match_peft(setup, masque_bin):
    """--lora-from a PEFT adapter: the policy is base + adapter, the reference
    the base alone; masque's adapter gradients (PEFT names) equal peft's."""
    d = setup["dir"]
    config = LoraConfig(r=2, lora_alpha=6, target_modules=["q_proj", "down_proj"],
                        task_type="CAUSAL_LM")
    policy = get_peft_model(load(setup, "base"), config)
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.3)
    adapter = d / "adapter"
    policy.save_pretrained(str(adapter))
    policy.eval()
    dump = d / "grads_lora.safetensors"
    out = setup["run"]("dpo", "--base", d / "base", "--lora-from", adapter, "--data",
                       d / "prefs.jsonl", "--beta", 0.1, "--dump-grads", dump)
    ours = json.loads(out.stdout)
    grads = load_file(str(dump))
    loss, theirs = torch_dpo(setup, masque_bin, 0.1, "sigmoid", policy=policy,
                             ref=load(setup, "base"))
    theirs = {n.replace(".default", ""): g for n, g in theirs.items()}
    assert abs(ours["loss"] - loss) <= REL_TOL * max(abs(loss), 1e-3), (ours["loss"], loss)
    assert set(grads) == set(theirs) and len(theirs) == 8
    worst = {name: rel_err(grads[name], g) for name, g in theirs.items()}
    bad = {k: v for k, v in worst.items() if not v < REL_TOL}
    assert not bad, f"adapter gradients differ: {bad}"


def test_short_run_raises_the_margin(setup):
    d = setup["dir"]
    run = d / "run"
    setup["run"]("dpo", "--base", d / "base", "--data", d / "prefs.jsonl", "--out", run,
                 "--steps", 6, "--batch-size", 3, "--lr", 3e-3, "--beta", 0.5, "--json")
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert abs(lines[0]["reward_margin"]) < 1e-5  # the policy starts as the reference
    assert lines[-1]["reward_margin"] > lines[0]["reward_margin"] + 0.1
    assert (run / "checkpoints" / "step-6" / "model.safetensors").exists()


def test_bad_pairs_are_refused(setup):
    d = setup["dir"]
    bad = dict(PAIRS[0], rejected=PAIRS[0]["chosen"])
    (d / "bad.jsonl").write_text(json.dumps(PAIRS[1]) + "\n" + json.dumps(bad) + "\n")
    proc = setup["run"]("dpo", "--base", d / "base", "--data", d / "bad.jsonl",
                        "--out", d / "badrun", check=False)
    assert proc.returncode == 1
    assert "line 2 of" in proc.stderr and "the same reply" in proc.stderr, proc.stderr
    assert not (d / "badrun").exists()
