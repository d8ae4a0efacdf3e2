"""Fixtures of the pyagent tests: the bundled stories260K model and its run.c reference.

The tests use the library named by PYAGENT_LIBRARY (meson sets it to the built one) and the
test data in PYAGENT_TEST_DATA (default: tests/data of this source tree).
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))  # the package of this tree, not an installed one

import pyagent  # noqa: E402

DATA = os.environ.get("PYAGENT_TEST_DATA", os.path.join(SOURCE_ROOT, "tests", "data"))
MODEL = os.path.join(DATA, "stories260K.gguf")


def reference(prompt):
    """(prompt ids, 64 generated ids) of llama2.c run.c in stories260K-greedy.txt."""
    header = 'PROMPT: "%s"' % prompt
    state = 0
    prompt_ids = generated = None
    with open(os.path.join(DATA, "stories260K-greedy.txt"), encoding="utf-8") as f:
        for line in f:
            if state == 0 and line.startswith(header):
                state = 1
            elif state == 1 and "--- llama2.c run.c" in line:
                state = 2
            elif state == 2 and line.startswith("prompt_ids"):
                prompt_ids = [int(x) for x in line.split(":", 1)[1].split()]
            elif state == 2 and line.startswith("generated_ids"):
                generated = [int(x) for x in line.split(":", 1)[1].split()]
                break
    assert prompt_ids and len(generated) == 64
    return prompt_ids, generated


def reference_logits(name):
    values = {}
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        for line in f:
            i, v = line.split()
            values[int(i)] = float(v)
    return [values[i] for i in range(len(values))]


@pytest.fixture(scope="session")
def model_path():
    assert os.path.exists(MODEL), "test model missing: %s (set PYAGENT_TEST_DATA)" % MODEL
    return MODEL


@pytest.fixture
def engine(model_path):
    with pyagent.Engine(model_path, n_threads=1) as e:
        yield e


@pytest.fixture
def greedy(engine):
    with engine.agent(temperature=0) as a:
        yield a


@pytest.fixture
def long_agent(model_path):
    """A greedy agent whose generate(-1) runs for seconds (n_ctx 16384), so that a test can
    act on it while it runs; the tests cancel it long before the end."""
    with pyagent.Engine(model_path, n_threads=1, n_ctx=16384) as e:
        with e.agent(temperature=0) as a:
            yield a
