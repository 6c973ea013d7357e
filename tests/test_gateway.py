"""The OpenAI-compatible gateway driven with the official `openai` SDK through a real uvicorn (and one real
`modelwise serve`), against a stand-in provider on loopback: routed answers, streaming, settlement at the
reported usage and the offer's prices, the hard cap under parallel calls, 402 without an upstream call,
disconnects settled, bad input, upstream errors, and the provider key never stored or logged."""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.live import serving
from tests.standin_provider import Behaviour, Standin

ROOT = Path(__file__).resolve().parent.parent

KEY = "sk-standin-provider-key-9d2f41c7"
TOKEN = "tok-gateway-client-6b1e"
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4")


def config(base_url: str, extra: str = "") -> str:
    models = ", ".join(f'"{m}"' for m in MODELS)
    return (
        f"{extra}\n[providers.standin]\nbase_url = \"{base_url}\"\napi_key_env = \"STANDIN_KEY\"\n"
        f"api = \"openai\"\nmodels = [{models}]\n"
    )


@pytest.fixture
def standin():
    with Standin() as s:
        yield s


@pytest.fixture
def gateway(make_service, standin, monkeypatch):
    """(service, base URL, client) for a gateway whose one provider is the stand-in; `extra` config."""
    monkeypatch.setenv("STANDIN_KEY", KEY)
    made = []

    def start(extra: str = "", token: str | None = TOKEN, base_url: str | None = None):
        svc = make_service(config=config(base_url or standin.base_url, extra))
        cm = serving(svc, token=token)
        base = cm.__enter__()
        made.append(cm)
        client = openai.OpenAI(base_url=base + "/v1", api_key=token or "none", max_retries=0, timeout=30)
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


def priced(svc, model_id: str, tin: int, tout: int) -> float:
    """Tokens x the prices of the offer the call went through (the stand-in's; no long-context tiers)."""
    offer = svc.reach.offer(model_id)
    assert offer.provider == "standin" and not offer.tiers
    return (tin * offer.input_per_1m + tout * offer.output_per_1m) / 1_000_000


def test_models_lists_auto_types_and_reachable_models(gateway):
    svc, _, client = gateway()
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto"
    assert [i for i in ids if i.startswith("auto:")] == [f"auto:{t}" for t in svc.settings.task_types]
    assert sorted(i for i in ids if not i.startswith("auto")) == sorted(MODELS)


def test_one_model_is_retrieved_as_listed_and_an_unknown_one_is_a_404(gateway, standin):
    """The SDK's `models.retrieve` (GET /v1/models/ID, ids with ':' or '/' included) answers the listing's
    object; an id the gateway does not serve is the OpenAI 404 `model_not_found`, and nothing is called."""
    svc, base, client = gateway()
    listed = {m.id: m for m in client.models.list()}
    for mid in ("auto", "auto:debugging", *MODELS):
        got = client.models.retrieve(mid)
        assert got == listed[mid] and got.id == mid
    calls = len(standin.requests)
    for mid in ("gpt-5-nonexistent", "vendor/some-model", "auto:nonsense"):
        with pytest.raises(openai.NotFoundError) as err:
            client.models.retrieve(mid)
        assert err.value.code == "model_not_found" and mid in err.value.message
    assert len(standin.requests) == calls
    assert httpx.get(f"{base}/v1/models/auto").status_code == 401  # the token, as on the listing


