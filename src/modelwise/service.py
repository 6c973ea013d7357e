"""The one façade every surface goes through: the brief's TokenOptimizationService.

It loads the registry and the config, opens the ledger, routes tasks (validating them first, so a bad
input writes nothing), records outcomes and reports statistics."""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from concurrent.futures import Future

from modelwise.core import budget as budget_policy
from modelwise.core.calibration import (
    EMPTY,
    Calibration,
    Observed,
    calibrated_availability,
    calibrated_quality,
    clopper_pearson,
    underperforms,
)
from modelwise.core.errors import BadInput
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.redaction import for_storage, redact_identifier
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
from modelwise.ledger import Ledger, MakeSettlement, NewDecision, Settlement, open_ledger
from modelwise.paths import Paths, config_path, resolve

Clock = Callable[[], datetime]

OUTCOMES = ("success", "failure", "error")
MAX_DESCRIPTION = 1_000_000
MAX_NAME = 200
# Bounds of one outcome: beyond them a number is a mistake, and sums of them would leave the range of a
# float (spend `inf`, shown as null) or of SQLite's 64-bit integers.
MAX_TOKENS = 10**12
MAX_COST = 1_000_000.0
MAX_LATENCY_MS = 1e9  # 11.6 days


def random_suffix(nbytes: int) -> str:
    """The random part of a decision id (hex). os.urandom, as secrets uses, without importing secrets."""
    return os.urandom(nbytes).hex()


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


def _check_token_limits(
    model: ModelSpec, given_in: int | None, given_out: int | None, tin: int, tout: int
) -> None:
    """Token counts an outcome reports for `model`: `tin`/`tout` are those it is priced on (the given
    ones, else the decision's estimate). Beyond the model's maximum output or context window they are a
    mistake (a typo would otherwise settle at any price), named in one line with the model's limit."""
    name = f"{model.name} ({model.id})" if model.name != model.id else model.id
    if given_out is not None and model.max_output_tokens is not None and tout > model.max_output_tokens:
        raise BadInput(
            f"output tokens {tout:,} exceed the maximum output of {name}: {model.max_output_tokens:,} tokens"
        )
    if model.context_window is not None and tin + tout > model.context_window:
        counted = " + ".join(
            f"{what} {n:,}{'' if given is not None else ' (estimated)'}"
            for what, n, given in (("input tokens", tin, given_in), ("output tokens", tout, given_out))
        )
        raise BadInput(
            f"{counted} = {tin + tout:,} tokens exceed the context window of {name}: "
            f"{model.context_window:,} tokens"
        )


MAX_REASON = 1000


def _correction_reason(reason: Any) -> str:
    """A correction's reason as stored: one line of printable text, redacted like a description."""
    if not isinstance(reason, str):
        raise BadInput(f"reason must be text, not {reason!r}")
    if len(reason) > MAX_REASON:
        raise BadInput(f"reason must be at most {MAX_REASON:,} characters, not {len(reason):,}")
    if not reason.isprintable():
        raise BadInput("reason must be one line of printable text (no control characters)")
    from modelwise.core.redaction import redact

    return redact(reason)


