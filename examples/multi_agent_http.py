"""The brief's multi-agent pattern over HTTP, with nothing but the standard library: a planner, an
executor and a critic route through a running `modelwise serve`, record outcomes and read the per-agent
spend. Works with any HTTP client; this one is urllib.

Run: modelwise serve &   then   python examples/multi_agent_http.py [--url http://127.0.0.1:3000]
With a token (`modelwise serve --token T` or MODELWISE_TOKEN), set MODELWISE_TOKEN here too."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any

AGENTS = [
    {"agent": "Planner", "task": "architecture", "budget": 2.0},
    {"agent": "Executor", "task": "code_generation", "budget": 0.5},
    {"agent": "Critic", "task": "code_review", "budget": 0.3},
]


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """One request; returns (status, JSON). A 402 (refused) still carries the route JSON."""
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("MODELWISE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    base = ap.parse_args().url.rstrip("/")

    for a in AGENTS:
        task = {
            "type": a["task"],
            "description": f"{a['agent']} task",
            "budget": a["budget"],
            "agent": a["agent"],
        }
        status, result = call(base + "/route", "POST", task)
        if status not in (200, 402):
            raise SystemExit(f"{a['agent']}: HTTP {status}: {result['detail']}")
        print(
            f"{a['agent']} -> {result['selectedModelName']} "
            f"(${result['estimatedCost']:.6f}) [{result['status']}]"
        )
        if status == 200:
            outcome = {
                "decisionId": result["decisionId"],
                "outcome": "success",
                "latencyMs": 1200,
                "inputTokens": 1500,
                "outputTokens": 700,
            }
            status, _ = call(base + "/outcomes", "POST", outcome)
            assert status == 200, status

    tasks = [
        {"type": "documentation", "description": "Generate README", "budget": 0.2, "agent": "Planner"},
        {"type": "refactoring", "description": "Optimize algorithm", "budget": 1.0, "agent": "Executor"},
    ]
    status, results = call(base + "/route/batch", "POST", tasks)
    for task, result in zip(tasks, results, strict=True):
        print(f"{task['agent']}: {task['type']} -> {result['selectedModelName']} [{result['status']}]")

    _, stats = call(base + "/stats?by=agent")
    print(f"Total cost: ${stats['costStatistics']['totalCost']:.4f}")
    print(f"Budget remaining: ${stats['costStatistics']['budgetRemaining']:.2f}")
    for agent, s in stats["byAgent"].items():
        print(f"  {agent:<10} {s['totalTasks']} tasks  ${s['totalCost']:.6f}")


if __name__ == "__main__":
    main()
