#!/usr/bin/env python3
"""The latent link between processes, and its benchmark.

agent-handoff: process A reads a story of ~1200 tokens (the stories260K greedy story, repeated)
and hands its KV to process B over a Unix socket; B answers from it without prefill. Under
--temp 0 with an F16 payload B's answer is A's own continuation, token for token, with B in a
forked child (socketpair) and with B in another process (--serve / --connect). A Q8_0 payload
is about half the bytes. B's time to first token is below re-prefilling the same text.

pyagent-bench --handoff: rows for every context and payload, with the exact wire size of the
format (docs/latent.md) and a receiver's time to first token below re-prefilling.

usage: handoff_check.py AGENT_HANDOFF PYAGENT_BENCH TEST_DATA
"""
import json
import os
import subprocess
import sys
import tempfile

N_LAYER, KV_DIM = 5, 32  # stories260K: 4 KV heads of 8


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def story(data):
    """The greedy continuation of "Once upon a time" from the oracle file, as a story."""
    with open(os.path.join(data, "stories260K-greedy.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("text_no_stop:"):
                return "Once upon a time" + line[len("text_no_stop:"):].rstrip() + " "
    fail("no text_no_stop line in stories260K-greedy.txt")


def run(cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def wire_bytes(n, payload):
    row = KV_DIM * 2 if payload == "f16" else (KV_DIM + 31) // 32 * 34
    return 64 + 4 * n + 8 + N_LAYER * (2 * n * row + 8)


def check_handoff(result, payload, what):
    if result.returncode != 0:
        fail(f"{what}: exit {result.returncode}: {result.stderr}")
    r = json.loads(result.stdout)
    if not r["equal"] or r["a_tokens"] != r["b_tokens"] or len(r["b_tokens"]) != 24:
        fail(f"{what}: B's answer is not A's continuation: {r}")
    if r["tokens"] < 1000 or r["bytes"] != wire_bytes(r["tokens"], payload):
        fail(f"{what}: {r['tokens']} tokens in {r['bytes']} bytes")
    if not 0 < r["b_ttft_s"] < r["b_reprefill_ttft_s"]:
        fail(f"{what}: B's time to first token {r['b_ttft_s']} is not below re-prefilling "
             f"{r['b_reprefill_ttft_s']}")
    print(f"{what}: {r['tokens']} tokens, {r['bytes_per_token']:.0f} bytes/token ({payload}); "
          f"B's first token {r['b_ttft_s'] * 1e3:.1f} ms, re-prefill "
          f"{r['b_reprefill_ttft_s'] * 1e3:.1f} ms ({r['ttft_ratio']:.3f}x)")
    return r


def main():
    handoff, bench, data = sys.argv[1], sys.argv[2], sys.argv[3]
    model = os.path.join(data, "stories260K.gguf")
    with tempfile.TemporaryDirectory() as tmp:
        doc = os.path.join(tmp, "story.txt")
        with open(doc, "w", encoding="utf-8") as f:
            f.write(story(data) * 20)
        common = [handoff, "-m", model, "-f", doc, "-c", "2048", "-t", "1", "-n", "24",
                  "--json"]

        f16 = check_handoff(run(common), "f16", "socketpair")
        q8 = check_handoff(run(common + ["--payload", "q8_0"]), "q8_0", "socketpair q8_0")
        if q8["bytes"] > 0.55 * f16["bytes"]:
            fail(f"Q8_0 payload {q8['bytes']} is not about half of F16 {f16['bytes']}")

        sock = os.path.join(tmp, "b.sock")
        server = subprocess.Popen([handoff, "-m", model, "--serve", sock, "-c", "2048", "-t",
                                   "1", "-n", "24"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            client = run(common + ["--connect", sock])
            out, err = server.communicate(timeout=120)
        finally:
            server.kill()
        check_handoff(client, "f16", "--serve/--connect")
        if server.returncode != 0 or "tokens received: first token after" not in out:
            fail(f"--serve: exit {server.returncode}: {out} {err}")
        if os.path.exists(sock):
            fail("--serve left its socket behind")

        bad = run([handoff, "-m", model, "-f", doc, "--payload", "f8"])
        if bad.returncode != 2 or "--payload" not in bad.stderr:
            fail(f"a bad --payload: exit {bad.returncode}: {bad.stderr}")

    result = run([bench, "--handoff", "-m", model, "-p", "64,300", "-r", "2", "-t", "1",
                  "--json"], timeout=240)
    if result.returncode != 0:
        fail(f"pyagent-bench --handoff: exit {result.returncode}: {result.stderr}")
    rows = json.loads(result.stdout)
    got = [(r["context"], r["payload"]) for r in rows]
    if got != [(64, "f16"), (64, "q8_0"), (300, "f16"), (300, "q8_0")]:
        fail(f"pyagent-bench --handoff rows: {got}")
    for r in rows:
        if r["bytes"] != wire_bytes(r["context"], r["payload"]) or r["reps"] != 2:
            fail(f"pyagent-bench --handoff: {r}")
        parts = r["deserialize_s"] + r["import_s"] + r["first_token_s"]
        if abs(parts - r["ttft_s"]) > 0.1 * r["ttft_s"] + 1e-4:
            fail(f"pyagent-bench --handoff: ttft is not its parts: {r}")
        if r["context"] == 300 and not r["ttft_s"] < r["reprefill_ttft_s"]:
            fail(f"pyagent-bench --handoff: importing is not faster than re-prefill: {r}")
        print(f"bench: {r['context']} tokens {r['payload']}: {r['bytes_per_token']:.0f} "
              f"bytes/token, TTFT {r['ttft_s'] * 1e3:.2f} ms vs re-prefill "
              f"{r['reprefill_ttft_s'] * 1e3:.2f} ms ({r['ttft_ratio']:.3f}x)")


if __name__ == "__main__":
    main()
