"""The connection the ledger's shared statements run on: a `sqlite3.Connection`, or the PostgreSQL
backend's shim (postgres.py) that speaks the same calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class Rows(Protocol):
    """What `execute` gives back: the rows of a statement."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Cursor(Protocol):
    """`conn.cursor()`: setting `row_factory = None` makes its rows plain tuples."""

    row_factory: Any

    def execute(self, sql: str, parameters: Any = ..., /) -> Rows: ...


class Connection(Protocol):
    """A connection with its transactions explicit (BEGIN ... COMMIT), rows indexed by position and
    by name."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Rows: ...

    def cursor(self) -> Cursor: ...

    @property
    def in_transaction(self) -> bool: ...
