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


def _observed_words(obs: Any) -> str:
    """The `observed` object the learning area adds to a candidate row, in a few words."""
    if not isinstance(obs, dict):
        return f"observed {obs}"
    bits = []
    for key, value in obs.items():
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, float):
            bits.append(f"{key} {value:.3g}")
        else:
            bits.append(f"{key} {value}")
    return "observed: " + (", ".join(bits) if bits else "none")


def print_explain(r: dict[str, Any], limit: int | None = 20, grid: bool = False) -> None:
    """`modelwise explain` as text: the decision, the breakdown, the leads, the flip points, the
    exclusions, optionally the sensitivity grid, and the summary."""
    from modelwise.cli import _print_candidates, _print_route

    _print_route(r)
    print()
    rows = r["candidates"][:limit] if limit else r["candidates"]
    _print_candidates(rows)
    for c in rows:
        if c.get("observed"):
            print(f"        {c['name'][:34]}: {_observed_words(c['observed'])}")

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
    rows, cols = g["rows"], g["cols"]
    legend = g["legend"]
    def nearest(axis: dict[str, Any]) -> int:
        values, here = axis["values"], g["current"][axis["weight"]]
        return min(range(len(values)), key=lambda i: abs(values[i] - here))

    cur_r, cur_c = nearest(rows), nearest(cols)
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


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add this area's commands."""