def test_routed_answer_passes_through_and_settles_at_reported_usage(gateway, standin):
    standin.behaviour = Behaviour(usage=(57, 9))
    svc, _, client = gateway()
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "Traceback (most recent call last):\n  KeyError: 'a'"}],
    )
    answer = raw.parse()
    dec_id = raw.headers["x-modelwise-decision-id"]
    assert raw.headers["x-modelwise-task-type"] == "debugging"
    assert raw.headers["x-modelwise-task-type-from"] == "rule:stack-trace"
    assert raw.headers["x-modelwise-provider"] == "standin"
    model = raw.headers["x-modelwise-model"]
    assert answer.model == model and answer.choices[0].message.content.startswith("Hello from the stand-in")
    assert answer.usage.prompt_tokens == 57
    got = standin.requests[-1]
    assert got["json"]["model"] == model  # the upstream id (the same as the registry's here)
    assert got["headers"]["Authorization"] == f"Bearer {KEY}"  # the provider's key, never the token
    granted = got["json"]["max_tokens"]
    row = next(r for r in settled(svc, 1) if r["decisionId"] == dec_id)
    assert row["outcome"] == "success"
    assert row["actualCost"] == pytest.approx(priced(svc, model, 57, 9), rel=1e-9)
    assert row["actualCost"] <= row["estimatedCost"]
    assert row["estimatedCost"] == pytest.approx(svc.decision(dec_id)["estimatedCost"])
    detail = svc.decision(dec_id)
    assert detail["detail"]["estimatedTokens"]["output"] == granted


def test_a_cookie_a_provider_sets_is_never_sent_on_another_call(gateway, standin):
    """The gateway keeps no cookie jar: a provider's Set-Cookie (Cloudflare's `__cf_bm`, a session) would
    otherwise go back with every later call, whichever client, agent or user made it."""
    standin.behaviour = Behaviour(headers={"Set-Cookie": "__cf_bm=tracked-9f3a; Path=/; HttpOnly"})
    _, _, client = gateway(base_url=f"http://localhost:{standin.port}/v1")  # a name: cookies are kept
    for stream in (False, True, False):
        r = client.chat.completions.create(model="auto", stream=stream,
                                           messages=[{"role": "user", "content": "Write a haiku."}])
        if stream:
            assert "".join(c.choices[0].delta.content or "" for c in r if c.choices)
    assert len(standin.requests) == 3
    assert all("Cookie" not in got["headers"] for got in standin.requests)


def test_a_gateway_decision_lists_the_models_it_could_call(make_service, standin, monkeypatch):
    """Its candidates are the winner and the next models the gateway could fall back to, each with its
    rank among every model scored, never one that no enabled provider serves (here claude-sonnet-4,
    which outranks one of them)."""
    monkeypatch.setenv("STANDIN_KEY", KEY)
    svc = make_service(config=config(standin.base_url).replace(', "claude-sonnet-4"', ""))
    with serving(svc, token=TOKEN) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0, timeout=30)
        raw = client.chat.completions.with_raw_response.create(
            model="auto:code_generation", messages=[{"role": "user", "content": "Write a parser."}])
    rows = svc.decision(raw.headers["x-modelwise-decision-id"])["detail"]["candidates"]
    assert sorted(r["model"] for r in rows) == ["gpt-4o", "gpt-4o-mini"]
    assert all(r["provider"] == "standin" for r in rows)
    assert [r["winner"] for r in rows].count(True) == 1
    everything = svc.ctx.ranking("code_generation", any_provider=False)
    ranks = {e.model.id: everything.rank_of(e) for e in everything.entries}
    assert ranks["claude-sonnet-4"] < max(ranks["gpt-4o"], ranks["gpt-4o-mini"])  # left out all the same
    assert [r["rank"] for r in rows] == sorted(ranks[r["model"]] for r in rows)


def test_named_type_header_concrete_model_and_agent(gateway, standin):
    svc, _, client = gateway()
    r = client.chat.completions.with_raw_response.create(
        model="auto:testing", messages=[{"role": "user", "content": "hello"}], user="agent-7"
    )
    assert r.headers["x-modelwise-task-type"] == "testing"
    assert r.headers["x-modelwise-task-type-from"] == "named"
    r = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=50,
        extra_headers={"X-Modelwise-Task-Type": "formatting", "X-Modelwise-Agent": "cline"},
    )
    assert r.headers["x-modelwise-model"] == "gpt-4o-mini"
    assert r.headers["x-modelwise-task-type"] == "formatting"
    assert svc.decision(r.headers["x-modelwise-decision-id"])["detail"]["taskTypeFrom"] == "header"
    assert standin.requests[-1]["json"]["model"] == "gpt-4o-mini"
    assert standin.requests[-1]["json"]["max_tokens"] == 50  # what the client asked, within budget
    rows = settled(svc, 2)
    assert {r["agent"] for r in rows} == {"agent-7", "cline"}


