"""KV pruning from Python: H2O and KVzap agents through the sampler keys, a surrogate fitted on
the model's own texts, saved, loaded and used; memory figures in the agent's stats."""
import pytest

import pyagent


def own_texts(engine, n):
    texts = []
    for seed in range(1, n + 1):
        with engine.agent(temperature=1.0, seed=seed) as a:
            a.feed("")
            texts.append(a.complete(120).text())
    return texts


def test_kvzap_fit_load_and_prune(engine, tmp_path):
    path = str(tmp_path / "stories.kvzap")
    with pytest.raises(pyagent.InvalidArgumentError, match="surrogate"):
        engine.agent(kv_policy=pyagent.KV_POLICY_KVZAP, kv_window=32)
    fit = engine.fit_kvzap(own_texts(engine, 16), path)
    assert fit["n_layer"] == engine.info("n_layer")
    assert fit["top_overlap"] > 0.25  # better than chance
    assert engine.load_kvzap(path)["r2_heldout"] == fit["r2_heldout"]
    with engine.agent(temperature=0, kv_policy=pyagent.KV_POLICY_KVZAP, kv_window=32,
                      kv_heavy=16) as a:
        a.feed("Once upon a time")
        assert len(a.complete(150).tokens) == 150
        stats = a.stats()
        assert stats.n_pruned_tokens > 0 and stats.n_landmarks > 0 and stats.landmark_bytes > 0
    with open(path, "r+b") as f:  # a damaged file is refused
        f.seek(40)
        f.write(b"\xff")
    with pytest.raises(pyagent.BadPacketError):
        engine.load_kvzap(path)


def test_h2o_without_pruning_matches_plain_greedy(engine):
    with engine.agent(temperature=0) as plain, \
            engine.agent(temperature=0, kv_policy=pyagent.KV_POLICY_H2O, kv_window=400,
                         kv_entropy=1) as h2o:
        plain.feed("Once upon a time")
        h2o.feed("Once upon a time")
        assert h2o.complete(100).tokens == plain.complete(100).tokens
