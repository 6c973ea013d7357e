"""Real prices (long-context tiers, cache reads and writes, reasoning tokens), schema-2 registry loading,
and eligibility by deprecation date and unknown price."""

from __future__ import annotations

import math

import pytest

from modelwise.core.errors import RegistryError
from modelwise.core.models import ModelSpec, Offer
from modelwise.core.pricing import PriceTier, PriceUnknown, call_cost
from modelwise.core.routing import candidate_rows, decide
from modelwise.core.scoring import deprecation_status, rank_models
from modelwise.core.settings import Settings, Tier, Weights
from modelwise.files.registry import parse_registry

ALL_TYPES = Settings().task_types
SONNET = {
    "id": "claude-sonnet-4-5", "provider": "anthropic", "capabilities": list(ALL_TYPES),
    "pricing": {"inputPer1M": 3.0, "outputPer1M": 15.0, "cacheReadPer1M": 0.3, "cacheWritePer1M": 3.75,
                "tiers": [{"aboveTokens": 200000, "inputPer1M": 6.0, "outputPer1M": 22.5,
                           "cacheReadPer1M": 0.6, "cacheWritePer1M": 7.5}]},
    "offers": [{"provider": "anthropic", "upstreamId": "claude-sonnet-4-5",
                "pricing": {"inputPer1M": 3.0, "outputPer1M": 15.0}},
               {"provider": "openrouter", "upstreamId": "anthropic/claude-sonnet-4.5", "priceUnknown": True}],
    "aliases": ["claude-sonnet-latest"],
}


def spec(doc: dict) -> ModelSpec:
    return parse_registry({"schemaVersion": 2, "models": [doc]}, "t.json").models[0]


def test_long_context_tier_prices_the_whole_call():
    m = spec(SONNET)
    assert m.cost_of(250_000, 1_000) == pytest.approx(250_000 * 6e-6 + 1_000 * 22.5e-6)  # $1.5225
    assert m.cost_of(200_000, 1_000) == pytest.approx(200_000 * 3e-6 + 1_000 * 15e-6)  # at the threshold
    assert m.cost_of(100_000, 1_000) == pytest.approx(0.315)


def test_cache_reads_writes_and_reasoning():
    m = spec(SONNET)
    # 10k prompt of which 8k read from the cache and 1k written to it
    assert m.cost_of(10_000, 500, cached_tokens=8_000, cache_write_tokens=1_000) == pytest.approx(
        (1_000 * 3.0 + 8_000 * 0.3 + 1_000 * 3.75 + 500 * 15.0) / 1e6)
    # above the tier the tier's cache prices apply
    assert m.cost_of(300_000, 0, cached_tokens=300_000) == pytest.approx(300_000 * 0.6 / 1e6)
    r = ModelSpec("r", "r", None, frozenset(), 1.0, 4.0, None, None, None, {}, 0.99, reasoning_per_1m=8.0)
    assert r.cost_of(0, 1_000, reasoning_tokens=600) == pytest.approx((400 * 4.0 + 600 * 8.0) / 1e6)
    with pytest.raises(ValueError):
        call_cost(r, 10, 10, cached_tokens=11)


def test_schema_2_fields_load_and_survive_the_cache_tuple():
    m = spec(SONNET)
    assert m.price_tiers == (PriceTier(200000, 6.0, 22.5, 0.6, 7.5),)
    assert m.cache_write_per_1m == 3.75 and m.aliases == ("claude-sonnet-latest",)
    assert m.offers[0] == Offer("anthropic", "claude-sonnet-4-5", 3.0, 15.0)
    assert not m.offers[1].price_known
    with pytest.raises(PriceUnknown):
        m.offers[1].cost_of(1, 1)
    import marshal

    again = ModelSpec.from_tuple(marshal.loads(marshal.dumps(m.to_tuple())))
    assert again == m and again.offers == m.offers and again.price_tiers == m.price_tiers


def test_version_1_and_bare_arrays_still_load():
    old = {"id": "a", "pricing": {"inputPer1M": 1, "outputPer1M": 2}}
    assert parse_registry([old], "x").models[0].id == "a"
    assert parse_registry({"schemaVersion": 1, "models": [old]}, "x").models[0].offers == ()
    with pytest.raises(RegistryError, match="schemaVersion 3"):
        parse_registry({"schemaVersion": 3, "models": [old]}, "x")


