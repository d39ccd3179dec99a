"""Helpers for the `masque serve` tests: a small trained chat model, a free
loopback port, and a running server that is stopped with SIGTERM (and must
exit 0) when the test module ends."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request


def train_chat_model(d, run):
    """Pretrain a depth-1 model for a few steps, then SFT it on short chats so
    replies end with <|end|>. Seconds on two cores."""
    with open(d / "corpus.jsonl", "w") as f:
        for i in range(120):
            f.write(json.dumps({"text": f"Orin asks where the river goes. Ada says the river goes "
                                        f"to town {i % 9}. The cat sleeps by the old tree."}) + "\n")
    run("tokenizer", "train", "--input", d / "corpus.jsonl", "--vocab-size", 320, "--out", d / "tok.json")
    run("tokenize", "--tokenizer", d / "tok.json", "--input", d / "corpus.jsonl", "--out", d / "data",
        "--val-fraction", 0)
    run("train", "--depth", 1, "--seq-len", 64, "--batch-size", 4, "--steps", 30, "--eval-every", 0,
        "--data", d / "data", "--tokenizer", d / "tok.json", "--out", d / "base")
    with open(d / "chats.jsonl", "w") as f:
        for i in range(16):
            f.write(json.dumps({"messages": [
                {"role": "system", "content": "You are Ada."},
                {"role": "user", "content": "Where does the river go?"},
                {"role": "assistant", "content": f"The river goes to town {i % 4}."}]}) + "\n")
    run("sft", "--base", d / "base", "--data", d / "chats.jsonl", "--out", d / "sft", "--seq-len", 64,
        "--batch-size", 4, "--steps", 20, "--lr", 0.01)
    return d / "sft"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`masque serve` on a free loopback port; waits until /health is 200."""

    def __init__(self, masque_bin, model, *args, api_key=None, threads=2, log_path=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [masque_bin, "--quiet", "--threads", str(threads), "serve", "--model", str(model),
               "--port", str(self.port), *map(str, args)]
        if api_key:
            cmd += ["--api-key", api_key]
        self.log = open(log_path, "w+") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"masque serve exited with {self.proc.returncode}: {self.read_log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("masque serve did not become healthy in 120 s")
            time.sleep(0.1)

    def read_log(self):
        if self.log is subprocess.DEVNULL:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("masque serve did not stop within 30 s of SIGTERM")
        return self.proc.returncode


def model_dir_fixture(tmp_path_factory, masque_run, name):
    d = tmp_path_factory.mktemp(name)
    return train_chat_model(d, masque_run)


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def write_persona_vector(model_dir, path, seed=0, hidden=None, best_layer=1, scale=4.0, embedding=False):
    """A random persona-vector file in masque's format (persona/persona_vector.h)
    for the model in model_dir: tensors layers.1..L (and layers.0, the token
    embedding, with embedding=True), fingerprint left unknown so only the shape
    is checked. hidden overrides the size (for a mismatch)."""
    import glob
    import numpy as np
    from safetensors.numpy import save_file
    config = json.load(open(sorted(glob.glob(str(model_dir / "checkpoints" / "*" / "config.json")))[-1]))
    h = hidden or config["hidden_size"]
    layers = config["num_hidden_layers"]
    rng = np.random.default_rng(seed)
    first = 0 if embedding else 1
    tensors = {f"layers.{l}": (rng.standard_normal(h) * scale).astype(np.float32)
               for l in range(first, layers + 1)}
    meta = {"format": "pt", "masque.persona_vector": "1", "trait": "test", "method": "mean-diff",
            "positions": "response", "hidden_size": str(h), "num_layers": str(layers),
            "best_layer": str(best_layer)}
    save_file(tensors, str(path), metadata=meta)
    return path
