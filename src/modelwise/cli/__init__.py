"""The command line, for agents, CI and people. Never imports Textual or the HTTP server unless the
command is the console or `serve`.

Exit codes: 0 done; 2 bad input (one line on stderr, nothing written); 3 refused; 1 unexpected.

Layout: `entry.py` is the entry point (global options, dispatch; not named `main.py`, which the
function `main` exported here would shadow); `commands/<name>.py` is one command; `options.py` holds
the argument tables and the parser class, `output.py` JSON, money and the terminal-safe streams,
`render.py` the printers of routes, candidates and explanations, `files.py` atomic writes, and
`common.py` the service a command works on and a task's arguments. Only this file imports `entry`.

Adding a command, e.g. `modelwise ledger`:

1. Write `commands/ledger.py` with `NAME = "ledger"`, `HELP = "one line for modelwise --help"`,
   `add_arguments(parser)` (argparse calls on the command's own parser; the global `--registry`,
   `--ledger` and `--config` are added for it) and `run(args) -> int` (the exit code; raise a
   `modelwise.core.errors` error for bad input). Import anything heavy inside `run`. Optional:
   `LONG_RUNNING = True` keeps the garbage collector on, `GLOBAL_OPTIONS = False` leaves out the global
   options after the command, `DESCRIPTION` replaces HELP at the top of the command's own help.
2. Add one line, `"ledger": "the same help line",` to `COMMANDS` in `commands/__init__.py` (the order
   there is the order of `modelwise --help`).

tests/test_cli_package.py checks every module in the table against these rules."""

from __future__ import annotations

from modelwise.cli.entry import build_parser, fast_route_args, main

__all__ = ["build_parser", "fast_route_args", "main"]
