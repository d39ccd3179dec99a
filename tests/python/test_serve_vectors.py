"""Persona vectors in `masque serve` (--vector, GET /v1/vectors, the
`masque.steer` / `masque.monitor` request extension) through the openai
client's extra_body: monitoring streams one projection per generated token
without changing the reply; steering changes the greedy reply of the request
that asks for it and of no other request decoded alongside, and equals
`masque chat --steer ... --steer-positions response`; layer 0 steers
the token embedding, or is refused with a 400 naming the layer when the file
has none; a vector of another shape is refused at start with exit 1."""
import json
import subprocess
import threading
import urllib.request

import openai
import pytest

from serve_util import Server, model_dir_fixture, write_persona_vector

MSG = [{"role": "user", "content": "Where does the river go?"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, masque_run):
    return model_dir_fixture(tmp_path_factory, masque_run, "serve_vectors")


@pytest.fixture(scope="module")
def server(model_dir, masque_bin):
    vec = write_persona_vector(model_dir, model_dir.parent / "kind.safetensors", seed=2, scale=8.0)
    emb = write_persona_vector(model_dir, model_dir.parent / "emb.safetensors", seed=3, scale=8.0, embedding=True)
    s = Server(masque_bin, model_dir, "--vector", f"kind={vec}:1", "--vector", f"emb={emb}", "--parallel", 4,
               log_path=model_dir.parent / "serve.log")
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


def greedy(client, masque=None, max_tokens=20):
    extra = {"masque": masque} if masque else None
    return client.chat.completions.create(model="m", messages=MSG, temperature=0, max_tokens=max_tokens,
                                          extra_body=extra).choices[0].message.content


def test_vectors_route(server):
    with urllib.request.urlopen(server.url + "/v1/vectors") as r:
        data = json.loads(r.read())["data"]
    assert [v["id"] for v in data] == ["kind", "emb"]
    assert data[0]["default_layer"] == 1 and 1 in data[0]["layers"] and 0 not in data[0]["layers"]
    assert data[1]["layers"][0] == 0


def test_monitor_streams_projections_and_leaves_reply(client):
    plain = greedy(client)
    stream = client.chat.completions.create(model="m", messages=MSG, temperature=0, max_tokens=20, stream=True,
                                            stream_options={"include_usage": True},
                                            extra_body={"masque": {"monitor": ["kind"]}})
    text, projections, usage = "", [], None
    for chunk in stream:
        extra = (chunk.model_extra or {}).get("masque")
        if extra:
            projections += extra["projections"]["kind"]
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
    assert text == plain, "monitoring must not change the reply"
    # One projection per sampled token (the end-of-turn token included when it ends the reply).
    assert usage.completion_tokens <= len(projections) <= usage.completion_tokens + 1
    assert len(set(projections)) > 1
    whole = client.chat.completions.create(model="m", messages=MSG, temperature=0, max_tokens=20,
                                           extra_body={"masque": {"monitor": ["kind"]}})
    assert whole.model_extra["masque"]["projections"]["kind"] == pytest.approx(projections, rel=1e-5)


def test_steering_changes_only_its_own_request(client):
    plain = greedy(client)
    assert greedy(client, {"steer": [{"vector": "kind", "coefficient": 0}]}) == plain
    steer = {"steer": [{"vector": "kind", "layer": 1, "coefficient": 6}]}
    steered = greedy(client, steer)
    assert steered != plain, "a coefficient of 6 on a norm-8 vector should change the reply"
    # Decoded together: each request keeps its own result.
    out = {}

    def ask(name, masque):
        out[name] = greedy(client, masque)
    threads = [threading.Thread(target=ask, args=(n, m)) for n, m in
               [("a", None), ("b", steer), ("c", None), ("d", steer)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"a": plain, "b": steered, "c": plain, "d": steered}


def chat_jsonl_reply(masque_bin, model_dir, *flags):
    proc = subprocess.run([masque_bin, "--quiet", "--threads", "2", "chat", "--model", str(model_dir), "--jsonl",
                           "--temperature", "0", "--max-tokens", "20", *map(str, flags)],
                          input=json.dumps({"messages": MSG}) + "\n", capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[0])["reply"]


def test_steered_greedy_reply_equals_masque_chat_steer_response(client, masque_bin, model_dir):
    # Steering acts where `--steer-positions response` does: on the reply's
    # rows and on the last prompt row, whose logits pick the first reply token.
    vec = model_dir.parent / "kind.safetensors"
    for layer, coefficient in [(1, 6), (1, -4)]:
        want = chat_jsonl_reply(masque_bin, model_dir, "--steer", f"{vec}:{layer}:{coefficient}",
                                "--steer-positions", "response")
        got = greedy(client, {"steer": [{"vector": "kind", "layer": layer, "coefficient": coefficient}]})
        assert got == want, (layer, coefficient)
    assert chat_jsonl_reply(masque_bin, model_dir) == greedy(client)


def test_bad_extension_requests(client):
    for masque in [{"steer": [{"vector": "kind", "layer": 99, "coefficient": 1}]},
                   {"steer": [{"vector": "nope", "coefficient": 1}]},
                   {"monitor": ["kind"], "colour": "red"}]:
        with pytest.raises(openai.BadRequestError):
            greedy(client, masque)


def test_steering_at_layer_zero_steers_the_embedding(client):
    plain = greedy(client)
    steered = greedy(client, {"steer": [{"vector": "emb", "layer": 0, "coefficient": 6}]})
    assert steered != plain, "a coefficient of 6 on a norm-8 vector at the embedding should change the reply"
    # Only the reply's positions are steered, so it is deterministic and repeatable.
    assert greedy(client, {"steer": [{"vector": "emb", "layer": 0, "coefficient": 6}]}) == steered
    with pytest.raises(openai.BadRequestError, match="no layer 0"):
        greedy(client, {"steer": [{"vector": "kind", "layer": 0, "coefficient": 1}]})
    with pytest.raises(openai.BadRequestError, match="layer must be an integer >= 0"):
        greedy(client, {"steer": [{"vector": "emb", "layer": -1, "coefficient": 1}]})


def test_vector_of_another_model_is_refused_at_start(model_dir, masque_bin):
    bad = write_persona_vector(model_dir, model_dir.parent / "wrong.safetensors", hidden=7)
    proc = subprocess.run([masque_bin, "--quiet", "serve", "--model", str(model_dir), "--port", "0",
                           "--vector", f"w={bad}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "wrong.safetensors" in proc.stderr


def test_streams_with_monitor_and_steering_complete(client, server):
    # Steered replies are often broken UTF-8 whose last bytes are held back
    # until the end: the final chunk then carries text but no projection.
    msgs = MSG + [{"role": "assistant", "content": "The river goes to town 1."},
                  {"role": "user", "content": "And the cat?"}]
    for seed in range(6):
        for coefficient in (0, 3, -5):
            stream = client.chat.completions.create(
                model="m", messages=msgs, temperature=0.8, max_tokens=12, seed=seed, stream=True,
                extra_body={"masque": {"monitor": ["kind"],
                                       "steer": [{"vector": "kind", "coefficient": coefficient}]}})
            finish = [c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason]
            assert finish and finish[-1] in ("stop", "length")
    assert server.proc.poll() is None
