"""A writer process for concurrency tests: waits for a start time, routes N tasks through the Python API
and prints one JSON line per acknowledged decision (flushed only after route_task returned)."""

from __future__ import annotations

import json
import sys
import time

from modelwise.service import TokenOptimizationService


def main() -> int:
    registry, ledger, config, start_at, n, task_types = sys.argv[1:7]
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=config)
    types = task_types.split(",")
    while time.time() < float(start_at):
        time.sleep(0.001)
    for i in range(int(n)):
        r = svc.route_task(types[i % len(types)], f"task {i}", agent="worker")
        sys.stdout.write(
            json.dumps(
                {"id": r["decisionId"], "status": r["status"], "cost": r["estimatedCost"], "tier": r["tier"]}
            )
            + "\n"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
