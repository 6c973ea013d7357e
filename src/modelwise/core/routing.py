"""Routing (SPEC 4): the winner, degradation under the budget, refusal, the margin and the flip point
(the smallest one-weight change that changes the winner, whoever then wins).

`decide` is the hot path: it walks a cached `Ranking` from the top and stops at the first models that
fit, so a decision costs a few comparisons whatever the registry's size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from modelwise.core.scoring import Ranking, Scored, fmt_q
from modelwise.core.settings import WEIGHT_NAMES

ROUTED = "routed"
DEGRADED = "degraded"
REFUSED = "refused"
DRY_RUN = "dry-run"


@dataclass(slots=True)
class Choice:
    """What the router chose for one task, before anything is recorded."""

    status: str
    winner: Scored | None
    runner_up: Scored | None
    estimated_cost: float
    reason: str
    warnings: list[str] = field(default_factory=list)
    floor_dropped: bool = False
    refusal_kind: str | None = None  # "budget" or "no-model"

    @property
    def margin(self) -> float | None:
        if self.winner is None or self.runner_up is None:
            return None
        return self.winner.total - self.runner_up.total


def _fits(e: Scored, tin: int, tout: int, cap: float, tokens: int) -> bool:
    return e.estimated_cost(tin, tout) <= cap and (e.ctx is None or e.ctx >= tokens)


def best_fit(
    entries: Sequence[Scored],
    min_in: Sequence[float],
    min_out: Sequence[float],
    tin: int,
    tout: int,
    cap: float,
    exclude: Scored | None = None,
) -> Scored | None:
    """The best entry whose estimated cost is at most `cap` and whose context window fits; ties on the
    total go to the lower estimated cost, then the smaller id. Stops once nothing below can be afforded."""
    tokens = tin + tout
    n = len(entries)
    i = 0
    while i < n:
        if (tin * min_in[i] + tout * min_out[i]) / 1_000_000.0 > cap:
            return None
        e = entries[i]
        if e is not exclude and _fits(e, tin, tout, cap, tokens):
            best = e
            best_cost = e.estimated_cost(tin, tout)
            j = i + 1
            while j < n and entries[j].total == e.total:
                o = entries[j]
                if o is not exclude and _fits(o, tin, tout, cap, tokens):
                    oc = o.estimated_cost(tin, tout)
                    if (oc, o.model.id) < (best_cost, best.model.id):
                        best, best_cost = o, oc
                j += 1
            return best
        i += 1
    return None


def money(x: float) -> str:
    if x == 0:
        return "$0"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    if abs(x) >= 0.01:
        return f"${x:.4f}"
    return f"${x:.6f}"


def decide(
    ranking: Ranking,
    tin: int,
    tout: int,
    task_budget: float,
    limit: float | None,
    limited_by: str | None = None,
) -> Choice:
    """Pick the winner (see `_decide`); a winner within 30 days of its deprecation date adds a warning."""
    choice = _decide(ranking, tin, tout, task_budget, limit, limited_by)
    w = choice.winner
    if w is not None and w.warning is not None:
        choice.warnings.append(f"{w.model.name}: {w.warning}")
    return choice


def _decide(
    ranking: Ranking,
    tin: int,
    tout: int,
    task_budget: float,
    limit: float | None,
    limited_by: str | None = None,
) -> Choice:
    """Pick the winner for a task of `tin` input and `tout` output tokens.

    `limit` is what is left of the day and of the tier (None: no budget check, as in a dry run without a
    ledger); `limited_by` names what it is the rest of (e.g. "the medium tier's $5.00 allocation", see
    budget.limited_by), for the reason of a refusal. Order: the best eligible model; if it does not fit
    the limit, the best eligible one that does (degraded); if none does with the tier floor, the same
    without the floor (degraded, with a warning); else refused."""
    fl, nf = ranking.floor_list, ranking.nofloor_list
    cap = task_budget if limit is None else min(task_budget, max(limit, 0.0))
    top = best_fit(fl, ranking.floor_min_in, ranking.floor_min_out, tin, tout, task_budget)
    if top is not None and cap >= task_budget:
        winner = top
    else:
        winner = (
            best_fit(fl, ranking.floor_min_in, ranking.floor_min_out, tin, tout, cap) if cap >= 0 else None
        )
    if winner is not None:
        runner = best_fit(fl, ranking.floor_min_in, ranking.floor_min_out, tin, tout, cap, exclude=winner)
        cost = winner.estimated_cost(tin, tout)
        if winner is top:
            reason = _why(winner, runner)
            return Choice(ROUTED, winner, runner, cost, reason)
        reason = (
            f"{top.model.name} ({money(top.estimated_cost(tin, tout))}) does not fit the remaining budget "
            f"{money(limit or 0.0)}; degraded to {winner.model.name}"
        )
        return Choice(DEGRADED, winner, runner, cost, reason, [reason])

    winner = best_fit(nf, ranking.nofloor_min_in, ranking.nofloor_min_out, tin, tout, cap)
    floor_txt = "none" if ranking.floor is None else fmt_q(ranking.floor)
    if winner is not None:
        runner = best_fit(nf, ranking.nofloor_min_in, ranking.nofloor_min_out, tin, tout, cap, exclude=winner)
        cost = winner.estimated_cost(tin, tout)
        warn = (
            f"no model above the {ranking.tier.name} tier's quality floor {floor_txt} fits "
            f"{'the task budget' if cap >= task_budget else 'the remaining budget'} "
            f"({money(cap)}); floor dropped, degraded to {winner.model.name}"
        )
        return Choice(DEGRADED, winner, runner, cost, warn, [warn], floor_dropped=True)

    # Refused: say whether money or the models are the reason.
    if not nf:
        capable = [e for e in ranking.entries if e.capability]
        if not capable:
            reason = f"no model in the registry is capable of {ranking.task_type}"
        else:
            reason = f"no model meets the constraints ({capable[0].static_reason} for the best capable)"
        return Choice(REFUSED, None, None, 0.0, reason, refusal_kind="no-model")
    affordable = best_fit(nf, ranking.nofloor_min_in, ranking.nofloor_min_out, tin, tout, task_budget)
    if affordable is None:
        cheapest = min(nf, key=lambda e: e.estimated_cost(tin, tout))
        reason = (
            f"no eligible model fits the task budget {money(task_budget)} "
            f"(cheapest: {cheapest.model.name} at {money(cheapest.estimated_cost(tin, tout))})"
        )
        return Choice(REFUSED, None, None, 0.0, reason, refusal_kind="no-model")
    left = money(max(limit or 0.0, 0.0))
    reason = (
        f"{limited_by} is exhausted ({left} left today)" if limited_by
        else f"budget exhausted: {left} left today for the {ranking.tier.name} tier"
    ) + f"; the cheapest eligible model needs {money(min(e.estimated_cost(tin, tout) for e in nf))}"
    return Choice(REFUSED, None, None, 0.0, reason, refusal_kind="budget")


def _why(winner: Scored, runner: Scored | None) -> str:
    if runner is None:
        return f"{winner.model.name} is the only eligible model"
    return (
        f"{winner.model.name} scores {winner.total:.4f}, {winner.total - runner.total:.4f} ahead of "
        f"{runner.model.name}"
    )


def decision_field(
    ranking: Ranking, floor_dropped: bool, tin: int, tout: int, task_budget: float, limit: float | None
) -> Iterator[Scored]:
    """The models a decision (`decide` with this `limit`) chose among, lazily, best total first: the
    eligible ones (with the tier floor unless it was dropped) whose estimated cost fits `min(task
    budget, limit)` and whose context window holds the task. Weights change neither the eligibility
    nor the costs, so under any other weights the router picks the best of this same set."""
    entries = ranking.nofloor_list if floor_dropped else ranking.floor_list
    cap = task_budget if limit is None else min(task_budget, max(limit, 0.0))
    tokens = tin + tout
    return (e for e in entries if _fits(e, tin, tout, cap, tokens))


def _scan_flips(
    weights: Sequence[float],
    winner: Scored,
    field: Iterable[Scored],
    tin: int,
    tout: int,
    nearest_only: bool,
) -> list[dict]:
    """The crossings of the winner with every other model of `field`, per weight and direction.

    Along weight j = v (the others kept, then all normalised), model m beats the winner when
    D_m + (v − w_j)·B_m < 0, with D_m = Σ_i w_i (c_W,i − c_m,i) ≥ 0 (the winner's lead times the weights'
    sum) and B_m = c_W,j − c_m,j; so the crossing is v* = w_j − D_m / B_m, a change of D_m / |B_m|.
    When several models cross at the same v*, the one that wins just beyond it is reported: the steepest
    (largest |B_m|), then the router's own tie-break (lower estimated cost, then the smaller id).

    `field` must come best total first. With `nearest_only`, the scan stops once no later model can
    cross nearer than the nearest crossing found: components lie in [0, 1], so |B_m| ≤ `span` and a
    change is at least D_m / span, and D_m only grows down the field. Only the nearest flip is then
    exact (the other directions may have stopped early); without it every direction is exact."""
    cw = winner.components()
    wsum = weights[0] + weights[1] + weights[2] + weights[3]
    span = max(max(c, 1.0 - c) for c in cw)
    # One slot per (weight, direction): (crossing key, model); "down" keys negate the crossing so that
    # the nearest one sorts first in both directions.
    up: list[tuple | None] = [None, None, None, None]
    down: list[tuple | None] = [None, None, None, None]
    best = math.inf
    for m in field:
        if m is winner:
            continue
        cm = m.components()
        d = (cw[0] - cm[0], cw[1] - cm[1], cw[2] - cm[2], cw[3] - cm[3])
        lead = weights[0] * d[0] + weights[1] * d[1] + weights[2] * d[2] + weights[3] * d[3]
        if nearest_only and lead > best * span * (1 + 1e-9) + 1e-12:
            break
        for j in range(4):
            bj = d[j]
            if bj == 0:
                continue
            wj = weights[j]
            v = wj - lead / bj
            if not math.isfinite(v) or v < 0 or wsum - wj + v <= 0:
                continue
            if bj < 0 and v >= wj:  # raising weight j helps m
                key = (v, bj, m.estimated_cost(tin, tout), m.model.id)
                slot = up[j]
                if slot is None or key < slot[0]:
                    up[j] = (key, m)
                    best = min(best, v - wj)
            elif bj > 0 and 0 < v <= wj:  # lowering weight j helps m (a tie at 0 is no flip)
                key = (-v, -bj, m.estimated_cost(tin, tout), m.model.id)
                slot = down[j]
                if slot is None or key < slot[0]:
                    down[j] = (key, m)
                    best = min(best, wj - v)
    flips: list[dict] = []
    for j, name in enumerate(WEIGHT_NAMES):
        for found, direction in ((down[j], "down"), (up[j], "up")):
            if found is not None:
                m = found[1]
                flips.append(
                    {
                        "weight": name,
                        "value": abs(found[0][0]) + 0.0,
                        "model": m.model.id,
                        "modelName": m.model.name,
                        "direction": direction,
                        "current": weights[j],
                    }
                )
    return flips


def nearest_flip(flips: Sequence[dict]) -> dict | None:
    """The flip of `flips` that needs the smallest change of its weight (|value − current|); on a tie
    the first in `weight_flips`' order (weights in order, "down" before "up")."""
    best: dict | None = None
    for f in flips:
        if best is None or abs(f["value"] - f["current"]) < abs(best["value"] - best["current"]):
            best = f
    return best


