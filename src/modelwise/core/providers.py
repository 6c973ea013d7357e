"""Who can call a model: the built-in provider table, the configured providers, the offers of a model and
which models the enabled providers reach. Pure data and logic; the environment is passed in as a mapping."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

WIRE_FORMATS = ("openai", "anthropic")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


# NamedTuples, not frozen dataclasses: defined at import on the CLI's cold path (a tenth of the cost) and
# made by the thousand per process (a frozen dataclass's __init__ is several times slower).


class OfferRef(NamedTuple):
    """One way to buy a model: from `provider` under `upstream_id`, at these prices (USD per 1M tokens)."""

    provider: str
    upstream_id: str
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None = None
    cache_write_per_1m: float | None = None
    latency_ms: float | None = None
    tiers: tuple[Any, ...] = ()  # core.pricing.PriceTier, as the registry's offers carry them
    reasoning_per_1m: float | None = None
    free: bool = False  # a confirmed $0 (the registry's word, or a local provider)

    @property
    def blended_per_1m(self) -> float:
        return (3.0 * self.input_per_1m + self.output_per_1m) / 4.0


_NO_IDS: Mapping[str, str] = MappingProxyType({})


class ProviderDef(NamedTuple):
    """A provider as defined (built-in, configured, or a built-in the config overrides).

    `key_envs`: the environment variables that may hold its key, in order (empty: no key needed).
    `models`: the registry ids it serves (None: the models with an offer from `name`); `upstream_ids`:
    registry id -> the id to send it. `local`: a server on the user's machine, used only when configured."""

    name: str
    label: str
    base_url: str
    api: str = "openai"
    key_envs: tuple[str, ...] = ()
    models: tuple[str, ...] | None = None
    upstream_ids: Mapping[str, str] = _NO_IDS
    free: bool = False
    local: bool = False
    enabled: bool | None = None
    builtin: bool = True
    configured: bool = False


# The LiteLLM provider names (`litellm_provider`, the first part of a price-map key) double as the
# providers' names here, so a provider serves the offers that carry its name.
BUILTIN: tuple[ProviderDef, ...] = (
    ProviderDef("openai", "OpenAI", "https://api.openai.com/v1", "openai", ("OPENAI_API_KEY",)),
    ProviderDef("anthropic", "Anthropic", "https://api.anthropic.com", "anthropic", ("ANTHROPIC_API_KEY",)),
    ProviderDef(
        "gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "openai",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    ),
    ProviderDef("mistral", "Mistral", "https://api.mistral.ai/v1", "openai", ("MISTRAL_API_KEY",)),
    ProviderDef("deepseek", "DeepSeek", "https://api.deepseek.com", "openai", ("DEEPSEEK_API_KEY",)),
    ProviderDef("xai", "xAI", "https://api.x.ai/v1", "openai", ("XAI_API_KEY",)),
    ProviderDef("groq", "Groq", "https://api.groq.com/openai/v1", "openai", ("GROQ_API_KEY",)),
    ProviderDef(
        "together_ai", "Together", "https://api.together.xyz/v1", "openai",
        ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
    ),
    ProviderDef(
        "fireworks_ai", "Fireworks", "https://api.fireworks.ai/inference/v1", "openai",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    ),
    ProviderDef(
        "openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "openai", ("OPENROUTER_API_KEY",)
    ),
    ProviderDef("ollama", "Ollama (local)", "http://localhost:11434/v1", free=True, local=True),
    ProviderDef("vllm", "vLLM (local)", "http://localhost:8000/v1", free=True, local=True),
    ProviderDef("llamacpp", "llama.cpp (local)", "http://localhost:8080/v1", free=True, local=True),
)
BUILTIN_BY_NAME: dict[str, ProviderDef] = {p.name: p for p in BUILTIN}
# Every variable a built-in reads its key from (tests clear them all).
KEY_VARIABLES: tuple[str, ...] = tuple(dict.fromkeys(v for p in BUILTIN for v in p.key_envs))

OPENROUTER = "openrouter"
UNREACHABLE = "no configured provider serves it"  # how a model out of reach's reason begins
# A vendor's own API, as the price map names it, and the vendor's prefix in OpenRouter's model ids.
FIRST_PARTY: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "google": ("gemini", "vertex_ai-language-models"),
    "mistral": ("mistral",),
    "deepseek": ("deepseek",),
    "xai": ("xai",),
    "alibaba": ("dashscope",),
    "zai": ("zai",),
    "moonshot": ("moonshot",),
    "minimax": ("minimax",),
    "cohere": ("cohere", "cohere_chat"),
    "ai21": ("ai21",),
    "perplexity": ("perplexity",),
    "amazon": ("amazon_nova",),
    "meta": ("meta",),
}
OPENROUTER_VENDOR: dict[str, str] = {
    "mistral": "mistralai", "xai": "x-ai", "alibaba": "qwen", "zai": "z-ai", "moonshot": "moonshotai",
    "meta": "meta-llama",
}
# A price-map key without a provider prefix is the vendor's own API, unless it is a Bedrock model id
# (`anthropic.claude-…`, `us.anthropic.claude-…`) or a Volcengine one (a yymmdd suffix: `…-251201`; the
# vendors' own snapshots end in -2024-08-06, -0613 or -20250929); a few prefixes are spelt differently.
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,6}\.)?[a-z0-9-]+\.[a-z]")
_VOLCENGINE_ID = re.compile(r"-\d{6}$")
_VENDOR_HOST = {"google": "gemini", "cohere": "cohere_chat"}
_HOST_SPELLING = {"amazon-nova": "amazon_nova"}


