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


def printable(part: object) -> str:
    """A key or value as it may appear in a one-line message: quoted when it holds control characters."""
    text = str(part)
    return text if text.isprintable() else repr(text)


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
