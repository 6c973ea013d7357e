"""`modelwise locate`: where the config, registry, ledger, themes and cache are, and the budget day's zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.cli.common import EXIT_OK
from modelwise.cli.output import emit

if TYPE_CHECKING:
    import argparse

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
    from modelwise.app.context import ledger_zone

    data.update(ledger_zone(paths.ledger, settings.timezone))
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
