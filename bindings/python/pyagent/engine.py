"""Engine: one loaded model, its tokenizer and worker threads (pyagent_engine_*).

    with pyagent.Engine("stories260K.gguf", n_threads=2) as engine:
        with engine.agent(temperature=0) as agent:
            ...

An engine is thread-safe: many Python threads may drive different agents of it at once (ctypes
releases the GIL during every call into the library).
"""
import array
import ctypes
import os
import weakref

from . import _ffi
from ._library import lib
from ._handle import NativeHandle
from .errors import error_for
from .params import ENGINE, Params

LOG_DEBUG = _ffi.PYAGENT_LOG_DEBUG
LOG_INFO = _ffi.PYAGENT_LOG_INFO
LOG_WARN = _ffi.PYAGENT_LOG_WARN
LOG_ERROR = _ffi.PYAGENT_LOG_ERROR
LOG_NONE = _ffi.PYAGENT_LOG_NONE


def _int32_array(tokens):
    tokens = list(tokens)
    return (ctypes.c_int32 * len(tokens))(*tokens), len(tokens)


class Engine(NativeHandle):
    _kind = "engine"
    """A model opened with engine params given as keyword arguments (n_threads, n_ctx,
    n_batch, seed, log_level; see pyagent.h). Close it with close() or a with block; an
    engine that is garbage-collected is closed too, after every agent made from it."""

    def __init__(self, model_path, **params):
        self._lib = lib()
        handle = ctypes.POINTER(_ffi.pyagent_engine)()
        with Params(ENGINE, **params) as p:
            status = self._lib.pyagent_engine_open(os.fsencode(model_path), p.ptr,
                                                   ctypes.byref(handle))
        if status != _ffi.PYAGENT_OK:
            message = self._lib.pyagent_engine_last_error(handle).decode(errors="replace")
            self._lib.pyagent_engine_destroy(handle)
            raise error_for(status, message or self._lib.pyagent_status_str(status).decode())
        self.model_path = os.fspath(model_path)
        self._agents = weakref.WeakSet()
        self._log_fn = None  # keeps the ctypes callback alive while the engine uses it
        self._own(handle, self._lib.pyagent_engine_destroy)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self):
        """Closes every agent of this engine, then the engine. Idempotent."""
        for agent in list(self._agents):
            agent.close()
        super().close()

    def _check(self, status):
        if status != _ffi.PYAGENT_OK:
            message = self._lib.pyagent_engine_last_error(self._handle).decode(errors="replace")
            raise error_for(status, message or self._lib.pyagent_status_str(status).decode())

    # -- agents ------------------------------------------------------------------------------

    def agent(self, *, stop=None, **sampler):
        """A new Agent on this engine; keyword arguments are sampler params (temperature,
        top_k, top_p, min_p, repeat_penalty, seed, ...), `stop` a list of stop strings."""
        from .agent import Agent
        return Agent(self, stop=stop, **sampler)

    # -- facts and tokenizer -----------------------------------------------------------------

    def info(self, key):
        """pyagent_engine_info: n_vocab, n_ctx, n_ctx_train, n_embd, n_layer, n_head,
        n_head_kv, n_ff, n_batch, n_threads, token_bos, token_eos, n_params."""
        value = ctypes.c_int64()
        self._check(self._lib.pyagent_engine_info(self.handle, key.encode(), ctypes.byref(value)))
        return value.value

    n_vocab = property(lambda self: self.info("n_vocab"))
    n_ctx = property(lambda self: self.info("n_ctx"))
    token_bos = property(lambda self: self.info("token_bos"))
    token_eos = property(lambda self: self.info("token_eos"))

    def tokenize(self, text, *, add_special=False, parse_special=False):
        """Token ids of `text` (str or UTF-8 bytes)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        flags = ((_ffi.PYAGENT_TOKENIZE_ADD_SPECIAL if add_special else 0)
                 | (_ffi.PYAGENT_TOKENIZE_PARSE_SPECIAL if parse_special else 0))
        needed = ctypes.c_size_t()
        capacity = len(data) + 8
        while True:
            buf = (ctypes.c_int32 * capacity)()
            status = self._lib.pyagent_engine_tokenize(self.handle, data, len(data), flags, buf,
                                                       capacity, ctypes.byref(needed))
            if status != _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL:
                break
            capacity = needed.value
        self._check(status)
        return list(buf[:needed.value])

    def detokenize_bytes(self, tokens, *, special=False, strip_leading_space=False):
        """The bytes of `tokens` (a token may end inside a UTF-8 character)."""
        ids, n = _int32_array(tokens)
        flags = ((_ffi.PYAGENT_DETOKENIZE_SPECIAL if special else 0)
                 | (_ffi.PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE if strip_leading_space else 0))
        needed = ctypes.c_size_t()
        capacity = 16 * n + 16
        while True:
            buf = ctypes.create_string_buffer(capacity)
            status = self._lib.pyagent_engine_detokenize(self.handle, ids, n, flags, buf,
                                                         capacity, ctypes.byref(needed))
            if status != _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL:
                break
            capacity = needed.value
        self._check(status)
        return buf.raw[:needed.value]

    def detokenize(self, tokens, *, special=False, strip_leading_space=False):
        """The text of `tokens`; bytes that are not valid UTF-8 become U+FFFD."""
        return self.detokenize_bytes(tokens, special=special,
                                     strip_leading_space=strip_leading_space).decode(
                                         errors="replace")

    def embed_tokens(self, tokens):
        """The model's input rows of `tokens`, flat as array('f') (len(tokens) x n_embd): what
        feeding the tokens feeds, for Agent.feed_embeddings."""
        ids, n = _int32_array(tokens)
        needed = ctypes.c_size_t(n * self.info("n_embd"))
        buf = (ctypes.c_float * max(needed.value, 1))()
        self._check(self._lib.pyagent_engine_embed_tokens(self.handle, ids, n, buf, needed.value,
                                                          ctypes.byref(needed)))
        return array.array("f", bytes(buf)[:4 * needed.value])

    def embed_text(self, text):
        """The mean over the text's tokens of the model's final hidden states (n_embd floats,
        array('f')): pyagent_engine_embed_text, a private agent that shares no KV."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        n = ctypes.c_size_t(self.info("n_embd"))
        buf = (ctypes.c_float * n.value)()
        self._check(self._lib.pyagent_engine_embed_text(self.handle, data, len(data), buf, n.value,
                                                        ctypes.byref(n)))
        return array.array("f", bytes(buf))

    # -- KV pruning ---------------------------------------------------------------------------

    def fit_kvzap(self, texts, path, *, ridge=1.0, heldout=0.25):
        """Fits a KVzap surrogate on `texts` (at least 2 str/bytes) and writes it to `path`
        (pyagent_kvzap_fit); returns the fit's figures as a dict (r2_heldout, top_overlap, ...)."""
        data = [t.encode() if isinstance(t, str) else bytes(t) for t in texts]
        arr = (ctypes.c_char_p * max(len(data), 1))(*data)
        info = _ffi.pyagent_kvzap_info(struct_size=ctypes.sizeof(_ffi.pyagent_kvzap_info))
        self._check(self._lib.pyagent_kvzap_fit(self.handle, arr, len(data), float(ridge),
                                                float(heldout), os.fsencode(path),
                                                ctypes.byref(info)))
        return _kvzap_dict(info)

    def load_kvzap(self, path):
        """Loads a surrogate for agents with kv_policy=KV_POLICY_KVZAP; returns its figures."""
        info = _ffi.pyagent_kvzap_info(struct_size=ctypes.sizeof(_ffi.pyagent_kvzap_info))
        self._check(self._lib.pyagent_engine_load_kvzap(self.handle, os.fsencode(path),
                                                        ctypes.byref(info)))
        return _kvzap_dict(info)

    # -- logging -----------------------------------------------------------------------------

    def set_log(self, callback, min_level=LOG_WARN):
        """Sends this engine's log lines of level >= min_level to callback(level, message);
        callback None sends them back to stderr. The callback may run on any thread that
        calls into the engine; ctypes reports an exception raised in it (sys.unraisablehook)
        and goes on."""
        if callback is None:
            fn = _ffi.pyagent_log_fn()
        else:
            def on_log(_user_data, level, message):
                callback(level, ctypes.string_at(message).decode(errors="replace"))
            fn = _ffi.pyagent_log_fn(on_log)
        self._check(self._lib.pyagent_engine_set_log(self.handle, min_level, fn, None))
        self._log_fn = fn

    def __repr__(self):
        state = "closed" if self.closed else "n_vocab=%d n_ctx=%d" % (self.n_vocab, self.n_ctx)
        return "<pyagent.Engine %r %s>" % (self.model_path, state)


def _kvzap_dict(info):
    return {name: getattr(info, name) for name, _ in info._fields_
            if name not in ("struct_size", "reserved")}
