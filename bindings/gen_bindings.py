#!/usr/bin/env python3
"""Generates the Python (ctypes) and Dart (dart:ffi) declarations of libpyagent from its headers.

    python3 bindings/gen_bindings.py            # rewrite the generated files
    python3 bindings/gen_bindings.py --check    # exit 1 (with a diff) if they are stale

Reads every include/pyagent/*.h except export.h (new headers are picked up by themselves) and
writes

    bindings/python/pyagent/_ffi.py                  ctypes types, constants and signatures
    bindings/dart/lib/src/pyagent_bindings.g.dart    dart:ffi types, constants and lookups

The headers are the single source of truth (DESIGN §4, api-anchors §2: hand-mirrored
declarations drift). The parser understands the forms the public headers use:

    #define PYAGENT_NAME <integer, float or string expression>   (object-like macros only)
    typedef struct pyagent_x pyagent_x;                           opaque handle
    typedef struct pyagent_x { <type> <name>[[N]]; ... } pyagent_x;  exposed struct
    typedef <scalar> pyagent_x;                                   alias (pyagent_status)
    typedef <ret> (*pyagent_x_fn)(<params>);                      callback type
    typedef enum [tag] { PYAGENT_A = 1, ... } pyagent_x;          enum (travels as int)
    PYAGENT_API <ret> pyagent_x(<params>);                        exported function

Parameters may be function pointers written inline (`void (*fn)(void *ud, int32_t x)`).
Anything else at the top level of a header stops the generator with the file and line, so a
new form is noticed rather than silently skipped.
"""
import argparse
import ast
import difflib
import os
import re
import sys
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIR = os.path.join(ROOT, "include", "pyagent")
PYTHON_OUT = os.path.join("bindings", "python", "pyagent", "_ffi.py")
DART_OUT = os.path.join("bindings", "dart", "lib", "src", "pyagent_bindings.g.dart")
REGENERATE = "python3 bindings/gen_bindings.py"
SKIPPED_HEADERS = {"export.h"}  # the export macro only
MAX_DIFF_LINES = 60


class HeaderError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# The C model
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CType:
    base: str            # 'int32_t', 'char', 'void', 'pyagent_engine', 'unsigned int', ...
    const: bool = False  # the base is const-qualified
    ptrs: int = 0        # levels of '*'
    array: int = 0       # fixed array length (struct fields only), 0 = none
    func: "FuncSig" = None  # an inline function-pointer parameter

    def c(self):
        if self.func:
            return "%s (*)(%s)" % (self.func.ret.c(), self.func.params_c())
        s = ("const " if self.const else "") + self.base
        return s + (" " + "*" * self.ptrs if self.ptrs else "")

    def decl(self, name):
        """`const char *name`, `int32_t name`"""
        if self.func:
            return "%s (*%s)(%s)" % (self.func.ret.c(), name, self.func.params_c())
        return self.c() + ("" if self.ptrs else " ") + name


@dataclass(frozen=True)
class Param:
    type: CType
    name: str


@dataclass(frozen=True)
class FuncSig:
    ret: CType
    params: tuple

    def params_c(self):
        if not self.params:
            return "void"
        return ", ".join(p.type.decl(p.name) for p in self.params)


@dataclass
class Function:
    name: str
    sig: FuncSig
    header: str
    line: int

    def prototype(self):
        return "%s(%s)" % (self.sig.ret.decl(self.name), self.sig.params_c())


@dataclass
class Constant:
    name: str
    value: object  # int, float or str
    header: str


@dataclass
class Struct:
    name: str
    fields: list  # [Param]
    header: str


@dataclass
class Api:
    headers: list = field(default_factory=list)
    constants: list = field(default_factory=list)
    opaque: list = field(default_factory=list)        # [(name, header)]
    aliases: dict = field(default_factory=dict)       # name -> CType
    structs: list = field(default_factory=list)
    callbacks: dict = field(default_factory=dict)     # name -> FuncSig
    functions: list = field(default_factory=list)

    def constant(self, name):
        return next(c.value for c in self.constants if c.name == name)

    def resolve(self, t):
        """`t` with typedef aliases replaced by what they name (pointer levels add up)."""
        seen = set()
        while t.base in self.aliases and t.base not in seen:
            seen.add(t.base)
            a = self.aliases[t.base]
            t = CType(a.base, a.const or t.const, a.ptrs + t.ptrs, t.array, a.func)
        return t


