"""The registry file's schema (docs/design.md, Registry; version 2 adds offers, price tiers, aliases and
free/unknown prices) in pydantic, and its conversion into `ModelSpec` records."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwise.core.errors import RegistryError, printable
from modelwise.core.models import ModelSpec, Offer, Registry
from modelwise.core.pricing import PriceTier

# Range checks that catch a price in the wrong unit (USD per million tokens, or per 1k: docs/design.md,
# "Registry"). Real chat prices run from about $0.01 to $600 per million tokens; a per-token price (2.5e-06)
# typed where per million is meant lands far below the floor.
MIN_NONZERO_PER_1M = 0.001
MAX_PER_1M = 10_000.0
MIN_NONZERO_PER_1K = 0.000001
MAX_PER_1K = 10.0

Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def _check_price(value: float | None, low: float, high: float, unit: str) -> float | None:
    if value is None:
        return None
    if value != 0 and value < low:
        raise ValueError(
            f"{value!r} is implausibly small for USD {unit}; is it a per-token price? "
            f"(non-zero prices must be at least {low})"
        )
    if value > high:
        raise ValueError(f"{value!r} is implausibly large for USD {unit} (at most {high})")
    return value


Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TierIn(BaseModel):
    """A long-context tier: these prices apply to a call whose input tokens exceed `aboveTokens`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    above_tokens: int = Field(alias="aboveTokens", gt=0)
    input_per_1m: Price = Field(alias="inputPer1M")
    output_per_1m: Price = Field(alias="outputPer1M")
    cache_read_per_1m: Price | None = Field(default=None, alias="cacheReadPer1M")
    cache_write_per_1m: Price | None = Field(default=None, alias="cacheWritePer1M")

    @field_validator("input_per_1m", "output_per_1m", "cache_read_per_1m", "cache_write_per_1m")
    @classmethod
    def _range(cls, v: float | None) -> float | None:
        return _check_price(v, MIN_NONZERO_PER_1M, MAX_PER_1M, "per million tokens")

    def to_tier(self) -> PriceTier:
        return PriceTier(self.above_tokens, float(self.input_per_1m), float(self.output_per_1m),
                         _f(self.cache_read_per_1m), _f(self.cache_write_per_1m))


def _f(v: float | None) -> float | None:
    return None if v is None else float(v)


class PricingIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    input_per_1m: float = Field(alias="inputPer1M", ge=0, allow_inf_nan=False)
    output_per_1m: float = Field(alias="outputPer1M", ge=0, allow_inf_nan=False)
    cache_read_per_1m: float | None = Field(default=None, alias="cacheReadPer1M", ge=0, allow_inf_nan=False)
    cache_write_per_1m: Price | None = Field(default=None, alias="cacheWritePer1M")
    reasoning_per_1m: Price | None = Field(default=None, alias="reasoningPer1M")
    tiers: list[TierIn] = Field(default_factory=list)

    @field_validator("input_per_1m", "output_per_1m", "cache_read_per_1m", "cache_write_per_1m",
                     "reasoning_per_1m")
    @classmethod
    def _range(cls, v: float | None) -> float | None:
        return _check_price(v, MIN_NONZERO_PER_1M, MAX_PER_1M, "per million tokens")

    @field_validator("tiers")
    @classmethod
    def _distinct(cls, v: list[TierIn]) -> list[TierIn]:
        seen = [t.above_tokens for t in v]
        if len(seen) != len(set(seen)):
            raise ValueError("two tiers have the same aboveTokens")
        return v

    def tiers_tuple(self) -> tuple[PriceTier, ...]:
        return tuple(sorted((t.to_tier() for t in self.tiers), key=lambda t: t.above_tokens))


