"""Providers: routing keeps to the models an enabled provider reaches, `--any-provider` restores the
whole registry, a local provider reaches exactly its listed models, no key value ever leaves the
environment (output, ledger, cache), and `modelwise cost` matches the vendored price map."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from modelwise.core.providers import ADVISORY, KEY_VARIABLES
from modelwise.core.settings import Settings
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "model_registry.json"
PRICE_MAP = next((REPO / "data" / "prices").glob("litellm-*_model_prices_and_context_window.json"))
TASK_TYPES = Settings().task_types


@pytest.fixture(scope="module")
def price_map() -> dict:
    return json.loads(PRICE_MAP.read_text())


@pytest.fixture(scope="module")
def shipped() -> dict:
    return {m["id"]: m for m in json.loads(SHIPPED.read_text())["models"]}


def env_with(tmp_path: Path, config: str = "", **keys: str) -> dict[str, str]:
    """A CLI environment over the shipped registry with exactly `keys` set: every known key variable is
    emptied first, whatever the machine has."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    env = {var: "" for var in KEY_VARIABLES}
    env.update(
        MODELWISE_REGISTRY=str(SHIPPED),
        MODELWISE_LEDGER=str(tmp_path / "ledger.sqlite3"),
        MODELWISE_CONFIG=str(cfg),
        MODELWISE_CACHE=str(tmp_path / "cache"),
    )
    env.update(keys)
    return env


def batch(tmp_path: Path, env: dict[str, str], *flags: str, dry_run: bool = True) -> list[dict]:
    """Every task type routed once by `modelwise batch --json`."""
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([{"type": t, "description": f"a {t} task", "dryRun": dry_run}
                                 for t in TASK_TYPES]))
    r = run_cli("batch", str(tasks), "--json", *flags, env=env, timeout=120)
    assert r.returncode in (0, 3), r.stderr
    out = json.loads(r.stdout)
    assert len(out) == len(TASK_TYPES)
    return out


def listing_provider(model_id: str, shipped: dict, price_map: dict) -> str:
    """Who sells a registry model, by the price map's own `litellm_provider` of the entry it came from
    (Google's un-prefixed Gemini ids, listed under Vertex AI, are the Gemini API's too)."""
    key = shipped[model_id]["source"]["prices"]["key"]
    actual = price_map[key]["litellm_provider"]
    return "gemini" if actual == "vertex_ai-language-models" and "/" not in key else actual


def sells(model_id: str, provider: str, upstream: str | None, shipped: dict, price_map: dict) -> bool:
    """Whether the registry lists an offer of the model by `provider` (under `upstream`, when given) that
    comes from a price-map entry of that provider's own (by its `litellm_provider`)."""
    for o in shipped[model_id].get("offers") or ():
        if o["provider"] != provider or (upstream is not None and o["upstreamId"] != upstream):
            continue
        key = o["source"]["key"]
        actual = price_map[key]["litellm_provider"]
        if actual == provider or (provider == "gemini" and actual == "vertex_ai-language-models"
                                  and "/" not in key):
            return True
    return False


@pytest.mark.parametrize(
    "variable, provider",
    [("ANTHROPIC_API_KEY", "anthropic"), ("OPENAI_API_KEY", "openai"), ("GEMINI_API_KEY", "gemini"),
     ("MISTRAL_API_KEY", "mistral")],
)
def test_one_key_routes_only_to_that_provider(tmp_path, shipped, price_map, variable, provider):
    out = batch(tmp_path, env_with(tmp_path, **{variable: "x"}))
    for d in out:
        assert d["selectedModel"] is not None, d["reason"]
        assert d["provider"] == provider and d["upstreamId"], d
        assert sells(d["selectedModel"], provider, d["upstreamId"], shipped, price_map), d["selectedModel"]
        assert ADVISORY not in d["warnings"]
        for c in d["candidates"]:
            if c["eligible"]:
                assert sells(c["model"], provider, None, shipped, price_map), c
            if c["provider"] is None:  # out of reach: listed, with the reason, never the winner
                assert not c["eligible"] and not c["winner"]
                assert c["reason"].startswith("no configured provider serves it")


