"""`modelwise whatif`: replay recorded decisions under other weights or settings and compare cost, model
mix, statuses and expected quality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.cli.common import service_from_args
from modelwise.cli.output import emit, money

if TYPE_CHECKING:
    import argparse

NAME = "whatif"
HELP = "replay recorded decisions under other weights or settings and compare cost, model mix and quality"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost")
    p.add_argument("--since", help="7d, 24h, today (default), 2026-11-01 or an ISO time")
    p.add_argument("--until", help="end of the period (exclusive); default now")
    p.add_argument("--cost-scale", choices=["linear", "log"], help="replay with this cost scale")
    p.add_argument("--daily-budget", type=float, metavar="USD", help="replay with this daily budget")
    p.add_argument("--learning", choices=["on", "off"], help="replay with learning from outcomes on or off")
    p.add_argument("--top", type=int, default=10, help="models of the mix to print")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    # With nothing changed the replay reproduces the record (changed 0): a check worth being able to run.
    svc = service_from_args(args)
    r = svc.whatif(
        args.weights,
        args.since,
        args.until,
        cost_scale=args.cost_scale,
        daily_budget=args.daily_budget,
        learning=None if args.learning is None else args.learning == "on",
    )
    if args.json:
        emit(r)
    else:
        print_whatif(r, top=args.top)
    return 0


def print_whatif(r: dict[str, Any], top: int = 10) -> None:
    rec, rep = r["recorded"], r["replayed"]
    period = r["period"]
    w = r["weights"]
    changes = [f"weights {','.join(f'{v:g}' for v in w.values())}" if w else "each decision's own weights"]
    st = r["settings"]
    recorded = st.get("recordedDailyBudgets") or []
    if st.get("dailyBudgetFrom") == "recorded":
        budget = "the daily budget each decision was made under (" + ", ".join(map(money, recorded)) + ")"
    elif st.get("dailyBudgetFrom") == "asked":
        budget = f"daily budget {money(st['dailyBudget'])}"
    else:
        budget = f"daily budget {money(st['dailyBudget'])} (the config's: none was recorded)"
    changes.append(f"cost scale {st['costScale']}, {budget}")
    print(f"what-if over {period['since']} .. {period['until'] or 'now'}: {r['decisions']} decisions")
    print(f"  replayed with {'; '.join(changes)}")
    if not r["decisions"]:
        return
    delta = rep["cost"] - rec["cost"]
    pct = f" ({delta / rec['cost']:+.1%})" if rec["cost"] else ""
    print(f"  {'':<20} {'recorded':>12} {'replayed':>12}")
    print(f"  {'cost':<20} {money(rec['cost']):>12} {money(rep['cost']):>12}{pct}")

    def q(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    print(f"  {'expected quality':<20} {q(rec['quality']):>12} {q(rep['quality']):>12}")
    for status in ("routed", "degraded", "refused"):
        a, b = rec["statuses"].get(status, 0), rep["statuses"].get(status, 0)
        print(f"  {status:<20} {a:>12} {b:>12}")
    print(f"  {r['changed']} of {r['decisions']} decisions change model; {r['statusChanged']} change status")
    if r.get("skipped"):
        print(f"  {r['skipped']} decisions of task types no longer configured were kept as recorded")
    ids = sorted(set(rec["models"]) | set(rep["models"]), key=lambda m: -max(rec["models"].get(m, 0),
                                                                            rep["models"].get(m, 0)))
    print(f"  {'model mix':<44} {'recorded':>9} {'replayed':>9}")
    for m in ids[:top]:
        print(f"  {m[:44]:<44} {rec['models'].get(m, 0):>9} {rep['models'].get(m, 0):>9}")
    if len(ids) > top:
        print(f"  ... {len(ids) - top} more models (--top N)")
