"""The brief's weighted score (SPEC 3): four components per model and their weighted total.

`rank_models` does everything that depends only on the task type, the weights, the static constraints
and the calibration, so the router can cache it and a decision only walks the top of a sorted list."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from modelwise.core.calibration import EMPTY, Calibration, calibrated_availability, calibrated_quality
from modelwise.core.models import ModelSpec
from modelwise.core.pricing import min_prices
from modelwise.core.settings import Settings, Tier, Weights
from modelwise.core.tiers import nearest_rank


@dataclass(frozen=True, slots=True)
class Constraints:
    """A task's own limits (SPEC 2): minimum quality, maximum latency, extra required capabilities."""

    min_quality: float | None = None
    max_latency_ms: float | None = None
    capabilities: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "minQuality": self.min_quality,
            "maxLatencyMs": self.max_latency_ms,
            "capabilities": list(self.capabilities),
        }


NO_CONSTRAINTS = Constraints()


class Scored:
    """One model's components and total for one task type; `static_reason` is why it is out regardless
    of the task's size (None when it is in), `floor_ok` whether it clears the tier's quality floor."""

    __slots__ = (
        "model",
        "capability",
        "performance",
        "availability",
        "cost",
        "total",
        "rated",
        "calibrated",
        "latency",
        "static_reason",
        "floor_ok",
        "pin",
        "pout",
        "ctx",
        "rank",
        "tiered",
        "warning",
        "_row",
    )

    def __init__(self, model: ModelSpec):
        self.model = model
        # pin/pout: the lowest per-1M prices over the base and the long-context tiers (a lower bound
        # that lets a search stop early); estimated_cost applies the tier the task falls into.
        self.tiered = bool(model.price_tiers)
        if self.tiered:
            self.pin, self.pout = min_prices(model)
        else:
            self.pin = model.input_per_1m
            self.pout = model.output_per_1m
        self.ctx = model.context_window
        self.warning = None
        self._row = None

    def static_row(self) -> dict:
        """The part of a breakdown row that does not depend on the task's size (built once)."""
        row = self._row
        if row is None:
            row = self._row = {
                "rank": self.rank,
                "model": self.model.id,
                "name": self.model.name,
                "capability": self.capability,
                "performance": round(self.performance, 6),
                "availability": round(self.availability, 6),
                "cost": round(self.cost, 6),
                "total": round(self.total, 6),
                "rated": self.rated,
                "free": self.model.free,
            }
        return row

    def components(self) -> tuple[float, float, float, float]:
        return (self.capability, self.performance, self.availability, self.cost)

    def estimated_cost(self, tin: int, tout: int) -> float:
        if self.tiered:
            return self.model.cost_of(tin, tout)
        return (tin * self.pin + tout * self.pout) / 1_000_000.0


def linear_cost_component(blended_per_1k: float, ceiling: float) -> float:
    """1 for a free model, 0 at or above the ceiling (SPEC 3)."""
    return max(0.0, 1.0 - blended_per_1k / ceiling)


def log_cost_components(prices: Sequence[float]) -> list[float]:
    """Cheapest maps to 1, dearest to 0, on a log axis; free models count as the cheapest."""
    positive = [p for p in prices if p > 0]
    if not positive:
        return [1.0 for _ in prices]
    lo, hi = math.log(min(positive)), math.log(max(positive))
    span = hi - lo
    out = []
    for p in prices:
        if p <= 0 or span == 0:
            out.append(1.0)
        else:
            out.append(min(1.0, max(0.0, (hi - math.log(p)) / span)))
    return out


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every model scored for one task type under one set of weights, best first.

    `floor_list`: eligible before the task's size is known (capable, constraints, tier floor);
    `nofloor_list`: the same without the tier floor; each with suffix minima of the per-1M prices,
    so a search for an affordable model can stop as soon as nothing below could fit."""

    task_type: str
    tier: Tier
    weights: Weights
    normalised: tuple[float, float, float, float]
    floor: float | None
    entries: tuple[Scored, ...]
    floor_list: tuple[Scored, ...]
    floor_min_in: tuple[float, ...]
    floor_min_out: tuple[float, ...]
    nofloor_list: tuple[Scored, ...]
    nofloor_min_in: tuple[float, ...]
    nofloor_min_out: tuple[float, ...]
    constraints: Constraints
    today: str | None = None
    # routing.flip_point's memo: the winner's crossings with every model of a list, nearest first.
    crossings: dict = field(default_factory=dict, compare=False, repr=False)


def _suffix_minima(entries: Sequence[Scored]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    n = len(entries)
    min_in = [0.0] * n
    min_out = [0.0] * n
    lo_in = lo_out = math.inf
    for i in range(n - 1, -1, -1):
        e = entries[i]
        lo_in = min(lo_in, e.pin)
        lo_out = min(lo_out, e.pout)
        min_in[i] = lo_in
        min_out[i] = lo_out
    return tuple(min_in), tuple(min_out)


def fmt_q(q: float) -> str:
    return f"{q:.3f}"


DEPRECATION_WARNING_DAYS = 30


def deprecation_status(deprecation_date: str | None, today: str | None) -> tuple[str | None, str | None]:
    """(reason it is not eligible, warning) for a model's deprecation date on `today` (ISO dates; the
    caller's day, core has no clock). Past or on its date: not eligible; within 30 days: a warning."""
    if not deprecation_date or not today:
        return None, None
    dep = deprecation_date[:10]
    if dep <= today:
        return f"deprecated since {dep}", None
    from datetime import date

    try:
        days = (date.fromisoformat(dep) - date.fromisoformat(today)).days
    except ValueError:
        return None, None
    if days <= DEPRECATION_WARNING_DAYS:
        return None, f"deprecated from {dep} (in {days} day{'s' if days != 1 else ''})"
    return None, None


