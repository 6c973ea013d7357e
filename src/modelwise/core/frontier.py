"""The cost/quality frontier (issue 7): the models no other model beats on both quality and price.

A model is dominated when another has quality ≥ and price ≤ with at least one strict; the frontier is
everything not dominated, cheapest first. Two models with identical quality and price dominate neither
each other, so both stay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby


@dataclass(frozen=True, slots=True)
class Point:
    """One model on the quality/price plane."""

    id: str
    name: str
    quality: float
    price: float  # blended USD per 1k tokens


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """The non-dominated points, cheapest first (ties: better quality, then id). O(n log n): sweep by
    price, keeping the best quality of everything strictly cheaper."""
    ordered = sorted(points, key=lambda p: (p.price, -p.quality, p.id))
    front: list[Point] = []
    best_cheaper = float("-inf")
    for _, group in groupby(ordered, key=lambda p: p.price):
        same_price: Sequence[Point] = list(group)
        top = same_price[0].quality  # the group is sorted by quality, best first
        if top > best_cheaper:
            front.extend(p for p in same_price if p.quality == top)
        best_cheaper = max(best_cheaper, top)
    return front


def dominates(a: Point, b: Point) -> bool:
    """The definition, for checks: a is at least as good and as cheap as b, and strictly one of them."""
    return a.quality >= b.quality and a.price <= b.price and (a.quality > b.quality or a.price < b.price)