class Scrubbed(NamedTuple):
    """A task's free text as the ledger keeps it (see `TokenOptimizationService.scrub`)."""

    description: str | None
    agent: str | None
    request_id: str | None


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
            from modelwise.paths import user_cache_dir

            settings, from_config = load_settings(cfg_path, explicit, user_cache_dir())
        else:
            from_config = {}
        self.settings = settings
        self.generation = 0  # how many times `reload` swapped the settings or the registry in
        reg_arg = None if isinstance(registry, Registry) else registry
        self._path_flags = (reg_arg, ledger, isinstance(registry, Registry))
        self.paths: Paths = resolve(cfg_path, explicit, reg_arg, ledger, from_config)
        if isinstance(registry, Registry):
            self.registry = registry
        else:
            from modelwise.loading import load_registry

            self.registry = load_registry(self.paths.registry, self.paths.cache)
        self.clock: Clock = clock or utc_now
        self._tz: tzinfo | None = None
        self._ledger: Ledger | None = None
        self._ledger_lock = threading.Lock()
        self._rankings: dict[tuple, Ranking] = {}
        self._reach: Any = None
        self._reach_models: tuple[ModelSpec, ...] = ()
        self._reach_lock = threading.Lock()
        self._calibration: Calibration = EMPTY
        self._calibration_version = -1
        self._calibration_lock = threading.Lock()
        self._learned = _Learned()

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened (and migrated) on first use, so a rejected input never creates it."""
        if self._ledger is None:
            with self._ledger_lock:
                if self._ledger is None:
                    ledger = open_ledger(self.paths.ledger, self.settings.synchronous, self.new_ledger_zone())
                    configured = self.settings.timezone
                    if configured is not None and configured != ledger.zone:
                        ledger.close()
                        raise BadInput(
                            f"the config's timezone {configured!r} differs from {ledger.zone!r}, the zone "
                            f"ledger {self.paths.ledger} keeps its budget days in: set timezone = "
                            f"{ledger.zone!r} (or remove it), or use a new ledger"
                        )
                    self._ledger = ledger
        return self._ledger

    def new_ledger_zone(self) -> str:
        """The zone a ledger created now would record: the config's `timezone`, else the machine's."""
        from modelwise.zone import machine_zone_name

        return self.settings.timezone or machine_zone_name()

    @property
    def zone_name(self) -> str:
        """The IANA zone of the budget day: the ledger's own once it exists (fixed when it was created,
        whatever this process's `TZ`), else the zone a new ledger would get."""
        if self._ledger is not None or self.ledger_exists():
            return self.ledger.zone
        return self.new_ledger_zone()

    @property
    def tz(self) -> tzinfo:
        """The budget day's zone (see `zone_name`); cached once the ledger is open."""
        if self._tz is not None:
            return self._tz
        from modelwise.zone import zone

        tz = zone(self.zone_name)
        if self._ledger is not None:
            self._tz = tz
        return tz

    def ledger_exists(self) -> bool:
        from modelwise.ledger import ledger_exists

        return self._ledger is not None or ledger_exists(self.paths.ledger)

    def check_ledger(self) -> None:
        """Raise BadLedger when the ledger file is damaged; nothing when there is no ledger yet."""
        if self.ledger_exists():
            self.ledger.check()

    def release_thread(self) -> None:
        """Close the calling thread's ledger connection, if it has one: a short-lived worker thread
        calls this when done (never opens the ledger just to close it)."""
        if self._ledger is not None:
            self._ledger.release()

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
                    self._calibration = self._learned.update(self.ledger)
                    self._calibration_version = self._calibration.version
        return self._calibration

    @property
    def reach(self) -> Any:
        """Which models the enabled providers reach (core.providers.Reach), computed once per service
        from the config and the environment (whether a key variable is set; the key is never read on)."""
        if self._reach is None:
            with self._reach_lock:
                if self._reach is None:
                    self._reach_models, self._reach = self._compute_reach()
        return self._reach

    def _compute_reach(self) -> tuple[tuple[ModelSpec, ...], Any]:
        from modelwise.core import providers as prov
        from modelwise.core.errors import ConfigError

        defs = prov.merge_config(self.settings.providers_config())
        problems = prov.config_model_problems(defs, self.registry._by_id)  # type: ignore[attr-defined]
        if problems:
            raise ConfigError(f"{self.paths.config}: {problems[0]}")
        reach = prov.compute_reach(self.registry.models, prov.resolve(defs, os.environ))
        if not reach.active:
            return self.registry.models, reach
        # the price the router pays is that of the offer it would call
        models = [
            m if (o := reach.offers.get(m.id)) is None else prov.priced_as(m, o) for m in self.registry.models
        ]
        return tuple(models), reach

    def restricted(self, any_provider: bool | None = None) -> bool:
        """Whether routing keeps to the models some enabled provider reaches (else: the whole registry,
        asked for with any_provider, or advisory because no provider is on)."""
        if any_provider is None:
            any_provider = self.settings.any_provider
        return not any_provider and self.reach.active

    def offer_for(self, model: ModelSpec) -> Any:
        """The offer a decision for `model` names: the one its provider would be called through, or
        (outside the reachable set) the model's cheapest listed offer."""
        o = self.reach.offer(model.id)
        if o is not None:
            return o
        from modelwise.core.providers import offers_of

        return min(offers_of(model), key=lambda x: x.blended_per_1m)

    def ranking(
        self,
        task_type: str,
        weights: Weights | None = None,
        constraints: Constraints = NO_CONSTRAINTS,
        calibration: Calibration | None = None,
        any_provider: bool | None = None,
        api: str | None = None,
    ) -> Ranking:
        """Every model scored for a task type, cached per (type, weights, constraints, calibration, the
        set of reachable models). `api`: only models whose offer is called in that wire format."""
        tier = tier_of(self.settings, task_type)
        weights = weights or self.settings.weights
        calib = self.calibration() if calibration is None else calibration
        restricted = self.restricted(any_provider)
        reach_key = self.reach.reachable if restricted else None
        # An outcome of one task type leaves the rankings of the others as they are. Deprecation is judged
        # on today's date in the ledger's zone, so a new day ranks afresh.
        today = self.today().isoformat()
        key = (task_type, weights, constraints, calib.version_for(task_type), today, reach_key, api)
        r = self._rankings.get(key)
        if r is None:
            if restricted:
                unreachable = self.reach.unreachable
                if api is not None:
                    apis = {p.name: p.spec.api for p in self.reach.providers}
                    unreachable = {**unreachable, **{
                        mid: f"its provider {o.provider} is not called in the {api} format"
                        for mid, o in self.reach.offers.items() if apis.get(o.provider) != api
                    }}
                r = rank_models(
                    self._reach_models, task_type, tier, weights, self.settings, constraints, calib,
                    today, unreachable,
                )
            else:
                r = rank_models(
                    self.registry.models, task_type, tier, weights, self.settings, constraints, calib, today
                )
            if len(self._rankings) > 256:
                self._rankings.clear()
            self._rankings[key] = r
        return r

    def known_capabilities(self) -> frozenset[str]:
        """Every capability some model of the registry declares."""
        cached = self.__dict__.get("_capabilities")
        if cached is None or cached[0] is not self.registry:
            caps: set[str] = set()
            for m in self.registry.models:
                caps |= m.capabilities
            cached = self.__dict__["_capabilities"] = (self.registry, frozenset(caps))
        return cached[1]

    def _known_constraints(self, cons: Constraints) -> Constraints:
        """`cons`, once every capability it requires is one the registry knows (a typo is bad input,
        not a refusal for want of a model)."""
        unknown = sorted(set(cons.capabilities) - self.known_capabilities())
        if unknown:
            raise BadInput(
                f"unknown capabilit{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
                f"the registry's models have: {', '.join(sorted(self.known_capabilities()))}"
            )
        return cons

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
        any_provider: bool | None = None,
        scrubbed: Scrubbed | None = None,
    ) -> dict[str, Any]:
        """Route one task and record the decision (SPEC 4). Returns the JSON object of `route --json`;
        a refusal is recorded and returned with status `refused` (the CLI exits 3, HTTP answers 402).
        `any_provider`: consider the whole registry, not only the models an enabled provider reaches
        (None: the config's `any_provider`). `scrubbed`: the redactions of this task's description, agent
        and request id, made beforehand by `scrub` (the group-commit path does so on the caller's thread,
        outside the batch transaction)."""
        task_type, description, task_budget, agent, request_id, w = self._validate(
            task_type, description, budget, agent, request_id, weights
        )
        if any_provider is not None and not isinstance(any_provider, bool):
            raise BadInput("anyProvider must be true or false")
        # redaction runs here, before any write transaction opens (never inside `make`)
        if scrubbed is None:
            scrubbed = self.scrub(description, agent, request_id, dry_run=dry_run)
        stored, agent, request_id = scrubbed
        cons = self._known_constraints(_parse_constraints(constraints))
        tier = tier_of(self.settings, task_type)
        ranking = self.ranking(task_type, w, cons, any_provider=any_provider)
        restricted = self.restricted(any_provider)
        tin, tout = self.estimate_tokens(task_type, description)
        if not dry_run:
            self.ledger  # noqa: B018 - open (or create) it first: its zone names the day below
        now = self.clock()
        day = budget_policy.budget_day(now, self.tz).isoformat()
        top = None if all_candidates else 10

        def build(
            spent: Mapping[str, float], decision_id: str | None
        ) -> tuple[dict[str, Any], Choice, float]:
            room = budget_policy.headroom(self.settings, tier, spent)
            what = budget_policy.limited_by(self.settings, tier, room)
            choice = decide(ranking, tin, tout, task_budget, room.limit, what)
            reserved = choice.estimated_cost if choice.status != REFUSED else 0.0
            day_spent_after = sum(spent.values()) + reserved
            warnings = list(choice.warnings)
            if not self.reach.active:
                from modelwise.core.providers import ADVISORY

                warnings.append(ADVISORY)
            elif not restricted and choice.winner is not None:
                why = self.reach.unreachable.get(choice.winner.model.id)
                if why is not None:
                    warnings.append(f"{choice.winner.model.name} was chosen from the whole registry: {why}")
            share = day_spent_after / self.settings.daily_budget if self.settings.daily_budget else 1.0
            if share >= self.settings.alert_threshold:
                warnings.append(
                    f"today's spend {money(day_spent_after)} is {share:.0%} of the "
                    f"{money(self.settings.daily_budget)} daily budget"
                )
            response = self._response(
                decision_id, request_id, task_type, tier.name, agent, choice, ranking, tin, tout,
                task_budget, room, reserved, warnings, top, now, cons, restricted,
            )
            return response, choice, day_spent_after

        if dry_run:
            spent = self.ledger.spent_by_tier(day) if self.ledger_exists() else {}
            response, choice, _ = build(spent, None)
            response["wouldBe"] = response["status"]
            response["status"] = DRY_RUN
            return response

        def make(spent: Mapping[str, float]) -> NewDecision:
            decision_id = "dec_" + f"{int(now.timestamp() * 1000):011x}" + random_suffix(5)
            response, choice, spent_after = build(spent, decision_id)
            alerts = []
            if choice.status == REFUSED and choice.refusal_kind == "budget":
                # the reason names what ran out: the tier's allocation or the daily budget
                alerts.append((1.0, spent_after, self.settings.daily_budget, "refused: " + choice.reason))
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

    def scrub(
        self, description: Any, agent: Any, request_id: Any, *, dry_run: bool = False
    ) -> Scrubbed:
        """What the ledger keeps of a task's free text: the description as `store_descriptions` says
        (nothing for a dry run, which stores nothing), and the agent and request id with their secrets
        replaced by stable markers. Linear in the text; call it outside any transaction. Values of the
        wrong type are passed through (validation rejects them)."""
        stored = None
        if not dry_run and isinstance(description, str):
            stored = for_storage(description, self.settings.store_descriptions)
        if isinstance(agent, str):
            agent = redact_identifier(agent)
        if isinstance(request_id, str):
            request_id = redact_identifier(request_id)
        return Scrubbed(stored, agent, request_id)

    def route_call(
        self,
        task_type: str,
        input_tokens: int,
        requested_output: int | None = None,
        *,
        model_id: str | None = None,
        agent: str | None = None,
        type_from: str | None = None,
    ) -> dict[str, Any]:
        """Route a model call the gateway is about to make and reserve its worst case: `input_tokens` (a
        conservative count) plus the most output the task budget, the tier and the day leave (at most
        `requested_output`, the model's maximum output and its context window). The answer is that of
        `route_task` with `maxTokens`, the output to allow upstream. `model_id`: this model as asked
        (budget-checked, not ranked); `type_from`: how the task type was found, kept as `taskTypeFrom`.
        When nothing fits, raises Refused and records nothing."""
        from modelwise.core.calls import affordable_output, output_ceiling
        from modelwise.core.errors import Refused
        from modelwise.core.routing import ROUTED

        task_type, _, task_budget, agent, _, w = self._validate(task_type, "", None, agent, None, None)
        if agent is not None:
            agent = redact_identifier(agent)  # before the write transaction, like every route
        tier = tier_of(self.settings, task_type)
        # only models the gateway can call: reachable, in the OpenAI format (no translation yet)
        ranking = self.ranking(task_type, w, any_provider=False, api="openai")
        asked = None
        if model_id is not None:
            asked = next((e for e in ranking.entries if e.model.id == model_id), None)
            if asked is None:
                raise BadInput(f"model {model_id!r} is not one modelwise can route to")
        self.ledger  # noqa: B018 - its zone names the day
        now = self.clock()
        day = budget_policy.budget_day(now, self.tz).isoformat()
        granted = 0

        def make(spent: Mapping[str, float]) -> NewDecision:
            nonlocal granted
            room = budget_policy.headroom(self.settings, tier, spent)
            cap = min(task_budget, room.limit)
            what = budget_policy.limited_by(self.settings, tier, room)
            if asked is not None:
                cost = asked.estimated_cost(input_tokens, 1)
                choice = Choice(ROUTED, asked, None, cost, "asked for by name")
                if choice.estimated_cost > cap:
                    choice = Choice(REFUSED, None, None, 0.0, f"{asked.model.name} does not fit: {what} "
                                    f"leaves {money(max(cap, 0.0))}", refusal_kind="budget")
            else:
                allowance = self.settings.tokens_for(task_type)[1]
                wanted = allowance if requested_output is None else min(requested_output, allowance)
                choice = decide(ranking, input_tokens, max(wanted, 1), task_budget, room.limit, what)
            e = choice.winner
            out = -1
            if e is not None:
                ceiling = output_ceiling(
                    requested_output, e.model.max_output_tokens, e.model.context_window, input_tokens
                )
                if ceiling < 1:
                    raise BadInput(
                        f"the messages (about {input_tokens:,} tokens) leave no room for an answer in "
                        f"{e.model.name}'s context window of {e.model.context_window:,} tokens"
                    )
                out = affordable_output(e.estimated_cost, input_tokens, cap, ceiling)
            if e is None or out < 1:
                reason = choice.reason if e is None else f"{e.model.name}: no output fits {money(cap)}"
                raise Refused(reason)
            granted = out
            reserved = e.estimated_cost(input_tokens, out)
            choice.estimated_cost = reserved
            after = sum(spent.values()) + reserved
            response = self._response(
                "dec_" + f"{int(now.timestamp() * 1000):011x}" + random_suffix(5), None, task_type,
                tier.name, agent, choice, ranking, input_tokens, out, task_budget, room, reserved,
                list(choice.warnings), 3, now, NO_CONSTRAINTS, self.restricted(False),
            )
            if type_from is not None:
                response["taskTypeFrom"] = type_from
            alerts = [
                (t, after, self.settings.daily_budget,
                 f"spend reached {t:.0%} of the {money(self.settings.daily_budget)} daily budget")
                for t in budget_policy.crossed(self.settings, after)
            ]
            return NewDecision(
                id=response["decisionId"], request_id=None, ts=response["timestamp"],
                ts_unix=now.timestamp(), day=day, task_type=task_type, tier=tier.name, agent=agent,
                model_id=e.model.id, model_name=e.model.name, status=choice.status,
                reserved=response["estimatedCost"], estimated_cost=response["estimatedCost"],
                input_tokens=input_tokens, output_tokens=out, desc_chars=0, budget=task_budget,
                score=e.total, description=None, response=response, alerts=alerts,
            )

        response, _ = self._admit(day, None, make)
        return {**response, "maxTokens": granted}

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
        restricted: bool = False,
    ) -> dict[str, Any]:
        w = choice.winner
        margin = choice.margin
        offer = self.offer_for(w.model) if w else None
        rows = candidate_rows(ranking, choice, tin, tout, task_budget, room.limit, top)
        reach = self.reach
        for row in rows:
            o = reach.offers.get(row["model"])
            if o is None and not restricted:
                m = self.registry.get(row["model"])
                o = self.offer_for(m) if m is not None else None
            row["provider"] = o.provider if o is not None else None
        return {
            "decisionId": decision_id,
            "requestId": request_id,
            "timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "taskType": task_type,
            "tier": tier,
            "agent": agent,
            "selectedModel": w.model.id if w else None,
            "selectedModelName": w.model.name if w else None,
            "provider": offer.provider if offer else None,
            "upstreamId": offer.upstream_id if offer else None,
            "estimatedCost": round(choice.estimated_cost, 10) if w else 0.0,
            "estimatedTokens": {"input": tin, "output": tout},
            "score": round(w.total, 6) if w else None,
            "status": choice.status,
            "reason": choice.reason,
            "warnings": warnings,
            "dailyBudget": self.settings.daily_budget,
            "budget": {
                "task": task_budget,
                "dailyRemaining": round(room.daily_remaining - reserved, 10),
                "tierRemaining": round(room.tier_remaining - reserved, 10),
            },
            "weights": ranking.weights.to_json(),
            "weightsNormalised": dict(
                zip(ranking.weights.to_json(), (round(x, 6) for x in ranking.normalised), strict=True)
            ),
            "constraints": constraints.to_json(),
            "floor": None if ranking.floor is None else round(ranking.floor, 6),
            "floorDropped": choice.floor_dropped,
            "margin": None if margin is None else round(margin, 6),
            "flip": (
                None if w is None
                else flip_point(ranking, w, choice.floor_dropped, tin, tout, task_budget, room.limit)
            ),
            "candidates": rows,
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
        leads: int = 5,
        grid_values: Sequence[float] | None = None,
        any_provider: bool | None = None,
    ) -> dict[str, Any]:
        """The whole breakdown of a dry run, recording nothing (issue 7): the `route --json` object plus
        `flips` (the nearest flip of every weight, each direction), `leads` (the winner's lead over the
        next `leads` models by component), `exclusions` (why the others are out, grouped), `grid` (the
        winner for cost x performance weights over `grid_values`, default 0, 0.2, ..., 1) and `summary`."""
        from modelwise.core import explain as explain_core

        response = self.route_task(
            task_type, description, budget, constraints=constraints, weights=weights, agent=agent,
            dry_run=True, all_candidates=True, any_provider=any_provider,
        )
        ctx = self._decision_context(task_type, description, response, constraints, weights, any_provider)
        ranking, choice, tin, tout, task_budget, limit = ctx
        w = ranking.weights
        winner = choice.winner
        field = explain_core.field_of(ranking, tin, tout, task_budget, limit, choice.floor_dropped)
        flips: list[dict] = []
        lead_rows: list[dict] = []
        if winner is not None:
            flips = weight_flips(w.as_tuple(), winner, field, tin, tout)
            nxt = [e for e in field if e is not winner][:leads]
            lead_rows = explain_core.leads(winner, nxt, ranking.normalised)
        groups = explain_core.exclusions(ranking, tin, tout, task_budget, limit, choice.floor_dropped, winner)
        values = tuple(grid_values) if grid_values is not None else tuple(i / 5 for i in range(6))
        response["flips"] = flips
        response["leads"] = lead_rows
        response["exclusions"] = groups
        axes = explain_core.GridAxis("cost", values), explain_core.GridAxis("performance", values)
        response["grid"] = explain_core.sensitivity_grid(field, w, *axes, tin, tout)
        status = response.get("wouldBe", response["status"])
        response["summary"] = explain_core.summary(
            ranking, winner, lead_rows, flips, groups, status, choice.reason
        )
        self._add_observed_to_candidates(response, task_type)
        return response

    def _decision_context(
        self,
        task_type: str,
        description: str,
        response: Mapping[str, Any],
        constraints: Constraints | Mapping[str, Any] | None,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None,
        any_provider: bool | None = None,
    ) -> tuple[Ranking, Choice, int, int, float, float | None]:
        """Re-derive what a dry run decided (ranking, choice, tokens, task budget, limit) for `explain`."""
        w = self.parse_weights(weights)
        cons = self._known_constraints(_parse_constraints(constraints))
        ranking = self.ranking(task_type, w, cons, any_provider=any_provider)
        tin, tout = response["estimatedTokens"]["input"], response["estimatedTokens"]["output"]
        task_budget = response["budget"]["task"]
        day = self.today().isoformat()
        spent = self.ledger.spent_by_tier(day) if self.ledger_exists() else {}
        room = budget_policy.headroom(self.settings, ranking.tier, spent)
        what = budget_policy.limited_by(self.settings, ranking.tier, room)
        choice = decide(ranking, tin, tout, task_budget, room.limit, what)
        return ranking, choice, tin, tout, task_budget, room.limit

    def sensitivity_grid(
        self,
        task_type: str,
        description: str = "",
        budget: float | None = None,
        *,
        rows: str = "cost",
        cols: str = "performance",
        values: Sequence[float] | None = None,
        constraints: Constraints | Mapping[str, Any] | None = None,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """Which model wins for each pair of values of two weights (default cost x performance, 0..1 in
        six steps), the other weights kept; for the console's sensitivity view. Records nothing."""
        from modelwise.core import explain as explain_core
        from modelwise.core.settings import WEIGHT_NAMES

        for name in (rows, cols):
            if name not in WEIGHT_NAMES:
                raise BadInput(f"unknown weight {name!r} (known: {', '.join(WEIGHT_NAMES)})")
        vals = tuple(values) if values is not None else tuple(i / 5 for i in range(6))
        for v in vals:
            _finite_number(v, "grid value")
        response = self.route_task(
            task_type, description, budget, constraints=constraints, weights=weights, dry_run=True
        )
        ranking, choice, tin, tout, task_budget, limit = self._decision_context(
            task_type, description, response, constraints, weights
        )
        field = explain_core.field_of(ranking, tin, tout, task_budget, limit, choice.floor_dropped)
        axes = explain_core.GridAxis(rows, vals), explain_core.GridAxis(cols, vals)
        return explain_core.sensitivity_grid(field, ranking.weights, *axes, tin, tout)

    def pareto(self, task_type: str) -> list[dict[str, Any]]:
        """The cost/quality frontier for a task type (issue 7): the rated capable models that no other
        rated capable model beats on both quality (for this type, calibrated when learning is on) and
        blended price, cheapest first. "Rated" includes a model whose quality outcomes calibrated, as
        the tier floor counts it. Prices are compared as shown, rounded to 12 decimals."""
        from modelwise.core.frontier import pareto_front

        return [_point_json(p) for p in pareto_front(self._quality_points(task_type))]

    def quality_price(self, task_type: str) -> dict[str, Any]:
        """The console's quality-against-price chart for a task type: every rated capable model (as
        `pareto` counts them) and the frontier among them, both cheapest first."""
        from modelwise.core.frontier import pareto_front

        points = sorted(self._quality_points(task_type), key=lambda p: (p.price, -p.quality, p.id))
        return {
            "taskType": task_type,
            "models": [_point_json(p) for p in points],
            "frontier": [_point_json(p) for p in pareto_front(points)],
        }

    def _quality_points(self, task_type: str) -> list[Any]:
        from modelwise.core.frontier import Point

        return [
            Point(e.model.id, e.model.name, e.performance, round(e.model.blended_per_1k, 12))
            for e in self.ranking(task_type).entries
            if e.capability and (e.rated or e.calibrated) and e.model.price_known
        ]

    # -- what-if (issue 7) ----------------------------------------------------------------------------

    def whatif_settings(
        self,
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
            changes["daily_budget"] = _finite_number(daily_budget, "daily budget")
        if learning is not None:
            changes["learning_enabled"] = bool(learning)
        return dataclasses.replace(self.settings, **changes) if changes else self.settings

    def _replay_records(
        self, since_ts: float, until_ts: float | None
    ) -> tuple[list[Any], list[Any]]:
        """Decisions from the start of `since_ts`'s day to `until_ts` and the outcomes known by then, as
        the replay engine's records; those before `since_ts` only count towards their day's spend."""
        import json

        from modelwise.core.replay import OutcomeEvent, Recorded

        if not self.ledger_exists():
            return [], []
        day_from = budget_policy.budget_day(datetime.fromtimestamp(since_ts, UTC), self.tz).isoformat()
        weights_of: dict[str | None, Weights] = {}
        cons_of: dict[str | None, Constraints] = {}
        records = []
        for row in self.ledger.replay_rows(day_from, until_ts):
            (seq, ts, day, task_type, model_id, status, reserved, _est, tin, tout, task_budget, w_json,
             c_json, outcome, actual, a_in, a_out, o_ts, daily) = row
            w = weights_of.get(w_json)
            if w is None:
                w = Weights(**json.loads(w_json)) if w_json else self.settings.weights
                weights_of[w_json] = w
            c = cons_of.get(c_json)
            if c is None:
                c = _parse_constraints(json.loads(c_json)) if c_json else NO_CONSTRAINTS
                cons_of[c_json] = c
            records.append(
                Recorded(
                    seq, ts, day, task_type, model_id, status, reserved,
                    actual if outcome is not None else reserved, tin, tout, task_budget, w, c,
                    o_ts, a_in, a_out, ts >= since_ts, daily,
                )
            )
        events = [OutcomeEvent(*e) for e in self.ledger.outcome_events(until_ts)]
        return records, events

    def _replayer(self, settings: Settings) -> Any:
        from modelwise.core.replay import Replayer

        cache = self.__dict__.setdefault("_replayers", {})
        # Only what a what-if can change differs from self.settings (Settings holds dicts: not hashable).
        key = (id(self.registry), settings.cost_scale, settings.daily_budget, settings.learning_enabled)
        r = cache.get(key)
        if r is None:
            if len(cache) > 8:
                cache.clear()
            models = self.registry.models
            if self.restricted():  # replayed over the models routing would consider, at their offers' prices
                models = tuple(m for m in self._reach_models if m.id in self.reach.reachable)
            r = cache[key] = Replayer(models, settings)
        return r

    def whatif(
        self,
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
        w = None if weights is None else self.parse_weights(weights)
        settings = self.whatif_settings(cost_scale, daily_budget, learning)
        now = self.clock()
        since_dt = parse_when(since or "today", now, self.tz, what="since")
        until_dt = parse_when(until, now, self.tz, end=True, what="until") if until else None
        if until_dt is not None and until_dt <= since_dt:
            raise BadInput("--until must be after --since")
        t0 = time.perf_counter()
        until_ts = until_dt.timestamp() if until_dt else None
        records, events = self._replay_records(since_dt.timestamp(), until_ts)
        t1 = time.perf_counter()
        # Each decision is replayed under the daily budget it was made under, unless another is asked for:
        # a comparison of weights is not mixed with a change of budget made since.
        recorded = daily_budget is None
        result = self._replayer(settings).run(records, events, w, recorded_budgets=recorded)
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
        self,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Today's decisions replayed under `weights`, for the console's live line. The day's decisions
        are read once and re-read only when the ledger changes (a new decision or outcome), and rankings
        are kept between calls, so a call per keystroke costs one `decide` per decision of the day."""
        w = None if weights is None else self.parse_weights(weights)
        settings = self.whatif_settings(**changes)
        if not self.ledger_exists():
            records, events = [], []
        else:
            now = self.clock()
            start = parse_when("today", now, self.tz)
            stamp = (start, self.ledger.last_seq(), self.ledger.outcomes_version())
            # Kept on the instance without touching __init__ (shared code): the day's records and events.
            cached = self.__dict__.get("_today_cache")
            if cached is None or cached[0] != stamp:
                cached = (stamp, *self._replay_records(start.timestamp(), None))
                self.__dict__["_today_cache"] = cached
                for replayer in self.__dict__.get("_replayers", {}).values():
                    replayer.clear()  # the outcomes known at each point may differ now
            _, records, events = cached
        recorded = changes.get("daily_budget") is None
        result = self._replayer(settings).run(records, events, w, recorded_budgets=recorded)
        out = result.to_json()
        rec, rep = out["recorded"], out["replayed"]
        out["line"] = (
            f"today under these weights: {money(rep['cost'])} instead of {money(rec['cost'])}, "
            f"{out['changed']} of {out['decisions']} decisions change model"
        )
        return out

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
                self.release_thread()

        threads = [threading.Thread(target=work, daemon=True) for _ in range(min(concurrency, len(items)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[min(failures)]
        return results

    def route_mapping(self, task: Mapping[str, Any], scrubbed: Scrubbed | None = None) -> dict[str, Any]:
        """Route a task given as the JSON object of SPEC 2 (`type`, `description`, `budget`, ...)."""
        if not isinstance(task, Mapping):
            raise BadInput("a task must be an object with at least a 'type'")
        unknown = set(task) - self.TASK_KEYS
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
            any_provider=task.get("anyProvider"),
            scrubbed=scrubbed,
        )

    def scrub_mapping(self, task: Any) -> Scrubbed | None:
        """`scrub` for a task given as a mapping (`type`, `description`, `agent`, `requestId`, ...); None
        for what is not a mapping."""
        if not isinstance(task, Mapping):
            return None
        return self.scrub(
            task.get("description") or "", task.get("agent"), task.get("requestId"),
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
        correct: bool = False,
        reason: str | None = None,
        cached_tokens: int | None = None,
        cache_write_tokens: int | None = None,
    ) -> dict[str, Any]:
        """Settle a decision (SPEC 5/6): the actual cost, from a given cost or tokens × the model's prices,
        replaces its reservation. Without either, it settles at the estimate. Token counts the decided
        model cannot have used (beyond its context window or maximum output) are refused.

        With `correct`, the decision's outcome is corrected instead: a correction (validated and priced
        the same way, with an optional `reason`) is appended and supersedes the outcome for spend,
        learning and reports; the outcome first recorded is kept. A settlement that raises the day's
        spend records the alert thresholds it reaches, and an over-budget alert when it takes the day
        over its budget. `cached_tokens` and `cache_write_tokens` are the part of the input tokens read
        from and written to the provider's prompt cache, priced at its cache prices."""
        if outcome not in OUTCOMES:
            raise BadInput(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if not isinstance(decision_id, str) or not decision_id:
            raise BadInput("decision id must be a non-empty string")
        if latency_ms is not None:
            latency_ms = _finite_number(latency_ms, "latency")
            if latency_ms > MAX_LATENCY_MS:
                raise BadInput(f"latency must be at most {MAX_LATENCY_MS:,.0f} ms, not {latency_ms!r}")
        tokens = []
        for value, what in ((input_tokens, "input tokens"), (output_tokens, "output tokens"),
                            (cached_tokens, "cached tokens"), (cache_write_tokens, "cache-write tokens")):
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
        cached, written = tokens[2] or 0, tokens[3] or 0
        if cost is not None:
            cost = _finite_number(cost, "cost")
            if cost > MAX_COST:
                raise BadInput(f"cost must be at most {MAX_COST:,.0f} USD, not {cost!r}")
        if not self.ledger_exists():
            from modelwise.core.errors import UnknownDecision

            raise UnknownDecision(f"unknown decision id {decision_id!r}")
        what = f"{'correction' if correct else 'outcome'} of {decision_id}"

        def make(dec: dict[str, Any], spent: Mapping[str, float]) -> Settlement:
            # the reason is checked once the decision is known to exist (an unknown one is a 404 first)
            if reason is not None and not correct:
                raise BadInput("a reason goes with a correction (correct the outcome to give one)")
            stored_reason = None if reason is None else _correction_reason(reason)
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
            model = self.registry.resolve(dec["model_id"])  # an old id may be an alias now
            tin = tokens[0] if tokens[0] is not None else dec["input_tokens"]
            tout = tokens[1] if tokens[1] is not None else dec["output_tokens"]
            if model is not None and (tokens[0] is not None or tokens[1] is not None):
                _check_token_limits(model, tokens[0], tokens[1], tin, tout)
            if cost is not None:
                actual = cost
            elif tokens[0] is not None or tokens[1] is not None:
                o = self.reach.offer(model.id) if model is not None else None
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
                actual = model.cost_of(tin, tout, cached, written)
            else:
                actual = dec["estimated_cost"]
            previous = dec["actual_cost"] if correct else dec["reserved"]
            alerts = budget_policy.settlement_alerts(
                self.settings, what, sum(spent.values()), previous, actual
            )
            return Settlement(outcome, latency_ms, tokens[0], tokens[1], actual, alerts, stored_reason)

        now = self.clock()
        ts = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dec = self._settle(decision_id, ts, now.timestamp(), make, correct)
        return self.decision_json(dec)

    # -- reports -----------------------------------------------------------------------------------

    def day_range(
        self, since: str | None = None, until: str | None = None, all_days: bool = False
    ) -> tuple[str | None, str | None]:
        """Days [from, to] for a report: today by default."""
        if all_days:
            return None, None
        today = self.today()
        now = self.clock()
        start = (
            parse_when(since, now, self.tz, what="since").date().isoformat() if since else today.isoformat()
        )
        if until:
            end: str | None = parse_when(until, now, self.tz, end=True, what="until").date().isoformat()
        else:
            end = today.isoformat() if not since else None
        return start, end

    def statistics(
        self,
        since: str | None = None,
        until: str | None = None,
        all_days: bool = False,
        by: str | None = None,
    ) -> dict[str, Any]:
        """The brief's statistics (SPEC 7 `stats --json`)."""
        day_from, day_to = self.day_range(since, until, all_days)
        rows = (
            self.ledger.rollup(day_from, day_to, ("model_id", "status", "agent"))
            if self.ledger_exists()
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
            m = self.registry.get(r["model_id"])
            name = m.name if m else r["model_id"]
            usage[name] = usage.get(name, 0) + r["decisions"]
        usage = dict(sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])))
        today_spent = (
            sum(self.ledger.spent_by_tier(self.today().isoformat()).values()) if self.ledger_exists() else 0.0
        )
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
            "period": {"from": day_from, "to": day_to, "timezone": self.zone_name},
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
        now = self.clock()
        # even with no ledger
        s = parse_when(since, now, self.tz, what="since").timestamp() if since else None
        u = parse_when(until, now, self.tz, end=True, what="until").timestamp() if until else None
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise BadInput(f"limit must be a whole number zero or more, not {limit!r}")
        if not self.ledger_exists():
            return []
        # agents are stored redacted: filter by the stored form
        agent = redact_identifier(agent) if isinstance(agent, str) else agent
        return [
            self.decision_json(r)
            for r in self.ledger.decisions(
                since=s, until=u, agent=agent, limit=limit, newest_first=newest_first
            )
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

    def models_table(
        self, task: str | None = None, sort: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The registry as rows (the `models` command), with observed values where outcomes exist. Without
        `sort`, best first: by the task's routing score (`score`) with `task`, else by quality, unrated
        models last (ties by id)."""
        if task is not None:
            tier_of(self.settings, task)
            scores = {e.model.id: e.total for e in self.ranking(task).entries}
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
        self._add_observed_to_models(rows, task)
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

    # -- learning area (issue 6): observed versus registry values, savings, audits, evaluation -----

    def observations(self) -> Calibration:
        """What the ledger saw per (model, task type), whether or not learning is on (what `models`,
        `explain` and `audit` show next to the registry values)."""
        if self.settings.learning_enabled:
            return self.calibration()
        if not self.ledger_exists():
            return EMPTY
        return Calibration(_observed_by_key(self.ledger.observations()), self.ledger.outcomes_version())

    def observed_values(
        self, model: ModelSpec, task_type: str, observed: Calibration | None = None
    ) -> dict[str, Any]:
        """Registry and observed values of one model for one task type, side by side, with the number of
        outcomes behind them. `calibratedQuality` is the Beta posterior mean (SPEC 6) that scoring uses
        when learning is on (`learning`); with no outcomes it equals the prior."""
        calib = self.observations() if observed is None else observed
        obs = calib.observed(model.id, task_type) or Observed()
        reg_q = model.quality_for(task_type)
        prior = reg_q if reg_q is not None else self.settings.unrated_quality
        strength = self.settings.prior_strength
        judged = obs.successes + obs.failures
        return {
            "registryQuality": reg_q,
            "calibratedQuality": round(calibrated_quality(prior, strength, obs), 6),
            "registryAvailability": model.availability,
            "calibratedAvailability": round(calibrated_availability(model.availability, strength, obs), 6),
            "registryLatencyMs": model.latency_ms,
            "medianLatencyMs": obs.median_latency_ms,
            "latencies": obs.latency_count,
            "outcomes": obs.outcomes,
            "successes": obs.successes,
            "failures": obs.failures,
            "errors": obs.errors,
            "successRate": round(obs.successes / judged, 6) if judged else None,
            "learning": self.settings.learning_enabled,
        }

    def _add_observed_to_models(self, rows: list[dict[str, Any]], task: str | None) -> None:
        """`models`: registry versus observed values per row. With a task type, the calibrated values for
        it; without, the outcome counts summed over task types (calibration is per task type)."""
        calib = self.observations()
        if not calib:
            return
        totals: dict[str, list[int]] = {}
        if task is None:
            for (model_id, _task), o in calib.by_key.items():
                t = totals.setdefault(model_id, [0, 0, 0])
                t[0] += o.successes
                t[1] += o.failures
                t[2] += o.errors
        for r in rows:
            m = self.registry.get(r["id"])
            if m is None:
                continue
            if task is not None:
                if calib.observed(m.id, task) is not None:
                    r["observed"] = self.observed_values(m, task, calib)
            elif m.id in totals:
                s, f, e = totals[m.id]
                r["observed"] = {
                    "registryQuality": m.quality,
                    "calibratedQuality": None,
                    "registryAvailability": m.availability,
                    "calibratedAvailability": None,
                    "medianLatencyMs": None,
                    "outcomes": s + f + e,
                    "successes": s,
                    "failures": f,
                    "errors": e,
                    "successRate": round(s / (s + f), 6) if s + f else None,
                    "learning": self.settings.learning_enabled,
                }

    def _add_observed_to_candidates(self, response: dict[str, Any], task_type: str) -> None:
        """`explain`: each candidate row gets its registry and calibrated values and their outcomes."""
        calib = self.observations()
        for row in response.get("candidates", []):
            m = self.registry.get(row["model"])
            if m is not None:
                row["observed"] = self.observed_values(m, task_type, calib)

    def savings(
        self, baseline: str | None = None, since: str | None = None, until: str | None = None
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
        if baseline is None and self.settings.savings_baseline:
            baseline = self.settings.savings_baseline
            rule = f"the config's savings_baseline ({self.paths.config})"
        if baseline is not None:
            fixed = self.registry.resolve(baseline)  # an id or an alias (`gpt-4o`)
            where = "" if rule == "given" else f" ({rule})"
            if fixed is None:
                raise BadInput(
                    f"unknown baseline model {baseline!r}{where} (not in the registry {self.paths.registry})"
                )
            if not fixed.price_known:
                raise BadInput(f"baseline model {baseline!r}{where} has an unknown price; choose another")
        now = self.clock()
        s = parse_when(since, now, self.tz, what="since").timestamp() if since else None
        u = parse_when(until, now, self.tz, end=True, what="until").timestamp() if until else None
        if s is not None and u is not None and u <= s:
            raise BadInput("--until must be after --since")
        rows = self.ledger.savings_rollup(s, u) if self.ledger_exists() else []
        best: dict[str, ModelSpec | None] = {}
        pool = self.registry.models
        if self.restricted():
            pool = tuple(m for m in self._reach_models if m.id in self.reach.reachable)

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

    def audit(self, since: str | None = "7d", until: str | None = None, limit: int = 50) -> dict[str, Any]:
        """The brief's regular audit: spend by day, tier, model and agent; alerts; refused and degraded
        decisions (the newest `limit` of each, with why); corrected outcomes (the newest `limit`
        corrections, each with the outcome first recorded, the values it replaced and its own); and
        underperforming models: those whose observed
        success rate's exact 95% interval lies wholly below their registry quality for a task type (all
        outcomes in the ledger count, as they are what the router learns from)."""
        if limit < 0:
            raise BadInput("limit must be zero or more")
        day_from, day_to = self.day_range(since or "7d", until)
        exists = self.ledger_exists()
        by = ("day", "tier", "model_id", "agent", "status")
        rows = self.ledger.rollup(day_from, day_to, by) if exists else []

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
                    m = self.registry.get(g[key])
                    g["name"] = m.name if m else g[key]
                result.append(g)
            if key == "day":
                return sorted(result, key=lambda g: g[key])
            return sorted(result, key=lambda g: (-g["spent"], g[key]))

        def flagged(status: str) -> list[dict[str, Any]]:
            import json

            found = self.ledger.decisions_with_status((status,), day_from, day_to, limit) if exists else []
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
        for c in self.ledger.corrections(day_from, day_to, limit) if exists else []:
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

        calib = self.observations()
        under = []
        for (model_id, task_type), obs in sorted(calib.by_key.items()):
            m = self.registry.get(model_id)
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
                    "calibratedQuality": round(calibrated_quality(q, self.settings.prior_strength, obs), 6),
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
            "alerts": self.ledger.alerts(day_from, day_to) if exists else [],
            "refused": flagged(REFUSED),
            "degraded": flagged("degraded"),
            "corrections": corrections,
            "underperforming": under,
        }

    def evaluate(
        self,
        path: str | Path,
        folds: int = 5,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
        sweep: int = 21,
        seed: int = 0,
    ) -> dict[str, Any]:
        """`modelwise evaluate FILE`: replay per-prompt outcome data with k-fold cross-validation (SPEC 6).
        Reads nothing from, and writes nothing to, the ledger."""
        from modelwise.evaluation import evaluate, evaluation_settings
        from modelwise.importers.outcomes import read_outcomes

        w = self.parse_weights(weights)
        data = read_outcomes(path)
        settings = evaluation_settings(self.settings, data.task_types, self._configured_tier_tasks())
        result = evaluate(
            data, self.registry, settings, w, folds=folds, sweep=sweep, seed=seed,
            vocabulary=self.settings.task_types,
        )
        result["file"] = str(path)
        return result

    def _configured_tier_tasks(self) -> set[str]:
        """Task types in the tiers that the config file names (evaluate keeps their floors; every other
        task type of an outcome file gets no tier floor)."""
        cfg = self.paths.config
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
            tier = self.settings.tier_named(name)
            if tier is not None:
                named.update(tier.tasks)
        return named


    # -- console support ---------------------------------------------------------------------------

    def breakdown(
        self,
        task_type: str,
        description: str = "",
        budget: float | str | None = None,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
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

        task_type, description, task_budget, _, _, w = self._validate(
            task_type, description, budget, None, None, weights
        )
        tier = tier_of(self.settings, task_type)
        ranking = self.ranking(task_type, w, NO_CONSTRAINTS, EMPTY if calibration is None else calibration)
        tin, tout = self.estimate_tokens(task_type, description)
        room = None if spent_by_tier is None else budget_policy.headroom(self.settings, tier, spent_by_tier)
        limit = None if room is None else room.limit
        what = None if room is None else budget_policy.limited_by(self.settings, tier, room)
        choice = decide(ranking, tin, tout, task_budget, limit, what)
        pool = ranking.nofloor_list if choice.floor_dropped else ranking.floor_list
        tokens = tin + tout
        eligible = sum(
            1
            for e in pool
            if e.estimated_cost(tin, tout) <= task_budget and (e.ctx is None or e.ctx >= tokens)
        )
        win, run = choice.winner, choice.runner_up

        def brief(e: Any) -> dict[str, Any] | None:
            return None if e is None else {"model": e.model.id, "name": e.model.name, "total": e.total}

        return {
            "taskType": task_type,
            "tier": tier.name,
            "status": choice.status,
            "reason": choice.reason,
            "warnings": list(choice.warnings),
            "winner": brief(win),
            "runnerUp": brief(run),
            "margin": choice.margin,
            "estimatedCost": choice.estimated_cost,
            "estimatedTokens": {"input": tin, "output": tout},
            "taskBudget": task_budget,
            "limit": limit,
            "weights": w.to_json(),
            "weightsNormalised": dict(zip(w.to_json(), ranking.normalised, strict=True)),
            "floor": ranking.floor,
            "flip": (
                flip_point(ranking, win, choice.floor_dropped, tin, tout, task_budget, limit) if win else None
            ),
            "lead": explain_core.leads(win, [run], ranking.normalised)[0] if win and run else None,
            "models": len(ranking.entries),
            "eligible": eligible,
            "candidates": candidate_rows(ranking, choice, tin, tout, task_budget, limit, top),
        }

    def day_start(self, day: date | None = None) -> datetime:
        """Midnight starting `day` (default today) in the configured time zone."""
        local = self.clock().astimezone(self.tz)
        d = day or local.date()
        return datetime.combine(d, datetime.min.time(), tzinfo=local.tzinfo)

    def spend_over_time(self, bucket_minutes: int = 15, day: str | None = None) -> dict[str, Any]:
        """The day's spend per time bucket since midnight and its running total (up to now for today,
        the whole day otherwise): {"day", "bucketMinutes", "start", "spent": [...], "cumulative": [...]}."""
        if bucket_minutes <= 0:
            raise BadInput("bucket minutes must be positive")
        today = self.today()
        d = date.fromisoformat(day) if day else today
        start = self.day_start(d)
        bucket = bucket_minutes * 60.0
        if d == today:
            n = int((self.clock() - start).total_seconds() // bucket) + 1
        else:
            n = math.ceil(86400 / bucket)
        n = max(n, 1)
        spent = [0.0] * n
        if self.ledger_exists():
            for i, s in self.ledger.spend_by_bucket(d.isoformat(), start.timestamp(), bucket):
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

    def save_config(self, updates: dict[str, Any]) -> Path:
        """Set keys in the config file (e.g. {"weights": {...}} or {"theme": "..."}), keeping the others;
        validated before it is written. Raises ConfigError."""
        from modelwise.loading import update_config

        update_config(self.paths.config, updates)
        return self.paths.config

    def reload(self, registry: bool = False) -> dict[str, Any]:
        """Read the config file again (and the registry too when `registry`, or when the config now
        names another one) and use them from now on: rankings, reach and replays are computed afresh.
        Nothing changes when they cannot be used: raises ConfigError (the config, a time zone other
        than the ledger's, another ledger) or RegistryError, the current settings staying in force.
        Returns {"config": path, "registry": path or None when it was not read again}."""
        from modelwise.core.errors import ConfigError
        from modelwise.loading import load_registry, load_settings

        config = self.paths.config
        # Not through the validated cache: an edit that keeps the file's size within one tick of its
        # modification time would read as the old settings.
        settings, from_config = load_settings(config, self.paths.config_explicit)
        reg_flag, ledger_flag, injected = self._path_flags
        paths = resolve(config, self.paths.config_explicit, reg_flag, ledger_flag, from_config)
        if paths.ledger != self.paths.ledger:
            raise ConfigError(
                f"{config}: the ledger is now {paths.ledger}, not {self.paths.ledger}: "
                "another ledger is used from the next start, not in a running process"
            )
        if settings.timezone is not None and self.ledger_exists():
            zone = self.ledger.zone
            if settings.timezone != zone:
                raise ConfigError(
                    f"{config}: the timezone {settings.timezone!r} differs from {zone!r}, the zone ledger "
                    f"{self.paths.ledger} keeps its budget days in: set timezone = {zone!r} (or remove "
                    "it), or use a new ledger"
                )
        new_registry = None
        if not injected and (registry or paths.registry != self.paths.registry):
            new_registry = load_registry(paths.registry, paths.cache)
        with self._reach_lock:
            self.settings = settings
            self.paths = paths
            if new_registry is not None:
                self.registry = new_registry
            self._rankings = {}
            self._reach = None
            self.__dict__.pop("_replayers", None)
            self.generation += 1
        return {"config": str(config), "registry": None if new_registry is None else str(paths.registry)}

    # -- validation only, and group commit (the HTTP service and `batch`) ---------------------------

    TASK_KEYS = frozenset(
        {"type", "description", "budget", "agent", "constraints", "requestId", "dryRun", "weights",
         "anyProvider"}
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
        if not isinstance(task.get("anyProvider", False), bool | None):
            raise BadInput("anyProvider must be true or false")
        self._validate(
            task["type"], task.get("description") or "", task.get("budget"), task.get("agent"),
            task.get("requestId"), task.get("weights"),
        )
        self._known_constraints(_parse_constraints(task.get("constraints")))

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
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]:
        group = self._group_commit
        if group is not None:
            if group.on_writer_thread():
                return self.ledger.settle_in_batch(decision_id, ts, ts_unix, make, correct)
            # through the writer, so the pool threads never wait on its write lock
            job = group.submit(self.ledger.settle_in_batch, decision_id, ts, ts_unix, make, correct)
            return job.result()
        return self.ledger.settle(decision_id, ts, ts_unix, make, correct)

    def submit_outcome(self, decision_id: str, outcome: str, **kw: Any) -> Future:
        """`record_outcome` on the group-commit writer thread (see `submit_task`)."""
        group = self._group_commit
        if group is None:
            from concurrent.futures import Future

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
            from concurrent.futures import Future

            fut: Future = Future()
            try:
                fut.set_result(self.route_mapping(task))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        # redaction on this thread: the writer runs the job inside its batch transaction, where a long
        # description would hold the ledger's write lock for every other process
        return group.submit(self.route_mapping, task, self.scrub_mapping(task))


    def submit_call(self, task_type: str, input_tokens: int, requested_output: int | None = None,
                    **kw: Any) -> Future:
        """`route_call` on the group-commit writer thread (see `submit_task`)."""
        group = self._group_commit
        if group is None:
            from concurrent.futures import Future

            fut: Future = Future()
            try:
                fut.set_result(self.route_call(task_type, input_tokens, requested_output, **kw))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        return group.submit(self.route_call, task_type, input_tokens, requested_output, **kw)


def _or_inf(price: float | None) -> float:
    """An unknown price sorts after every known one (it is never taken as $0)."""
    return math.inf if price is None else price


def parse_when(
    text: str | None, now: datetime, tz: tzinfo | None, end: bool = False, what: str | None = None
) -> datetime:
    """`7d`, `24h`, `30m` (ago), `today`, `yesterday`, a date `2026-11-26` (its start, or with `end` the
    start of the next day) or an ISO 8601 time. Raises BadInput."""
    if text is None:
        return now
    t = text.strip().lower()
    units = {"d": 86400, "h": 3600, "m": 60, "w": 7 * 86400}
    try:
        # ASCII digits only: str.isdigit() also accepts '²' and other digits float() cannot read
        number = t[:-1].replace(".", "", 1)
        if len(t) >= 2 and t[-1] in units and number.isascii() and number.isdigit():
            return now - timedelta(seconds=float(t[:-1]) * units[t[-1]])
        local_now = now.astimezone(tz)
        if t in ("today", "yesterday"):
            d = local_now.date() - timedelta(days=1 if t == "yesterday" else 0)
            start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
            return start + timedelta(days=1) if end else start
        if len(t) == 10:
            d = date.fromisoformat(t)
            start = datetime.combine(d, datetime.min.time(), tzinfo=local_now.tzinfo)
            return start + timedelta(days=1) if end else start
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=local_now.tzinfo)
        dt.timestamp()  # in range for the ledger's timestamps (raises OverflowError otherwise)
    except (OverflowError, ValueError):  # '99999999d' or the day after 9999-12-31 overflow datetime
        raise BadInput(
            f"{what + ': ' if what else ''}cannot read the time {text!r} "
            "(use 7d, 24h, today, 2026-11-26 or an ISO time from year 1 to 9999)"
        ) from None
    return dt


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0


def _observed_by_key(
    rows: Iterable[tuple[str, str, int, int, int, list[float]]],
) -> dict[tuple[str, str], Observed]:
    """Ledger observations (sorted latencies) as Observed records with the median latency."""
    return {(model_id, task_type): _observed(s, f, e, lat) for model_id, task_type, s, f, e, lat in rows}


def _observed(s: int, f: int, e: int, lat: list[float]) -> Observed:
    median = None
    if lat:
        n = len(lat)
        median = lat[n // 2] if n % 2 else (lat[n // 2 - 1] + lat[n // 2]) / 2
    return Observed(s, f, e, median, len(lat))


class _Learned:
    """The calibration kept up to date incrementally: the outcomes table is append-only, so each refresh
    reads only the outcomes recorded since the last one (by rowid) and updates the counts and sorted
    latencies of the (model, task type) pairs they touch. A new correction changes an outcome already
    counted, so it makes the next refresh read every outcome again (with its current values); corrections
    are rare. The result equals a full re-read (`_observed_by_key(ledger.observations())`, keys in the
    same sorted order); a ledger whose history no longer matches (replaced, shorter) is read in full
    again. The version is the ledger's `outcomes_version` of the snapshot read."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.latencies: dict[tuple[str, str], list[float]] = {}
        self.by_key: dict[tuple[str, str], Observed] = {}
        self.task_versions: dict[str, int] = {}
        self.last: tuple[int, str] | None = None  # (rowid, decision id) of the newest outcome read
        self.corrections = 0  # seq of the newest correction reflected

    def update(self, ledger: Ledger) -> Calibration:
        if self.last is not None and not ledger.has_outcome(*self.last):
            self.reset()
        last, corrections, rows = ledger.outcomes_since(self.last[0] if self.last is not None else 0)
        if corrections != self.corrections or (self.last is not None and last < self.last[0]):
            self.reset()
            last, corrections, rows = ledger.outcomes_since(0)
        self.corrections = corrections
        version = last + corrections
        touched: set[tuple[str, str]] = set()
        new_key = False
        for rowid, decision_id, model_id, task_type, outcome, latency_ms in rows:
            key = (model_id, task_type)
            c = self.counts.get(key)
            if c is None:
                c = self.counts[key] = [0, 0, 0]
                new_key = True
            c[OUTCOMES.index(outcome)] += 1
            if latency_ms is not None:
                bisect.insort(self.latencies.setdefault(key, []), latency_ms)
            self.task_versions[task_type] = version
            self.last = (rowid, decision_id)
            touched.add(key)
        if touched:
            by_key = dict(self.by_key)
            for key in touched:
                by_key[key] = _observed(*self.counts[key], self.latencies.get(key, []))
            self.by_key = dict(sorted(by_key.items())) if new_key else by_key
        return Calibration(self.by_key, version, dict(self.task_versions))


def _outcome_values(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An outcome's values (from a `corrections` row, by column prefix) as JSON."""
    return {
        "outcome": row[prefix + "outcome"],
        "actualCost": row[prefix + "actual_cost"],
        "latencyMs": row[prefix + "latency_ms"],
        "inputTokens": row[prefix + "input_tokens"],
        "outputTokens": row[prefix + "output_tokens"],
    }


def _point_json(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "quality": p.quality, "blendedPer1k": p.price}


def _percent(part: float, whole: float) -> float:
    """part / whole as a percentage (0 when whole is 0)."""
    return round(100.0 * part / whole, 6) if whole else 0.0
