"""Reports as use cases: statistics, the budget's status, recorded decisions, the registry as rows,
spend over the day, savings against a baseline and the audit. They read the ledger and write nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from modelwise.app import observed
from modelwise.app.values import parse_when
from modelwise.core import budget as budget_policy
from modelwise.core.calibration import calibrated_quality, clopper_pearson, underperforms
from modelwise.core.errors import BadInput
from modelwise.core.models import ModelSpec
from modelwise.core.redaction import redact_identifier
from modelwise.core.routing import REFUSED
from modelwise.core.tiers import tier_of

if TYPE_CHECKING:
    from modelwise.app.context import Context


def day_range(ctx: Context, since: str | None = None, until: str | None = None, all_days: bool = False
) -> tuple[str | None, str | None]:
    """Days [from, to] for a report: today by default."""
    if all_days:
        return None, None
    today = ctx.today()
    now = ctx.clock()
    start = (
        parse_when(since, now, ctx.tz, what="since").date().isoformat() if since else today.isoformat()
    )
    if until:
        end: str | None = parse_when(until, now, ctx.tz, end=True, what="until").date().isoformat()
    else:
        end = today.isoformat() if not since else None
    return start, end


def statistics(
    ctx: Context,
    since: str | None = None,
    until: str | None = None,
    all_days: bool = False,
    by: str | None = None,
) -> dict[str, Any]:
    """The brief's statistics (`stats --json`, docs/design.md, "Command line")."""
    day_from, day_to = day_range(ctx, since, until, all_days)
    rows = (
        ctx.ledger.rollup(day_from, day_to, ("model_id", "status", "agent"))
        if ctx.ledger_exists()
        else []
    )
    routed = [r for r in rows if r["status"] != REFUSED]
    total_tasks = sum(r["decisions"] for r in routed)
    total_cost = sum(r["spent"] for r in routed)
    outcomes = sum(r["outcomes"] for r in routed)
    judged = sum(r["successes"] + r["failures"] for r in routed)
    successes = sum(r["successes"] for r in routed)
    lat_n = sum(r["latency_n"] for r in routed)
    lat_sum = sum(r["latency_sum"] for r in routed)
    usage: dict[str, int] = {}
    for r in routed:
        m = ctx.registry.get(r["model_id"])
        name = m.name if m else r["model_id"]
        usage[name] = usage.get(name, 0) + r["decisions"]
    usage = dict(sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])))
    today_spent = (
        sum(ctx.ledger.spent_by_tier(ctx.today().isoformat()).values()) if ctx.ledger_exists() else 0.0
    )
    result: dict[str, Any] = {
        "costStatistics": {
            "totalTasks": total_tasks,
            "totalCost": round(total_cost, 10),
            "averageCost": round(total_cost / total_tasks, 10) if total_tasks else 0.0,
            "budgetRemaining": round(ctx.settings.daily_budget - today_spent, 10),
        },
        "performanceStatistics": {
            "totalTasks": total_tasks,
            "averageLatency": round(lat_sum / lat_n, 3) if lat_n else None,
            "successRate": round(successes / judged, 6) if judged else None,
            "modelUsage": usage,
        },
        "period": {"from": day_from, "to": day_to, "timezone": ctx.zone_name},
        "refused": sum(r["decisions"] for r in rows if r["status"] == REFUSED),
        "outcomes": outcomes,
    }
    if by == "agent":
        agents: dict[str, dict[str, Any]] = {}
        for r in rows:
            a = agents.setdefault(
                r["agent"] or "(none)",
                {"totalTasks": 0, "totalCost": 0.0, "refused": 0, "modelUsage": {}},
            )
            if r["status"] == REFUSED:
                a["refused"] += r["decisions"]
                continue
            a["totalTasks"] += r["decisions"]
            a["totalCost"] = round(a["totalCost"] + r["spent"], 10)
            m = ctx.registry.get(r["model_id"])
            name = m.name if m else r["model_id"]
            a["modelUsage"][name] = a["modelUsage"].get(name, 0) + r["decisions"]
        result["byAgent"] = dict(sorted(agents.items()))
    elif by is not None:
        raise BadInput(f"cannot break statistics down by {by!r} (known: agent)")
    return result


