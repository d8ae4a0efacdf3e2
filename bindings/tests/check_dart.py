#!/usr/bin/env python3
"""The Dart bindings match the C headers (meson test bindings-dart; no Dart SDK needed).

Parses bindings/dart/lib/src/pyagent_bindings.g.dart as text and checks, against the
declarations in include/pyagent/*.h (mapped to dart:ffi types by this file's own table, not
by the generator's):

  - every symbol of abi/symbols.txt has a lookup with that name, whose native signature
    (NativeFunction<...>) and Dart signature (asFunction<...>) match the C prototype;
  - every callback typedef and struct has the C shape, every constant the C value;
  - the hand-written Dart (lib/, example/, test/) calls only functions that exist, and its
    brackets balance (a crude syntax guard while no Dart analyzer runs here);
  - the example, the tests and the docs/dart.md example call only members of Engine, Agent
    and PyagentLibrary that lib/src declares;
  - ffigen.yaml reads every public header.

usage: check_dart.py [SOURCE_ROOT]
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gen_bindings  # noqa: E402  (its C parser only)

NATIVE = {
    "void": "ffi.Void", "char": "ffi.Char", "int": "ffi.Int", "unsigned int": "ffi.UnsignedInt",
    "long": "ffi.Long", "unsigned long": "ffi.UnsignedLong", "long long": "ffi.LongLong",
    "unsigned long long": "ffi.UnsignedLongLong", "short": "ffi.Short",
    "unsigned short": "ffi.UnsignedShort", "signed char": "ffi.SignedChar",
    "unsigned char": "ffi.UnsignedChar", "float": "ffi.Float", "double": "ffi.Double",
    "bool": "ffi.Bool", "_Bool": "ffi.Bool",
    "int8_t": "ffi.Int8", "int16_t": "ffi.Int16", "int32_t": "ffi.Int32", "int64_t": "ffi.Int64",
    "uint8_t": "ffi.Uint8", "uint16_t": "ffi.Uint16", "uint32_t": "ffi.Uint32",
    "uint64_t": "ffi.Uint64", "size_t": "ffi.Size", "intptr_t": "ffi.IntPtr",
    "uintptr_t": "ffi.UintPtr", "ptrdiff_t": "ffi.IntPtr",
}
DART_OF_NATIVE = {"ffi.Float": "double", "ffi.Double": "double", "ffi.Bool": "bool",
                  "ffi.Void": "void"}

errors = []


def fail(message):
    errors.append(message)


def native_of(t, api):
    """The dart:ffi native type of C type `t`."""
    if t.func:
        return "ffi.Pointer<ffi.NativeFunction<%s>>" % native_fn(t.func, api)
    while t.base in api.aliases and not t.func:
        a = api.aliases[t.base]
        t = gen_bindings.CType(a.base, a.const or t.const, a.ptrs + t.ptrs)
    if t.ptrs:
        return "ffi.Pointer<%s>" % native_of(gen_bindings.CType(t.base, t.const, t.ptrs - 1), api)
    if t.base in NATIVE:
        return NATIVE[t.base]
    return t.base  # opaque struct, struct or callback typedef


def native_fn(sig, api):
    return "%s Function(%s)" % (native_of(sig.ret, api),
                                ", ".join(native_of(p.type, api) for p in sig.params))


def dart_of(native):
    if native in DART_OF_NATIVE:
        return DART_OF_NATIVE[native]
    if native.startswith("ffi.") and not native.startswith("ffi.Pointer"):
        return "int"
    return native


def split_args(text):
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_fn_type(text):
    """'R Function(A a, B)' -> (R, [A, B]) with parameter names dropped."""
    text = " ".join(text.split())
    m = re.fullmatch(r"(.+?) Function\((.*)\)", text)
    if not m:
        return None
    params = []
    for p in split_args(m.group(2)):
        p = re.sub(r"\s+\w+$", "", p) if re.search(r"[>\w]\s+\w+$", p) else p
        params.append(p)
    return m.group(1), params


def strip_dart_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"'''.*?'''|\"\"\".*?\"\"\"", "''", text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"", "''", text)
    return text


def check_balanced(path, text):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    code = strip_dart_comments_and_strings(text)
    for i, ch in enumerate(code):
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs:
            if not stack or stack[-1][0] != pairs[ch]:
                fail("%s:%d: unbalanced '%s'" % (path, code.count("\n", 0, i) + 1, ch))
                return
            stack.pop()
    if stack:
        ch, i = stack[-1]
        fail("%s:%d: '%s' is never closed" % (path, code.count("\n", 0, i) + 1, ch))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else gen_bindings.ROOT
    api = gen_bindings.parse_headers(os.path.join(root, "include", "pyagent"))
    dart_dir = os.path.join(root, "bindings", "dart")
    generated_path = os.path.join(dart_dir, "lib", "src", "pyagent_bindings.g.dart")
    generated = open(generated_path, encoding="utf-8").read()
    with open(os.path.join(root, "abi", "symbols.txt"), encoding="utf-8") as f:
        exported = [line.strip() for line in f if line.strip()]

    lookups = {m.group("name"): (m.group("field"), m.group("sig")) for m in re.finditer(
        r"late final _(?P<field>\w+)Ptr =\s*_lookup<ffi\.NativeFunction<(?P<sig>.+?)>>"
        r"\('(?P<name>\w+)'\);", generated, flags=re.S)}
    as_functions = {m.group(1): m.group(2) for m in re.finditer(
        r"late final _(\w+) = _\w+Ptr\.asFunction<(.+?)>\(\);", generated, flags=re.S)}
    methods = {m.group(2): (m.group(1), m.group(3)) for m in re.finditer(
        r"^  ([\w<>.]+) (pyagent_\w+)\((.*?)\) \{$", generated, flags=re.M)}
    c_functions = {f.name: f for f in api.functions}

    for name in exported:
        if name not in lookups:
            fail("%s: exported (abi/symbols.txt) but has no Dart lookup" % name)
            continue
        if name not in c_functions:
            fail("%s: exported but no header declares it; the Dart signature cannot be "
                 "checked" % name)
            continue
        sig = c_functions[name].sig
        want_native = parse_fn_type(native_fn(sig, api))
        got_native = parse_fn_type(lookups[name][1])
        if got_native != want_native:
            fail("%s: native signature %s, expected %s (from %s)"
                 % (name, lookups[name][1], native_fn(sig, api), c_functions[name].prototype()))
        want_dart = (dart_of(want_native[0]), [dart_of(p) for p in want_native[1]])
        got_dart = parse_fn_type(as_functions.get(name, ""))
        if got_dart != want_dart:
            fail("%s: Dart signature %s, expected %s Function(%s)"
                 % (name, as_functions.get(name), want_dart[0], ", ".join(want_dart[1])))
        if name not in methods:
            fail("%s: no method on PyagentBindings" % name)
        else:
            ret, params = methods[name]
            got = [p.rsplit(" ", 1)[0] for p in split_args(params)]
            if ret != want_dart[0] or got != want_dart[1]:
                fail("%s: method %s %s(%s) does not match %s Function(%s)"
                     % (name, ret, name, params, want_dart[0], ", ".join(want_dart[1])))
        if ("get %s =>" % name) not in generated:
            fail("%s: no entry in PyagentSymbolAddresses" % name)

    for name, sig in api.callbacks.items():
        m = re.search(r"typedef %sFunction = (.+?);" % re.escape(name), generated)
        if not m or parse_fn_type(m.group(1)) != parse_fn_type(native_fn(sig, api)):
            fail("callback %s: Dart typedef %s, expected %s"
                 % (name, m and m.group(1), native_fn(sig, api)))

    for s in api.structs:
        m = re.search(r"final class %s extends ffi\.Struct \{(.*?)\n\}" % re.escape(s.name),
                      generated, flags=re.S)
        if not m:
            fail("struct %s: no Dart class" % s.name)
            continue
        got = re.findall(r"(?:@(ffi\.\w+)\(\)\s*)?external (.+?) (\w+);", m.group(1))
        want = [("ffi.Array<%s>" % native_of(gen_bindings.CType(f.type.base, f.type.const,
                                                               f.type.ptrs), api)
                 if f.type.array else native_of(f.type, api), f.name) for f in s.fields]
        for f in s.fields:
            if f.type.array and not re.search(r"@ffi\.Array\(%d\)\s*external [^;]+ %s;"
                                              % (f.type.array, re.escape(f.name)), m.group(1)):
                fail("struct %s: field %s is not @ffi.Array(%d)" % (s.name, f.name, f.type.array))
        got_pairs = [(ann or typ, name) for ann, typ, name in got]
        if got_pairs != want:
            fail("struct %s: fields %s, expected %s" % (s.name, got_pairs, want))

    for c in api.constants:
        m = re.search(r"const \w+ %s = (.+?);" % re.escape(c.name), generated)
        want = repr(c.value) if not isinstance(c.value, str) else None
        if not m or (want is not None and m.group(1) != want):
            fail("constant %s: Dart %s, C %r" % (c.name, m and m.group(1), c.value))

    # Hand-written Dart: only real functions, balanced brackets.
    hand_written = [p for p in glob.glob(os.path.join(dart_dir, "**", "*.dart"), recursive=True)
                    if os.path.abspath(p) != os.path.abspath(generated_path)]
    known = set(lookups) | {n for n, _ in api.opaque} | {st.name for st in api.structs} | \
        set(api.aliases) | set(api.callbacks) | {n + "Function" for n in api.callbacks}
    for path in hand_written:
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, root)
        check_balanced(rel, text)
        used = set(re.findall(r"\b(pyagent_\w+)\b", strip_dart_comments_and_strings(text)))
        for name in sorted(used - known):
            fail("%s: uses %s, which the bindings do not have" % (rel, name))
    check_balanced(os.path.relpath(generated_path, root), generated)

    # The high-level API that the examples, tests and docs/dart.md use must exist.
    lib_sources = "\n".join(open(p, encoding="utf-8").read() for p in
                            glob.glob(os.path.join(dart_dir, "lib", "src", "*.dart")))
    docs_path = os.path.join(root, "docs", "dart.md")
    docs_blocks = re.findall(r"```dart\n(.*?)```", open(docs_path, encoding="utf-8").read(),
                             flags=re.S) if os.path.exists(docs_path) else []
    if not docs_blocks:
        fail("docs/dart.md: no ```dart example")
    users = [(os.path.relpath(p, root), open(p, encoding="utf-8").read()) for p in hand_written
             if os.sep + "lib" + os.sep + "src" + os.sep not in p]
    users += [("docs/dart.md block %d" % (i + 1), b) for i, b in enumerate(docs_blocks)]
    for rel, text in users:
        if rel.startswith("docs/"):
            check_balanced(rel, text)
        code = strip_dart_comments_and_strings(text)
        for receiver, member in set(re.findall(
                r"\b(engine|agent|a|Engine|Agent|PyagentLibrary|library)\.([a-zA-Z_]\w*)", code)):
            declared = re.search(r"(?:[\s.]%s\s*[(=<{]|\bget %s\b|\bset %s\b|\b%s;)"
                                 % ((re.escape(member),) * 4), lib_sources)
            if not declared:
                fail("%s: %s.%s is not in the package's API (bindings/dart/lib/src)"
                     % (rel, receiver, member))

    ffigen = open(os.path.join(dart_dir, "ffigen.yaml"), encoding="utf-8").read()
    if "include/pyagent/*.h" not in ffigen:
        fail("bindings/dart/ffigen.yaml: entry-points must cover include/pyagent/*.h")

    for e in errors:
        print("FAIL:", e)
    if errors:
        print("\nIf the headers changed, regenerate with `%s`; if this check is wrong about "
              "a new C type, extend NATIVE in bindings/tests/check_dart.py." % gen_bindings.REGENERATE)
        return 1
    print("Dart bindings match the headers: %d exported functions, %d callbacks, %d structs, "
          "%d constants; %d hand-written Dart files checked"
          % (len(exported), len(api.callbacks), len(api.structs), len(api.constants),
             len(hand_written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
