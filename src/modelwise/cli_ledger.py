"""`modelwise ledger migrate --to PATH_OR_URL`: copy the ledger into a new one of either backend (SQLite or
PostgreSQL), checked row for row."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`command(name, help, func)` returns a subparser with the global options; add `ledger migrate`."""
    p = command("ledger", "work on the ledger itself: copy it to another backend", _need_subcommand)
    sub = p.add_subparsers(dest="ledger_command", metavar="COMMAND")
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
    m.set_defaults(func=cmd_migrate)


def _need_subcommand(args: argparse.Namespace) -> int:
    from modelwise.core.errors import BadInput

    raise BadInput("ledger: give a command (migrate)")


def _location(value: str, from_config: dict[str, Any]) -> Any:
    from pathlib import Path

    from modelwise.ledger import is_url

    if is_url(value):
        from modelwise.ledger.location import LedgerUrl

        return LedgerUrl(value, from_config.get("password_env"))
    return Path(value).expanduser()


def cmd_migrate(args: argparse.Namespace) -> int:
    from modelwise.core.errors import BadInput
    from modelwise.ledger import ledger_exists, open_ledger
    from modelwise.ledger.copy import copy_ledger
    from modelwise.loading import load_settings
    from modelwise.paths import config_path, resolve

    cfg, explicit = config_path(getattr(args, "config", None))
    settings, from_config = load_settings(cfg, explicit)
    flags = getattr(args, "registry", None), getattr(args, "ledger", None)
    paths = resolve(cfg, explicit, *flags, from_config)
    source_at, target_at = paths.ledger, _location(args.to, from_config)
    if str(source_at) == str(target_at):
        raise BadInput(f"--to {target_at} is the ledger itself; give another one")
    if not ledger_exists(source_at):
        raise BadInput(f"there is no ledger at {source_at} to copy")
    source = open_ledger(source_at, settings.synchronous)
    try:
        target = open_ledger(target_at, settings.synchronous, zone=source.zone)
        try:
            counts = copy_ledger(source, target)
        finally:
            target.close()
    finally:
        source.close()
    if args.json:
        print(json.dumps({"from": str(source_at), "to": str(target_at), "copied": counts, "checked": True},
                         indent=2))
    else:
        parts = ", ".join(f"{n} {table}" for table, n in counts.items())
        print(f"copied {parts} from {source_at} to {target_at}; checked row for row", file=sys.stderr)
    return 0
