"""Routing (docs/design.md, Routing): the winner, degradation under the budget, refusal, the margin and
the flip point (the smallest one-weight change that changes the winner, whoever then wins).

`decide` is the hot path: it walks a cached `Ranking` from the top and stops at the first models that
fit, so a decision costs a few comparisons whatever the registry's size."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelwise.core.scoring import Crossing, Ranking, Scored, fmt_q
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
    limited_by: str | Callable[[], str] | None = None,
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
    limited_by: str | Callable[[], str] | None = None,
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
    winner: Scored | None
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
        # cap <= task_budget: a winner within cap means some model fits the task budget, so top exists.
        assert top is not None
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
    if callable(limited_by):
        limited_by = limited_by()
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


def _lead(
    weights: Sequence[float], cw: tuple[float, ...], m: Scored
) -> tuple[tuple[float, float, float, float], float]:
    """The winner's component differences over m and its lead, Σ_i w_i (c_W,i − c_m,i)."""
    cm = m.components()
    d = (cw[0] - cm[0], cw[1] - cm[1], cw[2] - cm[2], cw[3] - cm[3])
    return d, weights[0] * d[0] + weights[1] * d[1] + weights[2] * d[2] + weights[3] * d[3]


def _crossings(
    weights: Sequence[float], wsum: float, d: tuple[float, float, float, float], lead: float
) -> Iterator[tuple[int, float, float]]:
    """Where a model m overtakes the winner along each weight, the others kept (`d` and `lead` from `_lead`):
    (slot, value, slope) with slot = 2·j for lowering weight j and 2·j + 1 for raising it.

    Along weight j = v (then all weights normalised), m beats the winner when D + (v − w_j)·B < 0, with
    D = Σ_i w_i (c_W,i − c_m,i) (the winner's lead times the weights' sum) and B = c_W,j − c_m,j; so the
    crossing is v* = w_j − D / B. Raising w_j helps m when B < 0, lowering it when B > 0 (a tie at 0 is
    no flip, nor is a value at which every weight would be 0)."""
    for j in range(4):
        bj = d[j]
        if bj == 0:
            continue
        wj = weights[j]
        v = wj - lead / bj
        if not math.isfinite(v) or v < 0 or wsum - wj + v <= 0:
            continue
        if bj < 0 and v >= wj:
            yield 2 * j + 1, v, bj
        elif bj > 0 and 0 < v <= wj:
            yield 2 * j, v, bj


def _flip(weights: Sequence[float], slot: int, v: float, m: Scored) -> dict[str, Any]:
    j = slot // 2
    return {
        "weight": WEIGHT_NAMES[j],
        "value": v + 0.0,
        "model": m.model.id,
        "modelName": m.model.name,
        "direction": "up" if slot % 2 else "down",
        "current": weights[j],
    }


