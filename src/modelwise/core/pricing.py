"""What one call costs: base prices, long-context tiers, cache reads and writes and reasoning tokens.

Pure functions over anything priced like a `ModelSpec` or an `Offer` (prices in USD per million tokens),
over the registry's camelCase pricing objects, and LiteLLM price-map entries converted to those."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol


class PriceTier(NamedTuple):
    """Prices that replace the base ones for a call whose input exceeds `above_tokens` (the whole call
    is priced at the tier, as LiteLLM's `input_cost_per_token_above_200k_tokens` means)."""

    above_tokens: int
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None = None
    cache_write_per_1m: float | None = None


class Priced(Protocol):
    """Anything priced like a model or an offer (read-only: frozen records and named tuples qualify)."""

    @property
    def input_per_1m(self) -> float: ...
    @property
    def output_per_1m(self) -> float: ...
    @property
    def cache_read_per_1m(self) -> float | None: ...
    @property
    def cache_write_per_1m(self) -> float | None: ...
    @property
    def reasoning_per_1m(self) -> float | None: ...
    @property
    def price_tiers(self) -> tuple[PriceTier, ...]: ...


# A prompt-cache write kept for an hour (Anthropic's `ttl: "1h"`) costs twice the input price: Anthropic's
# published rule, and every one of the 232 entries of the vendored LiteLLM price map that lists a
# `cache_creation_input_token_cost_above_1hr` agrees (tests/test_pricing.py checks it).
LONG_CACHE_WRITE_FACTOR = 2.0


class PriceUnknown(ValueError):
    """The price of a model or offer is not known, so no cost can be computed."""


def tier_for(pricing: Priced, input_tokens: int) -> PriceTier | None:
    """The highest tier whose threshold the input exceeds, or None for the base prices."""
    best: PriceTier | None = None
    for t in pricing.price_tiers:
        if input_tokens > t.above_tokens and (best is None or t.above_tokens > best.above_tokens):
            best = t
    return best


def call_cost(
    pricing: Priced,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    long_cache_write_tokens: int = 0,
) -> float:
    """USD for one call. `input_tokens` is the whole prompt: `cached_tokens` of it are read from the cache
    and `cache_write_tokens` written to it, `long_cache_write_tokens` of those for an hour (at
    LONG_CACHE_WRITE_FACTOR times the input price); `reasoning_tokens` are part of `output_tokens`. A
    cache or reasoning price that is not known is charged as plain input or output. The tier is chosen
    by the prompt's input tokens and prices every part of the call."""
    if getattr(pricing, "price_known", True) is False:
        raise PriceUnknown("price unknown")
    for name, n in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                    ("cached_tokens", cached_tokens), ("cache_write_tokens", cache_write_tokens),
                    ("reasoning_tokens", reasoning_tokens),
                    ("long_cache_write_tokens", long_cache_write_tokens)):
        if n < 0:
            raise ValueError(f"{name} must not be negative")
    if cached_tokens + cache_write_tokens > input_tokens:
        raise ValueError("cached_tokens + cache_write_tokens exceed input_tokens")
    if reasoning_tokens > output_tokens:
        raise ValueError("reasoning_tokens exceed output_tokens")
    if long_cache_write_tokens > cache_write_tokens:
        raise ValueError("long_cache_write_tokens exceed cache_write_tokens")
    pin, pout = pricing.input_per_1m, pricing.output_per_1m
    pread, pwrite = pricing.cache_read_per_1m, pricing.cache_write_per_1m
    tier = tier_for(pricing, input_tokens) if pricing.price_tiers else None
    if tier is not None:
        pin, pout = tier.input_per_1m, tier.output_per_1m
        pread = tier.cache_read_per_1m if tier.cache_read_per_1m is not None else pread
        pwrite = tier.cache_write_per_1m if tier.cache_write_per_1m is not None else pwrite
    preason = pricing.reasoning_per_1m
    plain_in = input_tokens - cached_tokens - cache_write_tokens
    total = plain_in * pin
    total += cached_tokens * (pin if pread is None else pread)
    short_writes = cache_write_tokens - long_cache_write_tokens
    total += short_writes * (pin if pwrite is None else pwrite)
    total += long_cache_write_tokens * pin * LONG_CACHE_WRITE_FACTOR
    total += (output_tokens - reasoning_tokens) * pout
    total += reasoning_tokens * (pout if preason is None else preason)
    return total / 1_000_000.0


def min_prices(pricing: Priced) -> tuple[float, float]:
    """The lowest input and output price over the base and every tier: a lower bound of any call."""
    pin, pout = pricing.input_per_1m, pricing.output_per_1m
    for t in pricing.price_tiers:
        pin, pout = min(pin, t.input_per_1m), min(pout, t.output_per_1m)
    return pin, pout

