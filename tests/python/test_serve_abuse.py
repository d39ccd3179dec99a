"""Abuse: 200+ malformed, oversized, truncated and slow requests against
`masque serve` on loopback. Every answered request gets a 4xx in OpenAI's
error shape (never a 5xx or a crash), clients that leave mid-stream free
their slots (streamed or not), and a normal request succeeds afterwards."""
import json
import random
import re
import socket
import threading
import time
import urllib.request

import pytest

from serve_util import Server, model_dir_fixture

MAX_BODY = 4096


@pytest.fixture(scope="module")
def model(tmp_path_factory, masque_run):
    return model_dir_fixture(tmp_path_factory, masque_run, "serve_abuse")


@pytest.fixture(scope="module")
def server(tmp_path_factory, model, masque_bin):
    log = tmp_path_factory.mktemp("serve_abuse_log") / "serve.log"
    s = Server(masque_bin, model, "--parallel", 2, "--queue", 4, "--max-body", MAX_BODY,
               "--read-timeout", 1, log_path=log)
    yield s
    assert s.stop() == 0, s.read_log()


def raw(server, data, read=True, timeout=10):
    """Send bytes on a fresh connection; return the status code (None if the
    server closed without a response)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return None
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    return int(m.group(1)) if m else None


def post(body, path="/v1/chat/completions", extra=b""):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode() + extra + b"\r\n" + body


def fuzz_bodies(rng):
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    values = [None, True, -1, 0, 1.5, 1e308, "x", "", [], {}, [1, "a"], {"a": 1}, "\udcff"]
    fields = ["model", "messages", "max_tokens", "temperature", "top_p", "stop", "seed", "stream",
              "stream_options", "n", "masque", "max_completion_tokens", "logprobs"]
    bodies = []
    for _ in range(70):
        b = dict(good)
        b[rng.choice(fields)] = rng.choice(values)
        if rng.random() < 0.3:
            b["messages"] = [{"role": rng.choice(["user", "bot", 3]), "content": rng.choice(values)}]
        bodies.append(json.dumps(b).encode("utf-8", "surrogatepass"))
    for _ in range(30):
        bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    text = json.dumps(good).encode()
    for _ in range(30):
        bodies.append(text[:rng.randrange(1, len(text))])  # truncated JSON
    bodies.append(b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}')  # invalid UTF-8
    bodies.append(b"[" * 3000 + b"]" * 3000 if 6000 <= MAX_BODY else b"[" * 2000)  # deep nesting
    return bodies


def test_abuse_then_normal_request(server):
    rng = random.Random(5)
    statuses = []
    for body in fuzz_bodies(rng):
        statuses.append(raw(server, post(body)))
    # Every fuzzed body is answered with a 4xx (well-formed requests among them may pass: 200).
    assert all(s is not None and (400 <= s < 500 or s == 200) for s in statuses), statuses
    assert sum(400 <= s < 500 for s in statuses) >= 100
    n = len(statuses)

    # Oversized bodies: 413 (Content-Length checked before reading).
    for _ in range(10):
        assert raw(server, post(b"x" * (MAX_BODY + 1))) == 413
    # A wrong method, unknown routes, a garbage request line, huge headers.
    for _ in range(5):
        assert raw(server, b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") in (404, 405)
        assert raw(server, b"DELETE /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") in (404, 405)
        assert raw(server, b"\x00\x01garbage\r\n\r\n") in (None, 400)
        assert raw(server, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n") in (None, 400, 431)
    n += 30

    # Truncated bodies and slow clients: the server gives up after --read-timeout.
    def truncated():
        raw(server, post(b'{"messages": [' + b" " * 50)[:-20], read=True, timeout=5)

    def slow():
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            time.sleep(2)  # past the 1 s read timeout
            try:
                s.sendall(b"Content-Length: 2\r\n\r\n{}")
                s.recv(100)
            except OSError:
                pass
    threads = [threading.Thread(target=f) for f in [truncated] * 10 + [slow] * 10]
    for t in threads:
        t.start()
    # Streams cut off after a few bytes (truncated SSE reads) and clients that never read.
    stream = json.dumps({"messages": [{"role": "user", "content": "Where does the river go?"}],
                         "stream": True, "max_tokens": 40, "temperature": 1.0}).encode()
    stream_statuses = []
    for i in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(post(stream))
            if i % 2 == 0:
                head = s.recv(200)
                stream_statuses.append(int(head[9:12]))
    # Admitted (200) or, with every slot and queue place taken, refused with 503.
    assert set(stream_statuses) <= {200, 503} and 200 in stream_statuses, stream_statuses
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    n += 40
    assert n >= 200

    # Slots free themselves once the cut-off streams notice their clients left.
    deadline = time.time() + 30
    while True:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
            metrics = r.read().decode()
        active = int(re.search(r"^masque_slots_active (\d+)", metrics, re.M).group(1))
        queued = int(re.search(r"^masque_queue_depth (\d+)", metrics, re.M).group(1))
        if active == 0 and queued == 0:
            break
        assert time.time() < deadline, f"slots still busy 30 s after their clients left:\n{metrics}"
        time.sleep(0.2)
    assert 'masque_http_responses_total{code="500"}' not in metrics

    # And a normal request still works.
    body = json.dumps({"messages": [{"role": "user", "content": "Where does the river go?"}],
                       "max_tokens": 8, "temperature": 0}).encode()
    req = urllib.request.Request(server.url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        reply = json.loads(r.read())
    assert reply["choices"][0]["finish_reason"] in ("stop", "length")
    assert server.proc.poll() is None


def metric(server, name):
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return float(re.search(rf"^{re.escape(name)} (\S+)$", text, re.M).group(1))


def test_non_streamed_clients_that_hang_up_free_their_slots(tmp_path, model, masque_bin):
    # One slot, 160 non-streamed requests for the whole context whose clients
    # hang up at once. Run to the end they would generate 160 x 56 tokens one
    # after another (several times the 50 ms probe interval even on an idle
    # machine: with 40 the tiny model finished them all before the first
    # probe); the server must notice the closed connections (it probes each
    # every 50 ms) and cancel those still waiting or running.
    n, max_tokens = 160, 56  # the test model's context is 64
    s = Server(masque_bin, model, "--parallel", 1, "--queue", n + 4, threads=1, log_path=tmp_path / "serve.log")
    try:
        body = json.dumps({"prompt": "Ada says", "max_tokens": max_tokens, "ignore_eos": True,
                           "temperature": 1.0}).encode()
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
                c.sendall(post(body, "/v1/completions"))
        reasons = ["stop", "length", "cancelled", "timeout"]
        deadline = time.time() + 60
        while sum(metric(s, f'masque_requests_finished_total{{reason="{r}"}}') for r in reasons) < n:
            assert time.time() < deadline, "requests still running 60 s after their clients left"
            time.sleep(0.1)
        cancelled = metric(s, 'masque_requests_finished_total{reason="cancelled"}')
        generated = metric(s, "masque_completion_tokens_total")
        assert cancelled >= n / 4, f"only {cancelled} of {n} abandoned requests were cancelled"
        # How many tokens run before a probe notices depends on the machine's
        # speed; that not every request ran to its end does not.
        assert generated < n * max_tokens, f"{generated} tokens: every abandoned request ran to its end"
        # The slot is free: a normal request is answered.
        req = urllib.request.Request(s.url + "/v1/completions", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"prompt": "Ada", "max_tokens": 4}).encode())
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
    finally:
        assert s.stop() == 0, s.read_log()
