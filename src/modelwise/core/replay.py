"""What-if replay (issue 7): re-route recorded decisions under other weights or settings, in time order,
with the day's budget simulated as the replayed decisions would have spent it.

Each decision is replayed from what was stored: its task type, token estimate, task budget, constraints
and (unless overridden) weights. The budget a decision sees is the spend of the earlier decisions of its
day: their reservations, replaced by their actual cost once their outcome was recorded. With learning on,
each decision is scored with the calibration its outcomes gave at that moment (an outcome counts for a
later decision when its time is at or before that decision's). So replaying with nothing changed
reproduces every recorded decision and its cost exactly. Rankings are cached per (task type, weights,
constraints, calibration state); a replay costs one `decide` per decision."""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from modelwise.core.calibration import EMPTY, Calibration, Observed, RunningMedian, observed_of
from modelwise.core.models import ModelSpec
from modelwise.core.planning import plan
from modelwise.core.routing import REFUSED
from modelwise.core.scoring import (
    Constraints,
    Ranking,
    Scored,
    assemble,
    drop_sorted,
    order,
    rank_models,
    suffix_minima,
)
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import nearest_rank_sorted, tier_of

OUTCOME_INDEX = {"success": 0, "failure": 1, "error": 2}


@dataclass(slots=True)
class Recorded:
    """One stored decision, as much of it as a replay needs."""

    seq: int
    ts: float
    day: str
    task_type: str
    model_id: str | None
    status: str
    reserved: float
    spend: float  # what the ledger counts: the actual cost once settled, else the reservation
    tin: int
    tout: int
    budget: float
    weights: Weights
    constraints: Constraints
    outcome_ts: float | None = None
    actual_tin: int | None = None
    actual_tout: int | None = None
    in_period: bool = True
    daily_budget: float | None = None  # the daily budget it was made under (None: not recorded)


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """A recorded outcome: when, for which decision (its seq), model and task type, and what it was."""

    ts: float
    seq: int
    model_id: str
    task_type: str
    outcome: str
    latency_ms: float | None


@dataclass(slots=True)
class Side:
    """Totals of one side of a what-if (as recorded, or as replayed)."""

    cost: float = 0.0
    models: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    quality_sum: float = 0.0
    quality_n: int = 0

    def add(self, model_id: str | None, status: str, cost: float, quality: float | None) -> None:
        self.cost += cost
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if model_id is not None:
            self.models[model_id] = self.models.get(model_id, 0) + 1
        if quality is not None:
            self.quality_sum += quality
            self.quality_n += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "cost": round(self.cost, 10),
            "models": dict(sorted(self.models.items(), key=lambda kv: (-kv[1], kv[0]))),
            "quality": None if not self.quality_n else round(self.quality_sum / self.quality_n, 6),
            "statuses": dict(sorted(self.statuses.items())),
        }


@dataclass(slots=True)
class ReplayResult:
    decisions: int = 0
    changed: int = 0
    status_changed: int = 0
    skipped: int = 0
    recorded: Side = field(default_factory=Side)
    replayed: Side = field(default_factory=Side)
    rankings_built: int = 0
    rankings_updated: int = 0
    changes: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # (seq, was, now)

    def to_json(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "changed": self.changed,
            "statusChanged": self.status_changed,
            "skipped": self.skipped,
            "recorded": self.recorded.to_json(),
            "replayed": self.replayed.to_json(),
        }


