"""Benchmark of the what-if replay (issue 7): a day of 10,000 decisions over the shipped registry.

Builds a ledger through the real service (mixed task types, sizes, weights and constraints, a fixed
clock inside one day, outcomes on a share of the decisions so learning recalibrates during the day),
then times `whatif` with the recorded weights (which must reproduce the day: changed == 0), with new
weights, and `whatif_today` as the console would call it per keystroke.

    python bench/whatif.py [--decisions 10000] [--outcomes 0.3] [--ledger PATH]

A ledger given with --ledger is reused if it exists (building one takes a while)."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelwise.service import TokenOptimizationService

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = [None, "0.4,0.3,0.2,0.1", "0.2,0.5,0.1,0.2", "0.3,0.2,0.1,0.4"]


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def build(svc: TokenOptimizationService, clock: Clock, n: int, outcomes: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    types = svc.settings.task_types
    step = timedelta(seconds=80_000 / n)  # the whole run inside one calendar day
    for i in range(n):
        d = svc.route_task(
            rng.choice(types),
            "x" * rng.choice([40, 400, 4000, 40_000]),
            rng.choice([None, None, 0.05]),
            weights=rng.choice(WEIGHTS),
            constraints=rng.choice([None, None, None, {"minQuality": 0.6}, {"maxLatencyMs": 5000}]),
        )
        clock.now += step
        if d["status"] != "refused" and rng.random() < outcomes:
            svc.record_outcome(
                d["decisionId"],
                rng.choice(["success", "success", "success", "failure", "error"]),
                latency_ms=rng.choice([None, 400.0, 1500.0, 6000.0]),
            )
        if (i + 1) % 2000 == 0:
            print(f"  built {i + 1:,} decisions", flush=True)


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def run(decisions: int = 10_000, outcomes: float = 0.3, quick: bool = False) -> list[dict]:
    """The figures for bench/all.py (issue 7; no budget): replaying a day of `decisions` with the
    recorded weights and with new ones, and the console's per-keystroke what-if line."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import figure

    if quick:
        decisions = min(decisions, 2000)
    tmp = Path(tempfile.mkdtemp(prefix="modelwise-bench-"))
    cfg = tmp / "config.toml"
    cfg.write_text('store_descriptions = "none"\nsynchronous = "normal"\n')
    clock = Clock(datetime(2026, 11, 26, 0, 30, tzinfo=UTC))
    svc = TokenOptimizationService(
        registry=ROOT / "model_registry.json", ledger=tmp / "l.sqlite3", config=cfg, clock=clock
    )
    build(svc, clock, decisions, outcomes)
    svc.ctx.replayers = {}
    t = time.perf_counter()
    r = svc.whatif()
    cold = (time.perf_counter() - t) * 1000
    assert r["changed"] == 0, "replay must reproduce the day"
    new = []
    for w in ("0.4,0.3,0.2,0.6", "0.4,0.6,0.2,0.1", "0.1,0.3,0.2,0.3"):
        t = time.perf_counter()
        svc.whatif(w)
        new.append((time.perf_counter() - t) * 1000)
    svc.whatif_today()
    keys = []
    for i in range(10):
        t = time.perf_counter()
        svc.whatif_today(f"0.4,0.3,0.2,{0.1 + i * 0.01:.2f}")
        keys.append((time.perf_counter() - t) * 1000)
    svc.close()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    n = f"a day of {decisions:,} decisions"
    return [
        figure(f"whatif, recorded weights, {n} (cold)", cold, "ms"),
        figure(f"whatif, new weights, {n} (cold rankings)", statistics.median(new), "ms",
               spread=(min(new), max(new))),
        figure(f"whatif_today per keystroke, {n}", statistics.median(keys), "ms",
               spread=(min(keys), max(keys))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--outcomes", type=float, default=0.3, help="share of decisions given an outcome")
    ap.add_argument("--ledger", type=Path, help="reuse (or create) this ledger")
    ap.add_argument("--typical", type=int, default=100, help="decisions of the typical day (live line)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="modelwise-bench-"))
    ledger = args.ledger or tmp / "ledger.sqlite3"
    cfg = tmp / "config.toml"
    cfg.write_text('store_descriptions = "none"\nsynchronous = "normal"\n')
    clock = Clock(datetime(2026, 11, 26, 0, 30, tzinfo=UTC))
    registry = ROOT / "model_registry.json"
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=cfg, clock=clock)
    existing = svc.ledger.count_decisions() if ledger.exists() else 0
    if existing == 0:
        print(f"building {args.decisions:,} decisions ({args.outcomes:.0%} with outcomes) in {ledger} ...")
        t = time.perf_counter()
        build(svc, clock, args.decisions, args.outcomes)
        print(f"  built in {time.perf_counter() - t:.1f} s")
    else:
        print(f"reusing {ledger} ({existing:,} decisions)")
        clock.now = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
    learning = "on" if svc.settings.learning_enabled else "off"
    print(f"registry: {len(svc.registry):,} models; learning {learning}")

    # 1. Replay with what was used: reproduces the day.
    svc.ctx.replayers = {}  # cold: no rankings cached
    t = time.perf_counter()
    r = svc.whatif()
    cold = (time.perf_counter() - t) * 1000
    print(
        f"whatif, recorded weights (cold): {cold:7.1f} ms for {r['decisions']:,} decisions "
        f"(read {r['timing']['readMs']:.1f} ms, replay {r['timing']['replayMs']:.1f} ms, "
        f"{r['timing']['rankingsBuilt']} rankings built) -> changed {r['changed']}, "
        f"cost {r['recorded']['cost']:.4f} recorded vs {r['replayed']['cost']:.4f} replayed"
    )
    assert r["changed"] == 0 and r["recorded"]["cost"] == r["replayed"]["cost"], "replay must reproduce"
    warm, _ = timed(lambda: svc.whatif())
    print(f"whatif, recorded weights (warm rankings):     {warm:7.1f} ms")

    # 2. New weights: every ranking is new.
    cold_new = []
    for w in ("0.4,0.3,0.2,0.6", "0.4,0.6,0.2,0.1", "0.1,0.3,0.2,0.3"):
        t = time.perf_counter()
        r = svc.whatif(w)
        cold_new.append((time.perf_counter() - t) * 1000)
    print(
        f"whatif, new weights (cold rankings), median of 3: {statistics.median(cold_new):7.1f} ms "
        f"(e.g. {r['changed']:,} change model, ${r['recorded']['cost']:.2f} -> ${r['replayed']['cost']:.2f}, "
        f"{r['timing']['rankingsBuilt']} rankings)"
    )
    warm_new, _ = timed(lambda: svc.whatif("0.1,0.3,0.2,0.3"))
    print(f"whatif, new weights (warm rankings):          {warm_new:7.1f} ms")

    # 3. The console's live line: day cached, a new weight per keystroke.
    svc.whatif_today()  # reads the day once
    keys = []
    for i in range(10):
        t = time.perf_counter()
        line = svc.whatif_today(f"0.4,0.3,0.2,{0.1 + i * 0.01:.2f}")["line"]
        keys.append((time.perf_counter() - t) * 1000)
    same, _ = timed(lambda: svc.whatif_today("0.4,0.3,0.2,0.19"))
    med = statistics.median(keys)
    print(f"whatif_today per keystroke (new weights): median {med:.1f} ms, max {max(keys):.1f} ms")
    print(f"whatif_today, same weights again:         median {same:.1f} ms")
    print(f"  {line}")
    svc.close()

    # 4. A typical day (the console's case): a hundred decisions, a keystroke each time.
    small = tmp / "typical.sqlite3"
    clock = Clock(datetime(2026, 11, 26, 0, 30, tzinfo=UTC))
    svc = TokenOptimizationService(registry=registry, ledger=small, config=cfg, clock=clock)
    build(svc, clock, args.typical, args.outcomes, seed=2)
    svc.whatif_today()
    keys = []
    for i in range(20):
        t = time.perf_counter()
        line = svc.whatif_today(f"0.4,{0.3 + i * 0.01:.2f},0.2,0.1")["line"]
        keys.append((time.perf_counter() - t) * 1000)
    print(
        f"typical day of {args.typical} decisions, whatif_today per keystroke: median "
        f"{statistics.median(keys):.1f} ms, max {max(keys):.1f} ms"
    )
    print(f"  {line}")
    svc.close()


if __name__ == "__main__":
    main()
