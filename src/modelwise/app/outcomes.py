"""Outcomes and learning as use cases: settling a decision at its actual cost (or correcting it), what
the ledger observed per model and task type beside the registry's values, and `evaluate`'s
cross-validated replay of outcome data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.app import reports
from modelwise.app.values import (
    MAX_COST,
    MAX_LATENCY_MS,
    MAX_TOKENS,
    OUTCOMES,
    check_token_limits,
    correction_reason,
    finite_number,
    timestamp,
)
from modelwise.core import budget as budget_policy
from modelwise.core.errors import BadInput
from modelwise.core.settings import Weights
from modelwise.ledger import Settlement

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelwise.app.context import Context


def record_outcome(ctx: Context, decision_id: str, outcome: str, **kw: Any) -> dict[str, Any]:
    """`settle_outcome`, answered as the decision's row (`reports.row_json`)."""
    return reports.row_json(ctx, settle_outcome(ctx, decision_id, outcome, **kw))


def settle_outcome(
    ctx: Context,
    decision_id: str,
    outcome: str,
    *,
    latency_ms: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost: float | None = None,
    correct: bool = False,
    reason: str | None = None,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    long_cache_write_tokens: int | None = None,
) -> dict[str, Any]:
    """Settle a decision (docs/design.md, "Budget", "Outcomes and learning"): the actual cost, from a given
    cost or tokens × the model's prices, replaces its reservation. Without either, it settles at the estimate.
    Token counts the decided model cannot have used (beyond its context window or maximum output) are refused.

    With `correct`, the decision's outcome is corrected instead: a correction (validated and priced
    the same way, with an optional `reason`) is appended and supersedes the outcome for spend,
    learning and reports; the outcome first recorded is kept. A settlement that raises the day's
    spend records the alert thresholds it reaches, and an over-budget alert when it takes the day
    over its budget. `cached_tokens` and `cache_write_tokens` are the part of the input tokens read
    from and written to the provider's prompt cache, priced at its cache prices; `long_cache_write_tokens`,
    of those written, the ones kept for an hour (at twice the input price: core.pricing)."""
    if outcome not in OUTCOMES:
        raise BadInput(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not isinstance(decision_id, str) or not decision_id:
        raise BadInput("decision id must be a non-empty string")
    if latency_ms is not None:
        latency_ms = finite_number(latency_ms, "latency")
        if latency_ms > MAX_LATENCY_MS:
            raise BadInput(f"latency must be at most {MAX_LATENCY_MS:,.0f} ms, not {latency_ms!r}")
    tokens = []
    for value, what in ((input_tokens, "input tokens"), (output_tokens, "output tokens"),
                        (cached_tokens, "cached tokens"), (cache_write_tokens, "cache-write tokens"),
                        (long_cache_write_tokens, "hour-long cache-write tokens")):
        if value is not None:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value != int(value)
                or not 0 <= value <= MAX_TOKENS
            ):
                raise BadInput(f"{what} must be a whole number from 0 to {MAX_TOKENS:,}, not {value!r}")
            value = int(value)
        tokens.append(value)
    cached, written, long_written = tokens[2] or 0, tokens[3] or 0, tokens[4] or 0
    if long_written > written:
        raise BadInput(f"hour-long cache-write tokens ({long_written:,}) exceed the cache-write tokens "
                       f"({written:,}) they are part of")
    if cost is not None:
        cost = finite_number(cost, "cost")
        if cost > MAX_COST:
            raise BadInput(f"cost must be at most {MAX_COST:,.0f} USD, not {cost!r}")
    if not ctx.ledger_exists():
        from modelwise.core.errors import UnknownDecision

        raise UnknownDecision(f"unknown decision id {decision_id!r}")
    what = f"{'correction' if correct else 'outcome'} of {decision_id}"

    def make(dec: dict[str, Any], spent: Mapping[str, float]) -> Settlement:
        # the reason is checked once the decision is known to exist (an unknown one is a 404 first)
        if reason is not None and not correct:
            raise BadInput("a reason goes with a correction (correct the outcome to give one)")
        stored_reason = None if reason is None else correction_reason(reason)
        if tokens[2] is not None or tokens[3] is not None:  # so are the cache counts
            if tokens[0] is None:
                raise BadInput(
                    "cached and cache-write tokens are part of the input tokens: give those too"
                )
            if cached + written > tokens[0]:
                raise BadInput(
                    f"cached tokens ({cached:,}) + cache-write tokens ({written:,}) exceed the input "
                    f"tokens ({tokens[0]:,}) they are part of"
                )
        model = ctx.registry.resolve(dec["model_id"])  # an old id may be an alias now
        tin = tokens[0] if tokens[0] is not None else dec["input_tokens"]
        tout = tokens[1] if tokens[1] is not None else dec["output_tokens"]
        if model is not None and (tokens[0] is not None or tokens[1] is not None):
            check_token_limits(model, tokens[0], tokens[1], tin, tout)
        if cost is not None:
            actual = cost
        elif tokens[0] is not None or tokens[1] is not None:
            o = ctx.reach.offer(model.id) if model is not None else None
            if o is not None and model is not None:
                from modelwise.core.providers import priced_as

                model = priced_as(model, o)  # as the offer it was routed to (a local one is free)
            if model is None or not model.price_known:
                raise BadInput(
                    f"model {dec['model_id']!r} is not in the registry, so its price is unknown; "
                    "give the actual cost instead of tokens"
                    if model is None
                    else f"the price of model {dec['model_id']!r} is unknown; give the actual cost "
                    "instead of tokens"
                )
            actual = model.cost_of(tin, tout, cached, written, long_cache_write_tokens=long_written)
        else:
            actual = dec["estimated_cost"]
        previous = dec["actual_cost"] if correct else dec["reserved"]
        alerts = budget_policy.settlement_alerts(
            ctx.settings, what, sum(spent.values()), previous, actual
        )
        return Settlement(outcome, latency_ms, tokens[0], tokens[1], actual, alerts, stored_reason)

    now = ctx.clock()
    return ctx.settle(decision_id, timestamp(now), now.timestamp(), make, correct)


