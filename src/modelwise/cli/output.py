"""What every command writes with: JSON on stdout, money, and the terminal-safe streams a command runs
under (control characters from a registry, the ledger or the command line shown as visible escapes)."""

from __future__ import annotations

import json
import sys
from typing import Any

from modelwise.core.errors import json_safe, terminal_safe


def emit(obj: Any) -> None:
    sys.stdout.write(json_safe(json.dumps(obj, indent=2, ensure_ascii=False)) + "\n")


def money(x: float | None) -> str:
    from modelwise.core.routing import money

    return "-" if x is None else money(x)


class TerminalSafe:
    """sys.stdout or sys.stderr while a command runs: what it writes (model names from a registry,
    agents, reasons and descriptions from the ledger, values echoed from the command line) reaches the
    terminal with every control character as a visible escape; newlines and tabs stay. `unescaped` is
    the stream itself, for data (an export into a pipe) and for progress bars that draw on purpose."""

    def __init__(self, stream: Any):
        self.unescaped = stream

    def write(self, text: str) -> int:
        self.unescaped.write(terminal_safe(text, lines=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unescaped, name)


def unescaped(stream: Any) -> Any:
    return getattr(stream, "unescaped", stream)
