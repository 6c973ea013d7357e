"""The registry's models as plain, immutable records: what the router reads on its hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    @property
    def blended_per_1k(self) -> float:
        """(3 x input + output) / 4 per million, expressed per 1,000 tokens (SPEC 1)."""
        return (3.0 * self.input_per_1m + self.output_per_1m) / 4.0 / 1000.0

    def quality_for(self, task_type: str) -> float | None:
        """Task-specific quality when the registry has one, else the general quality; None = unrated."""
        q = self.quality_by_task.get(task_type)
        return self.quality if q is None else q

    def cost_of(self, input_tokens: int, output_tokens: int) -> float:
        """Estimated USD for a call of that many tokens."""
        return (input_tokens * self.input_per_1m + output_tokens * self.output_per_1m) / 1_000_000.0

    def to_tuple(self) -> tuple:
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
        )

    @classmethod
    def from_tuple(cls, t: tuple) -> ModelSpec:
        return cls(t[0], t[1], t[2], frozenset(t[3]), *t[4:])


@dataclass(frozen=True)
class Registry:
    """The loaded registry: models in file order, an index by id, and where it came from."""

    models: tuple[ModelSpec, ...]
    path: str | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {m.id: m for m in self.models})

    def get(self, model_id: str) -> ModelSpec | None:
        return self._by_id.get(model_id)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self):
        return iter(self.models)