class OfferIn(BaseModel):
    """One provider's listing of the model (schema 2)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    provider: str = Field(min_length=1)
    upstream_id: str = Field(alias="upstreamId", min_length=1)
    pricing: PricingIn | None = None
    latency: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    free: bool = False
    price_unknown: bool = Field(default=False, alias="priceUnknown")
    deprecation_date: str | None = Field(default=None, alias="deprecationDate")
    source: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _priced(self) -> OfferIn:
        _check_priced(self.pricing, self.price_unknown, self.free)
        return self

    def to_offer(self) -> Offer:
        p = self.pricing
        if p is None:
            return Offer(self.provider, self.upstream_id, 0.0, 0.0, latency_ms=_f(self.latency),
                         price_known=False, deprecation_date=self.deprecation_date)
        return Offer(self.provider, self.upstream_id, float(p.input_per_1m), float(p.output_per_1m),
                     _f(p.cache_read_per_1m), _f(p.cache_write_per_1m), _f(p.reasoning_per_1m),
                     p.tiers_tuple(), _f(self.latency), self.free, True, self.deprecation_date)


def _check_priced(pricing: PricingIn | None, unknown: bool, free: bool) -> None:
    if unknown and pricing is not None:
        raise ValueError("priceUnknown is true but pricing is given")
    if unknown and free:
        raise ValueError("free is true but the price is unknown")
    if free and pricing is not None and (pricing.input_per_1m != 0 or pricing.output_per_1m != 0):
        raise ValueError("free is true but the pricing is not $0")


class PerformanceIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    latency: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    quality: Unit | None = None
    quality_by_task: dict[str, Unit] = Field(default_factory=dict, alias="qualityByTask")


class ModelIn(BaseModel):
    """One model object of the registry file. Unknown keys are kept, not rejected (forward compatible)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1)
    name: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    cost_per_1k_tokens: float | None = Field(default=None, alias="costPer1kTokens", ge=0, allow_inf_nan=False)
    pricing: PricingIn | None = None
    performance: PerformanceIn = Field(default_factory=PerformanceIn)
    availability: Unit = 0.99
    provider: str | None = None
    context_window: int | None = Field(default=None, alias="contextWindow", gt=0)
    max_output_tokens: int | None = Field(default=None, alias="maxOutputTokens", gt=0)
    deprecation_date: str | None = Field(default=None, alias="deprecationDate")
    source: dict[str, Any] | None = None
    offers: list[OfferIn] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    free: bool = False
    price_unknown: bool = Field(default=False, alias="priceUnknown")

    @field_validator("deprecation_date")
    @classmethod
    def _iso_date(cls, v: str | None) -> str | None:
        if v is not None:
            import datetime

            try:
                datetime.date.fromisoformat(v[:10])
            except ValueError:
                raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)") from None
        return v

    @field_validator("cost_per_1k_tokens")
    @classmethod
    def _range_1k(cls, v: float | None) -> float | None:
        return _check_price(v, MIN_NONZERO_PER_1K, MAX_PER_1K, "per 1,000 tokens")

    @field_validator("id")
    @classmethod
    def _id_clean(cls, v: str) -> str:
        if v != v.strip() or any(c.isspace() for c in v):
            raise ValueError("must not contain white space")
        return v

    @model_validator(mode="after")
    def _priced(self) -> ModelIn:
        if self.price_unknown:
            if self.cost_per_1k_tokens is not None:
                raise ValueError("priceUnknown is true but costPer1kTokens is given")
        elif self.pricing is None and self.cost_per_1k_tokens is None:
            raise ValueError("has no price: give costPer1kTokens or pricing {inputPer1M, outputPer1M}, "
                             "or priceUnknown: true")
        _check_priced(self.pricing, self.price_unknown, self.free)
        if self.free and self.cost_per_1k_tokens:
            raise ValueError("free is true but costPer1kTokens is not 0")
        return self

    def to_spec(self) -> ModelSpec:
        write = reasoning = None
        tiers: tuple[PriceTier, ...] = ()
        if self.price_unknown:
            inp = out = 0.0
            cache = None
        elif self.pricing is not None:
            inp, out = self.pricing.input_per_1m, self.pricing.output_per_1m
            cache = self.pricing.cache_read_per_1m
            write, reasoning = self.pricing.cache_write_per_1m, self.pricing.reasoning_per_1m
            tiers = self.pricing.tiers_tuple()
        else:
            # The model validator requires costPer1kTokens when there is no pricing object.
            assert self.cost_per_1k_tokens is not None
            inp = out = float(self.cost_per_1k_tokens) * 1000.0
            cache = None
        quality_src = (self.source or {}).get("quality")
        borrowed = quality_src.get("borrowedFrom") if isinstance(quality_src, dict) else None
        perf = self.performance
        return ModelSpec(
            id=self.id,
            name=self.name or self.id,
            provider=self.provider,
            capabilities=frozenset(self.capabilities),
            input_per_1m=float(inp),
            output_per_1m=float(out),
            cache_read_per_1m=None if cache is None else float(cache),
            latency_ms=None if perf.latency is None else float(perf.latency),
            quality=perf.quality,
            quality_by_task=dict(perf.quality_by_task),
            availability=float(self.availability),
            context_window=self.context_window,
            max_output_tokens=self.max_output_tokens,
            deprecation_date=self.deprecation_date,
            source=self.source,
            offers=tuple(o.to_offer() for o in self.offers),
            cache_write_per_1m=_f(write),
            reasoning_per_1m=_f(reasoning),
            price_tiers=tiers,
            free=self.free,
            price_known=not self.price_unknown,
            aliases=tuple(self.aliases),
            rating_borrowed_from=borrowed if isinstance(borrowed, str) else None,
        )


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(model)"


