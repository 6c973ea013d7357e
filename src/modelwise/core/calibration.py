"""Learning from outcomes: Beta-posterior quality and availability, and median latency, per model and task."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Observed:
    """What the ledger saw for one model on one task type."""

    successes: int = 0
    failures: int = 0
    errors: int = 0
    median_latency_ms: float | None = None
    latency_count: int = 0

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures + self.errors


class RunningMedian:
    """The median of the values added so far, each added in O(log n): the lower half in a max-heap (as
    negatives), the upper half in a min-heap, the lower one never smaller. It equals what a sorted list
    gives (the middle value, or the mean of the two middle ones), where inserting into a sorted list
    moves half of it each time (quadratic over a day's outcomes of one model)."""

    __slots__ = ("_lo", "_hi")

    def __init__(self) -> None:
        self._lo: list[float] = []
        self._hi: list[float] = []

    def __len__(self) -> int:
        return len(self._lo) + len(self._hi)

    def add(self, x: float) -> None:
        lo, hi = self._lo, self._hi
        if not lo or x <= -lo[0]:
            heapq.heappush(lo, -x)
            if len(lo) > len(hi) + 1:
                heapq.heappush(hi, -heapq.heappop(lo))
        else:
            heapq.heappush(hi, x)
            if len(hi) > len(lo):
                heapq.heappush(lo, -heapq.heappop(hi))

    def median(self) -> float | None:
        lo, hi = self._lo, self._hi
        if not lo:
            return None
        if len(lo) > len(hi):
            return -lo[0]
        return (-lo[0] + hi[0]) / 2


def observed_of(counts: Sequence[int], latencies: RunningMedian | None) -> Observed:
    """The Observed record of (successes, failures, errors) `counts` and the latencies recorded, if any."""
    s, f, e = counts
    if latencies is None:
        return Observed(s, f, e, None, 0)
    return Observed(s, f, e, latencies.median(), len(latencies))


def posterior_mean(prior_mean: float, strength: float, hits: int, misses: int) -> float:
    """Mean of Beta(prior_mean*strength + hits, (1-prior_mean)*strength + misses)."""
    total = strength + hits + misses
    if total <= 0:
        return prior_mean
    return (prior_mean * strength + hits) / total


def calibrated_quality(prior: float, strength: float, obs: Observed) -> float:
    """Quality after successes and failures; errors say nothing about quality (the call failed)."""
    return posterior_mean(prior, strength, obs.successes, obs.failures)


def calibrated_availability(prior: float, strength: float, obs: Observed) -> float:
    """Availability after calls that answered (success or failure) and calls that errored."""
    return posterior_mean(prior, strength, obs.successes + obs.failures, obs.errors)


def success_rate_interval(obs: Observed) -> tuple[float, float] | None:
    """Observed success rate (successes / judged outcomes) and its standard error; None without data."""
    n = obs.successes + obs.failures
    if n == 0:
        return None
    p = obs.successes / n
    se = (p * (1 - p) / n) ** 0.5 if n > 1 else 0.5
    return p, max(se, 1.0 / (2 * n))


@dataclass(frozen=True)
class Calibration:
    """Observations per (model id, task type), and a version that changes whenever they do.

    Scoring asks `observed(model_id, task_type)`; an empty Calibration is learning with no data.
    `task_versions` (optional) is the version of what is known of each task type: its newest outcome."""

    by_key: dict[tuple[str, str], Observed] = field(default_factory=dict)
    version: int = 0
    task_versions: dict[str, int] | None = field(default=None, compare=False)
    # by_key per task type: model id -> Observed (made from by_key when not given)
    by_task: dict[str, dict[str, Observed]] | None = field(default=None, compare=False, repr=False)

    def observed(self, model_id: str, task_type: str) -> Observed | None:
        return self.by_key.get((model_id, task_type))

    def of_task(self, task_type: str) -> Mapping[str, Observed]:
        """What was observed of `task_type`, by model id."""
        index = self.by_task
        if index is None:
            index = {}
            for (model_id, task), obs in self.by_key.items():
                index.setdefault(task, {})[model_id] = obs
            object.__setattr__(self, "by_task", index)  # a cache: equal either way
        return index.get(task_type, _NOTHING)

    def changed(self, before: Calibration, task_type: str) -> list[str]:
        """The models whose observations of `task_type` differ between `before` and this calibration."""
        now, then = self.of_task(task_type), before.of_task(task_type)
        moved = [m for m, obs in now.items() if then.get(m) != obs]
        moved.extend(m for m in then if m not in now)
        return moved

    def version_for(self, task_type: str) -> int:
        """A version that changes whenever the observations of `task_type` do (what a ranking for that
        task type depends on); -1 when there are none, as for no calibration at all. Without
        `task_versions`, the whole calibration's version."""
        if not self.by_key:
            return -1
        if self.task_versions is None:
            return self.version
        return self.task_versions.get(task_type, -1)

    def __bool__(self) -> bool:
        return bool(self.by_key)


_NOTHING: Mapping[str, Observed] = {}
EMPTY = Calibration()


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), exact in log space. Sums outward from k over the side of the
    mean it lies on and stops once terms no longer matter, so large n costs about sqrt(n) terms."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def term(i: int) -> float:
        return math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)

    def tail(indices: range) -> float:
        total = 0.0
        for i in indices:
            t = term(i)
            total += t
            if t < 1e-18 * total:
                break
        return total

    if k < n * p:  # below the mean: terms shrink going down from k
        return min(1.0, tail(range(k, -1, -1)))
    return max(0.0, 1.0 - tail(range(k + 1, n + 1)))  # above it: the upper tail shrinks going up

def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) interval of a success rate; None without data. Its upper end is the
    rate q at which seeing `successes` or fewer has probability (1 - confidence) / 2, found by bisection."""
    if n <= 0:
        return None
    tail = (1.0 - confidence) / 2.0

    def solve(f: Callable[[float], float], target: float) -> float:  # f decreasing in q on [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if f(mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    upper = 1.0 if successes >= n else solve(lambda q: binomial_cdf(successes, n, q), tail)
    # P(X >= s) = 1 - P(X <= s - 1) increases with q; the lower end is where it reaches `tail`.
    lower = 0.0 if successes <= 0 else solve(lambda q: binomial_cdf(successes - 1, n, q), 1.0 - tail)
    return lower, upper


def underperforms(obs: Observed, registry_quality: float, confidence: float = 0.95) -> bool:
    """The brief's "remove underperforming models": the observed success rate falls short of the registry
    quality by more than its uncertainty, i.e. the whole exact 95% interval lies below the registry value
    (equivalently: if the model were as good as the registry says, results this poor would happen less
    than 2.5% of the time). One failure of a 0.85 model is not enough; ten out of ten are."""
    interval = clopper_pearson(obs.successes, obs.successes + obs.failures, confidence)
    return interval is not None and interval[1] < registry_quality
