"""Commands of the whatif area (issue 7), added to the `modelwise` parser by `register`, and the text
printers of `explain` and `models --pareto`. Imports nothing heavy at module level."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from typing import Any

_COMPONENT_ABBREV = {"capability": "cap", "performance": "perf", "availability": "avail", "cost": "cost"}


def _money(x: float | None) -> str:
    from modelwise.cli import money

    return money(x)


def _observed_words(obs: dict[str, Any]) -> str:
    """Registry against calibrated values of a candidate, with the outcomes behind them."""
    parts = [f"quality {obs['registryQuality']:.3f} -> {obs['calibratedQuality']:.3f}"
             if obs.get("registryQuality") is not None
             else f"quality (unrated) -> {obs['calibratedQuality']:.3f}"]
    parts.append(f"availability {obs['registryAvailability']:.3f} -> {obs['calibratedAvailability']:.3f}")
    if obs.get("medianLatencyMs") is not None:
        parts.append(f"median latency {obs['medianLatencyMs']:.0f} ms")
    return f"observed over {obs['outcomes']} outcomes: " + ", ".join(parts)


def print_explain(r: dict[str, Any], limit: int | None = 20, grid: bool = False) -> None:
    """`modelwise explain` as text: the decision, the breakdown, the leads, the flip points, the
    exclusions, optionally the sensitivity grid, and the summary."""
    from modelwise.cli import _print_candidates, _print_route

    _print_route(r)
    print()
    rows = r["candidates"][:limit] if limit else r["candidates"]
    _print_candidates(rows)
    for c in rows:
        obs = c.get("observed")
        if isinstance(obs, dict) and obs.get("outcomes"):
            print(f"        {c['name'][:34]}: {_observed_words(obs)}")

    norm = r.get("weightsNormalised") or {}
    if norm:
        print("\n  normalised weights: " + ", ".join(f"{k} {v:.3f}" for k, v in norm.items()))
    leads = r.get("leads") or []
    if leads:
        print("\n  the winner's lead (weighted contribution differences; + favours the winner):")
        head = " ".join(f"{_COMPONENT_ABBREV[k]:>8}" for k in _COMPONENT_ABBREV)
        print(f"    {'over':<34} {'lead':>8} {head}  decided by")
        for lead in leads:
            parts = " ".join(f"{lead['components'][k]['weighted']:>+8.4f}" for k in _COMPONENT_ABBREV)
            by = lead["decidedBy"] or "-"
            if lead["behindOn"]:
                by += f" (behind on {lead['behindOn']})"
            print(f"    {lead['name'][:34]:<34} {lead['lead']:>8.4f} {parts}  {by}")

    flips = r.get("flips") or []
    if r.get("selectedModel"):
        print("\n  flip points (one weight changed, the others kept):")
        by_weight: dict[str, list[dict]] = {}
        for f in flips:
            by_weight.setdefault(f["weight"], []).append(f)
        for name, current in r["weights"].items():
            found = by_weight.get(name, [])
            if not found:
                print(f"    {name:<12} {current:g}: no value changes the winner")
                continue
            for f in found:
                arrow = "below" if f["direction"] == "down" else "above"
                print(f"    {name:<12} {current:g} -> {arrow} {f['value']:.4g}: {f['modelName']} would win")

    groups = r.get("exclusions") or []
    if groups:
        total = sum(g["count"] for g in groups)
        print(f"\n  out of this decision: {total} models")
        for g in groups:
            print(f"    {g['count']:>6}  {g['label']}")
            for ex in g["examples"]:
                print(f"              e.g. {ex['name']}: {ex['reason']}")

    if grid and r.get("grid"):
        print()
        print_grid(r["grid"])

    if r.get("summary"):
        print()
        print(textwrap.fill(r["summary"], width=100, initial_indent="  ", subsequent_indent="  "))


def print_grid(g: dict[str, Any]) -> None:
    """A sensitivity grid as a table of model marks with a legend; `*` marks the cell nearest the
    current weights."""
    from modelwise.core.explain import grid_current_cell

    rows, cols = g["rows"], g["cols"]
    legend = g["legend"]
    cur_r, cur_c = grid_current_cell(g)
    print(f"  winner by weight: rows {rows['weight']}, columns {cols['weight']} (others kept)")
    corner = f"{rows['weight']} / {cols['weight']}"
    print(f"    {corner:>20} " + " ".join(f"{v:>5g}" for v in cols["values"]))
    for i, (rv, line) in enumerate(zip(rows["values"], g["winners"], strict=True)):
        cells = []
        for j, mid in enumerate(line):
            mark = "." if mid is None else legend[mid]["mark"]
            star = "*" if (i, j) == (cur_r, cur_c) else " "
            cells.append(f"{mark + star:>5}")
        print((f"    {rv:>20g} " + " ".join(cells)).rstrip())
    for mid, info in legend.items():
        print(f"    {info['mark']} = {info['name']} ({mid})")
    print("    * = nearest the current weights; . = no valid weights")


def print_pareto(rows: list[dict[str, Any]], task: str) -> None:
    print(f"  cost/quality frontier for {task}: no other rated capable model is as good and as cheap")
    print(f"  {'id':<44} {'name':<30} {'quality':>8} {'$/1k':>10}")
    for r in rows:
        print(f"  {r['id'][:44]:<44} {r['name'][:30]:<30} {r['quality']:>8.4f} {r['blendedPer1k']:>10.6f}")
    print(f"{len(rows)} models on the frontier", file=sys.stderr)


def cmd_whatif(args: argparse.Namespace) -> int:
    from modelwise.cli import emit, service_from_args

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
        budget = "the daily budget each decision was made under (" + ", ".join(map(_money, recorded)) + ")"
    elif st.get("dailyBudgetFrom") == "asked":
        budget = f"daily budget {_money(st['dailyBudget'])}"
    else:
        budget = f"daily budget {_money(st['dailyBudget'])} (the config's: none was recorded)"
    changes.append(f"cost scale {st['costScale']}, {budget}")
    print(f"what-if over {period['since']} .. {period['until'] or 'now'}: {r['decisions']} decisions")
    print(f"  replayed with {'; '.join(changes)}")
    if not r["decisions"]:
        return
    delta = rep["cost"] - rec["cost"]
    pct = f" ({delta / rec['cost']:+.1%})" if rec["cost"] else ""
    print(f"  {'':<20} {'recorded':>12} {'replayed':>12}")
    print(f"  {'cost':<20} {_money(rec['cost']):>12} {_money(rep['cost']):>12}{pct}")

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


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add this area's commands."""
    p = command(
        "whatif",
        "replay recorded decisions under other weights or settings and compare cost, model mix and quality",
        cmd_whatif,
    )
    p.add_argument("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost")
    p.add_argument("--since", help="7d, 24h, today (default), 2026-11-01 or an ISO time")
    p.add_argument("--until", help="end of the period (exclusive); default now")
    p.add_argument("--cost-scale", choices=["linear", "log"], help="replay with this cost scale")
    p.add_argument("--daily-budget", type=float, metavar="USD", help="replay with this daily budget")
    p.add_argument("--learning", choices=["on", "off"], help="replay with learning from outcomes on or off")
    p.add_argument("--top", type=int, default=10, help="models of the mix to print")
    p.add_argument("--json", action="store_true", help="print JSON")
