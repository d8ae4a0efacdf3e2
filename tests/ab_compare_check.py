#!/usr/bin/env python3
"""examples/ab-compare.py runs pyagent-bench against each library in turn and reports, per
test, the median of each and its ratio to the first; it refuses what it cannot run.

usage: ab_compare_check.py AB_COMPARE PYAGENT_BENCH LIBRARY MODEL
"""
import json
import os
import subprocess
import sys
import tempfile


def run(ab, *args):
    return subprocess.run([sys.executable, ab, *args], capture_output=True, text=True,
                          timeout=240)


def main():
    ab, bench, lib, model = sys.argv[1:5]
    bench_args = ["--", "-m", model, "-p", "8", "-n", "4", "-t", "1", "-r", "1"]
    # the same library under two names: every test of both, three samples each
    out = run(ab, "--rounds", "3", "--bench", bench, "--json", f"a={lib}", f"b={lib}", *bench_args)
    if out.returncode != 0:
        sys.exit(f"FAIL: exit {out.returncode}: {out.stderr}")
    rows = json.loads(out.stdout)
    got = {(r["test"], r["name"]) for r in rows}
    want = {(t, n) for t in ("pp8 t1 kv f16", "tg4 t1 kv f16") for n in ("a", "b")}
    if got != want:
        sys.exit(f"FAIL: expected {sorted(want)}, got {sorted(got)}")
    for r in rows:
        if len(r["samples"]) != 3 or r["median_tps"] != sorted(r["samples"])[1]:
            sys.exit(f"FAIL: three samples and their median: {r}")
    # the table: a line per test, the baseline's ratio 1.000
    out = run(ab, "--rounds", "1", "--bench", bench, f"a={lib}", f"b={lib}", *bench_args)
    lines = [l for l in out.stdout.splitlines() if "tg4 t1" in l]
    if out.returncode != 0 or len(lines) != 1 or "a" not in lines[0] or "(1.000)" not in lines[0]:
        sys.exit(f"FAIL: table: {out.stdout} {out.stderr}")
    # refusals: a message and a non-zero exit, no traceback
    for args, says in [((f"a={lib}", f"b={lib}", "-m", model), "after --"),
                       ((f"a={lib}", *bench_args), "at least two"),
                       ((f"a={lib}", "b=/nonexistent/libpyagent.so", *bench_args), "no library"),
                       ((f"a={lib}", f"a={lib}", *bench_args), "must differ"),
                       (("--rounds", "x", f"a={lib}", f"b={lib}", *bench_args), "number"),
                       ((f"a={lib}", f"b={lib}", "--", "-m", "/nonexistent.gguf"), "failed")]:
        out = run(ab, "--bench", bench, *args)
        if out.returncode == 0 or says not in out.stderr or "Traceback" in out.stderr:
            sys.exit(f"FAIL: {args}: exit {out.returncode}, {out.stderr!r}")
    # the library given is the one loaded (LD_LIBRARY_PATH before the bench's RUNPATH): a file
    # that is no library makes pyagent-bench fail to start
    with tempfile.TemporaryDirectory() as tmp:
        bogus = os.path.join(tmp, "libpyagent.so.0.1.0")
        with open(bogus, "wb") as f:
            f.write(b"not an ELF file")
        out = run(ab, "--rounds", "1", "--bench", bench, f"a={lib}", f"b={bogus}", *bench_args)
        if out.returncode == 0 or "pyagent-bench failed" not in out.stderr:
            sys.exit(f"FAIL: a bogus library b ran: exit {out.returncode}, {out.stderr!r}")
    print("ab-compare: medians of interleaved rounds, the libraries given, refusals")


if __name__ == "__main__":
    main()