# ------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------

PRIMITIVES = {
    "void", "char", "signed char", "unsigned char", "short", "unsigned short", "int",
    "unsigned int", "long", "unsigned long", "long long", "unsigned long long", "float",
    "double", "_Bool", "bool", "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t",
    "int64_t", "uint64_t", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t",
}
QUALIFIERS = {"const", "volatile", "struct", "enum", "restrict", "__restrict", "extern"}
IDENT = re.compile(r"[A-Za-z_]\w*")


def strip_comments(text):
    """Comments become spaces, newlines kept, so offsets still give line numbers."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"',
                  lambda m: m.group(0) if m.group(0).startswith('"') else blank(m),
                  text, flags=re.S)


def eval_constant(expr, known):
    """Value of a #define body: integer/float arithmetic over earlier constants, or a string."""
    expr = expr.strip()
    if not expr:
        return None
    if re.fullmatch(r'"(?:\\.|[^"\\])*"', expr):
        return ast.literal_eval(expr)
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    expr = re.sub(r"\(\s*(?:u?int(?:8|16|32|64)_t|size_t|int|long|double|float)\s*\)", "", expr)
    names = IDENT.findall(re.sub(r"0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?", "", expr))
    for n in names:
        if n not in known or not isinstance(known[n], (int, float)):
            return None
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load,
               ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.LShift, ast.RShift, ast.BitOr,
               ast.BitAnd, ast.BitXor, ast.USub, ast.UAdd, ast.Invert)
    if not all(isinstance(n, allowed) for n in ast.walk(tree)):
        return None
    value = eval(compile(tree, "<define>", "eval"), {"__builtins__": {}}, dict(known))
    if isinstance(value, float) and "." not in expr and "e" not in expr.lower():
        value = int(value)  # C integer division
    return value


def preprocess(path, text, api, known):
    """Collects #define constants; returns the text with preprocessor lines and C++ guards blanked."""
    lines = strip_comments(text).split("\n")
    out = []
    i = 0
    skip_depth = 0  # inside #ifdef __cplusplus ... #endif
    depth = 0
    header = os.path.basename(path)
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith("#"):
            out.append("" if skip_depth else line)
            i += 1
            continue
        directive = line
        n = 1
        while directive.endswith("\\") and i + n < len(lines):
            directive = directive[:-1] + " " + lines[i + n]
            n += 1
        out.extend([""] * n)
        i += n
        d = directive.strip()[1:].strip()
        word = d.split(None, 1)[0] if d else ""
        if word in ("if", "ifdef", "ifndef"):
            depth += 1
            if skip_depth or d.split()[-1] == "__cplusplus":
                skip_depth += 1
        elif word == "endif":
            depth -= 1
            if skip_depth:
                skip_depth -= 1
        elif word == "define" and not skip_depth:
            m = re.match(r"define\s+(PYAGENT_\w+)(\(?)(.*)$", d)
            if not m or m.group(2):
                continue  # not ours, or function-like
            name, body = m.group(1), m.group(3)
            value = eval_constant(body, known)
            if value is None:
                if body.strip() and not name.endswith("_API"):
                    raise HeaderError("%s: cannot evaluate #define %s %s (use an integer, float "
                                      "or string expression over earlier PYAGENT_ constants)"
                                      % (header, name, body.strip()))
                continue
            known[name] = value
            api.constants.append(Constant(name, value, header))
    return "\n".join(out)


