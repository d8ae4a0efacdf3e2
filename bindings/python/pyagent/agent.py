"""Agent: one conversation on an engine (pyagent_agent_*), and Generation, its token stream.

    with engine.agent(temperature=0) as agent:
        agent.feed("Once upon a time")
        stream = agent.generate(64, stop=["."])
        for piece in stream:            # str pieces, as the library releases them
            print(piece, end="", flush=True)
        print(stream.finish_reason)     # FinishReason.STOP

An agent is used by one thread at a time: a call while another thread is inside a call on the
same agent (a generation included) raises BusyError. cancel() is the exception; any thread may
call it at any time. Different agents may run on different threads at once.
"""
import array
import codecs
import contextlib
import ctypes
import enum
import queue
import threading

from . import _ffi
from ._library import lib
from ._handle import NativeHandle
from .errors import BusyError, PyagentError, error_for
from .params import SAMPLER, Params

FinishReason = enum.IntEnum("FinishReason", {
    name[len("PYAGENT_FINISH_"):]: value for name, value in vars(_ffi).items()
    if name.startswith("PYAGENT_FINISH_")}, module=__name__)
FinishReason.__doc__ = "Why a generation ended (PYAGENT_FINISH_*)."


class AgentStats:
    """pyagent_agent_stats as attributes (n_prompt_tokens, n_generated_tokens,
    prefill_seconds, decode_seconds, and whatever later versions of the struct add)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def as_dict(self):
        return dict(self.__dict__)

    def __eq__(self, other):
        return isinstance(other, AgentStats) and self.__dict__ == other.__dict__

    def __repr__(self):
        return "AgentStats(%s)" % ", ".join("%s=%r" % kv for kv in self.__dict__.items())


def _destroy_agent(lib_, handle, engine):
    # `engine` is only held: the engine must outlive its agents, so its finalizer cannot run
    # while this one is pending (weakref.finalize keeps its arguments alive).
    lib_.pyagent_agent_destroy(handle)


class Agent(NativeHandle):
    """An agent on `engine` with sampler params as keyword arguments and optional stop
    strings. Close it with close() or a with block; garbage collection closes it too."""

    _kind = "agent"

    def __init__(self, engine, *, stop=None, **sampler):
        self._lib = lib()
        self.engine = engine
        handle = ctypes.POINTER(_ffi.pyagent_agent)()
        with Params(SAMPLER, **sampler) as p:
            status = self._lib.pyagent_agent_create(engine.handle, p.ptr, ctypes.byref(handle))
        if status != _ffi.PYAGENT_OK:
            engine._check(status)
        self._adopt(handle, dict(sampler), [])
        if stop:
            self.stops = stop

    def _adopt(self, handle, sampler, stops):
        self._lock = threading.Lock()
        self._sampler = sampler
        self._stops = stops
        self._own(handle, _destroy_agent, self._lib, handle, self.engine)
        self.engine._agents.add(self)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self):
        """Stops a running generation, waits for it, and frees the agent. Idempotent."""
        if self.closed:
            return
        self._lib.pyagent_agent_cancel(self._handle)
        with self._lock:
            super().close()

    @contextlib.contextmanager
    def _exclusive(self):
        handle = self.handle
        if not self._lock.acquire(blocking=False):
            raise BusyError("the agent is in use by another call (an agent is used by one "
                            "thread at a time)", _ffi.PYAGENT_ERR_BUSY)
        try:
            yield handle
        finally:
            self._lock.release()

    def _error(self, status):
        message = self._lib.pyagent_agent_last_error(self._handle).decode(errors="replace")
        return error_for(status, message or self._lib.pyagent_status_str(status).decode())

    def _check(self, status):
        if status != _ffi.PYAGENT_OK:
            raise self._error(status)

    # -- input -------------------------------------------------------------------------------

    def feed(self, prompt):
        """Queues text (str, or UTF-8 bytes) or token ids (any iterable of ints). Text on an
        empty agent gets the model's BOS first; token ids are queued as they are."""
        with self._exclusive() as h:
            if isinstance(prompt, (str, bytes, bytearray)):
                data = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
                self._check(self._lib.pyagent_agent_feed_text(h, data, len(data)))
            else:
                ids = list(prompt)
                buf = (ctypes.c_int32 * len(ids))(*ids)
                self._check(self._lib.pyagent_agent_feed_tokens(h, buf, len(ids)))
        return self

    def feed_embeddings(self, rows):
        """Queues input rows instead of tokens: `rows` is a flat sequence of floats (any
        buffer or iterable; array('f') is copied without conversion), a whole number of rows of
        the model's width (engine.info("n_embd")). Each row takes one position, which reads
        pyagent.TOKEN_EMBEDDING in `tokens`."""
        values = rows if isinstance(rows, array.array) and rows.typecode == "f" \
            else array.array("f", rows)
        width = self.engine.info("n_embd")
        if len(values) % width:
            raise error_for(_ffi.PYAGENT_ERR_INVALID_ARGUMENT,
                            "%d floats are not whole rows of %d" % (len(values), width))
        buf = (ctypes.c_float * len(values)).from_buffer_copy(values) if values else None
        with self._exclusive() as h:
            self._check(self._lib.pyagent_agent_feed_embeddings(h, buf, len(values) // width,
                                                                width))
        return self

    def prefill(self):
        """Computes every queued token now (generate does this by itself)."""
        with self._exclusive() as h:
            self._check(self._lib.pyagent_agent_prefill(h))

    def hidden(self, as_list=False):
        """The final hidden state of the last computed position (n_embd floats after the
        output norm), as array('f') (or a list): what an Adapter maps."""
        with self._exclusive() as h:
            n = ctypes.c_size_t()
            status = self._lib.pyagent_agent_hidden(h, None, 0, ctypes.byref(n))
            if status not in (_ffi.PYAGENT_OK, _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL):
                self._check(status)
            buf = (ctypes.c_float * n.value)()
            self._check(self._lib.pyagent_agent_hidden(h, buf, n.value, ctypes.byref(n)))
        values = array.array("f", bytes(buf))
        return values.tolist() if as_list else values

    def logits(self, as_list=False):
        """The n_vocab logits of the last computed position, as array('f') (or a list)."""
        with self._exclusive() as h:
            n = ctypes.c_size_t()
            status = self._lib.pyagent_agent_logits(h, None, 0, ctypes.byref(n))
            if status not in (_ffi.PYAGENT_OK, _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL):
                self._check(status)
            buf = (ctypes.c_float * n.value)()
            self._check(self._lib.pyagent_agent_logits(h, buf, n.value, ctypes.byref(n)))
        values = array.array("f", bytes(buf))
        return values.tolist() if as_list else values

    @property
    def tokens(self):
        """Every token of the sequence, computed and queued."""
        with self._exclusive() as h:
            n = ctypes.c_size_t()
            status = self._lib.pyagent_agent_tokens(h, None, 0, ctypes.byref(n))
            if status not in (_ffi.PYAGENT_OK, _ffi.PYAGENT_ERR_BUFFER_TOO_SMALL):
                self._check(status)
            buf = (ctypes.c_int32 * n.value)()
            self._check(self._lib.pyagent_agent_tokens(h, buf, n.value, ctypes.byref(n)))
        return list(buf[:n.value])

    def reset(self):
        """Forgets the sequence; sampler settings and stop strings stay."""
        with self._exclusive() as h:
            self._check(self._lib.pyagent_agent_reset(h))

    def fork(self):
        """A new Agent that continues from this one: the same tokens, sampler settings, stop
        strings and logits, sharing every KV block (copy-on-write), so nothing is computed
        again. Fork after prefilling a shared prefix to give several agents the same start."""
        with self._exclusive() as h:
            child = ctypes.POINTER(_ffi.pyagent_agent)()
            self._check(self._lib.pyagent_agent_fork(h, ctypes.byref(child)))
        forked = Agent.__new__(Agent)
        forked._lib = self._lib
        forked.engine = self.engine
        forked._adopt(child, dict(self._sampler), list(self._stops))
        return forked

    # -- settings ----------------------------------------------------------------------------

    @property
    def sampler(self):
        """The sampler params set on this agent (the rest are the library's defaults)."""
        return dict(self._sampler)

    def set_sampler(self, **sampler):
        """Replaces the sampler settings (defaults plus these keywords); reseeds the RNG."""
        with self._exclusive() as h:
            self._apply_sampler(h, sampler)
        self._sampler = dict(sampler)

    def _apply_sampler(self, h, sampler):
        with Params(SAMPLER, **sampler) as p:
            self._check(self._lib.pyagent_agent_set_sampler(h, p.ptr))

    @property
    def stops(self):
        return list(self._stops)

    @stops.setter
    def stops(self, stops):
        stops = [stops] if isinstance(stops, str) else list(stops)
        with self._exclusive() as h:
            self._apply_stops(h, stops)
        self._stops = stops

    def _apply_stops(self, h, stops):
        self._check(self._lib.pyagent_agent_clear_stops(h))
        for s in stops:
            data = s.encode()
            self._check(self._lib.pyagent_agent_add_stop(h, data, len(data)))

    # -- generation --------------------------------------------------------------------------

    def generate(self, max_tokens=-1, *, stop=None, **sampler):
        """A Generation: iterate it for the text pieces of up to `max_tokens` new tokens
        (-1: until EOS, a stop string, cancel() or n_ctx). `stop` and sampler keywords apply
        to this generation only (changing the sampler reseeds the agent's RNG). Nothing
        runs until the first piece is asked for."""
        return Generation(self, max_tokens, stop, sampler)

    def complete(self, max_tokens=-1, *, stop=None, **sampler):
        """Generates on this thread and returns the finished Generation (its .text, .tokens,
        .finish_reason)."""
        g = Generation(self, max_tokens, stop, sampler)
        g.text()
        return g

    def cancel(self):
        """Makes a running generation stop after its next token. Any thread, any time."""
        if not self.closed:
            self._lib.pyagent_agent_cancel(self._handle)

    def stats(self):
        """AgentStats since the agent was created or reset."""
        s = _ffi.pyagent_agent_stats()
        s.struct_size = ctypes.sizeof(s)
        with self._exclusive() as h:
            self._check(self._lib.pyagent_agent_stats_get(h, ctypes.byref(s)))
        return AgentStats({name: getattr(s, name) for name, _ in s._fields_
                           if name not in ("struct_size", "reserved")})

    def __repr__(self):
        return "<pyagent.Agent %s>" % ("closed" if self.closed else "of %r" % self.engine)


