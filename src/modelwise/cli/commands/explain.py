"""`modelwise explain`: the whole breakdown, the margin and the flip points of a route; records nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import EXIT_OK, TASK_ARGUMENTS, constraints_from_args, service_from_args
from modelwise.cli.options import add_arguments as add_table
from modelwise.cli.output import emit
from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse

NAME = "explain"
HELP = "the whole breakdown, margin and flip points; records nothing"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_table(p, TASK_ARGUMENTS)
    p.add_argument("--limit", type=int, default=20, help="rows of the breakdown to print (0 = all)")
    p.add_argument("--leads", type=int, default=5, help="how many next models to compare the winner with")
    p.add_argument("--grid", action="store_true", help="which model wins for cost x performance weights")
    p.add_argument("--grid-values", metavar="V,V,...", help="the grid's weight values (default 0,0.2,...,1)")


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    constraints = constraints_from_args(args)
    r = svc.explain(
        args.type, args.description, args.budget, constraints=constraints or None, weights=args.weights,
        leads=args.leads, grid_values=grid_values(args.grid_values),
        any_provider=True if args.any_provider else None,
    )
    if args.json:
        emit(r)
        return EXIT_OK
    from modelwise.cli.render import print_explain

    print_explain(r, limit=args.limit, grid=args.grid)
    return EXIT_OK


def grid_values(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(f"--grid-values {text!r} must be numbers separated by commas") from None
    if not values or len(values) > 12 or any(not (v >= 0 and v < float("inf")) for v in values):
        raise BadInput("--grid-values takes 1 to 12 finite weights, zero or more")
    return values
