"""Routing as a use case: a caller's task validated into a `Task`, planned against the day's spend
(`core.planning.plan`) inside the ledger's admission transaction, and answered as the decision's JSON
object (the wire contract of `modelwise.wire.RouteOut`). Also the gateway's calls, batches and the
group-commit path. Redaction always runs before any write transaction opens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelwise.app.values import Scrubbed, parse_constraints, random_suffix, timestamp
from modelwise.core import budget as budget_policy
from modelwise.core.calls import affordable_output, output_ceiling
from modelwise.core.errors import BadInput, Refused
from modelwise.core.planning import Decision, Plan, Task, plan
from modelwise.core.redaction import for_storage, redact_identifier
from modelwise.core.routing import DRY_RUN, REFUSED, ROUTED, Choice, money
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints, without
from modelwise.core.settings import Weights
from modelwise.ledger import NewDecision

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelwise.app.context import Context

TASK_KEYS = frozenset(
    {"type", "description", "budget", "agent", "constraints", "requestId", "dryRun", "weights", "anyProvider"}
)


def new_decision_id(now: datetime) -> str:
    """`dec_` + the time in milliseconds (hex, so ids sort by time) + 10 random hex digits."""
    return "dec_" + f"{int(now.timestamp() * 1000):011x}" + random_suffix(5)


def plan_task(ctx: Context, task: Task, spent_by_tier: Mapping[str, float] | None) -> Plan:
    """The plan for `task` against the day's spend per tier (None: no budget check)."""
    ranking = ctx.ranking(task.type, task.weights, task.constraints, any_provider=task.any_provider)
    tin, tout = ctx.estimate_tokens(task.type, task.description)
    return plan(ranking, tin, tout, task.budget, ctx.settings, spent_by_tier)


def dry_plan(ctx: Context, task: Task) -> Plan:
    """The plan a route of `task` would make now, today's spend read once (nothing written)."""
    day = ctx.today().isoformat()
    spent = ctx.ledger.spent_by_tier(day) if ctx.ledger_exists() else {}
    return plan_task(ctx, task, spent)


def dry_route(
    ctx: Context, task: Task, top: int | None = None, scrubbed: Scrubbed | None = None
) -> tuple[Plan, dict[str, Any]]:
    """A dry run of `task`: its plan against today's spend and the decision's JSON object it would
    give (status `dry-run`, `wouldBe` the status it would have); nothing is written."""
    if scrubbed is None:
        scrubbed = scrub(ctx, task.description, task.agent, task.request_id, dry_run=True)
    _, agent, request_id = scrubbed
    restricted = ctx.restricted(task.any_provider)
    now = ctx.clock()
    p = dry_plan(ctx, task)
    response = decision_json(
        ctx, p, decision_id=None, request_id=request_id, agent=agent, constraints=task.constraints,
        now=now, warnings=warnings_of(ctx, p, restricted), top=top, restricted=restricted,
    )
    response["wouldBe"] = response["status"]
    response["status"] = DRY_RUN
    return p, response


def warnings_of(ctx: Context, p: Plan, restricted: bool) -> list[str]:
    """What a decision warns about: the choice's own warnings, an advisory routing (no provider
    configured), a winner from outside the reachable models, the day's spend past the alert threshold."""
    warnings = list(p.choice.warnings)
    if not ctx.reach.active:
        from modelwise.core.providers import ADVISORY

        warnings.append(ADVISORY)
    elif not restricted and p.winner is not None:
        why = ctx.reach.unreachable.get(p.winner.model.id)
        if why is not None:
            warnings.append(f"{p.winner.model.name} was chosen from the whole registry: {why}")
    s = ctx.settings
    after = p.spent_after
    share = after / s.daily_budget if s.daily_budget else 1.0
    if share >= s.alert_threshold:
        warnings.append(
            f"today's spend {money(after)} is {share:.0%} of the {money(s.daily_budget)} daily budget"
        )
    return warnings


