#!/usr/bin/env python3
"""pyagent-bench runs its pp and tg tests and writes JSON that a script can read.

usage: bench_check.py PYAGENT_BENCH MODEL
"""
import json
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


if __name__ == "__main__":
    main()
