"""`modelwise console`: the full-screen console (Textual), also what `modelwise` alone opens on a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

NAME = "console"
HELP = "open the console (the default with no command)"
LONG_RUNNING = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No arguments beyond the global ones."""


def run(args: argparse.Namespace) -> int:
    from modelwise.tui.boot import prepare

    # A bad config is reported before the screen changes; the registry and the ledger are opened after
    # the console's first frame (a failure there is shown, then reported here the same way).
    boot = prepare(
        registry=getattr(args, "registry", None),
        ledger=getattr(args, "ledger", None),
        config=getattr(args, "config", None),
    )
    from modelwise.tui.app import run as run_app

    return run_app(boot=boot)
