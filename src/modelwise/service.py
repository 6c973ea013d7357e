"""The one façade every surface goes through: the brief's TokenOptimizationService.

It loads the registry and the config, opens the ledger, routes tasks (validating them first, so a bad
input writes nothing), records outcomes and reports statistics."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from modelwise.core import budget as budget_policy
from modelwise.core.calibration import EMPTY, Calibration, Observed
from modelwise.core.errors import BadInput
from modelwise.core.models import Registry
from modelwise.core.redaction import for_storage
from modelwise.core.routing import (
    DRY_RUN,
    REFUSED,
    Choice,
    candidate_rows,
    decide,
    flip_point,
    money,
    weight_flips,
)
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints, Ranking, rank_models
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import tier_of
from modelwise.ledger import Ledger, NewDecision, Settlement, open_ledger
from modelwise.paths import Paths, config_path, resolve

Clock = Callable[[], datetime]

OUTCOMES = ("success", "failure", "error")
MAX_DESCRIPTION = 1_000_000
MAX_NAME = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


def _finite_number(value: Any, what: str, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{what} must be a number, not {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise BadInput(f"{what} must be a finite number, not {value!r}")
    if x < 0 or (positive and x == 0 and not allow_zero):
        raise BadInput(f"{what} must be {'positive' if positive else 'zero or more'}, not {value!r}")
    return x


def _parse_constraints(c: Constraints | Mapping[str, Any] | None) -> Constraints:
    if c is None:
        return NO_CONSTRAINTS
    if isinstance(c, Constraints):
        return c
    if not isinstance(c, Mapping):
        raise BadInput("constraints must be an object {minQuality, maxLatencyMs, capabilities}")
    unknown = set(c) - {"minQuality", "maxLatencyMs", "capabilities", "min_quality", "max_latency_ms"}
    if unknown:
        raise BadInput(f"constraints: unknown key(s) {', '.join(sorted(unknown))}")
    mq = c.get("minQuality", c.get("min_quality"))
    ml = c.get("maxLatencyMs", c.get("max_latency_ms"))
    caps = c.get("capabilities") or ()
    if mq is not None:
        mq = _finite_number(mq, "constraints.minQuality")
        if mq > 1:
            raise BadInput(f"constraints.minQuality must be between 0 and 1, not {mq:g}")
    if ml is not None:
        ml = _finite_number(ml, "constraints.maxLatencyMs", positive=True, allow_zero=False)
    if isinstance(caps, str) or not all(isinstance(x, str) and x for x in caps):
        raise BadInput("constraints.capabilities must be a list of capability names")
    return Constraints(mq, ml, tuple(sorted(set(caps))))


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class TokenOptimizationService:
    """Route tasks to models within budget, record outcomes and report, over one registry and ledger.

    Paths default as SPEC 5 and 7 say (flags > environment > config > platformdirs). `clock` returns an
    aware datetime (inject one to test midnight)."""

    def __init__(
        self,
        registry: str | Path | Registry | None = None,
        ledger: str | Path | None = None,
        config: str | Path | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
    ):
        cfg_path, explicit = config_path(config)
        if settings is None:
            from modelwise.loading import load_settings

            settings, from_config = load_settings(cfg_path, explicit)
        else:
            from_config = {}
        self.settings = settings
        reg_arg = None if isinstance(registry, Registry) else registry
        self.paths: Paths = resolve(cfg_path, explicit, reg_arg, ledger, from_config)
        if isinstance(registry, Registry):
            self.registry = registry
        else:
            from modelwise.loading import load_registry

            self.registry = load_registry(self.paths.registry, self.paths.cache)
        self.clock: Clock = clock or utc_now
        self.tz = _zone(settings.timezone)
        self._ledger: Ledger | None = None
        self._ledger_lock = threading.Lock()
        self._rankings: dict[tuple, Ranking] = {}
        self._calibration: Calibration = EMPTY
        self._calibration_version = -1
        self._calibration_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened (and migrated) on first use, so a rejected input never creates it."""
        if self._ledger is None:
            with self._ledger_lock:
                if self._ledger is None:
                    self._ledger = open_ledger(self.paths.ledger, self.settings.synchronous)
        return self._ledger

    def ledger_exists(self) -> bool:
        return self._ledger is not None or Path(self.paths.ledger).exists()

    def close(self) -> None:
        self.disable_group_commit()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def __enter__(self) -> TokenOptimizationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def today(self) -> date:
        return budget_policy.budget_day(self.clock(), self.tz)

    def calibration(self) -> Calibration:
        """What outcomes taught so far (refreshed when the ledger has new outcomes)."""
        if not self.settings.learning_enabled or not self.ledger_exists():
            return EMPTY
        version = self.ledger.outcomes_version()
        if version != self._calibration_version:
            with self._calibration_lock:
                if version != self._calibration_version:
                    by_key = {}
                    for model_id, task_type, s, f, e, lat in self.ledger.observations():
                        median = None
                        if lat:
                            n = len(lat)
                            median = lat[n // 2] if n % 2 else (lat[n // 2 - 1] + lat[n // 2]) / 2
                        by_key[(model_id, task_type)] = Observed(s, f, e, median, len(lat))
                    self._calibration = Calibration(by_key, version)
                    self._calibration_version = version
        return self._calibration

    def ranking(
        self,
        task_type: str,
        weights: Weights | None = None,
        constraints: Constraints = NO_CONSTRAINTS,
        calibration: Calibration | None = None,
    ) -> Ranking:
        """Every model scored for a task type, cached per (type, weights, constraints, calibration)."""
        tier = tier_of(self.settings, task_type)
        weights = weights or self.settings.weights
        calib = self.calibration() if calibration is None else calibration
        key = (task_type, weights, constraints, calib.version if calib else -1)
        r = self._rankings.get(key)
        if r is None:
            r = rank_models(self.registry.models, task_type, tier, weights, self.settings, constraints, calib)
            if len(self._rankings) > 256:
                self._rankings.clear()
            self._rankings[key] = r
        return r

    def estimate_tokens(self, task_type: str, description: str) -> tuple[int, int]:
        """SPEC 2: input = ceil(characters / 4) + the type's context allowance; output = its allowance."""
        ctx, out = self.settings.tokens_for(task_type)
        return math.ceil(len(description) / 4) + ctx, out

    # -- validation --------------------------------------------------------------------------------

    def _validate(
        self,
        task_type: Any,
        description: Any,
        budget: Any,
        agent: Any,
        request_id: Any,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None,
    ) -> tuple[str, str, float, str | None, str | None, Weights]:
        if not isinstance(task_type, str) or not task_type:
            raise BadInput("task type must be a non-empty string")
        tier_of(self.settings, task_type)
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise BadInput("description must be a string")
        if len(description) > MAX_DESCRIPTION:
            raise BadInput(f"description is longer than {MAX_DESCRIPTION:,} characters")
        if budget is None:
            task_budget = self.settings.budget_for(task_type)
        else:
            if isinstance(budget, str):
                try:
                    budget = float(budget)
                except ValueError:
                    raise BadInput(f"budget must be a number of USD, not {budget!r}") from None
            task_budget = _finite_number(budget, "budget", positive=True, allow_zero=False)
        for value, what in ((agent, "agent"), (request_id, "requestId")):
            if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_NAME):
                raise BadInput(f"{what} must be a string of 1 to {MAX_NAME} characters")
        return task_type, description, task_budget, agent, request_id, self.parse_weights(weights)

    def parse_weights(self, weights: Weights | str | Sequence[float] | Mapping[str, float] | None) -> Weights:
        if weights is None:
            return self.settings.weights
        if isinstance(weights, Weights):
            return weights
        try:
            if isinstance(weights, str):
                return Weights.parse(weights)
            if isinstance(weights, Mapping):
                base = self.settings.weights.to_json()
                unknown = set(weights) - set(base)
                if unknown:
                    raise ValueError(f"unknown weight(s) {', '.join(sorted(unknown))}")
                base.update(weights)
                return Weights.checked(*(float(v) for v in base.values()))
            values = [float(v) for v in weights]
            if len(values) != 4:
                raise ValueError("weights must be four numbers (capability, performance, availability, cost)")
            return Weights.checked(*values)
        except (TypeError, ValueError) as exc:
            raise BadInput(str(exc)) from None

    # -- routing -----------------------------------------------------------------------------------

    def route_task(
        self,
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
    ) -> dict[str, Any]:
        """Route one task and record the decision (SPEC 4). Returns the JSON object of `route --json`;
        a refusal is recorded and returned with status `refused` (the CLI exits 3, HTTP answers 402)."""
        task_type, description, task_budget, agent, request_id, w = self._validate(
            task_type, description, budget, agent, request_id, weights
        )
        cons = _parse_constraints(constraints)
        tier = tier_of(self.settings, task_type)
        ranking = self.ranking(task_type, w, cons)
        tin, tout = self.estimate_tokens(task_type, description)
        now = self.clock()
        day = budget_policy.budget_day(now, self.tz).isoformat()
        top = None if all_candidates else 10

        def build(spent: Mapping[str, float], decision_id: str | None) -> tuple[dict[str, Any], Choice, float]:
            room = budget_policy.headroom(self.settings, tier, spent)
            choice = decide(ranking, tin, tout, task_budget, room.limit)
            reserved = choice.estimated_cost if choice.status != REFUSED else 0.0
            day_spent_after = sum(spent.values()) + reserved
            warnings = list(choice.warnings)
            if choice.status != REFUSED:
                share = day_spent_after / self.settings.daily_budget if self.settings.daily_budget else 1.0
                if share >= self.settings.alert_threshold:
                    warnings.append(
                        f"today's spend {money(day_spent_after)} is {share:.0%} of the "
                        f"{money(self.settings.daily_budget)} daily budget"
                    )
            response = self._response(
                decision_id, request_id, task_type, tier.name, agent, choice, ranking, tin, tout,
                task_budget, room, reserved, warnings, top, now, cons,
            )
            return response, choice, day_spent_after

        if dry_run:
            spent = self.ledger.spent_by_tier(day) if self.ledger_exists() else {}
            response, choice, _ = build(spent, None)
            response["wouldBe"] = response["status"]
            response["status"] = DRY_RUN
            return response

        stored = for_storage(description, self.settings.store_descriptions)

        def make(spent: Mapping[str, float]) -> NewDecision:
            decision_id = "dec_" + f"{int(now.timestamp() * 1000):011x}" + secrets.token_hex(5)
            response, choice, spent_after = build(spent, decision_id)
            alerts = []
            if choice.status == REFUSED and choice.refusal_kind == "budget":
                alerts.append((1.0, spent_after, self.settings.daily_budget, "daily budget exhausted: " + choice.reason))
            else:
                for t in budget_policy.crossed(self.settings, spent_after):
                    alerts.append(
                        (t, spent_after, self.settings.daily_budget,
                         f"spend reached {t:.0%} of the {money(self.settings.daily_budget)} daily budget")
                    )
            w_ = choice.winner
            return NewDecision(
                id=decision_id,
                request_id=request_id,
                ts=response["timestamp"],
                ts_unix=now.timestamp(),
                day=day,
                task_type=task_type,
                tier=tier.name,
                agent=agent,
                model_id=w_.model.id if w_ else None,
                model_name=w_.model.name if w_ else None,
                status=choice.status,
                reserved=response["estimatedCost"] if choice.status != REFUSED else 0.0,
                estimated_cost=response["estimatedCost"],
                input_tokens=tin,
                output_tokens=tout,
                desc_chars=len(description),
                budget=task_budget,
                score=w_.total if w_ else None,
                description=stored,
                response=response,
                alerts=alerts,
            )

        response, replayed = self._admit(day, request_id, make)
        if replayed:
            response = dict(response)
            response["replayed"] = True
        return response

    def _response(
        self,
        decision_id: str | None,
        request_id: str | None,
        task_type: str,
        tier: str,
        agent: str | None,
        choice: Choice,
        ranking: Ranking,
        tin: int,
        tout: int,
        task_budget: float,
        room: budget_policy.Headroom,
        reserved: float,
        warnings: list[str],
        top: int | None,
        now: datetime,
        constraints: Constraints,
    ) -> dict[str, Any]:
        w = choice.winner
        margin = choice.margin
        return {
            "decisionId": decision_id,
            "requestId": request_id,
            "timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "taskType": task_type,
            "tier": tier,
            "agent": agent,
            "selectedModel": w.model.id if w else None,
            "selectedModelName": w.model.name if w else None,
            "estimatedCost": round(choice.estimated_cost, 10) if w else 0.0,
            "estimatedTokens": {"input": tin, "output": tout},
            "score": round(w.total, 6) if w else None,
            "status": choice.status,
            "reason": choice.reason,
            "warnings": warnings,
            "budget": {
                "task": task_budget,
                "dailyRemaining": round(room.daily_remaining - reserved, 10),
                "tierRemaining": round(room.tier_remaining - reserved, 10),
            },
            "weights": ranking.weights.to_json(),
            "weightsNormalised": dict(zip(ranking.weights.to_json(), (round(x, 6) for x in ranking.normalised), strict=True)),
            "constraints": constraints.to_json(),
            "floor": None if ranking.floor is None else round(ranking.floor, 6),
            "floorDropped": choice.floor_dropped,
            "margin": None if margin is None else round(margin, 6),
            "flip": flip_point(ranking.weights.as_tuple(), w, choice.runner_up) if w else None,
            "candidates": candidate_rows(ranking, choice, tin, tout, task_budget, room.limit, top),
        }

    def explain(
        self,
        task_type: str,
        description: str = "",
        budget: float | None = None,
        *,
        constraints: Constraints | Mapping[str, Any] | None = None,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """The whole breakdown of a dry run, with the flip point of every weight; records nothing."""
        response = self.route_task(
            task_type, description, budget, constraints=constraints, weights=weights, agent=agent,
            dry_run=True, all_candidates=True,
        )
        w = self.parse_weights(weights)
        ranking = self.ranking(task_type, w, _parse_constraints(constraints))
        winner_id = response["selectedModel"]
        flips: list[dict] = []
        if winner_id is not None:
            by_id = {e.model.id: e for e in ranking.entries}
            field_ids = {c["model"] for c in response["candidates"] if c["eligible"]}
            limit = response["budget"]["dailyRemaining"] + response["estimatedCost"]
            tier_limit = response["budget"]["tierRemaining"] + response["estimatedCost"]
            cap = min(response["budget"]["task"], limit, tier_limit)
            tin, tout = response["estimatedTokens"]["input"], response["estimatedTokens"]["output"]
            field = [by_id[i] for i in field_ids if by_id[i].estimated_cost(tin, tout) <= cap]
            flips = weight_flips(w.as_tuple(), by_id[winner_id], field)
        response["flips"] = flips
        return response

    def route_tasks(
        self,
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
                return self.route_mapping(task)
            except BadInput as exc:
                return {"error": str(exc), "status": "invalid"}
            finally:
                if progress is not None:
                    progress()

        if concurrency == 1 or len(items) <= 1:
            return [one(t) for t in items]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, items))

    def route_mapping(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """Route a task given as the JSON object of SPEC 2 (`type`, `description`, `budget`, ...)."""
        if not isinstance(task, Mapping):
            raise BadInput("a task must be an object with at least a 'type'")
        known = {"type", "description", "budget", "agent", "constraints", "requestId", "dryRun", "weights"}
        unknown = set(task) - known
        if unknown:
            raise BadInput(f"unknown task key(s): {', '.join(sorted(unknown))}")
        if "type" not in task:
            raise BadInput("a task needs a 'type'")
        return self.route_task(
            task["type"],
            task.get("description") or "",
            task.get("budget"),
            agent=task.get("agent"),
            request_id=task.get("requestId"),
            constraints=task.get("constraints"),
            weights=task.get("weights"),
            dry_run=bool(task.get("dryRun", False)),
        )

    # -- outcomes ----------------------------------------------------------------------------------

    def record_outcome(
        self,
        decision_id: str,
        outcome: str,
        *,
        latency_ms: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cost: float | None = None,
    ) -> dict[str, Any]:
        """Settle a decision (SPEC 5/6): the actual cost, from a given cost or tokens × the model's prices,
        replaces its reservation. Without either, it settles at the estimate."""
        if outcome not in OUTCOMES:
            raise BadInput(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if not isinstance(decision_id, str) or not decision_id:
            raise BadInput("decision id must be a non-empty string")
        if latency_ms is not None:
            latency_ms = _finite_number(latency_ms, "latency")
        tokens = []
        for value, what in ((input_tokens, "input tokens"), (output_tokens, "output tokens")):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
                    raise BadInput(f"{what} must be a whole number zero or more, not {value!r}")
                value = int(value)
            tokens.append(value)
        if cost is not None:
            cost = _finite_number(cost, "cost")
        if not self.ledger_exists():
            from modelwise.core.errors import UnknownDecision

            raise UnknownDecision(f"unknown decision id {decision_id!r}")

        def make(dec: dict[str, Any]) -> Settlement:
            if cost is not None:
                actual = cost
            elif tokens[0] is not None or tokens[1] is not None:
                model = self.registry.get(dec["model_id"])
                if model is None:
                    raise BadInput(
                        f"model {dec['model_id']!r} is not in the registry, so its price is unknown; "
                        "give the actual cost instead of tokens"
                    )
                tin = tokens[0] if tokens[0] is not None else dec["input_tokens"]
                tout = tokens[1] if tokens[1] is not None else dec["output_tokens"]
                actual = model.cost_of(tin, tout)
            else:
                actual = dec["estimated_cost"]
            return Settlement(outcome, latency_ms, tokens[0], tokens[1], actual)

        now = self.clock()
        ts = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dec = self._settle(decision_id, ts, now.timestamp(), make)
        return self.decision_json(dec)

    # -- reports -----------------------------------------------------------------------------------

    def day_range(self, since: str | None = None, until: str | None = None, all_days: bool = False) -> tuple[str | None, str | None]:
        """Days [from, to] for a report: today by default."""
        if all_days:
            return None, None
        today = self.today()
        start = parse_when(since, self.clock(), self.tz).date().isoformat() if since else today.isoformat()
        end = parse_when(until, self.clock(), self.tz, end=True).date().isoformat() if until else (
            today.isoformat() if not since else None
        )
        return start, end

    def statistics(self, since: str | None = None, until: str | None = None, all_days: bool = False, by: str | None = None) -> dict[str, Any]:
        """The brief's statistics (SPEC 7 `stats --json`)."""
        day_from, day_to = self.day_range(since, until, all_days)
        rows = self.ledger.rollup(day_from, day_to, ("model_id", "status", "agent")) if self.ledger_exists() else []
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
            m = self.registry.get(r["model_id"])
            name = m.name if m else r["model_id"]
            usage[name] = usage.get(name, 0) + r["decisions"]
        usage = dict(sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])))
        today_spent = sum(self.ledger.spent_by_tier(self.today().isoformat()).values()) if self.ledger_exists() else 0.0
        result: dict[str, Any] = {
            "costStatistics": {
                "totalTasks": total_tasks,
                "totalCost": round(total_cost, 10),
                "averageCost": round(total_cost / total_tasks, 10) if total_tasks else 0.0,
                "budgetRemaining": round(self.settings.daily_budget - today_spent, 10),
            },
            "performanceStatistics": {
                "totalTasks": total_tasks,
                "averageLatency": round(lat_sum / lat_n, 3) if lat_n else None,
                "successRate": round(successes / judged, 6) if judged else None,
                "modelUsage": usage,
            },
            "period": {"from": day_from, "to": day_to},
            "refused": sum(r["decisions"] for r in rows if r["status"] == REFUSED),
            "outcomes": outcomes,
        }
        if by == "agent":
            agents: dict[str, dict[str, Any]] = {}
            for r in rows:
                a = agents.setdefault(r["agent"] or "(none)", {"totalTasks": 0, "totalCost": 0.0, "refused": 0, "modelUsage": {}})
                if r["status"] == REFUSED:
                    a["refused"] += r["decisions"]
                    continue
                a["totalTasks"] += r["decisions"]
                a["totalCost"] = round(a["totalCost"] + r["spent"], 10)
                m = self.registry.get(r["model_id"])
                name = m.name if m else r["model_id"]
                a["modelUsage"][name] = a["modelUsage"].get(name, 0) + r["decisions"]
            result["byAgent"] = dict(sorted(agents.items()))
        elif by is not None:
            raise BadInput(f"cannot break statistics down by {by!r} (known: agent)")
        return result

    def cost_statistics(self, **kw: Any) -> dict[str, Any]:
        return self.statistics(**kw)["costStatistics"]

    def performance_statistics(self, **kw: Any) -> dict[str, Any]:
        return self.statistics(**kw)["performanceStatistics"]

    def budget_status(self, day: str | None = None) -> dict[str, Any]:
        """Today's spend against the daily budget and each tier's allocation (reserved vs settled)."""
        day = day or self.today().isoformat()
        rows = self.ledger.rollup(day, day, ("tier",)) if self.ledger_exists() else []
        by_tier = {r["tier"]: r for r in rows}
        tiers = []
        for tier in self.settings.tiers:
            r = by_tier.get(tier.name, {})
            tiers.append(
                {
                    "tier": tier.name,
                    "allocated": budget_policy.allocation(self.settings, tier),
                    "reserved": r.get("reserved") or 0.0,
                    "settled": r.get("settled") or 0.0,
                    "spent": r.get("spent") or 0.0,
                    "decisions": r.get("decisions") or 0,
                }
            )
        spent = sum(t["spent"] for t in tiers)
        return {
            "day": day,
            "dailyBudget": self.settings.daily_budget,
            "spent": spent,
            "remaining": self.settings.daily_budget - spent,
            "alertThreshold": self.settings.alert_threshold,
            "tiers": tiers,
            "alerts": self.ledger.alerts(day, day) if self.ledger_exists() else [],
        }

    def decision_json(self, row: dict[str, Any]) -> dict[str, Any]:
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
        self,
        since: str | None = None,
        until: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        if not self.ledger_exists():
            return []
        now = self.clock()
        s = parse_when(since, now, self.tz).timestamp() if since else None
        u = parse_when(until, now, self.tz, end=True).timestamp() if until else None
        return [
            self.decision_json(r)
            for r in self.ledger.decisions(since=s, until=u, agent=agent, limit=limit, newest_first=newest_first)
        ]

    def decision(self, decision_id: str) -> dict[str, Any]:
        from modelwise.core.errors import UnknownDecision

        row = self.ledger.decision(decision_id) if self.ledger_exists() else None
        if row is None:
            raise UnknownDecision(f"unknown decision id {decision_id!r}")
        out = self.decision_json(row)
        import json

        out["detail"] = json.loads(row["detail"])
        return out

    def models_table(self, task: str | None = None, sort: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The registry as rows (SPEC 7 `models`), with observed values where outcomes exist."""
        if task is not None:
            tier_of(self.settings, task)
        calib = self.calibration()
        rows = []
        for m in self.registry.models:
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
                    "inputPer1M": m.input_per_1m,
                    "outputPer1M": m.output_per_1m,
                    "blendedPer1k": round(m.blended_per_1k, 10),
                    "quality": q,
                    "rated": q is not None,
                    "availability": m.availability,
                    "latencyMs": m.latency_ms,
                    "contextWindow": m.context_window,
                    "capable": task in m.capabilities if task else None,
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
        keys: dict[str, Callable[[dict], Any]] = {
            "id": lambda r: r["id"],
            "name": lambda r: r["name"].lower(),
            "provider": lambda r: ((r["provider"] or ""), r["id"]),
            "quality": lambda r: (-(r["quality"] if r["quality"] is not None else -1), r["id"]),
            "cost": lambda r: (r["blendedPer1k"], r["id"]),
            "price": lambda r: (r["blendedPer1k"], r["id"]),
            "input": lambda r: (r["inputPer1M"], r["id"]),
            "output": lambda r: (r["outputPer1M"], r["id"]),
            "latency": lambda r: (r["latencyMs"] if r["latencyMs"] is not None else math.inf, r["id"]),
            "context": lambda r: (-(r["contextWindow"] or 0), r["id"]),
        }
        if sort is not None:
            if sort not in keys:
                raise BadInput(f"cannot sort by {sort!r} (known: {', '.join(keys)})")
            rows.sort(key=keys[sort])
        if limit is not None:
            if limit < 0:
                raise BadInput("limit must be zero or more")
            rows = rows[:limit]
        return rows

    # -- validation only, and group commit (the HTTP service and `batch`) ---------------------------

    TASK_KEYS = frozenset(
        {"type", "description", "budget", "agent", "constraints", "requestId", "dryRun", "weights"}
    )
    _group_commit: Any = None

    def validate_task(self, task: Any) -> None:
        """Check a task (SPEC 2 mapping) exactly as `route_mapping` would, routing and writing nothing.
        Raises BadInput saying what is wrong."""
        if not isinstance(task, Mapping):
            raise BadInput("a task must be an object with at least a 'type'")
        unknown = set(task) - self.TASK_KEYS
        if unknown:
            raise BadInput(f"unknown task key(s): {', '.join(sorted(unknown))}")
        if "type" not in task:
            raise BadInput("a task needs a 'type'")
        if not isinstance(task.get("dryRun", False), bool):
            raise BadInput("dryRun must be true or false")
        self._validate(
            task["type"], task.get("description") or "", task.get("budget"), task.get("agent"),
            task.get("requestId"), task.get("weights"),
        )
        _parse_constraints(task.get("constraints"))

    def validate_tasks(self, tasks: Sequence[Any]) -> None:
        """Validate every task before any is routed; the first bad one raises BadInput naming its index."""
        for i, task in enumerate(tasks):
            try:
                self.validate_task(task)
            except BadInput as exc:
                raise BadInput(f"task {i}: {exc}") from None

    def enable_group_commit(self, max_batch: int = 256) -> None:
        """Commit concurrent admissions together from one writer thread (ledger.group). Same semantics as
        one transaction per decision; far fewer commits under load. Stopped by `close()`."""
        if self._group_commit is None:
            from modelwise.ledger.group import GroupCommitter

            self._group_commit = GroupCommitter(self.ledger, max_batch=max_batch)

    @property
    def group_commit_enabled(self) -> bool:
        return self._group_commit is not None

    def disable_group_commit(self) -> None:
        group, self._group_commit = self._group_commit, None
        if group is not None:
            group.close()

    def _admit(
        self, day: str, request_id: str | None, make: Callable[[Mapping[str, float]], NewDecision]
    ) -> tuple[dict[str, Any], bool]:
        group = self._group_commit
        if group is not None:
            return group.admit(day, request_id, make)
        return self.ledger.admit(day, request_id, make)

    def _settle(
        self, decision_id: str, ts: str, ts_unix: float, make: Callable[[dict[str, Any]], Settlement]
    ) -> dict[str, Any]:
        group = self._group_commit
        if group is not None:
            if group.on_writer_thread():
                return self.ledger.settle_in_batch(decision_id, ts, ts_unix, make)
            # through the writer, so the pool threads never wait on its write lock
            return group.submit(self.ledger.settle_in_batch, decision_id, ts, ts_unix, make).result()
        return self.ledger.settle(decision_id, ts, ts_unix, make)

    def submit_outcome(self, decision_id: str, outcome: str, **kw: Any) -> Future:
        """`record_outcome` on the group-commit writer thread (see `submit_task`)."""
        group = self._group_commit
        if group is None:
            fut: Future = Future()
            try:
                fut.set_result(self.record_outcome(decision_id, outcome, **kw))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        return group.submit(self.record_outcome, decision_id, outcome, **kw)

    def submit_task(self, task: Mapping[str, Any]) -> Future:
        """Route a task (SPEC 2 mapping) on the group-commit writer thread: validation, routing and the
        reservation happen there, inside a batch transaction; the Future resolves with the answer of
        `route_mapping` (or its BadInput) only after that transaction commits. Without group commit it
        resolves at once from the calling thread."""
        group = self._group_commit
        if group is None:
            fut: Future = Future()
            try:
                fut.set_result(self.route_mapping(task))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        return group.submit(self.route_mapping, task)


def parse_when(text: str | None, now: datetime, tz: tzinfo | None, end: bool = False) -> datetime:
    """`7d`, `24h`, `30m` (ago), `today`, `yesterday`, a date `2026-11-26` (its start, or with `end` the
    start of the next day) or an ISO 8601 time. Raises BadInput."""
    if text is None:
        return now
    t = text.strip().lower()
    units = {"d": 86400, "h": 3600, "m": 60, "w": 7 * 86400}
    if len(t) >= 2 and t[-1] in units and t[:-1].replace(".", "", 1).isdigit():
        return now - timedelta(seconds=float(t[:-1]) * units[t[-1]])
    local_now = now.astimezone(tz)
    if t in ("today", "yesterday"):
        d = local_now.date() - timedelta(days=1 if t == "yesterday" else 0)
        start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
        return start + timedelta(days=1) if end else start
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
            return start + timedelta(days=1) if end else start
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"cannot read the time {text!r} (use 7d, 24h, today, 2026-11-26 or an ISO time)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=local_now.tzinfo)
    return dt


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
