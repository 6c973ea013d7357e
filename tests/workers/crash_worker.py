"""A writer for the crash tests: routes and records in a loop through the Python API until killed.

Prints `R <id> <status>` once route_task has returned (the decision is committed) and `S <id>` once
record_outcome has returned. Whatever it printed, it acknowledged."""

from __future__ import annotations

import random
import sys

from modelwise.service import TokenOptimizationService


def main() -> int:
    registry, ledger, config, seed = sys.argv[1:5]
    rng = random.Random(int(seed))
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=config)
    types = ["documentation", "debugging", "architecture", "refactoring", "boilerplate"]
    routed: list[str] = []
    while True:
        if routed and rng.random() < 0.4:
            did = routed.pop(rng.randrange(len(routed)))
            svc.record_outcome(
                did, rng.choice(["success", "failure", "error"]), latency_ms=rng.uniform(100, 3000)
            )
            sys.stdout.write(f"S {did}\n")
        else:
            r = svc.route_task(rng.choice(types), "x" * rng.randint(0, 4000), agent=f"w{seed}")
            sys.stdout.write(f"R {r['decisionId']} {r['status']}\n")
            if r["status"] != "refused":
                routed.append(r["decisionId"])
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
