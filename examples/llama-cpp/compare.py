#!/usr/bin/env python3
"""pyagent-bench beside llama.cpp on this machine: the same GGUF files, the same tests (pp N,
tg N), the same thread counts, the two programs taking turns so that the machine's drift
hits both alike. Prints a markdown table with the ratio pyagent / llama.cpp per row.

llama.cpp comes as the prebuilt CPU libraries of the npm package @node-llama-cpp/linux-x64
(npm's registry; ggml picks the CPU variant that suits this machine at load), fetched once
into CACHE with `npm pack`, and llama-cpp-bench.c is compiled against them. Nothing of it is
part of libpyagent or its tests.

usage: compare.py [-t 1,2] [-p 128,512] [-n 64] [-d 0,2048] [-r 3] [--rounds 2]
                  [--kv-type f16] [--variant NAME] [--bench build/examples/pyagent-bench]
                  MODEL.gguf...
  -d 0,2048       tg tests also after a prompt of that many tokens (tg64@d2048)
  --kv-type T     pyagent's KV element type (f16, the library's default and llama.cpp's,
                  f32 or q8_0); llama.cpp keeps its f16
  --variant NAME  load only ggml's libggml-cpu-NAME.so (haswell, icelake, zen4, ...) instead
                  of the one ggml chooses
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile

PACKAGE = "@node-llama-cpp/linux-x64@3.22.1"
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("LLAMA_CPP_CACHE",
                       os.path.join(os.path.expanduser("~"), ".cache", "pyagent", "llama-cpp"))


def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def fetch_llama_cpp():
    """The directory of llama.cpp's libraries and the compiled llama-cpp-bench."""
    libs = os.path.join(CACHE, "package", "bins", "linux-x64")
    if not os.path.isdir(libs):
        os.makedirs(CACHE, exist_ok=True)
        tgz = run(["npm", "pack", PACKAGE, "--silent"], cwd=CACHE).strip().splitlines()[-1]
        with tarfile.open(os.path.join(CACHE, tgz)) as tar:
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(CACHE, **safe)
    exe = os.path.join(CACHE, "llama-cpp-bench")
    llama = next(f for f in os.listdir(libs) if f.startswith("libllama.v"))
    ggml = next(f for f in os.listdir(libs) if f.startswith("libggml.v"))
    run(["cc", "-O2", "-o", exe, os.path.join(HERE, "llama-cpp-bench.c"), "-L" + libs,
         "-l:" + llama, "-l:" + ggml, "-Wl,-rpath," + libs])
    return libs, exe


def variant_dir(libs, variant):
    """A directory holding only ggml's CPU library for `variant`, so ggml loads that one."""
    if not variant:
        return libs
    lib = os.path.join(libs, f"libggml-cpu-{variant}.so")
    if not os.path.exists(lib):
        sys.exit(f"compare.py: no {lib}")
    only = os.path.join(CACHE, "variant-" + variant)
    os.makedirs(only, exist_ok=True)
    shutil.copy(lib, only)
    return only


def parse_test(test):
    """"tg64@d2048" -> ("tg", "64", "2048")"""
    n, _, depth = test[2:].partition("@d")
    return test[:2], n, depth or "0"


def llama_cpp(exe, backend_dir, model, threads, test, reps):
    kind, n, depth = parse_test(test)
    out = run([exe, backend_dir, model, str(threads), n if kind == "pp" else "0",
               n if kind == "tg" else "0", str(reps), depth])
    return json.loads(out.strip().splitlines()[-1])["samples"]


def pyagent(bench, model, threads, test, reps, kv_type):
    kind, n, depth = parse_test(test)
    out = run([bench, "-m", model, "-t", str(threads), "-r", str(reps), "--json", "-d", depth,
               "--kv-type", kv_type, "-p", n if kind == "pp" else "0",
               "-n", n if kind == "tg" else "0"])
    return json.loads(out)[0]["samples"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("-p", "--n-prompt", default="128,512")
    ap.add_argument("-n", "--n-gen", default="64")
    ap.add_argument("-d", "--depth", default="0")
    ap.add_argument("--kv-type", default="f16")
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variant", default="")
    ap.add_argument("--bench", default="build/examples/pyagent-bench")
    args = ap.parse_args()

    libs, exe = fetch_llama_cpp()
    backend_dir = variant_dir(libs, args.variant)
    tests = [f"pp{n}" for n in args.n_prompt.split(",") if int(n) > 0] + \
            [f"tg{n}" + (f"@d{d}" if int(d) > 0 else "")
             for d in args.depth.split(",") for n in args.n_gen.split(",") if int(n) > 0]
    cpu = "ggml-cpu-" + args.variant if args.variant else "ggml chooses its CPU variant"
    print(f"llama.cpp: {PACKAGE} ({cpu}), pyagent KV {args.kv_type}")
    print("| model | threads | test | llama.cpp t/s | pyagent t/s | pyagent / llama.cpp |")
    print("| ----- | ------: | ---- | ------------: | ----------: | ------------------: |")
    for model in args.models:
        for threads in (int(t) for t in args.threads.split(",")):
            for test in tests:
                theirs, ours = [], []
                for _ in range(args.rounds):  # turns: theirs, ours, theirs, ours, ...
                    theirs += llama_cpp(exe, backend_dir, model, threads, test, args.repetitions)
                    ours += pyagent(args.bench, model, threads, test, args.repetitions,
                                    args.kv_type)
                a, b = statistics.mean(theirs), statistics.mean(ours)
                print(f"| {os.path.basename(model)} | {threads} | {test} | "
                      f"{a:.1f} ± {statistics.pstdev(theirs):.1f} | "
                      f"{b:.1f} ± {statistics.pstdev(ours):.1f} | {b / a:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
