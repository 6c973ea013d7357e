"""`modelwise locate`: where the config, registry, ledger, themes and cache are, and the budget day's zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK
from modelwise.cli.output import emit

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

NAME = "locate"
HELP = "print the paths of the config, ledger, registry and themes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from modelwise.loading import load_settings
    from modelwise.paths import config_path, resolve

    cfg, explicit = config_path(getattr(args, "config", None))
    settings, from_config = load_settings(cfg, explicit)
    paths = resolve(
        cfg, explicit, getattr(args, "registry", None), getattr(args, "ledger", None), from_config
    )
    data: dict[str, Any] = paths.to_json()
    data.update(_ledger_zone(paths.ledger, settings.timezone))
    if args.json:
        emit(data)
    else:
        print(
            f"config:   {data['config']}"
            f"{'' if data['configExists'] else '  (not created; defaults in use)'}"
        )
        print(f"registry: {data['registry']}")
        print(f"ledger:   {data['ledger']}")
        print(f"timezone: {data['timezone']}  ({data['timezoneSource']})")
        for t in data["themes"]:
            print(f"themes:   {t}")
        print(f"cache:    {data['cache']}")
    return EXIT_OK


def _ledger_zone(ledger: Path, configured: str | None) -> dict[str, str]:
    """The budget day's zone as `locate` reports it: the ledger's own, or the one a new ledger would get."""
    from modelwise.ledger import peek_zone
    from modelwise.zone import machine_zone_name

    recorded = peek_zone(ledger)
    if recorded is not None:
        return {"timezone": recorded, "timezoneSource": "recorded in the ledger"}
    if configured is not None:
        return {"timezone": configured, "timezoneSource": "the config's; a new ledger will record it"}
    return {"timezone": machine_zone_name(), "timezoneSource": "this machine's; a new ledger will record it"}
