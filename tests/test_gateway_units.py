"""The gateway's pure parts: the conservative token count, the output the money left pays for, the task
type inference rules and the stream tally over arbitrary chunk boundaries."""

from __future__ import annotations

import json

import pytest

from modelwise.core.calls import (
    DEFAULT_MAX_OUTPUT,
    PER_IMAGE,
    affordable_output,
    input_tokens,
    output_ceiling,
    text_tokens,
)
from modelwise.core.settings import Settings
from modelwise.gateway.inference import infer
from modelwise.gateway.usage import StreamTally, reported

TYPES = Settings().task_types


def test_text_tokens_bounds():
    assert text_tokens("") == 0
    assert text_tokens("abcdef") == 2
    assert text_tokens("a.b") == 1 + 1  # "ab" at 3 a token, the dot one
    assert text_tokens("é") == 2  # two UTF-8 bytes
    assert text_tokens("漢字") == 6
    # never below a byte-level count of what the usual tokenizers can merge least: 1 token per 4 ASCII
    for text in ("def f(x):\n    return x + 1\n", "The quick brown fox jumps over the lazy dog. " * 20):
        assert text_tokens(text) >= len(text) / 4


def test_input_tokens_counts_messages_images_and_tools():
    one = input_tokens([{"role": "user", "content": "hi"}])
    two = input_tokens([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hi"}])
    assert two - one == text_tokens("hi") + text_tokens("assistant") + 8
    img = input_tokens([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
                       dumps=json.dumps)
    assert img >= PER_IMAGE
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    assert input_tokens([{"role": "user", "content": "hi"}], tools, json.dumps) > one


def test_output_ceiling_and_affordable_output():
    assert output_ceiling(None, None, None, 10) == DEFAULT_MAX_OUTPUT
    assert output_ceiling(500, 4096, 8000, 10) == 500
    assert output_ceiling(None, 4096, 4000, 1000) == 3000

    def cost(tin: int, tout: int) -> float:  # $1 / 1M input, $4 / 1M output
        return (tin * 1.0 + tout * 4.0) / 1_000_000

    out = affordable_output(cost, 1000, 0.005, 10_000)
    assert cost(1000, out) <= 0.005 < cost(1000, out + 1)
    assert affordable_output(cost, 1000, 1.0, 10_000) == 10_000  # the ceiling binds
    assert affordable_output(cost, 10_000, 0.005, 10_000) == -1  # not even the input fits
    assert affordable_output(lambda tin, tout: 0.0, 10, 0.0, 64) == 64  # free


@pytest.mark.parametrize(
    "text, task",
    [
        ("Traceback (most recent call last):\n  File \"a.py\", line 3\nKeyError: 'x'", "debugging"),
        ("my tests are failing after the upgrade", "debugging"),
        ("diff --git a/x.py b/x.py\n@@ -1,3 +1,4 @@\n+import os", "code_review"),
        ("write pytest unit tests for this parser", "testing"),
        ("refactor this module into smaller functions", "refactoring"),
        ("make this loop faster, it is the hot path", "optimization"),
        ("what architecture should our microservices use?", "architecture"),
        ("add docstrings to these functions", "documentation"),
        ("implement a function that merges two sorted lists", "code_generation"),
        ("```python\nx = 1\n```", "code_generation"),
        ("what is the capital of France?", "knowledge"),
    ],
)
def test_inference_rules(text, task):
    assert infer([{"role": "user", "content": text}], TYPES)[0] == task


def test_inference_reads_the_last_user_turn_then_the_system_prompt():
    msgs = [{"role": "system", "content": "You review pull requests."},
            {"role": "user", "content": "fix the bug in this"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hello"}]
    assert infer(msgs, TYPES) == ("code_review", "rule:review-words")
    parts = [{"type": "text", "text": "add unit tests"}]
    assert infer([{"role": "user", "content": parts}], TYPES)[0] == "testing"
    assert infer([{"role": "user", "content": "hello"}], ("debugging",)) == ("debugging", "default")


def test_stream_tally_over_any_chunk_boundaries():
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None},
        {"choices": [{"index": 0, "delta": {"content": "Hello"}}], "usage": None},
        {"choices": [{"index": 0, "delta": {"content": " world, and more"}}], "usage": None},
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4}}\n\n'
    usage += b"data: [DONE]\n\n"
    for size in (1, 3, 17, len(body)):
        t = StreamTally()
        for i in range(0, len(body), size):
            t.feed(body[i:i + size])
        assert t.usage is None
        assert t.output_tokens() == text_tokens("Hello world, and more")
        for i in range(0, len(usage), size):
            t.feed(usage[i:i + size])
        assert t.usage == (7, 4)
    stripped = StreamTally(strip=True)
    out = b"".join(stripped.feed(part) for part in (body[:5], body[5:], usage[:20], usage[20:]))
    assert stripped.usage == (7, 4) and b"usage\": {" not in out
    assert out.count(b"data: ") == len(events) + 1 and out.endswith(b"data: [DONE]\n\n")
    assert reported({"prompt_tokens": True}) is None and reported(None) is None


def _sse(kind: str, obj: dict) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **obj}).encode() + b"\n\n"


