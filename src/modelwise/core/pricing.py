"""What one call costs under a registry pricing object (per-1M prices, long-context tiers, cache reads and
writes, reasoning tokens), and a LiteLLM price-map entry converted to such an object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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


def call_cost(
    pricing: Mapping[str, Any],
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> float:
    """USD for one call. `cached_tokens` (read from the cache) and `cache_write_tokens` (written to it) are
    part of `input_tokens`, billed at the cache-read and cache-write prices (the input price when the
    pricing has none); `reasoning_tokens` are part of `output_tokens`, billed at `reasoningPer1M` when
    given. The whole call pays the tier its input tokens reach. Raises ValueError for impossible counts."""
    for value, what in (
        (input_tokens, "input tokens"), (output_tokens, "output tokens"), (cached_tokens, "cached tokens"),
        (cache_write_tokens, "cache-write tokens"), (reasoning_tokens, "reasoning tokens"),
    ):
        if value < 0:
            raise ValueError(f"{what} must be zero or more, not {value}")
    fresh = input_tokens - cached_tokens - cache_write_tokens
    if fresh < 0:
        raise ValueError(
            f"cached ({cached_tokens}) and cache-write ({cache_write_tokens}) tokens are part of the input "
            f"and cannot exceed its {input_tokens}"
        )
    if reasoning_tokens > output_tokens:
        raise ValueError(
            f"reasoning tokens ({reasoning_tokens}) are part of the output and cannot exceed its "
            f"{output_tokens}"
        )
    r = rates_for(pricing, input_tokens)
    pin = r["inputPer1M"] or 0.0
    pout = r["outputPer1M"] or 0.0
    read = r["cacheReadPer1M"] if r["cacheReadPer1M"] is not None else pin
    write = r["cacheWritePer1M"] if r["cacheWritePer1M"] is not None else pin
    reason = r["reasoningPer1M"] if r["reasoningPer1M"] is not None else pout
    return (
        fresh * pin + cached_tokens * read + cache_write_tokens * write
        + (output_tokens - reasoning_tokens) * pout + reasoning_tokens * reason
    ) / 1_000_000.0


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