def test_any_provider_restores_the_whole_registry(tmp_path, shipped, price_map):
    advisory = batch(tmp_path, env_with(tmp_path))
    for d in advisory:
        assert d["warnings"].count(ADVISORY) == 1  # said once
    anthropic_env = env_with(tmp_path, ANTHROPIC_API_KEY="x")
    restricted = batch(tmp_path, anthropic_env)
    whole = batch(tmp_path, anthropic_env, "--any-provider")
    assert [d["selectedModel"] for d in whole] == [d["selectedModel"] for d in advisory]
    assert {listing_provider(d["selectedModel"], shipped, price_map) for d in whole} != {"anthropic"}
    assert [d["selectedModel"] for d in whole] != [d["selectedModel"] for d in restricted]
    # the config key asks for the same
    cfg_env = env_with(tmp_path, "any_provider = true\n", ANTHROPIC_API_KEY="x")
    assert [d["selectedModel"] for d in batch(tmp_path, cfg_env)] == [d["selectedModel"] for d in advisory]
    # and so does `route --any-provider` (the fast path) and `explain --any-provider`
    r = run_cli("route", "debugging", "fix it", "--dry-run", "--json", "--any-provider", env=anthropic_env)
    assert json.loads(r.stdout)["selectedModel"] == advisory[TASK_TYPES.index("debugging")]["selectedModel"]
    e = run_cli("explain", "debugging", "fix it", "--json", "--any-provider", env=anthropic_env)
    assert json.loads(e.stdout)["selectedModel"] == advisory[TASK_TYPES.index("debugging")]["selectedModel"]


def test_advisory_is_said_once_on_stderr_not_on_json_stdout(tmp_path):
    env = env_with(tmp_path)
    human = run_cli("route", "debugging", "fix it", "--dry-run", env=env)
    assert human.returncode == 0
    assert human.stderr.count("advisory:") == 1 and "advisory" not in human.stdout
    js = run_cli("route", "debugging", "fix it", "--dry-run", "--json", env=env)
    assert js.stderr == ""
    assert json.loads(js.stdout)["warnings"].count(ADVISORY) == 1
    b = tmp_path / "t.json"
    b.write_text(json.dumps([{"type": "debugging", "description": "x", "dryRun": True}] * 3))
    many = run_cli("batch", str(b), env=env)
    assert many.stderr.count("advisory:") == 1


def test_local_provider_reaches_exactly_its_listed_models(tmp_path, shipped):
    listed = ["llama-3.3-70b-instruct-turbo", "gpt-oss-120b-ultra"]
    assert all(m in shipped for m in listed)
    config = (
        "[providers.ollama]\n"
        f"models = {json.dumps(listed)}\n"
        f'upstream_ids = {{ "{listed[0]}" = "llama3.3:70b" }}\n'
    )
    env = env_with(tmp_path, config)
    p = run_cli("providers", "--json", env=env)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert rows["ollama"]["enabled"] and rows["ollama"]["models"] == 2 and rows["ollama"]["free"]
    assert [r["name"] for r in rows.values() if r["enabled"]] == ["ollama"]
    for d in batch(tmp_path, env):
        if d["selectedModel"] is None:
            continue
        assert d["selectedModel"] in listed and d["provider"] == "ollama"
        assert d["estimatedCost"] == 0.0  # a local server is free
        expected = "llama3.3:70b" if d["selectedModel"] == listed[0] else listed[1]
        assert d["upstreamId"] == expected
        eligible = {c["model"] for c in d["candidates"] if c["eligible"]}
        assert eligible <= set(listed)


def test_reachable_set_in_process(make_service, monkeypatch, shipped):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    listed = "gpt-oss-120b-ultra"
    svc = make_service(SHIPPED, f'[providers.ollama]\nmodels = ["{listed}"]\n')
    reach = svc.reach
    anthropic = {o.upstream_id for m, o in reach.offers.items() if o.provider == "anthropic"}
    assert anthropic and set(reach.reachable) == {m for m, o in reach.offers.items()}
    assert {o.provider for o in reach.offers.values()} == {"anthropic", "ollama"}
    assert reach.offers[listed].provider == "ollama"
    # the ranking cache keys on the reachable set: a whole-registry ranking is a different one
    first = svc.route_task("debugging", "x", dry_run=True)
    whole = svc.route_task("debugging", "x", dry_run=True, any_provider=True)
    again = svc.route_task("debugging", "x", dry_run=True)
    assert first["provider"] in ("anthropic", "ollama")
    assert whole["selectedModel"] != first["selectedModel"]
    assert again["selectedModel"] == first["selectedModel"]


SECRET = "mwfake-9c41d7e2b8a05f36"