@pytest.mark.parametrize("bad, msg", [
    ({"priceUnknown": True, "pricing": {"inputPer1M": 1, "outputPer1M": 1}}, "priceUnknown is true"),
    ({"free": True, "pricing": {"inputPer1M": 1, "outputPer1M": 1}}, "free is true"),
    ({"pricing": None}, "has no price"),
    ({"aliases": ["b"]}, "is the id of another model"),
    ({"deprecationDate": "soon"}, "not a date"),
])
def test_schema_2_bad_input_named(bad, msg):
    a = {"id": "a", "pricing": {"inputPer1M": 1, "outputPer1M": 2}, **bad}
    b = {"id": "b", "pricing": {"inputPer1M": 1, "outputPer1M": 2}}
    with pytest.raises(RegistryError, match=msg):
        parse_registry({"schemaVersion": 2, "models": [a, b]}, "x")


def _m(mid: str, price: float, q: float, **kw) -> ModelSpec:
    return ModelSpec(mid, mid, None, frozenset(ALL_TYPES), price, price, None, 1000.0, q, {}, 0.99, **kw)


def _rank(models, today):
    tier = Tier("t", 1.0, 0.0, ALL_TYPES)
    return rank_models(models, "debugging", tier, Weights(0.3, 0.4, 0.2, 0.1), Settings(), today=today)


def test_deprecated_and_unknown_price_are_not_eligible_and_say_why():
    gone = _m("gone", 1.0, 0.99, deprecation_date="2026-10-23")
    soon = _m("soon", 1.0, 0.9, deprecation_date="2026-12-20")
    unknown = _m("unknown", 0.0, 0.95, price_known=False)
    free = _m("free", 0.0, 0.5, free=True)
    r = _rank([gone, soon, unknown, free], "2026-12-01")
    choice = decide(r, 1000, 1000, 1.0, None)
    assert choice.winner.model.id == "soon"
    assert any("deprecated from 2026-12-20 (in 19 days)" in w for w in choice.warnings)
    rows = {row["model"]: row for row in candidate_rows(r, choice, 1000, 1000, 1.0, None)}
    assert rows["gone"]["reason"] == "deprecated since 2026-10-23" and not rows["gone"]["eligible"]
    assert rows["unknown"]["reason"] == "price unknown" and not rows["unknown"]["eligible"]
    assert rows["free"]["free"] is True and rows["free"]["eligible"]
    assert rows["soon"]["free"] is False
    # no today: deprecation is not judged (the caller has no date), the unknown price still is
    r2 = _rank([gone, unknown], None)
    assert decide(r2, 1000, 1000, 1.0, None).winner.model.id == "gone"


def test_deprecation_status_boundaries():
    assert deprecation_status("2026-12-01", "2026-12-01")[0] == "deprecated since 2026-12-01"
    assert deprecation_status("2026-12-31", "2026-12-01") == (None, "deprecated from 2026-12-31 (in 30 days)")
    assert deprecation_status("2027-01-01", "2026-12-01") == (None, None)
    assert deprecation_status(None, "2026-12-01") == (None, None)
    assert math.isfinite(_m("x", 1, 0.5).cost_of(1, 1))


def _doc(**extra) -> dict:
    caps = list(ALL_TYPES)
    return {"schemaVersion": 2, "models": [
        {"id": "old", "name": "Old", "capabilities": caps, "deprecationDate": "2026-12-15",
         "pricing": {"inputPer1M": 0.1, "outputPer1M": 0.1}, "performance": {"quality": 0.9}},
        {"id": "local", "name": "Local", "capabilities": caps, "free": True,
         "pricing": {"inputPer1M": 0, "outputPer1M": 0}, "performance": {"quality": 0.5}},
        {"id": "unpriced", "name": "Unpriced", "capabilities": caps, "pricing": None, "priceUnknown": True,
         "performance": {"quality": 0.99}},
        {"id": "mid", "name": "Mid", "capabilities": caps, "pricing": {"inputPer1M": 1, "outputPer1M": 4},
         "performance": {"quality": 0.8}},
    ], **extra}


