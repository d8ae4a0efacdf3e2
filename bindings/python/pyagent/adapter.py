"""Adapter: a linear map from one model's hidden states to another's input embeddings
(pyagent_adapter_*; docs/latent.md). The two models must share a tokenizer.

    with pyagent.Engine(draft) as s, pyagent.Engine(target) as t:
        adapter = pyagent.Adapter.fit(s, t, python_source, ridge=1.0, heldout=0.2)
        print(adapter.info["r2_heldout"])
        reader = s.agent()
        rows = array.array("f")
        for token in s.tokenize(text):
            reader.feed([token]).prefill()
            rows += adapter.apply(reader.hidden())
        t.agent().feed_embeddings(rows)   # the target reads what the draft read
"""
import array
import ctypes
import os

from . import _ffi
from ._library import lib
from ._handle import NativeHandle
from .errors import error_for

_INFO_FIELDS = ("dim_in", "dim_out", "n_train", "n_heldout", "ridge", "r2_train", "r2_heldout",
                "top1_heldout", "fingerprint_in", "fingerprint_out")


class Adapter(NativeHandle):
    """Made by Adapter.fit or Adapter.load, never directly. `source` and `target` are the
    Engines it maps between; errors of save() are reported through the target's message."""

    _kind = "adapter"

    def __init__(self, handle, source, target):
        self._lib = lib()
        self.source, self.target = source, target
        self._own(handle, self._lib.pyagent_adapter_destroy)

    @classmethod
    def fit(cls, source, target, text, *, ridge=1.0, heldout=0.2):
        """Fits on `text` (str or UTF-8 bytes) read by `source`; the last `heldout` fraction of
        the pairs is kept out of the fit and measured (info)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        handle = ctypes.POINTER(_ffi.pyagent_adapter)()
        target._check(lib().pyagent_adapter_fit(source.handle, target.handle, data, len(data),
                                                float(ridge), float(heldout),
                                                ctypes.byref(handle)))
        return cls(handle, source, target)

    @classmethod
    def load(cls, source, target, path):
        """Reads an adapter file fitted for these two models (MismatchError otherwise)."""
        handle = ctypes.POINTER(_ffi.pyagent_adapter)()
        target._check(lib().pyagent_adapter_load(source.handle, target.handle,
                                                 os.fsencode(path), ctypes.byref(handle)))
        return cls(handle, source, target)

    @property
    def info(self):
        """The fit's facts and figures as a dict (pyagent_adapter_info)."""
        raw = _ffi.pyagent_adapter_info(struct_size=ctypes.sizeof(_ffi.pyagent_adapter_info))
        self.target._check(self._lib.pyagent_adapter_info_get(self.handle, ctypes.byref(raw)))
        return {name: getattr(raw, name) for name in _INFO_FIELDS}

    def save(self, path):
        """Writes the adapter file (crash-safe)."""
        self.target._check(self._lib.pyagent_adapter_save(self.target.handle, self.handle,
                                                          os.fsencode(path)))

    def apply(self, hidden):
        """Maps hidden states of the source (flat floats, whole rows of dim_in) to input rows
        of the target (flat array('f'), dim_out per row)."""
        info = self.info
        values = hidden if isinstance(hidden, array.array) and hidden.typecode == "f" \
            else array.array("f", hidden)
        if len(values) % info["dim_in"]:
            raise error_for(_ffi.PYAGENT_ERR_INVALID_ARGUMENT,
                            "%d floats are not whole rows of %d" % (len(values), info["dim_in"]))
        n = len(values) // info["dim_in"]
        src = (ctypes.c_float * max(len(values), 1)).from_buffer_copy(values) if values \
            else None
        out = (ctypes.c_float * max(n * info["dim_out"], 1))()
        status = self._lib.pyagent_adapter_apply(self.handle, src, n, out, n * info["dim_out"])
        if status != _ffi.PYAGENT_OK:
            raise error_for(status, self._lib.pyagent_status_str(status).decode())
        return array.array("f", bytes(out)[:4 * n * info["dim_out"]])

    def __repr__(self):
        if self.closed:
            return "<pyagent.Adapter closed>"
        i = self.info
        return "<pyagent.Adapter %d -> %d, held-out R2 %.3f>" % (i["dim_in"], i["dim_out"],
                                                                 i["r2_heldout"])
