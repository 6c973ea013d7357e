"""Fallback through the real gateway (uvicorn, the official `openai` SDK) against two stand-in providers
made to fail: an upstream 429, 500, a provider slower than the timeout or a closed port moves the call to
another model (another provider first); failing models and providers cool down on the service's clock;
every attempt is a decision settled in the ledger, and each retry is admitted again within the budget."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from modelwise.gateway.attempts import Cooldowns, Failure, NoCandidate, run
from tests.live import serving
from tests.standin_provider import Behaviour, Standin
from tests.test_gateway import settled

TOKEN = "tok-fallback-3c9a"
MSGS = [{"role": "user", "content": "write a python function that merges two sorted lists"}]
KNOWLEDGE = [{"role": "user", "content": "what is a monad?"}]


def providers(alpha: str, beta: str, alpha_models: tuple[str, ...], beta_models: tuple[str, ...]) -> str:
    def table(name: str, url: str, models: tuple[str, ...]) -> str:
        listed = ", ".join(f'"{m}"' for m in models)
        return (f'[providers.{name}]\nbase_url = "{url}"\napi_key_env = "{name.upper()}_KEY"\n'
                f'api = "openai"\nmodels = [{listed}]\n')
    return table("alpha", alpha, alpha_models) + table("beta", beta, beta_models)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # closed again: nothing listens there


@pytest.fixture
def two():
    with Standin() as a, Standin() as b:
        yield a, b


@pytest.fixture
def gateway(make_service, monkeypatch):
    """start(alpha_url, beta_url, config, alpha_models, beta_models) -> (service, client). By default
    alpha serves Claude Sonnet 4 and GPT-4o (the two best for code generation), beta GPT-4o Mini."""
    monkeypatch.setenv("ALPHA_KEY", "sk-alpha")
    monkeypatch.setenv("BETA_KEY", "sk-beta")
    made = []

    def start(alpha: str, beta: str, extra: str = "", alpha_models=("claude-sonnet-4", "gpt-4o"),
              beta_models=("gpt-4o-mini",)):
        svc = make_service(config=extra + "\n" + providers(alpha, beta, alpha_models, beta_models))
        cm = serving(svc, token=TOKEN)
        base = cm.__enter__()
        made.append(cm)
        return svc, openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0, timeout=30)

    yield start
    for cm in made:
        cm.__exit__(None, None, None)


def rows_by_id(svc, n: int) -> dict[str, dict]:
    rows = settled(svc, n)
    assert len(rows) == n, rows
    return {r["decisionId"]: r for r in rows}


def detail(svc, dec_id: str) -> dict:
    return svc.decision(dec_id)["detail"]


def test_429_moves_to_another_provider_and_every_attempt_is_recorded(gateway, two):
    a, b = two
    a.behaviour = Behaviour(status=429, error={"error": {"message": "slow down", "type": "rate_limit"}})
    svc, client = gateway(a.base_url, b.base_url)
    raw = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    answer = raw.parse()
    assert raw.headers["x-modelwise-attempts"] == "2"
    # Claude Sonnet 4 failed at alpha; GPT-4o (alpha too) ranks next, but another provider goes first
    assert [r["json"]["model"] for r in a.requests] == ["claude-sonnet-4"]
    assert raw.headers["x-modelwise-provider"] == "beta" and raw.headers["x-modelwise-model"] == "gpt-4o-mini"
    assert answer.model == "gpt-4o-mini" and answer.choices[0].message.content
    rows = rows_by_id(svc, 2)
    final = rows[raw.headers["x-modelwise-decision-id"]]
    [failed] = [r for r in rows.values() if r is not final]
    assert failed["selectedModel"] == "claude-sonnet-4" and failed["outcome"] == "error"
    assert failed["actualCost"] == 0  # an answered 429 costs nothing
    assert final["outcome"] == "success" and final["actualCost"] > 0
    assert detail(svc, final["decisionId"])["fallbackFrom"] == {
        "decisionId": failed["decisionId"], "model": "claude-sonnet-4", "provider": "alpha", "why": "429"}
    assert "fallbackFrom" not in detail(svc, failed["decisionId"])


def test_failing_model_and_provider_cool_down_until_the_clock_passes(gateway, two, clock):
    a, b = two
    a.behaviour = Behaviour(status=500)
    svc, client = gateway(a.base_url, b.base_url, "[gateway]\ncooldown_seconds = 60\n")
    r1 = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    assert r1.headers["x-modelwise-attempts"] == "2" and len(a.requests) == 1
    a.behaviour = Behaviour()  # alpha works again, but the gateway does not know it yet
    r2 = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    assert r2.headers["x-modelwise-attempts"] == "1" and r2.headers["x-modelwise-provider"] == "beta"
    assert len(a.requests) == 1  # neither the model nor its provider was tried while cooling down
    clock.advance(59)
    client.chat.completions.create(model="auto:code_generation", messages=MSGS)
    assert len(a.requests) == 1
    clock.advance(2)  # past the cooldown
    r3 = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    assert r3.headers["x-modelwise-model"] == "claude-sonnet-4" and len(a.requests) == 2
    assert len(rows_by_id(svc, 5)) == 5


def test_every_model_cooling_is_503_with_retry_after_and_no_upstream_call(gateway, two):
    a, b = two
    a.behaviour = b.behaviour = Behaviour(status=500)
    svc, client = gateway(a.base_url, b.base_url, "[gateway]\nattempts = 3\ncooldown_seconds = 40\n")
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="auto:code_generation", messages=MSGS)
    assert err.value.status_code == 500 and err.value.response.headers["x-modelwise-attempts"] == "3"
    assert [r["json"]["model"] for r in a.requests] == ["claude-sonnet-4", "gpt-4o"]
    assert [r["json"]["model"] for r in b.requests] == ["gpt-4o-mini"]
    before = len(a.requests) + len(b.requests)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto:code_generation", messages=MSGS)
    assert err.value.status_code == 503 and "cooling down" in err.value.body["message"]
    assert 1 <= int(err.value.response.headers["retry-after"]) <= 40
    assert len(a.requests) + len(b.requests) == before  # no upstream call
    rows = rows_by_id(svc, 3)  # and nothing recorded for the refused call
    assert all(r["outcome"] == "error" and r["actualCost"] == 0 for r in rows.values())
    # a model named by the client is called as asked, cooling or not
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert len(a.requests) + len(b.requests) == before + 1


def test_attempts_are_capped_by_the_config(gateway, two):
    a, b = two
    a.behaviour = b.behaviour = Behaviour(status=502)
    svc, client = gateway(a.base_url, b.base_url, "[gateway]\nattempts = 2\n")
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto:code_generation", messages=MSGS)
    assert err.value.status_code == 502 and err.value.response.headers["x-modelwise-attempts"] == "2"
    assert len(a.requests) + len(b.requests) == 2
    assert len(rows_by_id(svc, 2)) == 2


def test_a_provider_slower_than_the_timeout_is_left_and_settled_at_its_reservation(gateway, two):
    a, b = two
    a.behaviour = Behaviour(delay=3.0)
    svc, client = gateway(a.base_url, b.base_url, "[gateway]\ntimeout_seconds = 0.4\ncooldown_seconds = 0\n")
    raw = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    assert raw.headers["x-modelwise-attempts"] == "2" and raw.headers["x-modelwise-provider"] == "beta"
    with client.chat.completions.with_streaming_response.create(
        model="auto:code_generation", messages=MSGS, stream=True
    ) as resp:
        assert resp.headers["x-modelwise-attempts"] == "2"
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Hello")
    rows = rows_by_id(svc, 4)
    silent = [r for r in rows.values() if r["selectedModel"] == "claude-sonnet-4"]
    assert len(silent) == 2 and len(a.requests) == 2
    # the provider got the call and may bill it: the worst case the budget granted is what it cost
    assert all(r["outcome"] == "error" and r["actualCost"] == r["estimatedCost"] > 0 for r in silent)


def test_an_error_after_the_first_byte_is_an_error_event_not_a_fallback(gateway, two):
    a, b = two
    a.behaviour = Behaviour(text="one two three", chunk_delay=2.0)  # the first chunk, then silence
    svc, client = gateway(a.base_url, b.base_url, "[gateway]\ntimeout_seconds = 0.4\n")
    with pytest.raises(openai.APIError) as err:  # the SDK raises on the stream's error event
        for _ in client.chat.completions.create(model="auto:code_generation", messages=MSGS, stream=True):
            pass
    assert "stream broke" in str(err.value.message)
    assert b.requests == [] and len(a.requests) == 1
    [row] = rows_by_id(svc, 1).values()
    assert row["outcome"] == "error"


def test_a_closed_port_cools_the_whole_provider(gateway, two):
    _, b = two
    svc, client = gateway(closed_port_url(), b.base_url)
    raw = client.chat.completions.with_raw_response.create(model="auto:code_generation", messages=MSGS)
    assert raw.headers["x-modelwise-attempts"] == "2" and raw.headers["x-modelwise-provider"] == "beta"
    # knowledge: only alpha's models can answer it (GPT-4o Mini is not rated for it). Claude Sonnet 4 cools
    # down; GPT-4o is not tried either, since its provider could not be reached at all
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto:knowledge", messages=KNOWLEDGE)
    assert err.value.status_code == 503 and "cooling down" in err.value.body["message"]
    rows = rows_by_id(svc, 2)
    assert sorted(r["selectedModel"] for r in rows.values()) == ["claude-sonnet-4", "gpt-4o-mini"]
    assert {r["outcome"] for r in rows.values() if r["selectedModel"] == "claude-sonnet-4"} == {"error"}


def test_a_retry_is_admitted_again_within_the_task_budget(gateway, two, make_service, monkeypatch):
    """Claude Sonnet 4 (alpha) fits the task budget at the type's expected output, GPT-4o (beta) does not:
    when alpha fails, the retry is refused by the budget, so GPT-4o is never called."""
    a, b = two
    a.behaviour = Behaviour(status=500)
    monkeypatch.setenv("ALPHA_KEY", "sk-alpha")
    monkeypatch.setenv("BETA_KEY", "sk-beta")
    probe = make_service(config=providers(a.base_url, b.base_url, ("claude-sonnet-4",), ("gpt-4o",)))
    rk = probe.ranking("knowledge", any_provider=False, api="openai")
    out = probe.settings.tokens_for("knowledge")[1]
    price = {e.model.id: e for e in rk.nofloor_list}
    low, high = price["claude-sonnet-4"].estimated_cost(200, out), price["gpt-4o"].estimated_cost(1, out)
    assert low < high
    svc, client = gateway(a.base_url, b.base_url, f"[task_budgets]\nknowledge = {(low + high) / 2}\n",
                          alpha_models=("claude-sonnet-4",), beta_models=("gpt-4o",))
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="auto:knowledge", messages=KNOWLEDGE)
    assert err.value.response.headers["x-modelwise-attempts"] == "1"
    assert b.requests == [] and len(a.requests) == 1
    [row] = rows_by_id(svc, 1).values()
    assert row["selectedModel"] == "claude-sonnet-4" and row["outcome"] == "error"


def test_the_day_is_a_hard_cap_with_fallbacks_under_parallel_calls(gateway, two):
    """Alpha always fails (no cooldown, so every call tries it first), beta spends every token granted:
    each upstream call has its own decision, and the day's spend never exceeds the daily budget."""
    a, b = two
    a.behaviour = Behaviour(status=503, delay=0.02)
    b.behaviour = Behaviour(fill=True, delay=0.05)
    budget = 0.01
    extra = f"daily_budget = {budget}\n[gateway]\ncooldown_seconds = 0\n"
    svc, client = gateway(a.base_url, b.base_url, extra,
                          alpha_models=("claude-sonnet-4",), beta_models=("gpt-4o-mini", "gpt-4o"))

    def one(i: int) -> str:
        try:
            if i % 2:
                with client.chat.completions.with_streaming_response.create(
                    model="auto:code_generation", messages=MSGS, stream=True, max_tokens=300
                ) as resp:
                    list(resp.parse())
            else:
                client.chat.completions.create(model="auto:code_generation", messages=MSGS, max_tokens=300)
            return "ok"
        except openai.APIStatusError as exc:
            return str(exc.status_code)

    results: list[str] = []
    for _ in range(6):
        with ThreadPoolExecutor(16) as pool:
            results += list(pool.map(one, range(16)))
        if "402" in results:
            break
    assert "ok" in results and "402" in results
    upstream_calls = len(a.requests) + len(b.requests)
    rows = settled(svc, upstream_calls)
    assert len(rows) == upstream_calls  # every attempt is a decision, and only attempts are
    assert all(r["outcome"] is not None for r in rows)
    assert all(r["actualCost"] <= r["estimatedCost"] + 1e-12 for r in rows)
    spent = sum(r["actualCost"] for r in rows)
    assert spent <= budget + 1e-9
    failed = [r for r in rows if r["selectedModel"] == "claude-sonnet-4"]
    assert len(failed) == len(a.requests) and all(r["outcome"] == "error" for r in failed)