def decision_json(
    ctx: Context,
    p: Plan,
    *,
    decision_id: str | None,
    request_id: str | None,
    agent: str | None,
    constraints: Constraints,
    now: datetime,
    warnings: list[str],
    top: int | None,
    restricted: bool,
    callable_only: bool = False,
) -> dict[str, Any]:
    """The `Decision` a plan makes, as its JSON object (`route --json`, `POST /route`, the ledger's
    detail): the offer of the winner and of each candidate row named as routing would call them.
    `callable_only`: the rows of the models the call could have gone to (a gateway call's)."""
    w = p.winner
    offer = ctx.offer_for(w.model) if w else None
    rows = p.rows(top, callable_only)
    reach = ctx.reach
    for row in rows:
        o = reach.offers.get(row["model"])
        if o is None and not restricted:
            m = ctx.registry.get(row["model"])
            o = ctx.offer_for(m) if m is not None else None
        row["provider"] = o.provider if o is not None else None
    return Decision(
        p, decision_id, request_id, timestamp(now), agent, constraints, ctx.settings.daily_budget, warnings,
        offer.provider if offer else None, offer.upstream_id if offer else None, rows,
    ).to_json()


def route_task(
    ctx: Context,
    task_type: str,
    description: str = "",
    budget: float | None = None,
    *,
    agent: str | None = None,
    request_id: str | None = None,
    constraints: Constraints | Mapping[str, Any] | None = None,
    weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
    dry_run: bool = False,
    all_candidates: bool = False,
    any_provider: bool | None = None,
    scrubbed: Scrubbed | None = None,
) -> dict[str, Any]:
    """Route one task and record the decision (docs/design.md, Routing). Returns the JSON object of
    `route --json`; a refusal is recorded and returned with status `refused` (the CLI exits 3, HTTP
    answers 402). `any_provider`: consider the whole registry, not only the models an enabled provider
    reaches (None: the config's `any_provider`). `scrubbed`: the redactions of this task's description,
    agent and request id, made beforehand by `scrub` (the group-commit path does so on the caller's
    thread, outside the batch transaction)."""
    task = ctx.task(
        task_type, description, budget, agent=agent, request_id=request_id, constraints=constraints,
        weights=weights, any_provider=any_provider, dry_run=dry_run,
    )
    return route(ctx, task, all_candidates=all_candidates, scrubbed=scrubbed)


def route(
    ctx: Context, task: Task, *, all_candidates: bool = False, scrubbed: Scrubbed | None = None
) -> dict[str, Any]:
    """Route a validated task (see `route_task`)."""
    # redaction runs here, before any write transaction opens (never inside `make`)
    if scrubbed is None:
        scrubbed = scrub(ctx, task.description, task.agent, task.request_id, dry_run=task.dry_run)
    stored, agent, request_id = scrubbed
    restricted = ctx.restricted(task.any_provider)
    top = None if all_candidates else 10
    if task.dry_run:
        return dry_route(ctx, task, top, scrubbed)[1]
    ctx.ledger  # noqa: B018 - open (or create) it first: its zone names the day below
    now = ctx.clock()
    day = budget_policy.budget_day(now, ctx.tz).isoformat()
    settings = ctx.settings
    # ranked before the write transaction opens (ranking may read what outcomes taught)
    ranking = ctx.ranking(task.type, task.weights, task.constraints, any_provider=task.any_provider)
    tin, tout = ctx.estimate_tokens(task.type, task.description)

    def make(spent: Mapping[str, float]) -> NewDecision:
        decision_id = new_decision_id(now)
        p = plan(ranking, tin, tout, task.budget, settings, spent)
        choice = p.choice
        response = decision_json(
            ctx, p, decision_id=decision_id, request_id=request_id, agent=agent,
            constraints=task.constraints, now=now, warnings=warnings_of(ctx, p, restricted), top=top,
            restricted=restricted,
        )
        after = p.spent_after
        alerts = []
        if choice.status == REFUSED and choice.refusal_kind == "budget":
            # the reason names what ran out: the tier's allocation or the daily budget
            alerts.append((1.0, after, settings.daily_budget, "refused: " + choice.reason))
        else:
            alerts.extend(_threshold_alerts(ctx, after))
        w = choice.winner
        return NewDecision(
            id=decision_id, request_id=request_id, ts=response["timestamp"], ts_unix=now.timestamp(),
            day=day, task_type=task.type, tier=p.tier.name, agent=agent,
            model_id=w.model.id if w else None, model_name=w.model.name if w else None,
            status=choice.status, reserved=response["estimatedCost"] if choice.status != REFUSED else 0.0,
            estimated_cost=response["estimatedCost"], input_tokens=p.tin, output_tokens=p.tout,
            desc_chars=len(task.description), budget=task.budget, score=w.total if w else None,
            description=stored, response=response, alerts=alerts,
        )

    response, replayed = ctx.admit(day, request_id, make)
    if replayed:
        response = dict(response)
        response["replayed"] = True
    return response


