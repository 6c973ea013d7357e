"""A writer for the crash tests: routes, records and corrects in a loop through the Python API until
killed. Each route has a request id, and some are retried: the retry must answer the first decision.

Prints `R <id> <status>` once route_task has returned (the decision is committed); `s <id> <cost>` before
it records an outcome and `S <id> <cost>` once record_outcome has returned; `c <id> <cost>` and
`C <id> <cost>` likewise for a correction. `<cost>` is what the settlement must cost, computed by the
test's own arithmetic (tests/workers/settling.py). Whatever it printed in capitals, it acknowledged."""

from __future__ import annotations

import random
import sys

from settling import pick, prices

from modelwise.service import TokenOptimizationService


def main() -> int:
    registry, ledger, config, seed = sys.argv[1:5]
    rng = random.Random(int(seed))
    price = prices(registry)
    svc = TokenOptimizationService(registry=registry, ledger=ledger, config=config)
    types = ["documentation", "debugging", "architecture", "refactoring", "boilerplate"]
    routed: list[dict] = []
    settled: list[dict] = []
    asked: list[tuple[str, str]] = []  # (request id, decision id)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    while True:
        roll = rng.random()
        if settled and roll < 0.08:
            answer = rng.choice(settled)
            kw, cost = pick(rng, answer, price)
            say(f"c {answer['decisionId']} {cost!r}")
            svc.record_outcome(answer["decisionId"], rng.choice(["success", "failure"]), correct=True,
                               reason="crash test", **kw)
            say(f"C {answer['decisionId']} {cost!r}")
        elif routed and roll < 0.45:
            answer = routed.pop(rng.randrange(len(routed)))
            kw, cost = pick(rng, answer, price)
            say(f"s {answer['decisionId']} {cost!r}")
            svc.record_outcome(
                answer["decisionId"], rng.choice(["success", "failure", "error"]),
                latency_ms=rng.uniform(100, 3000), **kw,
            )
            say(f"S {answer['decisionId']} {cost!r}")
            settled.append(answer)
        elif asked and roll < 0.5:  # a retry: the same request id answers the first decision again
            request_id, first = rng.choice(asked)
            r = svc.route_task("documentation", "a retry", request_id=request_id)
            if r["decisionId"] != first or not r.get("replayed"):
                raise SystemExit(f"request id {request_id}: {r['decisionId']}, first {first}")
        else:
            request_id = f"w{seed}-{len(asked)}"
            r = svc.route_task(rng.choice(types), "x" * rng.randint(0, 4000), agent=f"w{seed}",
                               request_id=request_id)
            say(f"R {r['decisionId']} {r['status']}")
            asked.append((request_id, r["decisionId"]))
            if r["status"] != "refused":
                routed.append(r)


if __name__ == "__main__":
    sys.exit(main())