# ------------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------------

_DONE = object()


def _run(agent, max_tokens, tokens, on_text):
    """pyagent_agent_generate on this thread; returns (status, finish reason, message)."""
    lib_ = agent._lib

    def on_token(_user_data, token, text, text_len):
        tokens.append(token)
        if text_len:
            on_text(ctypes.string_at(text, text_len))

    callback = _ffi.pyagent_token_fn(on_token)
    finish = ctypes.c_int32()
    status = lib_.pyagent_agent_generate(agent._handle, max_tokens, callback, None,
                                         ctypes.byref(finish))
    message = "" if status == _ffi.PYAGENT_OK else \
        lib_.pyagent_agent_last_error(agent._handle).decode(errors="replace")
    return status, finish.value, message


def _take(agent, stop, sampler):
    """Takes the agent for one generation and applies its own stop strings and sampler."""
    handle = agent.handle
    if not agent._lock.acquire(blocking=False):
        raise BusyError("the agent is in use by another call (an agent is used by one thread "
                        "at a time)", _ffi.PYAGENT_ERR_BUSY)
    try:
        if stop is not None:
            agent._apply_stops(handle, stop)
        if sampler:
            agent._apply_sampler(handle, {**agent._sampler, **sampler})
    except BaseException:
        _release(agent, stop, sampler)
        raise


