"""`modelwise audit`: spend by day, tier, model and agent; alerts; refusals; corrections; underperforming
models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.cli.common import service_from_args
from modelwise.cli.output import emit, money

if TYPE_CHECKING:
    import argparse

NAME = "audit"
HELP = "spend by day, tier, model and agent; alerts; refusals; underperforming models"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", default="7d", help="start of the period (default 7d)")
    p.add_argument("--until", help="end of the period")
    p.add_argument("--limit", type=int, default=50, help="refused and degraded decisions to list (newest)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    a = svc.audit(since=args.since, until=args.until, limit=args.limit)
    if args.json:
        emit(a)
        return 0
    period = a["period"]
    st = a["byStatus"]
    print(
        f"audit {period['from']} .. {period['to'] or 'today'}: {a['decisions']} decisions, "
        f"spent {money(a['spent'])}"
    )
    print(f"  routed {st.get('routed', 0)}, degraded {st.get('degraded', 0)}, refused {st.get('refused', 0)}")
    for title, key, label in (
        ("by day", "byDay", "day"),
        ("by tier", "byTier", "tier"),
        ("by model", "byModel", "model_id"),
        ("by agent", "byAgent", "agent"),
    ):
        print(f"\n{title}:")
        for g in a[key]:
            ok = f"{g['successes']}/{g['successes'] + g['failures']} ok" if g["outcomes"] else "no outcomes"
            print(
                f"  {str(g.get('name') or g[label])[:36]:<36} {g['decisions']:>6} {money(g['spent']):>12}  "
                f"degraded {g['degraded']}, refused {g['refused']}, {ok}"
            )
    print(f"\nalerts: {len(a['alerts'])}")
    for al in a["alerts"]:
        print(f"  {al['day']} {al['threshold']:.0%}: {al['message']}")
    for key in ("refused", "degraded"):
        print(f"\n{key}: {len(a[key])}")
        for d in a[key]:
            print(f"  {d['timestamp']} {d['taskType']:<16} {d['agent'] or '-':<12} {d['reason']}")
    print(f"\ncorrections: {len(a['corrections'])}")
    for c in a["corrections"]:
        line = f"  {c['correctedAt']} {c['decisionId']}: {_outcome_text(c['previous'])} -> "
        line += _outcome_text(c["corrected"])
        if c["original"] != {**c["previous"], "recordedAt": c["original"]["recordedAt"]}:
            line += f" (first recorded: {_outcome_text(c['original'])})"
        print(line + (f"; reason: {c['reason']}" if c["reason"] else ""))
    print(f"\nunderperforming models: {len(a['underperforming'])}")
    for u in a["underperforming"]:
        lo, hi = u["interval"]
        print(
            f"  {u['name']} on {u['taskType']}: {u['successes']} successes, {u['failures']} failures, "
            f"observed {u['observedRate']:.3f} (95% interval {lo:.3f}..{hi:.3f}, "
            f"SE {u['standardError']:.3f}) "
            f"< registry {u['registryQuality']:.3f}; calibrated {u['calibratedQuality']:.3f}"
        )
    return 0


def _outcome_text(o: dict[str, Any]) -> str:
    """An outcome's values in one short phrase: `success $0.0039 (900 in, 900 out, 1200 ms)`."""
    tokens = (("inputTokens", "in"), ("outputTokens", "out"))
    parts = [f"{o[k]:,} {label}" for k, label in tokens if o[k] is not None]
    if o["latencyMs"] is not None:
        parts.append(f"{o['latencyMs']:.0f} ms")
    return f"{o['outcome']} {money(o['actualCost'])}" + (f" ({', '.join(parts)})" if parts else "")
