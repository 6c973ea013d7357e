"""Translation between the formats through a real uvicorn: an Anthropic-SDK client reaching an OpenAI-format
model and an OpenAI-SDK client reaching an Anthropic-format model (the stand-in speaks both), whole and
streamed, with system prompts, tools and tool calls, stop reasons and usage, settled at the usage the
provider reported at its offer's prices."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.live import serving
from tests.standin_provider import Behaviour, Standin
from tests.test_gateway_anthropic import KEY, OKEY, TOKEN, config, priced, registry, settled

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": WEATHER["input_schema"],
    },
}
CALL = ("get_weather", '{"city": "Paris"}')


@pytest.fixture
def both(make_service, monkeypatch, tmp_path):
    """(service, stand-in, base URL) with the stand-in as an Anthropic-format provider of claude-sonnet-4 and
    gpt-4o-mini and an OpenAI-format one of gpt-4o."""
    monkeypatch.setenv("ASTANDIN_KEY", KEY)
    monkeypatch.setenv("OSTANDIN_KEY", OKEY)
    with Standin() as standin:
        svc = make_service(registry=registry(tmp_path), config=config(standin.base_url, openai=True))
        with serving(svc, token=TOKEN) as base:
            yield svc, standin, base


def test_anthropic_client_reaches_an_openai_format_model(both):
    svc, standin, base = both
    standin.behaviour = Behaviour(text="Let me look.", usage=(40, 7), tool=CALL)
    client = anthropic.Anthropic(base_url=base, api_key=TOKEN, max_retries=0)
    messages = [
        {"role": "user", "content": "What is the weather in Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                {"type": "text", "text": "And in Paris?"},
            ],
        },
    ]
    raw = client.messages.with_raw_response.create(
        model="gpt-4o",
        max_tokens=200,
        system="Be brief.",
        tools=[WEATHER],
        messages=messages,
        tool_choice={"type": "any"},
        stop_sequences=["END"],
    )
    answer = raw.parse()
    assert raw.headers["x-modelwise-provider"] == "ostandin"
    assert [b.type for b in answer.content] == ["text", "tool_use"]
    assert answer.content[0].text == "Let me look."
    assert answer.content[1].name == "get_weather" and answer.content[1].input == {"city": "Paris"}
    assert answer.stop_reason == "tool_use"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (40, 7)
    got = standin.requests[-1]
    assert got["path"] == "/v1/chat/completions"
    assert got["headers"]["Authorization"] == f"Bearer {OKEY}" and "x-api-key" not in got["headers"]
    sent = got["json"]
    assert sent["model"] == "gpt-4o" and sent["max_tokens"] == 200 and sent["stop"] == ["END"]
    assert sent["tool_choice"] == "required"
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert sent["messages"][0]["content"] == "Be brief."
    assert sent["messages"][2]["content"] == "Checking."
    assert sent["messages"][2]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}
    ]
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "sunny"}
    [row] = settled(svc, 1)
    assert row["actualCost"] == pytest.approx(priced(svc, "gpt-4o", 40, 7), rel=1e-9)

    with client.messages.stream(model="gpt-4o", max_tokens=200, tools=[WEATHER], messages=messages) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Let me look."
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris"} and final.content[1].id == "call_standin"
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 7)
    assert standin.requests[-1]["json"]["stream_options"] == {"include_usage": True}
    rows = settled(svc, 2)
    assert all(r["outcome"] == "success" for r in rows)
    assert rows[0]["actualCost"] == pytest.approx(priced(svc, "gpt-4o", 40, 7), rel=1e-9)


def test_openai_client_reaches_an_anthropic_format_model(both):
    svc, standin, base = both
    standin.behaviour = Behaviour(text="Let me look.", usage=(40, 7), tool=CALL, cached=10)
    client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
        {"role": "user", "content": "And in Paris?"},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet-4", messages=messages, tools=[OPENAI_WEATHER], max_tokens=300, temperature=1.5
    )
    answer = raw.parse()
    assert raw.headers["x-modelwise-provider"] == "astandin"
    choice = answer.choices[0]
    assert choice.message.content == "Let me look." and choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (40, 7)
    assert answer.usage.prompt_tokens_details.cached_tokens == 10
    got = standin.requests[-1]
    assert got["path"] == "/v1/messages"
    assert got["headers"]["x-api-key"] == KEY and "Authorization" not in got["headers"]
    assert got["headers"]["anthropic-version"] == "2023-06-01"
    sent = got["json"]
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 300 and sent["temperature"] == 1.0
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Rome"}}
    ]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "text", "text": "And in Paris?"},
    ]
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == {"type": "auto"}
    [row] = settled(svc, 1)
    assert row["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", 40, 7, 10), rel=1e-9)

    for include in (False, True):
        extra = {"stream_options": {"include_usage": True}} if include else {}
        chunks = list(
            client.chat.completions.create(
                model="claude-sonnet-4", messages=messages, tools=[OPENAI_WEATHER], stream=True, **extra
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        args = "".join(
            t.function.arguments or ""
            for c in chunks
            if c.choices
            for t in c.choices[0].delta.tool_calls or ()
        )
        names = [
            t.function.name
            for c in chunks
            if c.choices
            for t in c.choices[0].delta.tool_calls or ()
            if t.function.name
        ]
        assert text == "Let me look." and names == ["get_weather"] and json.loads(args) == {"city": "Paris"}
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
        usage = [c.usage for c in chunks if c.usage]
        assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == ([(40, 7)] if include else [])
    rows = settled(svc, 3)
    assert all(r["outcome"] == "success" for r in rows)
    assert all(
        r["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", 40, 7, 10), rel=1e-9) for r in rows
    )


def test_upstream_errors_reach_the_client_in_its_own_format(both):
    svc, standin, base = both
    standin.behaviour = Behaviour(
        status=400,
        error={"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}},
    )
    client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude-sonnet-4", messages=[{"role": "user", "content": "hi"}])
    assert (
        "prompt is too long" in err.value.body["message"]
        and err.value.body["type"] == "invalid_request_error"
    )
    standin.behaviour = Behaviour(
        status=400, error={"error": {"message": "bad tool", "type": "x", "code": None}}
    )
    aclient = anthropic.Anthropic(base_url=base, api_key=TOKEN, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as aerr:
        aclient.messages.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert aerr.value.body["type"] == "error" and "bad tool" in aerr.value.body["error"]["message"]
    rows = settled(svc, 2)
    assert [r["outcome"] for r in rows] == ["error", "error"] and all(r["actualCost"] == 0 for r in rows)


def test_a_request_the_anthropic_format_cannot_carry_stays_among_openai_format_models(both):
    svc, standin, base = both
    client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
    fmt = {"type": "json_object"}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="claude-sonnet-4", response_format=fmt, messages=[{"role": "user", "content": "hi"}]
        )
    for _ in range(3):
        r = client.chat.completions.with_raw_response.create(
            model="auto", response_format=fmt, messages=[{"role": "user", "content": "hi"}]
        )
        assert r.headers["x-modelwise-provider"] == "ostandin"
    assert all(r["path"] == "/v1/chat/completions" for r in standin.requests)
    assert "claude-sonnet-4" in [m.id for m in client.models.list()]  # listed: a plain request reaches it


def test_the_reservation_covers_the_provider_count_of_a_request_with_tools(both):
    """The input reserved is never below what the provider counts, tools' own prompt included, whether the
    request came in the Anthropic format or was translated to it."""
    from tests.standin_provider import _anthropic_prompt_tokens

    svc, standin, base = both
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    aclient = anthropic.Anthropic(base_url=base, api_key=TOKEN, max_retries=0)
    oclient = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
    a = aclient.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=50, tools=[WEATHER], messages=question
    )
    a_count = _anthropic_prompt_tokens(standin.requests[-1]["json"])
    o = oclient.chat.completions.with_raw_response.create(
        model="claude-sonnet-4", tools=[OPENAI_WEATHER], messages=question
    )
    o_count = _anthropic_prompt_tokens(standin.requests[-1]["json"])
    for raw, count in ((a, a_count), (o, o_count)):
        reserved = svc.decision(raw.headers["x-modelwise-decision-id"])["detail"]["estimatedTokens"]["input"]
        assert reserved >= count > 346


def test_count_tokens_for_an_openai_format_model_is_modelwise_s_own_count(both):
    svc, standin, base = both
    client = anthropic.Anthropic(base_url=base, api_key=TOKEN, max_retries=0)
    msgs = [{"role": "user", "content": "How many tokens is this?"}]
    own = client.messages.count_tokens(model="gpt-4o", messages=msgs)
    auto = client.messages.count_tokens(model="auto", messages=msgs)
    assert own.input_tokens == auto.input_tokens > 0 and standin.requests == []


@pytest.mark.parametrize("path, model, end", [
    ("/v1/chat/completions", "gpt-4o", b"data: [DONE]"),
    ("/v1/messages", "claude-sonnet-4", b"event: message_stop"),
    ("/v1/chat/completions", "claude-sonnet-4", b"data: [DONE]"),  # translated
    ("/v1/messages", "gpt-4o", b"event: message_stop"),  # translated
])
def test_a_client_that_closes_at_the_stream_s_end_is_a_success(both, path, model, end):
    """The client closes as soon as it has the stream's end, before the provider closes it: the answer
    was whole, so the decision is a success at the reported usage, not a cut stream."""
    import httpx

    svc, standin, base = both
    standin.behaviour = Behaviour(usage=(30, 5), linger=2.0)
    body = {"model": model, "stream": True, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
    with httpx.Client(timeout=30) as http, http.stream("POST", base + path, json=body, headers=headers) as r:
        seen = b""
        for part in r.iter_bytes():
            seen += part
            if end in seen:
                break  # close without waiting for the provider to end the stream
    [row] = settled(svc, 1)
    assert row["outcome"] == "success"
    assert row["actualCost"] == pytest.approx(priced(svc, model, 30, 5), rel=1e-9)
