"""Generation through the Python API equals the C golden reference (llama2.c run.c)."""
import array

import pytest

import pyagent
from conftest import reference, reference_logits


@pytest.mark.parametrize("prompt", ["Once upon a time", ""])
def test_greedy_output_equals_run_c(greedy, engine, prompt):
    prompt_ids, generated = reference(prompt)
    greedy.feed(prompt)
    assert greedy.tokens == prompt_ids

    stream = greedy.generate(64)
    text = "".join(stream)

    assert stream.tokens == generated
    assert stream.finish_reason == pyagent.FinishReason.LENGTH
    assert text == engine.detokenize(generated)
    assert greedy.tokens == prompt_ids + generated


def test_complete_runs_on_the_calling_thread_with_the_same_result(greedy):
    prompt_ids, generated = reference("Once upon a time")
    greedy.feed("Once upon a time")
    done = greedy.complete(64)
    assert done.tokens == generated
    assert done.text() == done.text_so_far
    assert done.text_so_far.startswith(", there was a little girl named Lily.")


def test_feeding_token_ids_equals_feeding_text(greedy, engine):
    prompt_ids, generated = reference("Once upon a time")
    greedy.feed(prompt_ids)
    assert greedy.complete(16).tokens == generated[:16]


def test_stop_string_ends_generation_without_its_text(greedy):
    greedy.feed("Once upon a time")
    stream = greedy.generate(64, stop=["Lily"])
    text = "".join(stream)
    assert stream.finish_reason == pyagent.FinishReason.STOP
    assert text == ", there was a little girl named "
    assert greedy.stops == []  # a per-call stop does not stay


def test_agent_stop_strings_stay_until_changed(engine):
    with engine.agent(temperature=0, stop=["."]) as a:
        a.feed("Once upon a time")
        assert a.complete().text_so_far == ", there was a little girl named Lily"
        assert a.stops == ["."]
        a.stops = []
        assert a.complete(4).finish_reason == pyagent.FinishReason.LENGTH


def test_per_call_sampler_kwargs_apply_once(greedy):
    prompt_ids, generated = reference("Once upon a time")
    greedy.feed("Once upon a time")
    sampled = greedy.complete(8, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3)
    assert len(sampled.tokens) == 8
    greedy.reset()
    greedy.feed("Once upon a time")
    assert greedy.complete(64).tokens == generated  # greedy again
    assert greedy.sampler == {"temperature": 0}


def test_seeded_sampling_repeats(engine):
    runs = []
    for _ in range(2):
        with engine.agent(temperature=0.9, seed=42) as a:
            a.feed("Once upon a time")
            runs.append(a.complete(24).tokens)
    assert runs[0] == runs[1]


def test_cancel_from_inside_the_stream(long_agent):
    greedy = long_agent
    greedy.feed("Once upon a time")
    stream = greedy.generate()
    for i, _ in enumerate(stream):
        if i == 2:
            stream.cancel()
    assert stream.finish_reason == pyagent.FinishReason.CANCELLED
    assert len(stream.tokens) < 8000  # far from n_ctx: the generation runs ahead of the reader,
    # but not to the end


def test_breaking_out_and_closing_frees_the_agent(long_agent):
    greedy = long_agent
    greedy.feed("Once upon a time")
    with greedy.generate() as stream:
        next(stream)
    assert stream.finish_reason == pyagent.FinishReason.CANCELLED
    greedy.feed(" and")  # usable again
    assert greedy.complete(2).finish_reason == pyagent.FinishReason.LENGTH


@pytest.mark.parametrize("prompt,name", [("Once upon a time", "stories260K-logits-once.txt"),
                                         ("", "stories260K-logits-empty.txt")])
def test_logits_within_1e4_of_run_c(model_path, prompt, name):
    expected = reference_logits(name)
    # f32 KV: run.c's arithmetic (the default f16 KV moves these logits by ~1e-3)
    with pyagent.Engine(model_path, n_threads=1, kv_type=pyagent._ffi.PYAGENT_KV_F32) as e, \
            e.agent(temperature=0) as greedy:
        greedy.feed(prompt)
        greedy.prefill()
        got = greedy.logits()
        assert isinstance(got, array.array) and len(got) == 512
        assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-4
        assert greedy.logits(as_list=True) == got.tolist()


def test_stats_count_prompt_and_generated_tokens(greedy):
    greedy.feed("Once upon a time")
    greedy.complete(10)
    stats = greedy.stats()
    assert stats.n_prompt_tokens == 5
    assert stats.n_generated_tokens == 10
    assert stats.prefill_seconds >= 0 and stats.decode_seconds > 0
    greedy.reset()
    assert greedy.stats().n_generated_tokens == 0


def test_a_second_agent_reuses_the_prefix_the_first_computed(engine):
    prefix = "Once upon a time, there was a little girl named Lily. She loved to play outside."
    with engine.agent(temperature=0) as first, engine.agent(temperature=0) as second:
        first.feed(prefix + " One day")
        first.prefill()
        second.feed(prefix + " Her mom")
        second.prefill()
        stats = second.stats()
        assert stats.n_cached_tokens > 0
        assert stats.n_cached_tokens + stats.n_prompt_tokens == len(second.tokens)
        assert first.stats().n_cached_tokens == 0


def test_a_fork_continues_like_its_parent_without_computing_again(engine):
    prompt_ids, generated = reference("Once upon a time")
    with engine.agent(temperature=0, stop=["."]) as parent:
        parent.feed("Once upon a time")
        parent.prefill()
        with parent.fork() as child:
            assert child.tokens == prompt_ids and child.stops == ["."]
            assert child.complete(8, stop=[]).tokens == generated[:8]
            assert child.stats().n_prompt_tokens == 0  # the prefix came with the fork
        assert parent.complete(8, stop=[]).tokens == generated[:8]


def test_tokenizer_round_trip(engine):
    ids = engine.tokenize("Once upon a time", add_special=True)
    assert ids == [1, 403, 407, 261, 378]
    assert engine.detokenize(ids) == " Once upon a time"
    assert engine.detokenize(ids, strip_leading_space=True) == "Once upon a time"
    assert engine.detokenize(ids, special=True).startswith("<s>")


def test_engine_facts(engine):
    assert engine.n_vocab == 512
    assert engine.token_bos == 1
    assert engine.info("n_layer") == 5


def test_params_get_set_and_bounds():
    with pyagent.Params(pyagent.SAMPLER, temperature=0.5, top_k=7) as p:
        assert p.get("temperature") == 0.5
        assert p["top_k"] == 7
        p["top_k"] = 3
        assert p.get("top_k") == 3
    assert pyagent.Params.bounds(pyagent.SAMPLER, "top_p") == (0.0, 1.0)


def test_versions_agree():
    assert pyagent.version() == pyagent.__version__
    assert pyagent.lib().pyagent_abi_version() == pyagent.ABI_VERSION


def test_log_callback_receives_the_engine_lines(engine):
    lines = []
    engine.set_log(lambda level, message: lines.append((level, message)), pyagent.LOG_DEBUG)
    with pytest.raises(pyagent.UnknownKeyError):
        engine.info("no_such_key")
    engine.set_log(None)
    assert any(level == pyagent.LOG_DEBUG and "no_such_key" in message
               for level, message in lines), lines
