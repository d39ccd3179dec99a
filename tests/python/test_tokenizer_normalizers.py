"""tokenizer.json normalizers (NFC, NFD, NFKC, NFKD, Sequence) against HF.

For each form, a byte-level BPE trained by HF `tokenizers` with that
normalizer must encode a multilingual corpus (precomposed and decomposed
accents, Hangul, compatibility characters, combining-mark runs out of
canonical order) to the same ids in masque; an unsupported normalizer is
refused by name.
"""
import json
import random

import pytest
from tokenizers import Regex, normalizers, pre_tokenizers

from test_tokenizer_hf import CL100K, corpus, hf_train, masque_encode  # noqa: F401

TRICKY = [
    "e\u0301 \u00e9 E\u0301\u0327 \u1e09",                    # decomposed / precomposed / two marks
    "a\u0328\u0301 a\u0301\u0328 q\u0307\u0323 \u1e0b\u0323",  # marks out of canonical order
    "\ud55c\uad6d\uc5b4 \u1112\u1161\u11ab \u1100\u1161",       # Hangul syllables and jamo
    "\ufb01ne \u2460 \uff21\uff22 \u00bd \u2126 \u212b \u00b5 \u1e9b\u0323",  # compatibility
    "\u0344 \u0f73 \u2000 \u3000 \u00a0x",                     # singletons, spaces
    "\u0301leading mark, \u0915\u093c \u0958, \u05d1\u05bc",     # exclusions, Devanagari, Hebrew
    "Stra\u00dfe na\u00efve co\u00f6perate \u0130stanbul \u1f00\u0345",
]


def mixed_text(rng, n):
    pieces = TRICKY + ["Привет мир", "日本語のテキスト", "مرحبا", "ελληνικά", "Ünïcödé", " ", "\n"]
    return " ".join(rng.choice(pieces) for _ in range(n))


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD", "Sequence"])
def test_normalizer_ids_equal_hf(corpus, run_masque, form):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = hf_train(corpus, pre)
    tok.normalizer = (normalizers.Sequence([normalizers.NFD(), normalizers.NFKC()])
                      if form == "Sequence" else getattr(normalizers, form)())
    path = corpus["dir"] / f"norm_{form}.json"
    tok.save(str(path))
    rng = random.Random(11)
    texts = TRICKY + [mixed_text(rng, rng.randrange(1, 30)) for _ in range(300)] + corpus["test"][:300]
    texts_path = corpus["dir"] / f"norm_{form}.jsonl"
    texts_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    hf_ids = [e.ids for e in tok.encode_batch(texts)]
    ours = masque_encode(run_masque, path, texts_path)
    bad = [t for t, a, b in zip(texts, ours, hf_ids) if a != b]
    assert not bad, f"{len(bad)} texts differ, e.g. {bad[0]!r}"


def test_unsupported_normalizer_is_refused(corpus, run_masque):
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok = hf_train(corpus, pre)
    tok.normalizer = normalizers.Lowercase()
    path = corpus["dir"] / "norm_lower.json"
    tok.save(str(path))
    proc = run_masque("tokenizer", "encode", "--tokenizer", path, "--text", "Hi", check=False)
    assert proc.returncode == 1 and "Lowercase" in proc.stderr, proc.stderr