def _threshold_alerts(ctx: Context, after: float) -> list[tuple[float, float, float, str]]:
    daily = ctx.settings.daily_budget
    return [
        (t, after, daily, f"spend reached {t:.0%} of the {money(daily)} daily budget")
        for t in budget_policy.crossed(ctx.settings, after)
    ]


def scrub(ctx: Context, description: Any, agent: Any, request_id: Any, *, dry_run: bool = False) -> Scrubbed:
    """What the ledger keeps of a task's free text: the description as `store_descriptions` says
    (nothing for a dry run, which stores nothing), and the agent and request id with their secrets
    replaced by stable markers. Linear in the text; call it outside any transaction. Values of the
    wrong type are passed through (validation rejects them)."""
    stored = None
    if not dry_run and isinstance(description, str):
        stored = for_storage(description, ctx.settings.store_descriptions)
    if isinstance(agent, str):
        agent = redact_identifier(agent)
    if isinstance(request_id, str):
        request_id = redact_identifier(request_id)
    return Scrubbed(stored, agent, request_id)


# why a gateway call needs a capability (the request's own parts)
_NEEDS = {"function_calling": "it sends tools", "vision": "it sends images"}


def route_call(
    ctx: Context,
    task_type: str,
    input_tokens: int,
    requested_output: int | None = None,
    *,
    model_id: str | None = None,
    agent: str | None = None,
    type_from: str | None = None,
    capabilities: Sequence[str] = (),
    exclude: Collection[str] = (),
    avoid_providers: Collection[str] = (),
    fallback_from: Mapping[str, Any] | None = None,
    api: str = "openai",
    cache_writes: bool = False,
    long_cache_writes: bool = False,
) -> dict[str, Any]:
    """Route a model call the gateway is about to make and reserve its worst case: `input_tokens` (a
    conservative count) plus the most output the task budget, the tier and the day leave (at most
    `requested_output`, the model's maximum output and its context window). The answer is that of
    `route_task` with `maxTokens`, the output to allow upstream. `model_id`: this model as asked
    (budget-checked, not ranked); `type_from`: how the task type was found, kept as `taskTypeFrom`;
    `api`: the wire format the call is made in (only models called in it are candidates);
    `cache_writes`: the request may write its input to the prompt cache, so the reservation prices
    the input at the cache-write price where that is higher (`long_cache_writes`: at the price of a
    write kept for an hour, twice the input's).
    `capabilities`: what the request needs (tools: function_calling, images: vision); a request no
    model can serve (those, or a context window that holds the messages) is BadInput. When nothing
    fits, raises Refused and records nothing.

    A fallback attempt leaves out the models in `exclude` and the providers in `avoid_providers`
    (they failed or cool down) and is admitted like any call, within what is left; `fallback_from`
    (the attempt before it) is kept in the decision. When those leave no eligible model, Refused
    has kind `excluded`."""
    task = ctx.task(task_type, "", None, agent=agent)
    agent = None if task.agent is None else redact_identifier(task.agent)  # before the write transaction
    settings = ctx.settings
    # only models the gateway can call: reachable, in the call's wire format
    ranking = ctx.ranking(task.type, task.weights, any_provider=False, api=api)
    if capabilities:
        needs = tuple(sorted(set(capabilities)))
        capable = ctx.ranking(task.type, task.weights, Constraints(capabilities=needs), any_provider=False,
                              api=api)
        if ranking.nofloor_list and not capable.nofloor_list:
            why = "; ".join(_NEEDS.get(c, c) for c in needs)
            raise BadInput(
                f"the request needs {' and '.join(needs)} ({why}), "
                f"which no model the gateway can call for {task.type} has"
            )
        ranking = capable
    asked = None
    if model_id is not None:
        asked = ranking.entry(model_id)
        if asked is None:
            raise BadInput(f"model {model_id!r} is not one modelwise can route to")
        missing = [c for c in capabilities if c not in asked.model.capabilities]
        if missing:
            raise BadInput(f"{asked.model.name} lacks {' and '.join(missing)}, which the request needs "
                           f"({'; '.join(_NEEDS.get(c, c) for c in missing)})")
    elif ranking.nofloor_list and not any(
        e.ctx is None or e.ctx > input_tokens for e in ranking.nofloor_list
    ):
        largest = max(e.ctx or 0 for e in ranking.nofloor_list)
        raise BadInput(
            f"the messages (about {input_tokens:,} tokens) leave no room for an answer in any eligible "
            f"model's context window (the largest is {largest:,} tokens)"
        )
    elif exclude or avoid_providers:
        offers = ctx.reach.offers
        left = without(ranking, lambda s: s.model.id in exclude or (
            (o := offers.get(s.model.id)) is not None and o.provider in avoid_providers))
        if ranking.nofloor_list and not left.nofloor_list:
            err = Refused("every eligible model failed in this call or is cooling down after failures")
            err.kind = "excluded"
            raise err
        ranking = left
    ctx.ledger  # noqa: B018 - its zone names the day
    now = ctx.clock()
    day = budget_policy.budget_day(now, ctx.tz).isoformat()
    granted = 0

    def make(spent: Mapping[str, float]) -> NewDecision:
        nonlocal granted
        if asked is not None:
            p = plan(ranking, input_tokens, 1, task.budget, settings, spent)
            assert p.room is not None
            cap = min(task.budget, p.room.limit)
            what = budget_policy.limited_by(settings, p.tier, p.room)
            p.choice = Choice(ROUTED, asked, None, asked.estimated_cost(input_tokens, 1), "asked for by name")
            if p.choice.estimated_cost > cap:
                p.choice = Choice(REFUSED, None, None, 0.0, f"{asked.model.name} does not fit: {what} "
                                  f"leaves {money(max(cap, 0.0))}", refusal_kind="budget")
        else:
            allowance = settings.tokens_for(task.type)[1]
            wanted = allowance if requested_output is None else min(requested_output, allowance)
            p = plan(ranking, input_tokens, max(wanted, 1), task.budget, settings, spent)
            assert p.room is not None
            cap = min(task.budget, p.room.limit)
        e = p.winner
        out = -1

        def worst(tin: int, tout: int) -> float:
            assert e is not None
            cost = e.estimated_cost(tin, tout)
            if long_cache_writes:
                cost = max(cost, e.model.cost_of(tin, tout, 0, tin, long_cache_write_tokens=tin))
            elif cache_writes and e.model.cache_write_per_1m is not None:
                cost = max(cost, e.model.cost_of(tin, tout, 0, tin))
            return cost

        if e is not None:
            ceiling = output_ceiling(requested_output, e.model.max_output_tokens, e.model.context_window,
                                     input_tokens)
            if ceiling < 1:
                raise BadInput(
                    f"the messages (about {input_tokens:,} tokens) leave no room for an answer in "
                    f"{e.model.name}'s context window of {e.model.context_window:,} tokens"
                )
            out = affordable_output(worst, input_tokens, cap, ceiling)
        if e is None or out < 1:
            err = Refused(p.choice.reason if e is None else f"{e.model.name}: no output fits {money(cap)}")
            err.kind = p.choice.refusal_kind if e is None else "budget"
            raise err
        granted = out
        p.tout = out
        p.choice.estimated_cost = worst(input_tokens, out)
        response = decision_json(
            ctx, p, decision_id=new_decision_id(now), request_id=None, agent=agent,
            constraints=NO_CONSTRAINTS, now=now, warnings=list(p.choice.warnings), top=3,
            restricted=ctx.restricted(False), callable_only=True,  # the models it could fall back to
        )
        response["via"] = "gateway"  # the console's gateway view finds the calls by it
        if type_from is not None:
            response["taskTypeFrom"] = type_from
        if fallback_from is not None:
            response["fallbackFrom"] = dict(fallback_from)
        return NewDecision(
            id=response["decisionId"], request_id=None, ts=response["timestamp"], ts_unix=now.timestamp(),
            day=day, task_type=task.type, tier=p.tier.name, agent=agent, model_id=e.model.id,
            model_name=e.model.name, status=p.choice.status, reserved=response["estimatedCost"],
            estimated_cost=response["estimatedCost"], input_tokens=input_tokens, output_tokens=out,
            desc_chars=0, budget=task.budget, score=e.total, description=None, response=response,
            alerts=_threshold_alerts(ctx, p.spent_after),
        )

    response, _ = ctx.admit(day, None, make)
    return {**response, "maxTokens": granted}


