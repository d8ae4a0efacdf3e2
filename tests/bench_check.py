#!/usr/bin/env python3
"""pyagent-bench runs its pp and tg tests and writes JSON that a script can read; its adapter
workload fits the pycode pair and reports what the adapter carries.

usage: bench_check.py PYAGENT_BENCH MODEL [TEST_DATA]
"""
import json
import os
import subprocess
import sys


def main():
    bench, model = sys.argv[1], sys.argv[2]
    run = subprocess.run([bench, "-m", model, "-p", "16", "-n", "8", "-t", "1", "-r", "2",
                          "--json"], capture_output=True, timeout=240)
    if run.returncode != 0:
        sys.exit(f"FAIL: exit {run.returncode}: {run.stderr.decode(errors='replace')}")
    rows = json.loads(run.stdout)
    tests = {r["test"]: r for r in rows}
    if set(tests) != {"pp16", "tg8"}:
        sys.exit(f"FAIL: expected pp16 and tg8, got {sorted(tests)}")
    for name, r in tests.items():
        if r["reps"] != 2 or len(r["samples"]) != 2 or not r["tps_mean"] > 0:
            sys.exit(f"FAIL: {name}: {r}")
    print(f"pp16 {tests['pp16']['tps_mean']:.0f} t/s, tg8 {tests['tg8']['tps_mean']:.0f} t/s")

    # --roofline: tg rows say what a token reads and how that compares with the bandwidth the
    # bench measured; pp rows do not. A stories260K token reads 1040384 bytes: 260096 f32
    # values, every tensor but token_embd (the output has its own matrix) and one 64-value row
    # of token_embd. --huge-pages 0,1 runs every test with the weights mapped and copied.
    run = subprocess.run([bench, "-m", model, "-p", "8", "-n", "8", "-t", "1", "-r", "2",
                          "--json", "--roofline", "--huge-pages", "0,1"],
                         capture_output=True, timeout=240)
    if run.returncode != 0:
        sys.exit(f"FAIL: --roofline: exit {run.returncode}: {run.stderr.decode(errors='replace')}")
    tests = {(r["test"], r["huge_pages"]): r for r in json.loads(run.stdout)}
    if set(tests) != {("pp8", 0), ("tg8", 0), ("pp8", 1), ("tg8", 1)}:
        sys.exit(f"FAIL: --huge-pages 0,1: expected pp8 and tg8 twice, got {sorted(tests)}")
    for huge_pages in (0, 1):
        tg, pp = tests[("tg8", huge_pages)], tests[("pp8", huge_pages)]
        if tg.get("weight_bytes_per_token") != 1040384 or not tg["roofline_gbs"] > 0:
            sys.exit(f"FAIL: --roofline tg8: {tg}")
        if abs(tg["read_gbs"] - tg["tps_mean"] * 1040384 / 1e9) > 1e-3 * tg["read_gbs"]:
            sys.exit(f"FAIL: --roofline read_gbs is not tokens/s x bytes/token: {tg}")
        if abs(tg["roofline_fraction"] - tg["read_gbs"] / tg["roofline_gbs"]) > 1e-3:
            sys.exit(f"FAIL: --roofline fraction: {tg}")
        # each timed run has its own roofline (the read loop around it); the row's is their mean
        rooflines = tg.get("rooflines", [])
        mean = sum(rooflines) / max(len(rooflines), 1)
        if len(rooflines) != tg["reps"] or not all(g > 0 for g in rooflines) or \
                abs(mean - tg["roofline_gbs"]) > 1e-3 * tg["roofline_gbs"]:
            sys.exit(f"FAIL: --roofline rooflines are not one per run, their mean the row's: {tg}")
        # the 1 MB file is read from the caches, the DRAM buffer (written, >= 256 MiB) from
        # memory: the loop is faster on the file by far (if the buffer were the zero page or
        # fit a cache, it would not be)
        if not 0 < tg.get("dram_gbs", 0) < tg["roofline_gbs"]:
            sys.exit(f"FAIL: --roofline dram_gbs is not below the cached file's: {tg}")
        if "roofline_gbs" in pp:
            sys.exit(f"FAIL: --roofline on a pp row: {pp}")
        print(f"roofline (huge_pages {huge_pages}): {tg['roofline_gbs']:.1f} GB/s measured, "
              f"DRAM {tg['dram_gbs']:.1f} GB/s")
    check_depth_and_kv_type(bench, model)
    if len(sys.argv) > 3:
        check_adapter(bench, sys.argv[3])
    check_memory(bench, model)


def check_depth_and_kv_type(bench, model):
    """-d and --kv-type: every tg test at every depth on an engine of every KV type; a test at
    depth D is named tgN@dD; a KV type the library does not have is a usage error."""
    run = subprocess.run([bench, "-m", model, "-p", "0", "-n", "8", "-d", "0,40", "-t", "1",
                          "-r", "1", "--kv-type", "f32,f16", "--json"],
                         capture_output=True, timeout=240)
    if run.returncode != 0:
        sys.exit(f"FAIL: -d/--kv-type: exit {run.returncode}: "
                 f"{run.stderr.decode(errors='replace')}")
    got = {(r["test"], r["depth"], r["kv_type"]) for r in json.loads(run.stdout)}
    want = {(t, d, k) for t, d in (("tg8", 0), ("tg8@d40", 40)) for k in ("f32", "f16")}
    if got != want:
        sys.exit(f"FAIL: -d 0,40 --kv-type f32,f16: expected {sorted(want)}, got {sorted(got)}")
    run = subprocess.run([bench, "-m", model, "--kv-type", "f8"], capture_output=True,
                         timeout=60)
    if run.returncode != 2 or b"'f8' is not f32, f16 or q8_0" not in run.stderr:
        sys.exit(f"FAIL: --kv-type f8: exit {run.returncode}: {run.stderr[:200]}")
    print("-d 0,40 --kv-type f32,f16: 4 tg rows")


