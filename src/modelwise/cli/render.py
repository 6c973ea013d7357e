"""The text printers of routes, candidate tables, `explain` (with its sensitivity grid) and the
cost/quality frontier, shared by the commands that show them."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

from modelwise.cli.output import money


def flip_words(flip: dict[str, Any] | None, weights: dict[str, float], names: dict[str, str]) -> str | None:
    if not flip:
        return None
    name = flip.get("modelName") or names.get(flip["model"], flip["model"])
    return (
        f"{name} would win if {flip['weight']} weighed {flip['value']:.4g}"
        f" instead of {weights[flip['weight']]:g}"
    )


def print_route(r: dict[str, Any], verbose: bool = False) -> None:
    names = {c["model"]: c["name"] for c in r.get("candidates", [])}
    status = r["status"]
    if r["selectedModel"] is None:
        print(f"{status}: {r['reason']}")
    else:
        print(
            f"{r['selectedModelName']} ({r['selectedModel']})"
            f"  [{status}{' → ' + r['wouldBe'] if r.get('wouldBe') else ''}]"
        )
        margin = r.get("margin")
        print(
            f"  score {r['score']:.4f}"
            + (f", {margin:.4f} ahead of the runner-up" if margin is not None else "")
        )
        est = r["estimatedTokens"]
        print(
            f"  estimated {money(r['estimatedCost'])} for {est['input']:,} input"
            f" + {est['output']:,} output tokens"
            f" (task budget {money(r['budget']['task'])})"
        )
        print(f"  {r['reason']}")
    b = r["budget"]
    print(f"  left today: {money(b['dailyRemaining'])}; {r['tier']} tier: {money(b['tierRemaining'])}")
    words = flip_words(r.get("flip"), r["weights"], names)
    if words:
        print(f"  flip: {words}")
    if r.get("decisionId"):
        print(f"  decision {r['decisionId']}")
    for w in r.get("warnings", []):
        if w != r["reason"]:  # a degradation's reason is its warning: said once, above
            print(f"warning: {w}", file=sys.stderr)
    if verbose:
        print_candidates(r["candidates"])


def print_candidates(rows: list[dict[str, Any]]) -> None:
    print(
        f"  {'#':>4} {'model':<34} {'cap':>4} {'perf':>6} {'avail':>6} {'cost':>6} {'total':>7}"
        f" {'est. $':>10}  eligibility"
    )
    for c in rows:
        mark = "*" if c.get("winner") else " "
        elig = "eligible" if c["eligible"] and not c["reason"] else (c["reason"] or "")
        print(
            f" {mark}{c['rank']:>4} {c['name'][:34]:<34} {c['capability']:>4.0f} {c['performance']:>6.3f} "
            f"{c['availability']:>6.3f} {c['cost']:>6.3f} {c['total']:>7.4f} "
            f"{c['estimatedCost']:>10.6f}  {elig}"
        )


_COMPONENT_ABBREV = {"capability": "cap", "performance": "perf", "availability": "avail", "cost": "cost"}


def observed_words(obs: dict[str, Any]) -> str:
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
    print_route(r)
    print()
    rows = r["candidates"][:limit] if limit else r["candidates"]
    print_candidates(rows)
    for c in rows:
        obs = c.get("observed")
        if isinstance(obs, dict) and obs.get("outcomes"):
            print(f"        {c['name'][:34]}: {observed_words(obs)}")

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
        by_weight: dict[str, list[dict[str, Any]]] = {}
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