# -- the loop itself, with a fake attempt -----------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


CANDIDATES = [("m1", "p1"), ("m2", "p1"), ("m3", "p2"), ("m4", "p3")]


def fake(fails: set[str], provider_wide: bool = False):
    """An attempt over CANDIDATES (best first) that fails for the models in `fails`."""
    calls: list[tuple[str, frozenset[str], frozenset[str]]] = []

    async def attempt(exclude, avoid, failures):
        for m, p in CANDIDATES:
            if m not in exclude and p not in avoid:
                calls.append((m, exclude, avoid))
                if m in fails:
                    return Failure(m, p, "500", f"error from {m}", provider_wide)
                return f"answer from {m}"
        raise NoCandidate("nothing left", "excluded")

    return attempt, calls


def test_loop_prefers_another_provider_and_stops_at_the_limit():
    attempt, calls = fake({"m1", "m3"})
    out = asyncio.run(run(attempt, Cooldowns(30, FakeClock()), limit=3))
    assert out.result == "answer from m4" and out.attempts == 3
    assert [c[0] for c in calls] == ["m1", "m3", "m4"]  # m2 shares m1's provider
    attempt, calls = fake({"m1", "m3", "m4"})
    out = asyncio.run(run(attempt, Cooldowns(30, FakeClock()), limit=3))
    assert out.result is None and out.answer == "error from m4" and len(out.failures) == 3


