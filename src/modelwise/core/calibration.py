"""Learning from outcomes: Beta-posterior quality and availability, and median latency, per model and task."""

from __future__ import annotations

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

    Scoring asks `observed(model_id, task_type)`; an empty Calibration is learning with no data."""

    by_key: dict[tuple[str, str], Observed] = field(default_factory=dict)
    version: int = 0

    def observed(self, model_id: str, task_type: str) -> Observed | None:
        return self.by_key.get((model_id, task_type))

    def __bool__(self) -> bool:
        return bool(self.by_key)


EMPTY = Calibration()


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a success rate (95% for z = 1.96); None without data.

    Unlike p ± z·SE it stays inside 0..1 and is not empty at p = 0 or 1, so three failures out of three
    are evidence of a low rate, not of certainty."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * ((p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def underperforms(obs: Observed, registry_quality: float, z: float = 1.96) -> bool:
    """The brief's "remove underperforming models": the observed success rate falls short of the registry
    quality by more than its uncertainty, i.e. the whole Wilson interval lies below the registry value."""
    interval = wilson_interval(obs.successes, obs.successes + obs.failures, z)
    return interval is not None and interval[1] < registry_quality
