"""Why the winner wins (issue 7): its lead over the next models by component, why the others are out,
which model wins on a grid of weights, and a plain-language summary. Pure functions of a `Ranking`."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelwise.core.providers import UNREACHABLE
from modelwise.core.routing import decision_field, eligibility, money, nearest_flip
from modelwise.core.scoring import Ranking, Scored, fmt_q
from modelwise.core.settings import WEIGHT_NAMES, Weights

# Why a model is out of a decision, in the order the router checks (docs/design.md, "Routing").
EXCLUSION_KINDS: dict[str, str] = {
    "not-capable": "not capable of the task type",
    "lacks-capability": "lacks a required capability",
    "no-provider": "no configured provider serves it",
    "min-quality": "quality below the task's minQuality",
    "latency": "latency above (or unknown for) the task's maxLatencyMs",
    "tier-floor": "quality below the tier's floor",
    "task-budget": "estimated cost over the task budget",
    "context-window": "context window too small",
    "remaining-budget": "eligible, but over what is left of today's budget",
}


def field_of(
    ranking: Ranking, tin: int, tout: int, task_budget: float, limit: float | None, floor_dropped: bool
) -> list[Scored]:
    """The models a decision chose among: eligible (docs/design.md, "Routing") and affordable within `min(task
    budget, limit)`, in the router's order (total, then lower estimated cost, then id). Weights do not change
    this set, so the winner under any other weights is the first of it re-sorted by those weights."""
    out = list(decision_field(ranking, floor_dropped, tin, tout, task_budget, limit))
    out.sort(key=lambda e: (-e.total, e.estimated_cost(tin, tout), e.model.id))
    return out


def leads(winner: Scored, others: Sequence[Scored], normalised: Sequence[float]) -> list[dict[str, Any]]:
    """The winner's lead over each of `others`: per component the weighted contribution difference
    nw_i × (c_winner,i − c_other,i) (they sum to the lead), and the component that gives the most."""
    cw = winner.components()
    out = []
    for m in others:
        cm = m.components()
        parts = {}
        for name, w, a, b in zip(WEIGHT_NAMES, normalised, cw, cm, strict=True):
            parts[name] = {"winner": a, "other": b, "difference": a - b, "weighted": w * (a - b), "weight": w}
        best = max(WEIGHT_NAMES, key=lambda n: parts[n]["weighted"])
        worst = min(WEIGHT_NAMES, key=lambda n: parts[n]["weighted"])
        out.append(
            {
                "model": m.model.id,
                "name": m.model.name,
                "total": m.total,
                "lead": winner.total - m.total,
                "components": parts,
                "decidedBy": best if parts[best]["weighted"] > 0 else None,
                "behindOn": worst if parts[worst]["weighted"] < 0 else None,
            }
        )
    return out


def exclusion_kind(
    e: Scored, ranking: Ranking, tin: int, tout: int, task_budget: float, floor_dropped: bool
) -> str | None:
    """The EXCLUSION_KINDS key of the first check `e` fails (as `routing.eligibility` orders them)."""
    if e.static_reason is not None:
        if not e.capability:
            return "not-capable" if ranking.task_type not in e.model.capabilities else "lacks-capability"
        if e.static_reason.startswith(UNREACHABLE):
            return "no-provider"
        mq = ranking.constraints.min_quality
        if mq is not None and e.performance < mq:
            return "min-quality"
        return "latency"
    if not floor_dropped and not ranking.clears_floor(e):
        return "tier-floor"
    if e.estimated_cost(tin, tout) > task_budget:
        return "task-budget"
    if e.ctx is not None and e.ctx < tin + tout:
        return "context-window"
    return None


def exclusions(
    ranking: Ranking,
    tin: int,
    tout: int,
    task_budget: float,
    limit: float | None,
    floor_dropped: bool,
    winner: Scored | None,
    examples: int = 3,
) -> list[dict[str, Any]]:
    """Every model out of this decision grouped by reason: `{kind, label, count, examples}`, the groups
    in the router's order of checks, the examples the best-scoring models of each group."""
    cap = task_budget if limit is None else min(task_budget, max(limit, 0.0))
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in ranking.entries:  # best total first, so the first examples are the interesting ones
        if e is winner:
            continue
        kind = exclusion_kind(e, ranking, tin, tout, task_budget, floor_dropped)
        if kind is None:
            cost = e.estimated_cost(tin, tout)
            if cost <= cap:
                continue
            kind = "remaining-budget"
            reason = f"estimated cost {money(cost)} over the remaining budget {money(cap)}"
        else:
            reason = eligibility(e, ranking, tin, tout, task_budget, floor_dropped) or kind
        groups.setdefault(kind, []).append({"model": e.model.id, "name": e.model.name, "reason": reason})
    return [
        {
            "kind": kind,
            "label": label,
            "count": len(groups[kind]),
            "examples": groups[kind][:examples],
        }
        for kind, label in EXCLUSION_KINDS.items()
        if kind in groups
    ]


