#!/usr/bin/env python3
"""pyagent-registry end to end: import a LiteLLM file, add and measure a local model, route with
and without a qualifying model, export, due, check, list, bench, and the exit statuses.
usage: registry_cli_check.py PYAGENT_REGISTRY MODEL.gguf LITELLM.json
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def run(cli, *args, expect=0):
    proc = subprocess.run([cli, *args], capture_output=True, timeout=240)
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)}: exit {proc.returncode}, expected {expect}\n"
                 f"stdout: {out}\nstderr: {err}")
    return out, err


def need(text, part, what):
    if part not in text:
        sys.exit(f"FAIL: {what}: {part!r} not in:\n{text}")


def main():
    cli, model, litellm = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "models.db")
        out, err = run(cli, "--db", db, "import", litellm)
        need(out, "imported 3 models, skipped 1", "import")
        need(err, "'1024-x-1024/dall-e-2': an image size/quality pseudo-entry", "import report")

        out, _ = run(cli, "--db", db, "add", "stories", "--gguf", model, "--measure")
        need(out, "generation", "add --measure")

        out, _ = run(cli, "--db", db, "route", "--context", "100", "--output", "50")
        need(out.splitlines()[0], "stories", "a free local model wins")
        out, _ = run(cli, "--db", db, "route", "--context", "1000", "--output", "100", "--tools",
                     "--explain")
        need(out.splitlines()[0], "gpt-4o", "the only tool-calling chat model")
        need(out, "stories ", "rejections listed with --explain")
        out, _ = run(cli, "--db", db, "route", "--prompt", "Once upon a time", "--output", "10")
        need(out, "counted with a local tokenizer", "prompt estimate")
        out, _ = run(cli, "--db", db, "route", "--context", "1000", "--tools", "--max-cost",
                     "0.000001", expect=3)
        need(out, "no model qualifies", "no model")
        need(out, "estimated cost", "why gpt-4o was rejected")

        out, _ = run(cli, "--db", db, "export")
        exported = json.loads(out)
        if sorted(exported) != ["gpt-4o", "openai/gpt-4o-mini", "stories",
                                "text-embedding-3-small"]:
            sys.exit(f"FAIL: export holds {sorted(exported)}")
        if exported["stories"]["pyagent"]["values"]["tokens_per_second"]["value"] <= 0:
            sys.exit("FAIL: export lacks the measurement")
        run(cli, "--db", db, "export", "--history", "-o", os.path.join(tmp, "h.json"))
        json.load(open(os.path.join(tmp, "h.json")))

        out, _ = run(cli, "--db", db, "due")
        need(out, "0 models due", "nothing due right after the checks")
        later = str(int(time.time()) + 8 * 86400)
        out, _ = run(cli, "--db", db, "due", "--now", later)
        need(out, "4 models due", "everything due after 8 days")
        out, _ = run(cli, "--db", db, "due", "--now", later, "--period-days", "30")
        need(out, "0 models due", "a longer period")
        out, _ = run(cli, "--db", db, "check")
        need(out, "nothing is due", "check with nothing due")
        out, _ = run(cli, "--db", db, "check", "stories", "gpt-4o", "-t", "1")
        need(out, "remote: re-check it by importing", "check of a remote model")

        out, _ = run(cli, "--db", db, "list")
        need(out, "4 models", "list")
        need(out, "openai", "list shows providers")

        out, _ = run(cli, "bench", "--models", "500", "--routes", "50")
        need(out, "per route: median", "bench")

        run(cli, "--db", db, "route", "--bogus", expect=2)
        run(cli, "--db", db, "route", "--context", "1.5", expect=2)
        notes = os.path.join(tmp, "notes.txt")
        open(notes, "w").write("not a database, " * 100)
        _, err = run(cli, "--db", notes, "list", expect=1)
        need(err, "not a SQLite database", "a file that is not a registry")
    print("pyagent-registry OK")


if __name__ == "__main__":
    main()
