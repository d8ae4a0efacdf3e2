"""Finds libpyagent, checks its ABI, and binds the generated declarations to it.

Where the library comes from, in order:

1. the PYAGENT_LIBRARY environment variable (a path to the shared library);
2. pkg-config: `pkg-config --variable=libdir libpyagent`, then libpyagent.so.<ABI> in it;
3. the build tree of a source checkout this package sits in (<root>/build/libpyagent.so.<ABI>);
4. the dynamic loader's own search (libpyagent.so.<ABI> on the default library path).

The first thing done with a loaded library is pyagent_check_abi(PYAGENT_ABI_VERSION), with
the ABI number of the headers the declarations were generated from; a mismatch raises
AbiMismatchError naming both numbers and the file.
"""
import ctypes
import os
import shutil
import subprocess
import sys
import threading

from . import _ffi
from .errors import AbiMismatchError, LibraryNotFoundError

ABI_VERSION = _ffi.PYAGENT_ABI_VERSION

_lock = threading.Lock()
_loaded = None


def _soname():
    if sys.platform == "darwin":
        return "libpyagent.%d.dylib" % ABI_VERSION
    if sys.platform == "win32":
        return "pyagent-%d.dll" % ABI_VERSION
    return "libpyagent.so.%d" % ABI_VERSION


def _from_pkg_config():
    if not shutil.which("pkg-config"):
        return None
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "libpyagent"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if libdir.returncode != 0 or not libdir.stdout.strip():
        return None
    path = os.path.join(libdir.stdout.strip(), _soname())
    return path if os.path.exists(path) else None


def _from_build_tree():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))  # bindings/python/pyagent
    path = os.path.join(root, "build", _soname())
    return path if os.path.exists(path) else None


def candidates():
    """(where, path) pairs in the order they are tried."""
    env = os.environ.get("PYAGENT_LIBRARY")
    if env:
        return [("PYAGENT_LIBRARY", env)]
    out = []
    pc = _from_pkg_config()
    if pc:
        out.append(("pkg-config", pc))
    tree = _from_build_tree()
    if tree:
        out.append(("build tree", tree))
    out.append(("loader search path", _soname()))
    return out


class Library:
    """The loaded libpyagent: every generated function is an attribute (lib.pyagent_x)."""

    def __init__(self, cdll, path):
        self.path = path
        self._cdll = cdll
        self.missing = []
        for name, (restype, argtypes, _names, _header) in _ffi.FUNCTIONS.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _missing_function(name, path))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)

    def version(self):
        return self.pyagent_version_string().decode()


def _missing_function(name, path):
    def missing(*args, **kwargs):
        raise NotImplementedError(
            "%s is declared in the headers this package was generated from (libpyagent %s) but "
            "the library at %s does not export it: it is older than the bindings"
            % (name, ".".join(str(v) for v in (_ffi.PYAGENT_VERSION_MAJOR,
                                               _ffi.PYAGENT_VERSION_MINOR,
                                               _ffi.PYAGENT_VERSION_PATCH)), path))
    missing.__name__ = name
    return missing


def open_library(path, abi_version=ABI_VERSION):
    """Loads the library at `path` and checks that it implements `abi_version`."""
    try:
        cdll = ctypes.CDLL(path)
    except OSError as e:
        raise LibraryNotFoundError("cannot load libpyagent from %s: %s" % (path, e)) from None
    try:
        check = cdll.pyagent_check_abi
        abi = cdll.pyagent_abi_version
    except AttributeError:
        raise AbiMismatchError(
            "%s is not libpyagent: it has no pyagent_check_abi (set PYAGENT_LIBRARY to the path "
            "of libpyagent.so.%d)" % (path, abi_version)) from None
    check.restype, check.argtypes = ctypes.c_int32, [ctypes.c_int32]
    abi.restype, abi.argtypes = ctypes.c_int32, []
    if check(abi_version) != _ffi.PYAGENT_OK:
        version = getattr(cdll, "pyagent_version_string", None)
        version_text = ""
        if version is not None:
            version.restype, version.argtypes = ctypes.c_char_p, []
            version_text = " (version %s)" % version().decode()
        raise AbiMismatchError(
            "ABI mismatch: the libpyagent at %s implements ABI %d%s, but this pyagent package "
            "was generated from headers of ABI %d. Point PYAGENT_LIBRARY at a libpyagent.so.%d, "
            "or install the pyagent package that matches the library."
            % (path, abi(), version_text, abi_version, abi_version))
    return Library(cdll, path)


def lib():
    """The process's libpyagent, loaded and ABI-checked on first use."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            tried = []
            for where, path in candidates():
                try:
                    _loaded = open_library(path)
                    break
                except LibraryNotFoundError as e:
                    tried.append("%s: %s" % (where, e))
            else:
                raise LibraryNotFoundError(
                    "libpyagent not found; set PYAGENT_LIBRARY to the path of %s, install it "
                    "(meson install, so that pkg-config finds libpyagent), or build it in "
                    "<repository>/build. Tried:\n  %s" % (_soname(), "\n  ".join(tried)))
    return _loaded


def load(path=None):
    """Loads libpyagent from `path` (or the usual places) now, instead of at first use."""
    global _loaded
    if path is None:
        return lib()
    with _lock:
        _loaded = open_library(path)
    return _loaded
