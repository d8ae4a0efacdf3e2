"""Params: libpyagent's keyed, typed configuration (pyagent_params_*), as keyword arguments.

    Params(ENGINE, n_threads=2, n_ctx=512)
    Params(SAMPLER, temperature=0.7, top_k=40)

An int (or bool) goes through pyagent_params_set_i64, a float through pyagent_params_set_f64,
a str through pyagent_params_set_str where the library has it. The library rejects unknown
keys (UnknownKeyError), wrong types (InvalidArgumentError) and values out of bounds
(OutOfRangeError) with a message that names the key.
"""
import ctypes
import weakref

from . import _ffi
from ._library import lib
from .errors import InvalidArgumentError, error_for

ENGINE = _ffi.PYAGENT_PARAMS_ENGINE
SAMPLER = _ffi.PYAGENT_PARAMS_SAMPLER


class Params:
    """One pyagent_params object of `kind`, holding every default plus what is set."""

    def __init__(self, kind, **values):
        self._lib = lib()
        self.kind = kind
        ptr = self._lib.pyagent_params_create(kind)
        if not ptr:
            raise InvalidArgumentError("unknown params kind %r (or out of memory)" % (kind,),
                                       _ffi.PYAGENT_ERR_INVALID_ARGUMENT)
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, self._lib.pyagent_params_destroy, ptr)
        for key, value in values.items():
            self.set(key, value)

    @property
    def ptr(self):
        """The pyagent_params pointer, for calls through pyagent.lib()."""
        return self._ptr

    def _check(self, status):
        if status != _ffi.PYAGENT_OK:
            message = self._lib.pyagent_params_last_error(self._ptr).decode(errors="replace")
            raise error_for(status, message or self._lib.pyagent_status_str(status).decode())

    def set(self, key, value):
        k = key.encode()
        if isinstance(value, bool) or isinstance(value, int):
            self._check(self._lib.pyagent_params_set_i64(self._ptr, k, int(value)))
        elif isinstance(value, float):
            self._check(self._lib.pyagent_params_set_f64(self._ptr, k, value))
        elif isinstance(value, str) and "pyagent_params_set_str" in _ffi.FUNCTIONS:
            self._check(self._lib.pyagent_params_set_str(self._ptr, k, value.encode()))
        else:
            raise InvalidArgumentError("%s: a params value is an int, a float or a str, not %s"
                                       % (key, type(value).__name__),
                                       _ffi.PYAGENT_ERR_INVALID_ARGUMENT)
        return self

    __setitem__ = set

    def get(self, key):
        """The value of `key`: an int for integer keys, a float for real ones."""
        k = key.encode()
        i = ctypes.c_int64()
        status = self._lib.pyagent_params_get_i64(self._ptr, k, ctypes.byref(i))
        if status == _ffi.PYAGENT_OK:
            return i.value
        if status != _ffi.PYAGENT_ERR_INVALID_ARGUMENT:
            self._check(status)
        f = ctypes.c_double()
        status = self._lib.pyagent_params_get_f64(self._ptr, k, ctypes.byref(f))
        if status == _ffi.PYAGENT_OK:
            return f.value
        if status == _ffi.PYAGENT_ERR_INVALID_ARGUMENT and "pyagent_params_get_str" in _ffi.FUNCTIONS:
            return self._get_str(k)
        self._check(status)

    def _get_str(self, k):
        needed = ctypes.c_size_t()
        self._lib.pyagent_params_get_str(self._ptr, k, None, 0, ctypes.byref(needed))
        buf = ctypes.create_string_buffer(needed.value + 1)
        self._check(self._lib.pyagent_params_get_str(self._ptr, k, buf, len(buf),
                                                     ctypes.byref(needed)))
        return buf.value.decode()

    __getitem__ = get

    @staticmethod
    def bounds(kind, key):
        """(min, max), inclusive, of `key` for params of `kind`."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        status = lib().pyagent_params_bounds(kind, key.encode(), ctypes.byref(lo), ctypes.byref(hi))
        if status != _ffi.PYAGENT_OK:
            raise error_for(status, "%s: %s" % (key, lib().pyagent_status_str(status).decode()))
        return lo.value, hi.value

    def close(self):
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
