#!/usr/bin/env python3
"""A bounded load test of pyagent-server: CLIENTS concurrent streaming chat clients on loopback
for DURATION seconds, each sending one request after the other (a shared system prompt, a
question of its own, MAX_TOKENS tokens back). Passes when no request failed (every stream was
200, ended with [DONE] and carried no error event) and the server's memory did not grow once
warm: its RSS at the end, and after the load, stays within 10% (+8 MiB) of its RSS at the end of
the warm-up (the first fifth of the run). Prints p50/p99 time to first token and the aggregate
generated tokens per second.

usage: server_load_check.py PYAGENT_SERVER DATA_DIR [--clients 64] [--duration 60]
                            [--max-tokens 64] [--json FILE] [-- SERVER_FLAGS...]
(SERVER_FLAGS default to --kv-bytes 32 MiB.)
"""
import argparse
import http.client
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "server"))
from harness import Server  # noqa: E402

SYSTEM = ("You are a storyteller. Tell short, kind stories for children about animals, "
          "friends and the park, with a happy end.")
QUESTIONS = ["Once upon a time", "One day, a little dog", "Lily and Ben went to the park",
             "The cat saw a big red ball", "Tom had a toy car", "A bird sang in the tree",
             "The sun was shining", "Sue wanted to play"]


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Client(threading.Thread):
    def __init__(self, server, number, deadline, max_tokens):
        super().__init__(daemon=True)
        self.server, self.number, self.deadline = server, number, deadline
        self.max_tokens = max_tokens
        self.ttft, self.tokens, self.failures, self.requests = [], 0, [], 0

    def one_request(self, conn, i):
        body = {"model": "stories260K", "stream": True, "max_tokens": self.max_tokens,
                "temperature": 0.8, "seed": self.number * 100003 + i,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user",
                              "content": QUESTIONS[(self.number + i) % len(QUESTIONS)]}]}
        t0 = time.monotonic()
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers=self.server.headers())
        r = conn.getresponse()
        if r.status != 200:
            return f"status {r.status}: {r.read()[:200]!r}"
        first, done, usage = None, False, None
        while True:
            line = r.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                continue
            if first is None and b'"content":"' in data and b'"content":""' not in data:
                first = time.monotonic() - t0
            if b'"error"' in data[:12]:
                return f"error event: {data[:200]!r}"
            if b'"usage"' in data:
                usage = json.loads(data)["usage"]
        if not done or usage is None:
            return f"stream ended without [DONE] or usage (done={done})"
        if first is not None:
            self.ttft.append(first)
        self.tokens += usage["completion_tokens"]
        return None

    def run(self):
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=120)
        i = 0
        while time.monotonic() < self.deadline:
            try:
                failure = self.one_request(conn, i)
            except Exception as e:  # noqa: BLE001 - any exception is a failed request
                failure = f"{type(e).__name__}: {e}"
                conn.close()
                conn = http.client.HTTPConnection(self.server.host, self.server.port,
                                                  timeout=120)
            self.requests += 1
            if failure:
                self.failures.append(failure)
            i += 1
        conn.close()


def main():
    argv = sys.argv[1:]
    flags = []
    if "--" in argv:
        flags, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("server")
    p.add_argument("data")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--json")
    a = p.parse_args(argv)

    # A KV pool small enough to be filled during the warm-up, so that the memory of a full pool
    # is counted as warm, and what grows after is growth.
    flags = flags or ["--kv-bytes", str(32 << 20)]
    with Server(a.server, os.path.join(a.data, "stories260K.gguf"), *flags) as server:
        start = time.monotonic()
        deadline = start + a.duration
        clients = [Client(server, n, deadline, a.max_tokens) for n in range(a.clients)]
        for c in clients:
            c.start()
        time.sleep(a.duration / 5)
        rss_warm = server.rss_kb()
        for c in clients:
            c.join(timeout=a.duration + 180)
        elapsed = time.monotonic() - start
        rss_end = server.rss_kb()
        time.sleep(2)
        rss_idle = server.rss_kb()
        m = server.metrics()
        status = server.stop()

    ttft = [t for c in clients for t in c.ttft]
    failures = [f for c in clients for f in c.failures]
    requests = sum(c.requests for c in clients)
    tokens = sum(c.tokens for c in clients)
    result = {
        "clients": a.clients, "duration_s": round(elapsed, 1), "requests": requests,
        "failed": len(failures), "completion_tokens": tokens,
        "tokens_per_second": round(tokens / elapsed, 1),
        "ttft_p50_ms": round(percentile(ttft, 0.5) * 1e3, 1),
        "ttft_p99_ms": round(percentile(ttft, 0.99) * 1e3, 1),
        "prompt_tokens_cached": int(m.get("pyagent_prompt_tokens_cached_total", 0)),
        "prompt_tokens": int(m.get("pyagent_prompt_tokens_total", 0)),
        "rss_warm_mib": round(rss_warm / 1024, 1), "rss_end_mib": round(rss_end / 1024, 1),
        "rss_idle_mib": round(rss_idle / 1024, 1),
    }
    print(f"load: {a.clients} streaming clients for {result['duration_s']} s: {requests} requests,"
          f" {len(failures)} failed; time to first token p50 {result['ttft_p50_ms']} ms, p99 "
          f"{result['ttft_p99_ms']} ms; {result['tokens_per_second']} generated tokens/s "
          f"aggregate ({tokens} tokens); prompt tokens from the prefix cache "
          f"{result['prompt_tokens_cached']} of {result['prompt_tokens']}; server RSS "
          f"{result['rss_warm_mib']} MiB warm, {result['rss_end_mib']} MiB at the end, "
          f"{result['rss_idle_mib']} MiB idle")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    problems = []
    if failures:
        problems.append(f"{len(failures)} failed requests, e.g. {failures[:3]}")
    if requests < a.clients:
        problems.append(f"only {requests} requests")
    limit = rss_warm * 1.10 + 8 * 1024
    if rss_end > limit or rss_idle > limit:
        problems.append(f"server memory grew: {rss_warm} kB warm, {rss_end} kB at the end, "
                        f"{rss_idle} kB idle")
    if m.get("pyagent_requests_processing") != 0:
        problems.append("requests still processing after the load")
    if status != 0:
        problems.append(f"the server exited with {status}")
    if problems:
        sys.exit("FAIL: " + "; ".join(problems))


if __name__ == "__main__":
    main()
