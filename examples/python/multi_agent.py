#!/usr/bin/env python3
"""Several agents that share a prompt prefix, each driven by its own thread, on one engine.

    PYAGENT_LIBRARY=build/libpyagent.so.1 python3 examples/python/multi_agent.py \\
        -m tests/data/stories260K.gguf -n 4 --tokens 48

Every agent starts from the same prefix (in a real host: the system prompt and tool list) and
then gets its own continuation and sampler seed; the threads' generate calls batch together in
the engine. With --fork the prefix is computed once in a parent agent and each agent is a
copy-on-write fork of it. The engine's prefix cache gives the agents the full KV blocks of the prefix that
another agent already computed, so the statistics show most prefix tokens as cached
(n_cached_tokens) rather than computed. The script uses only the per-agent API: an engine
without a prefix cache (engine param prefix_cache=0) runs it unchanged, computing every prefix.
"""
import argparse
import concurrent.futures
import os
import sys
import threading
import time

try:
    import pyagent
except ImportError:  # run from a source checkout without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "bindings", "python"))
    import pyagent

PREFIX = ("Once upon a time, there was a little girl named Lily. She loved to play outside in "
          "the park. One day,")
CONTINUATIONS = [" she saw a big dog", " her mom said", " Lily found a box", " a bird sang",
                 " it started to rain", " Ben came to play", " the sun was hot", " she was sad"]


def make_agents(engine, args):
    """One agent per continuation. With --fork the prefix is computed once, in a parent agent,
    and every agent is a fork of it (sharing its KV blocks); otherwise each agent is fed the
    whole prompt and the engine's prefix cache finds the blocks another agent computed."""
    agents = []
    parent = None
    if args.fork:
        parent = engine.agent()
        parent.feed(PREFIX)
        parent.prefill()
    for i in range(args.agents):
        if parent is not None:
            agent = parent.fork()
            agent.set_sampler(temperature=args.temperature, top_k=40, seed=i + 1)
            agent.feed(CONTINUATIONS[i % len(CONTINUATIONS)])
        else:
            agent = engine.agent(temperature=args.temperature, top_k=40, seed=i + 1)
            agent.feed(PREFIX + CONTINUATIONS[i % len(CONTINUATIONS)])
        agent.stops = ["\n"]
        agents.append(agent)
    if parent is not None:
        parent.close()
    return agents


def run_agent(agent, index, args, print_lock):
    """Generates on this thread (each agent is used by one thread at a time)."""
    started = time.perf_counter()
    stream = agent.generate(args.tokens)
    for piece in stream:
        if args.stream:
            with print_lock:
                print("[agent %d] %r" % (index, piece), flush=True)
    seconds = time.perf_counter() - started
    result = {"index": index, "text": CONTINUATIONS[index % len(CONTINUATIONS)]
              + stream.text_so_far, "finish": stream.finish_reason.name,
              "n_tokens": len(stream.tokens), "seconds": seconds, "stats": agent.stats()}
    agent.close()
    return result


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_model = os.path.join(here, "..", "..", "tests", "data", "stories260K.gguf")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", default=default_model)
    ap.add_argument("-n", "--agents", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=48, help="tokens per agent")
    ap.add_argument("-t", "--threads", type=int, default=1, help="engine worker threads (0: all cores)")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--stream", action="store_true", help="print every piece as it comes")
    ap.add_argument("--fork", action="store_true",
                    help="compute the prefix once and fork every agent from it")
    ap.add_argument("--no-prefix-cache", action="store_true",
                    help="every agent computes its whole prompt (engine param prefix_cache=0)")
    args = ap.parse_args(argv)

    params = {"n_threads": args.threads}
    if args.no_prefix_cache:
        params["prefix_cache"] = 0
    with pyagent.Engine(args.model, **params) as engine:
        n_prefix = len(engine.tokenize(PREFIX, add_special=True))
        print("libpyagent %s, model %s, %d agents, shared prefix of %d tokens"
              % (pyagent.version(), os.path.basename(args.model), args.agents, n_prefix))
        print_lock = threading.Lock()
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.agents) as pool:
            futures = [pool.submit(run_agent, agent, i, args, print_lock)
                       for i, agent in enumerate(make_agents(engine, args))]
            results = [f.result() for f in futures]
        wall = time.perf_counter() - started

    computed = cached = generated = 0
    for r in results:
        s = r["stats"]
        computed += s.n_prompt_tokens
        cached += getattr(s, "n_cached_tokens", 0)
        generated += s.n_generated_tokens
        print("\n[agent %d] %s...%s" % (r["index"], PREFIX[:24], r["text"]))
        print("  %d tokens, finish %s, %.1f tokens/s; stats: %r"
              % (r["n_tokens"], r["finish"], r["n_tokens"] / max(r["seconds"], 1e-9), s))
    if args.fork:
        print("\nthe parent agent computed the prefix once (%d tokens); the forks share it"
              % n_prefix)
    print("\nprompt tokens computed: %d, taken from the prefix cache: %d (the prefix alone is "
          "%d tokens x %d agents = %d)" % (computed, cached, n_prefix, args.agents,
                                           n_prefix * args.agents))
    print("generated %d tokens in %.2f s on %d threads: %.1f tokens/s in all"
          % (generated, wall, args.agents, generated / max(wall, 1e-9)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
