"""The Anthropic Messages gateway driven with the official `anthropic` SDK through a real uvicorn, against
the stand-in provider speaking Messages on loopback: routed answers, streaming, settlement at the reported
usage (cache reads and writes at their prices), the hard cap under parallel calls and streams, 402 without
an upstream call, disconnects settled, errors before and after the first byte, bad input as Anthropic
error objects, Claude Code's session as the agent, count_tokens, and the keys never stored or logged."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import pytest

from modelwise.core.providers import priced_as
from tests.live import serving
from tests.standin_provider import Behaviour, Standin

KEY = "sk-ant-standin-provider-key-3a9c77e1"  # the Anthropic-format provider's
OKEY = "sk-standin-openai-key-51f0c2"  # the OpenAI-format one's
TOKEN = "tok-gateway-client-8d2e"
ANTHROPIC_MODELS = ("claude-sonnet-4", "gpt-4o-mini")  # called in the Anthropic format
FIXTURE = Path(__file__).parent / "fixtures" / "brief_registry.json"


def config(base_url: str, extra: str = "", openai: bool = False) -> str:
    """The stand-in as an Anthropic-format provider of ANTHROPIC_MODELS and, with `openai`, as an
    OpenAI-format one of gpt-4o."""
    models = ", ".join(f'"{m}"' for m in ANTHROPIC_MODELS)
    text = (
        f"{extra}\n[providers.astandin]\nbase_url = \"{base_url}\"\napi_key_env = \"ASTANDIN_KEY\"\n"
        f"api = \"anthropic\"\nmodels = [{models}]\n"
    )
    if openai:
        text += (f"[providers.ostandin]\nbase_url = \"{base_url}\"\napi_key_env = \"OSTANDIN_KEY\"\n"
                 "api = \"openai\"\nmodels = [\"gpt-4o\"]\n")
    return text


def registry(tmp_path: Path) -> Path:
    """The brief's registry with Claude Sonnet 4 at Anthropic's prices, cache reads and writes included, and
    every model able to call tools and read images."""
    reg = json.loads(FIXTURE.read_text())
    for m in reg["models"]:
        m["capabilities"] += ["function_calling", "vision"]
        if m["id"] == "claude-sonnet-4":
            m.pop("costPer1kTokens")
            m["pricing"] = {"inputPer1M": 3.0, "outputPer1M": 15.0, "cacheReadPer1M": 0.3,
                            "cacheWritePer1M": 3.75}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(reg))
    return path


@pytest.fixture
def standin():
    with Standin() as s:
        yield s


@pytest.fixture
def gateway(make_service, standin, monkeypatch, tmp_path):
    """(service, base URL, Anthropic client) for a gateway whose providers are the stand-in."""
    monkeypatch.setenv("ASTANDIN_KEY", KEY)
    monkeypatch.setenv("OSTANDIN_KEY", OKEY)
    made = []

    def start(extra: str = "", token: str | None = TOKEN, group_commit: bool = True, openai: bool = False):
        svc = make_service(registry=registry(tmp_path), config=config(standin.base_url, extra, openai))
        cm = serving(svc, token=token, group_commit=group_commit)
        base = cm.__enter__()
        made.append(cm)
        client = anthropic.Anthropic(base_url=base, api_key=token or "none", max_retries=0, timeout=30)
        return svc, base, client

    yield start
    for cm in made:
        cm.__exit__(None, None, None)


def settled(svc, n: int, timeout: float = 10.0) -> list[dict]:
    """The decisions once `n` of them have an outcome (settlement is queued, not awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = svc.decisions(limit=1000, newest_first=True) if svc.ledger_exists() else []
        if sum(r["outcome"] is not None for r in rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def priced(svc, model_id: str, tin: int, tout: int, read: int = 0, write: int = 0, long: int = 0) -> float:
    """What the call costs at the registry's prices of the offer it went through (the stand-in's)."""
    offer = svc.reach.offer(model_id)
    assert offer.provider in ("astandin", "ostandin")
    return priced_as(svc.registry.get(model_id), offer).cost_of(tin, tout, read, write,
                                                                 long_cache_write_tokens=long)


def row_of(svc, dec_id: str, n: int = 1) -> dict:
    return next(r for r in settled(svc, n) if r["decisionId"] == dec_id)


def test_models_listed_in_the_anthropic_format(gateway):
    svc, _, client = gateway(openai=True)
    listed = list(client.models.list())
    ids = [m.id for m in listed]
    assert ids[:1 + len(svc.settings.task_types)] == ["auto", *(f"auto:{t}" for t in svc.settings.task_types)]
    # the models of both formats (an OpenAI-format one is reached translated)
    assert sorted(i for i in ids if not i.startswith("auto")) == sorted([*ANTHROPIC_MODELS, "gpt-4o"])
    assert next(m for m in listed if m.id == "claude-sonnet-4").display_name == "Claude Sonnet 4"


def test_one_model_is_retrieved_in_the_anthropic_format(gateway):
    """`client.models.retrieve` (GET /v1/models/ID with `anthropic-version`): the listing's object, and
    the Anthropic 404 `not_found_error` for an id the gateway does not serve."""
    _, _, client = gateway(openai=True)
    got = client.models.retrieve("claude-sonnet-4")
    assert (got.id, got.display_name, got.type) == ("claude-sonnet-4", "Claude Sonnet 4", "model")
    assert client.models.retrieve("auto:code_review").id == "auto:code_review"
    with pytest.raises(anthropic.NotFoundError) as err:
        client.models.retrieve("claude-nonexistent-9")
    assert err.value.body["error"]["type"] == "not_found_error"
    assert "claude-nonexistent-9" in err.value.body["error"]["message"]


def test_routed_answer_passes_through_and_settles_at_reported_usage_and_cache_prices(gateway, standin):
    standin.behaviour = Behaviour(usage=(570, 9), cached=300, cache_write=200)
    svc, _, client = gateway()
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=1000, system="You help with Python.",
        messages=[{"role": "user", "content": "Traceback (most recent call last):\n  KeyError: 'a'"}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2023-06-01"},
    )
    answer = raw.parse()
    dec_id = raw.headers["x-modelwise-decision-id"]
    assert raw.headers["x-modelwise-model"] == "claude-sonnet-4"
    assert raw.headers["x-modelwise-provider"] == "astandin"
    assert raw.headers["x-modelwise-task-type"] == "debugging"
    assert raw.headers["x-modelwise-task-type-from"] == "rule:stack-trace"
    assert answer.content[0].text.startswith("Hello from the stand-in")
    assert answer.usage.input_tokens == 70 and answer.usage.cache_read_input_tokens == 300
    got = standin.requests[-1]
    assert got["path"] == "/v1/messages" and got["json"]["model"] == "claude-sonnet-4"
    assert got["json"]["system"] == "You help with Python."
    assert got["headers"]["x-api-key"] == KEY  # the provider's key from its variable
    assert "Authorization" not in got["headers"]  # never the client's credentials
    assert got["headers"]["anthropic-version"] == "2023-06-01"  # the client's, forwarded
    assert got["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert got["json"]["max_tokens"] == 1000  # what the client asked, within budget
    row = row_of(svc, dec_id)
    assert row["outcome"] == "success"
    # the whole prompt is 570 tokens: 70 plain, 300 read from the cache, 200 written to it
    assert row["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", 570, 9, 300, 200), rel=1e-9)
    assert row["actualCost"] == pytest.approx((70 * 3 + 300 * 0.3 + 200 * 3.75 + 9 * 15) / 1e6, rel=1e-9)
    assert row["actualCost"] <= row["estimatedCost"]


def test_a_request_the_openai_format_cannot_carry_stays_among_anthropic_format_models(gateway, standin):
    svc, _, client = gateway('[weights]\ncapability = 0\nperformance = 0\navailability = 0\ncost = 1\n',
                             openai=True)
    assert svc.reach.offer("gpt-4o").provider == "ostandin"
    thinking = {"type": "enabled", "budget_tokens": 1024}
    for task in ("auto", "auto:knowledge", "auto:debugging"):
        r = client.messages.with_raw_response.create(
            model=task, max_tokens=2000, thinking=thinking,
            messages=[{"role": "user", "content": "what is a monad?"}])
        assert r.headers["x-modelwise-provider"] == "astandin"
    with pytest.raises(anthropic.NotFoundError) as err:  # extended thinking has no OpenAI-format twin
        client.messages.create(model="gpt-4o", max_tokens=2000, thinking=thinking,
                               messages=[{"role": "user", "content": "x"}])
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "not_found_error"
    assert all(r["path"] == "/v1/messages" for r in standin.requests)


def test_streaming_passes_events_through_and_settles_with_reported_usage(gateway, standin):
    standin.behaviour = Behaviour(text="one two three four five six", usage=(210, 6), cached=100)
    svc, _, client = gateway()
    with client.messages.stream(
        model="auto:knowledge", max_tokens=500, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four five six"
    assert final.usage.output_tokens == 6 and final.usage.input_tokens == 110
    assert final.stop_reason == "end_turn"
    sent = standin.requests[-1]["json"]
    assert sent["stream"] is True
    [row] = settled(svc, 1)
    assert row["outcome"] == "success"
    assert row["actualCost"] == pytest.approx(priced(svc, row["selectedModel"], 210, 6, 100), rel=1e-9)


def test_stream_bytes_reach_the_client_unchanged(gateway, standin):
    standin.behaviour = Behaviour(text="alpha beta", usage=(10, 2))
    svc, base, _ = gateway()
    with httpx.Client(timeout=30) as http:
        r = http.post(base + "/v1/messages", headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
                      json={"model": "claude-sonnet-4", "max_tokens": 50, "stream": True,
                            "messages": [{"role": "user", "content": "go"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n")[0] for block in r.text.strip().split("\n\n")]
    assert events == ["event: message_start", "event: content_block_start", "event: ping",
                      "event: content_block_delta", "event: content_block_delta", "event: content_block_stop",
                      "event: message_delta", "event: message_stop"]
    assert r.headers["x-modelwise-model"] == "claude-sonnet-4"
    sent = standin.requests[-1]["headers"]
    assert sent["x-api-key"] == KEY and TOKEN not in json.dumps(sent)  # the token (as x-api-key) stays
    settled(svc, 1)


def test_hard_cap_under_parallel_calls_and_streams(gateway, standin):
    """20 calls at once (half streaming) that each use every output token they are granted: the day's
    settled spend never exceeds the tier's share of the budget, max_tokens was lowered, refusals are 402
    Anthropic errors and record nothing."""
    standin.behaviour = Behaviour(fill=True, delay=0.05)
    budget = 0.056  # the tier's share, 0.028: two calls at the task budget, a third at what is left
    svc, _, client = gateway(f"daily_budget = {budget}\n[task_budgets]\nknowledge = 0.01\n")

    def one(i: int) -> str:
        msgs = [{"role": "user", "content": f"question {i}: what is a monad?"}]
        try:
            if i % 2:
                with client.messages.stream(model="auto:knowledge", max_tokens=64_000, messages=msgs) as s:
                    s.until_done()
            else:
                client.messages.create(model="auto:knowledge", max_tokens=64_000, messages=msgs)
            return "ok"
        except anthropic.APIStatusError as exc:
            assert exc.status_code == 402, exc
            assert exc.body["type"] == "error" and exc.body["error"]["type"] == "billing_error"
            assert "\n" not in exc.body["error"]["message"]
            return "402"

    rounds = 0
    results: list[str] = []
    while "402" not in results and rounds < 5:  # keep spending until the cap refuses
        with ThreadPoolExecutor(20) as pool:
            results += list(pool.map(one, range(20)))
        rounds += 1
    assert "ok" in results and "402" in results
    rows = settled(svc, results.count("ok"))
    assert len(rows) == results.count("ok") == len(standin.requests)  # a refusal records and calls nothing
    assert all(r["outcome"] == "success" for r in rows)
    assert all(r["actualCost"] <= r["estimatedCost"] + 1e-12 for r in rows)  # never above the reservation
    spent = sum(r["actualCost"] for r in rows)
    from modelwise.core.budget import allocation
    from modelwise.core.tiers import tier_of

    tier_cap = allocation(svc.settings, tier_of(svc.settings, "knowledge"))
    assert spent <= min(budget, tier_cap) + 1e-9
    assert spent > tier_cap * 0.8  # the calls did spend: the cap is what stopped them
    grants = [r["json"]["max_tokens"] for r in standin.requests]
    assert max(grants) < 64_000 and len(set(grants)) > 1  # lowered to what the money left pays for


def test_cache_writes_are_reserved_at_their_price(gateway, standin):
    """A request that may write its prompt to the cache reserves it at the cache-write price, so a call
    that writes all of it still settles within its reservation."""
    svc, _, client = gateway()
    text = "x " * 3000
    blocks = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
    plain = client.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": text}])
    prompt = standin.requests[-1]["json"]
    from tests.standin_provider import _anthropic_prompt_tokens

    n = _anthropic_prompt_tokens(prompt)
    standin.behaviour = Behaviour(usage=(n, 100), cache_write=n)
    cached = client.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": blocks}])
    rows = {r["decisionId"]: r for r in settled(svc, 2)}
    a, b = (rows[r.headers["x-modelwise-decision-id"]] for r in (plain, cached))
    assert b["estimatedCost"] > a["estimatedCost"] * 1.2  # 3.75 vs 3 per 1M for the input
    assert b["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", n, 100, 0, n), rel=1e-9)
    assert b["actualCost"] <= b["estimatedCost"]


def test_hour_long_cache_writes_are_reserved_and_settled_at_twice_the_input_price(gateway, standin):
    """A cache write kept for an hour (`ttl: "1h"`) costs twice the input price: the reservation of a
    request that asks for one covers it, and the settlement prices the hour's part of the writes so."""
    svc, _, client = gateway()
    text = "y " * 3000
    short = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
    long = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    client.messages.create(model="claude-sonnet-4", max_tokens=100,
                           messages=[{"role": "user", "content": text}])
    from tests.standin_provider import _anthropic_prompt_tokens

    n = _anthropic_prompt_tokens(standin.requests[-1]["json"])
    standin.behaviour = Behaviour(usage=(n, 100), cache_write=n)
    five = client.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": short}])
    standin.behaviour = Behaviour(usage=(n, 100), cache_write=n, cache_write_1h=n - 100)
    hour = client.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": long}])
    rows = {r["decisionId"]: r for r in settled(svc, 3)}
    a, b = (rows[r.headers["x-modelwise-decision-id"]] for r in (five, hour))
    assert b["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", n, 100, 0, n, n - 100), rel=1e-9)
    assert b["actualCost"] > a["actualCost"] * 1.4  # 6 vs 3.75 per 1M for most of the input
    assert a["actualCost"] <= a["estimatedCost"] and b["actualCost"] <= b["estimatedCost"]
    assert b["estimatedCost"] > a["estimatedCost"]  # reserved at the hour's price


def test_thinking_budget_is_kept_below_the_granted_max_tokens(gateway, standin):
    svc, _, client = gateway("[task_budgets]\nknowledge = 0.03\n")  # ~1,900 output tokens of Sonnet
    client.messages.create(
        model="claude-sonnet-4", max_tokens=20_000, thinking={"type": "enabled", "budget_tokens": 16_000},
        messages=[{"role": "user", "content": "what is a monad?"}],
        extra_headers={"X-Modelwise-Task-Type": "knowledge"},
    )
    sent = standin.requests[-1]["json"]
    assert sent["max_tokens"] < 20_000
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": sent["max_tokens"] - 1}


def test_nothing_fits_is_402_without_an_upstream_call(gateway, standin):
    svc, _, client = gateway("daily_budget = 0.0000001\n")
    for stream in (False, True):
        with pytest.raises(anthropic.APIStatusError) as err:
            client.messages.create(model="auto", max_tokens=100, stream=stream,
                                   messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 402
        body = err.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] == "billing_error"
        assert "\n" not in body["error"]["message"]
    assert standin.requests == []
    assert not svc.ledger_exists() or svc.decisions(limit=10) == []


def test_client_that_disconnects_mid_stream_is_settled(gateway, standin):
    words = " ".join(f"w{i}" for i in range(200))
    standin.behaviour = Behaviour(text=words, chunk_delay=0.05, usage=(400, 200))
    svc, base, _ = gateway()
    with httpx.Client(timeout=30) as http, http.stream(
        "POST", base + "/v1/messages", headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4", "stream": True, "max_tokens": 1000,
              "messages": [{"role": "user", "content": "go"}]},
    ) as resp:
        dec_id = resp.headers["x-modelwise-decision-id"]
        seen = b""
        for part in resp.iter_bytes():
            seen += part
            if seen.count(b"event: content_block_delta") >= 5:
                break  # close the connection early
    deadline = time.monotonic() + 10
    while standin.cut == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standin.cut == 1  # the upstream call was cancelled, not read to its end
    row = row_of(svc, dec_id)
    assert row["outcome"] == "error"  # settled, never left reserved
    # the input as message_start reported it, the output counted from what was streamed (at least 5)
    cost = row["actualCost"]
    assert priced(svc, "claude-sonnet-4", 400, 5) <= cost < priced(svc, "claude-sonnet-4", 400, 200)
    assert row["actualCost"] <= row["estimatedCost"]


def test_upstream_error_before_the_first_byte_passes_through_and_settles_at_zero(gateway, standin):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    standin.behaviour = Behaviour(status=529, error=overloaded)
    svc, _, client = gateway()
    with pytest.raises(anthropic.APIStatusError) as err:
        client.messages.create(model="auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 529 and err.value.body == overloaded
    [row] = settled(svc, 1)
    assert row["outcome"] == "error" and row["actualCost"] == 0


def test_upstream_error_after_the_first_byte_is_an_error_event_and_settles_as_error(gateway, standin):
    standin.behaviour = Behaviour(text="a b c d e f g h", usage=(300, 8), error_after=3)
    svc, _, client = gateway()
    with pytest.raises(anthropic.APIStatusError) as err, client.messages.stream(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        for _ in stream.text_stream:
            pass
    assert "Overloaded" in str(err.value)
    [row] = settled(svc, 1)
    assert row["outcome"] == "error"
    from modelwise.core.calls import text_tokens

    # the input message_start reported, the output counted from the three words streamed
    assert row["actualCost"] == pytest.approx(priced(svc, "claude-sonnet-4", 300, text_tokens("a b c")))


def _assert_anthropic_error(r: httpx.Response, status: int, kind: str, needle: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    assert needle in body["error"]["message"] and "\n" not in body["error"]["message"], body


def test_bad_input_is_an_anthropic_error_and_records_nothing(gateway, standin):
    svc, base, _ = gateway()
    auth = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    url = base + "/v1/messages"
    msgs = [{"role": "user", "content": "hi"}]
    ok = {"model": "auto", "max_tokens": 10, "messages": msgs}
    bad = "invalid_request_error"
    with httpx.Client(timeout=60) as http:
        def post(body=None, headers=auth, content=None, path=url):
            if content is not None:
                headers = {**headers, "Content-Type": "application/json"}
                return http.post(path, content=content, headers=headers)
            return http.post(path, json=body, headers=headers)

        _assert_anthropic_error(post(content=b"{not json"), 400, bad, "JSON")
        _assert_anthropic_error(post({"model": "auto", "max_tokens": 10}), 400, bad, "messages")
        _assert_anthropic_error(post({**ok, "messages": [{"role": "system", "content": "x"}]}), 400, bad,
                                "role")
        _assert_anthropic_error(post({**ok, "messages": [{"role": "user", "content": 3}]}), 400, bad,
                                "content")
        _assert_anthropic_error(post({**ok, "system": 5}), 400, bad, "system")
        _assert_anthropic_error(post({**ok, "max_tokens": 0}), 400, bad, "max_tokens")
        _assert_anthropic_error(post({**ok, "stream": "yes"}), 400, bad, "stream")
        _assert_anthropic_error(post({**ok, "model": 7}), 400, bad, "model")
        search = [{"type": "web_search_20250305", "name": "web_search"}]
        _assert_anthropic_error(post({**ok, "tools": search}), 400, bad, "web_search")
        _assert_anthropic_error(post(ok, headers={**auth, "X-Modelwise-Task-Type": "nope"}), 400, bad, "nope")
        _assert_anthropic_error(post(ok, headers={"anthropic-version": "2023-06-01"}), 401,
                                "authentication_error", "token")
        _assert_anthropic_error(post(ok, headers={"x-api-key": "wrong"}), 401, "authentication_error",
                                "token")
        _assert_anthropic_error(post({**ok, "model": "no-such-model"}), 404, "not_found_error",
                                "no-such-model")
        _assert_anthropic_error(post({**ok, "model": "auto:no_such_type"}), 404, "not_found_error",
                                "no_such_type")
        big = b'{"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "' + b"x" * (
            33 << 20) + b'"}]}'
        _assert_anthropic_error(post(content=big), 413, "request_too_large", "larger")
        _assert_anthropic_error(http.get(url, headers=auth), 405, "api_error", "Method Not Allowed")
        _assert_anthropic_error(post({"model": "auto", "messages": []}, path=url + "/count_tokens"), 400, bad,
                                "messages")
    assert standin.requests == []
    assert not svc.ledger_exists() or svc.decisions(limit=10) == []


def test_claude_code_session_and_agent_headers_name_the_agent(gateway, standin):
    svc, _, client = gateway()
    msgs = [{"role": "user", "content": "hello"}]
    session = "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f"
    client.messages.create(model="auto", max_tokens=10, messages=msgs,
                           extra_headers={"X-Claude-Code-Session-Id": session})
    client.messages.create(model="auto", max_tokens=10, messages=msgs,
                           extra_headers={"X-Claude-Code-Session-Id": session, "X-Modelwise-Agent": "mine"})
    client.messages.create(model="auto", max_tokens=10, messages=msgs, metadata={"user_id": "sdk-user-1"})
    rows = settled(svc, 3)
    assert sorted(r["agent"] for r in rows) == sorted([f"claude-code:{session}", "mine", "sdk-user-1"])
    assert svc.decisions(agent=f"claude-code:{session}", limit=10)[0]["agent"] == f"claude-code:{session}"


def test_count_tokens_by_name_asks_the_provider_and_auto_counts_conservatively(gateway, standin):
    svc, _, client = gateway()
    msgs = [{"role": "user", "content": "How many tokens is this sentence, roughly speaking?"}]
    by_name = client.messages.count_tokens(model="claude-sonnet-4", messages=msgs, system="Be brief.")
    got = standin.requests[-1]
    assert got["path"] == "/v1/messages/count_tokens" and got["headers"]["x-api-key"] == KEY
    from tests.standin_provider import _anthropic_prompt_tokens

    assert by_name.input_tokens == _anthropic_prompt_tokens(got["json"])
    auto = client.messages.count_tokens(model="auto", messages=msgs, system="Be brief.")
    assert auto.input_tokens >= by_name.input_tokens  # modelwise's own count, never below the provider's
    assert len(standin.requests) == 1
    assert not svc.ledger_exists() or svc.decisions(limit=10) == []


def test_without_group_commit_calls_are_routed_and_settled(gateway, standin):
    standin.behaviour = Behaviour(usage=(12, 3))
    svc, _, client = gateway(group_commit=False)
    assert not svc.group_commit_enabled
    msgs = [{"role": "user", "content": "hi"}]
    client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=msgs)
    with client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=msgs) as s:
        s.until_done()
    rows = settled(svc, 2)
    assert [r["outcome"] for r in rows] == ["success", "success"]
    want = priced(svc, "claude-sonnet-4", 12, 3)
    assert all(r["actualCost"] == pytest.approx(want, rel=1e-9) for r in rows)


def test_provider_key_and_token_are_never_stored_or_logged(gateway, standin, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    svc, _, client = gateway()
    msgs = [{"role": "user", "content": "hi"}]
    client.messages.create(model="auto", max_tokens=10, messages=msgs)
    with client.messages.stream(model="auto", max_tokens=10, messages=msgs) as s:
        s.until_done()
    client.messages.count_tokens(model="claude-sonnet-4", messages=msgs)
    settled(svc, 2)
    assert all(TOKEN not in json.dumps(r["headers"]) for r in standin.requests)  # never sent upstream
    svc.close()
    assert KEY not in caplog.text and TOKEN not in caplog.text
    for f in Path(tmp_path).rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert KEY.encode() not in data and TOKEN.encode() not in data, f


@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_provider_falls_back_to_another_before_the_first_byte(make_service, monkeypatch, tmp_path,
                                                                        stream):
    """The best model's provider answers 529 (or, streaming, an `error` event before any content): the
    call moves to the next model on another provider; the client sees one answer, each attempt is a
    decision (the failed one settled as an error at $0)."""
    monkeypatch.setenv("ASTANDIN_KEY", KEY)
    monkeypatch.setenv("BAD_KEY", "sk-bad")
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    failing = Behaviour(error_after=0) if stream else Behaviour(status=529, error=overloaded)
    with Standin(failing) as bad, Standin(Behaviour(usage=(20, 4))) as good:
        cfg = ('[weights]\ncapability = 0\nperformance = 1\navailability = 0\ncost = 0\n'  # Sonnet first
               f'[providers.abad]\nbase_url = "{bad.base_url}"\napi_key_env = "BAD_KEY"\napi = "anthropic"\n'
               'models = ["claude-sonnet-4"]\n'
               f'[providers.astandin]\nbase_url = "{good.base_url}"\napi_key_env = "ASTANDIN_KEY"\n'
               'api = "anthropic"\nmodels = ["gpt-4o-mini"]\n')
        svc = make_service(registry=registry(tmp_path), config=cfg)
        with serving(svc, token=TOKEN) as base:
            client = anthropic.Anthropic(base_url=base, api_key=TOKEN, max_retries=0, timeout=30)
            msgs = [{"role": "user", "content": "write unit tests for this parser"}]
            if stream:
                with client.messages.stream(model="auto:testing", max_tokens=100, messages=msgs) as s:
                    text = "".join(s.text_stream)
                    headers = s.response.headers
            else:
                raw = client.messages.with_raw_response.create(model="auto:testing", max_tokens=100,
                                                               messages=msgs)
                headers, text = raw.headers, raw.parse().content[0].text
            assert text.startswith("Hello from the stand-in")
            assert headers["x-modelwise-attempts"] == "2"
            assert headers["x-modelwise-provider"] == "astandin"
            assert headers["x-modelwise-model"] == "gpt-4o-mini"
            assert len(bad.requests) == 1 and len(good.requests) == 1
            rows = {r["selectedModel"]: r for r in settled(svc, 2)}
            failed, answered = rows["claude-sonnet-4"], rows["gpt-4o-mini"]
            assert failed["outcome"] == "error" and failed["actualCost"] == 0
            assert answered["outcome"] == "success"


def test_modelwise_serve_prints_the_anthropic_base_url_and_serves_messages(tmp_path, standin):
    """A real `modelwise serve`: Claude Code's way in (ANTHROPIC_BASE_URL, the token as
    ANTHROPIC_AUTH_TOKEN, i.e. `Authorization: Bearer`) answers; neither key nor token is printed."""
    from tests.test_serve_cli import start_serve, stop

    cfg = tmp_path / "config.toml"
    cfg.write_text(config(standin.base_url))
    env = {"MODELWISE_CONFIG": str(cfg), "MODELWISE_LEDGER": str(tmp_path / "ledger.sqlite3"),
           "MODELWISE_REGISTRY": str(registry(tmp_path)), "ASTANDIN_KEY": KEY, "OSTANDIN_KEY": OKEY}
    proc, base = start_serve(env, "--token", TOKEN, "--access-log")
    try:
        lines = proc.stderr.readline() + proc.stderr.readline()
        assert f"Anthropic base URL (Claude Code's ANTHROPIC_BASE_URL): {base} " in lines, lines
        client = anthropic.Anthropic(base_url=base, auth_token=TOKEN, max_retries=0)
        answer = client.messages.create(model="auto", max_tokens=50,
                                        messages=[{"role": "user", "content": "hi"}],
                                        extra_headers={"X-Claude-Code-Session-Id": "s-1"})
        assert answer.content[0].text
        assert standin.requests[-1]["headers"]["x-api-key"] == KEY
    finally:
        out, err = stop(proc)
    assert KEY not in out + err and TOKEN not in out + err
    assert KEY.encode() not in (tmp_path / "ledger.sqlite3").read_bytes()


def test_bench_gateway_anthropic_runs():
    """bench/gateway_anthropic.py end to end, tiny (no timing asserted)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "bench" / "gateway_anthropic.py"), "--requests", "5",
                        "--seconds", "0.2"], capture_output=True, text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("requests/s at 16 connections") == 2 and "modelwise translated" in r.stdout
