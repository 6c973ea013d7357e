"""A model's offers as rows: each provider that sells it, at what price and latency, and whether an enabled
provider can call it (the one routing calls marked). Pure logic over core.providers' data."""

from __future__ import annotations

from typing import Any

from modelwise.core import providers as prov


def offer_rows(model: Any, reach: Any) -> list[dict[str, Any]]:
    """One row per offer of `model` (the registry's listings, then any way an enabled provider calls it
    that no listing names, such as OpenRouter or a configured model list), cheapest first.

    Keys: provider, upstreamId, inputPer1M, outputPer1M (None: price unknown), latencyMs, free, reachable,
    chosen (the offer a decision for the model names), why (what would make an unreachable one callable,
    or that routing is advisory because no provider is on)."""
    listed = list(getattr(model, "offers", None) or ())
    known = prov.offers_of(model)
    if not listed:
        listed = list(known)
    callers: dict[str, prov.OfferRef] = {}
    for p in reach.providers:
        if p.enabled:
            o = prov.provider_offer(model, known, p.spec)
            if o is not None:
                callers.setdefault(o.provider, o)
    chosen = reach.offer(model.id)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()

    def row(o: Any, reachable: bool, why: str | None) -> dict[str, Any]:
        price_known = getattr(o, "price_known", True)
        return {
            "provider": o.provider,
            "upstreamId": o.upstream_id,
            "inputPer1M": o.input_per_1m if price_known else None,
            "outputPer1M": o.output_per_1m if price_known else None,
            "latencyMs": o.latency_ms,
            "free": bool(o.free),
            "reachable": reachable,
            "chosen": chosen is not None and chosen.provider == o.provider,
            "why": why,
        }

    for o in listed:
        seen.add(o.provider)
        called = callers.get(o.provider)
        if called is not None:
            rows.append(row(called, True, None))
        else:
            rows.append(row(o, False, _why(o.provider, reach)))
    for name, o in callers.items():
        if name not in seen:
            rows.append(row(o, True, None))
    rows.sort(key=lambda r: (not r["reachable"], _blend(r), r["provider"]))
    return rows


def _blend(r: dict[str, Any]) -> float:
    price_in, price_out = r["inputPer1M"], r["outputPer1M"]
    if price_in is None or price_out is None:
        return float("inf")
    return (3.0 * float(price_in) + float(price_out)) / 4.0


def _why(provider: str, reach: Any) -> str:
    if not reach.active:
        return "no provider on (routing is advisory)"
    p = next((p for p in reach.providers if p.name == provider), None)
    if p is not None and p.spec.key_envs and p.key_env is None:
        return f"{p.spec.key_envs[0]} not set"
    if p is not None and not p.enabled:
        return p.why_off or "provider off"
    return f"no [providers.{provider}] in the config"
