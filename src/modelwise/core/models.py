"""The registry's models as plain, immutable records: what the router reads on its hot path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from modelwise.core.pricing import PriceTier, call_cost


class Offer(NamedTuple):
    """One provider's listing of a model: where to call it (`upstream_id` at `provider`) and its prices.
    `price_known` False: the listing's price is unknown (never taken as $0); `free`: a confirmed $0."""

    provider: str
    upstream_id: str
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None = None
    cache_write_per_1m: float | None = None
    reasoning_per_1m: float | None = None
    price_tiers: tuple[PriceTier, ...] = ()
    latency_ms: float | None = None
    free: bool = False
    price_known: bool = True
    deprecation_date: str | None = None

    def cost_of(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0,
                cache_write_tokens: int = 0, reasoning_tokens: int = 0,
                long_cache_write_tokens: int = 0) -> float:
        return call_cost(
            self, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
            long_cache_write_tokens,
        )

    def to_tuple(self) -> tuple[Any, ...]:
        t = tuple(self)
        return t[:7] + (tuple(tuple(x) for x in self.price_tiers),) + t[8:]

    @classmethod
    def from_tuple(cls, t: tuple[Any, ...]) -> Offer:
        if t[7]:
            return cls._make((*t[:7], tuple(PriceTier(*x) for x in t[7]), *t[8:]))
        return cls(*t)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model, validated and normalised (prices in USD per million tokens)."""

    id: str
    name: str
    provider: str | None
    capabilities: frozenset[str]
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float | None
    latency_ms: float | None
    quality: float | None
    quality_by_task: dict[str, float]
    availability: float
    context_window: int | None = None
    max_output_tokens: int | None = None
    deprecation_date: str | None = None
    source: dict[str, Any] | None = field(default=None, compare=False)
    offers: tuple[Offer, ...] = ()
    cache_write_per_1m: float | None = None
    reasoning_per_1m: float | None = None
    price_tiers: tuple[PriceTier, ...] = ()
    free: bool = False
    price_known: bool = True
    aliases: tuple[str, ...] = ()
    rating_borrowed_from: str | None = None

    @property
    def blended_per_1k(self) -> float:
        """(3 x input + output) / 4 per million, expressed per 1,000 tokens (docs/design.md, "Registry")."""
        return (3.0 * self.input_per_1m + self.output_per_1m) / 4.0 / 1000.0

    def quality_for(self, task_type: str) -> float | None:
        """Task-specific quality when the registry has one, else the general quality; None = unrated."""
        q = self.quality_by_task.get(task_type)
        return self.quality if q is None else q

    def cost_of(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0,
                cache_write_tokens: int = 0, reasoning_tokens: int = 0,
                long_cache_write_tokens: int = 0) -> float:
        """USD for a call of that many tokens at the model's own prices (tiers and cache prices applied;
        `long_cache_write_tokens`: of the cache writes, those kept for an hour); raises PriceUnknown when
        the price is not known."""
        if not self.price_tiers and not (cached_tokens or cache_write_tokens or reasoning_tokens):
            if not self.price_known:
                return call_cost(self, input_tokens, output_tokens)  # raises PriceUnknown
            return (input_tokens * self.input_per_1m + output_tokens * self.output_per_1m) / 1_000_000.0
        return call_cost(
            self, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
            long_cache_write_tokens,
        )

    def to_tuple(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.provider,
            tuple(sorted(self.capabilities)),
            self.input_per_1m,
            self.output_per_1m,
            self.cache_read_per_1m,
            self.latency_ms,
            self.quality,
            self.quality_by_task,
            self.availability,
            self.context_window,
            self.max_output_tokens,
            self.deprecation_date,
            self.source,
            tuple(o.to_tuple() for o in self.offers),
            self.cache_write_per_1m,
            self.reasoning_per_1m,
            tuple(tuple(x) for x in self.price_tiers),
            self.free,
            self.price_known,
            self.aliases,
            self.rating_borrowed_from,
        )

    @classmethod
    def from_tuple(cls, t: tuple[Any, ...]) -> ModelSpec:
        raw = t[15]
        offers = (
            tuple([_tuple_new(Offer, o) if not o[7] else Offer.from_tuple(o) for o in raw]) if raw else ()
        )
        tiers = tuple(PriceTier(*x) for x in t[18]) if t[18] else ()
        return _build_spec(t[0], t[1], t[2], frozenset(t[3]), *t[4:15], offers, t[16], t[17], tiers, *t[19:])


_tuple_new = tuple.__new__


def _spec_builder() -> Callable[..., ModelSpec]:
    """A constructor for the registry cache's hot path: it fills the slots of an unfrozen twin of
    ModelSpec (same slots, same layout) and then gives the object its real class. The frozen __init__
    sets each of the 24 fields through object.__setattr__, three times slower for ~1,000 models."""
    names = [f.name for f in fields(ModelSpec)]
    twin = type("_SpecTwin", (), {"__slots__": tuple(names)})
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    head = f"def build({', '.join(names)}):\n    o = _new(_twin)\n"
    code = f"{head}{body}    o.__class__ = _spec\n    return o\n"
    scope: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_spec": ModelSpec}
    exec(code, scope)  # the same technique dataclasses use to generate __init__
    build: Callable[..., ModelSpec] = scope["build"]
    return build


_build_spec = _spec_builder()


@dataclass(frozen=True)
class Registry:
    """The loaded registry: models in file order, an index by id, and where it came from."""

    models: tuple[ModelSpec, ...]
    path: str | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)
    _by_id: dict[str, ModelSpec] = field(init=False, repr=False, compare=False)
    _by_alias: dict[str, ModelSpec] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {m.id: m for m in self.models})
        object.__setattr__(self, "_by_alias", None)

    def get(self, model_id: str) -> ModelSpec | None:
        return self._by_id.get(model_id)

    def resolve(self, name: str) -> ModelSpec | None:
        """A model by its id, one of its aliases (`mistral-large-latest`) or an offer's upstream id
        (`provider/upstream` or the bare upstream id when only one model has it)."""
        m = self._by_id.get(name)
        if m is not None:
            return m
        index = self._by_alias
        if index is None:
            index = {}
            for spec in self.models:
                for a in spec.aliases:
                    index.setdefault(a, spec)
            upstream: dict[str, list[ModelSpec]] = {}
            for spec in self.models:
                for o in spec.offers:
                    index.setdefault(f"{o.provider}/{o.upstream_id}", spec)
                    upstream.setdefault(o.upstream_id, []).append(spec)
            for uid, specs in upstream.items():
                if len({s.id for s in specs}) == 1:
                    index.setdefault(uid, specs[0])
            object.__setattr__(self, "_by_alias", index)
        return index.get(name)

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models)
