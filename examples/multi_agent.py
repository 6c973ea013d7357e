"""The brief's multi-agent pattern through the Python API: a planner, an executor and a critic each route
their task to the best model for the money, record how it went, and the spend is broken down per agent.

Run: python examples/multi_agent.py [--ledger PATH] [--registry PATH] [--config PATH]
(defaults: the shipped registry and the usual ledger; pass a temporary --ledger to try it safely)."""

from __future__ import annotations

import argparse

from modelwise.service import TokenOptimizationService

AGENTS = [
    {"agent": "Planner", "task": "architecture", "budget": 2.0},
    {"agent": "Executor", "task": "code_generation", "budget": 0.5},
    {"agent": "Critic", "task": "code_review", "budget": 0.3},
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ledger")
    ap.add_argument("--registry")
    ap.add_argument("--config")
    args = ap.parse_args()

    with TokenOptimizationService(registry=args.registry, ledger=args.ledger, config=args.config) as service:
        # one at a time, as the brief's loop does
        for a in AGENTS:
            result = service.route_task(a["task"], f"{a['agent']} task", a["budget"], agent=a["agent"])
            print(
                f"{a['agent']} -> {result['selectedModelName']} "
                f"(${result['estimatedCost']:.6f}) [{result['status']}]"
            )
            if result["decisionId"]:
                # after calling the model, say how it went: the actual cost replaces the estimate
                service.record_outcome(
                    result["decisionId"], "success", latency_ms=1200, input_tokens=1500, output_tokens=700
                )

        # or many at once (the brief's batch pattern: 8 concurrently), answered in input order
        tasks = [
            {
                "type": "code_generation",
                "description": "Create API endpoint",
                "budget": 0.5,
                "agent": "Executor",
            },
            {"type": "documentation", "description": "Generate README", "budget": 0.2, "agent": "Planner"},
            {"type": "refactoring", "description": "Optimize algorithm", "budget": 1.0, "agent": "Executor"},
            {"type": "code_review", "description": "Review the endpoint", "budget": 0.3, "agent": "Critic"},
        ]
        for task, result in zip(tasks, service.route_tasks(tasks, concurrency=8), strict=True):
            print(f"{task['agent']}: {task['type']} -> {result['selectedModelName']} [{result['status']}]")

        cost = service.cost_statistics()
        print(f"Total cost: ${cost['totalCost']:.4f}")
        print(f"Budget remaining: ${cost['budgetRemaining']:.2f}")
        for agent, s in service.statistics(by="agent")["byAgent"].items():
            print(f"  {agent:<10} {s['totalTasks']} tasks  ${s['totalCost']:.6f}")


if __name__ == "__main__":
    main()
