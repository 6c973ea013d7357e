"""The `modelwise` entry point (`modelwise.cli.main`): the global options, the command table, and the
dispatch to one command's module (only its parser built; a plain `route` line read without argparse)."""

from __future__ import annotations

import os
import sys
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from modelwise.cli.commands import COMMANDS, load
from modelwise.cli.common import EXIT_OK, EXIT_UNEXPECTED
from modelwise.cli.options import add_globals, parser_class, read_plain
from modelwise.cli.output import TerminalSafe
from modelwise.core.errors import ModelwiseError

if TYPE_CHECKING:
    import argparse


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the global options and every command of the table; a command's own
    arguments are added (from its module) only when it is parsed or its help is shown."""
    Parser = parser_class()
    parser = Parser(
        prog="modelwise",
        description="Route every LLM task to the best model for the money, inside a hard daily budget.",
        epilog=(
            "With no command, opens the console. "
            "Exit codes: 0 done, 2 bad input, 3 refused, 1 unexpected."
        ),
    )
    add_globals(parser, suppress=False)
    from modelwise import __version__

    parser.add_argument("--version", action="version", version=f"modelwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, help in COMMANDS.items():
        sub.add_parser(name, help=help, command=partial(load, name))
    return parser


def fast_route_args(argv: list[str]) -> Any | None:
    """The namespace `build_parser().parse_args(argv)` returns for a plain `route ...` command line, read
    from `route`'s argument table without argparse, or None when argparse should read it."""
    if not argv or argv[0] != "route":
        return None
    from modelwise.cli.commands import route

    ns = read_plain("route", route.ARGUMENTS, argv[1:])
    return None if ns is None else SimpleNamespace(**ns)


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: the process's own, as the `modelwise` script and `python -m
    modelwise` call it) and return its exit code."""
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    import gc

    gc_enabled = gc.isenabled()
    gc.disable()  # a one-shot command exits long before cycles could pile up
    try:
        return _main(argv, gc_enabled)
    finally:
        # A caller in the same process gets its collector back. The process's own one-shot command leaves
        # it off through the interpreter's exit, which then skips one full collection (about 3 ms after a
        # route); the collection at module teardown still finalizes every cycle (the ledger closes).
        if gc_enabled and not own_process:
            gc.enable()


def _main(argv: list[str], gc_enabled: bool) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafe(sys.stdout), TerminalSafe(sys.stderr)
    try:
        return _run(argv, gc_enabled, streams)
    finally:
        if isinstance(sys.stdout, TerminalSafe):  # (a broken pipe leaves stdout on os.devnull)
            sys.stdout = streams[0]
        if isinstance(sys.stderr, TerminalSafe):
            sys.stderr = streams[1]


def _run(argv: list[str], gc_enabled: bool, streams: tuple[Any, Any]) -> int:
    import gc

    try:
        parser = None
        args = fast_route_args(argv)
        if args is None:
            parser = build_parser()
            args = parser.parse_args(argv)
        name = getattr(args, "command", None)
        module = load("console" if name is None else name)
        # Commands that live long enough for cyclic garbage to matter keep the garbage collector on.
        if gc_enabled and getattr(module, "LONG_RUNNING", False):
            gc.enable()
        if name in (None, "console"):
            # a full-screen app draws on the terminal on purpose (`serve` hands uvicorn the raw streams)
            sys.stdout, sys.stderr = streams
        if name is None and not (sys.stdin.isatty() and sys.stdout.isatty()):
            # Not on a terminal (a pipe, CI, a test): a full-screen app would hang; say what to run.
            assert parser is not None
            parser.print_help()
            return EXIT_OK
        return int(module.run(args) or 0)
    except ModelwiseError as exc:
        print(f"modelwise: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if os.environ.get("MODELWISE_DEBUG"):
            raise
        print(
            f"modelwise: unexpected error: {type(exc).__name__}: {exc}"
            " (MODELWISE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    raise SystemExit(main())
