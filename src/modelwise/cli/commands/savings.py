"""`modelwise savings`: spend against sending every task to a baseline model, per day and annualised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import service_from_args
from modelwise.cli.output import emit, money

if TYPE_CHECKING:
    import argparse

NAME = "savings"
HELP = "spend against sending every task to a baseline model, per day and annualised"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--baseline", metavar="MODEL", help="baseline model id (default: the dearest capable model)"
    )
    p.add_argument("--since", help="7d, 24h, today, 2026-11-01 or an ISO time (default: the whole ledger)")
    p.add_argument("--until", help="end of the period (a date counts whole)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    s = svc.savings(baseline=args.baseline, since=args.since, until=args.until)
    if args.json:
        emit(s)
        return 0
    b = s["baseline"]
    if b["model"]:
        base = b["model"] + ("" if b["rule"] == "given" else f", {b['rule']}")
    else:
        base = "the best-rated reachable model per task type"
        if b["byTaskType"]:
            base += " (" + ", ".join(f"{t}: {m}" for t, m in b["byTaskType"].items()) + ")"
    print(f"baseline: {base}")
    print(f"decisions: {s['decisions']} ({s['settled']} settled) on {s['days']} day(s)")
    if s["unpriced"]:
        print(f"left out: {s['unpriced']} decision(s) of task types no model in the registry is capable of")
    print(f"{'':<12} {'baseline':>12} {'actual':>12} {'savings':>12} {'%':>7}")
    for d in s["byDay"]:
        print(
            f"{d['day']:<12} {money(d['baselineCost']):>12} {money(d['actualCost']):>12} "
            f"{money(d['savings']):>12} {_pct(d['savingsPercent']):>7}"
        )
    print(
        f"{'per day':<12} {money(s['dailyBaselineCost']):>12} {money(s['dailyActualCost']):>12} "
        f"{money(s['dailySavings']):>12} {_pct(s['savingsPercent']):>7}"
    )
    print(
        f"{'annual':<12} {money(s['annualBaselineCost']):>12} {money(s['annualActualCost']):>12} "
        f"{money(s['annualSavings']):>12}   (per day x 365)"
    )
    return 0
