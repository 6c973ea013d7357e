"""Fallback for a gateway call, whatever its wire format: the attempt loop that moves to another model
(another provider first) after a failure before the first byte, and the in-process cooldowns of the
models and providers that failed."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# upstream statuses that move the call to the next model: rate limited, or the provider's own failure
RETRY_STATUSES = frozenset({429, *range(500, 600)})
MAX_COOLDOWN = 3600.0  # seconds a provider's Retry-After may extend a cooldown to


def retryable(status: int) -> bool:
    return status in RETRY_STATUSES


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that failed before the client saw a byte: `why` says how (`429`, `503`, `timeout`,
    `refused`...), `answer` is what the client gets when no attempt is left. `provider_wide`: the
    provider itself is down (nothing reached it), so all its models cool down; else the model does and
    its provider is only tried after the others. `retry_after`: the provider's Retry-After, seconds."""

    model: str
    provider: str
    why: str
    answer: Any
    provider_wide: bool = False
    retry_after: float | None = None
    decision_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The failure as the next attempt's decision keeps it."""
        return {"decisionId": self.decision_id, "model": self.model, "provider": self.provider,
                "why": self.why}


class NoCandidate(Exception):
    """Raised by an attempt when no model outside the ones it was told to leave out can be admitted
    (all of them failed, cool down, or do not fit what is left of the budget). `kind`: why, as the
    router's refusal says it (`excluded`: every eligible model was left out; `budget`...)."""

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        self.kind = kind


class Cooldowns:
    """Models and providers that failed recently, until `seconds` have passed on `clock` (seconds,
    any origin). In-process: each gateway process learns on its own; nothing waits on a timer."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._models: dict[str, float] = {}  # model id -> when its cooldown ends
        self._providers: dict[str, float] = {}  # provider -> when it is tried first again
        self._down: dict[str, float] = {}  # provider -> when it is tried at all again

    def failed(self, f: Failure) -> None:
        """Start (or extend) the cooldowns `f` calls for."""
        span = self.seconds
        if f.retry_after is not None and f.retry_after > span:
            span = min(f.retry_after, MAX_COOLDOWN)
        if span <= 0:
            return
        until = self.clock() + span
        for table, key in ((self._models, f.model), (self._providers, f.provider)):
            table[key] = max(table.get(key, until), until)
        if f.provider_wide:
            self._down[f.provider] = max(self._down.get(f.provider, until), until)

    def _live(self, table: dict[str, float], now: float) -> frozenset[str]:
        for key in [k for k, until in table.items() if until <= now]:
            del table[key]
        return frozenset(table)

    def cooling(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """(models cooling down, providers tried only after the others, providers not tried at all)."""
        if not (self._models or self._providers):
            return frozenset(), frozenset(), frozenset()
        now = self.clock()
        return self._live(self._models, now), self._live(self._providers, now), self._live(self._down, now)

    def retry_after(self) -> int:
        """Whole seconds until the first cooldown ends (at least 1)."""
        now = self.clock()
        ends = [u for table in (self._models, self._down) for u in table.values() if u > now]
        return max(1, math.ceil(min(ends) - now)) if ends else 1


@dataclass(slots=True)
class Outcome(Generic[T]):
    """What the loop ends with: `result` (an attempt's answer, a success or an error not worth a
    retry) or, when every attempt failed, `failures[-1].answer`; `failures` in the order they came."""

    result: T | None
    failures: list[Failure] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.failures) + (self.result is not None)

    @property
    def answer(self) -> Any:
        return self.result if self.result is not None else self.failures[-1].answer


# One attempt: (models to leave out, providers to leave out, the failures so far) -> the answer, or a
# Failure to move on from; raises NoCandidate when nothing outside what it was told to leave out fits.
Attempt = Callable[[frozenset[str], frozenset[str], list[Failure]], Awaitable["T | Failure"]]


async def run(attempt: Attempt, cooldowns: Cooldowns, limit: int, fallback: bool = True) -> Outcome:
    """Make up to `limit` attempts. Each leaves out the models that failed in this call or cool down;
    it first also leaves out the providers that failed in this call or cool down (another provider
    first), then, if that leaves nothing, only the providers that are down. Each attempt is admitted
    on its own (its own decision within what is left of the budget), so a retry never spends money the
    budget has not granted. Without `fallback` (a model named by the client) there is one attempt, and
    it leaves nothing out. NoCandidate from the first attempt propagates (the caller answers it)."""
    failures: list[Failure] = []
    while True:
        models, soft, down = cooldowns.cooling() if fallback else (frozenset(), frozenset(), frozenset())
        models = models | {f.model for f in failures}
        here = {f.provider for f in failures}
        down = down | {f.provider for f in failures if f.provider_wide}
        passes = [soft | here | down] if fallback else [frozenset()]
        if fallback and down != passes[0]:
            passes.append(down)
        result: Any = None
        for i, providers in enumerate(passes):
            try:
                result = await attempt(models, frozenset(providers), failures)
                break
            except NoCandidate:
                if i + 1 < len(passes):
                    continue
                if not failures:
                    raise
                return Outcome(None, failures)
        if not isinstance(result, Failure):
            return Outcome(result, failures)
        failures.append(result)
        cooldowns.failed(result)
        if not fallback or len(failures) >= limit:
            return Outcome(None, failures)