def test_streaming_passes_chunks_and_settles_with_final_usage(gateway, standin):
    standin.behaviour = Behaviour(text="one two three four five six", usage=(21, 6))
    svc, _, client = gateway()
    with client.chat.completions.with_streaming_response.create(
        model="auto:knowledge", messages=[{"role": "user", "content": "count"}], stream=True
    ) as resp:
        dec_id = resp.headers["x-modelwise-decision-id"]
        chunks = list(resp.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert chunks[-1].usage is None  # not asked for: the gateway's own usage request stays upstream
    sent = standin.requests[-1]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    row = next(r for r in settled(svc, 1) if r["decisionId"] == dec_id)
    assert row["outcome"] == "success"
    assert row["actualCost"] == pytest.approx(priced(svc, row["selectedModel"], 21, 6), rel=1e-9)
    asked = client.chat.completions.create(
        model="auto:knowledge", messages=[{"role": "user", "content": "count"}], stream=True,
        stream_options={"include_usage": True},
    )
    assert [c.usage.completion_tokens for c in asked if c.usage] == [6]  # asked for: passed on


def test_hard_cap_under_parallel_calls_and_streams(gateway, standin):
    """20 calls at once (half streaming) that each use every output token they are granted: the day's
    settled spend never exceeds the daily budget, max_tokens was lowered, refusals are 402."""
    standin.behaviour = Behaviour(fill=True, delay=0.05)
    budget = 0.05
    svc, _, client = gateway(f"daily_budget = {budget}\n[task_budgets]\nknowledge = 0.02\n")

    def one(i: int) -> str:
        msgs = [{"role": "user", "content": f"question {i}: what is a monad?"}]
        try:
            if i % 2:
                with client.chat.completions.with_streaming_response.create(
                    model="auto:knowledge", messages=msgs, stream=True
                ) as resp:
                    list(resp.parse())
            else:
                client.chat.completions.create(model="auto:knowledge", messages=msgs)
            return "ok"
        except openai.APIStatusError as exc:
            assert exc.status_code == 402, exc
            assert exc.body["code"] == "budget_exhausted" and "\n" not in exc.body["message"]
            return "402"

    rounds = 0
    results: list[str] = []
    while "402" not in results and rounds < 5:  # keep spending until the cap refuses
        with ThreadPoolExecutor(20) as pool:
            results += list(pool.map(one, range(20)))
        rounds += 1
    assert "ok" in results and "402" in results
    rows = settled(svc, results.count("ok"))
    assert len(rows) == results.count("ok")  # a refusal records nothing
    assert all(r["outcome"] == "success" for r in rows)
    assert all(r["actualCost"] <= r["estimatedCost"] + 1e-12 for r in rows)  # never above the reservation
    spent = sum(r["actualCost"] for r in rows)
    assert spent <= budget + 1e-9
    from modelwise.core.budget import allocation
    from modelwise.core.tiers import tier_of

    tier_cap = allocation(svc.settings, tier_of(svc.settings, "knowledge"))
    assert spent <= tier_cap + 1e-9
    assert spent > tier_cap * 0.8  # the calls did spend: the cap is what stopped them
    grants = [r["json"]["max_tokens"] for r in standin.requests]
    assert max(grants) < 32_768 and len(set(grants)) > 1  # lowered to what the money left pays for


def test_nothing_fits_is_402_without_an_upstream_call(gateway, standin):
    svc, _, client = gateway("daily_budget = 0.0000001\n")
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 402
    body = err.value.response.json()
    assert set(body["error"]) >= {"message", "type", "code"} and "\n" not in body["error"]["message"]
    assert standin.requests == []
    assert not svc.ledger_exists() or svc.decisions(limit=10) == []


def test_client_that_disconnects_mid_stream_is_settled(gateway, standin):
    words = " ".join(f"w{i}" for i in range(200))
    standin.behaviour = Behaviour(text=words, chunk_delay=0.05)
    svc, base, _ = gateway()
    with httpx.Client(timeout=30) as http, http.stream(
        "POST", base + "/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
        json={"model": "auto:knowledge", "stream": True, "messages": [{"role": "user", "content": "go"}]},
    ) as resp:
        dec_id = resp.headers["x-modelwise-decision-id"]
        seen = b""
        for part in resp.iter_bytes():
            seen += part
            if seen.count(b"data:") >= 5:
                break  # close the connection early
    deadline = time.monotonic() + 10
    while standin.cut == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standin.cut == 1  # the upstream call was cancelled, not read to its end
    row = next(r for r in settled(svc, 1) if r["decisionId"] == dec_id)
    assert row["outcome"] == "error"  # settled, never left reserved
    assert 0 < row["actualCost"] <= row["estimatedCost"]


def _assert_openai_error(r: httpx.Response, status: int, needle: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "code"} and needle in err["message"], err
    assert "\n" not in err["message"]


def test_bad_input_is_an_openai_error_and_records_nothing(gateway, standin):
    svc, base, _ = gateway()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = base + "/v1/chat/completions"
    msgs = [{"role": "user", "content": "hi"}]
    with httpx.Client(timeout=60) as http:
        _assert_openai_error(http.post(url, content=b"{not json", headers={**auth, "Content-Type":
                                                                           "application/json"}), 400, "JSON")
        _assert_openai_error(http.post(url, json={"model": "auto"}, headers=auth), 400, "messages")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": []}, headers=auth), 400,
                             "messages")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": msgs}), 401, "token")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": msgs},
                                       headers={"Authorization": "Bearer wrong"}), 401, "token")
        _assert_openai_error(http.post(url, json={"model": "no-such-model", "messages": msgs}, headers=auth),
                             404, "no-such-model")
        _assert_openai_error(http.post(url, json={"model": "auto:no_such_type", "messages": msgs},
                                       headers=auth), 404, "no_such_type")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": msgs, "max_tokens": 0},
                                       headers=auth), 400, "max_tokens")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": msgs},
                                       headers={**auth, "X-Modelwise-Task-Type": "nope"}), 400, "nope")
        _assert_openai_error(http.post(url, json={"model": "auto", "messages": msgs, "n": 3}, headers=auth),
                             400, "n must be 1")
        big = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * (33 << 20) + b'"}]}'
        _assert_openai_error(http.post(url, content=big, headers={**auth, "Content-Type":
                                                                  "application/json"}), 413, "larger")
    assert standin.requests == []
    assert not svc.ledger_exists() or svc.decisions(limit=10) == []