def _field_names() -> dict[str, str]:
    # snake_case field name -> the camelCase key users wrote in their file
    names: dict[str, str] = {}
    for model in (ModelIn, PricingIn, PerformanceIn, OfferIn, TierIn):
        for fname, f in model.model_fields.items():
            names[fname] = f.alias or fname
    return names


_ALIASES: dict[str, str] | None = None


def parse_registry(data: Any, source: str) -> Registry:
    """Validate a parsed registry document (either shape of docs/design.md, "Registry"). Raises RegistryError
    naming the file, the model (index and id) and the field of every problem; nothing is half-loaded."""
    global _ALIASES
    if _ALIASES is None:
        _ALIASES = _field_names()
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        if "models" not in data:
            raise RegistryError([f"{source}: an object registry needs a 'models' list"])
        items = data["models"]
        meta = {k: v for k, v in data.items() if k != "models"}
        version = data.get("schemaVersion", 1)
        if version not in (1, 2) or isinstance(version, bool):
            raise RegistryError([f"{source}: schemaVersion {version!r} is not supported (expected 1 or 2)"])
    else:
        items = data
    if not isinstance(items, list):
        raise RegistryError([f"{source}: expected a JSON array of models or {{\"models\": [...]}}"])
    problems: list[str] = []
    specs: list[ModelSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, dict) else None
        # repr: one line
        where = f"{source}: model #{index}" + (f" (id {ident!r})" if isinstance(ident, str) else "")
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object, got {type(item).__name__}")
            continue
        try:
            m = ModelIn.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                field = ".".join(printable(_ALIASES.get(str(p), str(p))) for p in err["loc"]) or "(model)"
                msg = err["msg"]
                if msg.startswith("Value error, "):
                    msg = msg[len("Value error, ") :]
                problems.append(f"{where}: {field}: {msg}")
            continue
        if m.id in seen:
            problems.append(f"{where}: id: duplicate of model #{seen[m.id]}")
            continue
        seen[m.id] = index
        specs.append(m.to_spec())
    ids = set(seen)
    alias_of: dict[str, str] = {}
    for spec in specs:
        for a in spec.aliases:
            if a in ids and a != spec.id:
                problems.append(f"{source}: model {spec.id!r}: aliases: {a!r} is the id of another model")
            elif a in alias_of and alias_of[a] != spec.id:
                problems.append(f"{source}: model {spec.id!r}: aliases: {a!r} is also an alias of "
                                f"{alias_of[a]!r}")
            alias_of[a] = spec.id
    if problems:
        raise RegistryError(problems)
    if not specs:
        raise RegistryError([f"{source}: the registry has no models"])
    return Registry(models=tuple(specs), path=source, meta=meta)


def finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))
