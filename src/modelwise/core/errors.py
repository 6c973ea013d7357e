"""Typed errors raised by the core; each surface maps them to an exit code or HTTP status once."""

from __future__ import annotations


class ModelwiseError(Exception):
    """Base class. `exit_code` is what the CLI exits with, `status` what the HTTP service answers."""

    exit_code = 1
    status = 500


class BadInput(ModelwiseError):
    """A value, file or argument the user gave is wrong; nothing was written."""

    exit_code = 2
    status = 422


class RegistryError(BadInput):
    """A registry file is invalid. `problems` lists every problem found; str() is the first."""

    def __init__(self, problems: list[str]):
        self.problems = problems or ["invalid registry"]
        super().__init__(self.problems[0])


class ConfigError(BadInput):
    """The configuration file is invalid."""


class UnknownDecision(BadInput):
    """No decision has that id."""

    status = 404


class Refused(ModelwiseError):
    """The task cannot be routed: budget exhausted or no eligible model. The refusal is recorded."""

    exit_code = 3
    status = 402
    kind: str | None = None  # "budget", "no-model", or (a fallback's) "excluded"


# what a JSON or TOML file or body nested deeper than the parser recurses gets (not a RecursionError)
NESTED_TOO_DEEPLY = "arrays or objects nested too deeply"


def printable(part: object) -> str:
    """A key or value as it may appear in a one-line message: quoted when it holds control characters."""
    text = str(part)
    return text if text.isprintable() else repr(text)


# Characters a terminal acts on instead of showing: C0 controls, DEL, C1 controls (U+0080-U+009F: a
# single U+009B is a CSI on many terminals) and the bidi embeddings, overrides and isolates, which reorder
# what follows them on screen.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TERMINAL = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
_TERMINAL_LINES = {c: e for c, e in _TERMINAL.items() if c not in (0x09, 0x0A)}
_JSON = {c: f"\\u{c:04x}" for c in _CONTROLS if c >= 0x7F}


def terminal_safe(text: str, lines: bool = False) -> str:
    """`text` with every control character (see _CONTROLS) written as a visible escape (ESC as `\\x1b`,
    U+202E as `\\u202e`), so a string from the ledger, a registry or a request cannot drive the terminal.
    With `lines`, newlines and tabs are kept (for whole lines of output)."""
    return text.translate(_TERMINAL_LINES if lines else _TERMINAL)


def json_safe(text: str) -> str:
    """JSON text (C0 controls already escaped by the encoder) with DEL, C1 and bidi controls escaped as
    `\\uXXXX` too: the same document, but one a terminal shows as it is."""
    return text.translate(_JSON)


class LedgerError(ModelwiseError):
    """The ledger file cannot be used right now (disk full, an I/O error, replaced while writing); the
    message names the file. Nothing was acknowledged that is not in it."""

    status = 503


class BadLedger(LedgerError):
    """The ledger path holds something modelwise will not use: not a database, a damaged file, another
    program's SQLite file, a newer schema, a folder. Nothing was written to it."""

    exit_code = 2


class OutputError(ModelwiseError):
    """An output file could not be written (disk full, a device that refuses the data)."""
