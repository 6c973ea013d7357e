"""`modelwise ledger migrate --to PATH_OR_URL`: copy the ledger into a new one of either backend (SQLite or
PostgreSQL), checked row for row."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

NAME = "ledger"
HELP = "work on the ledger itself: copy it to another backend"
DESCRIPTION = None  # its help is the usage and the subcommand
GLOBAL_OPTIONS = False  # the subcommand takes them


def add_arguments(p: argparse.ArgumentParser) -> None:
    import argparse

    sub = p.add_subparsers(dest="ledger_command", metavar="COMMAND", required=True)
    m = sub.add_parser(
        "migrate",
        help="copy the ledger (--ledger, MODELWISE_LEDGER or the config's) into a new, empty ledger",
        description="Copy every decision, outcome, correction, roll-up row and alert of the ledger into a "
        "new, empty one (a SQLite file or a postgresql:// URL), in one transaction, then check it row for "
        "row. The source is left as it was.",
    )
    for flag, what in (("--registry", "registry file"), ("--ledger", "the ledger to copy"),
                       ("--config", "config file")):
        m.add_argument(flag, metavar="PATH", default=argparse.SUPPRESS, help=what)
    m.add_argument("--to", required=True, metavar="PATH_OR_URL", help="the new ledger: a file or postgresql://")
    m.add_argument("--json", action="store_true", help="print what was copied as JSON")


def run(args: argparse.Namespace) -> int:
    from modelwise.app.context import migrate_ledger

    copied = migrate_ledger(getattr(args, "config", None), getattr(args, "registry", None),
                            getattr(args, "ledger", None), args.to)
    if args.json:
        print(json.dumps({**copied, "checked": True}, indent=2))
    else:
        parts = ", ".join(f"{n} {table}" for table, n in copied["copied"].items())
        print(f"copied {parts} from {copied['from']} to {copied['to']}; checked row for row", file=sys.stderr)
    return 0
