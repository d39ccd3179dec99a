#!/usr/bin/env python3
"""Load benchmark for `masque serve`: N concurrent streaming clients on
loopback, each sending a bounded number of chat requests (then stopping by
itself). Reports errors, incomplete replies, p50/p99 time to first token,
aggregate generated tokens/s per client count, and the server's CPU time per
generated token (from /proc), and the part of it spent outside the engine
thread (HTTP, JSON, SSE; exact at --threads 1); the anchor is the same server with one client,
measured in the same run. Replies differ in length, so the clients end
their bounded loops at different times and the batch thins out at the end
of a run; besides tokens/s over the whole run it reports the text chunks
per second while every client is active (until the first one has finished;
about one chunk per token), the generated tokens per engine step, and the
fill bound (tokens over clients x the busiest client's tokens: the batch
fill a perfect server could reach with these replies).

  python3 bench/serve_load.py --masque build/release/masque --model masque-demo/run \\
      --clients 1,16,64 --requests 4 --max-tokens 64 --parallel 16 [--repeat 3]

The client side is one asyncio event loop speaking raw HTTP/1.1 (chunked
transfer decoding and SSE framing by hand, standard library only), so on a
small machine it takes little CPU from the server it measures; threads and
http.client cost several times more per token. It stays honest: every SSE
event is parsed as JSON, and a reply counts only when it ends with a finish
reason (stop or length), a usage chunk whose completion_tokens is at least
the number of text chunks received, and `data: [DONE]`. With --repeat R each
client count runs R times and the fastest run is kept (other processes on
a shared machine slow runs down, never up). Exits 1 when any request fails
or any reply is incomplete.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

PROMPTS = ["Where does the river go?", "Tell me about the old tree.", "Who are you?",
           "What does Ada like?", "Describe the sea.", "What is your favourite colour?"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(stat_path):
    """utime + stime from a /proc stat file, in seconds."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def server_cpu_seconds(pid):
    """(whole process CPU seconds, {thread id: (name, CPU seconds)})."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                threads[tid] = (f.read().strip(), cpu_seconds(f"/proc/{pid}/task/{tid}/stat"))
        except FileNotFoundError:
            pass
    return cpu_seconds(f"/proc/{pid}/stat"), threads


def engine_thread_cpu(before, after):
    """CPU seconds of the engine thread between two samples: the thread the
    scheduler names masque-engine (older builds: the busiest thread). At
    --threads 1 it does all engine work; the rest of the server's CPU is
    HTTP, JSON and SSE."""
    deltas = {tid: (name, cpu - before.get(tid, (name, 0.0))[1]) for tid, (name, cpu) in after.items()}
    named = [d for name, d in deltas.values() if name == "masque-engine"]
    return sum(named) if named else max((d for _, d in deltas.values()), default=0.0)


def engine_counters(port):
    """(engine busy seconds, engine steps) from /metrics: wall time inside
    engine steps, and the number of batched steps."""
    values = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            name, _, value = line.partition(" ")
            values[name] = value
    try:
        return float(values["masque_engine_busy_seconds_total"]), int(values["masque_engine_steps_total"])
    except KeyError as e:
        raise RuntimeError(f"/metrics has no {e}")


class Incomplete(RuntimeError):
    pass


async def read_chunked(reader):
    """Yields the payloads of an HTTP/1.1 chunked body until its last chunk."""
    while True:
        line = await reader.readline()
        if not line:
            raise Incomplete("connection closed inside the chunked body")
        size = int(line.split(b";", 1)[0], 16)
        if size == 0:
            await reader.readline()  # the empty trailer line
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def one_request(port, prompt, max_tokens, seed):
    """A streamed chat request. Returns (ttft_s, completion_tokens, total_s,
    [arrival time of each text chunk]) or raises."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}], "stream": True,
                       "stream_options": {"include_usage": True}, "max_tokens": max_tokens,
                       "temperature": 1.0, "seed": seed}).encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {(await reader.read(300))!r}")
        if b"transfer-encoding: chunked" not in head.lower():
            raise Incomplete("the stream is not chunked")
        ttft, usage, finish, done, text_chunks, buf = None, None, None, False, 0, b""
        chunk_times = []
        async for payload in read_chunked(reader):
            buf += payload
            while True:
                end = buf.find(b"\n\n")
                if end < 0:
                    break
                event, buf = buf[:end], buf[end + 2:]
                if not event.startswith(b"data: "):
                    raise Incomplete(f"not an SSE data event: {event[:80]!r}")
                data = event[6:]
                if data == b"[DONE]":
                    done = True
                    continue
                if done:
                    raise Incomplete("an event after [DONE]")
                obj = json.loads(data)
                if "error" in obj:
                    raise RuntimeError(obj["error"]["message"])
                if obj.get("usage"):
                    usage = obj["usage"]
                for c in obj["choices"]:
                    if c["delta"].get("content"):
                        text_chunks += 1
                        chunk_times.append(time.perf_counter())
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                    if c.get("finish_reason"):
                        finish = c["finish_reason"]
        if buf:
            raise Incomplete(f"a partial event at the end: {buf[:80]!r}")
    finally:
        writer.close()
    total = time.perf_counter() - t0
    if not done or usage is None or finish not in ("stop", "length") or \
            usage["completion_tokens"] < text_chunks:
        raise Incomplete(f"incomplete reply (done={done}, finish={finish}, usage={usage}, "
                         f"text chunks={text_chunks})")
    return (ttft if ttft is not None else total), usage["completion_tokens"], total, chunk_times


