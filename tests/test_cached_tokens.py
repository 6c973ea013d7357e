"""Outcomes that report cached and cache-write input tokens settle at the model's (or its offer's) cache
prices, from the CLI, over HTTP and through the gateway (OpenAI's `prompt_tokens_details.cached_tokens`);
counts that do not fit within the input tokens are bad input and write nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import openai
import pytest

from modelwise.gateway.usage import cached_of
from tests.conftest import LedgerWatch, run_cli
from tests.live import serving
from tests.standin_provider import Behaviour, Standin

ENTRY = {
    "id": "cache-model", "name": "Cache Model", "provider": "openai",
    "capabilities": ["architecture", "documentation", "debugging", "code_generation", "knowledge"],
    "pricing": {"inputPer1M": 2.5, "outputPer1M": 10.0, "cacheReadPer1M": 1.25, "cacheWritePer1M": 3.125},
    "performance": {"quality": 0.9}, "contextWindow": 128_000, "maxOutputTokens": 16_384,
}
KEY = "sk-standin-cached-key-51c0"
TOKEN = "tok-cached-client-2f7a"


def expected(tin: int, tout: int, cached: int = 0, written: int = 0) -> float:
    """The registry entry's price map applied by hand: plain input, cache reads, cache writes, output."""
    p = ENTRY["pricing"]
    plain = tin - cached - written
    return (plain * p["inputPer1M"] + cached * p["cacheReadPer1M"] + written * p["cacheWritePer1M"]
            + tout * p["outputPer1M"]) / 1_000_000


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "cache-registry.json"
    path.write_text(json.dumps({"schemaVersion": 1, "models": [ENTRY]}))
    return path


@pytest.fixture
def env(tmp_path: Path, registry: Path) -> dict[str, str]:
    cfg = tmp_path / "cached-config.toml"
    cfg.write_text('daily_budget = 5.0\ntimezone = "UTC"\n')
    return {
        "MODELWISE_REGISTRY": str(registry),
        "MODELWISE_LEDGER": str(tmp_path / "cached.sqlite3"),
        "MODELWISE_CONFIG": str(cfg),
        "MODELWISE_CACHE": str(tmp_path / "cache"),
    }


def _outcomes(env: dict[str, str]) -> int:
    with sqlite3.connect(env["MODELWISE_LEDGER"]) as conn:
        return conn.execute("SELECT count(*) FROM outcomes").fetchone()[0]


