"""Handles are freed by the destroy functions: explicitly, by with blocks, or by the garbage
collector (weakref.finalize), and an engine is never destroyed before its agents."""
import gc

import pyagent


def test_with_blocks_destroy_agent_then_engine(model_path):
    with pyagent.Engine(model_path) as engine:
        with engine.agent() as agent:
            assert not agent.closed
        assert agent.closed and not engine.closed
    assert engine.closed


def test_a_dropped_agent_is_destroyed(engine):
    agent = engine.agent()
    finalizer = agent._finalizer
    del agent
    gc.collect()
    assert not finalizer.alive


def test_an_agent_keeps_its_engine_alive(model_path):
    engine = pyagent.Engine(model_path)
    engine_finalizer = engine._finalizer
    agent = engine.agent(temperature=0)
    del engine
    gc.collect()
    assert engine_finalizer.alive  # the agent still needs it
    agent.feed("Once upon a time")
    assert len(agent.complete(4).tokens) == 4
    agent_finalizer = agent._finalizer
    del agent
    gc.collect()
    assert not agent_finalizer.alive and not engine_finalizer.alive


def test_closing_the_engine_closes_its_agents_first(model_path):
    engine = pyagent.Engine(model_path)
    agents = [engine.agent() for _ in range(3)]
    engine.close()
    assert all(a.closed for a in agents)
    engine.close()  # idempotent
    agents[0].close()


def test_a_dropped_generation_cancels_and_frees_the_agent(long_agent):
    greedy = long_agent
    greedy.feed("Once upon a time")
    stream = greedy.generate(-1)
    next(stream)
    thread = stream._thread
    del stream
    gc.collect()
    thread.join(30)
    assert not thread.is_alive()
    greedy.feed(" and")  # not busy any more
    assert len(greedy.complete(2).tokens) == 2


def test_params_objects_are_destroyed():
    p = pyagent.Params(pyagent.ENGINE, n_threads=1)
    finalizer = p._finalizer
    del p
    gc.collect()
    assert not finalizer.alive