def weight_flips(
    weights: Sequence[float],
    winner: Scored,
    field: Iterable[Scored],
    tin: int = 0,
    tout: int = 0,
) -> list[dict]:
    """For every weight, the nearest value above and below its current one at which some other model of
    `field` (the models the winner was chosen among, best total first: `decision_field`) overtakes the
    winner, and which model that is: `{weight, value, model, modelName, direction, current}`. Values are
    exact (not rounded), so the winner at value ± a small step is and is not the reported model."""
    return _scan_flips(weights, winner, field, tin, tout, nearest_only=False)


def flip_point(
    weights: Sequence[float],
    winner: Scored,
    field: Iterable[Scored],
    tin: int = 0,
    tout: int = 0,
) -> dict | None:
    """The flip point: the smallest change of one raw weight (the others kept) that changes the winner,
    whoever then wins, among `field` (the models the decision chose among, best total first:
    `decision_field`). Exactly `nearest_flip(weight_flips(...))`, found without scanning the whole field:
    {"model", "modelName", "weight", "value", "direction", "current"}, or None when no single weight
    change hands the win to another model."""
    return nearest_flip(_scan_flips(weights, winner, field, tin, tout, nearest_only=True))


def eligibility(
    e: Scored, ranking: Ranking, tin: int, tout: int, task_budget: float, floor_dropped: bool
) -> str | None:
    """Why a model is not eligible for this task, or None when it is (SPEC 4, step 1)."""
    if e.static_reason is not None:
        return e.static_reason
    if not e.floor_ok and not floor_dropped:
        return (
            f"quality {fmt_q(e.performance)} below the {ranking.tier.name} tier floor "
            f"{fmt_q(ranking.floor or 0.0)} (p{ranking.tier.floor_percentile:g})"
        )
    cost = e.estimated_cost(tin, tout)
    if cost > task_budget:
        return f"estimated cost {money(cost)} over the task budget {money(task_budget)}"
    if e.ctx is not None and e.ctx < tin + tout:
        return f"context window {e.ctx:,} < {tin + tout:,} estimated tokens"
    return None