async def run_level_async(port, clients, requests, max_tokens):
    """Returns (results, errors, per-client (tokens, time its last reply ended))."""
    results, errors, per_client = [], [], [None] * clients

    async def client(i):
        tokens = 0
        for r in range(requests):
            try:
                result = await one_request(port, PROMPTS[(i + r) % len(PROMPTS)], max_tokens,
                                           seed=i * 1000 + r)
                results.append(result)
                tokens += result[1]
            except Exception as e:  # counted, reported
                errors.append(f"{type(e).__name__}: {e}")
        per_client[i] = (tokens, time.perf_counter())
    await asyncio.gather(*(client(i) for i in range(clients)))
    return results, errors, per_client


def run_level(port, server_pid, clients, requests, max_tokens):
    busy0, steps0 = engine_counters(port)
    (cpu0, threads0), client0, t0 = server_cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    results, errors, per_client = asyncio.run(run_level_async(port, clients, requests, max_tokens))
    wall = time.perf_counter() - t0
    cpu1, threads1 = server_cpu_seconds(server_pid)
    server_cpu, engine_cpu = cpu1 - cpu0, engine_thread_cpu(threads0, threads1)
    client_cpu = time.process_time() - client0
    busy1, steps1 = engine_counters(port)
    engine_busy, steps = busy1 - busy0, steps1 - steps0
    ttfts = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    # Replies differ in length, so clients finish their bounded loops at
    # different times and the batch thins out at the end of a run (one
    # client has no such tail). "All clients active" counts the text chunks
    # streamed until the first client finished, over that time: the
    # aggregate rate while every client is sending.
    window = min(end for _, end in per_client) - t0
    window_chunks = sum(1 for r in results for t in r[3] if t - t0 <= window)

    def pct(p):
        return ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))] if ttfts else float("nan")
    return {"clients": clients, "requests": len(results) + len(errors), "errors": len(errors),
            "error_samples": errors[:3], "tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall,
            "all_active_s": window, "all_active_chunks_per_s": window_chunks / window if window > 0 else 0.0,
            # The batch fill a perfect server could reach with these replies:
            # tokens over clients x the busiest client's tokens.
            "fill_bound": tokens / max(1, clients * max(t for t, _ in per_client)),
            "ttft_p50_s": pct(0.50), "ttft_p99_s": pct(0.99),
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
            "server_cpu_us_per_token": 1e6 * server_cpu / max(1, tokens),
            "client_cpu_us_per_token": 1e6 * client_cpu / max(1, tokens),
            # CPU of the engine thread and of every other server thread (HTTP,
            # JSON, SSE; exact at --threads 1, where no OpenMP workers run).
            "engine_thread_cpu_us_per_token": 1e6 * engine_cpu / max(1, tokens),
            "http_cpu_us_per_token": 1e6 * (server_cpu - engine_cpu) / max(1, tokens),
            # Wall time inside engine steps (includes waiting for a core on a busy machine).
            "engine_busy_us_per_token": 1e6 * engine_busy / max(1, tokens),
            # Generated tokens per engine step: how full the batch was (slots
            # wait while requests join and leave, and at the end of a run).
            "engine_steps": steps, "tokens_per_step": tokens / max(1, steps),
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
    ap.add_argument("--repeat", type=int, default=1, help="runs per client count; the fastest is kept")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="an extra `masque serve` argument (repeatable), e.g. --serve-arg=--stream-interval=0")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    port = free_port()
    cmd = [args.masque, "--quiet"] + (["--threads", str(args.threads)] if args.threads else []) + [
        "serve", "--model", args.model, "--port", str(port), "--parallel", str(args.parallel),
        "--queue", str(max(levels) + 8)] + args.serve_arg
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
        asyncio.run(one_request(port, PROMPTS[0], 8, 0))  # warm-up
        rows = []
        for c in levels:
            runs = [run_level(port, server.pid, c, args.requests, args.max_tokens) for _ in range(args.repeat)]
            best = max(runs, key=lambda r: r["tok_per_s"])
            best["errors"] = sum(r["errors"] for r in runs)
            best["error_samples"] = [e for r in runs for e in r["error_samples"]][:3]
            best["runs_tok_per_s"] = [round(r["tok_per_s"]) for r in runs]
            rows.append(best)
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=60)
    base = rows[0]["tok_per_s"]
    base_active = rows[0]["all_active_chunks_per_s"]
    for row in rows:
        row["vs_first"] = row["tok_per_s"] / base if base else float("nan")
        row["all_active_vs_first"] = row["all_active_chunks_per_s"] / base_active if base_active else float("nan")
    if args.json:
        print(json.dumps({"rows": rows, "server_exit": rc, "load_avg": os.getloadavg()}, indent=1))
    else:
        print(f"| clients | requests | errors | tokens | tok/s | vs {levels[0]} | chunks/s all active | vs {levels[0]} "
              f"| TTFT p50 | TTFT p99 | tokens/step | fill bound | server CPU/token "
              f"| of which outside the engine thread | client CPU/token |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['tokens']} | {r['tok_per_s']:.0f} | "
                  f"{r['vs_first']:.2f} | {r['all_active_chunks_per_s']:.0f} | {r['all_active_vs_first']:.2f} | "
                  f"{r['ttft_p50_s'] * 1000:.0f} ms | {r['ttft_p99_s'] * 1000:.0f} ms | "
                  f"{r['tokens_per_step']:.1f} | {r['fill_bound']:.2f} | {r['server_cpu_us_per_token']:.0f} us | {r['http_cpu_us_per_token']:.0f} us | "
                  f"{r['client_cpu_us_per_token']:.0f} us |")
        print(f"server exit status {rc}; load average {os.getloadavg()}; "
              f"tok/s of each run: {[r['runs_tok_per_s'] for r in rows]}")
    failed = any(r["errors"] for r in rows) or rc != 0
    for r in rows:
        for e in r["error_samples"]:
            print(f"error ({r['clients']} clients): {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
