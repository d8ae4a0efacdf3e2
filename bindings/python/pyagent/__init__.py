"""pyagent: Python bindings of libpyagent, embeddable multi-agent LLM inference.

    import pyagent

    with pyagent.Engine("stories260K.gguf", n_threads=2) as engine:
        with engine.agent(temperature=0) as agent:
            agent.feed("Once upon a time")
            for piece in agent.generate(32):
                print(piece, end="", flush=True)

Built on ctypes with declarations generated from include/pyagent/*.h (pyagent._ffi); the
library is found through PYAGENT_LIBRARY, pkg-config or the source tree's build/ folder and
its ABI is checked on load (see pyagent._library). The raw functions are reachable through
pyagent.lib() for what the classes do not cover.
"""
from . import _ffi
from ._library import ABI_VERSION, load, lib
from .adapter import Adapter
from .agent import Agent, AgentStats, FinishReason, Generation
from .engine import LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_NONE, LOG_WARN, Engine
from .errors import *  # noqa: F401,F403 - every exception class
from .errors import ERRORS, PyagentError, error_for
from .params import ENGINE, SAMPLER, Params
from .semantic import SemanticCache

TOKEN_EMBEDDING = _ffi.PYAGENT_TOKEN_EMBEDDING  # the id of a position fed as an embedding row
KV_POLICY_WINDOW = _ffi.PYAGENT_KV_POLICY_WINDOW  # values of the sampler key kv_policy
KV_POLICY_H2O = _ffi.PYAGENT_KV_POLICY_H2O
KV_POLICY_KVZAP = _ffi.PYAGENT_KV_POLICY_KVZAP

__version__ = "%d.%d.%d" % (_ffi.PYAGENT_VERSION_MAJOR, _ffi.PYAGENT_VERSION_MINOR,
                            _ffi.PYAGENT_VERSION_PATCH)


def version():
    """The version string of the loaded library (pyagent_version_string)."""
    return lib().version()


def status_str(status):
    """The library's fixed name of a status code (pyagent_status_str)."""
    return lib().pyagent_status_str(status).decode()


__all__ = ["ABI_VERSION", "Adapter", "Agent", "AgentStats", "ENGINE", "Engine", "FinishReason",
           "Generation", "KV_POLICY_H2O", "KV_POLICY_KVZAP", "KV_POLICY_WINDOW", "LOG_DEBUG", "LOG_ERROR", "LOG_INFO", "LOG_NONE", "LOG_WARN", "Params",
           "PyagentError", "SAMPLER", "SemanticCache", "TOKEN_EMBEDDING", "error_for", "lib", "load", "status_str",
           "version"] + \
    sorted({cls.__name__ for cls in ERRORS.values()} | {"LibraryNotFoundError"})
