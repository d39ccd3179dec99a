"""masque's tokenizer against Hugging Face `tokenizers` / `transformers`:
a masque-trained tokenizer.json must load in HF and give identical ids, and
HF-trained byte-level BPE files (GPT-4 cl100k split, GPT-2 ByteLevel) must
load in masque and give identical ids, on a varied multilingual corpus."""
import json
import random

import pytest

# Plain imports: the test command always has the venv, so a missing client
# fails the run instead of skipping it.
import tokenizers  # noqa: F401
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

CL100K = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

SAMPLES = [
    "The quick brown fox jumps over the lazy dog. It's 3:45pm; we're late!",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n-1) + fibonacci(n-2)\n",
    "Prices: $1,234,567.89 — 42% off!!! Call +1 (555) 010-9999 before 2026-01-01.",
    "日本語のテキストと中文文本，还有한국어 문장도 있습니다。",
    "مرحبا بالعالم، هذا نص عربي مع أرقام ١٢٣٤٥٦٧",
    "नमस्ते दुनिया, यह हिन्दी पाठ है। ०१२३४५",
    "Emoji: 😀🎉👩‍👩‍👧‍👦 🇫🇷 ❤️‍🔥 and symbols ∑∫√∞ ≠ ≤",
    "Combining: e\u0301 a\u0308 n\u0303 Z\u0335\u0321\u0327a\u0336lgo \u1100\u1161\u11a8",
    "Whitespace:   three\t\ttabs\r\nCRLF\n\n\nnewlines \u00a0nbsp \u3000ideographic\u2003em \u2028ls \x0bvt\x0cff \x85nel",
    "Contractions: IT'S WE'RE THEY'LL I'M YOU'D SHE'S it'ſ We'Re they'Ll 'tis rock'n'roll",
    "Numbers: 1 12 123 1234 12345 ١٢٣٤ ४५६७ ⅣⅫ ½¾ ²³ 𝟘𝟙𝟚",
    "Rare scripts: ᚠᚢᚦᚨᚱᚲ ꦧꦱꦗꦮ 𐌰𐌱𐌲 ᏣᎳᎩ ⵜⴰⵎⴰⵣⵉⵖⵜ ꓮꓯꓰ 𖼀𖼁 ᨀᨁᨂ",
    "  leading and trailing spaces   ",
    "\n\nstarts with newlines and ends with them\n\n",
    "mixed123abc456def 7.8.9 v2.0.1-beta+build.5 a1b2c3",
    "URL https://example.com/path?q=1&r=two#frag and email someone@example.org",
    "'s 't 're 've 'm 'll 'd ''s  's",
    "",
    " ",
    "\t",
    "a",
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " \t\n\r\u00a0\u3000\u2009\x0b\x0c\x85",
    ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "日本語中文文本한국어",
    "العربيةهندي",
    "हिन्दीपाठ",
    "😀🎉👩‍👧🇫🇷❤️",
    "\u0301\u0308\u0303\u0327",
    "ſſSsTtLlEeRrVvMmDd'",
]


def random_text(rng: random.Random, length: int) -> str:
    out = []
    while len(out) < length:
        r = rng.random()
        if r < 0.08:
            # Any scalar value (no surrogates): stresses the class tables.
            cp = rng.randrange(0x20, 0x110000)
            if 0xD800 <= cp < 0xE000:
                continue
            out.append(chr(cp))
        elif r < 0.5:
            out.append(rng.choice(SAMPLES)[: rng.randrange(1, 40)])
        else:
            pool = rng.choice(POOLS)
            out.append("".join(rng.choice(pool) for _ in range(rng.randrange(1, 8))))
    return "".join(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(1234)
    d = tmp_path_factory.mktemp("tokcorpus")
    train = [random_text(rng, 200) for _ in range(1500)] + SAMPLES * 20
    test = SAMPLES + [random_text(rng, rng.randrange(1, 400)) for _ in range(600)]
    train_path = d / "train.jsonl"
    test_path = d / "test.jsonl"
    train_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in train), encoding="utf-8")
    test_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in test), encoding="utf-8")
    return {"dir": d, "train": train, "test": test, "train_path": train_path, "test_path": test_path}


def masque_encode(run_masque, tok_path, input_path, specials=False):
    args = ["tokenizer", "encode", "--tokenizer", tok_path, "--input", input_path, "--json"]
    if specials:
        args.append("--specials")
    out = run_masque(*args).stdout
    return [json.loads(line) for line in out.splitlines()]


def assert_same_ids(masque_ids, hf_ids, texts):
    assert len(masque_ids) == len(texts)
    for text, mine, theirs in zip(texts, masque_ids, hf_ids):
        assert mine == theirs, f"ids differ on {text!r}"