def test_service_judges_deprecation_on_its_own_today(make_service, tmp_path, clock):
    """The service passes today (the ledger's zone) to the ranking: before the date the model wins with a
    warning, after it (same service, the clock moved on) it is not eligible and says since when."""
    import json as _json
    from datetime import UTC, datetime

    from modelwise.server import RouteOut

    reg = tmp_path / "reg.json"
    reg.write_text(_json.dumps(_doc()), encoding="utf-8")
    clock.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    svc = make_service(registry=reg)
    r = svc.route_task("documentation", "docs", all_candidates=True)
    assert r["selectedModel"] == "old"
    assert "Old: deprecated from 2026-12-15 (in 14 days)" in r["warnings"]
    rows = {c["model"]: c for c in r["candidates"]}
    assert rows["unpriced"]["reason"] == "price unknown" and not rows["unpriced"]["eligible"]
    assert rows["local"]["free"] is True and rows["old"]["free"] is False
    RouteOut.model_validate(r)  # the HTTP response model accepts the rows (it forbids unknown keys)
    clock.now = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
    r = svc.route_task("documentation", "docs", all_candidates=True)
    assert r["selectedModel"] != "old"
    assert {c["model"]: c for c in r["candidates"]}["old"]["reason"] == "deprecated since 2026-12-15"


def test_registry_resolves_ids_aliases_and_upstream_ids():
    reg = parse_registry({"schemaVersion": 2, "models": [SONNET, {
        "id": "other", "pricing": {"inputPer1M": 1, "outputPer1M": 1},
        "offers": [{"provider": "openrouter", "upstreamId": "x/shared", "pricing": {"inputPer1M": 1,
                                                                                     "outputPer1M": 1}},
                   {"provider": "together_ai", "upstreamId": "claude-sonnet-4-5",
                    "pricing": {"inputPer1M": 1, "outputPer1M": 1}}]}]}, "t.json")
    assert reg.resolve("claude-sonnet-4-5").id == "claude-sonnet-4-5"  # the id itself first
    assert reg.resolve("claude-sonnet-latest").id == "claude-sonnet-4-5"
    assert reg.resolve("openrouter/anthropic/claude-sonnet-4.5").id == "claude-sonnet-4-5"
    assert reg.resolve("anthropic/claude-sonnet-4.5").id == "claude-sonnet-4-5"  # a unique upstream id
    assert reg.resolve("together_ai/claude-sonnet-4-5").id == "other"
    assert reg.resolve("x/shared").id == "other"
    assert reg.resolve("nope") is None
    with pytest.raises(RegistryError, match="also an alias of"):
        parse_registry({"schemaVersion": 2, "models": [
            {"id": "a", "pricing": {"inputPer1M": 1, "outputPer1M": 1}, "aliases": ["z"]},
            {"id": "b", "pricing": {"inputPer1M": 1, "outputPer1M": 1}, "aliases": ["z"]}]}, "t.json")


def test_hour_long_cache_writes_cost_twice_the_input_price():
    import json
    from pathlib import Path

    from modelwise.core.pricing import LONG_CACHE_WRITE_FACTOR

    o = Offer("anthropic", "claude-x", 3.0, 15.0, cache_read_per_1m=0.3, cache_write_per_1m=3.75,
              price_tiers=(PriceTier(200_000, 6.0, 22.5, 0.6, 7.5),))
    # 1,000 input: 100 read, 600 written (400 of them for an hour), 300 plain
    assert call_cost(o, 1000, 10, 100, 600, long_cache_write_tokens=400) == pytest.approx(
        (300 * 3.0 + 100 * 0.3 + 200 * 3.75 + 400 * 6.0 + 10 * 15.0) / 1e6)
    # above the tier, twice the tier's input price
    assert call_cost(o, 300_000, 0, 0, 1000, long_cache_write_tokens=1000) == pytest.approx(
        (299_000 * 6.0 + 1000 * 12.0) / 1e6)
    with pytest.raises(ValueError, match="long_cache_write_tokens exceed"):
        call_cost(o, 1000, 10, 0, 10, long_cache_write_tokens=11)
    # the factor is the one the vendored LiteLLM price map lists wherever it has an hour's write price
    prices = Path(__file__).resolve().parent.parent / "data" / "prices"
    (path,) = prices.glob("litellm-*_model_prices_and_context_window.json")
    listed = [(v["input_cost_per_token"], v["cache_creation_input_token_cost_above_1hr"])
              for v in json.loads(path.read_text()).values()
              if isinstance(v, dict) and v.get("input_cost_per_token")
              and v.get("cache_creation_input_token_cost_above_1hr")]
    assert len(listed) > 200
    for pin, hour in listed:
        assert hour == pytest.approx(pin * LONG_CACHE_WRITE_FACTOR, rel=1e-3)
