"""The brief's weighted score (docs/design.md, "Scoring"): four components per model and their weighted total.

`rank_models` does everything that depends only on the task type, the weights, the static constraints
and the calibration, so the router can cache it and a decision only walks the top of a sorted list."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Any

from modelwise.core.calibration import EMPTY, Calibration, calibrated_availability, calibrated_quality
from modelwise.core.models import ModelSpec
from modelwise.core.pricing import min_prices
from modelwise.core.settings import Settings, Tier, Weights
from modelwise.core.tiers import nearest_rank_sorted


@dataclass(frozen=True, slots=True)
class Constraints:
    """A task's own limits (docs/design.md, "Tasks and tiers"): minimum quality, maximum latency, extra
    required capabilities."""

    min_quality: float | None = None
    max_latency_ms: float | None = None
    capabilities: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "minQuality": self.min_quality,
            "maxLatencyMs": self.max_latency_ms,
            "capabilities": list(self.capabilities),
        }


NO_CONSTRAINTS = Constraints()


class Scored:
    """One model's components and total for one task type; `static_reason` is why it is out regardless
    of the task's size (None when it is in). Nothing in it depends on the other models (its rank and
    whether it clears the tier's floor are the ranking's: `Ranking.clears_floor`), so a ranking made
    again after outcomes that moved a few models shares the others' entries with the one before."""

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
        "pin",
        "pout",
        "ctx",
        "tiered",
        "warning",
        "_row",
    )

    model: ModelSpec
    capability: float
    performance: float
    availability: float
    cost: float
    total: float
    rated: bool
    calibrated: bool
    latency: float | None
    static_reason: str | None
    pin: float
    pout: float
    ctx: int | None
    tiered: bool
    warning: str | None
    _row: dict[str, Any] | None

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

    def static_row(self) -> dict[str, Any]:
        """The part of a breakdown row that depends neither on the task's size nor on the other models
        (built once; the row's rank is its place in the ranking)."""
        row = self._row
        if row is None:
            row = self._row = {
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
    """1 for a free model, 0 at or above the ceiling (docs/design.md, "Scoring")."""
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


Crossing = tuple[float, int, float, float, Scored | None]
"""routing.flip_point's memo row: (change, slot, -|slope|, value, model); model None: no crossing at all."""


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
    # Tuples from rank_models; replay's incremental rankings pass their lists (read-only here).
    entries: Sequence[Scored]
    floor_list: Sequence[Scored]
    floor_min_in: Sequence[float]
    floor_min_out: Sequence[float]
    nofloor_list: Sequence[Scored]
    nofloor_min_in: Sequence[float]
    nofloor_min_out: Sequence[float]
    constraints: Constraints
    today: str | None = None
    # routing.flip_point's memo: the winner's crossings with every model of a list, nearest first.
    crossings: dict[tuple[str, bool], tuple[Crossing, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # What `recalibrated` changes a few models with (None: a ranking it cannot start from): every
    # entry by model id, and the sorted qualities the tier floor is taken from (the models in reach
    # that are rated or calibrated, and all of those in reach).
    by_id: Mapping[str, Scored] | None = field(default=None, compare=False, repr=False)
    floor_pool: tuple[Sequence[float], Sequence[float]] | None = field(
        default=None, compare=False, repr=False
    )

    def clears_floor(self, e: Scored) -> bool:
        """Whether `e` clears the tier's quality floor."""
        return self.floor is None or e.performance >= self.floor

    def entry(self, model_id: str) -> Scored | None:
        """The entry of `model_id`, None when it is not ranked: from `by_id` when the ranking has it (a
        gateway call that names its model looks it up among ~900 entries)."""
        if self.by_id is not None:
            return self.by_id.get(model_id)
        return next((e for e in self.entries if e.model.id == model_id), None)

    def rank_of(self, e: Scored) -> int:
        """`e`'s place, 1 for the best total."""
        return bisect.bisect_left(self.entries, order(e), key=order) + 1


def order(s: Scored) -> tuple[float, str]:
    """The ranking's order: best total first, ties by model id."""
    return (-s.total, s.model.id)


def suffix_minima(entries: Sequence[Scored]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The lowest per-1M input and output prices from each position to the end (the loops in C)."""
    mins_in = list(accumulate(reversed([e.pin for e in entries]), min))
    mins_out = list(accumulate(reversed([e.pout for e in entries]), min))
    return tuple(reversed(mins_in)), tuple(reversed(mins_out))


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


def _score(
    m: ModelSpec,
    task_type: str,
    settings: Settings,
    constraints: Constraints,
    calibration: Calibration | None,
    today: str | None,
    no_provider: str | None,
) -> Scored:
    """`m`'s components but the cost (which depends on the other models' prices on the log scale) and
    why it is out. `calibration`: None when learning is off or nothing is learned; `no_provider`: why
    no provider can call it (None: one can, or routing does not keep to what providers reach)."""
    s = Scored(m)
    caps = m.capabilities
    required = constraints.capabilities
    capable = task_type in caps and (not required or caps.issuperset(required))
    q = m.quality_for(task_type)
    s.rated = q is not None
    perf = q if q is not None else settings.unrated_quality
    avail = m.availability
    latency = m.latency_ms
    s.calibrated = False
    if calibration is not None:
        obs = calibration.observed(m.id, task_type)
        if obs is not None and obs.outcomes:
            strength = settings.prior_strength
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
    return s


def _learned(settings: Settings, calibration: Calibration) -> Calibration | None:
    return calibration if settings.learning_enabled and calibration else None


def _out_of_reach(s: Scored, unreachable: Mapping[str, str] | None) -> bool:
    """Whether `s` is capable but no provider can call it (left out of the floor and the log scale)."""
    return bool(s.capability) and unreachable is not None and s.model.id in unreachable


def _floor_pool(in_reach: Sequence[Scored]) -> tuple[list[float], list[float]]:
    rated = sorted(s.performance for s in in_reach if s.rated or s.calibrated)
    return rated, sorted(s.performance for s in in_reach)


def _floor(pool: tuple[Sequence[float], Sequence[float]], tier: Tier) -> float | None:
    """The tier's floor: its percentile of the rated (or calibrated) qualities in reach, else of all."""
    rated, every = pool
    return nearest_rank_sorted(rated or every, tier.floor_percentile)


def assemble(
    task_type: str,
    tier: Tier,
    weights: Weights,
    normalised: tuple[float, float, float, float],
    constraints: Constraints,
    today: str | None,
    entries: Sequence[Scored],
    nofloor: Sequence[Scored],
    floor: float | None,
    by_id: Mapping[str, Scored] | None = None,
    pool: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Ranking:
    """The Ranking of `entries` (best first) whose eligible ones before the floor are `nofloor` (in the
    same order), with the lists a decision walks and their suffix minima. `by_id` and `pool`: what
    `recalibrated` starts from (None: it cannot start from this ranking)."""
    withfloor = nofloor if floor is None else [s for s in nofloor if s.performance >= floor]
    f_in, f_out = suffix_minima(withfloor)
    n_in, n_out = suffix_minima(nofloor)
    return Ranking(
        task_type=task_type,
        tier=tier,
        weights=weights,
        normalised=normalised,
        floor=floor,
        entries=tuple(entries),
        floor_list=tuple(withfloor),
        floor_min_in=f_in,
        floor_min_out=f_out,
        nofloor_list=tuple(nofloor),
        nofloor_min_in=n_in,
        nofloor_min_out=n_out,
        constraints=constraints,
        today=today,
        by_id=by_id,
        floor_pool=None if pool is None else (tuple(pool[0]), tuple(pool[1])),
    )


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
    learned = _learned(settings, calibration)
    scored: list[Scored] = []
    for m in models:
        no_provider = unreachable.get(m.id) if unreachable else None
        scored.append(_score(m, task_type, settings, constraints, learned, today, no_provider))
    in_reach = [s for s in scored if s.capability and not _out_of_reach(s, unreachable)]

    if settings.cost_scale == "log":
        priced = [s for s in in_reach if s.model.price_known]
        for s in scored:
            s.cost = 0.0
        for s, c in zip(priced, log_cost_components([s.model.blended_per_1k for s in priced]), strict=True):
            s.cost = c
    else:
        ceiling = settings.cost_ceiling_per_1k
        for s in scored:
            s.cost = linear_cost_component(s.model.blended_per_1k, ceiling) if s.model.price_known else 0.0

    for s in scored:
        s.total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost
    scored.sort(key=order)
    nofloor = [s for s in scored if s.static_reason is None]
    by_id = {s.model.id: s for s in scored}
    pool = _floor_pool(in_reach)
    return assemble(task_type, tier, weights, nw, constraints, today, scored, nofloor, _floor(pool, tier),
                    by_id, pool)


def recalibrated(
    prev: Ranking,
    changed: Iterable[str],
    settings: Settings,
    calibration: Calibration,
    unreachable: Mapping[str, str] | None = None,
) -> Ranking | None:
    """What `rank_models` gives under `calibration` for the models, task type, weights, constraints,
    day and `unreachable` that `prev` was ranked with, when only the models `changed` names have other
    observations of the task type than under `prev`'s calibration: those are scored again and moved to
    their new places, every other entry is `prev`'s own (nothing in a Scored depends on the other
    models, and a model's cost component depends on prices only). None when `prev` was not made by
    `rank_models` or this function (a ranking with entries set aside, a replay's)."""
    by_id = prev.by_id
    pool = prev.floor_pool
    if by_id is None or pool is None:
        return None
    wc, wp, wa, wk = prev.normalised
    learned = _learned(settings, calibration)
    entries = list(prev.entries)
    nofloor = list(prev.nofloor_list)
    new_by_id = dict(by_id)
    rated, every = list(pool[0]), list(pool[1])
    task_type, constraints = prev.task_type, prev.constraints
    for model_id in changed:
        old = new_by_id.get(model_id)
        if old is None:  # observed, but not among the models ranked
            continue
        no_provider = unreachable.get(model_id) if unreachable else None
        new = _score(old.model, task_type, settings, constraints, learned, prev.today, no_provider)
        new.cost = old.cost
        new.total = wc * new.capability + wp * new.performance + wa * new.availability + wk * new.cost
        _remove(entries, old)
        bisect.insort(entries, new, key=order)
        if old.static_reason is None:
            _remove(nofloor, old)
        if new.static_reason is None:
            bisect.insort(nofloor, new, key=order)
        if old.capability and not _out_of_reach(old, unreachable):
            if old.rated or old.calibrated:
                drop_sorted(rated, old.performance)
            drop_sorted(every, old.performance)
            if new.rated or new.calibrated:
                bisect.insort(rated, new.performance)
            bisect.insort(every, new.performance)
        new_by_id[model_id] = new
    pool = (rated, every)
    return assemble(task_type, prev.tier, prev.weights, prev.normalised, constraints, prev.today, entries,
                    nofloor, _floor(pool, prev.tier), new_by_id, pool)


def _remove(entries: list[Scored], e: Scored) -> None:
    i = bisect.bisect_left(entries, order(e), key=order)
    if entries[i] is not e:
        raise AssertionError(f"{e.model.id} is not where its total places it")
    del entries[i]


def drop_sorted(ordered: list[float], value: float) -> None:
    """Remove one `value` from the sorted `ordered`."""
    del ordered[bisect.bisect_left(ordered, value)]


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
    f_in, f_out = suffix_minima(withfloor)
    n_in, n_out = suffix_minima(nofloor)
    return replace(
        ranking, floor_list=withfloor, floor_min_in=f_in, floor_min_out=f_out, nofloor_list=nofloor,
        nofloor_min_in=n_in, nofloor_min_out=n_out, crossings={}, by_id=None,
    )
