"""An admission-race writer: waits at a barrier, then routes its tasks with a controlled clock that sits
just before midnight in the configured zone for the first half and just after it for the second."""

from __future__ import annotations

from datetime import datetime, timedelta


def race(args) -> list[tuple[str, str, str, float]]:
    (barrier, registry, ledger, config, before_midnight_utc, n, types) = args
    from modelwise.service import TokenOptimizationService

    now = {"t": datetime.fromisoformat(before_midnight_utc)}
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=config, clock=lambda: now["t"])
    out = []
    barrier.wait()
    for i in range(n):
        if i == n // 2:
            barrier.wait()  # everyone crosses midnight together
            now["t"] = now["t"] + timedelta(seconds=0.2)
        r = svc.route_task(types[i % len(types)], f"race {i}")
        out.append((r["decisionId"], r["status"], r["tier"], r["estimatedCost"]))
    return out
