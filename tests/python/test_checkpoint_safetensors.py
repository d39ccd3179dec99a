"""masque's safetensors reader against the reference reader (safetensors).

Mutated copies of a file written by the reference writer (truncations, byte
flips in the header, rewritten offsets and shapes, appended bytes) must be
accepted by masque exactly when `safetensors.safe_open` accepts them, and
masque's listing of a file must match the reference reader's.
"""
import json
import random
import subprocess

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def reference_accepts(path):
    try:
        with safe_open(str(path), "np") as f:
            for name in f.keys():
                f.get_tensor(name)
        return True
    except Exception:
        return False


def masque_accepts(masque_bin, path):
    proc = subprocess.run([masque_bin, "debug", "safetensors", str(path)], capture_output=True,
                          text=True, errors="replace")
    assert proc.returncode in (0, 1), proc.stderr  # 2 would be an internal error
    if proc.returncode == 1:
        assert "not a valid safetensors file" in proc.stderr or "cannot" in proc.stderr, proc.stderr
    return proc.returncode == 0


def mutate(data, header_len, rng):
    data = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:
        del data[rng.randrange(len(data) + 1):]
    elif kind == 1:  # flip a byte inside the length prefix or header
        pos = rng.randrange(min(len(data), 8 + header_len))
        data[pos] ^= rng.randrange(1, 256)
    elif kind == 2:  # rewrite a digit of an offset or a shape
        digits = [i for i in range(8, 8 + header_len) if chr(data[i]).isdigit()]
        pos = rng.choice(digits)
        data[pos] = ord(str(rng.randrange(10)))
    elif kind == 3:
        data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    else:  # change the declared header length by a little
        n = int.from_bytes(data[:8], "little") + rng.choice([-9, -1, 1, 8])
        data[:8] = max(n, 0).to_bytes(8, "little")
    return bytes(data)


def test_masque_accepts_exactly_what_the_reference_accepts(masque_bin, tmp_path):
    src = tmp_path / "ref.safetensors"
    save_file({"model.embed_tokens.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
               "ids": np.array([1, 2, 3], dtype=np.int64),
               "model.norm.weight": np.ones(4, dtype=np.float16)}, str(src), metadata={"format": "pt"})
    data = src.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    rng = random.Random(11)
    disagreements = []
    counts = {True: 0, False: 0}
    for i in range(300):
        path = tmp_path / f"m{i}.safetensors"
        path.write_bytes(mutate(data, header_len, rng))
        ref = reference_accepts(path)
        ours = masque_accepts(masque_bin, path)
        counts[ref] += 1
        if ref != ours:
            disagreements.append((i, ref, ours, path.read_bytes()[:8 + min(header_len, 200)]))
    assert not disagreements, disagreements[:5]
    assert counts[False] > 100 and counts[True] > 10, counts


def test_listing_matches_the_reference_header(masque_bin, tmp_path):
    # (Files masque writes are read by the reference reader in test_hf_parity:
    # checkpoints through transformers, gradient dumps through load_file.)
    src = tmp_path / "ref.safetensors"
    save_file({"b": np.ones((2, 3), dtype=np.float32), "a": np.zeros(5, dtype=np.int32)}, str(src),
              metadata={"format": "pt", "note": "x"})
    listing = json.loads(subprocess.run([masque_bin, "debug", "safetensors", str(src)],
                                        capture_output=True, text=True, check=True).stdout)
    assert listing["metadata"] == {"format": "pt", "note": "x"}
    with safe_open(str(src), "np") as f:
        assert sorted(t["name"] for t in listing["tensors"]) == sorted(f.keys())
        for t in listing["tensors"]:
            assert list(f.get_slice(t["name"]).get_shape()) == t["shape"]
