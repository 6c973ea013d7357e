"""The one context every use case works over: settings, registry, paths, the clock and the budget
day's zone, the ledger (opened on first use), the ranking cache, what providers reach, what outcomes
taught, and group commit."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwise.app.learned import Learned, observed_by_key
from modelwise.app.values import MAX_DESCRIPTION, MAX_NAME, finite_number, parse_constraints, utc_now
from modelwise.core import budget as budget_policy
from modelwise.core.calibration import EMPTY, Calibration
from modelwise.core.errors import BadInput
from modelwise.core.models import ModelSpec, Registry
from modelwise.core.planning import Task
from modelwise.core.scoring import NO_CONSTRAINTS, Constraints, Ranking, rank_models, recalibrated
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import tier_of
from modelwise.ledger import Ledger, MakeSettlement, NewDecision, open_ledger
from modelwise.paths import Paths, config_path, resolve

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelwise.ledger.group import GroupCommitter

Clock = Callable[[], datetime]
RECENT_RANKINGS = 4  # rankings the group-commit writer brings up to date when it is idle (Context.warm)


class Context:
    """Settings, registry, paths, clock and zone, ledger, ranking cache, reach and calibration, shared by
    the use-case modules (`app.routing`, `app.explaining`, `app.whatif`, `app.outcomes`, `app.reports`).

    Paths default as docs/design.md, "Files", says (flags > environment > config > platformdirs).
    `clock` returns an aware datetime (inject one to test midnight)."""

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
        # the last ranking made per arguments but the calibration, with the calibration it was made under
        self._latest: dict[tuple, tuple[Ranking, Calibration, tuple]] = {}
        self._unreachable_by_api: dict[str | None, tuple[Any, Mapping[str, str]]] = {}
        self._recent: dict[tuple, None] = {}  # the arguments of the last rankings asked for, newest last
        self._reach: Any = None
        self._reach_models: tuple[ModelSpec, ...] = ()
        self._reach_lock = threading.Lock()
        self._calibration: Calibration = EMPTY
        self._calibration_version = -1
        self._calibration_lock = threading.Lock()
        self._learned = Learned()
        self._capabilities: tuple[Registry, frozenset[str]] | None = None
        # per model id, for `offer_for` outside the reachable set: what the model listed (its offers, or
        # itself when it lists none), its own prices and the cheapest of its offers
        self._listed_offer: dict[str, tuple[Any, tuple[float, float], Any]] = {}
        self._group_commit: GroupCommitter | None = None
        # the what-if's replay engines per setting changes, and today's records read for the console
        self.replayers: dict[tuple, Any] = {}
        self.today_cache: tuple | None = None

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
        problems = prov.config_model_problems(defs, self.registry._by_id)
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

    def reachable_models(self) -> tuple[ModelSpec, ...]:
        """The models routing considers when it keeps to what providers reach, each priced as its offer."""
        reach = self.reach
        return tuple(m for m in self._reach_models if m.id in reach.reachable)

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
        # Every candidate row of a decision outside the reachable set asks this (each of the model's
        # offers rebuilt and priced, ~0.2 ms a /route): the answer is the model's, made once. A model
        # replaced by one with the same id (a reload, `priced_as`) is recognised by its offers (or
        # itself, when it lists none) and its own prices, which an offer that gives none takes.
        listed = getattr(model, "offers", None) or model
        prices = (model.input_per_1m, model.output_per_1m)
        hit = self._listed_offer.get(model.id)
        if hit is not None and hit[0] is listed and hit[1] == prices:
            return hit[2]
        from modelwise.core.providers import offers_of

        o = min(offers_of(model), key=lambda x: x.blended_per_1m)
        self._listed_offer[model.id] = (listed, prices, o)
        return o

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
        # a ranking made while `reload` swaps the settings in is kept under the generation it began in
        generation = self.generation
        settings = self.settings
        tier = tier_of(settings, task_type)
        weights = weights or settings.weights
        if calibration is None:
            args = (task_type, weights, constraints, any_provider, api)
            recent = self._recent  # (each step tolerates another thread's step between two of its own)
            recent.pop(args, None)
            recent[args] = None
            if len(recent) > RECENT_RANKINGS:
                recent.pop(next(iter(recent), ()), None)
        calib = self.calibration() if calibration is None else calibration
        restricted = self.restricted(any_provider)
        reach_key = self.reach.reachable if restricted else None
        # An outcome of one task type leaves the rankings of the others as they are. Deprecation is judged
        # on today's date in the ledger's zone, so a new day ranks afresh.
        today = self.today().isoformat()
        base = (task_type, weights, constraints, today, reach_key, api, generation)
        key = (*base, calib.version_for(task_type))
        r = self._rankings.get(key)
        if r is None:
            unreachable = self._unreachable(api) if restricted else None
            # After outcomes, the ranking made last for these arguments with only the models they
            # moved scored again: what ranking them all gives, without scoring the other models.
            last = self._latest.get(base)
            if last is not None:
                r = recalibrated(last[0], calib.changed(last[1], task_type), settings, calib, unreachable)
            if r is None:
                models = self._reach_models if restricted else self.registry.models
                r = rank_models(models, task_type, tier, weights, settings, constraints, calib, today,
                                unreachable)
            if len(self._rankings) > 256:
                self._rankings.clear()
                self._latest.clear()
            elif last is not None and last[2] != key:
                # superseded: no call asks for a calibration older than the ledger's (a gateway makes a
                # ranking per batch of settlements; 256 of them kept would be garbage the GC walks)
                self._rankings.pop(last[2], None)
            self._rankings[key] = r
            self._latest[base] = (r, calib, key)
        return r

    def _unreachable(self, api: str | None) -> Mapping[str, str]:
        """Why each model routing does not consider is out of reach: no enabled provider lists it, or
        (with `api`) its provider is not called in that wire format."""
        reach = self.reach
        cached = self._unreachable_by_api.get(api)
        if cached is not None and cached[0] is reach:
            return cached[1]
        unreachable = reach.unreachable
        if api is not None:
            apis = {p.name: p.spec.api for p in reach.providers}
            unreachable = {**unreachable, **{
                mid: f"its provider {o.provider} is not called in the {api} format"
                for mid, o in reach.offers.items() if apis.get(o.provider) != api
            }}
        self._unreachable_by_api[api] = (reach, unreachable)
        return unreachable

    def known_capabilities(self) -> frozenset[str]:
        """Every capability some model of the registry declares."""
        cached = self._capabilities
        if cached is None or cached[0] is not self.registry:
            caps: set[str] = set()
            for m in self.registry.models:
                caps |= m.capabilities
            cached = self._capabilities = (self.registry, frozenset(caps))
        return cached[1]

    def known_constraints(self, cons: Constraints) -> Constraints:
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
        """docs/design.md, "Routing": input = ceil(characters / 4) + the type's context allowance; output =
        its allowance."""
        ctx, out = self.settings.tokens_for(task_type)
        return math.ceil(len(description) / 4) + ctx, out

    def validate(
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
            task_budget = finite_number(budget, "budget", positive=True, allow_zero=False)
        for value, what in ((agent, "agent"), (request_id, "requestId")):
            if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_NAME):
                raise BadInput(f"{what} must be a string of 1 to {MAX_NAME} characters")
        return task_type, description, task_budget, agent, request_id, self.parse_weights(weights)

    def task(
        self,
        task_type: Any,
        description: Any = "",
        budget: Any = None,
        *,
        agent: Any = None,
        request_id: Any = None,
        constraints: Constraints | Mapping[str, Any] | None = None,
        weights: Weights | str | Sequence[float] | Mapping[str, float] | None = None,
        any_provider: Any = None,
        dry_run: bool = False,
    ) -> Task:
        """A caller's task as a validated `Task`; raises BadInput naming the first thing wrong."""
        task_type, description, task_budget, agent, request_id, w = self.validate(
            task_type, description, budget, agent, request_id, weights
        )
        if any_provider is not None and not isinstance(any_provider, bool):
            raise BadInput("anyProvider must be true or false")
        cons = self.known_constraints(parse_constraints(constraints))
        return Task(task_type, description, task_budget, w, cons, agent, request_id, any_provider, dry_run)

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

    def observations(self) -> Calibration:
        """What the ledger saw per (model, task type), whether or not learning is on (what `models`,
        `explain` and `audit` show next to the registry values)."""
        if self.settings.learning_enabled:
            return self.calibration()
        if not self.ledger_exists():
            return EMPTY
        return Calibration(observed_by_key(self.ledger.observations()), self.ledger.outcomes_version())

    def day_start(self, day: date | None = None) -> datetime:
        """Midnight starting `day` (default today) in the configured time zone."""
        local = self.clock().astimezone(self.tz)
        d = day or local.date()
        return datetime.combine(d, datetime.min.time(), tzinfo=local.tzinfo)

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
            self._latest = {}
            self._reach = None
            self.replayers = {}
            self.generation += 1
        return {"config": str(config), "registry": None if new_registry is None else str(paths.registry)}

    def enable_group_commit(self, max_batch: int = 256) -> None:
        """Commit concurrent admissions together from one writer thread (ledger.group). Same semantics as
        one transaction per decision; far fewer commits under load. Stopped by `close()`. When the writer
        has nothing queued after settlements it brings the last rankings up to date with them (`warm`)."""
        if self._group_commit is None:
            from modelwise.ledger.group import GroupCommitter

            self._group_commit = GroupCommitter(self.ledger, max_batch=max_batch, idle=self.warm)

    def warm(self) -> None:
        """Rank again, with the calibration as it is now, the last few rankings asked for whose task type
        has new outcomes (a cache hit for the others): the group-commit writer does so when a batch of
        settlements leaves it idle, so the next call of that kind (one client's calls one after another,
        an outcome between each) finds its ranking made instead of making it while the call waits."""
        for task_type, weights, constraints, any_provider, api in list(self._recent):
            try:
                self.ranking(task_type, weights, constraints, any_provider=any_provider, api=api)
            except Exception:  # noqa: BLE001, S112 - a ranking that cannot be made now is made, or fails, when asked
                continue

    def bind_group_commit(self, loop: Any, alone: Callable[[], bool] | None = None) -> bool:
        """Run group commit's batches on the event loop `loop` (the server's; call it from that loop):
        ledger.group says how. `alone()`: whether the server has nothing in flight but the caller of
        the batch about to commit (the loop then commits it itself). Returns whether they do (SQLite
        does; PostgreSQL keeps its writer)."""
        group = self._group_commit
        return group is not None and group.bind(loop, alone)

    async def unbind_group_commit(self) -> None:
        """Commit what the loop has queued and go back to the writer thread (the loop is stopping)."""
        group = self._group_commit
        if group is not None:
            await group.unbind()

    @property
    def group_commit_enabled(self) -> bool:
        return self._group_commit is not None

    def disable_group_commit(self) -> None:
        group, self._group_commit = self._group_commit, None
        if group is not None:
            group.close()

    def submit(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Future:
        """`fn(*args, **kw)` on the group-commit writer thread, inside its batch transaction; the Future
        resolves once that transaction commits (on the thread of the server's loop group commit is bound
        to, it is one of the loop's). Without group commit it runs at once on this thread."""
        group = self._group_commit
        if group is None:
            from concurrent.futures import Future

            fut: Future = Future()
            try:
                fut.set_result(fn(*args, **kw))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        return group.submit(fn, *args, **kw)

    def submit_unacknowledged(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Future:
        """`submit` for a write whose result nobody is told of (a gateway's settlement): with group
        commit, a batch of only such writes commits without waiting for the disk."""
        group = self._group_commit
        if group is None:
            return self.submit(fn, *args, **kw)
        return group.submit_unacknowledged(fn, *args, **kw)

    def admit(
        self, day: str, request_id: str | None, make: Callable[[Mapping[str, float]], NewDecision]
    ) -> tuple[dict[str, Any], bool]:
        """Admit a decision `make` builds from the day's spend: one transaction, or a batch of the group
        commit's writer thread."""
        group = self._group_commit
        if group is not None:
            return group.admit(day, request_id, make)
        return self.ledger.admit(day, request_id, make)

    def settle(
        self, decision_id: str, ts: str, ts_unix: float, make: MakeSettlement, correct: bool = False
    ) -> dict[str, Any]:
        group = self._group_commit
        if group is not None:  # through the writer, so the pool threads never wait on its write lock
            return group.wait(self.ledger.settle_in_batch, decision_id, ts, ts_unix, make, correct)
        return self.ledger.settle(decision_id, ts, ts_unix, make, correct)


def ledger_zone(ledger: Path, configured: str | None) -> dict[str, str]:
    """The budget day's zone as `locate` reports it: the ledger's own, or the one a new ledger would get."""
    from modelwise.ledger import peek_zone
    from modelwise.zone import machine_zone_name

    recorded = peek_zone(ledger)
    if recorded is not None:
        return {"timezone": recorded, "timezoneSource": "recorded in the ledger"}
    if configured is not None:
        return {"timezone": configured, "timezoneSource": "the config's; a new ledger will record it"}
    return {"timezone": machine_zone_name(), "timezoneSource": "this machine's; a new ledger will record it"}


def migrate_ledger(
    config: str | None, registry: str | None, ledger: str | None, to: str
) -> dict[str, Any]:
    """`modelwise ledger migrate`: copy the ledger the flags, environment and config name into a new,
    empty ledger at `to` (a file or a postgresql:// URL), in one transaction, checked row for row.
    Returns {"from", "to", "copied": {table: rows}}; raises BadInput for a bad target."""
    from modelwise.ledger import ledger_exists, open_ledger
    from modelwise.ledger.copy import copy_ledger
    from modelwise.ledger_url import location_of
    from modelwise.loading import load_settings

    cfg, explicit = config_path(config)
    settings, from_config = load_settings(cfg, explicit)
    paths = resolve(cfg, explicit, registry, ledger, from_config)
    source_at, target_at = paths.ledger, location_of(to, from_config.get("password_env"))
    if str(source_at) == str(target_at):
        raise BadInput(f"--to {target_at} is the ledger itself; give another one")
    if not ledger_exists(source_at):
        raise BadInput(f"there is no ledger at {source_at} to copy")
    source = open_ledger(source_at, settings.synchronous)
    try:
        target = open_ledger(target_at, settings.synchronous, zone=source.zone)
        try:
            counts = copy_ledger(source, target)
        finally:
            target.close()
    finally:
        source.close()
    return {"from": str(source_at), "to": str(target_at), "copied": counts}