def test_loop_falls_back_to_a_failed_provider_when_no_other_is_left():
    attempt, calls = fake({"m1", "m3", "m4"})
    out = asyncio.run(run(attempt, Cooldowns(30, FakeClock()), limit=5))
    assert out.result == "answer from m2" and [c[0] for c in calls] == ["m1", "m3", "m4", "m2"]


def test_loop_named_model_is_one_attempt_leaving_nothing_out():
    clock = FakeClock()
    cool = Cooldowns(30, clock)
    cool.failed(Failure("m1", "p1", "500", None))
    attempt, calls = fake({"m1"})
    out = asyncio.run(run(attempt, cool, limit=3, fallback=False))
    assert out.attempts == 1 and calls == [("m1", frozenset(), frozenset())]


def test_cooldowns_expire_on_the_clock_and_follow_retry_after():
    clock = FakeClock()
    cool = Cooldowns(30, clock)
    cool.failed(Failure("m1", "p1", "429", None, retry_after=90))
    cool.failed(Failure("m3", "p2", "refused", None, provider_wide=True))
    assert cool.cooling() == ({"m1", "m3"}, {"p1", "p2"}, {"p2"})
    assert cool.retry_after() == 30
    clock.t += 31
    assert cool.cooling() == ({"m1"}, {"p1"}, set())
    clock.t += 60
    assert cool.cooling() == (set(), set(), set())
    zero = Cooldowns(0, clock)
    zero.failed(Failure("m1", "p1", "500", None))
    assert zero.cooling() == (set(), set(), set())


