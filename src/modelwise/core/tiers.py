"""Tiers: which tier a task type belongs to and the quality floor of a tier (nearest-rank percentile)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from modelwise.core.errors import BadInput
from modelwise.core.settings import Settings, Tier


def nearest_rank(values: Iterable[float], percentile: float) -> float | None:
    """The p-th percentile by the nearest-rank method: the smallest value with at least p% of the values
    at or below it. p = 0 gives the minimum. None for no values."""
    return nearest_rank_sorted(sorted(values), percentile)


def nearest_rank_sorted(ordered: Sequence[float], percentile: float) -> float | None:
    """`nearest_rank` of values already sorted."""
    if not ordered:
        return None
    if percentile <= 0:
        return ordered[0]
    rank = math.ceil(percentile / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def tier_of(settings: Settings, task_type: str) -> Tier:
    """The tier of a task type; an unknown type is a bad input whose message lists the known ones."""
    tier = settings.tier_for(task_type)
    if tier is None:
        known = ", ".join(settings.task_types)
        raise BadInput(f"unknown task type {task_type!r}; known types: {known}")
    return tier
