"""A native handle freed by its destroy function: close() or a with block frees it at once, and
garbage collection frees it too (weakref.finalize). Engine and Agent add to close() what they
must do first (close the agents; stop a generation)."""
import weakref

from . import _ffi
from .errors import PyagentError


class NativeHandle:
    _kind = "handle"

    def _own(self, handle, destroy, *args):
        """destroy(*args), or destroy(handle) without args, frees the handle."""
        self._handle = handle
        self._finalizer = weakref.finalize(self, destroy, *(args or (handle,)))

    @property
    def closed(self):
        return not self._finalizer.alive

    @property
    def handle(self):
        """The native pointer, for calls through pyagent.lib()."""
        if self.closed:
            raise PyagentError("the %s is closed" % self._kind, _ffi.PYAGENT_ERR_INVALID_ARGUMENT)
        return self._handle

    def close(self):
        """Frees the handle. Idempotent."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