def test_the_cli_settles_cached_tokens_at_the_cache_prices(env):
    r = run_cli("route", "architecture", "design a cache", "--json", env=env)
    assert r.returncode == 0, r.stderr
    dec = json.loads(r.stdout)
    assert dec["selectedModel"] == "cache-model"
    dec_id = dec["decisionId"]
    bad = [
        (["--input-tokens", "10000", "--cached-tokens", "8000", "--cache-write-tokens", "2001"],
         ["cached tokens (8,000)", "cache-write tokens (2,001)", "10,000"]),
        (["--input-tokens", "10000", "--cached-tokens", "10001"], ["cached tokens (10,001)", "10,000"]),
        (["--cached-tokens", "100"], ["input tokens"]),
        (["--output-tokens", "10", "--cache-write-tokens", "5"], ["input tokens"]),
        (["--input-tokens", "10000", "--cached-tokens", "-1"], ["cached tokens must be"]),
        (["--input-tokens", "10000", "--cache-write-tokens", "-3"], ["cache-write tokens must be"]),
    ]
    for extra, needles in bad:
        r = run_cli("record", dec_id, "--success", "--output-tokens", "500", *extra, env=env)
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        line = r.stderr.strip()
        assert "\n" not in line and all(n in line for n in needles), (extra, line)
        assert _outcomes(env) == 0
    r = run_cli("record", dec_id, "--success", "--input-tokens", "10000", "--output-tokens", "500",
                "--cached-tokens", "6000", "--cache-write-tokens", "2000", "--json", env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["actualCost"] == pytest.approx(expected(10_000, 500, 6000, 2000), rel=1e-12)
    assert got["actualCost"] == pytest.approx(0.02375, rel=1e-12)  # vs $0.03 with no cache prices
    # the ledger stores the actual cost it was settled at
    with sqlite3.connect(env["MODELWISE_LEDGER"]) as conn:
        (stored,) = conn.execute("SELECT actual_cost FROM outcomes").fetchone()
    assert stored == pytest.approx(0.02375, rel=1e-12)


def test_http_outcomes_take_cached_tokens_and_refuse_bad_ones(make_service, registry):
    svc = make_service(registry=registry, config="daily_budget = 5.0\n")
    dec = svc.route_task("documentation", "write docs")
    assert dec["selectedModel"] == "cache-model"
    watch = LedgerWatch(svc.paths.ledger)
    before = watch.version()
    base_body = {"decisionId": dec["decisionId"], "outcome": "success", "outputTokens": 300}
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as client:
        for extra, needle in (
            ({"inputTokens": 5000, "cachedTokens": 4000, "cacheWriteTokens": 1500},
             "cache-write tokens (1,500)"),
            ({"cachedTokens": 10}, "input tokens"),
            ({"inputTokens": 5000, "cachedTokens": -1}, "cachedTokens"),
            ({"inputTokens": 5000, "cacheWriteTokens": True}, "cacheWriteTokens"),
            ({"inputTokens": 5000, "cachedTokens": "40"}, "cachedTokens"),
            ({"inputTokens": 5000, "cachedTokens": 1.5}, "cachedTokens"),
        ):
            r = client.post("/outcomes", json={**base_body, **extra})
            assert r.status_code == 422, (extra, r.text)
            assert set(r.json()) == {"detail"} and "\n" not in r.json()["detail"]
            assert needle in r.json()["detail"], (extra, r.json())
        r = client.post("/outcomes", json={**base_body, "decisionId": "dec_nope", "cachedTokens": 10})
        assert r.status_code == 404  # an unknown decision first, as for the other checks of a decision
        assert watch.version() == before
        r = client.post("/outcomes", json={**base_body, "inputTokens": 5000, "cachedTokens": 4000,
                                           "cacheWriteTokens": 1000})
        assert r.status_code == 200, r.text
    watch.close()
    assert r.json()["actualCost"] == pytest.approx(expected(5000, 300, 4000, 1000), rel=1e-12)
    assert r.json()["actualCost"] == pytest.approx(0.011125, rel=1e-12)  # vs $0.0155 with no cache prices


def _settled(svc, n: int) -> list[dict]:
    import time

    deadline = time.monotonic() + 10
    while True:
        rows = svc.decisions(limit=100, newest_first=True) if svc.ledger_exists() else []
        if sum(r["outcome"] is not None for r in rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.mark.parametrize("stream", [False, True])
def test_the_gateway_settles_the_cached_tokens_the_provider_reports(make_service, registry, monkeypatch,
                                                                    stream):
    monkeypatch.setenv("STANDIN_KEY", KEY)
    with Standin(Behaviour(usage=(4000, 100), cached=3000)) as standin:
        cfg = (f"daily_budget = 5.0\n[providers.standin]\nbase_url = \"{standin.base_url}\"\n"
               "api_key_env = \"STANDIN_KEY\"\napi = \"openai\"\nmodels = [\"cache-model\"]\n")
        svc = make_service(registry=registry, config=cfg)
        offer = svc.reach.offer("cache-model")
        assert offer.provider == "standin" and offer.cache_read_per_1m == ENTRY["pricing"]["cacheReadPer1M"]
        with serving(svc, token=TOKEN) as base:
            client = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0, timeout=30)
            messages = [{"role": "user", "content": "write the docs of this function"}]
            if stream:
                with client.chat.completions.with_streaming_response.create(
                    model="cache-model", messages=messages, stream=True
                ) as resp:
                    list(resp.parse())
            else:
                client.chat.completions.create(model="cache-model", messages=messages)
            rows = _settled(svc, 1)
    assert [r["outcome"] for r in rows] == ["success"]
    assert rows[0]["actualCost"] == pytest.approx(expected(4000, 100, 3000), rel=1e-12)
    assert rows[0]["actualCost"] < expected(4000, 100)


def test_only_a_count_within_the_prompt_is_taken_as_cached():
    assert cached_of({"prompt_tokens_details": {"cached_tokens": 30}}, 40) == 30
    assert cached_of({"prompt_tokens_details": {"cached_tokens": 41}}, 40) == 0
    for details in ({"cached_tokens": True}, {"cached_tokens": -1}, {"cached_tokens": "3"}, {}, None, 7):
        assert cached_of({"prompt_tokens_details": details}, 40) == 0
    assert cached_of(None, 40) == 0
