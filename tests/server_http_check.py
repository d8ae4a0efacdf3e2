#!/usr/bin/env python3
"""pyagent-server over HTTP, as a client sees it: a server started by the test on a loopback
port (--port 0), stories260K, the Python standard library as the client.

usage: server_http_check.py PYAGENT_SERVER DATA_DIR [unittest args]
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "server"))
from harness import API_KEY, Server, read_sse  # noqa: E402
import gguf_meta  # noqa: E402

BINARY = DATA = MODEL = None
server = None  # the shared server of most tests (API key API_KEY)

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
PROMPT = "Once upon a time"
# Long enough for several 16-token KV blocks, so that a repeat hits the prefix cache.
LONG_PROMPT = ("Once upon a time, there was a little girl named Lily. She loved to play outside "
               "in the park with her friends. One day, she saw a big red ball under a tree.")


def setUpModule():
    global server
    server = Server(BINARY, MODEL)


def tearDownModule():
    status = server.stop()
    assert status == 0, f"exit status {status}\n{server.stderr()}"


def llama_cli_greedy():
    """The 64 greedy tokens after "Once upon a time" from llama.cpp (tests/data)."""
    lines = open(os.path.join(DATA, "stories260K-greedy.txt"), encoding="utf-8").read().split("\n")
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("--- llama-cli (stdout; prompt echo + 64 tokens)"))
    block = []
    for line in lines[start + 1:]:
        if line == "":
            break
        block.append(line)
    echo = "\n".join(block)
    return echo[len(PROMPT) + 1:]


def chat_body(content=PROMPT, **kw):
    body = {"model": "stories260K", "messages": [{"role": "user", "content": content}],
            "temperature": 0, "max_tokens": 16}
    body.update(kw)
    return body


def assert_openai_error(test, status, body, want_status, want_param=None, want_code=None):
    test.assertEqual(status, want_status, body)
    test.assertIsInstance(body, dict, body)
    err = body.get("error")
    test.assertIsInstance(err, dict, body)
    test.assertEqual(set(err), {"message", "type", "param", "code"}, body)
    test.assertTrue(err["message"], body)
    if want_param is not None:
        test.assertEqual(err["param"], want_param, body)
    if want_code is not None:
        test.assertEqual(err["code"], want_code, body)


def stream_text(test, events, chat=True):
    """The text of a chat/completion SSE stream; checks its shape and [DONE] at the end."""
    test.assertEqual(events[-1], "[DONE]", events[-3:])
    chunks = [json.loads(e) for e in events[:-1]]
    text = ""
    for c in chunks:
        for choice in c["choices"]:
            text += (choice["delta"].get("content") or "") if chat else choice["text"]
    return text, chunks


# ---------------------------------------------------------------------------------------------
# Basics and authentication


class Basics(unittest.TestCase):
    def test_health_needs_no_key(self):
        status, body = server.json("GET", "/health", key="")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")

    def test_banner_prints_the_url(self):
        self.assertIn(f"http://127.0.0.1:{server.port}/", server.banner)
        self.assertIn("API key required", server.banner)

    def test_missing_or_wrong_key_is_401(self):
        for key in ("", "wrong-key", API_KEY + "x", API_KEY[:-1]):
            status, body = server.json("GET", "/v1/models", key=key)
            assert_openai_error(self, status, body, 401, want_code="invalid_api_key")
        status, body = server.json("POST", CHAT, chat_body(), key="nope")
        assert_openai_error(self, status, body, 401)
        status, _, _ = server.request("GET", "/metrics", key="nope")
        self.assertEqual(status, 401)
        # "Bearer" is case-insensitive, other schemes are not keys
        status, _, _ = server.request("GET", "/v1/models", key="",
                                      headers={"Authorization": "bearer " + API_KEY})
        self.assertEqual(status, 200)
        status, _, _ = server.request("GET", "/v1/models", key="",
                                      headers={"Authorization": "Basic " + API_KEY})
        self.assertEqual(status, 401)

    def test_models_lists_the_served_model(self):
        status, body = server.json("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(body["object"], "list")
        (model,) = body["data"]
        self.assertEqual(model["id"], "stories260K")
        self.assertEqual(model["object"], "model")
        self.assertEqual(model["meta"]["n_vocab"], 512)
        self.assertEqual(model["meta"]["chat_template"], "none")
        status, one = server.json("GET", "/v1/models/stories260K")
        self.assertEqual((status, one["id"]), (200, "stories260K"))
        status, body = server.json("GET", "/v1/models/gpt-4o")
        assert_openai_error(self, status, body, 404, want_code="model_not_found")

    def test_unknown_paths_and_methods(self):
        status, body = server.json("GET", "/v1/nothing")
        assert_openai_error(self, status, body, 404)
        status, body = server.json("GET", CHAT)
        assert_openai_error(self, status, body, 405)
        status, body = server.json("DELETE", "/v1/models")
        assert_openai_error(self, status, body, 405)

    def test_model_layout_describes_the_network(self):
        status, body = server.json("GET", "/v1/model/layout")
        self.assertEqual(status, 200)
        self.assertEqual((body["n_layer"], body["n_embd"], body["n_head"], body["n_head_kv"]),
                         (5, 64, 8, 4))
        self.assertEqual(body["architecture"], "llama")
        names = [t["name"] for t in body["layer_tensors"]]
        self.assertIn("attn_k", names)
        self.assertEqual(body["layer_tensors"][names.index("attn_k")]["shape"], [32, 64])
        self.assertEqual(body["layer_tensors"][names.index("attn_k")]["type"], "f32")
        # every tensor of the file, as stored: 5 layers of 9, the embedding and the output norm
        files = {t["name"]: t for t in body["tensors"]}
        self.assertEqual(sum(name.startswith("blk.") for name in files), 45)
        self.assertEqual(files["token_embd.weight"]["shape"], [512, 64])
        self.assertEqual(files["token_embd.weight"]["bytes"], 512 * 64 * 4)

    def test_embeddings_are_openai_shaped_and_deterministic(self):
        status, body = server.json("POST", "/v1/embeddings",
                                   {"model": "x", "input": ["Once upon a time", "Tim ran home.",
                                                            "Once upon a time"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "list")
        vectors = [d["embedding"] for d in body["data"]]
        self.assertEqual([d["index"] for d in body["data"]], [0, 1, 2])
        self.assertEqual([len(v) for v in vectors], [64, 64, 64])
        self.assertEqual(vectors[0], vectors[2])
        self.assertNotEqual(vectors[0], vectors[1])
        self.assertGreater(body["usage"]["prompt_tokens"], 6)
        status, one = server.json("POST", "/v1/embeddings", {"input": "Tim ran home."})
        self.assertEqual(status, 200, one)
        self.assertEqual(one["data"][0]["embedding"], vectors[1])
        for bad in ({"input": 3}, {"input": []}, {"input": [""]}, {}):
            status, err = server.json("POST", "/v1/embeddings", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("input", err["error"]["message"])

    def test_kv_tree_lists_the_shared_prefix_blocks(self):
        prompt = "Once upon a time, there was a little girl named Lily. She loved to play " \
                 "outside in the park with her friends every single day."
        for _ in range(2):
            status, body = server.json("POST", COMPLETIONS,
                                       {"prompt": prompt, "max_tokens": 2, "temperature": 0})
            self.assertEqual(status, 200, body)
        status, tree = server.json("GET", "/v1/kv/tree")
        self.assertEqual(status, 200, tree)
        nodes = {n["id"]: n for n in tree["nodes"]}
        self.assertEqual(tree["n_nodes"], len(nodes))
        self.assertGreaterEqual(len(nodes), 2)
        for n in nodes.values():  # the children counts agree with the parent links
            self.assertEqual(n["children"], sum(m["parent"] == n["id"] for m in nodes.values()))
        # some chain from a root spells the prompt's beginning (other tests' prompts are there
        # too; BOS shows as the control token it is)
        def chains(node, text):
            text += node["text"]
            yield text.replace("<s>", "").strip()
            for child in nodes.values():
                if child["parent"] == node["id"]:
                    yield from chains(child, text)
        texts = [t for root in nodes.values() if root["parent"] not in nodes
                 for t in chains(root, "")]
        self.assertTrue(any(len(t) > 60 and prompt.startswith(t) for t in texts), texts)


# ---------------------------------------------------------------------------------------------
# Generation


class Generation(unittest.TestCase):
    def test_greedy_completion_equals_llama_cpp(self):
        status, body = server.json("POST", COMPLETIONS,
                                   {"prompt": PROMPT, "max_tokens": 64, "temperature": 0})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "text_completion")
        self.assertEqual(body["choices"][0]["text"], llama_cli_greedy())
        self.assertEqual(body["choices"][0]["finish_reason"], "length")
        usage = body["usage"]
        self.assertEqual(usage["prompt_tokens"], 5)  # BOS + 4
        self.assertEqual(usage["completion_tokens"], 64)
        self.assertEqual(usage["total_tokens"], 69)
        self.assertIn("cached_tokens", usage["prompt_tokens_details"])
        t = body["timings"]
        for key in ("cache_n", "prompt_n", "prompt_ms", "prompt_per_second", "predicted_n",
                    "predicted_ms", "predicted_per_second", "ttft_ms"):
            self.assertIn(key, t)
        self.assertEqual(t["predicted_n"], 64)
        self.assertEqual(t["cache_n"] + t["prompt_n"], 5)

    def test_chat_without_a_template_is_plain_completion(self):
        status, chat = server.json("POST", CHAT, chat_body(max_tokens=64))
        self.assertEqual(status, 200, chat)
        self.assertEqual(chat["object"], "chat.completion")
        msg = chat["choices"][0]["message"]
        self.assertEqual(msg["role"], "assistant")
        self.assertEqual(msg["content"], llama_cli_greedy())
        self.assertTrue(chat["id"].startswith("chatcmpl-"))
        self.assertEqual(chat["model"], "stories260K")

    def test_prompt_as_token_ids(self):
        status, tok = server.json("POST", "/tokenize", {"content": PROMPT, "add_special": True})
        self.assertEqual(status, 200, tok)
        self.assertEqual(len(tok["tokens"]), 5)
        self.assertEqual(tok["tokens"][0], 1)  # BOS
        _, by_text = server.json("POST", COMPLETIONS,
                                 {"prompt": PROMPT, "max_tokens": 8, "temperature": 0})
        status, by_ids = server.json("POST", COMPLETIONS,
                                     {"prompt": tok["tokens"], "max_tokens": 8, "temperature": 0})
        self.assertEqual(status, 200, by_ids)
        self.assertEqual(by_ids["choices"][0]["text"], by_text["choices"][0]["text"])
        self.assertEqual(by_ids["usage"]["prompt_tokens"], 5)
        status, back = server.json("POST", "/detokenize", {"tokens": tok["tokens"][1:]})
        self.assertEqual((status, back["content"]), (200, " " + PROMPT))
        status, body = server.json("POST", "/detokenize", {"tokens": [5000]})
        assert_openai_error(self, status, body, 400, want_param="tokens")

    def test_streaming_chat_has_openai_chunks_and_done(self):
        status, whole = server.json("POST", CHAT, chat_body(max_tokens=24))
        status, events, _ = server.stream(CHAT, chat_body(max_tokens=24, stream=True,
                                                          stream_options={"include_usage": True}))
        self.assertEqual(status, 200, events)
        text, chunks = stream_text(self, events)
        self.assertEqual(text, whole["choices"][0]["message"]["content"])
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["id"], chunks[0]["id"])
        finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        self.assertEqual(len(finals), 1)
        self.assertEqual(finals[0]["choices"][0]["finish_reason"], "length")
        self.assertIn("timings", finals[0])
        usage_chunk = chunks[-1]
        self.assertEqual(usage_chunk["choices"], [])
        self.assertEqual(usage_chunk["usage"]["completion_tokens"], 24)

    def test_streaming_completion(self):
        status, events, _ = server.stream(COMPLETIONS, {"prompt": PROMPT, "max_tokens": 64,
                                                        "temperature": 0, "stream": True})
        self.assertEqual(status, 200)
        text, chunks = stream_text(self, events, chat=False)
        self.assertEqual(text, llama_cli_greedy())
        self.assertTrue(all(c["object"] == "text_completion" for c in chunks))
        self.assertNotIn("usage", chunks[-1])  # only with stream_options.include_usage

    def test_repeated_prompt_reports_cached_tokens(self):
        body = {"prompt": LONG_PROMPT, "max_tokens": 4, "temperature": 0}
        _, first = server.json("POST", COMPLETIONS, body)
        _, second = server.json("POST", COMPLETIONS, body)
        n = first["usage"]["prompt_tokens"]
        self.assertGreater(n, 32)
        cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
        self.assertGreaterEqual(cached, 32, second)
        self.assertLess(cached, n + 1)
        self.assertEqual(second["timings"]["cache_n"], cached)
        self.assertEqual(second["choices"][0]["text"], first["choices"][0]["text"])
        # a different cache_salt does not share the blocks
        salted = dict(body, cache_salt="tenant-b")
        _, third = server.json("POST", COMPLETIONS, salted)
        self.assertEqual(third["usage"]["prompt_tokens_details"]["cached_tokens"], 0)

    def test_stop_string_ends_generation_without_itself(self):
        expected = llama_cli_greedy()
        stop = " little"
        self.assertIn(stop, expected)
        _, body = server.json("POST", COMPLETIONS, {"prompt": PROMPT, "max_tokens": 64,
                                                    "temperature": 0, "stop": [stop]})
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        self.assertEqual(body["choices"][0]["text"], expected[:expected.index(stop)])

    def test_seeded_sampling_is_reproducible(self):
        body = {"prompt": PROMPT, "max_tokens": 24, "temperature": 1.0, "seed": 42, "top_k": 0}
        _, a = server.json("POST", COMPLETIONS, body)
        _, b = server.json("POST", COMPLETIONS, body)
        self.assertEqual(a["choices"][0]["text"], b["choices"][0]["text"])

    def test_speculative_decoding_is_lossless_and_counted(self):
        body = {"prompt": PROMPT, "max_tokens": 64, "temperature": 0}
        before = server.metrics()
        for mode in ("lookup", "self"):
            status, spec = server.json("POST", COMPLETIONS, dict(body, speculative=mode))
            self.assertEqual(status, 200, spec)
            self.assertEqual(spec["choices"][0]["text"], llama_cli_greedy(), mode)
            self.assertGreater(spec["timings"]["draft_n"], 0)
            self.assertLessEqual(spec["timings"]["draft_n_accepted"], spec["timings"]["draft_n"])
        after = server.metrics()
        self.assertGreater(after["pyagent_spec_draft_tokens_total"],
                           before["pyagent_spec_draft_tokens_total"])
        self.assertGreater(after["pyagent_spec_verify_steps_total"],
                           before["pyagent_spec_verify_steps_total"])
        status, reply = server.json("POST", COMPLETIONS, dict(body, speculative="turbo"))
        assert_openai_error(self, status, reply, 400, want_param="speculative")

    def test_concurrent_requests_batch_to_the_same_answer(self):
        results = [None] * 12

        def one(i):
            results[i] = server.json("POST", COMPLETIONS,
                                     {"prompt": PROMPT, "max_tokens": 64, "temperature": 0,
                                      "stream": False})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for status, body in results:
            self.assertEqual(status, 200, body)
            self.assertEqual(body["choices"][0]["text"], llama_cli_greedy())

    def test_labels_reach_the_running_request(self):
        status, body = server.json("POST", CHAT, chat_body(session_id="sess-1", agent_id="bot",
                                                           cache_salt="tenant-a"))
        self.assertEqual(status, 200, body)


# ---------------------------------------------------------------------------------------------
# Bad input: 400 with an OpenAI error body, never a crash


class BadInput(unittest.TestCase):
    def test_malformed_bodies_are_400(self):
        cases = [
            (CHAT, b"", None),
            (CHAT, b"{", None),
            (CHAT, b"not json", None),
            (CHAT, b"[]", None),
            (CHAT, b"\xff\xfe{}", None),
            (CHAT, b"{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}", None),
            (CHAT, {"messages": "hi"}, "messages"),
            (CHAT, {"messages": []}, "messages"),
            (CHAT, {"messages": [{"role": "user"}], "temperature": "warm"}, "temperature"),
            (CHAT, {"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
            (CHAT, chat_body(temperature=-1), "temperature"),
            (CHAT, chat_body(top_p=7), "top_p"),
            (CHAT, chat_body(max_tokens=0), "max_tokens"),
            (CHAT, chat_body(max_tokens=10 ** 9), "max_tokens"),
            (CHAT, chat_body(n=3), "n"),
            (CHAT, chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
            (CHAT, chat_body(stream="yes"), "stream"),
            (CHAT, chat_body(cache_salt="x" * 200), "cache_salt"),
            (COMPLETIONS, {"prompt": [1, 99999]}, "prompt"),
            (COMPLETIONS, {"prompt": {"text": "x"}}, "prompt"),
            (COMPLETIONS, {"prompt": PROMPT, "logprobs": 5}, "logprobs"),
        ]
        for path, body, param in cases:
            status, reply = server.json("POST", path, body)
            assert_openai_error(self, status, reply, 400, want_param=param)
        deep = b"[" * 100000 + b"]" * 100000
        status, reply = server.json("POST", CHAT, deep)
        assert_openai_error(self, status, reply, 400)
        status, body = server.json("GET", "/health")
        self.assertEqual(status, 200)

    def test_prompt_past_the_context_is_context_length_exceeded(self):
        status, body = server.json("POST", COMPLETIONS, {"prompt": "a b " * 600, "max_tokens": 4})
        assert_openai_error(self, status, body, 400, want_code="context_length_exceeded")

    def test_body_over_the_limit_is_413_before_it_is_read(self):
        # announced by Content-Length: answered after the headers, the body never sent
        reply = server.raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                           + API_KEY.encode() + b"\r\nContent-Length: 3145739\r\n\r\n{\"pro")
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        self.assertIn(b'"code":"body_too_large"', reply)
        # without Content-Length (chunked): refused once it passes the limit
        piece = b"x" * 65536
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(40)) + b"0\r\n\r\n"
        reply = server.raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                           + API_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n"
                           b"Connection: close\r\n\r\n" + chunked)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])

    def test_garbage_on_the_socket_does_not_hurt(self):
        for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST\r\n\r\n",
                     b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 5000 + b"\r\n"):
            server.raw(junk, timeout=5)
        server.raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                   b"\r\n{\"mess", read=False)
        status, body = server.json("GET", "/health")
        self.assertEqual(status, 200)

    def test_dashboard_files_cannot_escape_the_web_folder(self):
        for path in ("/../meson.build", "/%2e%2e/meson.build", "/.hidden", "/vendor/../x",
                     "/web/../../README.md"):
            status, _, _ = server.request("GET", path, key="")
            self.assertEqual(status, 404, path)
        status, headers, data = server.request("GET", "/", key="")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers["Content-Type"])


# ---------------------------------------------------------------------------------------------
# Agents


class Agents(unittest.TestCase):
    def test_create_turn_fork_list_delete(self):
        status, a = server.json("POST", "/v1/agents", {"session_id": "trip", "agent_id": "planner",
                                                       "prompt": LONG_PROMPT, "temperature": 0})
        self.assertEqual(status, 201, a)
        self.assertEqual((a["object"], a["agent_id"], a["session_id"]),
                         ("agent", "planner", "trip"))
        self.assertGreater(a["stats"]["prompt_tokens"], 32)  # prefilled at creation
        status, child = server.json("POST", f"/v1/agents/{a['id']}/fork", {"agent_id": "critic"})
        self.assertEqual(status, 201, child)
        self.assertEqual((child["parent"], child["agent_id"], child["session_id"]),
                         (a["id"], "critic", "trip"))
        # the turns continue each agent's own sequence
        status, turn = server.json("POST", f"/v1/agents/{child['id']}/completions",
                                   {"prompt": " She", "max_tokens": 8})
        self.assertEqual(status, 200, turn)
        self.assertEqual(turn["usage"]["prompt_tokens"], 1)
        self.assertEqual(turn["usage"]["completion_tokens"], 8)
        status, again = server.json("POST", f"/v1/agents/{child['id']}/completions",
                                    {"max_tokens": 4})
        self.assertEqual((status, again["usage"]["prompt_tokens"]), (200, 0))
        status, full = server.json("GET", f"/v1/agents/{child['id']}")
        self.assertEqual(status, 200)
        self.assertTrue(full["text"].endswith(turn["choices"][0]["text"] +
                                              again["choices"][0]["text"]), full["text"])
        self.assertIn("She", full["text"])
        status, listing = server.json("GET", "/v1/agents")
        ids = [x["id"] for x in listing["data"]]
        self.assertIn(a["id"], ids)
        self.assertIn(child["id"], ids)
        # the fork shares the parent's blocks: the KV store copied at most the partial one
        m = server.metrics()
        self.assertGreaterEqual(m[f'pyagent_agent_generated_tokens_total{{agent="{child["id"]}",'
                                  f'agent_id="critic",session_id="trip"}}'], 12)
        for x in (child, a):
            status, gone = server.json("DELETE", f"/v1/agents/{x['id']}")
            self.assertEqual((status, gone["deleted"]), (200, True))
            status, body = server.json("GET", f"/v1/agents/{x['id']}")
            assert_openai_error(self, status, body, 404, want_code="agent_not_found")

    def test_chat_turns_on_an_agent(self):
        status, a = server.json("POST", "/v1/agents", {
            "messages": [{"role": "system", "content": "Tell stories."}], "temperature": 0})
        self.assertEqual(status, 201, a)
        status, turn = server.json("POST", f"/v1/agents/{a['id']}/chat/completions",
                                   {"messages": [{"role": "user", "content": PROMPT}],
                                    "max_tokens": 8})
        self.assertEqual(status, 200, turn)
        self.assertEqual(turn["object"], "chat.completion")
        status, events, _ = server.stream(f"/v1/agents/{a['id']}/chat/completions",
                                          {"messages": [{"role": "user", "content": "Then"}],
                                           "max_tokens": 8, "stream": True})
        self.assertEqual(status, 200, events)
        text, _ = stream_text(self, events)
        self.assertTrue(text)
        server.json("DELETE", f"/v1/agents/{a['id']}")

    def test_handoff_through_the_latent_link(self):
        _, a = server.json("POST", "/v1/agents", {"agent_id": "reader", "session_id": "doc",
                                                  "prompt": LONG_PROMPT, "temperature": 0})
        status, b = server.json("POST", f"/v1/agents/{a['id']}/handoff", {"agent_id": "writer"})
        self.assertEqual(status, 201, b)
        self.assertEqual((b["parent"], b["agent_id"], b["session_id"]), (a["id"], "writer", "doc"))
        self.assertEqual(b["handoff_tokens"],
                         a["stats"]["prompt_tokens"] + a["stats"]["cached_tokens"])
        # the receiver continues exactly as the sender (or a fork of it) would
        _, fork = server.json("POST", f"/v1/agents/{a['id']}/fork", {})
        _, by_fork = server.json("POST", f"/v1/agents/{fork['id']}/completions", {"max_tokens": 16})
        status, by_handoff = server.json("POST", f"/v1/agents/{b['id']}/completions",
                                         {"max_tokens": 16})
        self.assertEqual(status, 200, by_handoff)
        self.assertEqual(by_handoff["usage"]["prompt_tokens"], 0)
        self.assertEqual(by_handoff["choices"][0]["text"], by_fork["choices"][0]["text"])
        # to an existing agent whose sequence is the sender's beginning (here: empty) ...
        _, empty = server.json("POST", "/v1/agents", {"temperature": 0})
        status, filled = server.json("POST", f"/v1/agents/{a['id']}/handoff", {"to": empty["id"]})
        self.assertEqual((status, filled["id"]), (200, empty["id"]), filled)
        # ... and not to one that holds something else
        _, other = server.json("POST", "/v1/agents", {"prompt": "The dog"})
        status, body = server.json("POST", f"/v1/agents/{a['id']}/handoff", {"to": other["id"]})
        assert_openai_error(self, status, body, 409, want_code="latent_mismatch")
        status, body = server.json("POST", f"/v1/agents/{a['id']}/handoff", {"to": a["id"]})
        assert_openai_error(self, status, body, 400, want_param="to")
        status, body = server.json("POST", f"/v1/agents/{a['id']}/handoff", {"to": "agent-0"})
        assert_openai_error(self, status, body, 404)

        # to another server: the packet over HTTP
        status, headers, packet = server.request("GET", f"/v1/agents/{a['id']}/latent")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertEqual(packet[:4], b"PALK")
        status, _, q8 = server.request("GET", f"/v1/agents/{a['id']}/latent?payload=q8_0")
        self.assertEqual(status, 200)
        self.assertLess(len(q8), len(packet))
        for query in ("?payload=f8", "?from=-1"):
            status, body = server.json("GET", f"/v1/agents/{a['id']}/latent{query}")
            assert_openai_error(self, status, body, 400)
        with Server(BINARY, MODEL) as two:
            status, imported = two.json("POST", "/v1/agents/import?agent_id=remote", packet,
                                        headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(status, 201, imported)
            self.assertEqual(imported["agent_id"], "remote")
            _, full = two.json("GET", f"/v1/agents/{imported['id']}")
            self.assertIn(LONG_PROMPT, full["text"])
            status, remote = two.json("POST", f"/v1/agents/{imported['id']}/completions",
                                      {"max_tokens": 16, "temperature": 0})
            self.assertEqual(remote["choices"][0]["text"], by_fork["choices"][0]["text"])
            status, body = two.json("POST", "/v1/agents/import", b"PALK" + b"\0" * 60)
            assert_openai_error(self, status, body, 400)
            self.assertEqual(two.stop(), 0, two.stderr())
        for x in (a, b, fork, empty, other):
            server.json("DELETE", f"/v1/agents/{x['id']}")

    def test_agents_are_private_to_their_key(self):
        with Server(BINARY, MODEL, "--api-key", "second-key") as two:
            status, a = two.json("POST", "/v1/agents", {"agent_id": "mine"})
            self.assertEqual(status, 201)
            status, body = two.json("GET", f"/v1/agents/{a['id']}", key="second-key")
            assert_openai_error(self, status, body, 404)
            status, listing = two.json("GET", "/v1/agents", key="second-key")
            self.assertEqual(listing["data"], [])
            status, body = two.json("DELETE", f"/v1/agents/{a['id']}", key="second-key")
            self.assertEqual(status, 404)
            self.assertEqual(two.stop(), 0, two.stderr())

    def test_agent_errors(self):
        status, body = server.json("POST", "/v1/agents/agent-999999/completions", {"prompt": "x"})
        assert_openai_error(self, status, body, 404)
        status, body = server.json("POST", "/v1/agents", {"temperature": "cold"})
        assert_openai_error(self, status, body, 400, want_param="temperature")
        status, a = server.json("POST", "/v1/agents", {"cache_salt": "s"})
        status, body = server.json("POST", f"/v1/agents/{a['id']}/fork", {"cache_salt": "t"})
        assert_openai_error(self, status, body, 400, want_param="cache_salt")
        status, body = server.json("PUT", f"/v1/agents/{a['id']}")
        self.assertEqual(status, 404)
        server.json("DELETE", f"/v1/agents/{a['id']}")


# ---------------------------------------------------------------------------------------------
# Metrics, stats, events


class Observability(unittest.TestCase):
    def test_metrics_follow_the_requests(self):
        before = server.metrics()
        _, body = server.json("POST", COMPLETIONS, {"prompt": PROMPT, "max_tokens": 10,
                                                    "temperature": 0})
        after = server.metrics()

        def delta(name):
            return after[name] - before.get(name, 0)

        self.assertEqual(delta("pyagent_generated_tokens_total"), 10)
        self.assertEqual(delta("pyagent_prompt_tokens_total"), 5)
        self.assertEqual(delta('pyagent_requests_total{endpoint="completions"}'), 1)
        self.assertEqual(delta('pyagent_generations_total{finish="length"}'), 1)
        self.assertEqual(delta("pyagent_time_to_first_token_seconds_count"), 1)
        self.assertEqual(after["pyagent_requests_processing"], 0)
        self.assertEqual(after["pyagent_requests_waiting"], 0)
        for name in ('pyagent_kv_blocks{state="used"}', 'pyagent_kv_blocks{state="cached"}',
                     "pyagent_kv_blocks_total", "pyagent_kv_prefix_hit_ratio",
                     "pyagent_kv_usage_ratio", 'pyagent_agents{kind="persistent"}',
                     "pyagent_generation_tokens_per_second"):
            self.assertIn(name, after)
        self.assertEqual(after['pyagent_time_to_first_token_seconds_bucket{le="+Inf"}'],
                         after["pyagent_time_to_first_token_seconds_count"])

    def test_stats_json_for_the_dashboard(self):
        status, stats = server.json("GET", "/v1/stats")
        self.assertEqual(status, 200)
        for key in ("tokens", "kv", "ttft", "agents", "running", "tokens_per_second"):
            self.assertIn(key, stats)
        self.assertEqual(stats["kv"]["block_size"], 16)

    def test_event_feed_carries_tokens_of_running_requests(self):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        conn.request("GET", "/v1/events", headers=server.headers())
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.readline(), b": pyagent-server events\n")
        _, body = server.json("POST", COMPLETIONS, {"prompt": PROMPT, "max_tokens": 12,
                                                    "temperature": 0})
        events = []
        while not any(e.get("type") == "end" for e in events):
            line = r.readline().decode()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        conn.close()
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "start")
        self.assertEqual(events[0]["id"], body["id"])
        text = "".join(e["text"] for e in events if e["type"] == "token")
        self.assertEqual(text, body["choices"][0]["text"])
        self.assertEqual(events[-1]["completion_tokens"], 12)


# ---------------------------------------------------------------------------------------------
# Limits, disconnects, timeouts (servers of their own)

LONG = {"prompt": PROMPT, "max_tokens": 4000, "temperature": 0, "stream": True}


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Limits(unittest.TestCase):
    def test_concurrency_limit_429_and_disconnect_cancels(self):
        with Server(BINARY, MODEL, "-c", "4096", "--max-concurrent", "1") as s:
            conn, r = s.open_stream(COMPLETIONS, LONG)
            self.assertEqual(r.status, 200)
            r.readline()  # generation is running
            status, body = s.json("POST", COMPLETIONS, {"prompt": "x", "max_tokens": 1})
            assert_openai_error(self, status, body, 429, want_code="rate_limit_exceeded")
            t0 = time.time()
            conn.close()  # the client goes away: its generation must stop
            self.assertTrue(wait_for(lambda: s.metrics()["pyagent_requests_processing"] == 0))
            self.assertLess(time.time() - t0, 3.0)
            m = s.metrics()
            self.assertEqual(m["pyagent_client_disconnects_total"], 1)
            self.assertEqual(m["pyagent_requests_rejected_total"], 1)
            self.assertLess(m["pyagent_generated_tokens_total"], 4000)
            status, body = s.json("POST", COMPLETIONS, {"prompt": "x", "max_tokens": 1})
            self.assertEqual(status, 200, body)
            self.assertEqual(s.stop(), 0, s.stderr())

    def test_pruned_agents_and_the_host_tier(self):
        with Server(BINARY, MODEL, "--kv-window", "32", "--kv-policy", "h2o",
                    "--kv-host-tier", "1048576") as s:
            status, body = s.json("POST", COMPLETIONS,
                                  {"prompt": PROMPT, "max_tokens": 120, "temperature": 0})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["usage"]["completion_tokens"], 120)
            self.assertEqual(s.stop(), 0, s.stderr())
        # a surrogate that cannot be read: the server says so and does not start
        run = subprocess.run([BINARY, "-m", MODEL, "--port", "0", "--kvzap", "/nonexistent.kvzap"],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("/nonexistent.kvzap", run.stderr)

    def test_non_streaming_client_disconnect_cancels(self):
        with Server(BINARY, MODEL, "-c", "4096") as s:
            conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
            conn.request("POST", COMPLETIONS, body=json.dumps(dict(LONG, stream=False)),
                         headers=s.headers())
            self.assertTrue(wait_for(lambda: s.metrics()["pyagent_requests_processing"] == 1))
            conn.close()
            self.assertTrue(wait_for(lambda: s.metrics()["pyagent_requests_processing"] == 0,
                                     timeout=3))
            self.assertEqual(s.metrics()["pyagent_client_disconnects_total"], 1)
            self.assertEqual(s.stop(), 0, s.stderr())

    def test_request_timeout_cuts_generation(self):
        with Server(BINARY, MODEL, "-c", "4096", "--timeout", "0.3") as s:
            t0 = time.time()
            status, body = s.json("POST", COMPLETIONS, dict(LONG, stream=False))
            self.assertEqual(status, 200, body)
            self.assertLess(time.time() - t0, 3.0)
            self.assertEqual(body["choices"][0]["finish_reason"], "length")
            self.assertLess(body["usage"]["completion_tokens"], 4000)
            self.assertEqual(s.metrics()["pyagent_request_timeouts_total"], 1)
            self.assertEqual(s.stop(), 0, s.stderr())

    def test_prompt_and_agent_limits(self):
        with Server(BINARY, MODEL, "--max-prompt-tokens", "8", "--max-agents", "2",
                    "--max-tokens", "32", "--max-body", "1000") as s:
            status, body = s.json("POST", COMPLETIONS, {"prompt": LONG_PROMPT})
            assert_openai_error(self, status, body, 400, want_code="context_length_exceeded")
            status, body = s.json("POST", COMPLETIONS, {"prompt": PROMPT, "max_tokens": 33})
            assert_openai_error(self, status, body, 400, want_param="max_tokens")
            status, body = s.json("POST", COMPLETIONS, {"prompt": PROMPT})
            self.assertEqual((status, body["usage"]["completion_tokens"]), (200, 32))
            status, body = s.json("POST", COMPLETIONS, {"prompt": "x" * 1000})
            self.assertEqual(status, 413)
            for _ in range(2):
                self.assertEqual(s.json("POST", "/v1/agents", {})[0], 201)
            status, body = s.json("POST", "/v1/agents", {})
            assert_openai_error(self, status, body, 429, want_code="too_many_agents")
            self.assertEqual(s.stop(), 0, s.stderr())

    def test_busy_agent_is_409_and_delete_cancels_it(self):
        with Server(BINARY, MODEL, "-c", "4096") as s:
            _, a = s.json("POST", "/v1/agents", {"prompt": PROMPT, "temperature": 0})
            conn, r = s.open_stream(f"/v1/agents/{a['id']}/completions", LONG)
            r.readline()
            status, body = s.json("POST", f"/v1/agents/{a['id']}/completions", {"prompt": "x"})
            assert_openai_error(self, status, body, 409, want_code="agent_busy")
            status, body = s.json("DELETE", f"/v1/agents/{a['id']}")
            self.assertEqual(status, 200)
            events, _ = read_sse(r)  # ends early: the agent was cancelled
            conn.close()
            self.assertEqual(events[-1], "[DONE]")
            text, chunks = stream_text(self, events, chat=False)
            self.assertLess(len(chunks), 4000)
            self.assertTrue(wait_for(lambda: s.metrics()['pyagent_agents{kind="persistent"}'] == 0))
            self.assertEqual(s.stop(), 0, s.stderr())

    def test_shutdown_with_open_streams_is_clean(self):
        s = Server(BINARY, MODEL, "-c", "4096")
        conns = [s.open_stream(COMPLETIONS, LONG) for _ in range(3)]
        feed = http.client.HTTPConnection(s.host, s.port, timeout=30)
        feed.request("GET", "/v1/events", headers=s.headers())
        feed.getresponse().readline()
        for _, r in conns:
            r.readline()
        t0 = time.time()
        self.assertEqual(s.stop(timeout=30), 0, s.stderr())
        self.assertLess(time.time() - t0, 10)
        for conn, _ in conns:
            conn.close()
        feed.close()

    def test_no_key_server_and_sse_pings(self):
        with Server(BINARY, MODEL, "--sse-ping", "0.05", key=None) as s:
            self.assertNotIn("API key", s.banner)
            status, _ = s.json("GET", "/v1/models", key="")
            self.assertEqual(status, 200)
            conn = http.client.HTTPConnection(s.host, s.port, timeout=10)
            conn.request("GET", "/v1/events")
            r = conn.getresponse()
            lines = [r.readline() for _ in range(4)]
            conn.close()
            self.assertIn(b": ping\n", lines)
            self.assertEqual(s.stop(), 0, s.stderr())


# ---------------------------------------------------------------------------------------------
# Chat templates and the registry


class TemplatesAndRegistry(unittest.TestCase):
    def test_chat_template_is_read_from_the_gguf(self):
        chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "chatty.gguf")
            gguf_meta.with_strings(MODEL, path, {"tokenizer.chat_template": chatml})
            with Server(BINARY, path) as s:
                self.assertIn("chat template chatml", s.banner)
                _, models = s.json("GET", "/v1/models")
                self.assertEqual(models["data"][0]["id"], "chatty")
                self.assertEqual(models["data"][0]["meta"]["chat_template"], "chatml")
                status, chat = s.json("POST", CHAT, chat_body())
                self.assertEqual(status, 200, chat)
                # "<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n" is far longer
                # than the plain prompt (the markers are text in this vocabulary)
                self.assertGreater(chat["usage"]["prompt_tokens"], 20)
                self.assertEqual(s.stop(), 0, s.stderr())
            with Server(BINARY, path, "--chat-template", "none", "--alias", "plain") as s:
                _, chat = s.json("POST", CHAT, chat_body())
                self.assertEqual(chat["usage"]["prompt_tokens"], 5)
                self.assertEqual(chat["model"], "plain")
                self.assertEqual(s.stop(), 0, s.stderr())

    def test_registry_endpoints(self):
        status, body = server.json("GET", "/v1/registry/models")
        assert_openai_error(self, status, body, 404, want_code="registry_disabled")
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "models.db")
            with Server(BINARY, MODEL, "--registry", db) as s:
                status, reg = s.json("GET", "/v1/registry/models")
                self.assertEqual(status, 200, reg)
                self.assertIn("stories260K", reg["models"])
                self.assertEqual(reg["models"]["stories260K"]["pyagent"]["provider"], "local")
                status, due = s.json("GET", "/v1/registry/due")
                self.assertEqual((status, due["due"]), (200, ["stories260K"]))
                status, due = s.json("GET", "/v1/registry/due?now=abc")
                self.assertEqual(status, 400)
                status, route = s.json("POST", "/v1/registry/route",
                                       {"context_tokens": 100, "output_tokens": 10})
                self.assertEqual(status, 200, route)
                self.assertIsNone(route["model"])  # nothing measured yet: nothing qualifies
                self.assertEqual([r["model"] for r in route["rejected"]], ["stories260K"])
                status, body = s.json("POST", "/v1/registry/route", {"context_tokenz": 1})
                assert_openai_error(self, status, body, 400, want_param="context_tokenz")
                status, body = s.json("GET", "/v1/registry/nothing")
                self.assertEqual(status, 404)
                self.assertEqual(s.stop(), 0, s.stderr())


def main():
    global BINARY, DATA, MODEL
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    BINARY, DATA = sys.argv[1], sys.argv[2]
    MODEL = os.path.join(DATA, "stories260K.gguf")
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
