#!/usr/bin/env python3
"""Tokenizer benchmark: masque vs HF tokenizers vs tiktoken, in one run on the
same text and the same vocabulary.

1. Generates a deterministic synthetic corpus (seeded): Zipf-distributed
   pseudo-words from a syllable grammar, sentences with punctuation and
   capitals, numbers, snippets of code, and lines of CJK, Cyrillic, Arabic and
   emoji, split into documents of 1-20 paragraphs. Written as JSONL.
2. Training: `masque tokenizer train` vs HF's BpeTrainer (cl100k Split +
   ByteLevel, the same 7 special tokens, same vocab size and min_frequency) on
   all of it (~--train-mb MB). Wall-clock seconds.
3. Encoding, with the masque-trained tokenizer.json loaded by all three
   (tiktoken via its Encoding constructor: the cl100k pattern and the vocab's
   byte strings as mergeable ranks) on the first --encode-mb MB of documents:
   MB/s with one thread and with all threads. Ids are checked to agree.

Usage: .venv/bin/python bench/tokenizer_bench.py --masque build/release/masque \
           --bench-bin build/release/bench_tokenizer [--train-mb 100] [--encode-mb 8]
Prints a table and writes results.json into --work.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

CL100K = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def make_corpus(target_bytes: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    onsets = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
              "br", "ch", "st", "tr", "sh", "th", "pl", "gr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    codas = ["", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "m"]
    words = set()
    while len(words) < 30000:
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                          for _ in range(rng.choice([1, 1, 2, 2, 3, 4]))))
    words = sorted(words)
    rng.shuffle(words)
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    cjk = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 800))
    cyr = "абвгдежзийклмнопрстуфхцчшщыэюя"
    arabic = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    emoji = "😀😂🎉👍🔥🚀❤️✨🤖🌍"
    code = ["def {w}(x, y):\n    return x * {n} + y\n", "for (int i = 0; i < {n}; ++i) {{ {w}[i] = i; }}\n",
            "if {w} != None and len({w}) > {n}:\n    print('{w}', {n})\n", "const {w} = await fetch(`/api/{w}/{n}`);\n"]
    docs = []
    size = 0
    word_stream = iter(rng.choices(words, cum_weights=cum, k=target_bytes // 5 + 1000))
    while size < target_bytes:
        paras = []
        for _ in range(rng.randint(1, 20)):
            r = rng.random()
            if r < 0.06:
                paras.append(rng.choice(code).format(w=next(word_stream), n=rng.randint(0, 9999)))
                continue
            if r < 0.10:
                paras.append("".join(rng.choice(cjk) for _ in range(rng.randint(10, 80))) + "。")
                continue
            if r < 0.13:
                pool = rng.choice([cyr, arabic])
                paras.append(" ".join("".join(rng.choice(pool) for _ in range(rng.randint(2, 9)))
                                      for _ in range(rng.randint(5, 25))) + ".")
                continue
            sentences = []
            for _ in range(rng.randint(1, 8)):
                n = rng.randint(4, 24)
                ws = [next(word_stream) for _ in range(n)]
                ws[0] = ws[0].capitalize()
                for i in range(1, n):
                    x = rng.random()
                    if x < 0.04:
                        ws[i] = str(rng.randint(0, 100000))
                    elif x < 0.08:
                        ws[i] += ","
                    elif x < 0.09:
                        ws[i] = ws[i] + "'s"
                    elif x < 0.095:
                        ws[i] += " " + rng.choice(emoji)
                sentences.append(" ".join(ws) + rng.choice([".", ".", ".", "!", "?", ":"]))
            paras.append(" ".join(sentences))
        doc = "\n\n".join(paras)
        docs.append(doc)
        size += len(doc.encode("utf-8"))
    return docs


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def tiktoken_encoding(tok_path):
    import tiktoken
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    char_to_byte = {chr(c): b for b, c in zip(bs, cs)}
    data = json.load(open(tok_path, encoding="utf-8"))
    specials = {t["content"] for t in data["added_tokens"]}
    ranks = {bytes(char_to_byte[ch] for ch in key): idx
             for key, idx in data["model"]["vocab"].items() if key not in specials}
    return tiktoken.Encoding(name="masque", pat_str=CL100K, mergeable_ranks=ranks, special_tokens={})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masque", default="build/release/masque")
    ap.add_argument("--bench-bin", default="build/release/bench_tokenizer")
    ap.add_argument("--work", default="build/bench_tokenizer")
    ap.add_argument("--train-mb", type=float, default=100)
    ap.add_argument("--encode-mb", type=float, default=8)
    ap.add_argument("--vocab-size", type=int, default=32768)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    os.environ["TOKENIZERS_PARALLELISM"] = "true"

    t, docs = timed(lambda: make_corpus(int(args.train_mb * 1e6)))
    train_bytes = sum(len(d.encode("utf-8")) for d in docs)
    print(f"corpus: {len(docs)} documents, {train_bytes / 1e6:.1f} MB (generated in {t:.1f}s)", file=sys.stderr)
    corpus = os.path.join(args.work, "corpus.jsonl")
    write_jsonl(corpus, docs)
    enc_docs, size = [], 0
    for d in docs:
        if size >= args.encode_mb * 1e6:
            break
        enc_docs.append(d)
        size += len(d.encode("utf-8"))
    enc_bytes = size
    enc_path = os.path.join(args.work, "encode.jsonl")
    write_jsonl(enc_path, enc_docs)

    # Training.
    masque_tok = os.path.join(args.work, "masque_tok.json")
    t_masque_train, _ = timed(lambda: subprocess.run(
        [args.masque, "--quiet", "--threads", str(args.threads), "tokenizer", "train", "--input", corpus,
         "--vocab-size", str(args.vocab_size), "--out", masque_tok], check=True, stdout=subprocess.DEVNULL))
    print(f"masque train: {t_masque_train:.1f}s", file=sys.stderr)
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=SPECIALS)
    t_hf_train, _ = timed(lambda: hf.train_from_iterator(docs, trainer, length=len(docs)))
    print(f"HF train: {t_hf_train:.1f}s", file=sys.stderr)
    del docs

    # Encoding with the masque-trained vocabulary in all three.
    def masque_encode(threads):
        out = subprocess.run([args.bench_bin, "encode", masque_tok, enc_path, str(threads), "3"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["mb_per_s"]

    hf_tok = Tokenizer.from_file(masque_tok)
    enc = tiktoken_encoding(masque_tok)
    sample = enc_docs[:200]
    mismatch = sum(enc.encode_ordinary(d) != hf_tok.encode(d).ids for d in sample)
    with open(os.path.join(args.work, "sample.jsonl"), "w", encoding="utf-8") as f:
        for d in sample:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    masque_ids = [json.loads(line) for line in subprocess.run(
        [args.masque, "tokenizer", "encode", "--tokenizer", masque_tok, "--input",
         os.path.join(args.work, "sample.jsonl"), "--json"], check=True, capture_output=True, text=True).stdout.splitlines()]
    mismatch += sum(m != hf_tok.encode(d).ids for m, d in zip(masque_ids, sample))

    def best_of(fn, repeats=3):
        return min(timed(fn)[0] for _ in range(repeats))

    mb = enc_bytes / 1e6
    rows = {
        "masque": (masque_encode(1), masque_encode(args.threads)),
        "HF tokenizers": (mb / best_of(lambda: [hf_tok.encode(d, add_special_tokens=False) for d in enc_docs], 2),
                          mb / best_of(lambda: hf_tok.encode_batch(enc_docs, add_special_tokens=False), 2)),
        "tiktoken": (mb / best_of(lambda: [enc.encode_ordinary(d) for d in enc_docs], 2),
                     mb / best_of(lambda: enc.encode_ordinary_batch(enc_docs, num_threads=args.threads), 2)),
    }
    results = {
        "train_mb": train_bytes / 1e6, "encode_mb": mb, "vocab_size": args.vocab_size, "threads": args.threads,
        "train_seconds": {"masque": t_masque_train, "HF tokenizers": t_hf_train},
        "encode_mb_per_s": {k: {"1 thread": v[0], f"{args.threads} threads": v[1]} for k, v in rows.items()},
        "id_mismatches_in_sample": mismatch,
    }
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nEncode ({mb:.1f} MB, vocab {args.vocab_size}, ids agree on {len(sample)} docs: "
          f"{'yes' if mismatch == 0 else f'NO ({mismatch} differ)'})")
    print(f"{'':16}{'1 thread MB/s':>16}{f'{args.threads} threads MB/s':>18}")
    for name, (one, many) in rows.items():
        print(f"{name:16}{one:16.2f}{many:18.2f}")
    print(f"masque / tiktoken: {rows['masque'][0] / rows['tiktoken'][0]:.2f}x (1 thread), "
          f"{rows['masque'][1] / rows['tiktoken'][1]:.2f}x ({args.threads} threads); "
          f"masque / HF: {rows['masque'][0] / rows['HF tokenizers'][0]:.2f}x, "
          f"{rows['masque'][1] / rows['HF tokenizers'][1]:.2f}x")
    print(f"\nTrain BPE ({train_bytes / 1e6:.1f} MB, vocab {args.vocab_size}): masque {t_masque_train:.1f}s, "
          f"HF tokenizers {t_hf_train:.1f}s, HF / masque = {t_hf_train / t_masque_train:.2f}x")


if __name__ == "__main__":
    main()
