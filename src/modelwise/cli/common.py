"""What the commands share: exit codes, the service a command works on, and the arguments of a task
(`route`, `explain`) with the constraints read from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.cli.options import Arg

if TYPE_CHECKING:
    import argparse

    from modelwise.service import TokenOptimizationService

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3


def service_from_args(args: argparse.Namespace) -> TokenOptimizationService:
    from modelwise.service import TokenOptimizationService

    return TokenOptimizationService(
        registry=getattr(args, "registry", None),
        ledger=getattr(args, "ledger", None),
        config=getattr(args, "config", None),
    )


TASK_ARGUMENTS = (
    Arg("type", help="task type, e.g. code_generation"),
    Arg("description", help="what the task is (redacted before it is stored)"),
    Arg("budget", nargs="?", default=None, help="most this task may cost, USD"),
    Arg("--weights", metavar="C,P,A,K", help="capability,performance,availability,cost"),
    Arg("--min-quality", type=float, metavar="Q"),
    Arg("--max-latency", type=float, metavar="MS"),
    Arg("--json", action="store_true", help="print JSON"),
    Arg(
        "--any-provider", action="store_true",
        help="consider the whole registry, not only models a configured provider serves",
    ),
)


def constraints_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The task's constraints from `--min-quality`, `--max-latency` and `--capability`."""
    constraints: dict[str, Any] = {}
    if args.min_quality is not None:
        constraints["minQuality"] = args.min_quality
    if args.max_latency is not None:
        constraints["maxLatencyMs"] = args.max_latency
    if getattr(args, "capability", None):
        constraints["capabilities"] = args.capability
    return constraints
