"""`modelwise evaluate`: replay per-prompt outcome data with k-fold cross-validation, optionally drawing
the frontier (matplotlib loads only for `--plot`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from modelwise.cli.common import service_from_args
from modelwise.cli.files import replace_atomically
from modelwise.cli.output import emit, money
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "evaluate"
HELP = "replay per-prompt outcome data (JSONL[.gz]) with k-fold cross-validation"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="prompt_id, task_type, model, score, input_tokens, ...")
    p.add_argument("--folds", type=int, default=5, help="k of the k-fold cross-validation (default 5)")
    p.add_argument("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost")
    p.add_argument(
        "--sweep", type=int, default=21, metavar="N", help="cost-weight points from 0 to 1 (default 21)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the frontier beside single models and the oracle")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
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
    from modelwise.evaluation import plot_frontier

    replace_atomically(path, lambda tmp: plot_frontier(result, tmp))


def _print_evaluation(r: dict[str, Any]) -> None:
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