def test_upstream_error_passes_through_and_settles_as_error_at_zero(gateway, standin):
    overloaded = {"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}
    standin.behaviour = Behaviour(status=503, error=overloaded)
    svc, _, client = gateway()
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 503 and err.value.body["message"] == "overloaded"
    tries = int(err.value.response.headers["x-modelwise-attempts"])  # every model the provider serves
    rows = settled(svc, tries)
    assert tries == len(standin.requests) == len(rows) > 1
    assert all(row["outcome"] == "error" and row["actualCost"] == 0 for row in rows)


def test_refused_connection_is_502_and_settled(gateway):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    svc, _, client = gateway(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 502 and "could not be reached" in err.value.body["message"]
    [row] = settled(svc, 1)
    assert row["outcome"] == "error" and row["actualCost"] == 0


def test_provider_key_is_never_stored_or_logged(gateway, standin, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    svc, _, client = gateway()
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    with client.chat.completions.with_streaming_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as resp:
        list(resp.parse())
    settled(svc, 2)
    svc.close()
    assert KEY not in caplog.text and TOKEN not in caplog.text
    for f in Path(tmp_path).rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_modelwise_serve_prints_the_base_url_and_serves_the_gateway(tmp_path, standin):
    from tests.test_serve_cli import start_serve, stop

    cfg = tmp_path / "config.toml"
    cfg.write_text(config(standin.base_url))
    env = {"MODELWISE_CONFIG": str(cfg), "MODELWISE_LEDGER": str(tmp_path / "ledger.sqlite3"),
           "MODELWISE_REGISTRY": str(Path(__file__).parent / "fixtures" / "brief_registry.json"),
           "STANDIN_KEY": KEY}
    proc, base = start_serve(env, "--token", TOKEN, "--access-log")
    try:
        line = proc.stderr.readline()
        assert f"{base}/v1" in line, line
        client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
        answer = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content
        assert standin.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    finally:
        out, err = stop(proc)
    assert KEY not in out + err and TOKEN not in out + err
    assert KEY.encode() not in (tmp_path / "ledger.sqlite3").read_bytes()


def test_bench_gateway_runs():
    """bench/gateway.py end to end, tiny (no timing asserted)."""
    import subprocess
    import sys

    root = ROOT
    r = subprocess.run([sys.executable, str(root / "bench" / "gateway.py"), "--requests", "5", "--seconds",
                        "0.2"], capture_output=True, text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    import importlib.util

    litellm = importlib.util.find_spec("litellm") is not None  # then measured too, apart: two lines more
    assert r.stdout.count("requests/s at 16 connections") == (4 if litellm else 2) and "added p50" in r.stdout
    assert r.stdout.count("modelwise / pass-through") == 2  # the ratio SPEC section 9 budgets
    r = subprocess.run([sys.executable, str(root / "bench" / "gateway.py"), "--requests", "5", "--seconds",
                        "0.2", "--rounds", "1", "--baseline-src", str(root)],
                       capture_output=True, text=True, timeout=180, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("this tree / baseline") == 2 and r.stdout.count("this tree - baseline") == 2


def _bench_gateway(name: str):
    """bench/gateway.py loaded as a module of its own (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "gateway.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_gateway_compares_a_baseline_tree(capsys, monkeypatch):
    """`--baseline-src`: the two trees' latencies in blocks, each alternated with direct, either tree first
    in turn, and the median of the rounds' differences of added p50 (here made up: no timing)."""
    import argparse
    import asyncio

    bench = _bench_gateway("bench_gateway_paired")
    blocks: list[tuple[str, ...]] = []
    took = {"direct": 0.001, "baseline": 0.003, "modelwise": 0.0025}

    async def latency(session, targets, n, stream, until=None, gap=0.0):
        if n == bench.BLOCK:
            blocks.append(tuple(targets))
        return {name: [took[name]] * n for name in targets}

    monkeypatch.setattr(bench, "_latency", latency)
    proxies = {name: (f"http://{name}/v1", "m", "t") for name in ("direct", "baseline", "modelwise")}
    asyncio.run(bench._paired(None, proxies, argparse.Namespace(requests=300, gap=0.0)))
    one = [("direct", "baseline"), ("direct", "modelwise")]
    assert blocks == 2 * (one + one[::-1] + one)  # three rounds a format, the first tree in turn
    out = capsys.readouterr().out
    assert out.count("3 blocks of 100") == 2 and "baseline: added p50 2.00 ms" in out
    assert "this tree: added p50 1.50 ms" in out and "median -0.500 ms (lower in 3 of 3 rounds)" in out


def test_bench_gateway_asks_what_ask_names_with_a_prompt_of_its_own_each_time_distinct(monkeypatch):
    """`--ask` is what modelwise is asked for (both trees alike); `--distinct` gives every request a
    prompt of its own (so the inference keeps nothing it can answer from), and without it every request
    is the same."""
    import asyncio

    bench = _bench_gateway("bench_gateway_ask")
    asked: dict[str, str] = {}

    def run(args, proxies):
        asked.update({name: model for name, (_, model, _) in proxies.items()})
        raise SystemExit(0)

    class Proc:
        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(bench, "_start", lambda cmd, env, pattern: (Proc(), "http://127.0.0.1:9/v1"))
    monkeypatch.setattr(bench, "run", run)
    model = bench.standin_model(*bench.REGISTRIES["shipped"])
    for ask, want in (("named-type", "auto:documentation"), ("auto", "auto"), ("model", model)):
        monkeypatch.setattr("sys.argv", ["gateway.py", "--ask", ask, "--baseline-src", str(ROOT)])
        with pytest.raises(SystemExit):
            bench.main()
        assert asked["modelwise"] == asked["baseline"] == want and asked["direct"] == model

    sent: list[bytes] = []

    class Session:
        def post(self, url, data, headers):
            sent.append(data)
            return self

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

        status = 200

        async def read(self):
            return b"{}"

    body = bench.BODY % (b"auto", b"")
    for distinct in (False, True):
        monkeypatch.setattr(bench, "DISTINCT", distinct)
        sent.clear()
        for _ in range(3):
            asyncio.run(bench._one(Session(), "http://x/v1/chat/completions", body, {}, False))
        assert len(set(sent)) == (3 if distinct else 1)
        assert all(b"Write a haiku about budget" in b for b in sent)


def test_bench_gateway_serves_its_own_tree(monkeypatch, tmp_path):
    """The bench starts every process with its own tree's src/ first on the path (not whichever modelwise
    the interpreter has installed), and a --baseline-src server with that checkout's src/ first."""
    import os

    bench = _bench_gateway("bench_gateway_env")
    paths: list[str] = []

    def start(cmd, env, pattern):
        paths.append(env["PYTHONPATH"].split(os.pathsep)[0])
        if len(paths) == 3:  # the stand-in, this tree's server, the baseline's
            raise SystemExit(0)
        return None, "http://127.0.0.1:9/v1"

    monkeypatch.setattr(bench, "_start", start)
    monkeypatch.setattr("sys.argv", ["gateway.py", "--baseline-src", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench.main()
    assert paths == [str(ROOT / "src"), str(ROOT / "src"), str(tmp_path.resolve() / "src")]


def test_bench_gateway_gap_spaces_every_sequential_request(monkeypatch):
    """`--gap` puts its pause after each request to each target (all alike), none without it."""
    import asyncio

    bench = _bench_gateway("bench_gateway_under_test")
    events: list[object] = []

    async def one(session, url, body, headers, stream, until=None):
        events.append(url)
        return 0.001

    async def sleep(seconds):
        events.append(seconds)

    monkeypatch.setattr(bench, "_one", one)
    monkeypatch.setattr(bench.asyncio, "sleep", sleep)
    targets = {"a": ("A", b"", {}), "b": ("B", b"", {})}
    lat = asyncio.run(bench._latency(None, targets, 2, False, gap=0.005))
    assert events == ["A", 0.005, "B", 0.005, "A", 0.005, "B", 0.005]
    assert lat == {"a": [0.001, 0.001], "b": [0.001, 0.001]}
    events.clear()
    asyncio.run(bench._latency(None, targets, 2, False))
    assert events == ["A", "B", "A", "B"]


def test_models_behind_an_anthropic_format_provider_are_called_translated(gateway, standin, monkeypatch):
    """A model only an `api = "anthropic"` provider serves is listed and routed to, the call translated to
    Anthropic Messages and back; a request that format cannot carry (response_format) is not sent to it.
    (tests/test_gateway_translate.py covers the translation itself.)"""
    monkeypatch.setenv("OTHER_KEY", "sk-other")
    extra = ('[weights]\ncapability = 0\nperformance = 0\navailability = 0\ncost = 1\n'  # cheapest wins
             f'[providers.other]\nbase_url = "{standin.base_url}"\napi_key_env = "OTHER_KEY"\n'
             'api = "anthropic"\nmodels = ["claude-sonnet-4"]\n')
    svc, _, client = gateway(extra)
    assert svc.reach.offer("claude-sonnet-4").provider == "other"
    assert "claude-sonnet-4" in [m.id for m in client.models.list()]
    r = client.chat.completions.with_raw_response.create(
        model="auto:knowledge", messages=[{"role": "user", "content": "what is a monad?"}]
    )
    assert (r.headers["x-modelwise-provider"], r.headers["x-modelwise-model"]) == ("other", "claude-sonnet-4")
    assert r.parse().choices[0].message.content.startswith("Hello from the stand-in")
    assert standin.requests[-1]["path"] == "/v1/messages"
    assert standin.requests[-1]["headers"]["x-api-key"] == "sk-other"
    r = client.chat.completions.with_raw_response.create(
        model="auto:knowledge", messages=[{"role": "user", "content": "what is a monad?"}],
        response_format={"type": "json_object"},
    )
    assert r.headers["x-modelwise-provider"] == "standin"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="claude-sonnet-4", response_format={"type": "json_object"},
                                       messages=[{"role": "user", "content": "x"}])


def test_without_group_commit_calls_are_routed_and_settled(make_service, standin, monkeypatch):
    """`serve --no-group-commit`: admission in the thread pool, settlement in the executor."""
    monkeypatch.setenv("STANDIN_KEY", KEY)
    standin.behaviour = Behaviour(usage=(12, 3))
    svc = make_service(config=config(standin.base_url))
    with serving(svc, token=TOKEN, group_commit=False) as base:
        assert not svc.group_commit_enabled
        client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        ) as resp:
            list(resp.parse())
        rows = settled(svc, 2)
    assert [r["outcome"] for r in rows] == ["success", "success"]
    assert all(r["actualCost"] == pytest.approx(priced(svc, "gpt-4o", 12, 3), rel=1e-9) for r in rows)


def test_messages_beyond_the_context_window_are_400_and_record_nothing(make_service, standin, monkeypatch,
                                                                       tmp_path):
    import json

    monkeypatch.setenv("STANDIN_KEY", KEY)
    reg = json.loads((Path(__file__).parent / "fixtures" / "brief_registry.json").read_text())
    for m in reg["models"]:
        m["contextWindow"] = 100
    (tmp_path / "reg.json").write_text(json.dumps(reg))
    svc = make_service(registry=tmp_path / "reg.json", config=config(standin.base_url))
    with serving(svc, token=TOKEN) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x " * 300}])
        assert "context window of 100 tokens" in err.value.body["message"]
        ok = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert ok.choices[0].message.content
    assert len(standin.requests) == 1 and standin.requests[0]["json"]["max_tokens"] < 100
    assert len(settled(svc, 1)) == 1


def test_gateway_posts_skip_fastapi_and_a_handler_crash_is_a_formatted_500(make_service, standin,
                                                                          monkeypatch):
    """A gateway POST goes from the guard straight to its handler (FastAPI's routing and middlewares
    are not on a call's path); what the handler did not answer is a 500 in the caller's format."""
    from fastapi.testclient import TestClient

    from modelwise.gateway import common
    from modelwise.server import create_app

    monkeypatch.setenv("STANDIN_KEY", KEY)
    svc = make_service(config=config(standin.base_url))
    app = create_app(svc)
    through_fastapi = []
    inner = app.app

    async def spy(scope, receive, send):
        if scope["type"] == "http":
            through_fastapi.append(scope["path"])
        await inner(scope, receive, send)

    app.app = spy
    body = {"model": "auto:documentation", "messages": [{"role": "user", "content": "Say hi."}]}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert client.get("/v1/models").status_code == 200
        assert through_fastapi == ["/v1/models"]

        def crash(*a, **kw):
            raise RuntimeError("boom")

        monkeypatch.setattr(common, "load_object", crash)
        monkeypatch.setattr("modelwise.gateway.openai_api.load_object", crash)
        monkeypatch.setattr("modelwise.gateway.anthropic_api.load_object", crash)
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 500 and r.json()["error"]["message"] == "internal error: RuntimeError"
        r = client.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
        assert r.status_code == 500 and r.json()["type"] == "error", r.text
        from modelwise.gateway import upstream

        client.portal.call(upstream.close_all)  # the test client's loop has no server to close it
    assert through_fastapi == ["/v1/models"]
