"""Exceptions: every failing pyagent_status becomes a PyagentError subclass.

    try:
        engine = pyagent.Engine("missing.gguf")
    except pyagent.IoError as e:
        print(e.status, e.message)   # 3, "missing.gguf: No such file or directory"

The subclass is chosen by status code; codes added to the headers later (and so not known
here by name) still get a class of their own, named after their PYAGENT_ERR_ macro.
"""
from . import _ffi


class PyagentError(Exception):
    """A libpyagent call failed. `.status` is the pyagent_status code, `.message` the detail
    from the handle's last-error string (or the status name when the handle has none)."""

    status = None

    def __init__(self, message, status=None):
        if status is not None:
            self.status = status
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class LibraryNotFoundError(PyagentError, OSError):
    """libpyagent could not be found or loaded."""


class InvalidArgumentError(PyagentError, ValueError):
    status = _ffi.PYAGENT_ERR_INVALID_ARGUMENT


class OutOfMemoryError(PyagentError, MemoryError):
    status = _ffi.PYAGENT_ERR_OUT_OF_MEMORY


class IoError(PyagentError, OSError):
    status = _ffi.PYAGENT_ERR_IO


class BadModelError(PyagentError):
    status = _ffi.PYAGENT_ERR_BAD_MODEL


class UnsupportedError(PyagentError):
    status = _ffi.PYAGENT_ERR_UNSUPPORTED


class UnknownKeyError(PyagentError, KeyError):
    status = _ffi.PYAGENT_ERR_UNKNOWN_KEY

    def __str__(self):  # KeyError would quote the message
        return self.message


class OutOfRangeError(PyagentError, ValueError):
    status = _ffi.PYAGENT_ERR_OUT_OF_RANGE


class BufferTooSmallError(PyagentError):
    status = _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL


class ContextFullError(PyagentError):
    status = _ffi.PYAGENT_ERR_CONTEXT_FULL


class AbiMismatchError(PyagentError, ImportError):
    """The loaded library implements another ABI than the headers these bindings came from."""
    status = _ffi.PYAGENT_ERR_ABI_MISMATCH


class InvalidUtf8Error(PyagentError, ValueError):
    status = _ffi.PYAGENT_ERR_INVALID_UTF8


class InvalidTokenError(PyagentError, ValueError):
    status = _ffi.PYAGENT_ERR_INVALID_TOKEN


class BusyError(PyagentError):
    status = _ffi.PYAGENT_ERR_BUSY


class InternalError(PyagentError):
    status = _ffi.PYAGENT_ERR_INTERNAL


LibraryNotFoundError.status = _ffi.PYAGENT_ERR_IO


def _class_name(macro):
    words = macro[len("PYAGENT_ERR_"):].split("_")
    return "".join(w.capitalize() for w in words) + "Error"


ERRORS = {}  # status code -> exception class
for _name in dir(_ffi):
    if _name.startswith("PYAGENT_ERR_"):
        _code = getattr(_ffi, _name)
        _cls = next((c for c in list(globals().values())
                     if isinstance(c, type) and issubclass(c, PyagentError)
                     and c is not LibraryNotFoundError and c.status == _code), None)
        if _cls is None:  # a code newer than this file: a class named after its macro
            _cls = type(_class_name(_name), (PyagentError,), {"status": _code,
                                                              "__module__": __name__})
            globals()[_cls.__name__] = _cls
        ERRORS[_code] = _cls
del _name, _code, _cls


def error_for(status, message):
    """The exception for a failed call: its class by status, its message from the handle."""
    return ERRORS.get(status, PyagentError)(message, status)