def check_memory(bench, model):
    """--memory: KV bytes per agent by policy, and greedy agreement, as JSON lines."""
    run = subprocess.run([bench, "--memory", "-m", model, "--contexts", "256,512", "--agreement",
                          model, "-t", "1", "--json"], capture_output=True, timeout=240)
    if run.returncode != 0:
        sys.exit(f"FAIL: --memory: exit {run.returncode}: {run.stderr.decode(errors='replace')}")
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    sizes = {(r["context"], r["policy"]): r for r in rows if "policy" in r}
    for n in (256, 512):
        f16, q8, window = (sizes[(n, p)]["kv_bytes"] for p in ("f16", "q8_0", "f16+window"))
        # stories260K: 5 layers, kv_dim 32, blocks of 16 positions: K and V of a position take
        # 2 x 5 x 32 x 2 bytes in F16, 34/64 of that in Q8_0
        if f16 != -(-n // 16) * 16 * 2 * 5 * 32 * 2 or q8 * 64 != f16 * 34 or not window < f16 / 2:
            sys.exit(f"FAIL: --memory bytes at {n}: f16 {f16}, q8_0 {q8}, window {window}")
        # every pruning policy is sized to 25 % of F16's bytes, and decodes afterwards
        for policy in ("f16+window", "f16+h2o", "f16+h2o+entropy"):
            r = sizes[(n, policy)]
            if not 0 < r["kv_bytes"] <= f16 / 4 or not r["decode_tok_s"] > 0:
                sys.exit(f"FAIL: --memory {policy} at {n}: {r}")
    agree = {r["agreement_policy"]: r for r in rows if "agreement_policy" in r}
    for policy in ("q8_0", "f32", "f16+window", "f16+h2o", "f16+h2o+entropy", "f16+kvzap"):
        r = agree[policy]
        if r["openings"] != 4 or r["tokens"] != 4 * 256 or not 0 <= r["share"] <= 1:
            sys.exit(f"FAIL: --memory agreement: {r}")
        # replayed along the F16 run's tokens, each step's argmax is that run's next token at
        # least 90 % of the time (the agreement target), 99 % for F32 KV (rounding only)
        if not (0.99 if policy == "f32" else 0.9) <= r["forced_share"] <= 1:
            sys.exit(f"FAIL: --memory teacher-forced agreement: {r}")
    print("memory: greedy agreement at a 25% byte budget (free-running / teacher-forced): " +
          ", ".join(f"{p} {100 * r['share']:.1f}/{100 * r['forced_share']:.1f}%"
                    for p, r in agree.items()))


def check_adapter(bench, data):
    """--adapter on the pycode pair, fitted on one of our Python files, evaluated on another."""
    source = os.path.join(data, "..", "..", "bindings", "python", "pyagent")
    args = [bench, "--adapter", "-s", os.path.join(data, "pycode-draft-1M-f16.gguf"),
            "-m", os.path.join(data, "pycode-target-16M-f16.gguf"),
            "--text", os.path.join(source, "agent.py"), "--eval", os.path.join(source, "engine.py"),
            "-P", "96", "-S", "64", "-t", "1", "--json"]
    run = subprocess.run(args, capture_output=True, timeout=240)
    if run.returncode != 0:
        sys.exit(f"FAIL: --adapter: exit {run.returncode}: {run.stderr.decode(errors='replace')}")
    r = json.loads(run.stdout)
    if (r["dim_in"], r["dim_out"]) != (128, 384) or not r["n_heldout"] > 0:
        sys.exit(f"FAIL: --adapter: {r}")
    if not (0 < r["r2_heldout"] < r["r2_train"] <= 1 and r["fit_s"] > 0):
        sys.exit(f"FAIL: --adapter figures: {r}")
    if not r["nll_own"] < r["nll_no_prefix"] or not r["nll_adapted"] < r["nll_mean_rows"]:
        sys.exit(f"FAIL: --adapter losses: {r}")
    print(f"adapter: held-out R2 {r['r2_heldout']:.3f}, suffix loss own {r['nll_own']:.3f} / "
          f"adapted {r['nll_adapted']:.3f} / none {r['nll_no_prefix']:.3f}")
    # models that do not share a vocabulary: a clear error, exit 1
    run = subprocess.run(args[:3] + [os.path.join(data, "stories260K.gguf")] + args[4:],
                         capture_output=True, timeout=60)
    if run.returncode != 1 or b"vocabularies" not in run.stderr:
        sys.exit(f"FAIL: --adapter with another vocabulary: {run.returncode} {run.stderr!r}")


if __name__ == "__main__":
    main()
