"""Budget policy (SPEC 5): tier allocations, what is left, alert thresholds and the budget day."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from modelwise.core.settings import Settings, Tier


@dataclass(frozen=True, slots=True)
class Headroom:
    """What a task of one tier may still spend today."""

    daily_remaining: float
    tier_remaining: float

    @property
    def limit(self) -> float:
        return max(0.0, min(self.daily_remaining, self.tier_remaining))


def allocation(settings: Settings, tier: Tier) -> float:
    return settings.daily_budget * tier.share


def headroom(settings: Settings, tier: Tier, spent_by_tier: Mapping[str, float]) -> Headroom:
    """`spent_by_tier`: today's spend (settled actual, else reserved estimate) per tier name."""
    day_spent = sum(spent_by_tier.values())
    return Headroom(
        daily_remaining=settings.daily_budget - day_spent,
        tier_remaining=allocation(settings, tier) - spent_by_tier.get(tier.name, 0.0),
    )


def limited_by(settings: Settings, tier: Tier, room: Headroom) -> str:
    """What `room.limit` is the rest of: the tier's allocation or the daily budget (the smaller one)."""
    from modelwise.core.routing import money

    if room.tier_remaining < room.daily_remaining:
        return f"the {tier.name} tier's {money(allocation(settings, tier))} allocation"
    return f"the {money(settings.daily_budget)} daily budget"


def thresholds(settings: Settings) -> tuple[float, ...]:
    """The alert thresholds as shares of the daily budget: the configured one and the hard limit."""
    return tuple(sorted({settings.alert_threshold, 1.0}))


def crossed(settings: Settings, spent_after: float) -> list[float]:
    """Thresholds reached by a day's spend."""
    if settings.daily_budget <= 0:
        return [1.0]
    share = spent_after / settings.daily_budget
    return [t for t in thresholds(settings) if share >= t - 1e-12]


def budget_day(now: datetime, tz: tzinfo | None) -> date:
    """The calendar day of `now` (aware) in the configured zone; None = the machine's zone."""
    return now.astimezone(tz).date()
