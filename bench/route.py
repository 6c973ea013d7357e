"""In-process routing speed (docs/design.md, "Performance budget"): µs per decision over 5,000 synthetic
models and over the shipped registry, with the ranking cached per task type and weights as the service caches
it.

Run: python bench/route.py [--decisions N]. Prints each figure, its budget and the ratio (figure/budget)."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from modelwise.core.models import ModelSpec
from modelwise.core.routing import candidate_rows, decide, flip_point
from modelwise.core.scoring import rank_models
from modelwise.core.settings import Settings
from modelwise.core.tiers import tier_of
from modelwise.loading import load_registry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
TASKS = ("documentation", "debugging", "architecture", "code_generation", "refactoring")


def synthetic(n: int, seed: int = 7) -> list[ModelSpec]:
    rng = random.Random(seed)
    settings = Settings()
    types = settings.task_types
    models = []
    for i in range(n):
        inp = round(10 ** rng.uniform(-2, 1.5), 4)
        rated = rng.random() < 0.6
        models.append(
            ModelSpec(
                id=f"model-{i:05d}",
                name=f"Model {i}",
                provider=f"p{i % 40}",
                capabilities=frozenset(rng.sample(types, rng.randint(6, len(types)))),
                input_per_1m=inp,
                output_per_1m=round(inp * rng.uniform(2, 5), 4),
                cache_read_per_1m=None,
                latency_ms=rng.uniform(200, 5000),
                quality=round(rng.uniform(0.3, 0.95), 4) if rated else None,
                quality_by_task={},
                availability=round(rng.uniform(0.95, 0.999), 4),
                context_window=rng.choice([8192, 32768, 128000, 200000]),
            )
        )
    return models


def time_decisions(models, decisions: int) -> tuple[float, float]:
    """Median and p99 µs of one decision: tokens → winner, runner-up, margin, flip and the top-10 rows."""
    settings = Settings()
    rankings = {t: rank_models(models, t, tier_of(settings, t), settings.weights, settings) for t in TASKS}
    rng = random.Random(1)
    samples = []
    for i in range(decisions):
        t = TASKS[i % len(TASKS)]
        ranking = rankings[t]
        ctx, out = settings.tokens_for(t)
        tin = ctx + rng.randint(5, 400)
        budget = settings.budget_for(t)
        limit = rng.uniform(0.5, 2.0)
        start = time.perf_counter_ns()
        choice = decide(ranking, tin, out, budget, limit)
        if choice.winner is not None:
            flip_point(ranking, choice.winner, choice.floor_dropped, tin, out, budget, limit)
        candidate_rows(ranking, choice, tin, out, budget, limit, 10)
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def measure(decisions: int) -> list[tuple[str, float, float, float]]:
    shipped = load_registry(ROOT / "model_registry.json").models
    rows = []
    for label, models, budget in (
        ("5,000 synthetic models", synthetic(5000), 100.0),
        (f"shipped registry ({len(shipped)} models)", shipped, 20.0),
    ):
        med, p99 = time_decisions(models, decisions)
        rows.append((f"one decision, {label}", med, p99, budget))
    return rows


def run(decisions: int = 20000, quick: bool = False) -> list[dict]:
    """The figures for bench/all.py: median µs of one decision (p99 in the note)."""
    from _common import figure

    decisions = min(decisions, 5000) if quick else decisions
    return [
        figure(name, med, "µs", budget, note=f"p99 {p99:.1f} µs over {decisions:,} decisions")
        for name, med, p99, budget in measure(decisions)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--decisions", type=int, default=20000)
    args = ap.parse_args()
    print(f"{'figure':<50} {'median µs':>10} {'p99 µs':>9} {'budget µs':>10} {'ratio':>7}")
    for name, med, p99, budget in measure(args.decisions):
        print(f"{name:<50} {med:>10.1f} {p99:>9.1f} {budget:>10.0f} {med / budget:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
