"""What outcomes taught, kept up to date incrementally from the append-only outcomes table."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable

from modelwise.app.values import OUTCOMES
from modelwise.core.calibration import Calibration, Observed, RunningMedian, observed_of
from modelwise.ledger import Ledger


def observed_by_key(
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


class Learned:
    """The calibration kept up to date incrementally: the outcomes table is append-only, so each refresh
    reads only the outcomes recorded since the last one (by rowid) and updates the counts and latency
    medians (`RunningMedian`) of the (model, task type) pairs they touch. A new correction changes an
    outcome already counted, so it makes the next refresh read every outcome again (with its current
    values); corrections are rare. The result equals a full re-read
    (`observed_by_key(ledger.observations())`, keys in the same sorted order); a ledger whose history no
    longer matches (replaced, shorter) is read in full again. The version is the ledger's
    `outcomes_version` of the snapshot read.

    Refreshes come from more than one snapshot: the server's event loop learns inside a batch it has not
    committed yet (its admissions plan against what its settlements taught), while the group commit's
    idle work, outside any batch, reads what is committed. A snapshot that is only behind (its newest
    outcome is one this learner read, and still the same decision's) teaches nothing new: the learner
    keeps what it has instead of taking the missing newest rows for a replaced history and reading every
    outcome again, which on a busy gateway happened at every idle moment and grew with the ledger."""

    RECENT = 4096  # the newest (rowid, decision id) read, to tell a snapshot behind from another history

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self.latencies: defaultdict[tuple[str, str], RunningMedian] = defaultdict(RunningMedian)
        self.by_key: dict[tuple[str, str], Observed] = {}
        self.by_task: dict[str, dict[str, Observed]] = {}  # by_key per task type (a changed one made anew)
        self.task_versions: dict[str, int] = {}
        self.recent: deque[tuple[int, str]] = deque(maxlen=self.RECENT)  # the newest read, oldest first
        self.corrections = 0  # seq of the newest correction reflected
        self.calibration: Calibration | None = None  # the last one made

    @property
    def last(self) -> tuple[int, str] | None:
        """(rowid, decision id) of the newest outcome read."""
        return self.recent[-1] if self.recent else None

    def update(self, ledger: Ledger) -> Calibration:
        if self.last is not None and not ledger.has_outcome(*self.last):
            if self._behind(ledger) and self.calibration is not None:
                return self.calibration
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
                self.latencies[key].add(latency_ms)
            self.task_versions[task_type] = version
            self.recent.append((rowid, decision_id))
            touched.add(key)
        if touched:
            by_key = dict(self.by_key)
            by_task = dict(self.by_task)
            copied: set[str] = set()
            for key in touched:
                obs = by_key[key] = observed_of(self.counts[key], self.latencies.get(key))
                model_id, task_type = key
                if task_type not in copied:
                    by_task[task_type] = dict(by_task.get(task_type, {}))
                    copied.add(task_type)
                by_task[task_type][model_id] = obs
            self.by_key = dict(sorted(by_key.items())) if new_key else by_key
            self.by_task = by_task
        self.calibration = Calibration(self.by_key, version, dict(self.task_versions), self.by_task)
        return self.calibration

    def _behind(self, ledger: Ledger) -> bool:
        """Whether `ledger`'s snapshot lacks the newest outcome read only because it is older: its own
        newest outcome is one read among the last `RECENT`, at the same rowid, with the same
        corrections. (An outcome read in a batch that was then rolled back stays counted until its rowid
        holds another decision's outcome, which the next refresh from a newer snapshot sees.)"""
        if not self.recent:
            return False
        last, corrections, _ = ledger.outcomes_since(self.recent[-1][0])
        if corrections != self.corrections or last < self.recent[0][0]:
            return False
        for rowid, decision_id in reversed(self.recent):
            if rowid == last:
                return ledger.has_outcome(rowid, decision_id)
            if rowid < last:
                return False
        return False
