"""Embeddings in, hidden states out, and adapters between the pycode pair, from Python."""
import array
import os

import pytest

import pyagent
from conftest import DATA, SOURCE_ROOT

DRAFT = os.path.join(DATA, "pycode-draft-1M-f16.gguf")
TARGET = os.path.join(DATA, "pycode-target-16M-f16.gguf")


def python_source(name):
    with open(os.path.join(SOURCE_ROOT, "bindings", "python", "pyagent", name),
              encoding="utf-8") as f:
        return f.read()


def test_token_rows_fed_as_embeddings_give_the_tokens_logits(engine):
    ids = engine.tokenize("Once upon a time", add_special=True)
    rows = engine.embed_tokens(ids)
    assert len(rows) == len(ids) * engine.info("n_embd")
    with engine.agent(temperature=0) as by_id, engine.agent(temperature=0) as by_row:
        by_id.feed(ids).prefill()
        by_row.feed_embeddings(rows).prefill()
        assert by_row.logits() == by_id.logits()
        assert by_row.tokens == [pyagent.TOKEN_EMBEDDING] * len(ids)
        assert len(by_row.hidden()) == engine.info("n_embd")
        assert by_row.complete(16).tokens == by_id.complete(16).tokens
        with pytest.raises(pyagent.InvalidArgumentError, match="whole rows"):
            by_row.feed_embeddings([0.0] * (engine.info("n_embd") + 1))
        with pytest.raises(pyagent.InvalidArgumentError, match="not a finite number"):
            by_row.feed_embeddings([float("nan")] * engine.info("n_embd"))


def test_adapter_fits_saves_loads_and_maps(tmp_path):
    with pyagent.Engine(DRAFT, n_threads=1) as s, pyagent.Engine(TARGET, n_threads=1) as t:
        adapter = pyagent.Adapter.fit(s, t, python_source("agent.py"), heldout=0.2)
        info = adapter.info
        assert (info["dim_in"], info["dim_out"]) == (128, 384)
        assert 0.25 < info["r2_heldout"] < info["r2_train"]
        path = tmp_path / "draft-to-target.pyad"
        adapter.save(path)
        loaded = pyagent.Adapter.load(s, t, path)
        assert loaded.info == info
        with s.agent() as reader:
            reader.feed(s.tokenize("def main():\n")).prefill()
            h = reader.hidden()
        rows = loaded.apply(h)
        assert rows == adapter.apply(h) and len(rows) == 384
        with t.agent(temperature=0) as receiver:
            receiver.feed_embeddings(rows).prefill()
            assert len(receiver.logits()) == t.n_vocab
        with pytest.raises(pyagent.MismatchError, match="other models"):
            pyagent.Adapter.load(t, s, path)
        adapter.close(), loaded.close()
        assert adapter.closed


def test_adapter_between_other_vocabularies_is_refused(engine):
    with pyagent.Engine(TARGET, n_threads=1) as t:
        with pytest.raises(pyagent.MismatchError, match="vocabularies"):
            pyagent.Adapter.fit(engine, t, python_source("agent.py"))


def test_embed_text_is_deterministic_and_tells_texts_apart(engine):
    a = engine.embed_text("Once upon a time, there was a cat.")
    assert len(a) == engine.info("n_embd")
    assert engine.embed_text("Once upon a time, there was a cat.") == a
    assert engine.embed_text("The dog ran to the big red barn.") != a
    with pytest.raises(pyagent.InvalidUtf8Error):
        engine.embed_text(b"\xff")


def test_semantic_cache_hits_the_same_prompt_and_counts(engine):
    cache = pyagent.SemanticCache(threshold=0.999, max_entries=4)
    prompt = "Once upon a time, there was a little girl named Lily."
    assert cache.get(engine, prompt) is None
    cache.put(engine, prompt, "She loved to play.")
    assert cache.get(engine, prompt) == "She loved to play."
    assert cache.get(engine, "The big dog barked at the red ball.") is None
    stats = cache.stats()
    assert (stats["n_entries"], stats["n_puts"], stats["n_hits"], stats["n_misses"]) == (1, 1, 1, 2)
    with pytest.raises(pyagent.OutOfRangeError):
        pyagent.SemanticCache(threshold=2.0)
    with pytest.raises(pyagent.UnknownKeyError):
        pyagent.SemanticCache(colour="blue")
    cache.close()
