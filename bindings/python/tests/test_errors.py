"""Failures surface as exceptions carrying the status code and the library's message."""
import ctypes.util
import os

import pytest

import pyagent
from pyagent import _library


def test_missing_model_is_an_io_error_with_the_path():
    with pytest.raises(pyagent.IoError) as e:
        pyagent.Engine("/nonexistent/model.gguf")
    assert e.value.status == 3
    assert "/nonexistent/model.gguf" in e.value.message
    assert isinstance(e.value, pyagent.PyagentError) and isinstance(e.value, OSError)


def test_garbage_file_is_a_bad_model(tmp_path):
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(pyagent.BadModelError) as e:
        pyagent.Engine(path)
    assert e.value.status == pyagent.BadModelError.status
    assert str(path) in e.value.message


def test_unknown_engine_param_names_the_key(model_path):
    with pytest.raises(pyagent.UnknownKeyError) as e:
        pyagent.Engine(model_path, n_thread=2)
    assert "n_thread" in e.value.message and "n_threads" in e.value.message


def test_out_of_range_param(engine):
    with pytest.raises(pyagent.OutOfRangeError) as e:
        engine.agent(top_p=1.5)
    assert "top_p" in e.value.message and isinstance(e.value, ValueError)


def test_wrong_param_type_is_an_invalid_argument():
    with pytest.raises(pyagent.InvalidArgumentError) as e:
        pyagent.Params(pyagent.SAMPLER, top_k=2.5)
    assert "top_k" in e.value.message


def test_invalid_token_and_invalid_utf8(greedy):
    with pytest.raises(pyagent.InvalidTokenError):
        greedy.feed([1, 100000])
    with pytest.raises(pyagent.InvalidUtf8Error):
        greedy.feed(b"abc\xff")
    assert greedy.tokens == []  # nothing queued on failure


def test_context_full(model_path):
    with pyagent.Engine(model_path, n_ctx=512) as e, e.agent() as a:
        with pytest.raises(pyagent.ContextFullError) as err:
            a.feed([5] * 513)
        assert err.value.status == pyagent.ContextFullError.status


def test_logits_before_any_compute_is_an_invalid_argument(greedy):
    with pytest.raises(pyagent.InvalidArgumentError):
        greedy.logits()


def test_every_status_code_has_its_exception_class():
    from pyagent import _ffi
    codes = {v for k, v in vars(_ffi).items() if k.startswith("PYAGENT_ERR_")}
    assert set(pyagent.ERRORS) == codes
    for code, cls in pyagent.ERRORS.items():
        assert issubclass(cls, pyagent.PyagentError) and cls.status == code
        err = pyagent.error_for(code, "detail")
        assert type(err) is cls and err.status == code and err.message == "detail"
    assert pyagent.status_str(pyagent.BadModelError.status) == "bad model file"


def test_abi_mismatch_is_a_clear_error():
    path = pyagent.lib().path
    with pytest.raises(pyagent.AbiMismatchError) as e:
        _library.open_library(path, abi_version=pyagent.ABI_VERSION + 1)
    message = str(e.value)
    assert "ABI %d" % pyagent.ABI_VERSION in message
    assert "ABI %d" % (pyagent.ABI_VERSION + 1) in message and path in message


def test_a_library_that_is_not_libpyagent_is_refused():
    libc = ctypes.util.find_library("c")
    with pytest.raises(pyagent.AbiMismatchError) as e:
        _library.open_library(libc)
    assert "not libpyagent" in str(e.value)


def test_a_missing_library_says_where_it_looked(monkeypatch):
    monkeypatch.setenv("PYAGENT_LIBRARY", "/nonexistent/libpyagent.so.1")
    assert _library.candidates() == [("PYAGENT_LIBRARY", "/nonexistent/libpyagent.so.1")]
    with pytest.raises(pyagent.LibraryNotFoundError) as e:
        _library.open_library("/nonexistent/libpyagent.so.1")
    assert "/nonexistent/libpyagent.so.1" in str(e.value)


def test_closed_handles_raise(model_path):
    e = pyagent.Engine(model_path)
    a = e.agent()
    e.close()
    assert a.closed
    with pytest.raises(pyagent.PyagentError):
        a.feed("x")
    with pytest.raises(pyagent.PyagentError):
        e.agent()
