#!/usr/bin/env python3
"""pyagent-cli against llama-cli: greedy 64 tokens of "Once upon a time" on stories260K.

llama-cli's stdout in the reference is the prompt echo (" Once upon a time") followed by the
64 generated tokens; pyagent-cli's stdout must be exactly the generated part, and everything
else (statistics) must go to stderr.
usage: cli_check.py PYAGENT_CLI DATA_DIR
"""
import subprocess
import sys


def llama_cli_stdout(reference_path):
    lines = open(reference_path, encoding="utf-8").read().split("\n")
    start = next(i for i, l in enumerate(lines)
                 if l.startswith("--- llama-cli (stdout; prompt echo + 64 tokens)"))
    block = []
    for line in lines[start + 1:]:
        if line == "":
            break
        block.append(line)
    return "\n".join(block)


def main():
    cli, data = sys.argv[1], sys.argv[2]
    prompt = "Once upon a time"
    echo = llama_cli_stdout(f"{data}/stories260K-greedy.txt")
    assert echo.startswith(" " + prompt), echo
    expected = echo[len(prompt) + 1:]

    run = subprocess.run([cli, "-m", f"{data}/stories260K.gguf", "-p", prompt, "-n", "64",
                          "--temp", "0", "-t", "1"], capture_output=True, timeout=120)
    if run.returncode != 0:
        sys.exit(f"FAIL: exit {run.returncode}: {run.stderr.decode(errors='replace')}")
    out = run.stdout.decode("utf-8")
    if out.rstrip("\n") != expected:
        sys.exit(f"FAIL: stdout differs from llama-cli\n got: {out!r}\nwant: {expected!r}")
    err = run.stderr.decode("utf-8", errors="replace")
    if "t/s" not in err and "tokens/s" not in err:
        sys.exit(f"FAIL: no statistics on stderr: {err!r}")

    bad = subprocess.run([cli, "-m", f"{data}/missing.gguf", "-p", "x"], capture_output=True,
                         timeout=60)
    if bad.returncode == 0 or b"missing.gguf" not in bad.stderr or bad.stdout:
        sys.exit(f"FAIL: a missing model must fail with its name on stderr: {bad!r}")
    print("pyagent-cli matches llama-cli's 64 greedy tokens")


if __name__ == "__main__":
    main()
