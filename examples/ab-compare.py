#!/usr/bin/env python3
"""Two or more builds of libpyagent under the same pyagent-bench, taking turns.

On a shared machine the memory bandwidth moves by tens of percent from one minute to the next,
so a change measured as "before, then after" measures the minute as much as the change. This
runs the same pyagent-bench arguments against each library in turn, round after round, and
prints for every test the median tokens/s of each library and its ratio to the first.

usage: ab-compare.py [--rounds N] [--bench PATH] NAME=LIBRARY NAME=LIBRARY ... -- BENCH_ARGS

  NAME=LIBRARY   a label and a built libpyagent.so.0.1.0 (any path; it is loaded as
                 libpyagent.so.1 through LD_LIBRARY_PATH); the first is the baseline
  --rounds N     turns of every library (default 8)
  --bench PATH   the pyagent-bench to run (default build/examples/pyagent-bench)
  --json         print the medians and every sample as JSON

example, the working tree against the commit before it:
  git worktree add /tmp/before HEAD~1 && meson setup /tmp/before/build /tmp/before &&
  ninja -C /tmp/before/build libpyagent.so.0.1.0 &&
  python3 examples/ab-compare.py before=/tmp/before/build/libpyagent.so.0.1.0 \\
      after=build/libpyagent.so.0.1.0 -- -m m110-q4_0.gguf -p 0 -n 64 -t 1,2 -r 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


USAGE = next(p for p in __doc__.split("\n\n") if p.startswith("usage: "))[len("usage: "):]


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("takes a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("takes a number >= 1")
    return value


def library(text):
    name, sep, path = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text}: not NAME=LIBRARY")
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{name}: no library at {path}")
    return name, os.path.abspath(path)


def parse(argv):
    parser = argparse.ArgumentParser(prog="ab-compare.py", usage=USAGE,
                                     add_help=False)
    parser.add_argument("--rounds", type=positive_int, default=8)
    parser.add_argument("--bench", default="build/examples/pyagent-bench")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("libs", nargs="*", type=library)
    if "--" not in argv:
        parser.error("the pyagent-bench arguments go after --")
    split = argv.index("--")
    options, bench_args = parser.parse_args(argv[:split]), argv[split + 1:]
    names = [name for name, _ in options.libs]
    if len(names) < 2:
        parser.error("needs at least two NAME=LIBRARY")
    if len(set(names)) != len(names):
        parser.error("the names must differ")
    if "--json" in bench_args:
        parser.error("give --json before --, not to pyagent-bench")
    return options, bench_args


def run_once(bench, bench_args, lib_dir):
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir)
    run = subprocess.run([bench, *bench_args, "--json"], env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        sys.exit(f"ab-compare.py: pyagent-bench failed (exit {run.returncode}) with "
                 f"{lib_dir}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def test_key(row):
    return f"{row['test']} t{row['n_threads']} kv {row['kv_type']}" + \
        (" huge" if row.get("huge_pages") else "")


def main():
    options, bench_args = parse(sys.argv[1:])
    samples = {}  # (test, name) -> tokens/s of each round
    order = []    # tests as first printed
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for name, path in options.libs:
            dirs[name] = os.path.join(tmp, name)
            os.mkdir(dirs[name])
            os.symlink(path, os.path.join(dirs[name], "libpyagent.so.1"))
        for _ in range(options.rounds):
            for name, _ in options.libs:
                for row in run_once(options.bench, bench_args, dirs[name]):
                    key = test_key(row)
                    if key not in order:
                        order.append(key)
                    samples.setdefault((key, name), []).append(row["tps_mean"])
    names = [name for name, _ in options.libs]
    medians = {k: statistics.median(v) for k, v in samples.items()}
    if options.json:
        print(json.dumps([{"test": key, "name": name, "median_tps": medians[(key, name)],
                           "samples": samples[(key, name)]}
                          for key in order for name in names if (key, name) in samples],
                         indent=1))
        return
    print(f"median tokens/s of {options.rounds} interleaved rounds; ratio to {names[0]}")
    for key in order:
        base = medians.get((key, names[0]))
        cells = []
        for name in names:
            m = medians.get((key, name))
            cells.append(f"{name} {m:9.1f} ({m / base:.3f})" if m and base else f"{name} -")
        print(f"{key:>24}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
