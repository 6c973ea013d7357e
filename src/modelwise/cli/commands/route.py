"""`modelwise route`: route one task and record the decision. Its arguments are a table, so a plain
line is read without argparse (the command agents run in a loop, from a new process each time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    TASK_ARGUMENTS,
    constraints_from_args,
    service_from_args,
)
from modelwise.cli.options import Arg
from modelwise.cli.options import add_arguments as add_table
from modelwise.cli.output import emit

if TYPE_CHECKING:
    import argparse

NAME = "route"
HELP = "route one task and record the decision"

ARGUMENTS = (
    *TASK_ARGUMENTS,
    Arg("--agent", help="who asked (for per-agent statistics)"),
    Arg("--request-id", help="idempotency key: the same id returns the first decision"),
    Arg("--capability", action="append", metavar="CAP", help="require a capability (repeatable)"),
    Arg("--dry-run", action="store_true", help="record nothing"),
    Arg("--all-candidates", action="store_true", help="list every model, not the top 10"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_table(parser, ARGUMENTS)


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)
    constraints = constraints_from_args(args)
    r = svc.route_task(
        args.type,
        args.description,
        args.budget,
        agent=args.agent,
        request_id=args.request_id,
        constraints=constraints or None,
        weights=args.weights,
        dry_run=args.dry_run,
        all_candidates=args.all_candidates,
        any_provider=True if args.any_provider else None,
    )
    if args.json:
        emit(r)
    else:
        from modelwise.cli.render import print_route

        print_route(r, verbose=args.all_candidates)
    refused = r["status"] == "refused" or r.get("wouldBe") == "refused"
    return EXIT_REFUSED if refused else EXIT_OK