def split_top_level(text, sep):
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def statements(text):
    """(statement, offset) pairs split at top-level ';' (inline function bodies end at '}')."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and re.search(r"\)\s*$", text[start:text.index("{", start)]):
                out.append((text[start:i + 1], start))  # a static inline function
                start = i + 1
        elif ch == ";" and depth == 0:
            out.append((text[start:i], start))
            start = i + 1
    rest = text[start:]
    if rest.strip():
        out.append((rest, start))
    return out


def parse_type(words, stars, api, where):
    const = "const" in words
    base_words = [w for w in words if w not in QUALIFIERS]
    base = " ".join(base_words)
    if base == "unsigned":
        base = "unsigned int"
    if base not in PRIMITIVES and not base.startswith("pyagent_"):
        raise HeaderError("%s: unknown type '%s' (public headers use <stdint.h> types and "
                          "pyagent_ types)" % (where, base))
    return CType(base, const, stars)


TYPE_WORDS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
              "_Bool", "bool"}


def parse_param(text, index, api, where, named=True):
    """A parameter or field declaration: `const char *name`, `int32_t ids[]`, `char s[16]`,
    `void (*fn)(void *ud)`. Unnamed parameters get argN."""
    text = text.strip()
    m = re.fullmatch(r"(.*?)\(\s*\*\s*(\w*)\s*\)\s*\((.*)\)", text, flags=re.S)
    if m:  # inline function pointer
        sig = parse_signature(m.group(1), m.group(3), api, where)
        return Param(CType("fn", func=sig), m.group(2) or "arg%d" % index)
    array, decayed = 0, False
    am = re.search(r"\[\s*(\w*)\s*\]\s*$", text)
    if am:
        size = am.group(1)
        text = text[:am.start()]
        if not size:
            decayed = True  # `T name[]` in a parameter list is a pointer
        elif size.isdigit():
            array = int(size)
        else:
            try:
                array = api.constant(size)
            except StopIteration:
                raise HeaderError("%s: array size %s is not a known constant" % (where, size))
    tokens = re.findall(r"[A-Za-z_]\w*|\*", text)
    name = None
    last = tokens[-1] if tokens else ""
    if (named and len(tokens) >= 2 and last != "*" and last not in QUALIFIERS
            and last not in TYPE_WORDS and last not in PRIMITIVES
            and not last.startswith("pyagent_")):
        name = last
        tokens = tokens[:-1]
    stars = tokens.count("*")
    words = [t for t in tokens if t != "*"]
    t = parse_type(words, stars + (1 if decayed else 0), api, where)
    if array:
        t = CType(t.base, t.const, t.ptrs, array)
    return Param(t, name or "arg%d" % index)


def parse_signature(ret_text, params_text, api, where):
    ret = parse_param(ret_text, 0, api, where, named=False).type
    params_text = params_text.strip()
    if params_text in ("", "void"):
        return FuncSig(ret, ())
    params = tuple(parse_param(p, i, api, where)
                   for i, p in enumerate(split_top_level(params_text, ",")))
    return FuncSig(ret, params)


def parse_header(path, api, known):
    header = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    text = strip_comments(preprocess(path, raw, api, known))
    text = re.sub(r'extern\s+"C"\s*\{', "", text)
    for stmt, offset in statements(text):
        s = " ".join(stmt.split())
        if not s:
            continue
        line = text.count("\n", 0, offset + len(stmt) - len(stmt.lstrip())) + 1
        where = "%s:%d" % (os.path.relpath(path, ROOT), line)
        if s.endswith("}") and "(" in s and not s.startswith("typedef"):
            continue  # static inline helper: not an exported symbol
        exported = re.search(r"\bPYAGENT_\w*API\b", s)
        # export and attribute macros (PYAGENT_API, PYAGENT_DEPRECATED("...")); constants
        # used as array sizes stay
        s = re.sub(r"\bPYAGENT_\w*API\b|\bPYAGENT_[A-Z0-9_]+\s*\((?:[^()]|\([^()]*\))*\)",
                   "", s)
        s = " ".join(s.split())
        m = re.fullmatch(r"typedef struct (\w+) (\w+)", s)
        if m:
            api.opaque.append((m.group(2), header))
            continue
        m = re.fullmatch(r"typedef struct (\w+)? ?\{(.*)\} ?(\w+)", s)
        if m:
            fields = []
            for decl in m.group(2).split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                parts = split_top_level(decl, ",")
                first = parse_param(parts[0], 0, api, where)
                fields.append(first)
                for extra in parts[1:]:  # `int64_t a, b;`
                    t = first.type
                    fields.append(parse_param(t.c() + " " + extra.strip(), 0, api, where))
            api.structs.append(Struct(m.group(3), fields, header))
            continue
        m = re.fullmatch(r"typedef enum (\w+ )?\{(.*)\} ?(\w+)", s)
        if m:
            value = -1
            for item in m.group(2).split(","):
                item = item.strip()
                if not item:
                    continue
                name, _, expr = item.partition("=")
                value = eval_constant(expr, known) if expr.strip() else value + 1
                if value is None:
                    raise HeaderError("%s: cannot evaluate enumerator '%s'" % (where, item))
                known[name.strip()] = value
                api.constants.append(Constant(name.strip(), value, header))
            api.aliases[m.group(3)] = CType("int")
            continue
        m = re.fullmatch(r"typedef (.+?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)", s)
        if m:
            api.callbacks[m.group(2)] = parse_signature(m.group(1), m.group(3), api, where)
            continue
        m = re.fullmatch(r"typedef (.+?)(\w+)", s)
        if m:
            api.aliases[m.group(2)] = parse_param(m.group(1), 0, api, where, named=False).type
            continue
        m = re.fullmatch(r"(.+?)\b(pyagent_\w+)\s*\((.*)\)", s)
        if m and exported:
            api.functions.append(Function(m.group(2),
                                          parse_signature(m.group(1), m.group(3), api, where),
                                          header, line))
            continue
        if m:
            raise HeaderError("%s: %s is declared without PYAGENT_API" % (where, m.group(2)))
        raise HeaderError("%s: cannot parse '%s'; see the forms listed in "
                          "bindings/gen_bindings.py" % (where, s[:120]))


def header_paths(include_dir):
    names = sorted(n for n in os.listdir(include_dir)
                   if n.endswith(".h") and n not in SKIPPED_HEADERS)
    if "pyagent.h" in names:  # versions and status codes first
        names.remove("pyagent.h")
        names.insert(0, "pyagent.h")
    return [os.path.join(include_dir, n) for n in names]


def parse_headers(include_dir=INCLUDE_DIR):
    api = Api()
    known = {}
    for path in header_paths(include_dir):
        api.headers.append(os.path.basename(path))
        parse_header(path, api, known)
    names = [f.name for f in api.functions]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise HeaderError("declared more than once: " + ", ".join(dups))
    return api


# ------------------------------------------------------------------------------------------------
# Python (ctypes)
# ------------------------------------------------------------------------------------------------

CTYPES = {
    "char": "ctypes.c_char", "signed char": "ctypes.c_byte", "unsigned char": "ctypes.c_ubyte",
    "short": "ctypes.c_short", "unsigned short": "ctypes.c_ushort", "int": "ctypes.c_int",
    "unsigned int": "ctypes.c_uint", "long": "ctypes.c_long", "unsigned long": "ctypes.c_ulong",
    "long long": "ctypes.c_longlong", "unsigned long long": "ctypes.c_ulonglong",
    "float": "ctypes.c_float", "double": "ctypes.c_double", "_Bool": "ctypes.c_bool",
    "bool": "ctypes.c_bool", "int8_t": "ctypes.c_int8", "uint8_t": "ctypes.c_uint8",
    "int16_t": "ctypes.c_int16", "uint16_t": "ctypes.c_uint16", "int32_t": "ctypes.c_int32",
    "uint32_t": "ctypes.c_uint32", "int64_t": "ctypes.c_int64", "uint64_t": "ctypes.c_uint64",
    "size_t": "ctypes.c_size_t", "ptrdiff_t": "ctypes.c_ssize_t", "intptr_t": "ctypes.c_ssize_t",
    "uintptr_t": "ctypes.c_size_t",
}


def py_type(t, api, context):
    """ctypes expression for `t`; context is 'arg', 'ret', 'callback' or 'field'."""
    if t.func:
        return py_functype(t.func, api)
    if t.array:
        return "(%s * %d)" % (py_type(CType(t.base, t.const, t.ptrs), api, context), t.array)
    if t.base in api.callbacks:
        inner = t.base
        for _ in range(t.ptrs):
            inner = "ctypes.POINTER(%s)" % inner
        return inner
    if t.ptrs == 0:
        if t.base == "void":
            return "None"
        if t.base in api.aliases:
            return t.base
        if t.base in CTYPES:
            return CTYPES[t.base]
        return t.base  # a struct (by value: not allowed across the ABI, but fine as a field)
    if t.base == "void":
        inner, levels = "ctypes.c_void_p", t.ptrs - 1
    elif t.base == "char" and t.const and context in ("arg", "ret"):
        # NUL-terminated input or library-owned string; callbacks and out-buffers get
        # POINTER(c_char) so that ctypes never reads past a length the caller was given.
        inner, levels = "ctypes.c_char_p", t.ptrs - 1
    else:
        inner, levels = py_type(CType(t.base, t.const), api, context), t.ptrs
    for _ in range(levels):
        inner = "ctypes.POINTER(%s)" % inner
    return inner


def py_functype(sig, api):
    args = [py_type(sig.ret, api, "callback")]
    args += [py_type(p.type, api, "callback") for p in sig.params]
    return "ctypes.CFUNCTYPE(%s)" % ", ".join(args)


def py_literal(v):
    return repr(v)


def generate_python(api):
    out = []
    w = out.append
    w('"""ctypes declarations of libpyagent, GENERATED from include/pyagent/*.h. Do not edit.')
    w("")
    w("Regenerate with `%s` from the repository root." % REGENERATE)
    w('"""')
    w("import ctypes")
    w("")
    w("HEADERS = %r" % (tuple(api.headers),))
    w("")
    w("# " + "-" * 94)
    w("# Constants (#define PYAGENT_*)")
    w("# " + "-" * 94)
    header = None
    for c in api.constants:
        if c.header != header:
            header = c.header
            w("")
            w("# %s" % header)
        w("%s = %s" % (c.name, py_literal(c.value)))
    w("")
    w("# " + "-" * 94)
    w("# Types")
    w("# " + "-" * 94)
    for name, header in api.opaque:
        w("")
        w("")
        w("class %s(ctypes.Structure):" % name)
        w('    """Opaque handle (%s)."""' % header)
    for s in api.structs:
        w("")
        w("")
        w("class %s(ctypes.Structure):" % s.name)
        w('    """struct %s (%s); _fields_ below."""' % (s.name, s.header))
    w("")
    w("")
    for name, t in api.aliases.items():
        w("%s = %s" % (name, py_type(t, api, "field")))
    for name, sig in api.callbacks.items():
        w("")
        w("# typedef %s (*%s)(%s)" % (sig.ret.c(), name, sig.params_c()))
        w("%s = %s" % (name, py_functype(sig, api)))
    for s in api.structs:
        w("")
        w("%s._fields_ = [" % s.name)
        for f in s.fields:
            w("    (%r, %s)," % (f.name, py_type(f.type, api, "field")))
        w("]")
    w("")
    w("# " + "-" * 94)
    w("# Functions: name -> (restype, argtypes, parameter names, header)")
    w("# " + "-" * 94)
    w("")
    w("FUNCTIONS = {")
    for f in api.functions:
        w("    # %s" % f.prototype())
        args = ", ".join(py_type(p.type, api, "arg") for p in f.sig.params)
        names = ", ".join(repr(p.name) for p in f.sig.params)
        w("    %r: (%s, [%s], (%s), %r)," % (f.name, py_type(f.sig.ret, api, "ret"), args,
                                            names + ("," if len(f.sig.params) == 1 else ""),
                                            f.header))
    w("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# Dart (dart:ffi), in the shape ffigen gives
# ------------------------------------------------------------------------------------------------

DART_NATIVE = {
    "void": ("ffi.Void", "void"), "char": ("ffi.Char", "int"),
    "signed char": ("ffi.SignedChar", "int"), "unsigned char": ("ffi.UnsignedChar", "int"),
    "short": ("ffi.Short", "int"), "unsigned short": ("ffi.UnsignedShort", "int"),
    "int": ("ffi.Int", "int"), "unsigned int": ("ffi.UnsignedInt", "int"),
    "long": ("ffi.Long", "int"), "unsigned long": ("ffi.UnsignedLong", "int"),
    "long long": ("ffi.LongLong", "int"), "unsigned long long": ("ffi.UnsignedLongLong", "int"),
    "float": ("ffi.Float", "double"), "double": ("ffi.Double", "double"),
    "_Bool": ("ffi.Bool", "bool"), "bool": ("ffi.Bool", "bool"),
    "int8_t": ("ffi.Int8", "int"), "uint8_t": ("ffi.Uint8", "int"),
    "int16_t": ("ffi.Int16", "int"), "uint16_t": ("ffi.Uint16", "int"),
    "int32_t": ("ffi.Int32", "int"), "uint32_t": ("ffi.Uint32", "int"),
    "int64_t": ("ffi.Int64", "int"), "uint64_t": ("ffi.Uint64", "int"),
    "size_t": ("ffi.Size", "int"), "ptrdiff_t": ("ffi.IntPtr", "int"),
    "intptr_t": ("ffi.IntPtr", "int"), "uintptr_t": ("ffi.UintPtr", "int"),
}
DART_RESERVED = {
    "assert", "break", "case", "catch", "class", "const", "continue", "default", "do", "else",
    "enum", "extends", "false", "final", "finally", "for", "if", "in", "is", "new", "null",
    "rethrow", "return", "super", "switch", "this", "throw", "true", "try", "var", "void",
    "while", "with",
}


def dart_name(name):
    return name + "_" if name in DART_RESERVED else name


def dart_types(t, api):
    """(native type, Dart type) of `t`, with typedef aliases resolved."""
    if t.func:
        native = "ffi.Pointer<ffi.NativeFunction<%s>>" % dart_fn_native(t.func, api)
        return native, native
    t = api.resolve(t)
    if t.base in api.callbacks and t.ptrs == 0:
        return t.base, t.base
    if t.ptrs == 0:
        if t.base in DART_NATIVE:
            return DART_NATIVE[t.base]
        return t.base, t.base  # struct by value
    inner = dart_types(CType(t.base, t.const, t.ptrs - 1), api)[0]
    return "ffi.Pointer<%s>" % inner, "ffi.Pointer<%s>" % inner


def dart_fn_native(sig, api, names=False):
    params = ", ".join(dart_types(p.type, api)[0] + (" " + dart_name(p.name) if names else "")
                       for p in sig.params)
    return "%s Function(%s)" % (dart_types(sig.ret, api)[0], params)


def dart_fn_dart(sig, api, names=False):
    params = ", ".join(dart_types(p.type, api)[1] + (" " + dart_name(p.name) if names else "")
                       for p in sig.params)
    return "%s Function(%s)" % (dart_types(sig.ret, api)[1], params)


def dart_literal(v):
    if isinstance(v, str):
        return "'%s'" % v.replace("\\", "\\\\").replace("'", "\\'").replace("$", "\\$")
    return repr(v)


def generate_dart(api):
    out = []
    w = out.append
    w("// dart:ffi declarations of libpyagent, GENERATED from include/pyagent/*.h. Do not edit.")
    w("//")
    w("// Regenerate with `%s` from the repository root. With the Dart SDK," % REGENERATE)
    w("// `dart run ffigen --config ffigen.yaml` gives the same API from the same headers.")
    w("// ignore_for_file: camel_case_types, non_constant_identifier_names, constant_identifier_names")
    w("// ignore_for_file: unused_field, unused_element")
    w("")
    w("import 'dart:ffi' as ffi;")
    w("")
    w("/// The headers these declarations were generated from.")
    w("const List<String> pyagentHeaders = [%s];" % ", ".join("'%s'" % h for h in api.headers))
    header = None
    for c in api.constants:
        if c.header != header:
            header = c.header
            w("")
            w("// %s" % header)
        kind = "String" if isinstance(c.value, str) else (
            "double" if isinstance(c.value, float) else "int")
        w("const %s %s = %s;" % (kind, c.name, dart_literal(c.value)))
    w("")
    for name, t in api.aliases.items():
        native, dart = dart_types(t, api)
        w("typedef %s = %s;" % (name, native))
        w("typedef Dart%s = %s;" % (name, dart))
    for name, header in api.opaque:
        w("")
        w("/// Opaque handle (%s)." % header)
        w("final class %s extends ffi.Opaque {}" % name)
    for s in api.structs:
        w("")
        w("/// struct %s (%s)." % (s.name, s.header))
        w("final class %s extends ffi.Struct {" % s.name)
        for f in s.fields:
            t = api.resolve(f.type)
            if t.array:
                native = dart_types(CType(t.base, t.const, t.ptrs), api)[0]
                w("  @ffi.Array(%d)" % t.array)
                w("  external ffi.Array<%s> %s;" % (native, dart_name(f.name)))
            elif t.ptrs or t.func or t.base in api.callbacks:
                w("  external %s %s;" % (dart_types(t, api)[1], dart_name(f.name)))
            else:
                native, dart = dart_types(t, api)
                w("  @%s()" % native)
                w("  external %s %s;" % (dart, dart_name(f.name)))
        w("}")
    for name, sig in api.callbacks.items():
        w("")
        w("typedef %sFunction = %s;" % (name, dart_fn_native(sig, api, names=True)))
        w("typedef Dart%sFunction = %s;" % (name, dart_fn_dart(sig, api, names=True)))
        w("typedef %s = ffi.Pointer<ffi.NativeFunction<%sFunction>>;" % (name, name))
    w("")
    w("/// Every exported function of libpyagent, looked up in a [ffi.DynamicLibrary].")
    w("class PyagentBindings {")
    w("  final ffi.Pointer<T> Function<T extends ffi.NativeType>(String symbolName) _lookup;")
    w("")
    w("  PyagentBindings(ffi.DynamicLibrary dynamicLibrary) : _lookup = dynamicLibrary.lookup;")
    w("")
    w("  PyagentBindings.fromLookup(")
    w("      ffi.Pointer<T> Function<T extends ffi.NativeType>(String symbolName) lookup)")
    w("      : _lookup = lookup;")
    w("")
    w("  /// Native addresses of the functions, for [ffi.NativeFinalizer] and callbacks.")
    w("  late final addresses = PyagentSymbolAddresses(this);")
    for f in api.functions:
        sig = f.sig
        w("")
        w("  /// `%s` (%s)" % (f.prototype(), f.header))
        params = ", ".join("%s %s" % (dart_types(p.type, api)[1], dart_name(p.name))
                           for p in sig.params)
        args = ", ".join(dart_name(p.name) for p in sig.params)
        ret = dart_types(sig.ret, api)[1]
        w("  %s %s(%s) {" % (ret, f.name, params))
        w("    return _%s(%s);" % (f.name, args))
        w("  }")
        w("")
        w("  late final _%sPtr =" % f.name)
        w("      _lookup<ffi.NativeFunction<%s>>('%s');" % (dart_fn_native(sig, api), f.name))
        w("  late final _%s = _%sPtr.asFunction<%s>();" % (f.name, f.name,
                                                          dart_fn_dart(sig, api)))
    w("}")
    w("")
    w("class PyagentSymbolAddresses {")
    w("  final PyagentBindings _library;")
    w("  PyagentSymbolAddresses(this._library);")
    for f in api.functions:
        w("  ffi.Pointer<ffi.NativeFunction<%s>> get %s => _library._%sPtr;"
          % (dart_fn_native(f.sig, api), f.name, f.name))
    w("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------

def outputs(api):
    return {PYTHON_OUT: generate_python(api), DART_OUT: generate_dart(api)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of writing them")
    ap.add_argument("--include-dir", default=INCLUDE_DIR)
    ap.add_argument("--root", default=ROOT, help="where the generated files live")
    args = ap.parse_args(argv)
    try:
        api = parse_headers(args.include_dir)
    except HeaderError as e:
        print("gen_bindings.py: %s" % e, file=sys.stderr)
        return 2
    stale = []
    for rel, text in outputs(api).items():
        path = os.path.join(args.root, rel)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        if old == text:
            continue
        if args.check:
            stale.append(rel)
            diff = list(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                             "a/" + rel, "b/" + rel, n=1))
            sys.stdout.writelines(diff[:MAX_DIFF_LINES])
            if len(diff) > MAX_DIFF_LINES:
                print("... (%d more diff lines)" % (len(diff) - MAX_DIFF_LINES))
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote %s" % rel)
    if stale:
        print("\nFAIL: the generated bindings do not match include/pyagent/*.h: %s.\n"
              "Regenerate them from the repository root with\n\n    %s\n\n"
              "and commit %s." % (", ".join(stale), REGENERATE, " and ".join(stale)))
        return 1
    if args.check:
        print("bindings up to date: %d functions, %d constants from %s"
              % (len(api.functions), len(api.constants), ", ".join(api.headers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
