#!/usr/bin/env python3
"""Load benchmark for `masque serve`: N concurrent streaming clients on
loopback, each sending a bounded number of chat requests (then stopping by
itself). Reports errors, incomplete replies, p50/p99 time to first token,
and aggregate generated tokens/s per client count; the anchor is the same
server with one client, measured in the same run.

  python3 bench/serve_load.py --masque build/release/masque --model masque-demo/run \
      --clients 1,16,64 --requests 4 --max-tokens 64 --parallel 16

Standard library only (http.client, threads), so the client side stays
cheap next to the server on a small machine. Exits 1 when any request
fails or any reply is incomplete.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

PROMPTS = ["Where does the river go?", "Tell me about the old tree.", "Who are you?",
           "What does Ada like?", "Describe the sea.", "What is your favourite colour?"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_request(port, prompt, max_tokens, seed):
    """A streamed chat request. Returns (ttft_s, tokens, total_s) or raises."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}], "stream": True,
                       "stream_options": {"include_usage": True}, "max_tokens": max_tokens,
                       "temperature": 1.0, "seed": seed})
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    ttft, usage, finish, done, buf = None, None, None, False, b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            if data == b"[DONE]":
                done = True
                continue
            obj = json.loads(data)
            if "error" in obj:
                raise RuntimeError(obj["error"]["message"])
            if obj.get("usage"):
                usage = obj["usage"]
            for c in obj.get("choices", []):
                if c["delta"].get("content") and ttft is None:
                    ttft = time.perf_counter() - t0
                if c.get("finish_reason"):
                    finish = c["finish_reason"]
    conn.close()
    total = time.perf_counter() - t0
    if not done or usage is None or finish not in ("stop", "length"):
        raise RuntimeError(f"incomplete reply (done={done}, finish={finish}, usage={usage})")
    return (ttft if ttft is not None else total), usage["completion_tokens"], total


def run_level(port, clients, requests, max_tokens):
    results, errors = [], []
    lock = threading.Lock()

    def client(i):
        for r in range(requests):
            try:
                out = one_request(port, PROMPTS[(i + r) % len(PROMPTS)], max_tokens, seed=i * 1000 + r)
                with lock:
                    results.append(out)
            except Exception as e:  # counted, reported
                with lock:
                    errors.append(str(e))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ttfts = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)

    def pct(p):
        return ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))] if ttfts else float("nan")
    return {"clients": clients, "requests": len(results) + len(errors), "errors": len(errors),
            "error_samples": errors[:3], "tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall,
            "ttft_p50_s": pct(0.50), "ttft_p99_s": pct(0.99),
            "mean_tokens_per_reply": tokens / max(1, len(results))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masque", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="masque --threads (0 = all cores)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    port = free_port()
    cmd = [args.masque, "--quiet"] + (["--threads", str(args.threads)] if args.threads else []) + [
        "serve", "--model", args.model, "--port", str(port), "--parallel", str(args.parallel),
        "--queue", str(max(levels) + 8)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            if server.poll() is not None:
                sys.exit(f"masque serve exited: {server.stderr.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("masque serve did not become healthy")
            time.sleep(0.1)
        one_request(port, PROMPTS[0], 8, 0)  # warm-up
        rows = [run_level(port, c, args.requests, args.max_tokens) for c in levels]
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=60)
    base = rows[0]["tok_per_s"]
    for row in rows:
        row["vs_first"] = row["tok_per_s"] / base if base else float("nan")
    if args.json:
        print(json.dumps({"rows": rows, "server_exit": rc, "load_avg": os.getloadavg()}, indent=1))
    else:
        print(f"| clients | requests | errors | tokens | tok/s | vs {levels[0]} | TTFT p50 | TTFT p99 |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['tokens']} | {r['tok_per_s']:.0f} | "
                  f"{r['vs_first']:.2f} | {r['ttft_p50_s'] * 1000:.0f} ms | {r['ttft_p99_s'] * 1000:.0f} ms |")
        print(f"server exit status {rc}; load average {os.getloadavg()}")
    failed = any(r["errors"] for r in rows) or rc != 0
    for r in rows:
        for e in r["error_samples"]:
            print(f"error ({r['clients']} clients): {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
