"""The registry file's schema (SPEC 1) in pydantic, and its conversion into `ModelSpec` records."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwise.core.errors import RegistryError, printable
from modelwise.core.models import ModelSpec, Registry

# Range checks that catch a price in the wrong unit (SPEC 1 wants USD per million tokens, or per 1k).
# Real chat prices run from about $0.01 to $600 per million tokens; a per-token price (2.5e-06) typed
# where per million is meant lands far below the floor.
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


class PricingIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    input_per_1m: float = Field(alias="inputPer1M", ge=0, allow_inf_nan=False)
    output_per_1m: float = Field(alias="outputPer1M", ge=0, allow_inf_nan=False)
    cache_read_per_1m: float | None = Field(default=None, alias="cacheReadPer1M", ge=0, allow_inf_nan=False)

    @field_validator("input_per_1m", "output_per_1m", "cache_read_per_1m")
    @classmethod
    def _range(cls, v: float | None) -> float | None:
        return _check_price(v, MIN_NONZERO_PER_1M, MAX_PER_1M, "per million tokens")


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
        if self.pricing is None and self.cost_per_1k_tokens is None:
            raise ValueError("has no price: give costPer1kTokens or pricing {inputPer1M, outputPer1M}")
        return self

    def to_spec(self) -> ModelSpec:
        if self.pricing is not None:
            inp, out = self.pricing.input_per_1m, self.pricing.output_per_1m
            cache = self.pricing.cache_read_per_1m
        else:
            inp = out = float(self.cost_per_1k_tokens) * 1000.0  # type: ignore[arg-type]
            cache = None
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
        )


def _loc(loc: tuple) -> str:
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
    for model in (ModelIn, PricingIn, PerformanceIn):
        for fname, f in model.model_fields.items():
            names[fname] = f.alias or fname
    return names


_ALIASES: dict[str, str] | None = None


def parse_registry(data: Any, source: str) -> Registry:
    """Validate a parsed registry document (either shape of SPEC 1). Raises RegistryError naming the
    file, the model (index and id) and the field of every problem; nothing is half-loaded."""
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
        if version != 1:
            raise RegistryError([f"{source}: schemaVersion {version!r} is not supported (expected 1)"])
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
    if problems:
        raise RegistryError(problems)
    if not specs:
        raise RegistryError([f"{source}: the registry has no models"])
    return Registry(models=tuple(specs), path=source, meta=meta)


def finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))
