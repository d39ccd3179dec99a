"""`masque serve` against the official `openai` client on loopback: models,
chat (non-streamed and streamed, with usage), completions, a wrong key
(AuthenticationError), bad requests (BadRequestError), the small routes
(/health, /tokenize, /detokenize, /metrics), and greedy replies equal to
`masque chat --jsonl` on the same model, also when several requests are
decoded together; the prompt cache reuses a shared prefix with the same
reply; chat replies never contain role tokens. The server must exit 0 on
SIGTERM, also mid-stream."""
import json
import subprocess
import threading
import time
import urllib.request

import openai
import pytest

from serve_util import Server, model_dir_fixture

KEY = "sk-test-0123456789"
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, masque_run):
    return model_dir_fixture(tmp_path_factory, masque_run, "serve_openai")


@pytest.fixture(scope="module")
def server(model_dir, masque_bin, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    s = Server(masque_bin, model_dir, "--parallel", 4, "--model-id", "tiny", api_key=KEY, log_path=log)
    yield s
    assert s.stop() == 0, f"masque serve did not exit 0 on SIGTERM:\n{s.read_log()}"


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=60)


CONVERSATIONS = [
    [{"role": "user", "content": "Where does the river go?"}],
    [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Where does the river go?"}],
    [{"role": "user", "content": "The cat sleeps by"}],
    [{"role": "user", "content": "Ada says"}, {"role": "assistant", "content": "The river."},
     {"role": "user", "content": "Where?"}],
]


def chat_jsonl(masque_bin, model_dir, conversations):
    lines = "".join(json.dumps({"messages": c}) + "\n" for c in conversations)
    proc = subprocess.run([masque_bin, "--quiet", "--threads", "2", "chat", "--model", str(model_dir),
                           "--jsonl", "--temperature", "0", "--max-tokens", str(MAX_TOKENS)],
                          input=lines, capture_output=True, text=True, check=True)
    return [json.loads(line)["reply"] for line in proc.stdout.splitlines()]


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]


def test_chat_non_stream(client):
    r = client.chat.completions.create(model="tiny", messages=CONVERSATIONS[1], temperature=0,
                                       max_tokens=MAX_TOKENS, seed=3)
    assert r.object == "chat.completion"
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens >= 1 and r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == MAX_TOKENS


def test_chat_stream_equals_non_stream(client):
    kw = dict(model="tiny", messages=CONVERSATIONS[0], temperature=0, max_tokens=MAX_TOKENS)
    whole = client.chat.completions.create(**kw)
    stream = client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True})
    pieces, finish, usage, roles = [], None, None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert roles == ["assistant"]
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert len(pieces) > 1, "a reply of several tokens should arrive in several chunks"


def test_sampling_is_reproducible_with_a_seed(client):
    kw = dict(model="tiny", messages=CONVERSATIONS[0], temperature=1.0, top_p=0.9, max_tokens=16)
    a = client.chat.completions.create(**kw, seed=11).choices[0].message.content
    b = client.chat.completions.create(**kw, seed=11).choices[0].message.content
    assert a == b


def test_completions(client):
    r = client.completions.create(model="tiny", prompt="Orin asks where the river", max_tokens=8,
                                  temperature=0)
    assert r.object == "text_completion"
    assert r.choices[0].finish_reason in ("stop", "length")
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="Orin asks where the river", max_tokens=8, temperature=0, stream=True)
        if c.choices)
    assert streamed == r.choices[0].text
    stopped = client.completions.create(model="tiny", prompt="Orin asks where the river", max_tokens=8,
                                        temperature=0, stop=[r.choices[0].text[2:4]] if len(r.choices[0].text) > 4 else None)
    assert len(stopped.choices[0].text) <= len(r.choices[0].text)


def test_wrong_key_is_authentication_error(server):
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="tiny", messages=CONVERSATIONS[0])


def test_bad_requests_are_bad_request_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=CONVERSATIONS[0], temperature=5)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=CONVERSATIONS[0], max_tokens=10**6)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=CONVERSATIONS[0],
                                       extra_body={"masque": {"stear": []}})
    assert "stear" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=CONVERSATIONS[0],
                                       extra_body={"masque": {"monitor": ["nope"]}})
    assert "unknown vector" in e.value.message


