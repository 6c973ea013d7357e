"""One plan per task (docs/design.md, Routing): a validated `Task` in, a `Plan` out. Every use takes its
numbers from `plan`: a route and its dry run, `explain`, the console's breakdown, the sensitivity grid,
the what-if replay and `evaluate`, so none of them can disagree with another about the same task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelwise.core import budget as budget_policy
from modelwise.core.budget import Headroom
from modelwise.core.routing import (
    REFUSED,
    Choice,
    candidate_rows,
    decide,
    flip_point,
    weight_flips,
)
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints, Ranking, Scored
from modelwise.core.settings import Settings, Tier, Weights

_UNSET: dict[str, Any] = {}  # the flip point of a plan not asked for yet


@dataclass(frozen=True, slots=True)
class Task:
    """A task as routing takes it, validated: its type, the text it is about, what it may cost, the
    weights and constraints to rank by, who asks and under which request id."""

    type: str
    description: str
    budget: float
    weights: Weights
    constraints: Constraints = NO_CONSTRAINTS
    agent: str | None = None
    request_id: str | None = None
    any_provider: bool | None = None
    dry_run: bool = False


@dataclass(slots=True)
class Plan:
    """What routing makes of one task against one day's spend, before anything is recorded: the ranking
    it chose from, the token estimate, what the day and the tier leave (`room`, None when no budget is
    checked), the choice and, asked for lazily, the flip point."""

    ranking: Ranking
    tin: int
    tout: int
    task_budget: float
    room: Headroom | None
    choice: Choice
    spent: float = 0.0  # the day's spend before this task
    _flip: dict[str, Any] | None = field(default_factory=lambda: _UNSET, repr=False)
    _field: list[Scored] | None = field(default=None, repr=False)

    @property
    def tier(self) -> Tier:
        return self.ranking.tier

    @property
    def limit(self) -> float | None:
        return None if self.room is None else self.room.limit

    @property
    def winner(self) -> Scored | None:
        return self.choice.winner

    @property
    def runner_up(self) -> Scored | None:
        return self.choice.runner_up

    @property
    def status(self) -> str:
        return self.choice.status

    @property
    def margin(self) -> float | None:
        return self.choice.margin

    @property
    def reserved(self) -> float:
        """What admitting this plan reserves: its estimate, nothing for a refusal."""
        return self.choice.estimated_cost if self.choice.status != REFUSED else 0.0

    @property
    def spent_after(self) -> float:
        return self.spent + self.reserved

    @property
    def flip(self) -> dict[str, Any] | None:
        """The smallest one-weight change that changes the winner, whoever then wins (None: none does)."""
        if self._flip is _UNSET:
            w = self.choice.winner
            self._flip = None if w is None else flip_point(
                self.ranking, w, self.choice.floor_dropped, self.tin, self.tout, self.task_budget, self.limit
            )
        return self._flip

    def field(self) -> list[Scored]:
        """The models this plan chose among, in the router's order (total, then lower estimated cost,
        then id): under any other weights the winner is the first of them re-sorted by those weights."""
        if self._field is None:
            from modelwise.core.explain import field_of  # not on the CLI's route path

            self._field = field_of(
                self.ranking, self.tin, self.tout, self.task_budget, self.limit, self.choice.floor_dropped
            )
        return self._field

    def flips(self) -> list[dict[str, Any]]:
        """The nearest flip of every weight, each direction (the flip point is the smallest of them)."""
        w = self.choice.winner
        if w is None:
            return []
        return weight_flips(self.ranking.weights.as_tuple(), w, self.field(), self.tin, self.tout)

    def rows(self, top: int | None = 10, callable_only: bool = False) -> list[dict[str, Any]]:
        return candidate_rows(
            self.ranking, self.choice, self.tin, self.tout, self.task_budget, self.limit, top, callable_only
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What routing answers for one task: its plan, with who asked, when, the offer it would call
    (provider and the model's id there), what it warns about and the candidate rows shown (each with
    the provider that would be called for it). `to_json` is its wire form (`wire.RouteOut`)."""

    plan: Plan
    id: str | None
    request_id: str | None
    timestamp: str
    agent: str | None
    constraints: Constraints
    daily_budget: float
    warnings: list[str]
    provider: str | None
    upstream_id: str | None
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        p = self.plan
        choice, ranking, room = p.choice, p.ranking, p.room
        assert room is not None, "a decision is planned against the day's spend"
        w = choice.winner
        reserved = p.reserved
        margin = choice.margin
        names = ranking.weights.to_json()
        return {
            "decisionId": self.id,
            "requestId": self.request_id,
            "timestamp": self.timestamp,
            "taskType": ranking.task_type,
            "tier": ranking.tier.name,
            "agent": self.agent,
            "selectedModel": w.model.id if w else None,
            "selectedModelName": w.model.name if w else None,
            "provider": self.provider,
            "upstreamId": self.upstream_id,
            "estimatedCost": round(choice.estimated_cost, 10) if w else 0.0,
            "estimatedTokens": {"input": p.tin, "output": p.tout},
            "score": round(w.total, 6) if w else None,
            "status": choice.status,
            "reason": choice.reason,
            "warnings": self.warnings,
            "dailyBudget": self.daily_budget,
            "budget": {
                "task": p.task_budget,
                "dailyRemaining": round(room.daily_remaining - reserved, 10),
                "tierRemaining": round(room.tier_remaining - reserved, 10),
            },
            "weights": names,
            "weightsNormalised": dict(zip(names, (round(x, 6) for x in ranking.normalised), strict=True)),
            "constraints": self.constraints.to_json(),
            "floor": None if ranking.floor is None else round(ranking.floor, 6),
            "floorDropped": choice.floor_dropped,
            "margin": None if margin is None else round(margin, 6),
            "flip": p.flip,
            "candidates": self.rows,
        }


def plan(
    ranking: Ranking,
    tin: int,
    tout: int,
    task_budget: float,
    settings: Settings,
    spent_by_tier: Mapping[str, float] | None,
) -> Plan:
    """The plan for a task ranked by `ranking` with `tin`/`tout` estimated tokens, a task budget and the
    day's spend per tier (None: no budget check, as the console's form without a ledger)."""
    if spent_by_tier is None:
        return Plan(ranking, tin, tout, task_budget, None, decide(ranking, tin, tout, task_budget, None))
    tier = ranking.tier
    room = budget_policy.headroom(settings, tier, spent_by_tier)
    choice = decide(  # what the limit is the rest of is named only when a refusal needs it
        ranking, tin, tout, task_budget, room.limit, lambda: budget_policy.limited_by(settings, tier, room)
    )
    return Plan(ranking, tin, tout, task_budget, room, choice, sum(spent_by_tier.values()))
