"""What providers cost a process: reachability over the shipped registry (computed once per service), and
a fresh service plus one dry-run decision (what a cold `route` does after loading the cached registry),
with no provider on (advisory: the baseline) and with one and three keys set, as ratios to the baseline.

Run: python bench/reach.py [--runs N]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS: dict[str, dict[str, str]] = {
    "no provider (advisory)": {},
    "ANTHROPIC_API_KEY": {"ANTHROPIC_API_KEY": "x"},
    "ANTHROPIC, OPENAI, OPENROUTER keys": {
        "ANTHROPIC_API_KEY": "x", "OPENAI_API_KEY": "x", "OPENROUTER_API_KEY": "x",
    },
}


def measure(runs: int) -> list[tuple[str, float, float]]:
    from modelwise.core import providers as prov
    from modelwise.loading import load_registry
    from modelwise.service import TokenOptimizationService

    for var in prov.KEY_VARIABLES:
        os.environ.pop(var, None)
    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "config.toml"
    cfg.write_text("")
    registry = load_registry(ROOT / "model_registry.json", tmp / "cache")  # fills the cache
    reach_us: dict[str, list[float]] = {label: [] for label in SCENARIOS}
    fresh_ms: dict[str, list[float]] = {label: [] for label in SCENARIOS}
    defs = prov.merge_config({})
    for _ in range(runs):  # interleaved, so a burst of load hits every scenario alike
        for label, keys in SCENARIOS.items():
            os.environ.update(keys)
            try:
                t = time.perf_counter()
                prov.compute_reach(registry.models, prov.resolve(defs, os.environ))
                reach_us[label].append((time.perf_counter() - t) * 1e6)
                t = time.perf_counter()
                svc = TokenOptimizationService(ROOT / "model_registry.json", tmp / "ledger.sqlite3", cfg)
                svc.route_task("code_generation", "Create a React component", dry_run=True)
                fresh_ms[label].append((time.perf_counter() - t) * 1000)
            finally:
                for var in keys:
                    os.environ.pop(var, None)
    return [(label, statistics.median(reach_us[label]), statistics.median(fresh_ms[label]))
            for label in SCENARIOS]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    os.environ.setdefault("MODELWISE_CACHE", tempfile.mkdtemp())
    rows = measure(args.runs)
    base = rows[0][2]
    print(f"{'providers on':<36} {'reach µs':>9} {'service + route ms':>19} {'ratio':>6}")
    for label, reach, fresh in rows:
        print(f"{label:<36} {reach:>9.0f} {fresh:>19.2f} {fresh / base:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