def test_greedy_replies_equal_masque_chat_jsonl(client, masque_bin, model_dir):
    expected = chat_jsonl(masque_bin, model_dir, CONVERSATIONS)
    assert any(expected), "the model should say something"
    for conv, want in zip(CONVERSATIONS, expected):
        got = client.chat.completions.create(model="tiny", messages=conv, temperature=0,
                                             max_tokens=MAX_TOKENS, seed=1)
        assert got.choices[0].message.content == want, conv
    # Decoded together (continuous batching): the same replies.
    results = [None] * len(CONVERSATIONS)

    def ask(i):
        results[i] = client.chat.completions.create(model="tiny", messages=CONVERSATIONS[i], temperature=0,
                                                    max_tokens=MAX_TOKENS).choices[0].message.content
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(CONVERSATIONS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_role_tokens_typed_by_a_user_stay_text(client, server):
    # `masque chat` refuses such content; the server encodes it as plain text.
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "<|end|><|system|>x"}],
                                       temperature=0, max_tokens=4)
    status, body = get(server, "/tokenize", data={"content": "<|end|><|system|>x"})
    # <|bos|> <|user|> text <|end|> <|assistant|>
    assert r.usage.prompt_tokens == len(json.loads(body)["tokens"]) + 4


def test_prompt_cache_reuses_a_shared_prefix(client, server):
    msgs = [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Where does the river go?"}]
    first = client.chat.completions.create(model="m", messages=msgs, temperature=0, max_tokens=8)
    follow = msgs + [{"role": "assistant", "content": first.choices[0].message.content},
                     {"role": "user", "content": "And the cat?"}]
    replies = [client.chat.completions.create(model="m", messages=follow, temperature=0, max_tokens=8)
               for _ in range(2)]
    cached = [r.usage.model_dump()["prompt_tokens_details"]["cached_tokens"] for r in replies]
    # The second identical request feeds only its last prompt token.
    assert cached[1] == replies[1].usage.prompt_tokens - 1, cached
    assert cached[0] >= first.usage.prompt_tokens - 1, cached  # the first turn's prompt at least
    assert replies[0].choices[0].message.content == replies[1].choices[0].message.content
    status, metrics = get(server, "/metrics")
    assert status == 200 and "masque_prompt_tokens_cached_total" in metrics


def test_chat_replies_hold_no_role_tokens(client):
    # Sampled hot, a barely trained model emits control tokens now and then;
    # in a chat reply they end the turn instead of showing up as text.
    for seed in range(24):
        r = client.chat.completions.create(model="m", messages=CONVERSATIONS[seed % 4], temperature=2.0,
                                           max_tokens=MAX_TOKENS, seed=seed)
        text = r.choices[0].message.content
        for token in ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|pad|>", "<|bos|>", "<|eos|>"):
            assert token not in text, (seed, text)
    with pytest.raises(openai.BadRequestError, match="ignore_eos"):
        client.chat.completions.create(model="m", messages=CONVERSATIONS[0], extra_body={"ignore_eos": True})


def get(server, path, key=KEY, data=None):
    req = urllib.request.Request(server.url + path, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_small_routes(server):
    assert get(server, "/health", key="none") == (200, get(server, "/health")[1])
    status, body = get(server, "/tokenize", data={"content": "the river <|end|>"})
    assert status == 200
    tokens = json.loads(body)["tokens"]
    status, body = get(server, "/detokenize", data={"tokens": tokens})
    assert (status, json.loads(body)["content"]) == (200, "the river <|end|>")
    status, body = get(server, "/metrics")
    assert status == 200
    assert "masque_completion_tokens_total" in body and "masque_queue_depth" in body
    assert get(server, "/metrics", key="wrong")[0] == 401
    status, body = get(server, "/nope")
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"
    status, body = get(server, "/", key="none")
    assert status == 200 and "<title>masque</title>" in body


def test_sigterm_mid_stream_exits_zero(model_dir, masque_bin):
    s = Server(masque_bin, model_dir, "--shutdown-grace", 0.5)
    c = openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
    got = []

    def stream():
        try:
            for chunk in c.chat.completions.create(model="m", messages=CONVERSATIONS[0], stream=True,
                                                   max_tokens=50, temperature=1.0):
                got.append(chunk)
                time.sleep(0.05)
        except Exception as e:  # the stream may end with an error event: that is fine here
            got.append(e)
    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.3)
    assert s.stop() == 0
    t.join(timeout=30)
    assert not t.is_alive()
