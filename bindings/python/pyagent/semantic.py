"""SemanticCache: completions keyed by prompt embeddings (semantic.h; docs/memory.md).

    cache = pyagent.SemanticCache(threshold=0.95)
    answer = cache.get(engine, prompt)          # None on a miss
    if answer is None:
        answer = agent.feed(prompt).complete(64).text()
        cache.put(engine, prompt, answer)
"""
import ctypes

from . import _ffi
from ._library import lib
from ._handle import NativeHandle
from .errors import error_for

_CONFIG_FIELDS = ("n_bits", "n_tables", "threshold", "max_entries", "max_age_s", "seed")
_STATS_FIELDS = ("n_entries", "n_puts", "n_hits", "n_misses", "n_expired", "n_compared")


class SemanticCache(NativeHandle):
    """Keyword arguments are pyagent_semantic_config fields (n_bits, n_tables, threshold,
    max_entries, max_age_s, seed); missing ones take the library's defaults."""

    _kind = "semantic cache"

    def __init__(self, **config):
        unknown = set(config) - set(_CONFIG_FIELDS)
        if unknown:
            raise error_for(_ffi.PYAGENT_ERR_UNKNOWN_KEY, "unknown config %s" % sorted(unknown))
        self._lib = lib()
        cfg = _ffi.pyagent_semantic_config(struct_size=ctypes.sizeof(_ffi.pyagent_semantic_config),
                                           **config)
        handle = ctypes.POINTER(_ffi.pyagent_semantic_cache)()
        status = self._lib.pyagent_semantic_cache_create(ctypes.byref(cfg), ctypes.byref(handle))
        if status != _ffi.PYAGENT_OK:
            raise error_for(status, "semantic cache config out of range: %s" % config)
        self._own(handle, self._lib.pyagent_semantic_cache_destroy)

    def get(self, engine, prompt):
        """The cached completion (str) for a prompt that means nearly the same, or None."""
        data = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
        hit = ctypes.c_int32()
        n = ctypes.c_size_t()
        capacity = 4096
        while True:
            buf = ctypes.create_string_buffer(capacity)
            status = self._lib.pyagent_semantic_cache_get(self.handle, engine.handle, data,
                                                          len(data), ctypes.byref(hit), buf,
                                                          capacity, ctypes.byref(n), None)
            if status != _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL:
                break
            capacity = n.value
        engine._check(status)
        return buf.raw[:n.value].decode(errors="replace") if hit.value else None

    def put(self, engine, prompt, completion):
        """Stores `completion` as the answer to `prompt`."""
        p = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
        c = completion.encode() if isinstance(completion, str) else bytes(completion)
        engine._check(self._lib.pyagent_semantic_cache_put(self.handle, engine.handle, p, len(p),
                                                           c, len(c)))

    def stats(self):
        """Entries, puts, hits, misses, expired and cosines computed, as a dict."""
        raw = _ffi.pyagent_semantic_stats(struct_size=ctypes.sizeof(_ffi.pyagent_semantic_stats))
        self._lib.pyagent_semantic_cache_stats_get(self.handle, ctypes.byref(raw))
        return {name: getattr(raw, name) for name in _STATS_FIELDS}