def _release(agent, stop, sampler):
    """Puts the agent's own stop strings and sampler back and frees the agent."""
    try:
        if stop is not None:
            agent._apply_stops(agent._handle, agent._stops)
        if sampler:
            agent._apply_sampler(agent._handle, agent._sampler)
    finally:
        agent._lock.release()


def _run_in_thread(agent, max_tokens, stop, sampler, tokens, q):
    # Holds no reference to the Generation, so that dropping one cancels its run (__del__).
    try:
        result = _run(agent, max_tokens, tokens, q.put)
    except BaseException as e:  # handed to the consumer
        result = e
    try:
        _release(agent, stop, sampler)
    except PyagentError as e:
        result = result if isinstance(result, BaseException) else e
    q.put((_DONE, result))


class Generation:
    """The text pieces of one generate call, produced as they are released (never a part of
    a stop string, never half a UTF-8 character). Iterating runs the generation on a helper
    thread; text() runs it on the calling thread. After the end: `finish_reason`
    (FinishReason), `tokens` (the generated ids, EOS included), `text_so_far`."""

    def __init__(self, agent, max_tokens, stop, sampler):
        self.agent = agent
        self.max_tokens = max_tokens
        self.tokens = []
        self.finish_reason = None
        self._stop = None if stop is None else [stop] if isinstance(stop, str) else list(stop)
        self._sampler = sampler
        self._pieces = []
        self._queue = None
        self._thread = None
        self._done = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def text_so_far(self):
        return "".join(self._pieces)

    def _finish(self, result):
        self._done = True
        if isinstance(result, BaseException):
            raise result
        status, finish, message = result
        if status != _ffi.PYAGENT_OK:
            raise error_for(status, message or lib().pyagent_status_str(status).decode())
        self.finish_reason = FinishReason(finish)

    def _flush(self):
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._pieces.append(tail)
        return tail

    def _piece(self, data):
        piece = self._decoder.decode(data)
        if piece:
            self._pieces.append(piece)
        return piece

    # -- iteration on a helper thread --------------------------------------------------------

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._thread is None:
            _take(self.agent, self._stop, self._sampler)
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=_run_in_thread, name="pyagent-generate", daemon=True,
                args=(self.agent, self.max_tokens, self._stop, self._sampler, self.tokens,
                      self._queue))
            self._thread.start()
        while True:
            item = self._queue.get()
            if isinstance(item, tuple):
                self._thread.join()
                tail = self._flush()
                self._finish(item[1])
                if tail:
                    return tail
                raise StopIteration
            piece = self._piece(item)
            if piece:
                return piece

    # -- running on the calling thread -------------------------------------------------------

    def text(self):
        """Runs (or finishes) the generation and returns all of its text."""
        if self._thread is None and not self._done:
            _take(self.agent, self._stop, self._sampler)
            try:
                result = _run(self.agent, self.max_tokens, self.tokens, self._piece)
            finally:
                _release(self.agent, self._stop, self._sampler)
            self._flush()
            self._finish(result)
        else:
            for _ in self:
                pass
        return self.text_so_far

    # -- stopping ----------------------------------------------------------------------------

    def cancel(self):
        """Asks the generation to stop after its next token (FinishReason.CANCELLED)."""
        self.agent.cancel()

    def close(self):
        """Cancels a running generation and waits until the agent is free again."""
        if self._thread is not None and not self._done:
            self.agent.cancel()
            while True:
                item = self._queue.get()
                if isinstance(item, tuple):
                    break
                self._piece(item)
            self._thread.join()
            self._flush()
            self._done = True
            result = item[1]
            if not isinstance(result, BaseException) and result[0] == _ffi.PYAGENT_OK:
                self.finish_reason = FinishReason(result[1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if self._thread is not None and not self._done:
            self.agent.cancel()

    def __repr__(self):
        return "<pyagent.Generation %d tokens, finish_reason=%s>" % (
            len(self.tokens), self.finish_reason and self.finish_reason.name)
