"""A client of `modelwise serve` for the crash tests: posts /route and /outcomes in a loop until the
server goes away (or this process is killed).

Appends `R <id> <status>` to LOG once a /route answer (200 or a recorded 402 refusal) has arrived, and
`S <id>` once an /outcomes answer has; each line is flushed and fsynced after the response, so what is
in the file was acknowledged by the server. A torn last line (killed mid-write) acknowledges nothing."""

from __future__ import annotations

import http.client
import json
import os
import random
import sys


def main() -> int:
    port, log_path, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    types = ["documentation", "debugging", "architecture", "refactoring", "boilerplate"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    routed: list[str] = []

    def post(path: str, body: dict) -> tuple[int, dict]:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())

    def ack(line: str) -> None:
        os.write(fd, line.encode())
        os.fsync(fd)

    try:
        while True:
            if routed and rng.random() < 0.4:
                did = routed.pop(rng.randrange(len(routed)))
                body = {"decisionId": did, "outcome": rng.choice(["success", "failure", "error"]),
                        "latencyMs": rng.uniform(100, 3000)}
                status, answer = post("/outcomes", body)
                if status != 200:
                    raise SystemExit(f"outcome {did}: {status} {answer}")
                ack(f"S {did}\n")
            else:
                task = {"type": rng.choice(types), "description": "h" * rng.randint(0, 4000), "agent": "http"}
                status, answer = post("/route", task)
                if status not in (200, 402):
                    raise SystemExit(f"route: {status} {answer}")
                ack(f"R {answer['decisionId']} {answer['status']}\n")
                if status == 200:
                    routed.append(answer["decisionId"])
    except (ConnectionError, http.client.HTTPException, OSError):
        return 0  # the server was killed: everything acknowledged is in the log


if __name__ == "__main__":
    sys.exit(main())
