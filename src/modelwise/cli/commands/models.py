"""`modelwise models`: the registry as a table (best first), or a task type's cost/quality frontier."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import emit
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "models"
HELP = "the registry as a table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="quality for this task type; only capable models")
    p.add_argument(
        "--sort",
        help="id, name, provider, quality, score (with --task), cost, input, output, latency, context; "
        "default: best first (the task's score with --task, else quality; unrated last)",
    )
    p.add_argument("--limit", type=int)
    p.add_argument("--pareto", action="store_true", help="only the cost/quality frontier for --task")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    if args.pareto:
        from modelwise.cli.render import print_pareto

        if not args.task:
            raise BadInput("--pareto needs --task TYPE (the frontier is per task type)")
        front = svc.pareto(args.task)
        if args.json:
            emit(front)
        else:
            print_pareto(front, args.task)
        return EXIT_OK
    rows = svc.models_table(task=args.task, sort=args.sort, limit=args.limit)
    if args.json:
        emit(rows)
        return EXIT_OK
    q_label = f"q({args.task})" if args.task else "quality"
    print(
        f"{'id':<40} {'provider':<12} {'in $/1M':>9} {'out $/1M':>9} {'$/1k':>9} {q_label:>10}"
        + (f" {'score':>7}" if args.task else "")
        + f" {'latency':>8}  source"
    )
    for r in rows:
        q = "unrated" if r["quality"] is None else f"{r['quality']:.3f}"
        if r.get("ratingBorrowedFrom"):
            q += "*"  # rated from another variant's arena entry (see --json ratingBorrowedFrom)
        lat = "-" if r["latencyMs"] is None else f"{r['latencyMs']:.0f}"
        obs = r.get("observed")
        extra = ""
        if obs:  # registry -> observed, with the outcomes behind the observed value
            cq = obs.get("calibratedQuality")
            cal = f" q {q}->{cq:.3f}" if cq is not None else ""
            med = obs.get("medianLatencyMs")
            extra = f"  observed{cal} {obs['successes']}/{obs['outcomes']} ok n={obs['outcomes']}" + (
                f" median {med:.0f} ms" if med is not None else ""
            )
        print(
            f"{r['id'][:40]:<40} {(r['provider'] or '-')[:12]:<12} {_price_cell(r['inputPer1M'], 9, 3)} "
            f"{_price_cell(r['outputPer1M'], 9, 3)} "
            f"{_price_cell(r['blendedPer1k'], 9, 6)} {q:>10}"
            + (f" {'-' if r['score'] is None else format(r['score'], '.4f'):>7}" if args.task else "")
            + f" {lat:>8}  {r['source'] or '-'}{extra}"
        )
    print(f"{len(rows)} models", file=sys.stderr)
    return EXIT_OK


def _price_cell(price: float | None, width: int, digits: int) -> str:
    return f"{'unknown':>{width}}" if price is None else f"{price:>{width}.{digits}f}"