def listing_of(model: Any) -> tuple[str, str]:
    """(provider, upstream id) of a registry model that has no `offers`: taken from the price-map key it
    was built from (`fireworks_ai/accounts/…` -> fireworks_ai, `accounts/…`), else from its id."""
    try:
        key = model.source["prices"]["key"]
    except (TypeError, KeyError, AttributeError):
        key = None
    if type(key) is not str or not key:
        key = model.id
    head, sep, rest = key.partition("/")
    if sep:
        return _HOST_SPELLING.get(head, head), rest
    if _BEDROCK_ID.match(key):
        return "bedrock", key
    if _VOLCENGINE_ID.search(key):
        return "volcengine", key
    vendor = model.provider or "unknown"
    return _VENDOR_HOST.get(vendor, vendor), key


def offers_of(model: Any) -> tuple[OfferRef, ...]:
    """The model's offers: `model.offers` when the registry lists them, else the one listing it was built
    from, at the model's own prices."""
    offers = getattr(model, "offers", None)
    if offers:
        # An offer of unknown price is never the cheapest one ($0 is not its price): keep it only when
        # the model has no other, so the model is still found, and scored as "price unknown".
        known = [o for o in offers if getattr(o, "price_known", True)]
        return tuple(_as_offer(o, model) for o in known or offers)
    provider, upstream = listing_of(model)
    return (
        OfferRef(
            provider, upstream, model.input_per_1m, model.output_per_1m, model.cache_read_per_1m,
            getattr(model, "cache_write_per_1m", None), model.latency_ms,
        ),
    )


def priced_as(model: Any, offer: OfferRef) -> Any:
    """`model` at the prices of `offer`, the one it is called through (the router's score and the
    settlement pay those); the model itself when they are already its own."""
    import dataclasses

    own = (model.input_per_1m, model.output_per_1m, model.cache_read_per_1m, model.cache_write_per_1m,
           model.reasoning_per_1m, model.price_tiers, model.free, model.price_known)
    theirs = (offer.input_per_1m, offer.output_per_1m, offer.cache_read_per_1m, offer.cache_write_per_1m,
              offer.reasoning_per_1m, tuple(offer.tiers), offer.free, True)
    if own == theirs:
        return model
    return dataclasses.replace(
        model, input_per_1m=offer.input_per_1m, output_per_1m=offer.output_per_1m,
        cache_read_per_1m=offer.cache_read_per_1m, cache_write_per_1m=offer.cache_write_per_1m,
        reasoning_per_1m=offer.reasoning_per_1m, price_tiers=tuple(offer.tiers), free=offer.free,
        price_known=True,
    )


def _as_offer(o: Any, model: Any) -> OfferRef:
    if isinstance(o, OfferRef):
        return o
    get: Callable[..., Any] = o.get if isinstance(o, Mapping) else lambda k, d=None: getattr(o, k, d)
    return OfferRef(
        provider=get("provider"),
        upstream_id=get("upstream_id") or get("upstreamId") or model.id,
        input_per_1m=float(get("input_per_1m", model.input_per_1m)),
        output_per_1m=float(get("output_per_1m", model.output_per_1m)),
        cache_read_per_1m=get("cache_read_per_1m"),
        cache_write_per_1m=get("cache_write_per_1m"),
        latency_ms=get("latency_ms"),
        tiers=tuple(get("price_tiers") or get("tiers") or ()),
        reasoning_per_1m=get("reasoning_per_1m"),
        free=bool(get("free", False)),
    )


# -- the providers in effect ------------------------------------------------------------------------