class _Timeline:
    """The calibration as outcomes become known, per task type; a snapshot per (task type, state)."""

    def __init__(self, events: Sequence[OutcomeEvent], learning: bool):
        self.events = sorted(events, key=lambda e: (e.ts, e.seq))
        self.learning = learning
        self.pos = 0
        self.deferred: list[OutcomeEvent] = []
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.latencies: defaultdict[tuple[str, str], RunningMedian] = defaultdict(RunningMedian)
        self.state: dict[str, int] = {}  # task type -> outcomes known for it
        self.snapshots: dict[tuple[str, int], Calibration] = {}
        # task type -> the model of each outcome known for it, in order: state n = the first n of them
        self.changed_models: dict[str, list[str]] = {}

    def advance(self, ts: float, seq: int, on_known: Callable[[OutcomeEvent], None]) -> None:
        """Make known every outcome recorded at or before `ts` for a decision admitted before `seq`."""
        if self.deferred:
            still = []
            for e in self.deferred:
                if e.seq < seq:
                    self._learn(e, on_known)
                else:
                    still.append(e)
            self.deferred = still
        events = self.events
        while self.pos < len(events) and events[self.pos].ts <= ts:
            e = events[self.pos]
            self.pos += 1
            if e.seq < seq:
                self._learn(e, on_known)
            else:  # same instant as a later admission: known only after its own decision
                self.deferred.append(e)

    def _learn(self, e: OutcomeEvent, on_known: Callable[[OutcomeEvent], None]) -> None:
        key = (e.model_id, e.task_type)
        self.counts.setdefault(key, [0, 0, 0])[OUTCOME_INDEX[e.outcome]] += 1
        if e.latency_ms is not None:
            self.latencies[key].add(e.latency_ms)
        self.state[e.task_type] = self.state.get(e.task_type, 0) + 1
        self.changed_models.setdefault(e.task_type, []).append(e.model_id)
        on_known(e)

    def observed(self, model_id: str, task_type: str) -> Observed | None:
        """What is known now of one model on one task type."""
        c = self.counts.get((model_id, task_type))
        if c is None:
            return None
        return observed_of(c, self.latencies.get((model_id, task_type)))

    def calibration(self, task_type: str) -> tuple[int, Calibration]:
        """(a key of the state, the calibration) for scoring `task_type` now; always empty with
        learning off, so outcomes then only settle costs and never cause a re-ranking."""
        if not self.learning:
            return 0, EMPTY
        n = self.state.get(task_type, 0)
        key = (task_type, n)
        snap = self.snapshots.get(key)
        if snap is None:
            by_key: dict[tuple[str, str], Observed] = {}
            for model_id, t in self.counts:
                if t == task_type:
                    obs = self.observed(model_id, t)
                    if obs is not None:  # always: every key of `counts` has an observation
                        by_key[(model_id, t)] = obs
            snap = Calibration(by_key, n)
            self.snapshots[key] = snap
        return n, snap


class _Sorted:
    """A best-first list of scored models with their per-1M prices and the suffix minima `best_fit` reads,
    kept up to date in place as single models move."""

    __slots__ = ("items", "pin", "pout", "min_in", "min_out")

    def __init__(self, items: Sequence[Scored], min_in: Sequence[float], min_out: Sequence[float]):
        self.items = list(items)
        self.pin = [e.pin for e in items]
        self.pout = [e.pout for e in items]
        self.min_in = list(min_in)
        self.min_out = list(min_out)

    def remove(self, e: Scored) -> None:
        i = bisect.bisect_left(self.items, order(e), key=order)
        assert self.items[i] is e
        for lst in (self.items, self.pin, self.pout, self.min_in, self.min_out):
            del lst[i]
        self._fix(i - 1)

    def insert(self, e: Scored) -> None:
        i = bisect.bisect_left(self.items, order(e), key=order)
        self.items.insert(i, e)
        self.pin.insert(i, e.pin)
        self.pout.insert(i, e.pout)
        self.min_in.insert(i, 0.0)
        self.min_out.insert(i, 0.0)
        self._fix(i)

    def _fix(self, upto: int) -> None:
        """Recompute the suffix minima of positions 0..upto (those after it did not change)."""
        if upto < 0:
            return
        nxt = upto + 1 < len(self.items)
        for prices, mins in ((self.pin, self.min_in), (self.pout, self.min_out)):
            start = mins[upto + 1] if nxt else math.inf
            head = list(accumulate(reversed(prices[: upto + 1]), min, initial=start))[1:]
            head.reverse()
            mins[: upto + 1] = head




class _Live:
    """One (task type, weights, constraints) ranking during a replay, updated in place as outcomes
    recalibrate single models: what `rank_models` would give at each calibration state, for `decide`."""

    def __init__(self, r: Ranking, state: int, by_id: dict[str, Scored]):
        self.r = r
        self.state = state
        self.by_id = by_id  # shared with the fresh ranking until the first change (then copied)
        self.floor = r.floor
        self._ranking: Ranking | None = r
        self._mutable = False

    def _materialise(self) -> None:
        """The mutable copies, made on the first change only (most rankings of a run never change)."""
        r = self.r
        self.entries = list(r.entries)
        self.by_id = dict(self.by_id)
        self.nf = _Sorted(r.nofloor_list, r.nofloor_min_in, r.nofloor_min_out)
        self.fl = _Sorted(r.floor_list, r.floor_min_in, r.floor_min_out)
        capable = [e for e in r.entries if e.capability]
        self.rated_q = sorted(e.performance for e in capable if e.rated or e.calibrated)
        self.capable_q = sorted(e.performance for e in capable)
        self._mutable = True

    def _in_floor(self, e: Scored, floor: float | None) -> bool:
        return e.static_reason is None and (floor is None or e.performance >= floor)

    def replace(self, new: Scored) -> None:
        """Put `new` (the same model scored again) in place of its old entry."""
        if not self._mutable:
            self._materialise()
        old = self.by_id[new.model.id]
        i = bisect.bisect_left(self.entries, order(old), key=order)
        del self.entries[i]
        bisect.insort(self.entries, new, key=order)
        self.by_id[new.model.id] = new
        if old.capability:
            drop_sorted(self.capable_q, old.performance)
            if old.rated or old.calibrated:
                drop_sorted(self.rated_q, old.performance)
        if new.capability:
            bisect.insort(self.capable_q, new.performance)
            if new.rated or new.calibrated:
                bisect.insort(self.rated_q, new.performance)
        floor = nearest_rank_sorted(self.rated_q or self.capable_q, self.r.tier.floor_percentile)
        was_in_floor = self._in_floor(old, self.floor)
        if old.static_reason is None:
            self.nf.remove(old)
        if new.static_reason is None:
            self.nf.insert(new)
        if floor != self.floor:
            self.floor = floor
            items = [e for e in self.nf.items if floor is None or e.performance >= floor]
            self.fl = _Sorted(items, *suffix_minima(items))
        else:
            if was_in_floor:
                self.fl.remove(old)
            if self._in_floor(new, floor):
                self.fl.insert(new)
        self._ranking = None

    def ranking(self) -> Ranking:
        if self._ranking is None:
            r = self.r
            self._ranking = Ranking(
                task_type=r.task_type,
                tier=r.tier,
                weights=r.weights,
                normalised=r.normalised,
                floor=self.floor,
                entries=self.entries,
                floor_list=self.fl.items,
                floor_min_in=self.fl.min_in,
                floor_min_out=self.fl.min_out,
                nofloor_list=self.nf.items,
                nofloor_min_in=self.nf.min_in,
                nofloor_min_out=self.nf.min_out,
                constraints=r.constraints,
                today=r.today,
            )
        return self._ranking


