"""The generated declarations (pyagent/_ffi.py) cover the library and match the C layout."""
import ctypes
import os
import shutil
import subprocess

import pytest

import pyagent
from pyagent import _ffi
from conftest import SOURCE_ROOT


def exported_symbols():
    with open(os.path.join(SOURCE_ROOT, "abi", "symbols.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def test_every_symbol_in_the_abi_list_is_declared():
    missing = [s for s in exported_symbols() if s not in _ffi.FUNCTIONS]
    assert not missing, ("exported but not in pyagent/_ffi.py: %s; regenerate with "
                         "`python3 bindings/gen_bindings.py`" % missing)


def test_the_loaded_library_exports_every_declared_function():
    assert pyagent.lib().missing == []


def test_structs_have_the_c_layout(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    structs = [name for name, value in vars(_ffi).items()
               if isinstance(value, type) and issubclass(value, ctypes.Structure)
               and getattr(value, "_fields_", None)]
    assert "pyagent_agent_stats" in structs
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <pyagent/pyagent.h>"]
    lines += ['#include <pyagent/%s>' % h for h in _ffi.HEADERS if h != "pyagent.h"]
    lines.append("int main(void) {")
    for s in structs:
        lines.append('    printf("%s %%zu\\n", sizeof(%s));' % (s, s))
        for field, _ in getattr(_ffi, s)._fields_:
            lines.append('    printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (s, field, s, field))
    lines.append("    return 0;\n}")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-I", os.path.join(SOURCE_ROOT, "include"), "-o", str(exe), str(src)],
                   check=True)
    c_layout = dict(line.split() for line in subprocess.run(
        [str(exe)], check=True, capture_output=True, text=True).stdout.splitlines())
    for s in structs:
        cls = getattr(_ffi, s)
        assert int(c_layout[s]) == ctypes.sizeof(cls), s
        for field, _ in cls._fields_:
            assert int(c_layout["%s.%s" % (s, field)]) == getattr(cls, field).offset, field
