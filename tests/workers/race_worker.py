"""An admission-race writer: waits at a barrier, then routes its tasks with a controlled clock that sits
just before midnight in the configured zone for the first half and just after it for the second.

Every other task's request id is shared with the next worker (the two race for the same idempotency
key). After each task it may settle one of the decisions it made, above or below the estimate
(tests/workers/settling.py), so settlements free room and use it up while the others admit."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def race(args) -> tuple[list[tuple], list[tuple[str, float]]]:
    (barrier, registry, ledger, config, before_midnight_utc, n, types, worker) = args
    from modelwise.service import TokenOptimizationService
    from tests.workers.settling import pick, prices

    rng = random.Random(worker)
    price = prices(registry)
    now = {"t": datetime.fromisoformat(before_midnight_utc)}
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=config, clock=lambda: now["t"])
    out, settled, mine = [], [], []
    barrier.wait()
    for i in range(n):
        if i == n // 2:
            barrier.wait()  # everyone crosses midnight together
            now["t"] = now["t"] + timedelta(seconds=0.2)
        request_id = f"rq-pair{worker // 2}-{i}" if i % 2 else f"rq-w{worker}-{i}"
        r = svc.route_task(types[i % len(types)], f"race {i}", request_id=request_id)
        out.append((r["decisionId"], r["status"], r["tier"], r["estimatedCost"], request_id,
                    bool(r.get("replayed"))))
        if r["status"] != "refused" and not r.get("replayed"):
            mine.append(r)
        if mine and rng.random() < 0.5:
            answer = mine.pop(rng.randrange(len(mine)))
            kw, cost = pick(rng, answer, price)
            svc.record_outcome(answer["decisionId"], "success", **kw)
            settled.append((answer["decisionId"], cost))
    svc.close()
    return out, settled
