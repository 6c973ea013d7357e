"""What one call costs: base prices, long-context tiers, cache reads and writes and reasoning tokens.

Pure functions over anything priced like a `ModelSpec` or an `Offer` (prices in USD per million tokens)."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class PriceTier(NamedTuple):
    """Prices that replace the base ones for a call whose input exceeds `above_tokens` (the whole call
    is priced at the tier, as LiteLLM's `input_cost_per_token_above_200k_tokens` means)."""

    above_tokens: int
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None = None
    cache_write_per_1m: float | None = None


class Priced(Protocol):
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None
    cache_write_per_1m: float | None
    reasoning_per_1m: float | None
    price_tiers: tuple[PriceTier, ...]


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
) -> float:
    """USD for one call. `input_tokens` is the whole prompt: `cached_tokens` of it are read from the cache
    and `cache_write_tokens` written to it; `reasoning_tokens` are part of `output_tokens`. A cache or
    reasoning price that is not known is charged as plain input or output. The tier is chosen by the
    prompt's input tokens and prices every part of the call."""
    if getattr(pricing, "price_known", True) is False:
        raise PriceUnknown("price unknown")
    for name, n in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                    ("cached_tokens", cached_tokens), ("cache_write_tokens", cache_write_tokens),
                    ("reasoning_tokens", reasoning_tokens)):
        if n < 0:
            raise ValueError(f"{name} must not be negative")
    if cached_tokens + cache_write_tokens > input_tokens:
        raise ValueError("cached_tokens + cache_write_tokens exceed input_tokens")
    if reasoning_tokens > output_tokens:
        raise ValueError("reasoning_tokens exceed output_tokens")
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
    total += cache_write_tokens * (pin if pwrite is None else pwrite)
    total += (output_tokens - reasoning_tokens) * pout
    total += reasoning_tokens * (pout if preason is None else preason)
    return total / 1_000_000.0


def min_prices(pricing: Priced) -> tuple[float, float]:
    """The lowest input and output price over the base and every tier: a lower bound of any call."""
    pin, pout = pricing.input_per_1m, pricing.output_per_1m
    for t in pricing.price_tiers:
        pin, pout = min(pin, t.input_per_1m), min(pout, t.output_per_1m)
    return pin, pout
