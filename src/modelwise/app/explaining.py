"""Explaining a decision as a use case: `explain` (flips, leads, exclusions, the sensitivity grid and a
summary), the grid alone, the console's live breakdown, and the cost/quality frontier. Each takes its
numbers from one `Plan` (core.planning), so it says what the route it explains would do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelwise.app import observed, routing
from modelwise.app.values import finite_number
from modelwise.core.calibration import EMPTY, Calibration
from modelwise.core.errors import BadInput
from modelwise.core.planning import plan
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints
from modelwise.core.settings import Weights

if TYPE_CHECKING:
    from modelwise.app.context import Context

WeightsArg = Weights | str | Sequence[float] | Mapping[str, float] | None


def _grid(values: Sequence[float] | None) -> tuple[float, ...]:
    vals = tuple(values) if values is not None else tuple(i / 5 for i in range(6))
    for v in vals:
        finite_number(v, "grid value")
    return vals


def explain(
    ctx: Context,
    task_type: str,
    description: str = "",
    budget: float | None = None,
    *,
    constraints: Constraints | Mapping[str, Any] | None = None,
    weights: WeightsArg = None,
    agent: str | None = None,
    leads: int = 5,
    grid_values: Sequence[float] | None = None,
    any_provider: bool | None = None,
) -> dict[str, Any]:
    """The whole breakdown of a dry run, recording nothing: the `route --json` object plus `flips` (the
    nearest flip of every weight, each direction; `flip` is the smallest of them), `leads` (the winner's
    lead over the next `leads` models by component), `exclusions` (why the others are out, grouped),
    `grid` (the winner for cost x performance weights over `grid_values`, default 0, 0.2, ..., 1) and
    `summary`. All from the one plan the dry run made."""
    from modelwise.core import explain as explain_core

    task = ctx.task(
        task_type, description, budget, agent=agent, constraints=constraints, weights=weights,
        any_provider=any_provider, dry_run=True,
    )
    values = _grid(grid_values)
    p, response = routing.dry_route(ctx, task, top=None)
    ranking, winner = p.ranking, p.winner
    field = p.field()
    flips = p.flips()
    lead_rows: list[dict] = []
    if winner is not None:
        nxt = [e for e in field if e is not winner][:leads]
        lead_rows = explain_core.leads(winner, nxt, ranking.normalised)
    groups = explain_core.exclusions(
        ranking, p.tin, p.tout, p.task_budget, p.limit, p.choice.floor_dropped, winner
    )
    response["flips"] = flips
    response["leads"] = lead_rows
    response["exclusions"] = groups
    axes = explain_core.GridAxis("cost", values), explain_core.GridAxis("performance", values)
    response["grid"] = explain_core.sensitivity_grid(field, ranking.weights, *axes, p.tin, p.tout)
    response["summary"] = explain_core.summary(
        ranking, winner, lead_rows, flips, groups, p.status, p.choice.reason
    )
    observed.add_observed_to_candidates(ctx, response, task.type)
    return response


def sensitivity_grid(
    ctx: Context,
    task_type: str,
    description: str = "",
    budget: float | None = None,
    *,
    rows: str = "cost",
    cols: str = "performance",
    values: Sequence[float] | None = None,
    constraints: Constraints | Mapping[str, Any] | None = None,
    weights: WeightsArg = None,
) -> dict[str, Any]:
    """Which model wins for each pair of values of two weights (default cost x performance, 0..1 in
    six steps), the other weights kept; for the console's sensitivity view. Records nothing."""
    from modelwise.core import explain as explain_core
    from modelwise.core.settings import WEIGHT_NAMES

    for name in (rows, cols):
        if name not in WEIGHT_NAMES:
            raise BadInput(f"unknown weight {name!r} (known: {', '.join(WEIGHT_NAMES)})")
    vals = _grid(values)
    task = ctx.task(task_type, description, budget, constraints=constraints, weights=weights, dry_run=True)
    p = routing.dry_plan(ctx, task)
    axes = explain_core.GridAxis(rows, vals), explain_core.GridAxis(cols, vals)
    return explain_core.sensitivity_grid(p.field(), p.ranking.weights, *axes, p.tin, p.tout)