def test_anthropic_tally_over_any_chunk_boundaries():
    from modelwise.gateway.usage import AnthropicTally

    start = _sse("message_start", {"message": {"id": "m", "usage": {
        "input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 30,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}}})
    body = start + _sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    body += _sse("ping", {})
    body += _sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hello"}})
    body += _sse("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta",
                                                                "partial_json": "{\"city\": \"Par"}})
    end = _sse("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}})
    end += _sse("message_stop", {})
    for size in (1, 3, 17, len(body)):
        t = AnthropicTally()
        passed = b"".join(t.feed(body[i:i + size]) for i in range(0, len(body), size))
        assert passed == body  # passed on unchanged
        assert t.start == (142, 1, 100, 30, 20) and t.final is None and not t.failed
        assert t.output_tokens() == text_tokens("Hello" + "{\"city\": \"Par")
        for i in range(0, len(end), size):
            t.feed(end[i:i + size].replace(b"\n", b"\r\n"))
        # the input (and the hour-long writes) from message_start, the output from message_delta
        assert t.final == (142, 9, 100, 30, 20)
    t = AnthropicTally()
    t.feed(_sse("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert t.failed
    t = AnthropicTally()  # a message_delta's own input count (newer versions) wins over message_start's
    t.feed(start + _sse("message_delta", {"usage": {"input_tokens": 15, "output_tokens": 4}}))
    assert t.final == (145, 4, 100, 30, 20)


def test_anthropic_usage_and_input_count():
    from modelwise.core.calls import ANTHROPIC_TOOL_PROMPT, anthropic_input_tokens, server_tool
    from modelwise.gateway.usage import anthropic_reported

    assert anthropic_reported({"input_tokens": 5, "output_tokens": 2}) == (5, 2, 0, 0, 0)
    assert anthropic_reported({"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 7,
                               "cache_creation_input_tokens": None}) == (12, 2, 7, 0, 0)
    # the hour-long part of the writes, never more than the writes
    assert anthropic_reported({"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 30,
                               "cache_creation": {"ephemeral_1h_input_tokens": 20}}) == (35, 2, 0, 30, 20)
    assert anthropic_reported({"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 3,
                               "cache_creation": {"ephemeral_1h_input_tokens": 20}})[4] == 3
    assert anthropic_reported({"output_tokens": True}) is None and anthropic_reported([]) is None
    msgs = [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
    bare = anthropic_input_tokens(None, msgs, dumps=json.dumps)
    assert bare == input_tokens(msgs, dumps=json.dumps)
    system = [{"type": "text", "text": "You are terse. " * 10}]
    with_system = anthropic_input_tokens(system, msgs, dumps=json.dumps)
    assert with_system >= bare + text_tokens("You are terse. " * 10)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert anthropic_input_tokens(None, msgs, tools, json.dumps) >= bare + ANTHROPIC_TOOL_PROMPT
    assert server_tool(tools) is None
    search = {"type": "web_search_20250305", "name": "web_search"}
    assert server_tool([*tools, search]) == "web_search_20250305"
    assert server_tool([{"type": "bash_20250124", "name": "bash"}]) is None  # run by the client


def _data(out: bytes) -> list[dict]:
    return [json.loads(line[5:]) for line in out.decode().splitlines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"]


def test_stream_translation_over_any_chunk_boundaries():
    from modelwise.gateway.translate import AnthropicToOpenAI, OpenAIToAnthropic

    anth = _sse("message_start", {"message": {"id": "m1", "model": "claude", "usage": {
        "input_tokens": 12, "output_tokens": 1}}})
    anth += _sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    anth += _sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
    anth += _sse("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "id": "t",
                                                                        "name": "f", "input": {}}})
    json_delta = {"type": "input_json_delta", "partial_json": "{}"}
    anth += _sse("content_block_delta", {"index": 1, "delta": json_delta})
    anth += _sse("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}})
    anth += _sse("message_stop", {})
    whole = AnthropicToOpenAI(include_usage=True).feed(anth)
    for size in (1, 7):
        t = AnthropicToOpenAI(include_usage=True)
        assert _data(b"".join(t.feed(anth[i:i + size]) for i in range(0, len(anth), size))) == [
            {**c, "created": t._created} for c in _data(whole)]
    chunks = _data(whole)
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "f"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 12 and chunks[-1]["usage"]["completion_tokens"] == 5
    assert whole.endswith(b"data: [DONE]\n\n")

    oai = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in (
        {"id": "c", "model": "gpt", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "c", "model": "gpt", "choices": [{"index": 0, "delta": {"content": "Hello"}}]},
        {"id": "c", "model": "gpt", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        {"id": "c", "model": "gpt", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}},
    ))
    for size in (1, 5, len(oai)):
        t = OpenAIToAnthropic()
        out = b"".join(t.feed(oai[i:i + size]) for i in range(0, len(oai), size))
        out += t.rest()  # no [DONE]: the message is ended when the stream is
        assert t.rest() == t.rest()  # once
        events = [e["type"] for e in _data(out)]
        assert events == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                          "message_delta", "message_stop"]
        delta = _data(out)[4]
        assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 3
        assert t.inner.usage == (9, 3)
