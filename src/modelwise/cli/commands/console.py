"""`modelwise console`: the full-screen console (Textual), also what `modelwise` alone opens on a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelwise.cli.common import service_from_args

if TYPE_CHECKING:
    import argparse

NAME = "console"
HELP = "open the console (the default with no command)"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No arguments beyond the global ones."""


def run(args: argparse.Namespace) -> int:
    svc = service_from_args(args)  # a bad registry or config is reported before the screen changes
    from modelwise.tui.app import run as run_app

    return run_app(svc)
