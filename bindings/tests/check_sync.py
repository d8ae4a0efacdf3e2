#!/usr/bin/env python3
"""Bindings in sync with the headers and the exported-symbol list (meson test bindings-sync).

1. Regenerating from include/pyagent/*.h gives the committed pyagent/_ffi.py and
   pyagent_bindings.g.dart byte for byte.
2. Every symbol of abi/symbols.txt is declared with PYAGENT_API in a header (and so bound in
   both languages), and every PYAGENT_API function is in abi/symbols.txt.

On failure it prints what differs and the one command that fixes it.
usage: check_sync.py [SOURCE_ROOT]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gen_bindings  # noqa: E402


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else gen_bindings.ROOT
    failed = False
    status = gen_bindings.main(["--check", "--root", root,
                                "--include-dir", os.path.join(root, "include", "pyagent")])
    failed |= status != 0

    api = gen_bindings.parse_headers(os.path.join(root, "include", "pyagent"))
    declared = {f.name for f in api.functions}
    with open(os.path.join(root, "abi", "symbols.txt"), encoding="utf-8") as f:
        listed = {line.strip() for line in f if line.strip()}
    undeclared = sorted(listed - declared)
    unlisted = sorted(declared - listed)
    if undeclared:
        failed = True
        print("FAIL: in abi/symbols.txt but declared by no header with PYAGENT_API, so neither "
              "binding has them:\n  " + "\n  ".join(undeclared))
    if unlisted:
        failed = True
        print("FAIL: declared with PYAGENT_API but not in abi/symbols.txt (export them, add "
              "them to abi/symbols.txt, refresh abi/libpyagent.abi; see the abi test):\n  "
              + "\n  ".join(unlisted))
    if not failed:
        print("%d exported functions declared in both bindings" % len(listed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
