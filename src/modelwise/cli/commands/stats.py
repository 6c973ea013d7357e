"""`modelwise stats`: tasks, spend, average cost, latency, success rate and model use over a period."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import emit, money

if TYPE_CHECKING:
    import argparse

NAME = "stats"
HELP = "today's tasks, spend, average cost, latency, success rate and model use"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="7d, 24h, today, 2026-11-01 or an ISO time")
    p.add_argument("--until")
    p.add_argument("--all", action="store_true", help="every day in the ledger")
    p.add_argument("--by", choices=["agent"], help="break down by agent")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    s = svc.statistics(since=args.since, until=args.until, all_days=args.all, by=args.by)
    svc.check_ledger()  # totals read from the roll-up alone would not notice damaged pages elsewhere
    if args.json:
        emit(s)
        return EXIT_OK
    c, p = s["costStatistics"], s["performanceStatistics"]
    period = s["period"]
    print(
        f"period: {period['from'] or 'beginning'} .. {period['to'] or 'now'}"
        f"  (budget days in {period['timezone']})"
    )
    print(f"tasks: {c['totalTasks']}  cost: {money(c['totalCost'])}  average: {money(c['averageCost'])}")
    print(f"budget remaining today: {money(c['budgetRemaining'])}  refused: {s['refused']}")
    lat = p["averageLatency"]
    rate = p["successRate"]
    print(
        f"outcomes: {s['outcomes']}  success rate: {'-' if rate is None else f'{rate:.1%}'}  "
        f"average latency: {'-' if lat is None else f'{lat:.0f} ms'}"
    )
    for name, n in p["modelUsage"].items():
        print(f"  {n:>6}  {name}")
    if "byAgent" in s:
        print("by agent:")
        for agent, a in s["byAgent"].items():
            print(
                f"  {agent:<24} {a['totalTasks']:>6} tasks  {money(a['totalCost'])}  refused {a['refused']}"
            )
    return EXIT_OK