def rank_models(
    models: Sequence[ModelSpec],
    task_type: str,
    tier: Tier,
    weights: Weights,
    settings: Settings,
    constraints: Constraints = NO_CONSTRAINTS,
    calibration: Calibration = EMPTY,
    today: str | None = None,
    unreachable: Mapping[str, str] | None = None,
) -> Ranking:
    """Score every model for `task_type` and sort best first (ties by id; cost ties are settled per task).

    `today` (an ISO date in the ledger's zone) judges deprecation; None: deprecation is not judged.
    `unreachable`: model id -> why no provider can call it; such a model is scored and listed, never
    eligible, and left out of the tier floor and the log cost scale."""
    nw = weights.normalised()
    wc, wp, wa, wk = nw
    learn = settings.learning_enabled and bool(calibration)
    strength = settings.prior_strength
    prior = settings.unrated_quality
    required = constraints.capabilities
    scored: list[Scored] = []
    out_of_reach: set[str] = set()
    for m in models:
        s = Scored(m)
        caps = m.capabilities
        capable = task_type in caps and (not required or caps.issuperset(required))
        q = m.quality_for(task_type)
        s.rated = q is not None
        perf = q if q is not None else prior
        avail = m.availability
        latency = m.latency_ms
        s.calibrated = False
        if learn:
            obs = calibration.observed(m.id, task_type)
            if obs is not None and obs.outcomes:
                perf = calibrated_quality(perf, strength, obs)
                avail = calibrated_availability(avail, strength, obs)
                s.calibrated = True
                if obs.median_latency_ms is not None:
                    latency = obs.median_latency_ms
        s.capability = 1.0 if capable else 0.0
        s.performance = perf
        s.availability = avail
        s.latency = latency
        reason = None
        deprecated, s.warning = deprecation_status(m.deprecation_date, today)
        no_provider = unreachable.get(m.id) if unreachable and capable else None
        if no_provider is not None:
            out_of_reach.add(m.id)
        if not capable:
            if task_type not in caps:
                reason = f"not capable of {task_type}"
            else:
                missing = [c for c in required if c not in caps]
                reason = "lacks " + ", ".join(missing)
        elif not m.price_known:
            reason = "price unknown"
        elif deprecated is not None:
            reason = deprecated
        elif no_provider is not None:
            reason = no_provider
        elif constraints.min_quality is not None and perf < constraints.min_quality:
            reason = f"quality {fmt_q(perf)} below minQuality {constraints.min_quality:g}"
        elif constraints.max_latency_ms is not None:
            if latency is None:
                reason = f"latency unknown (maxLatencyMs {constraints.max_latency_ms:g})"
            elif latency > constraints.max_latency_ms:
                reason = f"latency {latency:.0f} ms above maxLatencyMs {constraints.max_latency_ms:g}"
        s.static_reason = reason
        scored.append(s)

    if settings.cost_scale == "log":
        capable_idx = [
            i for i, s in enumerate(scored)
            if s.capability and s.model.price_known and s.model.id not in out_of_reach
        ]
        comps = log_cost_components([scored[i].model.blended_per_1k for i in capable_idx])
        for s in scored:
            s.cost = 0.0
        for i, c in zip(capable_idx, comps, strict=True):
            scored[i].cost = c
    else:
        ceiling = settings.cost_ceiling_per_1k
        for s in scored:
            s.cost = linear_cost_component(s.model.blended_per_1k, ceiling) if s.model.price_known else 0.0

    for s in scored:
        s.total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost

    capable = [s for s in scored if s.capability and s.model.id not in out_of_reach]
    rated_q = [s.performance for s in capable if s.rated or s.calibrated]
    floor = nearest_rank(rated_q or [s.performance for s in capable], tier.floor_percentile)
    for s in scored:
        s.floor_ok = floor is None or s.performance >= floor

    scored.sort(key=lambda s: (-s.total, s.model.id))
    for i, s in enumerate(scored):
        s.rank = i + 1
    nofloor = [s for s in scored if s.static_reason is None]
    withfloor = [s for s in nofloor if s.floor_ok]
    f_in, f_out = _suffix_minima(withfloor)
    n_in, n_out = _suffix_minima(nofloor)
    return Ranking(
        task_type=task_type,
        tier=tier,
        weights=weights,
        normalised=nw,
        floor=floor,
        entries=tuple(scored),
        floor_list=tuple(withfloor),
        floor_min_in=f_in,
        floor_min_out=f_out,
        nofloor_list=tuple(nofloor),
        nofloor_min_in=n_in,
        nofloor_min_out=n_out,
        constraints=constraints,
        today=today,
    )


def total_under(components: Sequence[float], weights: Sequence[float]) -> float:
    """Σ weight x component with the weights normalised (the definition, for checks and what-ifs)."""
    s = sum(weights)
    return sum(w * c for w, c in zip(weights, components, strict=True)) / s


def without(ranking: Ranking, drop: Callable[[Scored], bool]) -> Ranking:
    """`ranking` with the entries `drop` names no longer eligible (left in `entries`, out of both
    eligible lists): what is left after models that failed or cool down are set aside. The tier floor
    stays that of the whole ranking."""
    withfloor = tuple(s for s in ranking.floor_list if not drop(s))
    nofloor = tuple(s for s in ranking.nofloor_list if not drop(s))
    f_in, f_out = _suffix_minima(withfloor)
    n_in, n_out = _suffix_minima(nofloor)
    return replace(
        ranking, floor_list=withfloor, floor_min_in=f_in, floor_min_out=f_out, nofloor_list=nofloor,
        nofloor_min_in=n_in, nofloor_min_out=n_out, crossings={},
    )