# -- the registry's camelCase pricing objects and LiteLLM's price map ---------------------------------


class MappedPricing(NamedTuple):
    """A camelCase pricing object (`{inputPer1M, outputPer1M, cacheReadPer1M?, cacheWritePer1M?,
    reasoningPer1M?, tiers?: [{aboveTokens, ...}]}`) in the shape `call_cost` reads."""

    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None = None
    cache_write_per_1m: float | None = None
    reasoning_per_1m: float | None = None
    price_tiers: tuple[PriceTier, ...] = ()


def from_mapping(pricing: Mapping[str, Any]) -> MappedPricing:
    tiers = tuple(
        PriceTier(
            int(t["aboveTokens"]),
            float(t.get("inputPer1M", pricing.get("inputPer1M") or 0.0)),
            float(t.get("outputPer1M", pricing.get("outputPer1M") or 0.0)),
            t.get("cacheReadPer1M"),
            t.get("cacheWritePer1M"),
        )
        for t in pricing.get("tiers") or ()
    )
    return MappedPricing(
        float(pricing.get("inputPer1M") or 0.0), float(pricing.get("outputPer1M") or 0.0),
        pricing.get("cacheReadPer1M"), pricing.get("cacheWritePer1M"), pricing.get("reasoningPer1M"), tiers,
    )


def mapping_cost(
    pricing: Mapping[str, Any],
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> float:
    """`call_cost` of a camelCase pricing object."""
    return call_cost(
        from_mapping(pricing), input_tokens, output_tokens, cached_tokens, cache_write_tokens,
        reasoning_tokens,
    )


_RATES = ("inputPer1M", "outputPer1M", "cacheReadPer1M", "cacheWritePer1M")


def rates_for(pricing: Mapping[str, Any], input_tokens: int) -> dict[str, Any]:
    """The per-1M rates a call of `input_tokens` pays: the base prices, overridden by the highest tier
    whose `aboveTokens` the input exceeds (a tier's missing price keeps the base one). `aboveTokens` is
    set to the tier applied (None: base prices)."""
    out: dict[str, Any] = {k: pricing.get(k) for k in _RATES}
    out["reasoningPer1M"] = pricing.get("reasoningPer1M")
    out["aboveTokens"] = None
    best = None
    for tier in pricing.get("tiers") or ():
        above = tier.get("aboveTokens")
        if above is not None and input_tokens > above and (best is None or above > best["aboveTokens"]):
            best = tier
    if best is not None:
        for k in _RATES:
            if best.get(k) is not None:
                out[k] = best[k]
        out["aboveTokens"] = best["aboveTokens"]
    return out


_TIER_KEY = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
    r"cache_creation_input_token_cost)_above_(\d+)k_tokens$"
)
_LITELLM_RATES = {
    "input_cost_per_token": "inputPer1M",
    "output_cost_per_token": "outputPer1M",
    "cache_read_input_token_cost": "cacheReadPer1M",
    "cache_creation_input_token_cost": "cacheWritePer1M",
}


def _per_1m(value: Any) -> float:
    return round(float(value) * 1_000_000.0, 9) + 0.0


def pricing_from_litellm(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A LiteLLM price-map entry (`input_cost_per_token`, `cache_read_input_token_cost`,
    `input_cost_per_token_above_200k_tokens`, ...) as a pricing object; batch, priority and flex prices are
    not per-call prices and are left out. Raises ValueError when the entry has no per-token prices."""
    if entry.get("input_cost_per_token") is None and entry.get("output_cost_per_token") is None:
        raise ValueError("it has no per-token prices")
    out: dict[str, Any] = {}
    for src, dst in _LITELLM_RATES.items():
        if entry.get(src) is not None:
            out[dst] = _per_1m(entry[src])
    out.setdefault("inputPer1M", 0.0)
    out.setdefault("outputPer1M", 0.0)
    if "cacheReadPer1M" not in out and entry.get("input_cost_per_token_cache_hit") is not None:
        out["cacheReadPer1M"] = _per_1m(entry["input_cost_per_token_cache_hit"])
    if entry.get("output_cost_per_reasoning_token") is not None:
        out["reasoningPer1M"] = _per_1m(entry["output_cost_per_reasoning_token"])
    tiers: dict[int, dict[str, Any]] = {}
    for key, value in entry.items():
        m = _TIER_KEY.match(key)
        if m and value is not None:
            above = int(m.group(2)) * 1000
            tiers.setdefault(above, {"aboveTokens": above})[_LITELLM_RATES[m.group(1)]] = _per_1m(value)
    if tiers:
        out["tiers"] = [tiers[k] for k in sorted(tiers)]
    return out
