"""`modelwise cost`: what one call to a model costs, with the prices used (the registry's, or a LiteLLM
price map's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import emit
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "cost"
HELP = "what one call to a model costs, with the prices used"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a registry id, an alias, or a LiteLLM price-map key")
    p.add_argument("--input-tokens", type=int, required=True, metavar="N", help="input tokens, cached too")
    p.add_argument("--output-tokens", type=int, required=True, metavar="M", help="output tokens")
    p.add_argument("--cached-tokens", type=int, default=0, metavar="K", help="input tokens read from cache")
    p.add_argument(
        "--cache-write-tokens", type=int, default=0, metavar="W", help="input tokens written to the cache"
    )
    p.add_argument(
        "--reasoning-tokens", type=int, default=0, metavar="R", help="output tokens spent reasoning"
    )
    p.add_argument("--price-map", action="store_true", help="read MODEL from the price map, not the registry")
    p.add_argument("--prices", metavar="FILE", help="the LiteLLM price map to read (default: vendored)")
    p.add_argument("--json", action="store_true", help="print JSON")


def price_map_path(given: str | None) -> Path:
    """The LiteLLM price map: `--prices FILE`, else the newest one in the user's data folder's `prices`
    (written by `registry update`), else the one shipped with modelwise (`data/prices`)."""
    if given:
        return Path(given).expanduser()
    from modelwise.paths import shipped_data_dir, user_data_dir

    pattern = "litellm-*_model_prices_and_context_window.json"
    for folder in (user_data_dir() / "prices", shipped_data_dir() / "prices"):
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[-1]
    raise BadInput("no LiteLLM price map found (none shipped or updated); give one with --prices FILE")


def load_price_map(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise BadInput(f"{path}: price map not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the price map: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a LiteLLM price map (expected an object of models)")
    return data


def registry_pricing(model: Any, offer: Any) -> dict[str, Any]:
    """The registry's pricing object for `model`, at the prices of `offer` (the one it would be called
    through) when that differs."""
    given = getattr(model, "pricing", None)
    if isinstance(given, dict) and offer is None:
        return dict(given)
    src = offer if offer is not None else model
    out: dict[str, Any] = {"inputPer1M": src.input_per_1m, "outputPer1M": src.output_per_1m}
    if src.cache_read_per_1m is not None:
        out["cacheReadPer1M"] = src.cache_read_per_1m
    write = getattr(src, "cache_write_per_1m", None)
    if write is not None:
        out["cacheWritePer1M"] = write
    tiers = getattr(src, "tiers", None)
    if tiers:
        out["tiers"] = [t if isinstance(t, dict) else _tier_json(t) for t in tiers]
    return out


def _tier_json(t: Any) -> dict[str, Any]:
    out = {"aboveTokens": getattr(t, "above_tokens", None)}
    for attr, key in (("input_per_1m", "inputPer1M"), ("output_per_1m", "outputPer1M"),
                      ("cache_read_per_1m", "cacheReadPer1M"), ("cache_write_per_1m", "cacheWritePer1M")):
        if getattr(t, attr, None) is not None:
            out[key] = getattr(t, attr)
    return out


def _find_model(svc: Any, name: str) -> Any:
    m = svc.registry.get(name)
    if m is not None:
        return m
    for m in svc.registry.models:
        if name in (getattr(m, "aliases", None) or ()):
            return m
    return None


def cost_of_call(svc: Any, args: argparse.Namespace) -> dict[str, Any]:
    from modelwise.core.pricing import mapping_cost, pricing_from_litellm, rates_for

    counts = {
        "input": args.input_tokens, "output": args.output_tokens, "cached": args.cached_tokens,
        "cacheWrite": args.cache_write_tokens, "reasoning": args.reasoning_tokens,
    }
    for what, n in counts.items():
        if n < 0:
            raise BadInput(f"--{_flag(what)}-tokens must be zero or more, not {n}")
    model = None if args.price_map else _find_model(svc, args.model)
    out: dict[str, Any] = {"model": args.model}
    if model is not None:
        offer = svc.reach.offer(model.id)
        pricing = registry_pricing(model, offer)
        out.update(
            registryId=model.id, name=model.name, source="registry",
            provider=offer.provider if offer is not None else None,
            upstreamId=offer.upstream_id if offer is not None else None,
        )
    else:
        path = price_map_path(args.prices)
        entry = load_price_map(path).get(args.model)
        if not isinstance(entry, dict) or args.model == "sample_spec":
            where = "the price map" if args.price_map else "the registry (id or alias) nor the price map"
            raise BadInput(f"unknown model {args.model!r}: not in {where} ({path.name})")
        try:
            pricing = pricing_from_litellm(entry)
        except ValueError as exc:
            raise BadInput(f"price map entry {args.model!r}: {exc}") from None
        out.update(
            source="price map", priceMap=path.name, provider=entry.get("litellm_provider"), upstreamId=None
        )
    try:
        total = mapping_cost(
            pricing, args.input_tokens, args.output_tokens, args.cached_tokens, args.cache_write_tokens,
            args.reasoning_tokens,
        )
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    out.update(
        tokens=counts, pricing=pricing, applied=rates_for(pricing, args.input_tokens), cost=round(total, 10)
    )
    return out


def _flag(what: str) -> str:
    return {"cacheWrite": "cache-write"}.get(what, what)


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    r = cost_of_call(svc, args)
    if args.json:
        emit(r)
        return EXIT_OK
    a, t = r["applied"], r["tokens"]
    where = f"{r['name']} ({r['registryId']}), registry" if r["source"] == "registry" else (
        f"{r['model']}, price map {r['priceMap']}"
    )
    via = ""
    if r["provider"]:
        via = f" via {r['provider']}" + (f" as {r['upstreamId']}" if r.get("upstreamId") else "")
    print(f"${r['cost']:.6f}  {where}{via}")
    tier = f" (above {a['aboveTokens']:,} input tokens)" if a["aboveTokens"] is not None else ""
    fresh = t["input"] - t["cached"] - t["cacheWrite"]
    lines = [f"  input       {fresh:>12,} x ${a['inputPer1M']:g}/1M{tier}"]
    if t["cached"]:
        rate = a["cacheReadPer1M"] if a["cacheReadPer1M"] is not None else a["inputPer1M"]
        lines.append(f"  cache read  {t['cached']:>12,} x ${rate:g}/1M")
    if t["cacheWrite"]:
        rate = a["cacheWritePer1M"] if a["cacheWritePer1M"] is not None else a["inputPer1M"]
        lines.append(f"  cache write {t['cacheWrite']:>12,} x ${rate:g}/1M")
    out_tokens = t["output"] - t["reasoning"]
    lines.append(f"  output      {out_tokens:>12,} x ${a['outputPer1M']:g}/1M")
    if t["reasoning"]:
        rate = a["reasoningPer1M"] if a["reasoningPer1M"] is not None else a["outputPer1M"]
        lines.append(f"  reasoning   {t['reasoning']:>12,} x ${rate:g}/1M")
    print("\n".join(lines))
    return EXIT_OK