def route_tasks(
    ctx: Context,
    tasks: Iterable[Mapping[str, Any]],
    concurrency: int = 8,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Route many tasks concurrently (the brief's batch pattern); answers in input order. A task that
    is a bad input gives {"error": message} in its place; the others are still routed. `progress()` is
    called once per task as it finishes (from the worker threads)."""
    items = list(tasks)
    if concurrency < 1:
        raise BadInput("concurrency must be at least 1")

    def one(task: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return route_mapping(ctx, task)
        except BadInput as exc:
            return {"error": str(exc), "status": "invalid"}
        finally:
            if progress is not None:
                progress()

    if concurrency == 1 or len(items) <= 1:
        return [one(t) for t in items]
    # Worker threads of this call only, each closing its ledger connection as it ends: a thread pool
    # made per call would leave one SQLite connection (two descriptors) per thread behind every batch.
    results: list[Any] = [None] * len(items)
    failures: dict[int, BaseException] = {}
    todo = iter(range(len(items)))
    take = threading.Lock()

    def work() -> None:
        try:
            while True:
                with take:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    results[i] = one(items[i])
                except BaseException as exc:  # raised below, the first in input order (as pool.map)
                    failures[i] = exc
        finally:
            ctx.release_thread()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(concurrency, len(items)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[min(failures)]
    return results


def _mapping_keys(task: Any) -> Mapping[str, Any]:
    if not isinstance(task, Mapping):
        raise BadInput("a task must be an object with at least a 'type'")
    unknown = set(task) - TASK_KEYS
    if unknown:
        raise BadInput(f"unknown task key(s): {', '.join(sorted(unknown))}")
    if "type" not in task:
        raise BadInput("a task needs a 'type'")
    return task


def route_mapping(ctx: Context, task: Mapping[str, Any], scrubbed: Scrubbed | None = None) -> dict[str, Any]:
    """Route a task given as its JSON object (`type`, `description`, `budget`, ...: `wire.TaskIn`)."""
    _mapping_keys(task)
    return route_task(
        ctx,
        task["type"],
        task.get("description") or "",
        task.get("budget"),
        agent=task.get("agent"),
        request_id=task.get("requestId"),
        constraints=task.get("constraints"),
        weights=task.get("weights"),
        dry_run=bool(task.get("dryRun", False)),
        any_provider=task.get("anyProvider"),
        scrubbed=scrubbed,
    )


def scrub_mapping(ctx: Context, task: Any) -> Scrubbed | None:
    """`scrub` for a task given as a mapping (`type`, `description`, `agent`, `requestId`, ...); None
    for what is not a mapping."""
    if not isinstance(task, Mapping):
        return None
    return scrub(
        ctx, task.get("description") or "", task.get("agent"), task.get("requestId"),
        dry_run=bool(task.get("dryRun", False)),
    )


def validate_task(ctx: Context, task: Any) -> None:
    """Check a task mapping exactly as `route_mapping` would, routing and writing nothing. Raises
    BadInput saying what is wrong."""
    _mapping_keys(task)
    if not isinstance(task.get("dryRun", False), bool):
        raise BadInput("dryRun must be true or false")
    if not isinstance(task.get("anyProvider", False), bool | None):
        raise BadInput("anyProvider must be true or false")
    ctx.validate(
        task["type"], task.get("description") or "", task.get("budget"), task.get("agent"),
        task.get("requestId"), task.get("weights"),
    )
    ctx.known_constraints(parse_constraints(task.get("constraints")))


def validate_tasks(ctx: Context, tasks: Sequence[Any]) -> None:
    """Validate every task before any is routed; the first bad one raises BadInput naming its index."""
    for i, task in enumerate(tasks):
        try:
            validate_task(ctx, task)
        except BadInput as exc:
            raise BadInput(f"task {i}: {exc}") from None


def submit_task(ctx: Context, task: Mapping[str, Any]) -> Future:
    """Route a task mapping on the group-commit writer thread: validation, routing and the reservation
    happen there, inside a batch transaction; the Future resolves with the answer of `route_mapping` (or
    its BadInput) only after that transaction commits. Without group commit it resolves at once from the
    calling thread. Redaction runs on the calling thread: the writer runs the job inside its batch
    transaction, where a long description would hold the ledger's write lock for every other process."""
    if not ctx.group_commit_enabled:
        return ctx.submit(route_mapping, ctx, task)
    return ctx.submit(route_mapping, ctx, task, scrub_mapping(ctx, task))


def submit_call(
    ctx: Context, task_type: str, input_tokens: int, requested_output: int | None = None, **kw: Any
) -> Future:
    """`route_call` on the group-commit writer thread (see `submit_task`)."""
    return ctx.submit(route_call, ctx, task_type, input_tokens, requested_output, **kw)
