"""`modelwise record`: the outcome of a decision (or a correction of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import EXIT_OK, service_from_args
from modelwise.cli.output import emit, money

if TYPE_CHECKING:
    import argparse

NAME = "record"
HELP = "record the outcome of a decision"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("decision_id", metavar="DECISION_ID")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--success", action="store_true")
    g.add_argument("--failure", action="store_true")
    g.add_argument("--error", action="store_true")
    p.add_argument("--latency-ms", type=float)
    p.add_argument("--input-tokens", type=int)
    p.add_argument("--output-tokens", type=int)
    p.add_argument(
        "--cached-tokens", type=int, metavar="K", help="of the input tokens, read from the prompt cache"
    )
    p.add_argument(
        "--cache-write-tokens", type=int, metavar="W", help="of the input tokens, written to the prompt cache"
    )
    p.add_argument("--cost", type=float, help="actual cost in USD (instead of tokens x prices)")
    p.add_argument(
        "--correct",
        action="store_true",
        help="correct the outcome already recorded: append a correction (give every value again) that "
        "supersedes it; the original is kept and shown by audit",
    )
    p.add_argument("--reason", metavar="TEXT", help="why the outcome is corrected (with --correct)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    outcome = "success" if args.success else "failure" if args.failure else "error"
    r = svc.record_outcome(
        args.decision_id,
        outcome,
        latency_ms=args.latency_ms,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        cost=args.cost,
        correct=args.correct,
        reason=args.reason,
        cached_tokens=args.cached_tokens,
        cache_write_tokens=args.cache_write_tokens,
    )
    if args.json:
        emit(r)
    else:
        print(
            f"{r['decisionId']}: {'corrected to ' if args.correct else ''}{r['outcome']}, "
            f"actual {money(r['actualCost'])} (estimated {money(r['estimatedCost'])}) on "
            f"{r['selectedModelName']}"
        )
    return EXIT_OK