class Provider(NamedTuple):
    """A provider with its state in this environment: whether it is on and which variable holds its key
    (the name only; the key itself is never kept)."""

    spec: ProviderDef
    enabled: bool
    key_env: str | None  # the variable that holds the key, when one is set
    why_off: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def merge_config(configured: Mapping[str, Mapping[str, Any]]) -> tuple[ProviderDef, ...]:
    """The built-ins with the config's `[providers.NAME]` tables applied (a table for a built-in name
    overrides the fields it gives; a new name defines a provider), built-ins first, then the new ones."""
    out = []
    for p in BUILTIN:
        given = configured.get(p.name)
        out.append(p if given is None else _apply(p, given))
    for name, given in configured.items():
        if name not in BUILTIN_BY_NAME:
            base = ProviderDef(name, name, str(given.get("base_url") or ""), builtin=False)
            out.append(_apply(base, given))
    return tuple(out)


def _apply(p: ProviderDef, given: Mapping[str, Any]) -> ProviderDef:
    changes: dict[str, Any] = {"configured": True}
    if given.get("base_url") is not None:
        changes["base_url"] = given["base_url"]
    if given.get("api") is not None:
        changes["api"] = given["api"]
    if given.get("api_key_env") is not None:
        changes["key_envs"] = (given["api_key_env"],)
    if given.get("models") is not None:
        changes["models"] = tuple(given["models"])
    if given.get("upstream_ids") is not None:
        changes["upstream_ids"] = dict(given["upstream_ids"])
    if given.get("free") is not None:
        changes["free"] = bool(given["free"])
    if given.get("enabled") is not None:
        changes["enabled"] = bool(given["enabled"])
    return p._replace(**changes)


def resolve(defs: Iterable[ProviderDef], env: Mapping[str, str]) -> tuple[Provider, ...]:
    """Which providers are on: a provider with a key variable is on when one of its variables is set and
    not empty; a local built-in only when configured; `enabled = false` turns any off."""
    out = []
    for p in defs:
        key_env = next((v for v in p.key_envs if env.get(v, "").strip()), None)
        if p.enabled is False:
            out.append(Provider(p, False, key_env, "disabled in the config"))
        elif p.local and not p.configured:
            out.append(Provider(p, False, None, "local: add [providers." + p.name + "] to use it"))
        elif p.key_envs and key_env is None:
            out.append(Provider(p, False, None, "no key: set " + " or ".join(p.key_envs)))
        else:
            out.append(Provider(p, True, key_env))
    return tuple(out)


class Reach(NamedTuple):
    """Which models the enabled providers reach, and through which offer (the cheapest reachable one).

    `active`: some provider is on (otherwise routing is advisory, over the whole registry)."""

    active: bool
    offers: Mapping[str, OfferRef]
    reachable: frozenset[str]
    unreachable: Mapping[str, str]
    counts: Mapping[str, int]
    providers: tuple[Provider, ...] = ()

    def offer(self, model_id: str) -> OfferRef | None:
        return self.offers.get(model_id)


def _openrouter_offer(model: Any, offers: Sequence[OfferRef], p: ProviderDef) -> OfferRef | None:
    """OpenRouter's offer of a model: its own listing when the registry has one, else the vendor's own
    API's offer under `vendor/upstream-id` (OpenRouter's spelling of the vendor), at the vendor's prices."""
    for o in offers:
        if o.provider == OPENROUTER:
            return o
    hosts = FIRST_PARTY.get(model.provider or "")
    if not hosts:
        return None
    for o in offers:
        if o.provider in hosts:
            vendor = OPENROUTER_VENDOR.get(model.provider, model.provider)
            upstream = p.upstream_ids.get(model.id) or f"{vendor}/{o.upstream_id}"
            return _moved(o, p.name, upstream)
    return None


def _moved(o: OfferRef, provider: str, upstream_id: str) -> OfferRef:
    """`o` sold by `provider` under `upstream_id`."""
    return o._replace(provider=provider, upstream_id=upstream_id)


def provider_offer(model: Any, offers: Sequence[OfferRef], p: ProviderDef) -> OfferRef | None:
    """The offer through which provider `p` serves `model`, or None when it does not."""
    offer: OfferRef | None
    if p.models is not None:
        if model.id not in p.models:
            return None
        own = next((o for o in offers if o.provider == p.name), None)
        base = own or min(offers, key=lambda o: o.blended_per_1m)
        offer = _moved(base, p.name, p.upstream_ids.get(model.id) or model.id)
    elif p.name == OPENROUTER:
        offer = _openrouter_offer(model, offers, p)
    else:
        own = next((o for o in offers if o.provider == p.name), None)
        if own is None:
            return None
        up = p.upstream_ids.get(model.id)
        offer = own if up is None else _moved(own, own.provider, up)
    if offer is not None and p.free:
        offer = offer._replace(input_per_1m=0.0, output_per_1m=0.0, cache_read_per_1m=0.0,
                               cache_write_per_1m=0.0, tiers=(), reasoning_per_1m=0.0, free=True)
    return offer


