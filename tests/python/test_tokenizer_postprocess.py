"""Post-processors and added-token stripping against HF `tokenizers`.

`masque tokenizer encode --add-special-tokens` (what prompts use) must equal
HF's encode with add_special_tokens=True on a multilingual corpus, for
masque's own tokenizer (TemplateProcessing "<|bos|> $A") and for HF-trained
tokenizers with no post-processor, ByteLevel, TemplateProcessing with a
prefix and a suffix, and Sequence[ByteLevel, TemplateProcessing]; added
tokens with lstrip/rstrip must split as HF splits them; and `masque sample`
must prepend a BOS exactly when transformers' tokenizer does. A
post-processor masque does not implement is refused by name.
"""
import json
import shutil

import pytest
import torch
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, processors, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM

from test_tokenizer_hf import CL100K, SAMPLES, corpus, hf_train, masque_encode  # noqa: F401


def encode_all(run_masque, path, texts_path):
    out = run_masque("tokenizer", "encode", "--tokenizer", path, "--input", texts_path, "--json",
                     "--add-special-tokens").stdout
    return [json.loads(line) for line in out.splitlines()]


def cl100k_pre():
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


@pytest.fixture(scope="module")
def masque_tok(corpus, masque_bin):
    import subprocess
    path = corpus["dir"] / "pp_masque_tok.json"
    subprocess.run([masque_bin, "--quiet", "tokenizer", "train", "--input", str(corpus["train_path"]),
                    "--vocab-size", "800", "--out", str(path)], check=True)
    return path


def test_masque_tokenizer_adds_bos_like_hf(corpus, masque_tok, run_masque):
    hf = Tokenizer.from_file(str(masque_tok))
    bos = hf.token_to_id("<|bos|>")
    hf_ids = [e.ids for e in hf.encode_batch(corpus["test"])]
    assert all(ids[0] == bos for ids in hf_ids)
    assert encode_all(run_masque, masque_tok, corpus["test_path"]) == hf_ids
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(masque_tok))
    assert fast("Ada sees the sea.")["input_ids"] == hf.encode("Ada sees the sea.").ids


@pytest.mark.parametrize("kind", ["none", "byte_level", "template", "sequence"])
def test_hf_post_processors(corpus, run_masque, kind):
    tok = hf_train(corpus, cl100k_pre())
    tok.add_special_tokens(["<s>", "</s>"])
    s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    template = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                             special_tokens=[("<s>", s), ("</s>", e)])
    tok.post_processor = {
        "none": None,
        "byte_level": processors.ByteLevel(trim_offsets=False),
        "template": template,
        "sequence": processors.Sequence([processors.ByteLevel(trim_offsets=False), template]),
    }[kind]
    path = corpus["dir"] / f"pp_{kind}.json"
    tok.save(str(path))
    hf_ids = [e.ids for e in tok.encode_batch(corpus["test"])]
    assert encode_all(run_masque, path, corpus["test_path"]) == hf_ids
    if kind in ("template", "sequence"):
        assert all(ids[0] == s and ids[-1] == e for ids in hf_ids)


def test_added_tokens_with_lstrip_and_rstrip(corpus, run_masque):
    tok = hf_train(corpus, cl100k_pre())
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True),
                            AddedToken("<sep>", lstrip=False, rstrip=True, special=True),
                            AddedToken("<both>", lstrip=True, rstrip=True, special=True)])
    path = corpus["dir"] / "strip.json"
    tok.save(str(path))
    texts = ["a <mask> b", "a   <mask>b", "x<sep>   y", "x <sep>\n\ny", "p \u3000<both>\u00a0 q",
             "<mask> start", "end <sep>", "  <both>  ", "no tokens here",
             "Grüße <mask>  日本語 <sep> Привет <both> مرحبا"] + corpus["test"][:200]
    texts_path = corpus["dir"] / "strip.jsonl"
    texts_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    hf_ids = [e.ids for e in tok.encode_batch(texts)]
    assert masque_encode(run_masque, path, texts_path, specials=True) == hf_ids


def test_unsupported_post_processor_is_refused(corpus, run_masque):
    tok = hf_train(corpus, cl100k_pre())
    tok.add_special_tokens(["<cls>", "<sep>"])
    tok.post_processor = processors.BertProcessing(("<sep>", tok.token_to_id("<sep>")),
                                                   ("<cls>", tok.token_to_id("<cls>")))
    path = corpus["dir"] / "bert_pp.json"
    tok.save(str(path))
    proc = run_masque("tokenizer", "encode", "--tokenizer", path, "--text", "hi", check=False)
    assert proc.returncode == 1 and "BertProcessing" in proc.stderr, proc.stderr


def test_sample_prepends_bos_exactly_when_transformers_does(corpus, masque_tok, run_masque, tmp_path):
    hf = Tokenizer.from_file(str(masque_tok))
    config = LlamaConfig(vocab_size=hf.get_vocab_size(), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    for name, tok_path in [("masque", masque_tok), ("no_template", None)]:
        d = tmp_path / name
        LlamaForCausalLM(config).save_pretrained(str(d))
        if tok_path is None:  # the same vocabulary without a post-processor
            data = json.loads(masque_tok.read_text(encoding="utf-8"))
            data["post_processor"] = None
            (d / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        else:
            shutil.copy(tok_path, d / "tokenizer.json")
        auto = transformers.PreTrainedTokenizerFast(tokenizer_file=str(d / "tokenizer.json"))
        for prompt in ["Ada sees", "<|user|>Hi<|end|>", "Über 日本"]:
            out = run_masque("sample", "--model", d, "--prompt", prompt, "--max-tokens", 1, "--json").stdout
            assert json.loads(out)["prompt_tokens"] == auto(prompt)["input_ids"], (name, prompt)
