"""Commands of the learning area (`savings`, `audit`, `evaluate`), added to the `modelwise` parser by
`register`. Heavy imports (matplotlib) happen inside the commands that need them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelwise.core.errors import BadInput


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"


def cmd_savings(args: argparse.Namespace) -> int:
    from modelwise.cli import emit, money, service_from_args

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


def cmd_audit(args: argparse.Namespace) -> int:
    from modelwise.cli import emit, money, service_from_args

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
    from modelwise.cli import money

    tokens = (("inputTokens", "in"), ("outputTokens", "out"))
    parts = [f"{o[k]:,} {label}" for k, label in tokens if o[k] is not None]
    if o["latencyMs"] is not None:
        parts.append(f"{o['latencyMs']:.0f} ms")
    return f"{o['outcome']} {money(o['actualCost'])}" + (f" ({', '.join(parts)})" if parts else "")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from modelwise.cli import emit, service_from_args

    if args.plot:
        _check_plot_path(args.plot)
    svc = service_from_args(args)
    r = svc.evaluate(args.file, folds=args.folds, weights=args.weights, sweep=args.sweep, seed=args.seed)
    if args.plot:
        _write_plot(r, args.plot)
    if args.json:
        emit(r)
    else:
        _print_evaluation(r)
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _check_plot_path(path: str) -> None:
    from pathlib import Path

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise BadInput(f"--plot {path}: the plot is a PNG; give a file name ending in .png")
    if target.is_dir():
        raise BadInput(f"--plot {path} is a folder; give a file name")
    if not target.parent.exists():
        raise BadInput(f"--plot: folder {target.parent} does not exist")


def _write_plot(result: dict[str, Any], path: str) -> None:
    """Draw into a temporary file beside the target, then rename (no half-written PNG)."""
    from modelwise.cli import replace_atomically
    from modelwise.evaluation import plot_frontier

    replace_atomically(path, lambda tmp: plot_frontier(result, tmp))


def _print_evaluation(r: dict[str, Any]) -> None:
    from modelwise.cli import money

    w = r["weights"]
    print(
        f"{r['file']}: {r['prompts']:,} prompts ({', '.join(r['taskTypes'])}), {r['folds']}-fold "
        f"cross-validation, seed {r['seed']}, prior strength {r['priorStrength']:g}"
    )
    print(f"\n{'':<34} {'quality':>8} {'cost':>12}  picks")
    wtxt = f"{w['capability']:g},{w['performance']:g},{w['availability']:g},{w['cost']:g}"
    rows = [(f"router ({wtxt})", r["router"]), ("oracle", r["oracle"])]
    rows += [(f"{m} alone", v) for m, v in r["models"].items()]
    for label, v in rows:
        picks = ", ".join(f"{m} {n:,}" for m, n in v.get("picks", {}).items())
        print(f"{label[:34]:<34} {v['quality']:>8.4f} {money(v['cost']):>12}  {picks}")
    vb = r["versusBestModel"]
    if vb["qualityKept"] is not None and vb["costSaved"] is not None:
        print(
            f"\nrouter versus {vb['model']} alone: {vb['qualityKept']:.1%} of its quality for "
            f"{1 - vb['costSaved']:.1%} of its cost (saves {vb['costSaved']:.1%})"
        )
    if r["sweep"]:
        print(
            f"\ncost-weight sweep (other weights "
            f"{w['capability']:g},{w['performance']:g},{w['availability']:g}):"
        )
        print(f"  {'cost weight':>11} {'quality':>8} {'cost':>12}  picks")
        for p in r["sweep"]:
            picks = ", ".join(f"{m} {n:,}" for m, n in p["picks"].items())
            print(f"  {p['costWeight']:>11.3f} {p['quality']:>8.4f} {money(p['cost']):>12}  {picks}")
    switches = r.get("switchPoints") or {}
    if any(switches.values()):
        print("\nswitch points (cost weight at which the choice changes, calibrated on the whole file):")
        for t, pts in switches.items():
            for s in pts:
                print(f"  {t:<16} {s['costWeight']:.4f}: {s['from']} -> {s['to']}")


def register(command) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add this area's commands."""
    p = command(
        "savings", "spend against sending every task to a baseline model, per day and annualised", cmd_savings
    )
    p.add_argument(
        "--baseline", metavar="MODEL", help="baseline model id (default: the dearest capable model)"
    )
    p.add_argument("--since", help="7d, 24h, today, 2026-11-01 or an ISO time (default: the whole ledger)")
    p.add_argument("--until", help="end of the period (a date counts whole)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "audit", "spend by day, tier, model and agent; alerts; refusals; underperforming models", cmd_audit
    )
    p.add_argument("--since", default="7d", help="start of the period (default 7d)")
    p.add_argument("--until", help="end of the period")
    p.add_argument("--limit", type=int, default=50, help="refused and degraded decisions to list (newest)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "evaluate", "replay per-prompt outcome data (JSONL[.gz]) with k-fold cross-validation", cmd_evaluate
    )
    p.add_argument("file", metavar="FILE", help="prompt_id, task_type, model, score, input_tokens, ...")
    p.add_argument("--folds", type=int, default=5, help="k of the k-fold cross-validation (default 5)")
    p.add_argument("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost")
    p.add_argument(
        "--sweep", type=int, default=21, metavar="N", help="cost-weight points from 0 to 1 (default 21)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the frontier beside single models and the oracle")
    p.add_argument("--json", action="store_true", help="print JSON")