@dataclass(frozen=True, slots=True)
class GridAxis:
    """The values one weight takes on a sensitivity grid."""

    weight: str
    values: tuple[float, ...]


def winner_under(field: Sequence[Scored], weights: Weights, tin: int, tout: int) -> Scored | None:
    """The model of `field` the router would pick under `weights`: the highest total computed exactly as
    `rank_models` does, then the lower estimated cost, then the smaller id."""
    wc, wp, wa, wk = weights.normalised()
    best: tuple[Any, ...] | None = None
    for s in field:
        total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost
        key = (-total, s.estimated_cost(tin, tout), s.model.id)
        if best is None or key < best[0]:
            best = (key, s)
    return None if best is None else best[1]


def sensitivity_grid(
    field: Sequence[Scored],
    weights: Weights,
    rows: GridAxis,
    cols: GridAxis,
    tin: int,
    tout: int,
) -> dict[str, Any]:
    """Which model wins where, with `rows.weight` and `cols.weight` set to each pair of values and the
    other two weights kept. `winners[i][j]` is the winner's id at (rows.values[i], cols.values[j]),
    None where every weight would be zero or nothing is eligible; `legend` gives each a letter."""
    winners: list[list[str | None]] = []
    legend: dict[str, dict[str, Any]] = {}
    letters = iter(string.ascii_uppercase + string.ascii_lowercase + string.digits)
    for rv in rows.values:
        line: list[str | None] = []
        for cv in cols.values:
            w = weights.replace(rows.weight, rv).replace(cols.weight, cv)
            if sum(w.as_tuple()) <= 0:
                line.append(None)
                continue
            s = winner_under(field, w, tin, tout)
            if s is None:
                line.append(None)
                continue
            if s.model.id not in legend:
                legend[s.model.id] = {"name": s.model.name, "mark": next(letters, "?")}
            line.append(s.model.id)
        winners.append(line)
    return {
        "rows": {"weight": rows.weight, "values": list(rows.values)},
        "cols": {"weight": cols.weight, "values": list(cols.values)},
        "winners": winners,
        "legend": legend,
        "current": {rows.weight: getattr(weights, rows.weight), cols.weight: getattr(weights, cols.weight)},
    }


def grid_current_cell(grid: dict[str, Any]) -> tuple[int, int]:
    """The (row, column) of a `sensitivity_grid` nearest the current weights (the first on a tie)."""

    def nearest(axis: dict[str, Any]) -> int:
        values, here = axis["values"], grid["current"][axis["weight"]]
        return min(range(len(values)), key=lambda i: abs(values[i] - here))

    return nearest(grid["rows"]), nearest(grid["cols"])


def summary(
    ranking: Ranking,
    winner: Scored | None,
    lead_rows: Sequence[dict[str, Any]],
    flips: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
    status: str,
    reason: str,
) -> str:
    """One paragraph in plain words: who wins, why, what would change it, and what was left out."""
    n = len(ranking.entries)
    out_count = sum(g["count"] for g in groups)
    if winner is None:
        text = f"No model is chosen for {ranking.task_type}: {reason}."
        if groups:
            biggest = max(groups, key=lambda g: g["count"])
            text += (
                f" Of {n} models, {out_count} are out; the most common reason: "
                f"{biggest['label']} ({biggest['count']})."
            )
        return text
    parts = [
        f"{winner.model.name} wins {ranking.task_type} ({ranking.tier.name} tier) with a score of "
        f"{winner.total:.4f}"
    ]
    if lead_rows:
        first = lead_rows[0]
        why = ""
        if first["decidedBy"]:
            gain = first["components"][first["decidedBy"]]["weighted"]
            why = f", won on {first['decidedBy']} (+{gain:.4f})"
            if first["behindOn"]:
                loss = first["components"][first["behindOn"]]["weighted"]
                why += f" despite trailing on {first['behindOn']} ({loss:.4f})"
        parts[0] += f", {first['lead']:.4f} ahead of {first['name']}{why}."
    else:
        parts[0] += "; it is the only model left to choose from."
    if status == "degraded":
        parts.append(f"It is a degraded choice: {reason}.")
    nearest = nearest_flip(flips)
    if nearest is not None:
        verb = "rose" if nearest["direction"] == "up" else "fell"
        parts.append(
            f"The nearest change of one weight that would hand the win to another model: if "
            f"{nearest['weight']} {verb} from {nearest['current']:g} to {nearest['value']:.4g}, "
            f"{nearest['modelName']} would win."
        )
    else:
        parts.append("No change of a single weight would change the winner.")
    if groups:
        top = sorted(groups, key=lambda g: -g["count"])[:3]
        reasons = "; ".join(f"{g['count']} {g['label']}" for g in top)
        parts.append(f"Of {n} models, {out_count} are out of this decision ({reasons}).")
    if ranking.floor is not None and ranking.tier.floor_percentile > 0:
        parts.append(
            f"The {ranking.tier.name} tier only admits models at or above quality {fmt_q(ranking.floor)} "
            f"(p{ranking.tier.floor_percentile:g} of the capable models)."
        )
    return " ".join(parts)
