#!/usr/bin/env python3
"""Runs a Node.js client script of tests/server/ against a pyagent-server started on a loopback
port: `node SCRIPT URL API_KEY [OUT_DIR]`. The npm packages come from tests/server/node_modules
(npm ci, run by .ci/deps); their absence is a failure that says so.

usage: server_node_check.py PYAGENT_SERVER DATA_DIR SCRIPT [OUT_DIR] [-- SERVER_FLAGS...]
("{tmp}" in a server flag is replaced by a temporary directory, e.g. --registry {tmp}/r.db)
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "server"))
from harness import API_KEY, Server  # noqa: E402


def main():
    args = sys.argv[1:]
    flags = []
    if "--" in args:
        flags = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    if len(args) < 3:
        sys.exit(__doc__)
    binary, data, script = args[:3]
    out_dir = args[3] if len(args) > 3 else None
    node = shutil.which("node")
    if not node:
        sys.exit("FAIL: node is missing: run sh .ci/deps")
    if "dashboard" in script and not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        sys.exit("FAIL: /usr/bin/chromium is missing: run sh .ci/deps")
    modules = os.path.join(HERE, "server", "node_modules")
    for package in ("openai", "playwright-core"):
        if not os.path.isdir(os.path.join(modules, package)):
            sys.exit(f"FAIL: {modules}/{package} is missing: run sh .ci/deps (npm ci)")
    tmp = tempfile.TemporaryDirectory()
    flags = [f.replace("{tmp}", tmp.name) for f in flags]
    with tmp, Server(binary, os.path.join(data, "stories260K.gguf"), *flags) as server:
        cmd = [node, os.path.join(HERE, "server", script), server.url, API_KEY]
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            cmd.append(out_dir)
        run = subprocess.run(cmd, timeout=540)
        status = server.stop()
        if status != 0:
            sys.exit(f"FAIL: the server exited with {status}\n{server.stderr()}")
    if run.returncode != 0:
        sys.exit(f"FAIL: {script} exited with {run.returncode}")


if __name__ == "__main__":
    main()