def submit_outcome(ctx: Context, decision_id: str, outcome: str, **kw: Any) -> Future:
    """`record_outcome` on the group-commit writer thread (see `submit_task`)."""
    return ctx.submit(record_outcome, ctx, decision_id, outcome, **kw)


def submit_settlement(ctx: Context, decision_id: str, outcome: str, **kw: Any) -> Future:
    """`submit_outcome` for the gateway's settlement of a call it made: nobody is told of its result
    (the client has its answer), so it commits without waiting for the disk (`Context.submit_unacknowledged`;
    until it is settled, the call's worst case stays reserved). Its result is the ledger's row of the
    decision, not made into the answer of `record_outcome`: nobody reads it."""
    return ctx.submit_unacknowledged(settle_outcome, ctx, decision_id, outcome, **kw)


def evaluate(
    ctx: Context,
    path: str | Path,
    folds: int = 5,
    weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
    sweep: int = 21,
    seed: int = 0,
) -> dict[str, Any]:
    """`modelwise evaluate FILE`: replay per-prompt outcome data with k-fold cross-validation (docs/design.md,
    "Outcomes and learning").
    Reads nothing from, and writes nothing to, the ledger."""
    from modelwise.evaluation import evaluate, evaluation_settings
    from modelwise.importers.outcomes import read_outcomes

    w = ctx.parse_weights(weights)
    data = read_outcomes(path)
    settings = evaluation_settings(ctx.settings, data.task_types, configured_tier_tasks(ctx))
    result = evaluate(
        data, ctx.registry, settings, w, folds=folds, sweep=sweep, seed=seed,
        vocabulary=ctx.settings.task_types,
    )
    result["file"] = str(path)
    return result


def configured_tier_tasks(ctx: Context) -> set[str]:
    """Task types in the tiers that the config file names (evaluate keeps their floors; every other
    task type of an outcome file gets no tier floor)."""
    cfg = ctx.paths.config
    if not cfg.exists():
        return set()
    import tomllib

    try:
        with open(cfg, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    named: set[str] = set()
    for name in (data.get("tiers") or {}):
        tier = ctx.settings.tier_named(name)
        if tier is not None:
            named.update(tier.tasks)
    return named