class Replayer:
    """Replays decisions over one registry and one set of settings. Fresh rankings (`rank_models`) are
    kept between runs for the calibration state at which a run first needs them; within a run each is
    then updated in place as outcomes recalibrate single models (the console calls this per keystroke)."""

    def __init__(self, models: Sequence[ModelSpec], settings: Settings, max_rankings: int = 512):
        self.models = models
        self.settings = settings
        self.max_rankings = max_rankings
        self._fresh: dict[tuple[Any, ...], tuple[Ranking, dict[str, Scored]]] = {}
        # (type, constraints, state) -> a ranking of them
        self._components: dict[tuple[Any, ...], Ranking] = {}
        self._by_id = {m.id: m for m in models}
        self.built = 0
        self.updated = 0

    def clear(self) -> None:
        """Forget every ranking (call when the outcomes a replay sees may have changed)."""
        self._fresh.clear()
        self._components.clear()

    def _fresh_ranking(self, task_type: str, weights: Weights, constraints: Constraints, state: int,
                       calibration: Calibration, day: str | None = None) -> tuple[Ranking, dict[str, Scored]]:
        key = (task_type, weights, constraints, state, day)
        hit = self._fresh.get(key)
        if hit is None:
            if len(self._fresh) >= self.max_rankings:
                self._fresh.clear()
                self._components.clear()
            same = self._components.get((task_type, constraints, state, day))
            if same is not None:  # the components do not depend on the weights: only re-total
                r = reweight(same, weights)
            else:
                tier = tier_of(self.settings, task_type)
                r = rank_models(
                    self.models, task_type, tier, weights, self.settings, constraints, calibration, day
                )
                self._components[(task_type, constraints, state, day)] = r
            hit = self._fresh[key] = (r, {e.model.id: e for e in r.entries})
            self.built += 1
        return hit

    def _rescored(self, live: _Live, model_id: str, obs: Observed | None) -> Scored | None:
        spec = self._by_id.get(model_id)
        if spec is None or model_id not in live.by_id:
            return None
        r = live.r
        calib = Calibration({(model_id, r.task_type): obs} if obs is not None else {}, 1)
        one = rank_models(
            [spec], r.task_type, r.tier, r.weights, self.settings, r.constraints, calib, r.today
        )
        s = one.entries[0]
        if self.settings.cost_scale == "log":  # the log scale depends on every capable price: keep it
            wc, wp, wa, wk = r.normalised
            s.cost = live.by_id[model_id].cost
            s.total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost
        return s

    def run(
        self,
        records: Sequence[Recorded],
        events: Sequence[OutcomeEvent],
        weights: Weights | None = None,
        keep_changes: bool = False,
        recorded_budgets: bool = False,
    ) -> ReplayResult:
        """Replay `records` (in admission order) with `weights` (None: each decision's own).
        `recorded_budgets`: each decision under the daily budget it was made under, where recorded (else
        the settings' own)."""
        settings = self.settings
        under: dict[float, Settings] = {}

        def budget_settings(daily: float | None) -> Settings:
            if not recorded_budgets or daily is None or daily == settings.daily_budget:
                return settings
            s = under.get(daily)
            if s is None:
                s = under[daily] = dataclasses.replace(settings, daily_budget=daily)
            return s

        result = ReplayResult()
        before, updated_before = self.built, self.updated
        timeline = _Timeline(events, settings.learning_enabled)
        lives: dict[tuple[Any, ...], _Live] = {}
        spent: dict[str, dict[str, float]] = {}  # day -> tier -> spend
        # What each replayed decision reserved and will cost once settled: seq -> (day, tier, reserved, cost)
        booked: dict[int, tuple[str, str, float, float]] = {}

        def settle(e: OutcomeEvent) -> None:
            b = booked.pop(e.seq, None)
            if b is not None:
                day, tier, reserved, cost = b
                by_tier = spent.setdefault(day, {})
                by_tier[tier] = by_tier.get(tier, 0.0) + (cost - reserved)

        for rec in records:
            timeline.advance(rec.ts, rec.seq, settle)
            tier = settings.tier_for(rec.task_type)
            by_tier = spent.setdefault(rec.day, {})
            if tier is None or not rec.in_period:
                # Before the period (or of a task type no longer configured): as recorded.
                if rec.in_period:
                    result.skipped += 1
                name = tier.name if tier is not None else "?"
                by_tier[name] = by_tier.get(name, 0.0) + rec.reserved
                if rec.status != REFUSED and rec.outcome_ts is not None:
                    booked[rec.seq] = (rec.day, name, rec.reserved, rec.spend)
                continue
            w = weights or rec.weights
            base = (rec.task_type, w, rec.constraints, rec.day)  # deprecation is judged on the record's day
            live = lives.get(base)
            state = timeline.state.get(rec.task_type, 0) if timeline.learning else 0
            if live is None:
                _, calib = timeline.calibration(rec.task_type)
                fresh, fresh_by_id = self._fresh_ranking(rec.task_type, w, rec.constraints, state, calib,
                                                         rec.day)
                live = lives[base] = _Live(fresh, state, fresh_by_id)
            elif live.state < state:
                for changed in sorted(set(timeline.changed_models[rec.task_type][live.state : state])):
                    s = self._rescored(live, changed, timeline.observed(changed, rec.task_type))
                    if s is not None:
                        live.replace(s)
                        self.updated += 1
                live.state = state
            ranking, by_id = live.ranking(), live.by_id
            under_budget = budget_settings(rec.daily_budget)
            choice = plan(ranking, rec.tin, rec.tout, rec.budget, under_budget, by_tier).choice
            result.decisions += 1
            # As recorded.
            was = by_id.get(rec.model_id) if rec.model_id is not None else None
            result.recorded.add(
                rec.model_id, rec.status, rec.spend if rec.status != REFUSED else 0.0,
                was.performance if was is not None else None,
            )
            # As replayed.
            win = choice.winner
            if win is None:
                reserved = cost = 0.0
                model_id = None
            else:
                model_id = win.model.id
                reserved = round(choice.estimated_cost, 10)
                if model_id == rec.model_id:
                    cost = rec.spend
                elif rec.actual_tin is not None or rec.actual_tout is not None:
                    tin = rec.actual_tin if rec.actual_tin is not None else rec.tin
                    tout = rec.actual_tout if rec.actual_tout is not None else rec.tout
                    cost = win.model.cost_of(tin, tout)
                else:
                    cost = reserved
                by_tier[tier.name] = by_tier.get(tier.name, 0.0) + reserved
                if rec.outcome_ts is not None:
                    booked[rec.seq] = (rec.day, tier.name, reserved, cost)
            result.replayed.add(model_id, choice.status, cost, win.performance if win is not None else None)
            if model_id != rec.model_id:
                result.changed += 1
                if keep_changes:
                    result.changes.append((rec.seq, rec.model_id, model_id))
            if choice.status != rec.status:
                result.status_changed += 1
        result.rankings_built = self.built - before
        result.rankings_updated = self.updated - updated_before
        return result




def reweight(base: Ranking, weights: Weights) -> Ranking:
    """`base` under other weights: what `rank_models` gives for them (components, reasons, the floor and
    who clears it do not depend on the weights; the totals are computed by the same expression)."""
    nw = weights.normalised()
    wc, wp, wa, wk = nw
    scored = []
    for e in base.entries:
        s = Scored(e.model)
        s.capability = e.capability
        s.performance = e.performance
        s.availability = e.availability
        s.cost = e.cost
        s.rated = e.rated
        s.calibrated = e.calibrated
        s.latency = e.latency
        s.static_reason = e.static_reason
        s.warning = e.warning
        s.total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost
        scored.append(s)
    scored.sort(key=order)
    nofloor = [s for s in scored if s.static_reason is None]
    return assemble(base.task_type, base.tier, weights, nw, base.constraints, base.today, scored, nofloor,
                    base.floor)
