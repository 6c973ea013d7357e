"""What-if as a use case: the recorded decisions of a period re-routed under other weights or settings,
in time order with the day's budget simulated (core.replay, one `plan` per decision), compared with
what was recorded; and the console's live line for today."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelwise.app.values import finite_number, parse_constraints, parse_when
from modelwise.core import budget as budget_policy
from modelwise.core.errors import BadInput
from modelwise.core.routing import money
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints
from modelwise.core.settings import Settings, Weights

if TYPE_CHECKING:
    from modelwise.app.context import Context


def whatif_settings(
    ctx: Context,
    cost_scale: str | None = None,
    daily_budget: float | None = None,
    learning: bool | None = None,
) -> Settings:
    """The settings with a what-if's changes applied (None keeps the configured value)."""
    import dataclasses

    changes: dict[str, Any] = {}
    if cost_scale is not None:
        if cost_scale not in ("linear", "log"):
            raise BadInput(f"cost scale must be linear or log, not {cost_scale!r}")
        changes["cost_scale"] = cost_scale
    if daily_budget is not None:
        changes["daily_budget"] = finite_number(daily_budget, "daily budget")
    if learning is not None:
        changes["learning_enabled"] = bool(learning)
    return dataclasses.replace(ctx.settings, **changes) if changes else ctx.settings


def replay_records(ctx: Context, since_ts: float, until_ts: float | None
) -> tuple[list[Any], list[Any]]:
    """Decisions from the start of `since_ts`'s day to `until_ts` and the outcomes known by then, as
    the replay engine's records; those before `since_ts` only count towards their day's spend."""
    import json

    from modelwise.core.replay import OutcomeEvent, Recorded

    if not ctx.ledger_exists():
        return [], []
    day_from = budget_policy.budget_day(datetime.fromtimestamp(since_ts, UTC), ctx.tz).isoformat()
    weights_of: dict[str | None, Weights] = {}
    cons_of: dict[str | None, Constraints] = {}
    records = []
    for row in ctx.ledger.replay_rows(day_from, until_ts):
        (seq, ts, day, task_type, model_id, status, reserved, _est, tin, tout, task_budget, w_json,
         c_json, outcome, actual, a_in, a_out, o_ts, daily) = row
        w = weights_of.get(w_json)
        if w is None:
            w = Weights(**json.loads(w_json)) if w_json else ctx.settings.weights
            weights_of[w_json] = w
        c = cons_of.get(c_json)
        if c is None:
            c = parse_constraints(json.loads(c_json)) if c_json else NO_CONSTRAINTS
            cons_of[c_json] = c
        records.append(
            Recorded(
                seq, ts, day, task_type, model_id, status, reserved,
                actual if outcome is not None else reserved, tin, tout, task_budget, w, c,
                o_ts, a_in, a_out, ts >= since_ts, daily,
            )
        )
    events = [OutcomeEvent(*e) for e in ctx.ledger.outcome_events(until_ts)]
    return records, events


def replayer_for(ctx: Context, settings: Settings) -> Any:
    from modelwise.core.replay import Replayer

    cache = ctx.replayers
    # Only what a what-if can change differs from ctx.settings (Settings holds dicts: not hashable).
    key = (id(ctx.registry), settings.cost_scale, settings.daily_budget, settings.learning_enabled)
    r = cache.get(key)
    if r is None:
        if len(cache) > 8:
            cache.clear()
        models = ctx.registry.models
        if ctx.restricted():  # replayed over the models routing would consider, at their offers' prices
            models = ctx.reachable_models()
        r = cache[key] = Replayer(models, settings)
    return r


def whatif(
    ctx: Context,
    weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
    since: str | None = None,
    until: str | None = None,
    *,
    cost_scale: str | None = None,
    daily_budget: float | None = None,
    learning: bool | None = None,
) -> dict[str, Any]:
    """Re-route the period's recorded decisions (default: today) under `weights` (None: each one's own)
    and the given setting changes, in time order with the day's budget simulated, and compare with what
    was recorded: `{decisions, changed, recorded: {cost, models, quality}, replayed: {...}}`."""
    w = None if weights is None else ctx.parse_weights(weights)
    settings = whatif_settings(ctx, cost_scale, daily_budget, learning)
    now = ctx.clock()
    since_dt = parse_when(since or "today", now, ctx.tz, what="since")
    until_dt = parse_when(until, now, ctx.tz, end=True, what="until") if until else None
    if until_dt is not None and until_dt <= since_dt:
        raise BadInput("--until must be after --since")
    t0 = time.perf_counter()
    until_ts = until_dt.timestamp() if until_dt else None
    records, events = replay_records(ctx, since_dt.timestamp(), until_ts)
    t1 = time.perf_counter()
    # Each decision is replayed under the daily budget it was made under, unless another is asked for:
    # a comparison of weights is not mixed with a change of budget made since.
    recorded = daily_budget is None
    result = replayer_for(ctx, settings).run(records, events, w, recorded_budgets=recorded)
    t2 = time.perf_counter()
    out = result.to_json()
    budgets = sorted({r.daily_budget for r in records if r.in_period and r.daily_budget is not None})
    out.update(
        period={"since": since_dt.isoformat(), "until": until_dt.isoformat() if until_dt else None},
        weights=None if w is None else w.to_json(),
        settings={
            "costScale": settings.cost_scale,
            "dailyBudget": settings.daily_budget,
            "dailyBudgetFrom": "asked" if not recorded else "recorded" if budgets else "config",
            "recordedDailyBudgets": budgets,
            "learning": settings.learning_enabled,
        },
        timing={"readMs": round((t1 - t0) * 1000, 3), "replayMs": round((t2 - t1) * 1000, 3),
                "rankingsBuilt": result.rankings_built},
    )
    return out


def whatif_today(
    ctx: Context,
    weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Today's decisions replayed under `weights`, for the console's live line. The day's decisions
    are read once and re-read only when the ledger changes (a new decision or outcome), and rankings
    are kept between calls, so a call per keystroke costs one `decide` per decision of the day."""
    w = None if weights is None else ctx.parse_weights(weights)
    settings = whatif_settings(ctx, **changes)
    if not ctx.ledger_exists():
        records, events = [], []
    else:
        now = ctx.clock()
        start = parse_when("today", now, ctx.tz)
        stamp = (start, ctx.ledger.last_seq(), ctx.ledger.outcomes_version())
        # the day's records and events, kept on the context
        cached = ctx.today_cache
        if cached is None or cached[0] != stamp:
            cached = (stamp, *replay_records(ctx, start.timestamp(), None))
            ctx.today_cache = cached
            for replayer in ctx.replayers.values():
                replayer.clear()  # the outcomes known at each point may differ now
        _, records, events = cached
    recorded = changes.get("daily_budget") is None
    result = replayer_for(ctx, settings).run(records, events, w, recorded_budgets=recorded)
    out = result.to_json()
    rec, rep = out["recorded"], out["replayed"]
    out["line"] = (
        f"today under these weights: {money(rep['cost'])} instead of {money(rec['cost'])}, "
        f"{out['changed']} of {out['decisions']} decisions change model"
    )
    return out