def budget_status(ctx: Context, day: str | None = None) -> dict[str, Any]:
    """Today's spend against the daily budget and each tier's allocation (reserved vs settled)."""
    day = day or ctx.today().isoformat()
    rows = ctx.ledger.rollup(day, day, ("tier",)) if ctx.ledger_exists() else []
    by_tier = {r["tier"]: r for r in rows}
    tiers: list[dict[str, Any]] = []
    for tier in ctx.settings.tiers:
        r = by_tier.get(tier.name, {})
        tiers.append(
            {
                "tier": tier.name,
                "allocated": budget_policy.allocation(ctx.settings, tier),
                "reserved": r.get("reserved") or 0.0,
                "settled": r.get("settled") or 0.0,
                "spent": r.get("spent") or 0.0,
                "decisions": r.get("decisions") or 0,
            }
        )
    spent = sum(t["spent"] for t in tiers)
    return {
        "day": day,
        "dailyBudget": ctx.settings.daily_budget,
        "spent": spent,
        "remaining": ctx.settings.daily_budget - spent,
        "alertThreshold": ctx.settings.alert_threshold,
        "tiers": tiers,
        "alerts": ctx.ledger.alerts(day, day) if ctx.ledger_exists() else [],
    }


def row_json(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    """A stored decision as the export/HTTP object."""
    refused = row["status"] == REFUSED
    return {
        "decisionId": row["id"],
        "requestId": row.get("request_id"),
        "timestamp": row["ts"],
        "day": row["day"],
        "taskType": row["task_type"],
        "tier": row["tier"],
        "agent": row["agent"],
        "selectedModel": row["model_id"],
        "selectedModelName": row["model_name"],
        "estimatedCost": 0.0 if refused else row["estimated_cost"],
        "actualCost": row.get("actual_cost"),
        "status": row["status"],
        "score": row["score"],
        "outcome": row.get("outcome"),
        "latencyMs": row.get("latency_ms"),
        "description": row["description"],
    }


def decisions(
    ctx: Context,
    since: str | None = None,
    until: str | None = None,
    agent: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    now = ctx.clock()
    # even with no ledger
    s = parse_when(since, now, ctx.tz, what="since").timestamp() if since else None
    u = parse_when(until, now, ctx.tz, end=True, what="until").timestamp() if until else None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise BadInput(f"limit must be a whole number zero or more, not {limit!r}")
    if not ctx.ledger_exists():
        return []
    # agents are stored redacted: filter by the stored form
    agent = redact_identifier(agent) if isinstance(agent, str) else agent
    return [
        row_json(ctx, r)
        for r in ctx.ledger.decisions(
            since=s, until=u, agent=agent, limit=limit, newest_first=newest_first
        )
    ]


def decision(ctx: Context, decision_id: str) -> dict[str, Any]:
    from modelwise.core.errors import UnknownDecision

    row = ctx.ledger.decision(decision_id) if ctx.ledger_exists() else None
    if row is None:
        raise UnknownDecision(f"unknown decision id {decision_id!r}")
    out = row_json(ctx, row)
    import json

    out["detail"] = json.loads(row["detail"])
    return out


def models_table(ctx: Context, task: str | None = None, sort: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The registry as rows (the `models` command), with observed values where outcomes exist. Without
    `sort`, best first: by the task's routing score (`score`) with `task`, else by quality, unrated
    models last (ties by id)."""
    if task is not None:
        tier_of(ctx.settings, task)
        scores = {e.model.id: e.total for e in ctx.ranking(task).entries}
    calib = ctx.calibration()
    rows = []
    for m in ctx.registry.models:
        q = m.quality_for(task) if task else m.quality
        obs = None
        if task and calib:
            obs = calib.observed(m.id, task)
        src = (m.source or {}).get("prices") if m.source else None
        rows.append(
            {
                "id": m.id,
                "name": m.name,
                "provider": m.provider,
                "inputPer1M": m.input_per_1m if m.price_known else None,
                "outputPer1M": m.output_per_1m if m.price_known else None,
                "blendedPer1k": round(m.blended_per_1k, 10) if m.price_known else None,
                "priceKnown": m.price_known,
                "free": m.free,
                "quality": q,
                "rated": q is not None,
                "ratingBorrowedFrom": m.rating_borrowed_from if q is not None else None,
                "aliases": list(m.aliases),
                "offers": len(m.offers),
                "availability": m.availability,
                "latencyMs": m.latency_ms,
                "contextWindow": m.context_window,
                "capable": task in m.capabilities if task else None,
                "score": round(scores[m.id], 6) if task and m.id in scores else None,
                "source": src.get("file") if isinstance(src, dict) else None,
                "observed": None
                if obs is None
                else {
                    "outcomes": obs.outcomes,
                    "successes": obs.successes,
                    "failures": obs.failures,
                    "errors": obs.errors,
                    "medianLatencyMs": obs.median_latency_ms,
                },
            }
        )
    if task:
        rows = [r for r in rows if r["capable"]]
    observed.add_observed_to_models(ctx, rows, task)
    keys: dict[str, Callable[[dict], Any]] = {
        "id": lambda r: r["id"],
        "name": lambda r: r["name"].lower(),
        "provider": lambda r: ((r["provider"] or ""), r["id"]),
        "quality": lambda r: (-(r["quality"] if r["quality"] is not None else -1), r["id"]),
        "cost": lambda r: (_or_inf(r["blendedPer1k"]), r["id"]),
        "price": lambda r: (_or_inf(r["blendedPer1k"]), r["id"]),
        "input": lambda r: (_or_inf(r["inputPer1M"]), r["id"]),
        "output": lambda r: (_or_inf(r["outputPer1M"]), r["id"]),
        "latency": lambda r: (r["latencyMs"] if r["latencyMs"] is not None else math.inf, r["id"]),
        "context": lambda r: (-(r["contextWindow"] or 0), r["id"]),
    }
    keys["score"] = lambda r: (-(r["score"] if r["score"] is not None else -math.inf), r["id"])
    if sort is not None:
        if sort not in keys:
            raise BadInput(f"cannot sort by {sort!r} (known: {', '.join(keys)})")
        rows.sort(key=keys[sort])
    else:
        rows.sort(key=keys["score" if task else "quality"])
    if limit is not None:
        if limit < 0:
            raise BadInput("limit must be zero or more")
        rows = rows[:limit]
    return rows


def spend_over_time(ctx: Context, bucket_minutes: int = 15, day: str | None = None) -> dict[str, Any]:
    """The day's spend per time bucket since midnight and its running total (up to now for today,
    the whole day otherwise): {"day", "bucketMinutes", "start", "spent": [...], "cumulative": [...]}."""
    if bucket_minutes <= 0:
        raise BadInput("bucket minutes must be positive")
    today = ctx.today()
    d = date.fromisoformat(day) if day else today
    start = ctx.day_start(d)
    bucket = bucket_minutes * 60.0
    if d == today:
        n = int((ctx.clock() - start).total_seconds() // bucket) + 1
    else:
        n = math.ceil(86400 / bucket)
    n = max(n, 1)
    spent = [0.0] * n
    if ctx.ledger_exists():
        for i, s in ctx.ledger.spend_by_bucket(d.isoformat(), start.timestamp(), bucket):
            spent[min(max(i, 0), n - 1)] += s
    cumulative, run = [], 0.0
    for s in spent:
        run += s
        cumulative.append(run)
    return {
        "day": d.isoformat(),
        "bucketMinutes": bucket_minutes,
        "start": start.isoformat(),
        "spent": spent,
        "cumulative": cumulative,
    }


def savings(ctx: Context, baseline: str | None = None, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    """What the period's decisions cost against sending each of them to a baseline model.

    Actual cost: settled actual, else the estimate (as spend is counted). Baseline cost of a decision:
    its tokens (the outcome's when it recorded them, else the estimate) × the baseline's prices. The
    baseline is `baseline`, else the config's `savings_baseline`, else for each task type what a user
    would otherwise pick: the best-rated priced model capable of it that routing can reach (ties: the
    cheaper, then by id). `days` = calendar days of the period that have decisions; annual = savings /
    days × 365, as the brief's tables annualise one typical day. Refused decisions cost nothing and are
    left out."""
    fixed = None
    rule = "given"
    if baseline is None and ctx.settings.savings_baseline:
        baseline = ctx.settings.savings_baseline
        rule = f"the config's savings_baseline ({ctx.paths.config})"
    if baseline is not None:
        fixed = ctx.registry.resolve(baseline)  # an id or an alias (`gpt-4o`)
        where = "" if rule == "given" else f" ({rule})"
        if fixed is None:
            raise BadInput(
                f"unknown baseline model {baseline!r}{where} (not in the registry {ctx.paths.registry})"
            )
        if not fixed.price_known:
            raise BadInput(f"baseline model {baseline!r}{where} has an unknown price; choose another")
    now = ctx.clock()
    s = parse_when(since, now, ctx.tz, what="since").timestamp() if since else None
    u = parse_when(until, now, ctx.tz, end=True, what="until").timestamp() if until else None
    if s is not None and u is not None and u <= s:
        raise BadInput("--until must be after --since")
    rows = ctx.ledger.savings_rollup(s, u) if ctx.ledger_exists() else []
    best: dict[str, ModelSpec | None] = {}
    pool = ctx.registry.models
    if ctx.restricted():
        pool = ctx.reachable_models()

    def baseline_for(task_type: str) -> ModelSpec | None:
        if fixed is not None:
            return fixed
        if task_type not in best:
            rated = [
                (q, m) for m in pool
                if task_type in m.capabilities and m.price_known
                and (q := m.quality_for(task_type)) is not None
            ]
            best[task_type] = (
                min(rated, key=lambda qm: (-qm[0], qm[1].blended_per_1k, qm[1].id))[1] if rated else None
            )
        return best[task_type]

    days: dict[str, dict[str, Any]] = {}
    used: dict[str, str] = {}
    unpriced = 0
    for r in rows:
        model = baseline_for(r["task_type"])
        if model is None:
            unpriced += r["decisions"]  # no capable model to compare with: left out, never priced at $0
            continue
        used[r["task_type"]] = model.id
        base = model.cost_of(r["input_tokens"], r["output_tokens"])
        d = days.get(r["day"])
        if d is None:
            d = days[r["day"]] = {"day": r["day"], "decisions": 0, "settled": 0}
            d.update(baselineCost=0.0, actualCost=0.0)
        d["decisions"] += r["decisions"]
        d["settled"] += r["settled"]
        d["baselineCost"] += base
        d["actualCost"] += r["actual_cost"]
    by_day = []
    for d in days.values():
        d["savings"] = d["baselineCost"] - d["actualCost"]
        d["savingsPercent"] = _percent(d["savings"], d["baselineCost"])
        by_day.append({k: round(v, 10) if isinstance(v, float) else v for k, v in d.items()})
    baseline_cost = sum(d["baselineCost"] for d in days.values())
    actual_cost = sum(d["actualCost"] for d in days.values())
    saved = baseline_cost - actual_cost
    n_days = len(days)
    per_day = saved / n_days if n_days else 0.0
    return {
        "baseline": {
            "model": fixed.id if fixed else None,
            "rule": rule if fixed else "the best-rated reachable model per task type (by its quality)",
            "byTaskType": dict(sorted(used.items())),
        },
        "period": {
            "since": None if s is None else datetime.fromtimestamp(s, UTC).isoformat(),
            "until": None if u is None else datetime.fromtimestamp(u, UTC).isoformat(),
        },
        "decisions": sum(d["decisions"] for d in days.values()),
        "settled": sum(d["settled"] for d in days.values()),
        "unpriced": unpriced,
        "baselineCost": round(baseline_cost, 10),
        "actualCost": round(actual_cost, 10),
        "savings": round(saved, 10),
        "savingsPercent": _percent(saved, baseline_cost),
        "days": n_days,
        "dailyBaselineCost": round(baseline_cost / n_days, 10) if n_days else 0.0,
        "dailyActualCost": round(actual_cost / n_days, 10) if n_days else 0.0,
        "dailySavings": round(per_day, 10),
        "annualBaselineCost": round(baseline_cost / n_days * 365, 10) if n_days else 0.0,
        "annualActualCost": round(actual_cost / n_days * 365, 10) if n_days else 0.0,
        "annualSavings": round(per_day * 365, 10),
        "byDay": by_day,
    }


def audit(
    ctx: Context, since: str | None = "7d", until: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """The brief's regular audit: spend by day, tier, model and agent; alerts; refused and degraded
    decisions (the newest `limit` of each, with why); corrected outcomes (the newest `limit`
    corrections, each with the outcome first recorded, the values it replaced and its own); and
    underperforming models: those whose observed
    success rate's exact 95% interval lies wholly below their registry quality for a task type (all
    outcomes in the ledger count, as they are what the router learns from)."""
    if limit < 0:
        raise BadInput("limit must be zero or more")
    day_from, day_to = day_range(ctx, since or "7d", until)
    exists = ctx.ledger_exists()
    by = ("day", "tier", "model_id", "agent", "status")
    rows = ctx.ledger.rollup(day_from, day_to, by) if exists else []

    def group(key: str) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            name = r[key] or "(none)"
            g = out.get(name)
            if g is None:
                g = out[name] = {key: name, "decisions": 0, "spent": 0.0, "refused": 0, "degraded": 0}
                g.update(outcomes=0, successes=0, failures=0, errors=0)
            if r["status"] == REFUSED:
                g["refused"] += r["decisions"]
                continue
            g["decisions"] += r["decisions"]
            g["degraded"] += r["decisions"] if r["status"] == "degraded" else 0
            g["spent"] += r["spent"]
            for k in ("outcomes", "successes", "failures", "errors"):
                g[k] += r[k]
        result = []
        for g in out.values():
            g["spent"] = round(g["spent"], 10)
            if key == "model_id":
                m = ctx.registry.get(g[key])
                g["name"] = m.name if m else g[key]
            result.append(g)
        if key == "day":
            return sorted(result, key=lambda g: g[key])
        return sorted(result, key=lambda g: (-g["spent"], g[key]))

    def flagged(status: str) -> list[dict[str, Any]]:
        import json

        found = ctx.ledger.decisions_with_status((status,), day_from, day_to, limit) if exists else []
        out = []
        for d in found:
            detail = json.loads(d["detail"])
            out.append(
                {
                    "decisionId": d["id"],
                    "timestamp": d["ts"],
                    "taskType": d["task_type"],
                    "tier": d["tier"],
                    "agent": d["agent"],
                    "selectedModel": d["model_id"],
                    "estimatedCost": 0.0 if status == REFUSED else d["estimated_cost"],
                    "reason": detail.get("reason"),
                }
            )
        return out

    corrections = []
    for c in ctx.ledger.corrections(day_from, day_to, limit) if exists else []:
        corrections.append(
            {
                "decisionId": c["decision_id"],
                "day": c["day"],
                "taskType": c["task_type"],
                "tier": c["tier"],
                "agent": c["agent"],
                "selectedModel": c["model_id"],
                "estimatedCost": c["estimated_cost"],
                "correctedAt": c["ts"],
                "reason": c["reason"],
                "original": {**_outcome_values(c, "original_"), "recordedAt": c["original_ts"]},
                "previous": _outcome_values(c, "previous_"),
                "corrected": _outcome_values(c, ""),
            }
        )

    calib = ctx.observations()
    under = []
    for (model_id, task_type), obs in sorted(calib.by_key.items()):
        m = ctx.registry.get(model_id)
        q = m.quality_for(task_type) if m else None
        n = obs.successes + obs.failures
        if m is None or q is None or n == 0 or not underperforms(obs, q):
            continue
        p = obs.successes / n
        lo, hi = clopper_pearson(obs.successes, n)  # type: ignore[misc]
        under.append(
            {
                "model": model_id,
                "name": m.name,
                "taskType": task_type,
                "successes": obs.successes,
                "failures": obs.failures,
                "errors": obs.errors,
                "observedRate": round(p, 6),
                "standardError": round((p * (1 - p) / n) ** 0.5, 6),
                "interval": [round(lo, 6), round(hi, 6)],
                "registryQuality": q,
                "calibratedQuality": round(calibrated_quality(q, ctx.settings.prior_strength, obs), 6),
                "shortfall": round(q - p, 6),
            }
        )
    under.sort(key=lambda u: (-u["shortfall"], u["model"], u["taskType"]))
    by_status = {"refused": 0, "degraded": 0, "routed": 0}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["decisions"]
    return {
        "period": {"from": day_from, "to": day_to},
        "decisions": sum(by_status.values()),
        "spent": round(sum(r["spent"] for r in rows if r["status"] != REFUSED), 10),
        "byStatus": by_status,
        "byDay": group("day"),
        "byTier": group("tier"),
        "byModel": group("model_id"),
        "byAgent": group("agent"),
        "alerts": ctx.ledger.alerts(day_from, day_to) if exists else [],
        "refused": flagged(REFUSED),
        "degraded": flagged("degraded"),
        "corrections": corrections,
        "underperforming": under,
    }


def _or_inf(price: float | None) -> float:
    """An unknown price sorts after every known one (it is never taken as $0)."""
    return math.inf if price is None else price


def _outcome_values(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An outcome's values (from a `corrections` row, by column prefix) as JSON."""
    return {
        "outcome": row[prefix + "outcome"],
        "actualCost": row[prefix + "actual_cost"],
        "latencyMs": row[prefix + "latency_ms"],
        "inputTokens": row[prefix + "input_tokens"],
        "outputTokens": row[prefix + "output_tokens"],
    }


def _percent(part: float, whole: float) -> float:
    """part / whole as a percentage (0 when whole is 0)."""
    return round(100.0 * part / whole, 6) if whole else 0.0


def gateway_traffic(ctx: Context, day: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The day's calls through the gateway (decisions `route_call` made, marked `via: gateway` in their
    breakdown), for the console's live view: each call with its model, provider, agent, task type and
    how it was found, its reservation against its actual cost once settled (in flight until then, with
    the output tokens streamed so far when a serve process on this machine publishes them: app.live),
    and the failed attempt it fell back from; spend and calls by provider and by agent. Newest calls
    first, at most `limit` of them; the sums count every call of the day."""
    import json

    from modelwise.app import live as live_calls

    day = day or ctx.today().isoformat()
    live = live_calls.read(live_calls.folder_of(ctx.paths.cache))
    calls: list[dict[str, Any]] = []
    by_provider: dict[str, dict[str, Any]] = {}
    by_agent: dict[str, dict[str, Any]] = {}
    in_flight = failed = 0
    rows = ctx.ledger.decisions(day=day, newest_first=True) if ctx.ledger_exists() else []
    for row in rows:
        detail = json.loads(row["detail"])
        if detail.get("via") != "gateway":
            continue
        outcome = row.get("outcome")
        spent = row["actual_cost"] if outcome is not None else row["reserved"]
        state = "in flight" if outcome is None else "failed" if outcome in ("failure", "error") else "done"
        in_flight += state == "in flight"
        failed += state == "failed"
        provider = detail.get("provider") or "(none)"
        for key, sums in ((provider, by_provider), (row["agent"] or "(none)", by_agent)):
            s = sums.setdefault(key, {"calls": 0, "spent": 0.0, "failed": 0, "inFlight": 0})
            s["calls"] += 1
            s["spent"] = round(s["spent"] + spent, 10)
            s["failed"] += state == "failed"
            s["inFlight"] += state == "in flight"
        if len(calls) < limit:
            calls.append({
                "decisionId": row["id"],
                "timestamp": row["ts"],
                "model": row["model_id"],
                "modelName": row["model_name"],
                "provider": detail.get("provider"),
                "agent": row["agent"],
                "taskType": row["task_type"],
                "taskTypeFrom": detail.get("taskTypeFrom"),
                "state": state,
                "outcome": outcome,
                "reserved": row["reserved"],
                "actualCost": row.get("actual_cost"),
                "maxOutputTokens": row["output_tokens"],
                # the provider's count once settled with it, else the conservative count reserved for
                "inputTokens": row.get("actual_input_tokens") if row.get("actual_input_tokens") is not None
                else row["input_tokens"],
                "outputTokens": row.get("actual_output_tokens")
                if outcome is not None else (live.get(row["id"]) or {}).get("outputTokens"),
                "live": row["id"] in live,
                "latencyMs": row.get("latency_ms"),
                "fallbackFrom": detail.get("fallbackFrom"),
            })
    order = lambda kv: (-kv[1]["spent"], kv[0])  # noqa: E731
    return {
        "day": day,
        "calls": calls,
        "inFlight": in_flight,
        "failed": failed,
        "byProvider": dict(sorted(by_provider.items(), key=order)),
        "byAgent": dict(sorted(by_agent.items(), key=order)),
    }
