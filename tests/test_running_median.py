"""RunningMedian: the median a sorted list of the same values gives, as each value arrives (what the
learned calibration and replay keep per model and task type instead of re-sorting a list)."""

from __future__ import annotations

import random

import pytest

from modelwise.core.calibration import RunningMedian


def _median(values: list[float]) -> float | None:
    lat = sorted(values)
    if not lat:
        return None
    n = len(lat)
    return lat[n // 2] if n % 2 else (lat[n // 2 - 1] + lat[n // 2]) / 2


def test_empty_has_no_median() -> None:
    m = RunningMedian()
    assert len(m) == 0 and m.median() is None


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_sorted_median_after_every_value(seed: int) -> None:
    rng = random.Random(seed)
    pick = [
        lambda: rng.uniform(0, 5000),
        lambda: float(rng.randint(0, 4)),  # many equal values
        lambda: rng.choice([0.0, -0.0, 1e-9, 1e9]),
    ][seed % 3]
    m, seen = RunningMedian(), []
    for _ in range(400):
        x = pick()
        m.add(x)
        seen.append(x)
        assert len(m) == len(seen)
        assert m.median() == _median(seen)


def test_values_in_order_and_in_reverse() -> None:
    for values in (list(range(101)), list(range(100, -1, -1)), [7.0] * 50):
        m = RunningMedian()
        for i, x in enumerate(values, 1):
            m.add(float(x))
            assert m.median() == _median([float(v) for v in values[:i]])