def test_no_key_value_in_any_output_or_file(tmp_path):
    keys = {var: f"{SECRET}-{i}" for i, var in enumerate(KEY_VARIABLES)}
    keys["MY_PROXY_KEY"] = f"{SECRET}-proxy"
    config = '[providers.proxy]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "MY_PROXY_KEY"\n'
    env = env_with(tmp_path, config, **keys)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    runs = [
        run_cli("providers", "--json", env=env),
        run_cli("providers", env=env),
        run_cli("route", "debugging", "fix the parser", "--json", env=env),
        run_cli("route", "debugging", "fix the parser", env=env),
        run_cli("explain", "debugging", "fix the parser", "--json", env=env),
        run_cli("cost", "claude-sonnet-4-5", "--input-tokens", "10", "--output-tokens", "5", env=env),
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
        for text in (r.stdout, r.stderr):
            assert SECRET not in text and SECRET[:12] not in text
    rows = {r["name"]: r for r in json.loads(runs[0].stdout)}
    assert rows["openai"]["keyPresent"] and rows["openai"]["keyVariable"] == "OPENAI_API_KEY"
    assert rows["proxy"]["keyPresent"] and rows["proxy"]["keyVariable"] == "MY_PROXY_KEY"
    # the ledger (a decision and its outcome) and every file modelwise wrote hold no key
    decision = json.loads(runs[2].stdout)["decisionId"]
    rec = run_cli("record", decision, "--success", "--input-tokens", "100", "--output-tokens", "10", env=env)
    assert rec.returncode == 0, rec.stderr
    ledger = Path(env["MODELWISE_LEDGER"])
    with sqlite3.connect(ledger) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            for row in conn.execute(f'SELECT * FROM "{t}"'):  # noqa: S608 - names from sqlite_master
                assert SECRET not in repr(row), t
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.toml"]
    assert any(p.name.startswith("ledger") for p in written)
    for p in written:
        assert SECRET.encode() not in p.read_bytes(), p


@pytest.mark.parametrize(
    "config, needle",
    [
        ('[providers.openai]\napi_key = "sk-live-abcdef123456"\n', "use api_key_env"),
        ('[providers.x]\nbase_url = "http://h/v1"\napi_key_env = "sk-live-abcdef123456"\n', "NAME of an"),
        ('[providers.x]\napi = "openai"\n', "needs base_url"),
        ('[providers.openai]\napi = "grpc"\n', "providers.openai.api"),
        ('[providers.ollama]\nmodels = ["no-such-model"]\n', "not in the registry"),
    ],
)
def test_bad_provider_config_is_one_line_exit_2(tmp_path, config, needle):
    env = env_with(tmp_path, config)
    r = run_cli("route", "debugging", "x", "--json", env=env)
    assert r.returncode == 2 and r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line and needle.replace("use ", "") in line, line
    assert "abcdef123456" not in r.stderr  # a pasted key is never echoed
    assert not Path(env["MODELWISE_LEDGER"]).exists()


# -- cost ---------------------------------------------------------------------------------------------


def cost(env: dict[str, str], *args: str) -> dict:
    r = run_cli("cost", *args, "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cost_matches_the_price_map(tmp_path, price_map):
    env = env_with(tmp_path)
    # long-context prices: Claude Sonnet 4.5, 250k in and 1k out, by the entry that lists its tier
    key = "vertex_ai/claude-sonnet-4-5"
    e = price_map[key]
    long = cost(env, key, "--input-tokens", "250000", "--output-tokens", "1000")
    expected = 250_000 * e["input_cost_per_token_above_200k_tokens"] + 1000 * e[
        "output_cost_per_token_above_200k_tokens"]
    assert long["cost"] == pytest.approx(expected, rel=1e-9) and round(long["cost"], 2) == 1.52
    assert long["applied"]["aboveTokens"] == 200_000 and long["source"] == "price map"
    short = cost(env, key, "--input-tokens", "2000", "--output-tokens", "1000")
    base = 2000 * e["input_cost_per_token"] + 1000 * e["output_cost_per_token"]
    assert short["cost"] == pytest.approx(base) and short["applied"]["aboveTokens"] is None
    # cached input: part of the input, at the cache-read price; cache writes at the creation price
    a = price_map["claude-sonnet-4-5"]
    cached = cost(env, "claude-sonnet-4-5", "--price-map", "--input-tokens", "10000", "--cached-tokens",
                  "8000", "--cache-write-tokens", "1000", "--output-tokens", "100")
    assert cached["cost"] == pytest.approx(
        1000 * a["input_cost_per_token"] + 8000 * a["cache_read_input_token_cost"]
        + 1000 * a["cache_creation_input_token_cost"] + 100 * a["output_cost_per_token"], rel=1e-9)
    # a registry id: the registry's prices, which for gpt-4o are the map's
    g = price_map["gpt-4o"]
    reg = cost(env, "gpt-4o", "--input-tokens", "3000", "--cached-tokens", "1000", "--output-tokens", "500")
    assert reg["source"] == "registry"
    assert reg["cost"] == pytest.approx(
        2000 * g["input_cost_per_token"] + 1000 * g["cache_read_input_token_cost"]
        + 500 * g["output_cost_per_token"], rel=1e-9)


def test_call_cost_agrees_with_every_tiered_price_map_entry(price_map):
    """Every entry with `_above_Nk_tokens` prices, just below and just above the threshold."""
    import re

    from modelwise.core.pricing import mapping_cost as call_cost
    from modelwise.core.pricing import pricing_from_litellm

    tier = re.compile(r"input_cost_per_token_above_(\d+)k_tokens")
    checked = 0
    for key, e in price_map.items():
        if not isinstance(e, dict) or e.get("input_cost_per_token") is None:
            continue
        found = [int(m.group(1)) * 1000 for m in map(tier.fullmatch, e) if m]
        if len(found) != 1 or e.get("output_cost_per_token") is None:
            continue
        n = found[0]
        p = pricing_from_litellm(e)
        below = call_cost(p, n, 1000)
        assert below == pytest.approx(n * e["input_cost_per_token"] + 1000 * e["output_cost_per_token"]), key
        out_above = e.get(f"output_cost_per_token_above_{n // 1000}k_tokens", e["output_cost_per_token"])
        above = call_cost(p, n + 1, 1000)
        assert above == pytest.approx(
            (n + 1) * e[f"input_cost_per_token_above_{n // 1000}k_tokens"] + 1000 * out_above), key
        checked += 1
    assert checked > 100


def test_cost_bad_input(tmp_path):
    env = env_with(tmp_path)
    for args, needle in (
        (("no-such-model", "--input-tokens", "1", "--output-tokens", "1"), "unknown model"),
        (("gpt-4o", "--input-tokens", "10", "--cached-tokens", "20", "--output-tokens", "1"), "exceed"),
        (("gpt-4o", "--input-tokens", "-1", "--output-tokens", "1"), "zero or more"),
    ):
        r = run_cli("cost", *args, env=env)
        assert r.returncode == 2 and needle in r.stderr and "\n" not in r.stderr.strip(), r.stderr


def test_http_names_the_offer_and_takes_any_provider(make_service, monkeypatch):
    import httpx

    from modelwise.server import RouteOut
    from tests.live import serving

    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    svc = make_service(SHIPPED)
    with serving(svc) as base, httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/route", json={"type": "debugging", "description": "x"})
        assert r.status_code == 200, r.text
        body = r.json()
        RouteOut.model_validate(body)
        assert body["provider"] == "anthropic" and body["upstreamId"]
        w = client.post("/route", json={"type": "debugging", "description": "x", "anyProvider": True,
                                        "dryRun": True})
        assert w.status_code == 200 and w.json()["selectedModel"] != body["selectedModel"]
        bad = client.post("/route", json={"type": "debugging", "anyProvider": "yes"})
        assert bad.status_code == 422
    stored = svc.decision(body["decisionId"])
    assert stored["selectedModel"] == body["selectedModel"]
    assert svc.ledger  # the stored response names the provider too
    with sqlite3.connect(svc.paths.ledger) as conn:
        query = "SELECT detail FROM decisions WHERE id = ?"
        (detail,) = conn.execute(query, (body["decisionId"],)).fetchone()
    assert json.loads(detail)["provider"] == "anthropic"


def test_explain_groups_the_models_out_of_reach(tmp_path):
    r = run_cli("explain", "debugging", "fix it", "--json", env=env_with(tmp_path, ANTHROPIC_API_KEY="x"))
    assert r.returncode == 0, r.stderr
    groups = {g["kind"]: g for g in json.loads(r.stdout)["exclusions"]}
    assert groups["no-provider"]["count"] > 500
    assert all(x["reason"].startswith("no configured provider serves it: ")
               for x in groups["no-provider"]["examples"])


# A vendor's own API as the price map names it (`litellm_provider`): OpenRouter resells those.
OWN_API = {
    "openai": {"openai"}, "anthropic": {"anthropic"}, "google": {"gemini", "vertex_ai-language-models"},
    "mistral": {"mistral"}, "deepseek": {"deepseek"}, "xai": {"xai"}, "alibaba": {"dashscope"},
    "zai": {"zai"}, "moonshot": {"moonshot"}, "minimax": {"minimax"}, "cohere": {"cohere", "cohere_chat"},
    "ai21": {"ai21"}, "perplexity": {"perplexity"}, "amazon": {"amazon_nova"}, "meta": {"meta"},
}


def test_openrouter_reaches_first_party_models_as_vendor_slash_id(tmp_path, shipped, price_map):
    out = batch(tmp_path, env_with(tmp_path, OPENROUTER_API_KEY="x"))
    for d in out:
        assert d["provider"] == "openrouter", d
        m = shipped[d["selectedModel"]]
        host = listing_provider(d["selectedModel"], shipped, price_map)
        # only a model its vendor's own API lists, under vendor/that API's id
        vendor = {"mistral": "mistralai", "xai": "x-ai", "alibaba": "qwen", "zai": "z-ai",
                  "moonshot": "moonshotai", "meta": "meta-llama"}.get(m["provider"], m["provider"])
        key = m["source"]["prices"]["key"]
        assert d["upstreamId"] == f"{vendor}/{key.split('/', 1)[-1]}", (d["upstreamId"], key, host)
        assert host in OWN_API[m["provider"]], (d["selectedModel"], host)  # not a resale listing


def test_enabled_false_turns_a_detected_provider_off(make_service, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    on = make_service(SHIPPED)
    assert on.reach.active and on.route_task("debugging", "x", dry_run=True)["provider"] == "anthropic"
    off = make_service(SHIPPED, "[providers.anthropic]\nenabled = false\n")
    d = off.route_task("debugging", "x", dry_run=True)
    assert not off.reach.active and ADVISORY in d["warnings"]
    # a key variable set to blanks is not a key
    monkeypatch.setenv("ANTHROPIC_API_KEY", "  ")
    assert not make_service(SHIPPED).reach.active


def test_listing_provider_agrees_with_the_price_map_for_every_builtin(price_map):
    """Without `offers`, a model's provider comes from its price-map key; for every model that a
    built-in would serve, that is the map's own `litellm_provider` (Google's un-prefixed Gemini ids are
    listed under Vertex AI and served by the Gemini API too)."""
    from modelwise.core.providers import BUILTIN_BY_NAME, listing_of
    from modelwise.loading import load_registry

    served = 0
    for m in load_registry(SHIPPED).models:
        host, upstream = listing_of(m)
        if host not in BUILTIN_BY_NAME:
            continue
        key = m.source["prices"]["key"]
        actual = price_map[key]["litellm_provider"]
        assert actual == host or (host, actual) == ("gemini", "vertex_ai-language-models"), (key, host)
        assert key.endswith(upstream)
        served += 1
    assert served > 300


def test_offer_outside_the_reach_is_the_cheapest_of_the_model_asked_about(make_service):
    """`Context.offer_for` keeps each model's cheapest offer (asked for every candidate row of a /route);
    a model of the same id with other offers or other prices (a reload, a re-priced copy) gets its own."""
    import dataclasses

    from modelwise.core.providers import OfferRef

    ctx = make_service().ctx
    assert not ctx.reach.active  # no provider configured: the registry's own offers are named
    m = ctx.registry.get("gpt-4o")
    dear, cheap = OfferRef("a", "gpt-4o", 5.0, 10.0), OfferRef("b", "gpt-4o-x", 1.0, 2.0)
    two = dataclasses.replace(m, offers=(dear, cheap))
    assert ctx.offer_for(two) == cheap
    assert ctx.offer_for(dataclasses.replace(two, name="the same offers")) == cheap
    assert ctx.offer_for(dataclasses.replace(m, offers=(dear,))) == dear
    bare = dataclasses.replace(m, offers=())
    assert ctx.offer_for(bare).input_per_1m == m.input_per_1m
    dearer = dataclasses.replace(bare, input_per_1m=m.input_per_1m * 3)
    assert ctx.offer_for(dearer).input_per_1m == m.input_per_1m * 3
    assert ctx.offer_for(two) == cheap
