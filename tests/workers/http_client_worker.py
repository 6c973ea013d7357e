"""A client of `modelwise serve` for the crash tests: posts /route and /outcomes (outcomes and
corrections) in a loop until the server goes away (or this process is killed).

Appends `R <id> <status>` to LOG once a /route answer (200 or a recorded 402 refusal) has arrived;
`s <id> <cost>` before it posts an outcome and `S <id> <cost>` once the answer has arrived; `c`/`C` likewise
for a correction (`<cost>`: what it must settle at, by the test's arithmetic). Each line is flushed and
fsynced, so a capital line in the file was acknowledged by the server. A torn last line (killed
mid-write) acknowledges nothing."""

from __future__ import annotations

import http.client
import json
import os
import random
import sys

from settling import http_body, pick, prices


def main() -> int:
    port, log_path, seed, registry = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    rng = random.Random(seed)
    price = prices(registry)
    types = ["documentation", "debugging", "architecture", "refactoring", "boilerplate"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    routed: list[dict] = []
    settled: list[dict] = []

    def post(path: str, body: dict) -> tuple[int, dict]:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())

    def say(line: str) -> None:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)

    def settle(answer: dict, correct: bool) -> None:
        kw, cost = pick(rng, answer, price)
        mark = "c" if correct else "s"
        did = answer["decisionId"]
        say(f"{mark} {did} {cost!r}")
        body = {"decisionId": did, "outcome": rng.choice(["success", "failure", "error"]),
                "latencyMs": rng.uniform(100, 3000), **http_body(kw)}
        if correct:
            body["correct"] = True
        status, reply = post("/outcomes", body)
        if status != 200:
            raise SystemExit(f"outcome {did}: {status} {reply}")
        say(f"{mark.upper()} {did} {cost!r}")

    try:
        while True:
            roll = rng.random()
            if settled and roll < 0.08:
                settle(rng.choice(settled), correct=True)
            elif routed and roll < 0.45:
                answer = routed.pop(rng.randrange(len(routed)))
                settle(answer, correct=False)
                settled.append(answer)
            else:
                task = {"type": rng.choice(types), "description": "h" * rng.randint(0, 4000), "agent": "http"}
                status, answer = post("/route", task)
                if status not in (200, 402):
                    raise SystemExit(f"route: {status} {answer}")
                say(f"R {answer['decisionId']} {answer['status']}")
                if status == 200:
                    routed.append(answer)
    except (ConnectionError, http.client.HTTPException, OSError):
        return 0  # the server was killed: everything acknowledged is in the log


if __name__ == "__main__":
    sys.exit(main())