def _hint(hosts: Sequence[str], model: Any) -> str:
    """What would make a model reachable (its offers are from `hosts`), for its breakdown row."""
    ways: list[str] = []
    for h in hosts:
        p = BUILTIN_BY_NAME.get(h)
        if p is not None and p.key_envs:
            ways.append("set " + p.key_envs[0])
    first_party = FIRST_PARTY.get(model.provider or "", ())
    if OPENROUTER in hosts or any(h in first_party for h in hosts):
        ways.append("set OPENROUTER_API_KEY")
    ways.append("add [providers." + (sorted(hosts)[0] if hosts else "NAME") + "]")
    return UNREACHABLE + ": " + " or ".join(dict.fromkeys(ways))


def compute_reach(models: Iterable[Any], providers: Sequence[Provider], count_all: bool = False) -> Reach:
    """For every model, the cheapest offer some enabled provider makes (ties: lower latency, then the
    provider's place in the list), and why the others are out. `counts`: how many models each provider
    reaches (every provider's when `count_all`, else the enabled ones')."""
    on = [p for p in providers if p.enabled]
    looked = list(enumerate(providers if count_all else on))
    if not looked:  # nothing on: advisory, nothing to look up
        return Reach(False, {}, frozenset(), {}, {}, tuple(providers))
    counts = {p.name: 0 for _, p in looked}
    # A provider that serves the offers carrying its name is looked up by that name (one dict probe per
    # offer); one with a model list by set membership; OpenRouter model by model.
    by_name: dict[str, list[tuple[int, Provider]]] = {}
    listed: list[tuple[int, Provider, frozenset[str]]] = []
    others: list[tuple[int, Provider]] = []
    for i, p in looked:
        if p.spec.models is not None:
            listed.append((i, p, frozenset(p.spec.models)))
        elif p.name == OPENROUTER:
            others.append((i, p))
        else:
            by_name.setdefault(p.name, []).append((i, p))
    chosen: dict[str, OfferRef] = {}
    unreachable: dict[str, str] = {}
    hints: dict[tuple[Any, ...], str] = {}
    for m in models:
        # the offers' providers first (cheap); the offers themselves only when some provider may serve one
        offers: tuple[OfferRef, ...] | None = None
        if getattr(m, "offers", None):
            offers = offers_of(m)
            hosts = tuple(o.provider for o in offers)
        else:
            hosts = (listing_of(m)[0],)
        found: dict[int, Provider] = {}
        for h in hosts:
            for i, p in by_name.get(h, ()):
                found[i] = p
        for i, p, ids in listed:
            if m.id in ids:
                found[i] = p
        if others and (OPENROUTER in hosts or any(h in FIRST_PARTY.get(m.provider or "", ()) for h in hosts)):
            for i, p in others:
                found[i] = p
        if not found:
            if on:
                hk = (m.provider, hosts)
                hint = hints.get(hk)
                if hint is None:
                    hint = hints[hk] = _hint(hosts, m)
                unreachable[m.id] = hint
            continue
        if offers is None:
            offers = offers_of(m)
        best: tuple[Any, ...] | None = None
        for i, p in found.items():
            o = provider_offer(m, offers, p.spec)
            if o is None:
                continue
            counts[p.name] += 1
            if p.enabled:
                lat = o.latency_ms if o.latency_ms is not None else float("inf")
                key = (o.blended_per_1m, lat, i)
                if best is None or key < best[0]:
                    best = (key, o)
        if best is not None:
            chosen[m.id] = best[1]
        elif on:
            hk = (m.provider, hosts)
            hint = hints.get(hk)
            if hint is None:
                hint = hints[hk] = _hint(hosts, m)
            unreachable[m.id] = hint
    return Reach(bool(on), chosen, frozenset(chosen), unreachable, counts, tuple(providers))


def config_model_problems(defs: Iterable[ProviderDef], known: Any) -> list[str]:
    """`providers.NAME.models` entries that are not registry ids (`known` supports `in`)."""
    problems = []
    for p in defs:
        for mid in p.models or ():
            if mid not in known:
                problems.append(f"providers.{p.name}.models: {mid!r} is not in the registry")
        for mid in p.upstream_ids:
            if mid not in known:
                problems.append(f"providers.{p.name}.upstream_ids: {mid!r} is not in the registry")
    return problems


ADVISORY = (
    "advisory: no provider is configured or detected, so every model in the registry was considered, "
    "including ones you may not be able to call; set a provider's key (e.g. OPENAI_API_KEY, "
    "ANTHROPIC_API_KEY, OPENROUTER_API_KEY) or add [providers.NAME] to the config"
)