@pytest.fixture(scope="module")
def masque_tok(corpus, masque_bin):
    import subprocess
    path = corpus["dir"] / "masque_tok.json"
    subprocess.run([masque_bin, "--quiet", "tokenizer", "train", "--input", str(corpus["train_path"]),
                    "--vocab-size", "1200", "--out", str(path)], check=True)
    return path


def test_masque_tokenizer_loads_in_hf_with_identical_ids(corpus, masque_tok, run_masque):
    hf = Tokenizer.from_file(str(masque_tok))
    assert hf.get_vocab_size() == json.loads(run_masque("tokenizer", "info", masque_tok, "--json").stdout)["vocab_size"]
    # masque's files add <|bos|> through their post-processor; the plain
    # encoding is HF's with add_special_tokens=False (test_tokenizer_postprocess.py).
    hf_ids = [e.ids for e in hf.encode_batch(corpus["test"], add_special_tokens=False)]
    assert_same_ids(masque_encode(run_masque, masque_tok, corpus["test_path"]), hf_ids, corpus["test"])
    # Special tokens sit at the end of the id range in the declared order.
    vocab = hf.get_vocab_size()
    names = ["<|bos|>", "<|eos|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    assert [hf.token_to_id(n) for n in names] == list(range(vocab - 7, vocab))


def test_masque_tokenizer_in_transformers(corpus, masque_tok, run_masque):
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(masque_tok))
    hf_ids = [fast.encode(t, add_special_tokens=False) for t in corpus["test"]]
    assert_same_ids(masque_encode(run_masque, masque_tok, corpus["test_path"]), hf_ids, corpus["test"])
    # Decoding agrees too.
    for text, ids in zip(corpus["test"][:50], hf_ids[:50]):
        assert fast.decode(ids) == text


def test_special_tokens_match_hf(corpus, masque_tok, run_masque):
    texts = ["<|system|>You are kind.<|end|><|user|>Hi there<|end|><|assistant|>Hello!<|end|>",
             "<|bos|>doc one<|eos|>", "no specials", "<|user|><|user|>", "<|us er|> <|user|>x"]
    path = corpus["dir"] / "specials.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    hf = Tokenizer.from_file(str(masque_tok))
    hf_ids = [hf.encode(t, add_special_tokens=False).ids for t in texts]
    assert_same_ids(masque_encode(run_masque, masque_tok, path, specials=True), hf_ids, texts)
    # Without --specials the same strings are plain text: no special ids appear.
    plain = masque_encode(run_masque, masque_tok, path)
    special_ids = set(range(hf.get_vocab_size() - 7, hf.get_vocab_size()))
    assert not any(set(ids) & special_ids for ids in plain)


def hf_train(corpus, pre_tokenizer, vocab_size=700):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(corpus["train"][:400] + SAMPLES * 5, trainer)
    return tok


@pytest.mark.parametrize("kind", ["cl100k", "cl100k_ignore_merges", "gpt2_prefix", "gpt2_noprefix"])
def test_hf_trained_tokenizer_encodes_identically_in_masque(corpus, run_masque, kind):
    if kind.startswith("cl100k"):
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
                                       pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        pre = pre_tokenizers.ByteLevel(add_prefix_space=(kind == "gpt2_prefix"))
    tok = hf_train(corpus, pre)
    path = corpus["dir"] / f"hf_{kind}.json"
    tok.save(str(path))
    if kind == "cl100k_ignore_merges":  # Llama-3 style: whole-vocab pieces skip merging
        data = json.loads(path.read_text(encoding="utf-8"))
        data["model"]["ignore_merges"] = True
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tok = Tokenizer.from_file(str(path))
    hf_ids = [e.ids for e in tok.encode_batch(corpus["test"])]
    assert_same_ids(masque_encode(run_masque, path, corpus["test_path"]), hf_ids, corpus["test"])
    # Round trip through masque's decoder (prefix space aside).
    out = run_masque("tokenizer", "decode", "--tokenizer", path, "--ids", json.dumps(hf_ids[0]), "--json").stdout
    decoded = json.loads(out)
    expected = corpus["test"][0]
    if kind == "gpt2_prefix":  # the pre-tokenizer added a space the decoder keeps
        expected = " " + expected
    assert decoded == expected


def test_foreign_tokenizer_json_is_rejected(corpus, run_masque):
    wp = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    path = corpus["dir"] / "wordpiece.json"
    wp.save(str(path))
    proc = run_masque("tokenizer", "encode", "--tokenizer", path, "--text", "a", check=False)
    assert proc.returncode == 1
    assert "WordPiece" in proc.stderr and "wordpiece.json" in proc.stderr
