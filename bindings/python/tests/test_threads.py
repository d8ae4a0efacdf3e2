"""Threads from Python: ctypes releases the GIL in every library call, so agents on several
threads run at once, and the one-thread-per-agent rule surfaces as BusyError."""
import threading

import pyagent
from conftest import reference


def test_agents_on_several_threads_match_the_reference(engine):
    _, generated = reference("Once upon a time")
    n = 4
    results = [None] * n
    errors = []
    start = threading.Barrier(n)

    def work(i):
        try:
            with engine.agent(temperature=0) as a:
                start.wait()
                a.feed("Once upon a time")
                stream = a.generate(64)
                results[i] = ("".join(stream), stream.tokens)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    texts = {r[0] for r in results}
    assert len(texts) == 1
    assert all(r[1] == generated for r in results)


def test_each_thread_its_own_sampler(engine):
    outputs = {}

    def work(seed):
        with engine.agent(temperature=1.0, seed=seed) as a:
            a.feed("Once upon a time")
            outputs[seed] = [a.complete(16).tokens for _ in range(1)][0]

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2, 1)]
    for t in threads:
        t.start()
        t.join()
    with engine.agent(temperature=1.0, seed=1) as a:
        a.feed("Once upon a time")
        assert a.complete(16).tokens == outputs[1]


def test_a_second_thread_on_a_busy_agent_gets_busy_error(long_agent):
    greedy = long_agent
    greedy.feed("Once upon a time")
    stream = greedy.generate(-1)
    next(stream)  # the generation now holds the agent on its helper thread
    caught = []

    def intruder():
        try:
            greedy.feed("more")
        except pyagent.BusyError as e:
            caught.append(e)

    t = threading.Thread(target=intruder)
    t.start()
    t.join()
    stream.close()
    assert stream.finish_reason == pyagent.FinishReason.CANCELLED
    assert caught and caught[0].status == pyagent.BusyError.status


def test_cancel_from_another_thread(long_agent):
    greedy = long_agent
    greedy.feed("Once upon a time")
    stream = greedy.generate(-1)
    first = next(stream)
    threading.Thread(target=greedy.cancel).start()
    rest = "".join(stream)
    assert stream.finish_reason == pyagent.FinishReason.CANCELLED
    assert first + rest == stream.text_so_far