def pareto(ctx: Context, task_type: str) -> list[dict[str, Any]]:
    """The cost/quality frontier for a task type (issue 7): the rated capable models that no other
    rated capable model beats on both quality (for this type, calibrated when learning is on) and
    blended price, cheapest first. "Rated" includes a model whose quality outcomes calibrated, as
    the tier floor counts it. Prices are compared as shown, rounded to 12 decimals."""
    from modelwise.core.frontier import pareto_front

    return [_point_json(p) for p in pareto_front(quality_points(ctx, task_type))]


def quality_price(ctx: Context, task_type: str) -> dict[str, Any]:
    """The console's quality-against-price chart for a task type: every rated capable model (as
    `pareto` counts them) and the frontier among them, both cheapest first."""
    from modelwise.core.frontier import pareto_front

    points = sorted(quality_points(ctx, task_type), key=lambda p: (p.price, -p.quality, p.id))
    return {
        "taskType": task_type,
        "models": [_point_json(p) for p in points],
        "frontier": [_point_json(p) for p in pareto_front(points)],
    }


def quality_points(ctx: Context, task_type: str) -> list[Any]:
    from modelwise.core.frontier import Point

    return [
        Point(e.model.id, e.model.name, e.performance, round(e.model.blended_per_1k, 12))
        for e in ctx.ranking(task_type).entries
        if e.capability and (e.rated or e.calibrated) and e.model.price_known
    ]


def breakdown(
    ctx: Context,
    task_type: str,
    description: str = "",
    budget: float | str | None = None,
    weights: WeightsArg = None,
    *,
    spent_by_tier: Mapping[str, float] | None = None,
    calibration: Calibration | None = None,
    top: int | None = 50,
) -> dict[str, Any]:
    """The live breakdown of a task without touching the ledger (the console's route form): the
    winner, margin, flip point and the top `top` candidate rows. `spent_by_tier` is today's spend
    (None: no budget check); `calibration` what outcomes taught (None: the registry values).
    Raises BadInput for a bad type, budget or weights."""
    from modelwise.core import explain as explain_core  # not on the CLI's route path

    task = ctx.task(task_type, description, budget, weights=weights)
    calib = EMPTY if calibration is None else calibration
    ranking = ctx.ranking(task.type, task.weights, NO_CONSTRAINTS, calib)
    tin, tout = ctx.estimate_tokens(task.type, task.description)
    p = plan(ranking, tin, tout, task.budget, ctx.settings, spent_by_tier)
    choice = p.choice
    pool = ranking.nofloor_list if choice.floor_dropped else ranking.floor_list
    tokens = tin + tout
    eligible = sum(
        1 for e in pool if e.estimated_cost(tin, tout) <= task.budget and (e.ctx is None or e.ctx >= tokens)
    )
    win, run = choice.winner, choice.runner_up

    def brief(e: Any) -> dict[str, Any] | None:
        return None if e is None else {"model": e.model.id, "name": e.model.name, "total": e.total}

    w = task.weights
    return {
        "taskType": task.type,
        "tier": p.tier.name,
        "status": choice.status,
        "reason": choice.reason,
        "warnings": list(choice.warnings),
        "winner": brief(win),
        "runnerUp": brief(run),
        "margin": choice.margin,
        "estimatedCost": choice.estimated_cost,
        "estimatedTokens": {"input": tin, "output": tout},
        "taskBudget": task.budget,
        "limit": p.limit,
        "weights": w.to_json(),
        "weightsNormalised": dict(zip(w.to_json(), ranking.normalised, strict=True)),
        "floor": ranking.floor,
        "flip": p.flip,
        "lead": explain_core.leads(win, [run], ranking.normalised)[0] if win and run else None,
        "models": len(ranking.entries),
        "eligible": eligible,
        "candidates": p.rows(top),
    }


def _point_json(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "quality": p.quality, "blendedPer1k": p.price}
