# masque's chat format vs Hugging Face: apply_chat_template with the
# chat_template masque writes into tokenizer_config.json gives the same ids.
import json
import subprocess

# A plain import: the test command always has the venv, so a missing client
# is a failure, never a silent skip.
import transformers

CONVERSATIONS = [
    [{"role": "user", "content": "Hello there! How are you?"},
     {"role": "assistant", "content": "I am well, thank you."}],
    [{"role": "system", "content": "You are a careful assistant. 日本語も話せます。"},
     {"role": "user", "content": "What is 12 * 7?  Show   spaces\nand lines."},
     {"role": "assistant", "content": "84 🙂"},
     {"role": "user", "content": "Thanks"}],
]


def test_apply_chat_template_matches(tmp_path, run_masque, masque_bin):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(m["content"] for c in CONVERSATIONS for m in c) * 20)
    tok = tmp_path / "tok.json"
    run_masque("tokenizer", "train", "--input", corpus, "--vocab-size", 300, "--out", tok)
    data = tmp_path / "data"
    run_masque("tokenize", "--tokenizer", tok, "--input", corpus, "--out", data,
               "--val-fraction", "0")
    run = tmp_path / "run"
    run_masque("train", "--depth", 1, "--seq-len", 16, "--batch-size", 2, "--steps", 1,
               "--data", data, "--tokenizer", tok, "--out", run, "--eval-every", 0)
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    hf = transformers.AutoTokenizer.from_pretrained(str(ckpt))
    for conv in CONVERSATIONS:
        for prompt in (False, True):
            msgs = conv if not prompt else conv[:-1] if conv[-1]["role"] == "assistant" else conv
            args = [masque_bin, "--quiet", "chat-encode", "--tokenizer", str(tok)]
            if prompt:
                args.append("--generation-prompt")
            out = subprocess.run(args, input=json.dumps({"messages": msgs}) + "\n",
                                 capture_output=True, text=True, check=True).stdout
            ours = json.loads(out)
            theirs = hf.apply_chat_template(msgs, tokenize=True, add_generation_prompt=prompt)
            if not isinstance(theirs, list):  # BatchEncoding in newer transformers
                theirs = theirs["input_ids"]
            assert ours["ids"] == list(theirs), (msgs, prompt)
            text = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)
            assert ours["text"] == text


def test_malformed_chat_is_refused(tmp_path, run_masque, masque_bin):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world " * 50)
    tok = tmp_path / "tok.json"
    run_masque("tokenizer", "train", "--input", corpus, "--vocab-size", 280, "--out", tok)
    bad = '{"messages": [{"role": "wizard", "content": "x"}]}\n'
    proc = subprocess.run([masque_bin, "chat-encode", "--tokenizer", str(tok)], input=bad,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "unknown role 'wizard'" in proc.stderr and "stdin line 1" in proc.stderr
