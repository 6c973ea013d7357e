"""Copy a whole ledger into an empty one of either backend (SQLite <-> PostgreSQL), in one transaction of
the target under its write lock, then check it row for row."""

from __future__ import annotations

from typing import Any

from modelwise.core.errors import BadInput, LedgerError

# (table, its columns, the key it is ordered by). `seq` of outcomes is SQLite's rowid.
TABLES: list[tuple[str, tuple[str, ...], str]] = [
    ("decisions", (
        "seq", "id", "request_id", "ts", "ts_unix", "day", "task_type", "tier", "agent", "model_id",
        "model_name", "status", "reserved", "estimated_cost", "input_tokens", "output_tokens", "desc_chars",
        "budget", "score", "description", "detail"), "seq"),
    ("outcomes", (
        "seq", "decision_id", "ts", "ts_unix", "outcome", "latency_ms", "input_tokens", "output_tokens",
        "actual_cost", "model_id", "task_type", "day"), "seq"),
    ("corrections", (
        "seq", "decision_id", "ts", "ts_unix", "outcome", "latency_ms", "input_tokens", "output_tokens",
        "actual_cost", "reason"), "seq"),
    ("rollup", (
        "day", "tier", "agent", "model_id", "status", "decisions", "spent", "reserved", "settled",
        "estimated", "outcomes", "successes", "failures", "errors", "latency_sum", "latency_n"),
        "day, tier, agent, model_id, status"),
    ("alerts", ("day", "threshold", "ts", "spent", "budget", "message"), "day, threshold"),
]


def _is_pg(ledger: Any) -> bool:
    return type(ledger).__name__ == "PostgresLedger"


def _select(ledger: Any, table: str, cols: tuple[str, ...], key: str) -> str:
    names = ", ".join("rowid AS seq" if c == "seq" and table == "outcomes" and not _is_pg(ledger) else c
                      for c in cols)
    return f"SELECT {names} FROM {table} ORDER BY {key}"


def _rows(ledger: Any, table: str, cols: tuple[str, ...], key: str) -> list[tuple]:
    cur = ledger._conn().cursor()
    cur.row_factory = None
    return [tuple(r) for r in cur.execute(_select(ledger, table, cols, key)).fetchall()]


def copy_ledger(source: Any, target: Any) -> dict[str, int]:
    """Copy every row of `source` into `target` (which must hold no decision yet and keep the same budget
    day zone); returns the rows copied per table. Raises LedgerError when the copy does not read back
    equal, row for row."""
    if source.zone != target.zone:
        raise BadInput(
            f"ledger {target.path} keeps its budget days in {target.zone!r}, ledger {source.path} in "
            f"{source.zone!r}: copy into a new, empty ledger"
        )
    data = {table: _rows(source, table, cols, key) for table, cols, key in TABLES}

    def work(conn: Any) -> None:
        if conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]:
            raise BadInput(f"ledger {target.path} already holds decisions; copy into a new, empty ledger")
        for table in ("rollup", "alerts"):
            if conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
                raise BadInput(f"ledger {target.path} is not empty; copy into a new, empty ledger")
        for table, cols, _key in TABLES:
            rowid = table == "outcomes" and not _is_pg(target)
            names = ["rowid" if c == "seq" and rowid else c for c in cols]
            if data[table]:
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in cols)})",
                    data[table],
                )
        if _is_pg(target):  # explicit serial values: move each sequence past them
            for table in ("decisions", "outcomes", "corrections"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'seq'), "
                    f"COALESCE((SELECT MAX(seq) FROM {table}), 0) + 1, false)"
                )

    target._in_transaction(work)
    for table, cols, key in TABLES:
        copied = _rows(target, table, cols, key)
        if copied != data[table]:
            bad = next((i for i, (a, b) in enumerate(zip(copied, data[table], strict=False)) if a != b),
                       min(len(copied), len(data[table])))
            raise LedgerError(
                f"ledger {target.path}: {table} does not read back as copied (row {bad}: "
                f"{len(copied)} rows against {len(data[table])}); the copy is not to be trusted"
            )
    return {table: len(rows) for table, rows in data.items()}