def candidate_rows(
    ranking: Ranking,
    choice: Choice,
    tin: int,
    tout: int,
    task_budget: float,
    limit: float | None,
    top: int | None = 10,
) -> list[dict]:
    """The breakdown rows (SPEC 7 `candidates`): the top `top` models by total (all when None), plus the
    winner and the runner-up wherever they rank, each with its components, cost and eligibility."""
    entries = ranking.entries
    chosen = entries if top is None else entries[:top]
    n = len(chosen)
    winner = choice.winner
    listed = list(chosen)
    for e in (winner, choice.runner_up):
        if e is not None and e.rank > n and e not in listed:
            listed.append(e)
    rows = []
    for e in listed:
        reason = eligibility(e, ranking, tin, tout, task_budget, choice.floor_dropped)
        cost = e.estimated_cost(tin, tout)
        if reason is None and e is not winner and limit is not None and cost > limit:
            note = f"eligible, but over the remaining budget {money(max(limit, 0.0))}"
        elif reason is None and e.warning is not None:
            note = f"eligible, {e.warning}"
        else:
            note = reason
        row = dict(e.static_row())
        row["eligible"] = reason is None
        row["reason"] = note
        row["estimatedCost"] = round(cost, 10)
        row["winner"] = e is winner
        rows.append(row)
    return rows