def weight_flips(
    weights: Sequence[float],
    winner: Scored,
    field: Iterable[Scored],
    tin: int = 0,
    tout: int = 0,
) -> list[dict[str, Any]]:
    """For every weight, the nearest value above and below its current one at which some other model of
    `field` (the models the winner was chosen among: `decision_field`) overtakes the winner, and which
    model that is: `{weight, value, model, modelName, direction, current}`, weights in order, "down"
    before "up". When several models cross at the same value, the one that wins just beyond it is
    reported: the steepest (largest |B|), then the router's own tie-break (lower estimated cost for
    `tin`/`tout` tokens, then the smaller id). Values are exact (not rounded), so the winner at
    value ± a small step is and is not the reported model."""
    cw = winner.components()
    wsum = weights[0] + weights[1] + weights[2] + weights[3]
    best: list[tuple[Any, ...] | None] = [None] * 8  # per slot: (nearest first key, model)
    for m in field:
        if m is winner:
            continue
        for slot, v, bj in _crossings(weights, wsum, *_lead(weights, cw, m)):
            key = (abs(v - weights[slot // 2]), -abs(bj), m.estimated_cost(tin, tout), m.model.id)
            found = best[slot]
            if found is None or key < found[0]:
                best[slot] = (key, v, m)
    return [_flip(weights, slot, f[1], f[2]) for slot, f in enumerate(best) if f is not None]


def nearest_flip(flips: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The flip of `flips` that needs the smallest change of its weight (|value − current|); on a tie
    the first in `weight_flips`' order."""
    best: dict[str, Any] | None = None
    for f in flips:
        if best is None or abs(f["value"] - f["current"]) < abs(best["value"] - best["current"]):
            best = f
    return best


_MEMO_SIZE = 8  # winners memoised per ranking (a degraded decision can have another winner)


def _nearest_scan(
    weights: Sequence[float], winner: Scored, field: Iterable[Scored], tin: int, tout: int
) -> dict[str, Any] | None:
    """`nearest_flip(weight_flips(...))` by one scan of `field` (best total first) that stops once no
    later model can cross nearer: components lie in [0, 1], so |B| ≤ `span` and a model's change is at
    least its lead / span, and the lead only grows down the field."""
    cw = winner.components()
    wsum = weights[0] + weights[1] + weights[2] + weights[3]
    span = max(max(c, 1.0 - c) for c in cw)
    best: tuple[Any, ...] | None = None
    for m in field:
        if m is winner:
            continue
        d, lead = _lead(weights, cw, m)
        if best is not None and lead > best[0][0] * span * (1 + 1e-9) + 1e-12:
            break
        for slot, v, bj in _crossings(weights, wsum, d, lead):
            key = (abs(v - weights[slot // 2]), slot, -abs(bj), m.estimated_cost(tin, tout), m.model.id)
            if best is None or key < best[0]:
                best = (key, v, m)
    return None if best is None else _flip(weights, best[0][1], best[1], best[2])


def flip_point(
    ranking: Ranking,
    winner: Scored,
    floor_dropped: bool,
    tin: int,
    tout: int,
    task_budget: float,
    limit: float | None,
) -> dict[str, Any] | None:
    """The flip point of a decision: the smallest change of one raw weight (the others kept) that changes
    the winner, whoever then wins, among the models the decision chose among (`decision_field`); the
    same flip as `nearest_flip(weight_flips(..., decision_field(...)))`, or None when no single weight
    change hands the win to another model.

    The nearest flip is the nearest crossing of any one model, so every model's own nearest crossing
    is computed once per ranking and winner (memoised on the ranking, sorted nearest first); a decision
    then walks that list to the first model that fits its budget and context window."""
    weights = ranking.weights.as_tuple()
    key = (winner.model.id, floor_dropped)
    order = ranking.crossings.get(key)
    if order is None:  # a first decision for this winner (a one-off CLI call): scan, do not memoise yet
        if len(ranking.crossings) >= _MEMO_SIZE:
            ranking.crossings.clear()
        ranking.crossings[key] = ()
        field = decision_field(ranking, floor_dropped, tin, tout, task_budget, limit)
        return _nearest_scan(weights, winner, field, tin, tout)
    if not order:
        cw = winner.components()
        wsum = weights[0] + weights[1] + weights[2] + weights[3]
        rows: list[Crossing] = []
        for m in ranking.nofloor_list if floor_dropped else ranking.floor_list:
            if m is winner:
                continue
            near: tuple[float, int, float, float] | None = None
            for slot, v, bj in _crossings(weights, wsum, *_lead(weights, cw, m)):
                cand = (abs(v - weights[slot // 2]), slot, -abs(bj), v)
                if near is None or cand < near:
                    near = cand
            if near is not None:
                rows.append((*near, m))
        rows.sort(key=lambda r: r[:3])
        order = tuple(rows) or ((math.inf, 0, 0.0, 0.0, None),)  # (no crossing at all)
        ranking.crossings[key] = order
    cap = task_budget if limit is None else min(task_budget, max(limit, 0.0))
    tokens = tin + tout
    n = len(order)
    for i in range(n):
        row = order[i]
        first = row[4]
        if first is None or not _fits(first, tin, tout, cap, tokens):
            continue
        # The same crossing, slot and slope: the router's tie-break decides who wins beyond it.
        best, best_key = first, (first.estimated_cost(tin, tout), first.model.id)
        k = i + 1
        while k < n and order[k][:3] == row[:3]:
            o = order[k][4]
            if o is not None and _fits(o, tin, tout, cap, tokens):
                ok = (o.estimated_cost(tin, tout), o.model.id)
                if ok < best_key:
                    best, best_key = o, ok
            k += 1
        return _flip(weights, row[1], row[3], best)
    return None


def eligibility(
    e: Scored, ranking: Ranking, tin: int, tout: int, task_budget: float, floor_dropped: bool
) -> str | None:
    """Why a model is not eligible for this task, or None when it is (docs/design.md, "Routing")."""
    if e.static_reason is not None:
        return e.static_reason
    if not floor_dropped and not ranking.clears_floor(e):
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
    callable_only: bool = False,
) -> list[dict[str, Any]]:
    """The breakdown rows (`candidates`, docs/design.md, "Command line"): the top `top` models by total (all
    when None), plus the winner and the runner-up wherever they rank, each with its components, cost and
    eligibility. `callable_only`: of the models no constraint or reach leaves out (`nofloor_list`: a
    gateway call's, those it could fall back to), each with its rank among all."""
    entries = ranking.nofloor_list if callable_only else ranking.entries
    chosen = entries if top is None else entries[:top]
    n = 0 if callable_only else len(chosen)
    winner = choice.winner
    listed = list(chosen)
    for e in (winner, choice.runner_up):
        if e is not None and e not in listed:
            listed.append(e)
    rows = []
    for i, e in enumerate(listed):
        reason = eligibility(e, ranking, tin, tout, task_budget, choice.floor_dropped)
        cost = e.estimated_cost(tin, tout)
        note: str | None
        if reason is None and e is not winner and limit is not None and cost > limit:
            note = f"eligible, but over the remaining budget {money(max(limit, 0.0))}"
        elif reason is None and e.warning is not None:
            note = f"eligible, {e.warning}"
        else:
            note = reason
        row = {"rank": i + 1 if i < n else ranking.rank_of(e), **e.static_row()}
        row["eligible"] = reason is None
        row["reason"] = note
        row["estimatedCost"] = round(cost, 10)
        row["winner"] = e is winner
        rows.append(row)
    return rows