def test_loop_with_everything_cooling_raises_no_candidate():
    clock = FakeClock()
    cool = Cooldowns(30, clock)
    for m, p in CANDIDATES:
        cool.failed(Failure(m, p, "500", None))
    attempt, calls = fake(set())
    with pytest.raises(NoCandidate):
        asyncio.run(run(attempt, cool, limit=3))
    assert calls == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[gateway]\nattempts = 0", "gateway.attempts"),
        ("[gateway]\nattempts = 'three'", "gateway.attempts"),
        ("[gateway]\ncooldown_seconds = -5", "gateway.cooldown_seconds"),
        ("[gateway]\ntimeout_seconds = 0", "gateway.timeout_seconds"),
        ("[gateway]\nconnect_timeout_seconds = true", "gateway.connect_timeout_seconds"),
        ("[gateway]\nretries = 2", "gateway.retries"),
    ],
)
def test_bad_gateway_config_exits_2_naming_the_key(cli_env, config, message):
    from pathlib import Path

    from tests.conftest import run_cli

    Path(cli_env["MODELWISE_CONFIG"]).write_text(config)
    r = run_cli("route", "documentation", "x", env=cli_env)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_retry_after_is_read_as_seconds_milliseconds_or_an_http_date():
    from multidict import CIMultiDict

    from modelwise.gateway.common import retry_after

    def wait(now: float = 1_700_000_000.0, **headers: str) -> float | None:
        return retry_after(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), lambda: now)

    assert wait(retry_after="30") == 30
    assert wait(retry_after_ms="1500") == 1.5  # OpenAI's, before Retry-After
    assert wait(retry_after_ms="1500", retry_after="30") == 1.5
    # a date is counted from the answer's own Date (the two clocks need not agree)...
    assert wait(retry_after="Wed, 21 Oct 2015 07:28:00 GMT", date="Wed, 21 Oct 2015 07:27:00 GMT") == 60
    # ...else from this machine's clock
    assert wait(1445412420.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT") == 60
    assert wait(retry_after="Wed, 21 Oct 2015 07:28:00 GMT") is None  # in the past
    for bad in ("soon", "nan", "-5", ""):
        assert wait(retry_after=bad) is None
    assert wait() is None
