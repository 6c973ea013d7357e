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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from modelwise.core import budget as budget_policy
from modelwise.core.calibration import EMPTY, Calibration, Observed
from modelwise.core.models import ModelSpec
from modelwise.core.routing import REFUSED, decide
from modelwise.core.scoring import Constraints, Ranking, Scored, rank_models
from modelwise.core.settings import Settings, Weights
from modelwise.core.tiers import nearest_rank, tier_of

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

    def to_json(self) -> dict:
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
    changes: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # (seq, was, now)

    def to_json(self) -> dict:
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
        self.latencies: dict[tuple[str, str], list[float]] = {}
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
            bisect.insort(self.latencies.setdefault(key, []), e.latency_ms)
        self.state[e.task_type] = self.state.get(e.task_type, 0) + 1
        self.changed_models.setdefault(e.task_type, []).append(e.model_id)
        on_known(e)

    def calibration(self, task_type: str) -> tuple[int, Calibration]:
        """(a key of the state, the calibration) for scoring `task_type` now; always empty with
        learning off, so outcomes then only settle costs and never cause a re-ranking."""
        if not self.learning:
            return 0, EMPTY
        n = self.state.get(task_type, 0)
        key = (task_type, n)
        snap = self.snapshots.get(key)
        if snap is None:
            by_key = {}
            for (model_id, t), (s, f, err) in self.counts.items():
                if t != task_type:
                    continue
                lat = self.latencies.get((model_id, t), [])
                median = None
                if lat:
                    k = len(lat)
                    median = lat[k // 2] if k % 2 else (lat[k // 2 - 1] + lat[k // 2]) / 2
                by_key[(model_id, t)] = Observed(s, f, err, median, len(lat))
            snap = Calibration(by_key, n)
            self.snapshots[key] = snap
        return n, snap


class Replayer:
    """Replays decisions over one registry and one set of settings, keeping rankings between runs (the
    console calls it per keystroke with new weights)."""

    def __init__(self, models: Sequence[ModelSpec], settings: Settings, max_rankings: int = 4096):
        self.models = models
        self.settings = settings
        self.max_rankings = max_rankings
        self._rankings: dict[tuple, tuple[Ranking, dict[str, Scored]]] = {}
        self._latest: dict[tuple, int] = {}  # (task type, weights, constraints) -> newest state built
        self._by_id = {m.id: m for m in models}
        self.built = 0
        self.derived = 0

    def clear(self) -> None:
        """Forget every ranking (call when the outcomes a replay sees may have changed)."""
        self._rankings.clear()
        self._latest.clear()

    def ranking(
        self,
        task_type: str,
        weights: Weights,
        constraints: Constraints,
        calib_key: int,
        calibration: Calibration,
        changed_models: Sequence[str] = (),
    ) -> tuple[Ranking, dict[str, Scored]]:
        """The ranking for a task type, weights, constraints and calibration state `calib_key` (the number
        of outcomes known for the type; `changed_models[i]` is the model of outcome i). Built from the
        last state's ranking when only a few models were recalibrated since, else from scratch."""
        key = (task_type, weights, constraints, calib_key)
        hit = self._rankings.get(key)
        if hit is None:
            if len(self._rankings) >= self.max_rankings:
                self.clear()
            base_key = (task_type, weights, constraints)
            prev_n = self._latest.get(base_key)
            prev = self._rankings.get((*base_key, prev_n)) if prev_n is not None else None
            changed = None
            if prev is not None and prev_n is not None and prev_n < calib_key:
                changed = set(changed_models[prev_n:calib_key])
            if prev is not None and changed is not None and len(changed) <= 32:
                r = rescore(prev[0], prev[1], changed, self._by_id, self.settings, calibration)
                self.derived += 1
            else:
                tier = tier_of(self.settings, task_type)
                r = rank_models(
                    self.models, task_type, tier, weights, self.settings, constraints, calibration
                )
            hit = (r, {e.model.id: e for e in r.entries})
            self._rankings[key] = hit
            if prev_n is None or calib_key > prev_n:
                self._latest[base_key] = calib_key
            self.built += 1
        return hit

    def run(
        self,
        records: Sequence[Recorded],
        events: Sequence[OutcomeEvent],
        weights: Weights | None = None,
        keep_changes: bool = False,
    ) -> ReplayResult:
        """Replay `records` (in admission order) with `weights` (None: each decision's own)."""
        settings = self.settings
        result = ReplayResult()
        before = self.built
        timeline = _Timeline(events, settings.learning_enabled)
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
            calib_key, calib = timeline.calibration(rec.task_type)
            ranking, by_id = self.ranking(
                rec.task_type, w, rec.constraints, calib_key, calib,
                timeline.changed_models.get(rec.task_type, ()),
            )
            room = budget_policy.headroom(settings, tier, by_tier)
            choice = decide(ranking, rec.tin, rec.tout, rec.budget, room.limit)
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
        return result


def _suffix_minima(entries: Sequence[Scored]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """As `scoring._suffix_minima`, with the loop in C."""
    mins_in = list(accumulate(reversed([e.pin for e in entries]), min))
    mins_out = list(accumulate(reversed([e.pout for e in entries]), min))
    return tuple(reversed(mins_in)), tuple(reversed(mins_out))


def _order(s: Scored) -> tuple[float, str]:
    return (-s.total, s.model.id)


def rescore(
    prev: Ranking,
    prev_by_id: dict[str, Scored],
    changed: set[str],
    models_by_id: dict[str, ModelSpec],
    settings: Settings,
    calibration: Calibration,
) -> Ranking:
    """`prev` with the models in `changed` scored again under `calibration` (everything else is as in
    `prev`: only calibration changed). Gives what `rank_models` would for `decide`: the same totals,
    order, floor and eligible lists. The unchanged entries are shared with `prev`, so their `floor_ok`
    and `rank` describe `prev`; use the result for routing, not for a breakdown."""
    specs = [models_by_id[i] for i in sorted(changed) if i in models_by_id and i in prev_by_id]
    fresh = rank_models(
        specs, prev.task_type, prev.tier, prev.weights, settings, prev.constraints, calibration
    ).entries
    wc, wp, wa, wk = prev.normalised
    entries = list(prev.entries)
    for s in fresh:
        old = prev_by_id[s.model.id]
        if settings.cost_scale == "log":  # the log scale depends on every capable price: keep it
            s.cost = old.cost
            s.total = wc * s.capability + wp * s.performance + wa * s.availability + wk * s.cost
        entries.remove(old)
        bisect.insort(entries, s, key=_order)
    capable = [s for s in entries if s.capability]
    rated_q = [s.performance for s in capable if s.rated or s.calibrated]
    floor = nearest_rank(rated_q or [s.performance for s in capable], prev.tier.floor_percentile)
    nofloor = [s for s in entries if s.static_reason is None]
    withfloor = nofloor if floor is None else [s for s in nofloor if s.performance >= floor]
    f_in, f_out = _suffix_minima(withfloor)
    n_in, n_out = _suffix_minima(nofloor)
    return Ranking(
        task_type=prev.task_type,
        tier=prev.tier,
        weights=prev.weights,
        normalised=prev.normalised,
        floor=floor,
        entries=tuple(entries),
        floor_list=tuple(withfloor),
        floor_min_in=f_in,
        floor_min_out=f_out,
        nofloor_list=tuple(nofloor),
        nofloor_min_in=n_in,
        nofloor_min_out=n_out,
        constraints=prev.constraints,
    )
